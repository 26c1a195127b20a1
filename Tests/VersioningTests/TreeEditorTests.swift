import BlockStore
import Foundation
import IPLD
import Multiformats
import Testing
import UnixFS

@testable import Versioning
import TestSupport

@Suite("DirectoryWriter and TreeEditor", .onBlockingPool)
struct TreeEditorTests {
    @Test("DirectoryWriter makes what the importer makes (basic and HAMT)", arguments: [20, 3_000])
    func writerMatchesImporter(count: Int) throws {
        var options = ImportOptions.unixfsV1_2025
        options.hamtShardingThreshold = 4096
        let importer = try Importer(options: options, sink: nil)
        let result = try importer.add(tree: .directory(
            name: "d", children: (0..<count).map { .file(name: "n\($0)", contents: Array("c\($0)".utf8)) }))
        let entries = result.entries.filter { $0.kind == .file }.map {
            DirectoryWriter.Entry(name: $0.path.split(separator: "/").last.map(String.init) ?? "", cid: $0.cid, tsize: $0.size)
        }
        let sink = CollectingBlockSink()
        let written = try DirectoryWriter(options: options).write(entries.reversed(), to: sink)
        #expect(written.cid == result.root.cid)
        #expect(written.size == result.root.size)
        #expect(sink.blocks.last?.cid == written.cid)
        #expect(throws: ImportError.duplicateName(path: "n1")) {
            try DirectoryWriter(options: options).write([entries[1], entries[1]], to: nil)
        }
        #expect(throws: ImportError.invalidName(path: "a/b")) {
            try DirectoryWriter(options: options).write([.init(name: "a/b", cid: result.root.cid, tsize: 1)], to: nil)
        }
    }

    @Test("edits give the tree the importer would make")
    func editsMatchImport() throws {
        let store = MemoryBlockStore()
        let base = ["a.txt": "a", "dir/b.txt": "b", "dir/sub/c.txt": "c", "keep/k.txt": "k", "gone/only.txt": "o"]
        let root = try vtImport(base, into: store)
        let fileSink = CollectingBlockSink()
        let newFile = try Importer(sink: fileSink).add(bytes: Array("new c".utf8), name: "c.txt").root
        let added = try Importer(sink: fileSink).add(bytes: Array("brand new".utf8), name: "n.txt").root
        try store.putMany(fileSink.blocks)

        let sink = CollectingBlockSink()
        let editor = try TreeEditor(source: store, options: ImportOptions(), sink: sink)
        let edited = try editor.apply([
            .set(path: "dir/sub/c.txt", cid: newFile.cid, tsize: newFile.size),
            .set(path: "x/y/n.txt", cid: added.cid, tsize: added.size),
            .remove(path: "a.txt"),
            .remove(path: "gone/only.txt"),
        ], to: root)
        var expected = base
        expected["dir/sub/c.txt"] = "new c"
        expected["x/y/n.txt"] = "brand new"
        expected["a.txt"] = nil
        expected["gone/only.txt"] = nil
        #expect(edited.cid == (try vtHash(expected)))
        // Only root, dir, dir/sub, x, x/y were built; "keep" was never read.
        #expect(sink.blocks.count == 5)
        #expect(editor.blocksRead == 4)

        #expect(throws: TreeError.notFound(path: "nope/z")) {
            try TreeEditor(source: store, options: ImportOptions(), sink: nil).apply([.remove(path: "nope/z")], to: root)
        }
        #expect(throws: TreeError.notADirectory(path: "a.txt")) {
            try TreeEditor(source: store, options: ImportOptions(), sink: nil)
                .apply([.set(path: "a.txt/q", cid: added.cid, tsize: added.size)], to: root)
        }
    }

    @Test("editing a HAMT directory keeps it identical to a fresh import")
    func hamtEdit() throws {
        let store = MemoryBlockStore()
        var options = ImportOptions()
        options.hamtShardingThreshold = 1024
        var files: [String: String] = [:]
        for i in 0..<2_000 { files["h/e\(i)"] = "v\(i)" }
        let root = try vtImport(files, into: store, options: options)
        let fileSink = CollectingBlockSink()
        let file = try Importer(options: options, sink: fileSink).add(bytes: Array("w".utf8), name: "w").root
        try store.putMany(fileSink.blocks)
        let editor = try TreeEditor(source: store, options: options, sink: nil)
        let edited = try editor.apply([.set(path: "h/e5", cid: file.cid, tsize: file.size), .remove(path: "h/e7")], to: root)
        files["h/e5"] = "w"
        files["h/e7"] = nil
        #expect(edited.cid == (try vtHash(files, options: options)))
    }
}
