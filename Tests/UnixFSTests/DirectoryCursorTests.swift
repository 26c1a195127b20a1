import BlockStore
import Foundation
import IPLD
import Multiformats
import Synchronization
import Testing

@testable import UnixFS
import TestSupport

/// A block source that counts the blocks read through it.
private final class CountingSource: BlockSource {
    let store: MemoryBlockStore
    let loads = Atomic<Int>(0)

    init(_ store: MemoryBlockStore) { self.store = store }

    func block(for cid: CID) throws -> Block? {
        loads.add(1, ordering: .relaxed)
        return try store.block(for: cid)
    }

    /// Blocks read while `body` runs.
    func counting<T>(_ body: () throws -> T) rethrows -> (T, Int) {
        let before = loads.load(ordering: .relaxed)
        let value = try body()
        return (value, loads.load(ordering: .relaxed) - before)
    }
}

/// Every entry name `cursor` yields.
private func drain(_ cursor: DirectoryCursor) throws -> [String] {
    var cursor = cursor
    var names: [String] = []
    while let entry = try cursor.next() { names.append(entry.name) }
    return names
}

private func hash(_ name: String) -> UInt64 { Murmur3.hash64(Array(name.utf8)) }

/// Names of a directory reassembled page by page.
private func paged(_ exporter: Exporter, _ cid: CID, limit: Int) throws -> [String] {
    var names: [String] = []
    var after: String?
    for _ in 0..<100_000 {
        let page = try exporter.page(cid, after: after, limit: limit)
        #expect(page.entries.count <= limit)
        names += page.entries.map(\.name)
        guard let next = page.next else { return names }
        #expect(page.entries.count == limit)
        after = next
    }
    Issue.record("paging did not end")
    return names
}

/// A directory of `names` (all linking one small file) written by the importer's directory code.
private func directory(_ names: [String], options: ImportOptions = ImportOptions()) throws -> (CID, MemoryBlockStore) {
    let store = MemoryBlockStore()
    let file = try Importer(options: options, sink: BatchingBlockSink(store: store, background: false)).add(bytes: [1, 2, 3])
    let sink = BatchingBlockSink(store: store, background: false)
    let entries = names.map { DirectoryWriter.Entry(name: $0, cid: file.root.cid, tsize: file.root.size) }
    let dir = try DirectoryWriter(options: options).write(entries, to: sink)
    try sink.flush()
    return (dir.cid, store)
}

/// Sharding from the first entry with fanout 8: a few hundred names make a HAMT of several levels.
private var smallShards: ImportOptions {
    var options = ImportOptions()
    options.hamtShardingThreshold = 1
    options.hamtFanout = 8
    return options
}

@Suite("Directory cursor", .onBlockingPool)
struct DirectoryCursorTests {
    @Test("a sharded directory made by the importer: resuming after every entry gives the rest, in order")
    func resumeAfterEveryEntryOfAHAMT() throws {
        let tree = ImportNode.directory(
            name: "d", children: (0..<300).map { .file(name: "file-\($0) & <ü>.txt", contents: Array("\($0)".utf8)) })
        let store = MemoryBlockStore()
        let result = try Importer(options: smallShards, sink: BatchingBlockSink(store: store, background: false)).add(tree: tree)
        let exporter = Exporter(source: store)
        let root = result.root.cid
        let all = try exporter.entries(root).map(\.name)
        #expect(all.count == 300)
        #expect(try drain(exporter.cursor(root)) == all)
        // Several levels: some root link is a sub-shard (a bare 1-digit bucket name).
        let rootNode = try exporter.node(root)
        #expect(rootNode.links.contains { ($0.name ?? "").utf8.count == 1 })
        #expect(try exporter.stat(root).isSharded)
        // Shard order is ascending murmur3 hash of the name.
        #expect(zip(all, all.dropFirst()).allSatisfy { hash($0.0) < hash($0.1) })
        for (i, name) in all.enumerated() {
            #expect(try drain(exporter.cursor(root, after: name)) == Array(all[(i + 1)...]), "after \(name)")
        }
        for limit in [1, 7, 100, 300, 301] {
            #expect(try paged(exporter, root, limit: limit) == all)
        }
        let first = try exporter.page(root, limit: 10)
        #expect(first.isSharded && first.count == nil && first.hasMore && first.next == all[9])
        let last = try exporter.page(root, after: all[295], limit: 10)
        #expect(last.entries.map(\.name) == Array(all[296...]) && !last.hasMore && last.next == nil)
        #expect(try exporter.page(root, after: all[299], limit: 10).entries.isEmpty)
    }

