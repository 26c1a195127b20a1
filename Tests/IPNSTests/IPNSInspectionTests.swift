import Foundation
import P2PCrypto
import Testing

@testable import IPNS
import TestSupport

@Suite(.onBlockingPool) struct IPNSInspectionTests {
    @Test func goDurations() {
        #expect(IPNSInspection.goDuration(nanoseconds: 0) == "0s")
        #expect(IPNSInspection.goDuration(nanoseconds: 300_000_000_000) == "5m0s")
        #expect(IPNSInspection.goDuration(nanoseconds: 48 * 3_600_000_000_000) == "48h0m0s")
        #expect(IPNSInspection.goDuration(nanoseconds: 1_500_000_000) == "1.5s")
        #expect(IPNSInspection.goDuration(nanoseconds: 300_000_000) == "300ms")
        #expect(IPNSInspection.goDuration(nanoseconds: 1_500) == "1.5µs")
        #expect(IPNSInspection.goDuration(nanoseconds: 42) == "42ns")
        #expect(IPNSInspection.goDuration(nanoseconds: 3_661_000_000_000) == "1h1m1s")
    }

    @Test func hexDumpAsGo() {
        // Go: hex.Dump([]byte("hello, IPNS record!")).
        let dump = IPNSInspection.hexDump(Array("hello, IPNS record!".utf8))
        #expect(dump == """
            00000000  68 65 6c 6c 6f 2c 20 49  50 4e 53 20 72 65 63 6f  |hello, IPNS reco|
            00000010  72 64 21                                          |rd!|

            """)
        #expect(IPNSInspection.hexDump([]) == "")
        #expect(IPNSInspection.hexDump([0, 0x7f]) == "00000000  00 7f                                             |..|\n")
    }

    @Test func textAndValidation() throws {
        let key = PrivateKey.generateEd25519()
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        let record = try IPNSRecord.create(
            value: "/ipfs/bafkqaaa", sequence: 7, lifetime: .seconds(3600), ttl: .seconds(90), key: key, now: now)
        let name = IPNSName(publicKey: key.publicKey)
        let valid = IPNSInspection(record, verifying: name, now: now)
        #expect(valid.signatureType == "V1+V2")
        #expect(!valid.hasPublicKey)
        #expect(valid.validation == .init(valid: true, reason: "", name: name.string))
        let text = valid.text(dump: false)
        #expect(text.hasPrefix("""
            Value:          "/ipfs/bafkqaaa"
            Validity Type:  0
            Validity:       "2026-11-30T01:53:20Z"
            Sequence:       7
            TTL:            1m30s
            Protobuf Size:  \(record.bytes.count)
            Signature Type: V1+V2
            """))
        #expect(text.contains("\nValidation results:\n Valid: true\n Name:  \(name.string)\n"))
        #expect(!text.contains("Hex Dump"))
        #expect(valid.text(dump: true).contains("\nHex Dump:\n00000000  "))

        // Another name, and the same record once expired.
        let other = IPNSName(publicKey: PrivateKey.generateEd25519().publicKey)
        let wrong = IPNSInspection(record, verifying: other, now: now)
        #expect(wrong.validation?.valid == false)
        #expect(wrong.text(dump: false).contains(" Reason: "))
        let expired = IPNSInspection(record, verifying: name, now: now.addingTimeInterval(7200))
        #expect(expired.validation?.reason.contains("expired") == true)
        #expect(IPNSInspection(record).text(dump: false).contains("This record was not verified. Pass '--verify k51...' to verify."))

        // A V2-only record with an embedded key.
        let v2 = try IPNSRecord(bytes: IPNSRecord.encode(
            value: Array("/ipfs/bafkqaaa".utf8), sequence: 1, validity: IPNSTimestamp(now).adding(.seconds(60)),
            ttl: .seconds(1), key: key, v1Compatible: false, embedPublicKey: true))
        let inspected = IPNSInspection(v2, verifying: name, now: now)
        #expect(inspected.signatureType == "V2")
        #expect(inspected.hasPublicKey)
        #expect(inspected.validation?.valid == true)
    }
}
