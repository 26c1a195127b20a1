import BlockStore
import Foundation
import IPLD
import Multiformats
import Testing
import UnixFS

@testable import Versioning
import TestSupport

/// Builds an in-memory tree from "a/b/c.txt" → contents (a path ending in "/" is an empty directory).
func vtTree(_ files: [String: String], name: String = "root") -> ImportNode {
    final class Dir {
        var files: [String: String] = [:]
        var dirs: [String: Dir] = [:]
    }
    let top = Dir()
    for (path, contents) in files {
        let parts = path.split(separator: "/").map(String.init)
        var current = top
        for part in parts.dropLast() {
            if current.dirs[part] == nil { current.dirs[part] = Dir() }
            current = current.dirs[part] ?? Dir()
        }
        guard let last = parts.last else { continue }
        if path.hasSuffix("/") {
            if current.dirs[last] == nil { current.dirs[last] = Dir() }
        } else {
            current.files[last] = contents
        }
    }
    func node(_ dir: Dir, _ name: String) -> ImportNode {
        var children: [ImportNode] = dir.files.map { .file(name: $0.key, contents: Array($0.value.utf8)) }
        children += dir.dirs.map { node($0.value, $0.key) }
        return .directory(name: name, children: children)
    }
    return node(top, name)
}

/// Imports a tree into `store`; returns its root CID.
func vtImport(_ files: [String: String], into store: MemoryBlockStore, options: ImportOptions = ImportOptions()) throws -> CID {
    let sink = CollectingBlockSink()
    let result = try Importer(options: options, sink: sink).add(tree: vtTree(files))
    try store.putMany(sink.blocks)
    return result.root.cid
}

/// The root CID of a tree without storing it.
func vtHash(_ files: [String: String], options: ImportOptions = ImportOptions()) throws -> CID {
    try Importer(options: options, sink: nil).add(tree: vtTree(files)).root.cid
}

func vtTempDir() throws -> String {
    let path = NSTemporaryDirectory() + "vtrees-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func vtWrite(_ files: [String: String], to folder: String) throws {
    for (path, contents) in files {
        let full = folder + "/" + path
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: full))
    }
}

@Suite("TreeDiff", .onBlockingPool)
struct TreeDiffTests {
    let base: [String: String] = [
        "README.md": "hello",
        "data/a.csv": "1,2,3",
        "data/b.csv": "4,5,6",
        "data/deep/x.bin": "xxxx",
        "docs/guide.txt": "guide",
    ]

    @Test("identical trees: no changes, no blocks read")
    func identical() throws {
        let store = MemoryBlockStore()
        let root = try vtImport(base, into: store)
        let diff = TreeDiff(source: store)
        #expect(try diff.diff(old: root, new: root).isEmpty)
        #expect(diff.blocksRead == 0)
    }

    @Test("added, removed and modified files with sizes, nested")
    func changes() throws {
        let store = MemoryBlockStore()
        let old = try vtImport(base, into: store)
        var changed = base
        changed["data/a.csv"] = "1,2,3,4"
        changed["data/b.csv"] = nil
        changed["data/new/n.txt"] = "new!"
        changed["top.txt"] = "t"
        let new = try vtImport(changed, into: store)
        let diff = TreeDiff(source: store)
        let changes = try diff.diff(old: old, new: new)
        #expect(changes.map(\.path) == ["data/a.csv", "data/b.csv", "data/new/n.txt", "top.txt"])
        #expect(changes.map(\.kind) == [.modified, .removed, .added, .added])
        #expect(changes[0].oldSize == 5 && changes[0].newSize == 7)
        #expect(changes[1].oldSize == 5 && changes[1].newSize == nil && changes[1].newCID == nil)
        #expect(changes[2].newKind == .file && changes[2].newSize == 4)
        // "docs" and "data/deep" are identical subtrees: never read.
        #expect(diff.blocksRead <= 10, "read \(diff.blocksRead) blocks")

        let reverse = try TreeDiff(source: store).diff(old: new, new: old)
        #expect(reverse.map(\.kind) == [.modified, .added, .removed, .removed])

        let collapsed = try TreeDiff(source: store, expandDirectories: false).diff(old: old, new: new)
        #expect(collapsed.map(\.path) == ["data/a.csv", "data/b.csv", "data/new", "top.txt"])
        #expect(collapsed[2].newKind == .directory)
    }

