import Foundation
import IPLD
import P2PCore
import P2PCrypto
import Testing

@testable import IPNS
import TestSupport

@Suite(.onBlockingPool) struct IPNSRecordTests {
    static let now = Date(timeIntervalSince1970: 1_796_000_000)
    static let value = "/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"

    static func make(
        _ key: PrivateKey, sequence: UInt64 = 1, lifetime: Duration = IPNSRecord.defaultLifetime,
        value: String = value
    ) throws -> IPNSRecord {
        try IPNSRecord.create(value: value, sequence: sequence, lifetime: lifetime, key: key, now: now)
    }

    @Test func createdRecordValidates() throws {
        let key = PrivateKey.generateEd25519()
        let name = IPNSName(publicKey: key.publicKey)
        let record = try Self.make(key, sequence: 7)
        try record.validate(for: name, now: Self.now)
        #expect(record.valueString == Self.value)
        #expect(record.sequence == 7)
        #expect(record.ttl == IPNSRecord.defaultTTL)
        #expect(record.validity == IPNSTimestamp(Self.now).adding(.seconds(48 * 3600)))
        #expect(record.publicKeyBytes == nil)  // Ed25519: inlined in the name
        #expect(record.legacy.isPresent)
        #expect(record.legacy.value == Array(Self.value.utf8))
        #expect(record.legacy.sequence == 7)
        #expect(record.legacy.validityType == 0)
        // signatureV1 over value ‖ validity ‖ "EOL", as the spec says (written, never relied on).
        let sig1 = try #require(record.legacy.signatureV1)
        #expect(key.publicKey.verify(signature: sig1, message: record.value + record.validityBytes + Array("EOL".utf8)))
        // Parsing the bytes gives the same record.
        #expect(try IPNSRecord(bytes: record.bytes) == record)
        try IPNSValidator(clock: { Self.now }).validate(key: name.routingKey, value: record.bytes)
    }

    @Test func dataIsCanonicalDagCBORWithBoxoFields() throws {
        let record = try Self.make(PrivateKey.generateEd25519(), sequence: 3)
        let map = try #require(try DagCBOR.decode(record.data).mapValue)  // strict: canonical
        #expect(map.keys == ["TTL", "Value", "Sequence", "Validity", "ValidityType"])
        #expect(map["Value"] == .bytes(Array(Self.value.utf8)))
        #expect(map["Validity"] == .bytes(record.validityBytes))
        #expect(map["ValidityType"] == .integer(0))
        #expect(map["Sequence"] == .integer(3))
        #expect(map["TTL"] == .integer(300_000_000_000))
        #expect(try DagCBOR.encode(.map(map)) == record.data)
    }

    @Test func v2OnlyRecordValidates() throws {
        let key = PrivateKey.generateEd25519()
        let record = try IPNSRecord.create(
            value: Self.value, sequence: 1, validity: IPNSTimestamp(Self.now).adding(.seconds(60)), key: key,
            v1Compatible: false)
        #expect(!record.legacy.isPresent)
        #expect(record.legacy.signatureV1 == nil)
        try record.validate(for: IPNSName(publicKey: key.publicKey), now: Self.now)
    }

