import BlockStore
import Foundation
import IPLD
import Multiformats
import Testing
import UnixFS

@testable import Versioning
import TestSupport

@Suite("Merge and Checkout", .onBlockingPool)
struct MergeTests {
    func cid(_ label: String) throws -> CID {
        try Block(data: Array(label.utf8), codec: .raw).cid
    }

    @Test("merge base: lowest common ancestor by BFS")
    func mergeBase() throws {
        // r ← a ← b ← c (ours);  b ← d ← e (theirs);  f unrelated.
        let (r, a, b, c, d, e, f) = (try cid("r"), try cid("a"), try cid("b"), try cid("c"), try cid("d"), try cid("e"), try cid("f"))
        let parents: [CID: [CID]] = [r: [], a: [r], b: [a], c: [b], d: [b], e: [d], f: []]
        let lookup = { (x: CID) -> [CID] in parents[x] ?? [] }
        #expect(Merge.mergeBase(c, e, parents: lookup) == b)
        #expect(Merge.mergeBase(e, c, parents: lookup) == b)
        #expect(Merge.mergeBase(c, b, parents: lookup) == b)
        #expect(Merge.mergeBase(c, f, parents: lookup) == nil)
        // A merge commit m with parents c and e: base of m and e is e.
        let m = try cid("m")
        let merged = parents.merging([m: [c, e]]) { x, _ in x }
        #expect(Merge.mergeBase(m, e, parents: { merged[$0] ?? [] }) == e)
    }

    let base: [String: String] = ["a.txt": "a", "b.txt": "b", "dir/c.txt": "c", "dir/d.txt": "d"]

    @Test("clean three-way merge")
    func clean() throws {
        let store = MemoryBlockStore()
        let baseRoot = try vtImport(base, into: store)
        var ours = base
        ours["a.txt"] = "a ours"
        ours["dir/new-ours.txt"] = "o"
        var theirs = base
        theirs["b.txt"] = "b theirs"
        theirs["dir/d.txt"] = nil
        theirs["fresh/t.txt"] = "t"
        let oursRoot = try vtImport(ours, into: store)
        let theirsRoot = try vtImport(theirs, into: store)
        let sink = CollectingBlockSink()
        let result = try Merge.mergeTrees(
            base: baseRoot, ours: oursRoot, theirs: theirsRoot, strategy: .fail, source: store, options: ImportOptions(),
            sink: sink)
        var expected = ours
        expected["b.txt"] = "b theirs"
        expected["dir/d.txt"] = nil
        expected["fresh/t.txt"] = "t"
        #expect(result.conflicts.isEmpty)
        #expect(result.tree?.cid == (try vtHash(expected)))
        #expect(result.applied.map(\.path) == ["b.txt", "dir/d.txt", "fresh/t.txt"])
        // Fast-forward-like cases.
        let same = try Merge.mergeTrees(
            base: baseRoot, ours: baseRoot, theirs: theirsRoot, strategy: .fail, source: store, options: ImportOptions(), sink: nil)
        #expect(same.tree?.cid == theirsRoot)
        #expect(same.tree?.size == (try Importer(sink: nil).add(tree: vtTree(theirs)).root.size))
        #expect(result.tree?.size == (try Importer(sink: nil).add(tree: vtTree(expected)).root.size))
    }

    @Test("conflicts under each strategy", arguments: MergeStrategy.allCases)
    func conflicts(strategy: MergeStrategy) throws {
        let store = MemoryBlockStore()
        let baseRoot = try vtImport(base, into: store)
        var ours = base
        ours["a.txt"] = "a ours"
        ours["dir/c.txt"] = "c ours"
        var theirs = base
        theirs["a.txt"] = "a theirs"
        theirs["b.txt"] = "b theirs"
        theirs["dir"] = "dir is now a file"
        theirs["dir/c.txt"] = nil
        theirs["dir/d.txt"] = nil
        let oursRoot = try vtImport(ours, into: store)
        let theirsRoot = try vtImport(theirs, into: store)
        let sink = CollectingBlockSink()
        let result = try Merge.mergeTrees(
            base: baseRoot, ours: oursRoot, theirs: theirsRoot, strategy: strategy, source: store, options: ImportOptions(),
            sink: sink)
        #expect(Set(result.conflicts.map(\.path)) == ["a.txt", "dir"])
        let conflict = result.conflicts.first { $0.path == "a.txt" }
        #expect(conflict?.ours != nil && conflict?.theirs != nil && conflict?.ours != conflict?.theirs)
        switch strategy {
        case .fail:
            #expect(result.tree == nil)
            #expect(sink.blocks.isEmpty)
        case .ours:
            var expected = ours
            expected["b.txt"] = "b theirs"
            #expect(result.tree?.cid == (try vtHash(expected)))
        case .theirs:
            #expect(result.tree?.cid == theirsRoot)
        }
    }

    @Test("checkout materialises and verifies; refuses a non-empty folder")
    func checkout() throws {
        let store = MemoryBlockStore()
        let files = ["a.txt": "a", "dir/.hidden": "h", "dir/sub/c.bin": String(repeating: "q", count: 300_000)]
        let root = try vtImport(files, into: store)
        let parent = try vtTempDir()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let target = parent + "/out"
        #expect(try Checkout.materialize(root, source: store, to: target, options: ImportOptions()) == root)
        #expect(try String(contentsOfFile: target + "/dir/sub/c.bin", encoding: .utf8).count == 300_000)
        #expect(try String(contentsOfFile: target + "/dir/.hidden", encoding: .utf8) == "h")
        #expect(throws: TreeError.self) {
            try Checkout.materialize(root, source: store, to: target, options: ImportOptions())
        }
        // An existing empty folder is fine.
        let empty = parent + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: false)
        try Checkout.materialize(root, source: store, to: empty, options: ImportOptions())
        // Wrong options: verification fails.
        #expect(throws: TreeError.self) {
            try Checkout.materialize(root, source: store, to: parent + "/v1", options: .unixfsV1_2025)
        }
    }
}
