import Foundation
import P2PCore
import P2PCrypto
import Testing

@testable import IPNS
import TestSupport

/// The six gateway-conformance records (Fixtures/, see SOURCES.md) against the spec's expected outcomes.
@Suite(.onBlockingPool) struct IPNSFixtureTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
        return [UInt8](try Data(contentsOf: url))
    }

    /// The outcome each record must give: nil = valid, else the error.
    static let expectedErrors: [String: IPNSError?] = [
        "k51qzi5uqu5dm4tm0wt8srkg9h9suud4wuiwjimndrkydqm81cqtlb5ak6p7ku_v1.ipns-record": .missingSignatureV2,
        "k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w_v1-v2.ipns-record": nil,
        "k51qzi5uqu5dlmit2tuwdvnx4sbnyqgmvbxftl0eo3f33wwtb9gr7yozae9kpw_v1-v2-broken-v1-value.ipns-record":
            .fieldMismatch("Value"),
        "k51qzi5uqu5diamp7qnnvs1p1gzmku3eijkeijs3418j23j077zrkok63xdm8c_v1-v2-broken-signature-v2.ipns-record":
            .invalidSignature,
        "k51qzi5uqu5dilgf7gorsh9vcqqq4myo6jd4zmqkuy9pxyxi5fua3uf7axph4y_v1-v2-broken-signature-v1.ipns-record": nil,
        "k51qzi5uqu5dit2ku9mutlfgwyz8u730on38kd10m97m36bjt66my99hb6103f_v2.ipns-record": nil,
    ]

    struct Expected {
        var file: String
        var valid: Bool
        var value: String?
    }

    static func expectedJSON() throws -> [Expected] {
        let json = try JSONSerialization.jsonObject(with: Data(try fixture("expected.json")))
        let records = try #require((json as? [String: Any])?["records"] as? [[String: Any]])
        return try records.map { record in
            Expected(
                file: try #require(record["file"] as? String),
                valid: try #require(record["expected"] as? String) == "valid",
                value: record["expected_value"] as? String)
        }
    }

    static let now = Date(timeIntervalSince1970: 1_796_000_000)  // 2026-11

    @Test func everyVectorGivesItsExpectedOutcome() throws {
        let cases = try Self.expectedJSON()
        #expect(cases.count == 6)
        for expected in cases {
            let bytes = try Self.fixture(expected.file)
            let name = try IPNSName(String(expected.file.prefix { $0 != "_" }))
            let expectedError = try #require(Self.expectedErrors[expected.file], "no expectation for \(expected.file)")
            #expect((expectedError == nil) == expected.valid, "\(expected.file)")
            do {
                let record = try IPNSRecord.validate(bytes, for: name, now: Self.now)
                #expect(expectedError == nil, "\(expected.file) validated but should fail with \(String(describing: expectedError))")
                #expect(record.valueString == expected.value, "\(expected.file)")
                #expect(record.sequence == 0)
                #expect(record.ttl == .seconds(1800))
                #expect(record.validity.rfc3339 == "2123-08-14T12:17:03.694052Z")
                #expect(record.publicKeyBytes == nil)
                // The validator gives the same answer from the routing key.
                try IPNSValidator(clock: { Self.now }).validate(key: name.routingKey, value: bytes)
            } catch let error as IPNSError {
                #expect(error == expectedError, "\(expected.file): \(error)")
            }
        }
    }

    @Test func validVectorsExpireAfterTheirValidity() throws {
        let file = "k51qzi5uqu5dit2ku9mutlfgwyz8u730on38kd10m97m36bjt66my99hb6103f_v2.ipns-record"
        let name = try IPNSName(String(file.prefix { $0 != "_" }))
        let later = IPNSTimestamp(seconds: IPNSTimestamp(rfc3339: "2123-08-14T12:17:03.694053Z")!.seconds + 1).date
        #expect(throws: IPNSError.expired(validity: "2123-08-14T12:17:03.694052Z")) {
            try IPNSRecord.validate(try Self.fixture(file), for: name, now: later)
        }
        #expect(throws: RoutingError.self) {
            try IPNSValidator(clock: { later }).validate(key: name.routingKey, value: try Self.fixture(file))
        }
    }

    @Test func aVectorFailsForAnotherName() throws {
        let file = "k51qzi5uqu5dit2ku9mutlfgwyz8u730on38kd10m97m36bjt66my99hb6103f_v2.ipns-record"
        let other = try IPNSName("k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w")
        #expect(throws: IPNSError.invalidSignature) {
            try IPNSRecord.validate(try Self.fixture(file), for: other, now: Self.now)
        }
    }

    /// The created data map is byte-for-byte the shape boxo writes (vector v1-v2's `data`).
    @Test func dataMapMatchesBoxoLayout() throws {
        let file = "k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w_v1-v2.ipns-record"
        let record = try IPNSRecord(bytes: try Self.fixture(file))
        let key = PrivateKey.generateEd25519()
        let created = try IPNSRecord.create(
            value: "/ipfs/bafkqaddwgevxmmraojswg33smq", sequence: 0, validity: record.validity,
            ttl: .seconds(1800), key: key)
        #expect(created.data == record.data)
        #expect(created.legacy.validity == record.legacy.validity)
        #expect(created.legacy.ttl == record.legacy.ttl)
    }
}

