import BlockingPool
import Foundation
import IPLD
import Multiformats
import Testing

@testable import BlockStore
import TestSupport

@Suite("Pins", .onBlockingPool)
struct PinTests {
    @Test("recursive pin of a complete DAG; refused naming the first missing block", arguments: StoreKind.allCases)
    func recursiveCompleteness(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        let (root, blocks) = try fileDAG(leafCount: 5)
        // Root and the first two leaves only: leaf 2 is the first missing in pre-order.
        try store.putMany(Array(blocks.prefix(3)))
        #expect(throws: BlockStoreError.incompleteDAG(root: root.cid, missing: blocks[3].cid)) {
            try store.pin(root.cid, recursive: true, name: nil)
        }
        #expect(try store.pins(type: .all).isEmpty)
        // The root itself missing.
        let other = try pbBlock(links: [], data: [1, 2, 3])
        #expect(throws: BlockStoreError.incompleteDAG(root: other.cid, missing: other.cid)) {
            try store.pin(other.cid, recursive: true, name: nil)
        }
        try store.putMany(blocks)
        try store.pin(root.cid, name: "file")
        #expect(try store.pins(type: .recursive) == [Pin(cid: root.cid, kind: .recursive, name: "file")])
        #expect(try store.pinStatus(root.cid) == .recursive(name: "file"))
        #expect(try store.pinStatus(blocks[4].cid) == .indirect(through: root.cid))
        #expect(try store.pinStatus(blocks[4].cid.toV1()) == .indirect(through: root.cid))
        #expect(try store.isPinned(other.cid) == false)
        // removeUnpinned refuses pinned blocks, raw delete does not check.
        #expect(throws: BlockStoreError.blockIsPinned(blocks[2].cid, .indirect(through: root.cid))) {
            try store.removeUnpinned(blocks[2].cid)
        }
        #expect(throws: BlockStoreError.blockIsPinned(root.cid, .recursive(name: "file"))) {
            try store.removeUnpinned(root.cid)
        }
        let loose = try rawBlock("loose")
        try store.put(loose)
        try store.removeUnpinned(loose.cid)
        #expect(try store.has(loose.cid) == false)
        // The CIDv1 of a CIDv0 pin finds it.
        #expect(try store.pinStatus(root.cid.toV1()) == .recursive(name: "file"))
        try store.unpin(root.cid.toV1())
        #expect(try store.pins(type: .all).isEmpty)
    }

    @Test("direct pins, upgrade to recursive, and the refusals", arguments: StoreKind.allCases)
    func directPins(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        let (root, blocks) = try fileDAG(leafCount: 2)
        try store.put(root)
        // Direct needs only the block itself.
        try store.pin(root.cid, recursive: false, name: "d")
        #expect(try store.pins(type: .direct) == [Pin(cid: root.cid, kind: .direct, name: "d")])
        // Upgrade refused while incomplete, then accepted; the name is kept.
        #expect(throws: BlockStoreError.incompleteDAG(root: root.cid, missing: blocks[1].cid)) {
            try store.pin(root.cid, recursive: true, name: nil)
        }
        try store.putMany(blocks)
        try store.pin(root.cid, recursive: true, name: nil)
        #expect(try store.pins(type: .all) == [
            Pin(cid: root.cid, kind: .recursive, name: "d"),
            Pin(cid: blocks[1].cid, kind: .indirect),
            Pin(cid: blocks[2].cid, kind: .indirect),
        ])
        #expect(throws: BlockStoreError.alreadyPinnedRecursively(root.cid)) {
            try store.pin(root.cid, recursive: false, name: nil)
        }
        #expect(throws: BlockStoreError.pinnedRecursively(root.cid)) {
            try store.unpin(root.cid, recursive: false)
        }
        // Renaming a recursive pin.
        try store.pin(root.cid, recursive: true, name: "renamed")
        #expect(try store.pinStatus(root.cid) == .recursive(name: "renamed"))
        try store.unpin(root.cid)
        #expect(try store.pins(type: .all).isEmpty)
        #expect(throws: BlockStoreError.notPinned(root.cid)) { try store.unpin(root.cid) }
        let absent = try rawBlock("absent")
        #expect(throws: BlockStoreError.incompleteDAG(root: absent.cid, missing: absent.cid)) {
            try store.pin(absent.cid, recursive: false, name: nil)
        }
    }

    @Test("listing by type: indirect computed, each CID once in .all", arguments: StoreKind.allCases)
    func listing(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        let shared = try rawBlock("shared leaf")
        let a = try pbBlock(links: [shared.cid], data: [0xa])
        let b = try pbBlock(links: [shared.cid, a.cid], data: [0xb])
        let loose = try rawBlock("loose")
        try store.putMany([shared, a, b, loose])
        try store.pin(b.cid, recursive: true, name: nil)
        try store.pin(a.cid, recursive: false, name: nil)
        try store.pin(loose.cid, recursive: false, name: "loose")
        #expect(Set(try store.pins(type: .indirect)) == [Pin(cid: shared.cid, kind: .indirect), Pin(cid: a.cid, kind: .indirect)])
        #expect(Set(try store.pins(type: .direct).map(\.cid)) == [a.cid, loose.cid])
        let all = try store.pins(type: .all)
        #expect(all.count == 4)
        #expect(Set(all.map(\.cid)) == [b.cid, a.cid, loose.cid, shared.cid])
        #expect(all.first { $0.cid == a.cid }?.kind == .direct)
        #expect(try store.pinStatus(a.cid) == .direct(name: nil))
        #expect(try store.stat().recursivePins == 1)
        #expect(try store.stat().directPins == 2)
    }

    @Test("DAGs through dag-cbor, dag-json and identity links", arguments: StoreKind.allCases)
    func otherCodecs(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        let leaf = try rawBlock("cbor leaf")
        let jsonLeaf = try rawBlock("json leaf")
        let json = try Block(
            data: IPLDCodecs.encode(.map(["x": .link(jsonLeaf.cid)]), codec: .dagJSON), codec: .dagJSON)
        // An identity-hashed dag-cbor node linking to the json node: stored nowhere, still walked.
        let inlineBytes = try IPLDCodecs.encode(.list([.link(json.cid)]), codec: .dagCBOR)
        let inline = try CID(version: .v1, codec: .dagCBOR, multihash: Multihash.hash(inlineBytes, with: .identity))
        let cbor = try Block(
            data: IPLDCodecs.encode(.map(["a": .link(leaf.cid), "b": .link(inline)]), codec: .dagCBOR),
            codec: .dagCBOR)
        try store.putMany([cbor, leaf, json])
        #expect(throws: BlockStoreError.incompleteDAG(root: cbor.cid, missing: jsonLeaf.cid)) {
            try store.pin(cbor.cid, recursive: true, name: nil)
        }
        try store.put(jsonLeaf)
        try store.pin(cbor.cid, recursive: true, name: nil)
        #expect(Set(try store.pins(type: .indirect).map(\.cid)) == [leaf.cid, inline, json.cid, jsonLeaf.cid])
        let gc = try store.collectGarbage()
        #expect(gc.removed.isEmpty)
    }

    @Test("a block whose links cannot be read stops a recursive pin with a clear error", arguments: StoreKind.allCases)
    func unreadableLinks(kind: StoreKind) throws {
        let dir = try TempDir()
        let store = try kind.make(in: dir)
        // Bytes that are not DAG-PB, stored under a dag-pb CID (the store trusts CIDs).
        let junk: [UInt8] = [0xff, 0xff, 0x01]
        let cid = try CID(version: .v1, codec: .dagPB, multihash: Multihash.hash(junk, with: .sha2_256))
        try store.put(Block(cid: cid, data: junk))
        do {
            try store.pin(cid, recursive: true, name: nil)
            Issue.record("pin should have failed")
        } catch {
            guard case let .unreadableLinks(bad, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(bad == cid)
        }
    }
}

