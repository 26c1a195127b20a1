import IPLD
import Multiformats
import P2PCore
import XCTest

@testable import Bitswap

final class BitswapMessageTests: XCTestCase {
    // MARK: Fixtures

    private func v0Block(_ text: String) throws -> Block {
        try Block(data: Array(text.utf8), codec: .dagPB, hash: .sha2_256, version: .v0)
    }

    private func rawV1Block(_ text: String) throws -> Block {
        try Block(data: Array(text.utf8), codec: .raw)
    }

    private func fieldName(_ error: Error) -> String? {
        guard case let BitswapError.malformedMessage(field, _)? = error as? BitswapError else { return nil }
        return field
    }

    /// Protobuf: a length-delimited field.
    private func lengthDelimited(_ field: UInt64, _ bytes: [UInt8]) -> [UInt8] {
        var out = Varint.encode(field << 3 | 2)
        out += Varint.encode(UInt64(bytes.count))
        out += bytes
        return out
    }

    /// Protobuf: a varint field.
    private func varintField(_ field: UInt64, _ value: UInt64) -> [UInt8] {
        Varint.encode(field << 3) + Varint.encode(value)
    }

    // MARK: Round trips

    func testWantlistRoundTripOn120() throws {
        let a = try rawV1Block("a").cid, b = try v0Block("b").cid, c = try rawV1Block("c").cid
        let message = BitswapMessage(
            wantlist: [
                WantlistEntry(cid: a, priority: 7, wantType: .have, sendDontHave: true),
                WantlistEntry(cid: b, priority: 3, wantType: .block, sendDontHave: false),
                .cancel(c),
            ],
            fullWantlist: true)
        let decoded = try BitswapMessage.decode(message.encoded(for: BitswapProtocol.v120))
        XCTAssertEqual(decoded, message)
        XCTAssertTrue(decoded.fullWantlist)
        XCTAssertEqual(decoded.wantlist[0].wantType, .have)
        XCTAssertTrue(decoded.wantlist[0].sendDontHave)
        XCTAssertEqual(decoded.wantlist[1].cid, b)
        XCTAssertEqual(decoded.wantlist[1].cid.version, .v0)
        XCTAssertTrue(decoded.wantlist[2].cancel)
    }

    func testEmptyFullWantlistRoundTrips() throws {
        let message = BitswapMessage(fullWantlist: true)
        XCTAssertFalse(message.isEmpty)
        let decoded = try BitswapMessage.decode(message.encoded(for: BitswapProtocol.v120))
        XCTAssertTrue(decoded.fullWantlist)
        XCTAssertTrue(decoded.wantlist.isEmpty)
    }

    func testBlocksPresencesAndPendingBytesRoundTripOn120() throws {
        let v0 = try v0Block("dag-pb-ish bytes"), raw = try rawV1Block("raw bytes")
        let missing = try rawV1Block("missing").cid
        let message = BitswapMessage(
            blocks: [PrefixedBlock(v0), PrefixedBlock(raw)],
            presences: [BlockPresence(cid: raw.cid, kind: .have), BlockPresence(cid: missing, kind: .dontHave)],
            pendingBytes: 123_456)
        let decoded = try BitswapMessage.decode(message.encoded(for: BitswapProtocol.v120))
        XCTAssertEqual(decoded, message)
        XCTAssertEqual(decoded.blocks.map(\.prefix), [.v0, CIDPrefix(of: raw.cid)])
        XCTAssertEqual(try decoded.blocks.map { try $0.prefix.cid(for: $0.data) }, [v0.cid, raw.cid])
        XCTAssertEqual(decoded.pendingBytes, 123_456)
        XCTAssertEqual(decoded.blockBytes, v0.data.count + raw.data.count)
    }

