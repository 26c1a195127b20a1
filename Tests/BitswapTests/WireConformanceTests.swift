import Foundation
import Multiformats
import SwiftProtobuf
import XCTest

@testable import Bitswap

/// The hand-written wire codec against the code protoc generates from Protos/bitswap-message.proto:
/// each decodes what the other encodes, field for field.
final class WireConformanceTests: XCTestCase {
    typealias PB = Ipfs_Boxo_Bitswap_Message_V1_Pb_Message

    private func cid(_ n: Int, codec: Multicodec = .raw) throws -> CID {
        let mh = try Multihash.hash(Array("block \(n)".utf8), with: .sha2_256)
        return try CID(version: .v1, codec: codec, multihash: mh)
    }

    private func sample() throws -> BitswapMessage {
        let v0 = try CID(version: .v0, codec: .dagPB, multihash: try Multihash.hash([1, 2, 3], with: .sha2_256))
        return BitswapMessage(
            wantlist: [
                WantlistEntry(cid: try cid(1), priority: 2_147_483_647, wantType: .have, sendDontHave: true),
                WantlistEntry(cid: v0, priority: -5, wantType: .block),
                .cancel(try cid(2)),
            ],
            fullWantlist: true,
            blocks: [
                PrefixedBlock(prefix: CIDPrefix(of: try cid(3)), data: Array(repeating: 7, count: 300_000)),
                PrefixedBlock(prefix: .v0, data: [9, 9]),
            ],
            presences: [BlockPresence(cid: try cid(4), kind: .have), BlockPresence(cid: v0, kind: .dontHave)],
            pendingBytes: 123)
    }

    func testGeneratedCodeDecodesHandEncoding() throws {
        let message = try sample()
        let pb = try PB(serializedBytes: message.encoded(for: BitswapProtocol.v120))
        XCTAssertTrue(pb.wantlist.full)
        XCTAssertEqual(pb.wantlist.entries.count, 3)
        XCTAssertEqual(pb.wantlist.entries[0].wantType, .have)
        XCTAssertTrue(pb.wantlist.entries[0].sendDontHave)
        XCTAssertEqual(pb.wantlist.entries[0].priority, 2_147_483_647)
        XCTAssertEqual(pb.wantlist.entries[1].priority, -5)
        XCTAssertTrue(pb.wantlist.entries[2].cancel)
        XCTAssertEqual([UInt8](pb.wantlist.entries[1].block), message.wantlist[1].cid.bytes)
        XCTAssertEqual(pb.payload.count, 2)
        XCTAssertEqual([UInt8](pb.payload[0].prefix), [0x01, 0x55, 0x12, 0x20])
        XCTAssertEqual(pb.payload[0].data.count, 300_000)
        XCTAssertEqual([UInt8](pb.payload[1].prefix), [0x00, 0x70, 0x12, 0x20])
        XCTAssertEqual(pb.blockPresences.map(\.type), [.have, .dontHave])
        XCTAssertEqual(pb.pendingBytes, 123)
        XCTAssertTrue(pb.blocks.isEmpty)
    }

    func testHandDecoderReadsGeneratedEncoding() throws {
        let message = try sample()
        var pb = PB()
        var list = PB.Wantlist()
        list.full = true
        list.entries = message.wantlist.map { e in
            var entry = PB.Wantlist.Entry()
            entry.block = Data(e.cid.bytes)
            entry.priority = e.priority
            entry.cancel = e.cancel
            entry.wantType = e.wantType == .have ? .have : .block
            entry.sendDontHave = e.sendDontHave
            return entry
        }
        pb.wantlist = list
        pb.payload = message.blocks.map { b in
            var block = PB.Block()
            block.prefix = Data(b.prefix.bytes)
            block.data = Data(b.data)
            return block
        }
        pb.blockPresences = message.presences.map { p in
            var presence = PB.BlockPresence()
            presence.cid = Data(p.cid.bytes)
            presence.type = p.kind == .have ? .have : .dontHave
            return presence
        }
        pb.pendingBytes = 123
        let decoded = try BitswapMessage.decode([UInt8](try pb.serializedBytes() as Data))
        XCTAssertEqual(decoded, message)
        // And the hand encoder produces the same bytes as the generated one.
        XCTAssertEqual(message.encoded(for: BitswapProtocol.v120), [UInt8](try pb.serializedBytes() as Data))
    }

    func testVersion100CarriesBareV0BlocksOnly() throws {
        let message = try sample()
        let pb = try PB(serializedBytes: message.encoded(for: BitswapProtocol.v100))
        XCTAssertTrue(pb.payload.isEmpty)
        XCTAssertEqual(pb.blocks.map { [UInt8]($0) }, [[9, 9]])
        XCTAssertTrue(pb.blockPresences.isEmpty)
        XCTAssertEqual(pb.wantlist.entries[0].wantType, .block)
        XCTAssertFalse(pb.wantlist.entries[0].sendDontHave)
        let decoded = try BitswapMessage.decode(message.encoded(for: BitswapProtocol.v100))
        XCTAssertEqual(decoded.blocks, [PrefixedBlock(prefix: .v0, data: [9, 9])])
    }

    func testFrameIsLengthPrefixed() throws {
        let message = try sample()
        let body = message.encoded(for: BitswapProtocol.v110)
        XCTAssertEqual(message.frame(for: BitswapProtocol.v110), Varint.encode(UInt64(body.count)) + body)
    }

    func testEmptyPrefixMeansV0() throws {
        // py-libp2p sends CIDv0 blocks with an empty prefix: field 3 { field 2: data }.
        let data: [UInt8] = [1, 2, 3]
        let bytes: [UInt8] = [0x1a, 5, 0x12, 3] + data
        XCTAssertEqual(try BitswapMessage.decode(bytes).blocks, [PrefixedBlock(prefix: .v0, data: data)])
    }

    func testMalformedInputNamesTheField() {
        let cases: [([UInt8], String)] = [
            ([0x0a, 0x05, 0x0a, 0x03, 0x0a, 0x01, 0xff], "wantlist.entries[0].block"),  // bad CID
            ([0x1a, 0x03, 0x0a, 0x01, 0x07], "payload[0].prefix"),  // truncated prefix
            ([0x22, 0x02, 0x10, 0x05], "blockPresences[0].type"),  // unknown enum
            ([0x0a, 0x10, 0x00], "message"),  // length past the end
        ]
        for (bytes, field) in cases {
            XCTAssertThrowsError(try BitswapMessage.decode(bytes)) { error in
                guard case BitswapError.malformedMessage(let f, _)? = error as? BitswapError else {
                    return XCTFail("\(bytes): \(error)")
                }
                XCTAssertEqual(f, field, "\(bytes)")
            }
        }
    }
}