    @Test("file replaced by a directory is one modification")
    func typeChange() throws {
        let store = MemoryBlockStore()
        let old = try vtImport(["a": "file"], into: store)
        let new = try vtImport(["a/b": "inside"], into: store)
        let changes = try TreeDiff(source: store).diff(old: old, new: new)
        #expect(changes.count == 1)
        #expect(changes.first?.path == "a" && changes.first?.oldKind == .file && changes.first?.newKind == .directory)
    }

    @Test("10,000 files, one changed: O(depth) blocks read")
    func bigTreeOneChange() throws {
        let store = MemoryBlockStore()
        var files: [String: String] = [:]
        for i in 0..<10_000 { files["d\(i % 10)/s\(i % 100)/f\(i).txt"] = "file \(i)" }
        let old = try vtImport(files, into: store)
        files["d3/s53/f4253.txt"] = "changed"
        let new = try vtImport(files, into: store)
        let diff = TreeDiff(source: store)
        let changes = try diff.diff(old: old, new: new)
        #expect(changes.map(\.path) == ["d3/s53/f4253.txt"])
        // root, d3, s53 on each side + the two file nodes.
        #expect(diff.blocksRead == 8, "read \(diff.blocksRead) blocks")
    }

    @Test("HAMT directory of 5,000 entries, one changed: shards with equal CIDs skipped")
    func hamtOneChange() throws {
        let store = MemoryBlockStore()
        var options = ImportOptions()
        options.hamtShardingThreshold = 1024
        var files: [String: String] = [:]
        for i in 0..<5_000 { files["big/entry-\(i).dat"] = "value \(i)" }
        let old = try vtImport(files, into: store, options: options)
        files["big/entry-1234.dat"] = "changed"
        files["big/entry-new.dat"] = "added"
        let new = try vtImport(files, into: store, options: options)
        let bigOld = try Exporter(source: store).resolve(old, components: ["big"])
        #expect(try Exporter(source: store).stat(bigOld).isSharded)
        let diff = TreeDiff(source: store)
        let changes = try diff.diff(old: old, new: new)
        #expect(changes.map(\.path) == ["big/entry-1234.dat", "big/entry-new.dat"])
        #expect(changes.map(\.kind) == [.modified, .added])
        #expect(diff.blocksRead <= 16, "read \(diff.blocksRead) blocks")
        // Basic directory vs HAMT of the same entries: no changes.
        var basic = ImportOptions()
        basic.hamtShardingThreshold = 0
        let flat = try vtImport(files, into: store, options: basic)
        #expect(try TreeDiff(source: store).diff(old: new, new: flat).isEmpty)
    }

    @Test("diff against a local folder")
    func localFolder() throws {
        let store = MemoryBlockStore()
        let old = try vtImport(base, into: store)
        let folder = try vtTempDir()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var changed = base
        changed["docs/guide.txt"] = "guide v2"
        changed["data/big.bin"] = String(repeating: "z", count: 600_000)
        try vtWrite(changed, to: folder)
        try FileManager.default.removeItem(atPath: folder + "/README.md")
        let diff = TreeDiff(source: store)
        let changes = try diff.diff(old: old, folder: folder, options: ImportOptions())
        #expect(changes.map(\.path) == ["README.md", "data/big.bin", "docs/guide.txt"])
        #expect(changes.map(\.kind) == [.removed, .added, .modified])
        #expect(changes[1].newSize == 600_000)
        #expect(changes[2].newSize == 8)
        // Nothing of the folder was stored.
        #expect(try store.has(changes[2].newCID ?? old) == false)
    }
}