    func testEncodingFor110DropsPresencesAndWantTypes() throws {
        let raw = try rawV1Block("raw"), other = try rawV1Block("other").cid
        let message = BitswapMessage(
            wantlist: [WantlistEntry(cid: other, priority: 2, wantType: .have, sendDontHave: true)],
            blocks: [PrefixedBlock(raw)],
            presences: [BlockPresence(cid: other, kind: .dontHave)])
        let decoded = try BitswapMessage.decode(message.encoded(for: BitswapProtocol.v110))
        XCTAssertTrue(decoded.presences.isEmpty)
        XCTAssertEqual(decoded.wantlist, [WantlistEntry(cid: other, priority: 2, wantType: .block, sendDontHave: false)])
        // 1.1.0 keeps prefixed blocks, whatever their CID version.
        XCTAssertEqual(decoded.blocks, [PrefixedBlock(raw)])
    }

    func testEncodingFor100UsesBareBlocksAndOnlyCIDv0() throws {
        let v0 = try v0Block("old style"), raw = try rawV1Block("new style")
        let message = BitswapMessage(
            wantlist: [WantlistEntry(cid: raw.cid, wantType: .have, sendDontHave: true)],
            blocks: [PrefixedBlock(v0), PrefixedBlock(raw)],
            presences: [BlockPresence(cid: raw.cid, kind: .have)])
        for protocolID in [BitswapProtocol.v100, BitswapProtocol.legacy] {
            let bytes = message.encoded(for: protocolID)
            // Field 3 (payload, tag 0x1a) never appears; the v0 block is in field 2 as bare bytes.
            let expectedBlockField = lengthDelimited(2, v0.data)
            XCTAssertTrue(contains(bytes, expectedBlockField), "\(protocolID): no bare block in field 2")
            XCTAssertFalse(contains(bytes, raw.data), "\(protocolID): a CIDv1 block was sent bare")
            let decoded = try BitswapMessage.decode(bytes)
            XCTAssertEqual(decoded.blocks, [PrefixedBlock(prefix: .v0, data: v0.data)])
            XCTAssertTrue(decoded.presences.isEmpty)
            XCTAssertEqual(decoded.wantlist.map(\.wantType), [.block])
            XCTAssertEqual(decoded.wantlist.map(\.sendDontHave), [false])
        }
    }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }

    // MARK: CID prefixes

    func testPrefixBytes() throws {
        XCTAssertEqual(CIDPrefix.v0.bytes, [0x00, 0x70, 0x12, 0x20])
        let raw = try rawV1Block("raw")
        XCTAssertEqual(CIDPrefix(of: raw.cid).bytes, [0x01, 0x55, 0x12, 0x20])
        XCTAssertEqual(CIDPrefix(of: try v0Block("v0").cid), .v0)
        XCTAssertEqual(try CIDPrefix(bytes: [0x00, 0x70, 0x12, 0x20]), .v0)
        // py-libp2p sends CIDv0 blocks with an empty prefix on 1.1.0 and 1.2.0.
        XCTAssertEqual(try CIDPrefix(bytes: []), .v0)
        XCTAssertEqual(try CIDPrefix(bytes: [0x01, 0x55, 0x12, 0x20]), CIDPrefix(of: raw.cid))
        // dag-cbor (0x71) and a two-byte codec varint (dag-json 0x0129) parse too.
        let json = try CIDPrefix(bytes: [0x01, 0xa9, 0x02, 0x12, 0x20])
        XCTAssertEqual(json.codec, .dagJSON)
        XCTAssertEqual(json.bytes, [0x01, 0xa9, 0x02, 0x12, 0x20])
    }

    func testPrefixNamesBlocks() throws {
        let v0 = try v0Block("some node"), raw = try rawV1Block("some leaf")
        XCTAssertEqual(try CIDPrefix.v0.cid(for: v0.data), v0.cid)
        XCTAssertEqual(try CIDPrefix(of: raw.cid).cid(for: raw.data), raw.cid)
        // Other bytes under the same prefix name another block.
        XCTAssertNotEqual(try CIDPrefix(of: raw.cid).cid(for: Array("tampered".utf8)), raw.cid)
        let blake = try Block(data: Array("blake".utf8), codec: .raw, hash: HashFunction(rawValue: 0xb220))
        XCTAssertEqual(try CIDPrefix(of: blake.cid).cid(for: blake.data), blake.cid)
    }

    func testPrefixWithUnsupportedHashOrLengthIsRejected() {
        // sha2-256 with a 20-byte digest cannot be verified.
        let short = CIDPrefix(version: .v1, codec: .raw, hashFunction: .sha2_256, digestLength: 20)
        XCTAssertThrowsError(try short.cid(for: [1, 2, 3])) { error in
            guard case BitswapError.unsupportedBlock = error else { return XCTFail("\(error)") }
        }
        let unknown = CIDPrefix(version: .v1, codec: .raw, hashFunction: HashFunction(rawValue: 0x7777), digestLength: 32)
        XCTAssertThrowsError(try unknown.cid(for: [1, 2, 3])) { error in
            guard case BitswapError.unsupportedBlock = error else { return XCTFail("\(error)") }
        }
    }

    func testBadPrefixBytes() {
        for bytes: [UInt8] in [[0x01, 0x55, 0x12], [0x02, 0x55, 0x12, 0x20], [0x01, 0x55, 0x12, 0x20, 0x00],
                               [0x01, 0x55, 0x12, 0x81, 0x02], [0x01, 0xff]] {
            XCTAssertThrowsError(try CIDPrefix(bytes: bytes), "\(bytes)") { error in
                XCTAssertEqual(self.fieldName(error), "block prefix", "\(bytes): \(error)")
            }
        }
    }

    // MARK: Wire compatibility (hand-built protobuf)

    func testHandBuiltMessageDecodes() throws {
        let raw = try rawV1Block("payload block")
        let v0 = try v0Block("bare block")
        let wanted = try rawV1Block("wanted").cid
        let absent = try rawV1Block("absent").cid

        // Wantlist entry: block=1, priority=2, cancel=3, wantType=4 (1 = Have), sendDontHave=5.
        let entry = lengthDelimited(1, wanted.bytes) + varintField(2, 9) + varintField(4, 1) + varintField(5, 1)
        let cancel = lengthDelimited(1, absent.bytes) + varintField(3, 1)
        let wantlist = lengthDelimited(1, entry) + lengthDelimited(1, cancel) + varintField(2, 1)
        // Payload block: prefix=1, data=2.
        let payload = lengthDelimited(1, [0x01, 0x55, 0x12, 0x20]) + lengthDelimited(2, raw.data)
        // Presence: cid=1, type=2 (1 = DontHave).
        let presence = lengthDelimited(1, absent.bytes) + varintField(2, 1)
        let have = lengthDelimited(1, wanted.bytes)  // type 0 (Have) is the default: omitted
        var bytes = lengthDelimited(1, wantlist)
        bytes += lengthDelimited(2, v0.data)
        bytes += lengthDelimited(3, payload)
        bytes += lengthDelimited(4, presence)
        bytes += lengthDelimited(4, have)
        bytes += varintField(5, 4096)

        let message = try BitswapMessage.decode(bytes)
        XCTAssertTrue(message.fullWantlist)
        XCTAssertEqual(message.wantlist, [
            WantlistEntry(cid: wanted, priority: 9, wantType: .have, sendDontHave: true),
            WantlistEntry(cid: absent, priority: 0, cancel: true, wantType: .block),
        ])
        XCTAssertEqual(message.blocks, [PrefixedBlock(prefix: .v0, data: v0.data), PrefixedBlock(raw)])
        XCTAssertEqual(try message.blocks.map { try $0.prefix.cid(for: $0.data) }, [v0.cid, raw.cid])
        XCTAssertEqual(message.presences, [
            BlockPresence(cid: absent, kind: .dontHave), BlockPresence(cid: wanted, kind: .have),
        ])
        XCTAssertEqual(message.pendingBytes, 4096)
    }

    func testEncodedBytesMatchTheProtobufLayout() throws {
        let raw = try rawV1Block("x")
        let bytes = BitswapMessage(blocks: [PrefixedBlock(raw)]).encoded(for: BitswapProtocol.v120)
        let payload = lengthDelimited(1, [0x01, 0x55, 0x12, 0x20]) + lengthDelimited(2, raw.data)
        XCTAssertEqual(bytes, lengthDelimited(3, payload))

        let cid = raw.cid
        let want = BitswapMessage(wantlist: [WantlistEntry(cid: cid, priority: 1, wantType: .have, sendDontHave: true)])
            .encoded(for: BitswapProtocol.v120)
        let entry = lengthDelimited(1, cid.bytes) + varintField(2, 1) + varintField(4, 1) + varintField(5, 1)
        XCTAssertEqual(want, lengthDelimited(1, lengthDelimited(1, entry)))
    }

    func testEmptyMessageDecodes() throws {
        let message = try BitswapMessage.decode([])
        XCTAssertTrue(message.isEmpty)
        XCTAssertEqual(message, BitswapMessage())
    }

    // MARK: Malformed input

    func testTruncatedBytesAreMalformed() throws {
        let raw = try rawV1Block("some block data")
        let full = BitswapMessage(
            wantlist: [WantlistEntry(cid: raw.cid)], blocks: [PrefixedBlock(raw)]).encoded(for: BitswapProtocol.v120)
        for cut in [1, 5, full.count / 2, full.count - 1] {
            XCTAssertThrowsError(try BitswapMessage.decode(Array(full.prefix(cut))), "cut at \(cut)") { error in
                XCTAssertNotNil(self.fieldName(error), "\(error)")
            }
        }
        XCTAssertThrowsError(try BitswapMessage.decode([0x0a, 0x05, 0x0a])) { error in
            XCTAssertEqual(self.fieldName(error), "message")
        }
    }

    func testBadCIDInWantlistEntry() {
        let entry = lengthDelimited(1, [0x01, 0x55, 0x12, 0x20, 0x01, 0x02])  // digest too short
        let bytes = lengthDelimited(1, lengthDelimited(1, entry))
        XCTAssertThrowsError(try BitswapMessage.decode(bytes)) { error in
            XCTAssertEqual(self.fieldName(error), "wantlist.entries[0].block")
        }
        let empty = lengthDelimited(1, lengthDelimited(1, varintField(2, 1)))  // no CID at all
        XCTAssertThrowsError(try BitswapMessage.decode(empty)) { error in
            XCTAssertEqual(self.fieldName(error), "wantlist.entries[0].block")
        }
    }

    func testBadCIDInPresence() {
        let bytes = lengthDelimited(4, lengthDelimited(1, [0xff, 0xff]) + varintField(2, 0))
        XCTAssertThrowsError(try BitswapMessage.decode(bytes)) { error in
            XCTAssertEqual(self.fieldName(error), "blockPresences[0].cid")
        }
    }

    func testBadPrefixInPayload() throws {
        let good = lengthDelimited(1, [0x01, 0x55, 0x12, 0x20]) + lengthDelimited(2, [1])
        let bad = lengthDelimited(1, [0x05, 0x55, 0x12, 0x20]) + lengthDelimited(2, [1])
        let bytes = lengthDelimited(3, good) + lengthDelimited(3, bad)
        XCTAssertThrowsError(try BitswapMessage.decode(bytes)) { error in
            XCTAssertEqual(self.fieldName(error), "payload[1].prefix")
        }
    }

    func testUnknownEnumValues() throws {
        let cid = try rawV1Block("x").cid
        let entry = lengthDelimited(1, cid.bytes) + varintField(4, 7)
        XCTAssertThrowsError(try BitswapMessage.decode(lengthDelimited(1, lengthDelimited(1, entry)))) { error in
            XCTAssertEqual(self.fieldName(error), "wantlist.entries[0].wantType")
        }
        let presence = lengthDelimited(1, cid.bytes) + varintField(2, 2)
        XCTAssertThrowsError(try BitswapMessage.decode(lengthDelimited(4, presence))) { error in
            XCTAssertEqual(self.fieldName(error), "blockPresences[0].type")
        }
    }

    func testUnknownFieldsAreSkipped() throws {
        let raw = try rawV1Block("forward compatible")
        // Unknown fields of every wire type (varint, fixed64, bytes, fixed32), at every level.
        let unknown = protoVarint(99, 5) + Varint.encode(98 << 3 | 1) + [UInt8](repeating: 1, count: 8)
            + lengthDelimited(97, [1, 2, 3]) + Varint.encode(96 << 3 | 5) + [0, 0, 0, 0]
        let entry = lengthDelimited(1, raw.cid.bytes) + unknown + varintField(2, 3)
        let wantlist = lengthDelimited(1, entry) + unknown
        let payload = unknown + lengthDelimited(1, CIDPrefix(of: raw.cid).bytes) + lengthDelimited(2, raw.data)
        let presence = lengthDelimited(1, raw.cid.bytes) + unknown + varintField(2, 1)
        let bytes = unknown + lengthDelimited(1, wantlist) + lengthDelimited(3, payload) + lengthDelimited(4, presence) + unknown
        let message = try BitswapMessage.decode(bytes)
        XCTAssertEqual(message.wantlist, [WantlistEntry(cid: raw.cid, priority: 3)])
        XCTAssertEqual(message.blocks, [PrefixedBlock(raw)])
        XCTAssertEqual(message.presences, [BlockPresence(cid: raw.cid, kind: .dontHave)])
    }

    func testNegativePriorityAndPendingBytesRoundTrip() throws {
        let cid = try rawV1Block("n").cid
        let message = BitswapMessage(wantlist: [WantlistEntry(cid: cid, priority: -7)], pendingBytes: -1)
        let bytes = message.encoded(for: BitswapProtocol.v120)
        XCTAssertEqual(try BitswapMessage.decode(bytes), message)
        // Protobuf int32: negative values are 10-byte sign-extended varints.
        XCTAssertTrue(contains(bytes, [0x28] + [UInt8](repeating: 0xff, count: 9) + [0x01]))
    }

    func testFrameIsLengthPrefixed() throws {
        let raw = try rawV1Block("framed")
        let message = BitswapMessage(blocks: [PrefixedBlock(raw)], presences: [BlockPresence(cid: raw.cid, kind: .have)])
        let body = message.encoded(for: BitswapProtocol.v120)
        XCTAssertEqual(message.frame(for: BitswapProtocol.v120), Varint.encode(UInt64(body.count)) + body)
        XCTAssertEqual(BitswapMessage().frame(for: BitswapProtocol.v120), [0x00])
        // A large block needs a multi-byte length.
        let big = PrefixedBlock(prefix: CIDPrefix(of: raw.cid), data: [UInt8](repeating: 3, count: 300_000))
        let frame = BitswapMessage(blocks: [big]).frame(for: BitswapProtocol.v110)
        let (length, prefixLength) = try Varint.decode(frame[...])
        XCTAssertEqual(Int(length), frame.count - prefixLength)
        XCTAssertEqual(try BitswapMessage.decode(Array(frame[prefixLength...])).blocks, [big])
    }

    func testLowLevelWireErrors() {
        let cases: [(String, [UInt8])] = [
            ("field number 0", [0x00, 0x01]),
            ("overlong varint", [0x28] + [UInt8](repeating: 0xff, count: 10) + [0x01]),
            ("truncated varint", [0x28, 0x80]),
            ("length past the end", [0x1a, 0x10, 0x0a]),
            ("nested length past its parent", lengthDelimited(1, [0x0a, 0x20, 0x0a, 0x01])),
            ("group wire type", [0x0b, 0x0c]),
            ("truncated fixed32", Varint.encode(9 << 3 | 5) + [0, 0]),
            ("truncated fixed64", Varint.encode(9 << 3 | 1) + [0, 0, 0, 0]),
        ]
        for (name, bytes) in cases {
            XCTAssertThrowsError(try BitswapMessage.decode(bytes), name) { error in
                XCTAssertNotNil(self.fieldName(error), "\(name): \(error)")
            }
        }
    }

    func testErrorDescriptionsNameTheField() {
        let error = BitswapError.malformedMessage(field: "payload[3].prefix", reason: "CID version 5")
        XCTAssertTrue(error.description.contains("payload[3].prefix"))
        XCTAssertTrue(error.description.contains("CID version 5"))
    }
}