@Suite("DAG-PB link scan", .onBlockingPool)
struct DagPBLinkScanTests {
    /// Runs the scan over `bytes` as if stored, counting bytes read.
    private func scan(_ bytes: [UInt8], cid: CID) throws -> (links: [CID], bytesRead: Int) {
        let counter = Locked(0)
        var scanner = DagPBLinkScan(size: bytes.count) { (offset: Int, count: Int) throws(BlockStoreError) -> [UInt8] in
            let end = min(bytes.count, offset + count)
            counter.withLock { $0 += end - offset }
            return Array(bytes[offset..<end])
        }
        let links = try scanner.links(of: cid)
        return (links, counter.withLock { $0 })
    }

    @Test("a 256 KiB leaf is scanned without reading its data")
    func leafSkipsData() throws {
        var random = TestRandom(seed: 11)
        let leaf = try pbBlock(links: [], data: random.bytes(262_144))
        let result = try scan(leaf.data, cid: leaf.cid)
        #expect(result.links.isEmpty)
        #expect(result.bytesRead <= 4096)
    }

    @Test("links first, data first, many links, and agreement with PBNode.linkCIDs")
    func agreesWithDecoder() throws {
        var random = TestRandom(seed: 12)
        let targets = try (0..<174).map { _ in try rawBlock(random.bytes(8)).cid }
        let node = try pbBlock(links: targets, data: random.bytes(300))
        #expect(try scan(node.data, cid: node.cid).links == targets)
        // Old encoders wrote Data before Links.
        var dataFirst: [UInt8] = [0x0a, 0x03, 1, 2, 3]
        let linksOnly = PBNode(links: targets.prefix(3).map { PBLink(hash: $0) }).encoded()
        dataFirst += linksOnly
        let cid = try CID(version: .v1, codec: .dagPB, multihash: Multihash.hash(dataFirst, with: .sha2_256))
        #expect(try scan(dataFirst, cid: cid).links == Array(targets.prefix(3)))
        #expect(try PBNode.linkCIDs(in: dataFirst) == Array(targets.prefix(3)))
        #expect(try scan([], cid: cid).links.isEmpty)
    }

    @Test("malformed blocks fall back to the strict decoder and fail with the CID")
    func malformed() throws {
        let target = try rawBlock("t").cid
        let link = PBNode(links: [PBLink(hash: target)]).encoded()
        let cases: [[UInt8]] = [
            link + [0x0a, 0x01, 0x00] + link,  // links on both sides of Data
            [0x0a, 0x01, 0x00, 0x0a, 0x01, 0x00],  // Data twice
            [0x1a, 0x00],  // unknown field
            [0x0a, 0x05, 0x00],  // length past the end
            [0x12, 0x03, 0x0a, 0x01, 0x00],  // link without Hash
        ]
        for bytes in cases {
            let cid = try CID(version: .v1, codec: .dagPB, multihash: Multihash.hash(bytes, with: .sha2_256))
            do {
                _ = try scan(bytes, cid: cid)
                Issue.record("accepted malformed \(Hex.encode(bytes))")
            } catch let error as BlockStoreError {
                guard case let .unreadableLinks(bad, _) = error else {
                    Issue.record("unexpected error \(error)")
                    continue
                }
                #expect(bad == cid)
            }
        }
    }
}
