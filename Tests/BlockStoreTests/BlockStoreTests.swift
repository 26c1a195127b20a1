import Foundation
import IPLD
import Multiformats
import Testing

@testable import BlockStore
import TestSupport

@Suite("BlockStore semantics (memory and SQLite)", .onBlockingPool)
struct BlockStoreTests {
    @Test("put, get, has, size, delete", arguments: StoreKind.allCases)
    func basicOperations(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        let block = try rawBlock("hello block store")
        #expect(try store.get(block.cid) == nil)
        #expect(try store.has(block.cid) == false)
        #expect(try store.size(of: block.cid) == nil)
        try store.put(block)
        #expect(try store.get(block.cid) == block)
        #expect(try store.has(block.cid))
        #expect(try store.size(of: block.cid) == block.data.count)
        #expect(try store.block(for: block.cid) == block)
        try store.put(block)  // no-op when present
        #expect(try store.allMultihashes() == [block.cid.multihash])
        try store.delete(block.cid)
        #expect(try store.get(block.cid) == nil)
        #expect(try store.allMultihashes().isEmpty)
        try store.delete(block.cid)  // no-op when absent
    }

    @Test("a CIDv0 and CIDv1 of the same bytes share storage; get answers under the CID asked", arguments: StoreKind.allCases)
    func keyedByMultihash(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        // The empty UnixFS directory, as Kubo names it.
        let v0 = try pbBlock(links: [], data: [0x08, 0x01])
        #expect(v0.cid.description == "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn")
        try store.put(v0)
        let v1 = v0.cid.toV1()
        let rawView = try CID(version: .v1, codec: .raw, multihash: v0.cid.multihash)
        #expect(try store.get(v1) == Block(cid: v1, data: v0.data))
        #expect(try store.get(rawView)?.cid == rawView)
        #expect(try store.has(rawView))
        #expect(try store.allMultihashes().count == 1)
        try store.delete(v1)
        #expect(try store.has(v0.cid) == false)
    }

    @Test("putMany stores all, skips duplicates and identity CIDs", arguments: StoreKind.allCases)
    func putMany(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        var random = TestRandom(seed: 7)
        let blocks = try (0..<50).map { _ in try rawBlock(random.bytes(100)) }
        let identity = try CID(version: .v1, codec: .raw, multihash: Multihash.hash(Array("inline".utf8), with: .identity))
        try store.putMany(blocks + [blocks[3], Block(cid: identity, data: Array("inline".utf8))])
        #expect(Set(try store.allMultihashes()) == Set(blocks.map(\.cid.multihash)))
        for block in blocks { #expect(try store.get(block.cid) == block) }
        try store.putMany([])
    }

    @Test("identity CIDs are answered from the CID and never stored", arguments: StoreKind.allCases)
    func identityInline(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        let bytes = Array("tiny".utf8)
        let cid = try CID(version: .v1, codec: .raw, multihash: Multihash.hash(bytes, with: .identity))
        #expect(try store.get(cid) == Block(cid: cid, data: bytes))
        #expect(try store.has(cid))
        #expect(try store.size(of: cid) == 4)
        try store.put(Block(cid: cid, data: bytes))
        #expect(try store.allMultihashes().isEmpty)
    }

    @Test("empty and large blocks round-trip", arguments: StoreKind.allCases)
    func sizes(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        var random = TestRandom(seed: 3)
        let blocks = try [0, 1, 4095, 65_536, 262_144, 1 << 20 | 17].map { try rawBlock(random.bytes($0)) }
        try store.putMany(blocks)
        for block in blocks {
            #expect(try store.get(block.cid) == block)
            #expect(try store.size(of: block.cid) == block.data.count)
        }
        let stat = try store.stat()
        #expect(stat.blockCount == blocks.count)
        #expect(stat.totalBytes == blocks.reduce(0) { $0 + $1.data.count })
    }

    @Test("concurrent puts and gets from many threads", arguments: StoreKind.allCases)
    func concurrency(kind: StoreKind) async throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var random = TestRandom(seed: UInt64(worker + 100))
                    for round in 0..<20 {
                        let blocks = try (0..<4).map { _ in try rawBlock(random.bytes(2000 + round)) }
                        try store.putMany(blocks)
                        for block in blocks { #expect(try store.get(block.cid) == block) }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.allMultihashes().count == 8 * 20 * 4)
        #expect(try store.verify().isOK)
    }
}