    @Test("a name not in a HAMT resumes where it would have been (hash order)")
    func absentNamesInAHAMT() throws {
        let names = (0..<400).map { "n\($0)" }
        let (root, store) = try directory(names, options: smallShards)
        let exporter = Exporter(source: store)
        let all = try exporter.entries(root).map(\.name)
        #expect(Set(all) == Set(names))
        for probe in (0..<200).map({ "absent-\($0)" }) + ["n", "n4000", "\u{0}", "ü/é"] {
            let h = hash(probe)
            #expect(try drain(exporter.cursor(root, after: probe)) == all.filter { hash($0) > h }, "after \(probe)")
        }
    }

    @Test("a basic directory: binary search for the resume point, absent names included")
    func basicDirectory() throws {
        let names = ["a", "b & c", "<d>", "e\"f", "zeta", "Ärger", "日本", "a1", "B"]
        let (root, store) = try directory(names)
        let exporter = Exporter(source: store)
        #expect(try !exporter.stat(root).isSharded)
        let all = try exporter.entries(root).map(\.name)
        #expect(all == names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        for (i, name) in all.enumerated() {
            #expect(try drain(exporter.cursor(root, after: name)) == Array(all[(i + 1)...]))
        }
        for probe in ["0", "a0", "b", "zz", "\u{10FFFF}", "Ä"] {
            #expect(try drain(exporter.cursor(root, after: probe)) == all.filter { probe.utf8.lexicographicallyPrecedes($0.utf8) })
        }
        let page = try exporter.page(root, after: all[1], limit: 3)
        #expect(page.count == names.count && !page.isSharded && page.entries.map(\.name) == Array(all[2..<5]) && page.hasMore)
        #expect(try paged(exporter, root, limit: 2) == all)
        // The DAG size is the root block plus its links' Tsize.
        let block = try #require(try store.get(root))
        let links = try PBNode(decoding: block.data).links
        #expect(page.dagSize == UInt64(block.data.count) + links.reduce(0) { $0 + ($1.tsize ?? 0) })
    }

    @Test("an unsorted basic directory resumes after an existing name only")
    func unsortedBasicDirectory() throws {
        let file = try Block(data: PBNode(data: UnixFSData(type: .file, data: [1], fileSize: 1).encoded()).encoded(), codec: .dagPB)
        let links = ["c", "a", "b"].map { PBLink(hash: file.cid, name: $0, tsize: 9) }
        let dir = try Block(data: PBNode(links: links, data: UnixFSData(type: .directory).encoded()).encoded(), codec: .dagPB)
        let exporter = Exporter(source: MemoryBlockStore([file, dir]))
        #expect(try drain(exporter.cursor(dir.cid, after: "c")) == ["a", "b"])
        #expect(try drain(exporter.cursor(dir.cid, after: "b")) == [])
        #expect(throws: ExportError.notFound(name: "x", directory: dir.cid, path: "/ipfs/\(dir.cid)")) {
            try exporter.cursor(dir.cid, after: "x")
        }
    }

    @Test("a 100,000-entry HAMT: a deep page reads about as many blocks as the first")
    func hundredThousandEntries() throws {
        let names = (0..<100_000).map { String(format: "photo-%06d.jpg", $0) }
        let (root, store) = try directory(names)
        let source = CountingSource(store)
        let exporter = Exporter(source: source)
        let (all, fullReads) = try source.counting { try exporter.entries(root).map(\.name) }
        #expect(all.count == 100_000)
        let (first, firstReads) = try source.counting { try exporter.page(root, limit: 100) }
        #expect(first.entries.map(\.name) == Array(all[0..<100]))
        for position in [50_000, 99_000, 99_950] {
            let (page, reads) = try source.counting { try exporter.page(root, after: all[position - 1], limit: 100) }
            #expect(page.entries.map(\.name) == Array(all[position..<min(position + 100, all.count)]))
            #expect(page.hasMore == (position + 100 < all.count))
            // The shards on the path, and those the page itself spans (at most one per entry).
            #expect(reads <= 2 * firstReads + 8 && reads <= 100 + 8, "page at \(position): \(reads) blocks (first page \(firstReads))")
            #expect(fullReads > 50 * reads, "whole listing \(fullReads) blocks, page \(reads)")
        }
    }

    @Test("errors: empty cursor, not a directory, missing and malformed shards")
    func errors() throws {
        let (root, store) = try directory((0..<200).map { "n\($0)" }, options: smallShards)
        let exporter = Exporter(source: store)
        let all = try exporter.entries(root).map(\.name)
        #expect(throws: ExportError.invalidPath("", reason: "a listing resumes after an entry name; the empty name names none")) {
            try exporter.cursor(root, after: "")
        }
        let file = try exporter.resolve(root, components: [all[0]])
        #expect(throws: ExportError.notADirectory(file, path: "/ipfs/\(file)")) { try exporter.page(file, limit: 5) }

        // Drop the sub-shard on the path of the last entry: resuming after it names that shard.
        let rootNode = try exporter.node(root)
        let lastLink = try #require(rootNode.links.last)
        #expect((lastLink.name ?? "").utf8.count == 1, "the last bucket holds a sub-shard")
        try store.delete(lastLink.hash)
        let prunedExporter = Exporter(source: store)
        #expect(throws: ExportError.missingBlock(lastLink.hash, path: nil)) {
            try prunedExporter.cursor(root, after: all[all.count - 1])
        }
        var reported: [MissingBlock] = []
        let rest = try drain(prunedExporter.cursor(root, after: all[0]) { reported.append($0) })
        #expect(reported == [.shard(lastLink.hash)])
        #expect(rest.count < all.count - 1 && rest == Array(all[1..<(rest.count + 1)]))

        // A root link whose bucket prefix is not hex, and a "sub-shard" that is a file.
        let badLinks = rootNode.links.map { PBLink(hash: $0.hash, name: "Z" + ($0.name ?? "").dropFirst(), tsize: $0.tsize) }
        let fields = try #require(rootNode.fields)
        let data = UnixFSData(type: .hamtShard, data: [0xff], hashType: 0x22, fanout: fields.fanout)
        let bad = try Block(data: PBNode(links: badLinks, data: data.encoded()).encoded(), codec: .dagPB)
        let fileBlock = try Block(data: PBNode(data: UnixFSData(type: .file, data: [1], fileSize: 1).encoded()).encoded(), codec: .dagPB)
        let fake = try Block(
            data: PBNode(links: [PBLink(hash: fileBlock.cid, name: "0", tsize: 1)], data: data.encoded()).encoded(), codec: .dagPB)
        let badStore = MemoryBlockStore([bad, fileBlock, fake])
        #expect(throws: ExportError.malformed(bad.cid, reason: "HAMT link name \"\(badLinks[0].name ?? "")\" does not start with a hex bucket")) {
            try Exporter(source: badStore).cursor(bad.cid, after: "x")
        }
        #expect(throws: ExportError.malformed(fake.cid, reason: "HAMT link 0 does not point to a shard of fanout 8")) {
            try drain(Exporter(source: badStore).cursor(fake.cid))
        }
    }
}