    @Test func rsaRecordCarriesItsPublicKey() throws {
        let key = try PrivateKey.generate(.rsa, rsaBits: 2048)
        let name = IPNSName(publicKey: key.publicKey)
        #expect(name.peer.b58String.hasPrefix("Qm"))
        let record = try Self.make(key)
        #expect(record.publicKeyBytes == key.publicKey.protobufBytes)
        try record.validate(for: name, now: Self.now)
        #expect(try record.publicKey(for: name) == key.publicKey)

        // Without the pubKey field an RSA name has no key to check against.
        let bare = try IPNSRecord.create(
            value: Self.value, sequence: 1, validity: record.validity, key: key, embedPublicKey: false)
        #expect(throws: IPNSError.publicKeyNotFound(name: name.string)) {
            try bare.validate(for: name, now: Self.now)
        }
        // pubKey of another key than the name's.
        let other = try Self.make(try PrivateKey.generate(.rsa, rsaBits: 2048))
        #expect(throws: IPNSError.self) { try other.validate(for: name, now: Self.now) }
        do {
            try other.validate(for: name, now: Self.now)
        } catch {
            guard case .publicKeyMismatch = error else {
                Issue.record("expected publicKeyMismatch, got \(error)")
                return
            }
        }
    }

    // MARK: - Tampering

    /// Re-serializes `record` with `edit` applied to its protobuf.
    static func tamper(_ record: IPNSRecord, _ edit: (inout Ipfs_Boxo_Ipns_Pb_IpnsRecord) -> Void) throws -> [UInt8] {
        try IPNSRecord.reencode(record.bytes, edit)
    }

    /// `data` with one field replaced, re-encoded.
    static func data(_ record: IPNSRecord, _ field: String, _ value: IPLDValue) throws -> Data {
        var map = try #require(try DagCBOR.decode(record.data).mapValue)
        let index = try #require(map.entries.firstIndex { $0.key == field })
        map.entries[index].value = value
        return Data(try DagCBOR.encode(.map(map)))
    }

    @Test func tamperedValueFails() throws {
        let key = PrivateKey.generateEd25519()
        let name = IPNSName(publicKey: key.publicKey)
        let record = try Self.make(key)
        let evil = Array("/ipfs/bafkqaaa".utf8)
        // Signed data changed: the signature no longer verifies.
        let inData = try Self.tamper(record) { $0.data = try! Self.data(record, "Value", .bytes(evil)); $0.value = Data(evil) }
        #expect(throws: IPNSError.invalidSignature) { try IPNSRecord.validate(inData, for: name, now: Self.now) }
        // Only the V1 field changed: it no longer matches data.
        let inV1 = try Self.tamper(record) { $0.value = Data(evil) }
        #expect(throws: IPNSError.fieldMismatch("Value")) { try IPNSRecord.validate(inV1, for: name, now: Self.now) }
    }

    @Test func tamperedSequenceFails() throws {
        let key = PrivateKey.generateEd25519()
        let name = IPNSName(publicKey: key.publicKey)
        let record = try Self.make(key, sequence: 1)
        let inData = try Self.tamper(record) { $0.data = try! Self.data(record, "Sequence", .integer(99)); $0.sequence = 99 }
        #expect(throws: IPNSError.invalidSignature) { try IPNSRecord.validate(inData, for: name, now: Self.now) }
        let inV1 = try Self.tamper(record) { $0.sequence = 99 }
        #expect(throws: IPNSError.fieldMismatch("Sequence")) { try IPNSRecord.validate(inV1, for: name, now: Self.now) }
        let ttlV1 = try Self.tamper(record) { $0.ttl = 1 }
        #expect(throws: IPNSError.fieldMismatch("TTL")) { try IPNSRecord.validate(ttlV1, for: name, now: Self.now) }
        let validityV1 = try Self.tamper(record) { $0.validity = Data("2999-01-01T00:00:00Z".utf8) }
        #expect(throws: IPNSError.fieldMismatch("Validity")) {
            try IPNSRecord.validate(validityV1, for: name, now: Self.now)
        }
    }

    @Test func tamperedSignatureFails() throws {
        let key = PrivateKey.generateEd25519()
        let name = IPNSName(publicKey: key.publicKey)
        let record = try Self.make(key)
        let flipped = try Self.tamper(record) { $0.signatureV2[$0.signatureV2.startIndex] ^= 0x01 }
        #expect(throws: IPNSError.invalidSignature) { try IPNSRecord.validate(flipped, for: name, now: Self.now) }
        let missing = try Self.tamper(record) { $0.clearSignatureV2() }
        #expect(throws: IPNSError.missingSignatureV2) { try IPNSRecord.validate(missing, for: name, now: Self.now) }
        let noData = try Self.tamper(record) { $0.clearData() }
        #expect(throws: IPNSError.missingData) { try IPNSRecord.validate(noData, for: name, now: Self.now) }
        // A broken V1 signature is ignored.
        let v1 = try Self.tamper(record) { $0.signatureV1 = Data(repeating: 0, count: 64) }
        _ = try IPNSRecord.validate(v1, for: name, now: Self.now)
    }

    @Test func wrongKeyFails() throws {
        let record = try Self.make(PrivateKey.generateEd25519())
        let other = IPNSName(publicKey: PrivateKey.generateEd25519().publicKey)
        #expect(throws: IPNSError.invalidSignature) { try record.validate(for: other, now: Self.now) }
        #expect(throws: RoutingError.self) {
            try IPNSValidator(clock: { Self.now }).validate(key: other.routingKey, value: record.bytes)
        }
    }

    @Test func expiredFails() throws {
        let key = PrivateKey.generateEd25519()
        let name = IPNSName(publicKey: key.publicKey)
        let record = try Self.make(key, lifetime: .seconds(60))
        try record.validate(for: name, now: Self.now.addingTimeInterval(59.999))
        // The spec: the EOL must be later than the current time, so the EOL instant itself has expired.
        #expect(throws: IPNSError.expired(validity: record.validity.rfc3339)) {
            try record.validate(for: name, now: Self.now.addingTimeInterval(60))
        }
        #expect(throws: IPNSError.expired(validity: record.validity.rfc3339)) {
            try record.validate(for: name, now: Self.now.addingTimeInterval(61))
        }
        let past = try Self.make(key, lifetime: .seconds(-1))
        #expect(throws: IPNSError.expired(validity: past.validity.rfc3339)) { try past.validate(for: name, now: Self.now) }
    }

    @Test func oversizeFails() throws {
        let key = PrivateKey.generateEd25519()
        let name = IPNSName(publicKey: key.publicKey)
        let big = "/ipfs/" + String(repeating: "a", count: 6000)
        #expect(throws: IPNSError.self) { try Self.make(key, value: big) }
        // A correctly signed record over the limit is refused before anything else.
        let bytes = try IPNSRecord.encode(
            value: Array(big.utf8), sequence: 1, validity: IPNSTimestamp(Self.now).adding(.seconds(60)),
            ttl: .seconds(1), key: key, v1Compatible: true, embedPublicKey: nil)
        #expect(bytes.count > IPNSRecord.maxSize)
        #expect(throws: IPNSError.recordTooLarge(size: bytes.count)) {
            try IPNSRecord.validate(bytes, for: name, now: Self.now)
        }
        // Just under the limit is fine.
        let fits = String(repeating: "a", count: 4900)
        _ = try IPNSRecord.validate(try Self.make(key, value: "/ipfs/" + fits).bytes, for: name, now: Self.now)
    }

    @Test func malformedInputFails() throws {
        let name = IPNSName(publicKey: PrivateKey.generateEd25519().publicKey)
        #expect(throws: IPNSError.self) { try IPNSRecord.validate([0xff, 0xff, 0xff], for: name, now: Self.now) }
        let record = try Self.make(PrivateKey.generateEd25519())
        let notCBOR = try Self.tamper(record) { $0.data = Data([0xa5, 0x00]) }
        #expect(throws: IPNSError.self) { try IPNSRecord(bytes: notCBOR) }
        let badType = try Self.tamper(record) { $0.data = try! Self.data(record, "ValidityType", .integer(1)) }
        #expect(throws: IPNSError.unsupportedValidityType(1)) { try IPNSRecord(bytes: badType) }
        let badValidity = try Self.tamper(record) { $0.data = try! Self.data(record, "Validity", .bytes(Array("tomorrow".utf8))) }
        #expect(throws: IPNSError.invalidValidity("tomorrow")) { try IPNSRecord(bytes: badValidity) }
        let stringValue = try Self.tamper(record) { $0.data = try! Self.data(record, "Value", .string("/ipfs/x")) }
        #expect(throws: IPNSError.invalidDataField("Value", "missing or not bytes")) { try IPNSRecord(bytes: stringValue) }
    }
}

@Suite(.onBlockingPool) struct IPNSRecordDescriptionTests {
    @Test func descriptionIsOneLine() throws {
        let record = try IPNSRecord.create(
            value: "/ipfs/bafkqaaa", sequence: 2, validity: IPNSTimestamp(seconds: 0, nanoseconds: 5_000),
            ttl: .seconds(60), key: PrivateKey.generateEd25519())
        #expect(record.description.hasPrefix("IPNS record /ipfs/bafkqaaa seq 2 valid until 1970-01-01T00:00:00.000005Z ttl 60s ("))
        #expect(!record.description.contains("\n"))
    }
}
