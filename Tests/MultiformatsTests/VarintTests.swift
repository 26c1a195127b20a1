import Foundation
import Testing
@testable import Multiformats
import TestSupport

@Suite("Varint", .onBlockingPool)
struct VarintTests {
    struct Case { let value: UInt64; let hex: String }

    static func vectors() throws -> (valid: [Case], invalid: [String]) {
        let root = try #require(try Fixture.json("varint.json") as? [String: Any])
        let valid = try #require(root["valid"] as? [[String: Any]]).map { entry in
            Case(value: (entry["value"] as? NSNumber)?.uint64Value ?? 0, hex: entry["hex"] as? String ?? "")
        }
        let invalid = try #require(root["invalid"] as? [[String: Any]]).compactMap { $0["hex"] as? String }
        return (valid, invalid)
    }

    @Test func validVectorsRoundTrip() throws {
        let (valid, _) = try Self.vectors()
        #expect(valid.count >= 10)
        for c in valid {
            #expect(Hex.encode(Varint.encode(c.value)) == c.hex, "encode \(c.value)")
            let bytes = try #require(Hex.decode(c.hex))
            let (value, length) = try Varint.decode(bytes)
            #expect(value == c.value)
            #expect(length == bytes.count)
            #expect(Varint.encodedLength(of: c.value) == bytes.count)
        }
    }

    @Test func invalidVectorsAreRejected() throws {
        let (_, invalid) = try Self.vectors()
        #expect(invalid.count >= 3)
        for hex in invalid {
            let bytes = try #require(Hex.decode(hex))
            #expect(throws: VarintError.self, "\(hex) must be rejected") { try Varint.decode(bytes) }
        }
    }

    @Test func specificErrors() {
        #expect(throws: VarintError.empty) { try Varint.decode([UInt8]()) }
        #expect(throws: VarintError.truncated) { try Varint.decode([0x80]) }
        #expect(throws: VarintError.notMinimal) { try Varint.decode([0x80, 0x00]) }
        #expect(throws: VarintError.overlong) { try Varint.decode([UInt8](repeating: 0xff, count: 9) + [0x01]) }
    }

    @Test func maxValue() throws {
        let bytes = Varint.encode(Varint.maxValue)
        #expect(bytes.count == 9)
        #expect(try Varint.decode(bytes).value == Varint.maxValue)
    }

    @Test func readerReportsOffsets() {
        var reader = ByteReader([0x01, 0x80])
        #expect(throws: Never.self) { _ = try reader.readVarint() }
        #expect(throws: ByteReaderError.varint(.truncated, offset: 1)) { try reader.readVarint() }
        #expect(throws: ByteReaderError.truncated(needed: 4, available: 1, offset: 1)) { try reader.readBytes(4) }
    }
}