/// Records used by the gateway conformance tests (Fixtures/gateway, see SOURCES.md): real boxo
/// output for a `12D3KooW…` name, an RSA `Qm…` name and a nanosecond validity.
@Suite(.onBlockingPool) struct IPNSGatewayFixtureTests {
    static let now = Date(timeIntervalSince1970: 1_796_000_000)

    static func fixture(_ name: String) throws -> [UInt8] {
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: "ipns-record", subdirectory: "Fixtures/gateway"))
        return [UInt8](try Data(contentsOf: url))
    }

    @Test(arguments: [
        "12D3KooWLQzUv2FHWGVPXTXSZpdHs7oHbXub2G5WC8Tx4NQhyd2d",
        "QmVujd5Vb7moysJj8itnGufN7MEtPRCNHkKpNuA4onsRa3",
        "k51qzi5uqu5djokp3m1keo36hoxtd6u3a1d2rg1camf6al7p3huy63dojlm57c",
    ])
    func validates(_ file: String) throws {
        let bytes = try Self.fixture(file)
        let name = try IPNSName(file)
        let record = try IPNSRecord.validate(bytes, for: name, now: Self.now)
        #expect(record.valueString?.hasPrefix("/ipfs/") == true)
        // Our RFC 3339 writer gives back the exact signed text.
        #expect(Array(record.validity.rfc3339.utf8) == record.validityBytes)
        #expect(record.legacy.isPresent)
        // A pubKey only for the RSA name, whose key is not inlined.
        #expect((record.publicKeyBytes != nil) == file.hasPrefix("Qm"))
        try IPNSValidator(clock: { Self.now }).validate(key: name.routingKey, value: bytes)
        // Any other name fails.
        let other = IPNSName(publicKey: PrivateKey.generateEd25519().publicKey)
        #expect(throws: IPNSError.self) { try record.validate(for: other, now: Self.now) }
    }

    @Test func rsaRecordForAnotherRSANameIsAMismatch() throws {
        let record = try IPNSRecord(bytes: try Self.fixture("QmVujd5Vb7moysJj8itnGufN7MEtPRCNHkKpNuA4onsRa3"))
        let other = IPNSName(publicKey: try PrivateKey.generate(.rsa, rsaBits: 2048).publicKey)
        do {
            try record.validate(for: other, now: Self.now)
            Issue.record("validated for another name")
        } catch {
            guard case .publicKeyMismatch = error else {
                Issue.record("expected publicKeyMismatch, got \(error)")
                return
            }
        }
    }

    @Test func nanosecondValidityParses() throws {
        let record = try IPNSRecord(bytes: try Self.fixture("k51qzi5uqu5djokp3m1keo36hoxtd6u3a1d2rg1camf6al7p3huy63dojlm57c"))
        #expect(record.validity.nanoseconds == 714_899_293)
        #expect(record.validity.rfc3339 == "2126-01-31T15:56:12.714899293Z")
    }
}
