import BlockStore
import Foundation
import Multiformats
import Testing
import UnixFS

@testable import Versioning
import TestSupport

/// An in-memory working folder for the planner: path → (lstat, content CID); counts re-hashes.
final class FakeFolder: CheckoutFolderView {
    var entries: [String: (stat: LocalStat, cid: CID?)] = [:]
    private(set) var hashed: [String] = []

    func stat(_ path: String) throws(CheckoutError) -> LocalStat? { entries[path]?.stat }

    func contentCID(_ path: String) throws(CheckoutError) -> CID {
        hashed.append(path)
        guard let cid = entries[path]?.cid else { throw .io(operation: "hash", path: path, reason: "no content") }
        return cid
    }

    func files(under path: String) throws(CheckoutError) -> [String] {
        entries.filter { $0.key.hasPrefix(path + "/") && $0.value.stat.kind != .directory }.map(\.key).sorted()
    }

    func file(_ path: String, _ cid: CID, inode: UInt64, mtime: Int64 = 1) {
        entries[path] = (LocalStat(kind: .file, size: 10, mtimeNanos: mtime, inode: inode), cid)
    }

    func directory(_ path: String) {
        entries[path] = (LocalStat(kind: .directory, size: 0, mtimeNanos: 0, inode: 0), nil)
    }
}

/// Distinct opaque CIDs for plan tests.
func ckCID(_ text: String) throws -> CID { try vtHash(["f": text]) }

func ckChange(
    _ path: String, _ kind: TreeChange.Kind, old: (CID, TreeEntryKind)? = nil, new: (CID, TreeEntryKind)? = nil
) -> TreeChange {
    TreeChange(
        path: path, kind: kind, oldCID: old?.0, newCID: new?.0, oldSize: old == nil ? nil : 10,
        newSize: new == nil ? nil : 10, oldKind: old?.1, newKind: new?.1, newTsize: new == nil ? nil : 10)
}

@Suite("Checkout plan (pure)", .onBlockingPool)
struct CheckoutPlanTests {
    let a1: CID, a2: CID, b1: CID, c1: CID, local: CID, tree: CID

    init() throws {
        a1 = try ckCID("a1")
        a2 = try ckCID("a2")
        b1 = try ckCID("b1")
        c1 = try ckCID("c1")
        local = try ckCID("local edit")
        tree = try ckCID("tree")
    }

    func stamp(_ cid: CID, inode: UInt64, mtime: Int64 = 1) -> CheckoutStamp {
        CheckoutStamp(kind: .file, size: 10, mtimeNanos: mtime, inode: inode, cid: cid)
    }

    /// Folder with a (inode 1), b (2), d/x (3), d/y (4), as recorded, plus untracked u (9).
    func setUp() -> (CheckoutRecord, FakeFolder) {
        let record = CheckoutRecord(
            folder: "/w", repository: "r", tree: tree,
            files: ["a": stamp(a1, inode: 1), "b": stamp(b1, inode: 2), "d/x": stamp(c1, inode: 3), "d/y": stamp(c1, inode: 4)])
        let folder = FakeFolder()
        folder.file("a", a1, inode: 1)
        folder.file("b", b1, inode: 2)
        folder.directory("d")
        folder.file("d/x", c1, inode: 3)
        folder.file("d/y", c1, inode: 4)
        folder.file("u", local, inode: 9)
        return (record, folder)
    }

    @Test("added, removed and modified paths; untouched stat means no re-hash; untracked files kept")
    func basic() throws {
        let (record, folder) = setUp()
        let changes = [
            ckChange("a", .modified, old: (a1, .file), new: (a2, .file)),
            ckChange("b", .removed, old: (b1, .file)),
            ckChange("n", .added, new: (c1, .file)),
        ]
        let plan = try CheckoutPlanner.plan(changes: changes, record: record, folder: folder, force: false)
        #expect(plan.steps == [.remove("b"), .write("a", cid: a2, kind: .file), .write("n", cid: c1, kind: .file)])
        #expect(folder.hashed.isEmpty)
        #expect(plan.overwritten.isEmpty)
        let files = CheckoutPlanner.files(after: plan, record: record, written: ["a": stamp(a2, inode: 7), "n": stamp(c1, inode: 8)])
        #expect(Set(files.keys) == ["a", "n", "d/x", "d/y"])
        #expect(files["a"]?.cid == a2)
        #expect(files["u"] == nil)
    }

    @Test("a touched file with the recorded content is re-hashed once and replaced; new content already there is kept")
    func touched() throws {
        let (record, folder) = setUp()
        folder.file("a", a1, inode: 1, mtime: 99)
        folder.file("b", a2, inode: 2, mtime: 99)
        let changes = [
            ckChange("a", .modified, old: (a1, .file), new: (a2, .file)),
            ckChange("b", .modified, old: (b1, .file), new: (a2, .file)),
        ]
        let plan = try CheckoutPlanner.plan(changes: changes, record: record, folder: folder, force: false)
        #expect(plan.steps == [.write("a", cid: a2, kind: .file), .keep("b", cid: a2)])
        #expect(folder.hashed == ["a", "b"])
    }

    @Test("local changes refuse the whole update; --force overwrites them")
    func conflicts() throws {
        let (record, folder) = setUp()
        folder.file("a", local, inode: 5)
        folder.file("b", local, inode: 2, mtime: 50)
        folder.file("n", local, inode: 6)
        let changes = [
            ckChange("a", .modified, old: (a1, .file), new: (a2, .file)),
            ckChange("b", .removed, old: (b1, .file)),
            ckChange("d/x", .modified, old: (c1, .file), new: (a2, .file)),
            ckChange("n", .added, new: (c1, .file)),
        ]
        #expect(throws: CheckoutError.conflicts(folder: "folder", [
            CheckoutConflict(path: "a", reason: .modified), CheckoutConflict(path: "b", reason: .modified),
            CheckoutConflict(path: "n", reason: .untracked),
        ])) {
            try CheckoutPlanner.plan(changes: changes, record: record, folder: folder, force: false)
        }
        let plan = try CheckoutPlanner.plan(changes: changes, record: record, folder: folder, force: true)
        #expect(plan.overwritten.map(\.path) == ["a", "b", "n"])
        #expect(plan.steps == [
            .remove("b"), .write("a", cid: a2, kind: .file), .write("d/x", cid: a2, kind: .file),
            .write("n", cid: c1, kind: .file),
        ])
    }

    @Test("a locally deleted file is written again; a removed one that is gone is no conflict")
    func deleted() throws {
        let (record, folder) = setUp()
        folder.entries["a"] = nil
        folder.entries["b"] = nil
        let changes = [
            ckChange("a", .modified, old: (a1, .file), new: (a2, .file)), ckChange("b", .removed, old: (b1, .file)),
        ]
        let plan = try CheckoutPlanner.plan(changes: changes, record: record, folder: folder, force: false)
        #expect(plan.steps == [.write("a", cid: a2, kind: .file)])
    }

    @Test("directory removed: tracked files go, untracked ones stay with their directory")
    func directoryRemoved() throws {
        let (record, folder) = setUp()
        folder.file("d/mine", local, inode: 10)
        let plan = try CheckoutPlanner.plan(
            changes: [ckChange("d", .removed, old: (tree, .directory))], record: record, folder: folder, force: false)
        #expect(plan.steps == [.remove("d/x"), .remove("d/y"), .removeDirectories("d")])
        let files = CheckoutPlanner.files(after: plan, record: record, written: [:])
        #expect(Set(files.keys) == ["a", "b"])
    }

    @Test("directory becomes a file: refused while it holds untracked files, even with --force")
    func directoryToFile() throws {
        let (record, folder) = setUp()
        let change = ckChange("d", .modified, old: (tree, .directory), new: (a2, .file))
        let plan = try CheckoutPlanner.plan(changes: [change], record: record, folder: folder, force: false)
        #expect(plan.steps == [.remove("d/x"), .remove("d/y"), .removeDirectories("d"), .write("d", cid: a2, kind: .file)])
        folder.file("d/mine", local, inode: 10)
        #expect(throws: CheckoutError.conflicts(folder: "folder", [CheckoutConflict(path: "d", reason: .untrackedDirectory)])) {
            try CheckoutPlanner.plan(changes: [change], record: record, folder: folder, force: true)
        }
    }

    @Test("file becomes a directory")
    func fileToDirectory() throws {
        let (record, folder) = setUp()
        let change = ckChange("a", .modified, old: (a1, .file), new: (tree, .directory))
        let plan = try CheckoutPlanner.plan(changes: [change], record: record, folder: folder, force: false)
        #expect(plan.steps == [.write("a", cid: tree, kind: .directory)])
        #expect(plan.forgetFiles == ["a"])
    }

    @Test("record round-trips through its binary form; garbage is refused")
    func recordCodec() throws {
        let (record, _) = setUp()
        var other = record
        other.files["link"] = CheckoutStamp(kind: .symlink, size: 3, mtimeNanos: -5, inode: .max >> 2, cid: a1)
        #expect(try CheckoutRecord(decoding: other.encoded()) == other)
        #expect(throws: CheckoutError.self) { try CheckoutRecord(decoding: Array("nope".utf8)) }
        #expect(throws: CheckoutError.self) { try CheckoutRecord(decoding: Array(other.encoded().dropLast(3))) }
    }
}

@Suite("Checkout in place (file system)", .onBlockingPool)
struct CheckoutInPlaceTests {
    let options = VersionStore.defaultImportOptions
    let v1: [String: String] = [
        "keep.txt": "same", "change.txt": "old", "gone.txt": "bye", "dir/a.txt": "a", "dir/b.txt": "b",
        "olddir/x.txt": "x",
    ]
    var v2: [String: String] {
        var files = v1
        files["change.txt"] = "new contents"
        files["gone.txt"] = nil
        files["olddir/x.txt"] = nil
        files["fresh/sub/n.txt"] = "n"
        return files
    }

    /// [inode, mtime ns] of `path`.
    func inode(_ path: String) throws -> [Int64] {
        let stat = try #require(try Checkout.lstatPath(path))
        return [Int64(bitPattern: stat.inode), stat.mtimeNanos]
    }

    /// A fresh checkout of `a` into a new temporary folder, with `b` stored too.
    func checkedOut(
        _ a: [String: String], then b: [String: String]
    ) throws -> (store: MemoryBlockStore, t1: CID, t2: CID, parent: String, folder: String, record: CheckoutRecord) {
        let store = MemoryBlockStore()
        let t1 = try vtImport(a, into: store, options: options)
        let t2 = try vtImport(b, into: store, options: options)
        let parent = try vtTempDir()
        let folder = parent + "/w"
        let fresh = try Checkout.fresh(t1, repository: "r", source: store, to: folder, options: options)
        #expect(fresh.written == fresh.record.files.count && fresh.record.tree == t1)
        return (store, t1, t2, parent, folder, fresh.record)
    }

    @Test("only changed paths are written; others keep inode and mtime; untracked files stay")
    func update() throws {
        let (store, t1, t2, parent, folder, record) = try checkedOut(v1, then: v2)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        #expect(record.files.count == 6)
        let before = try Dictionary(uniqueKeysWithValues: ["keep.txt", "dir/a.txt", "dir/b.txt", "change.txt"].map {
            ($0, try inode(folder + "/" + $0))
        })
        try vtWrite(["untracked.txt": "mine", "olddir/mine.txt": "mine too"], to: folder)
        let outcome = try Checkout.update(folder, record: record, to: t2, source: store, options: options, force: false)
        #expect(outcome.written == 2)
        #expect(outcome.removed == 2)
        #expect(outcome.record.tree == t2)
        #expect(Set(outcome.record.files.keys) == Set(v2.keys))
        for path in ["keep.txt", "dir/a.txt", "dir/b.txt"] { #expect(try inode(folder + "/" + path) == before[path]) }
        #expect(try inode(folder + "/change.txt").first != before["change.txt"]?.first)
        #expect(try String(contentsOfFile: folder + "/change.txt", encoding: .utf8) == "new contents")
        #expect(try String(contentsOfFile: folder + "/untracked.txt", encoding: .utf8) == "mine")
        #expect(try String(contentsOfFile: folder + "/olddir/mine.txt", encoding: .utf8) == "mine too")
        #expect(try Checkout.lstatPath(folder + "/gone.txt") == nil)
        // Without the untracked files the folder is exactly the new tree (no temporaries left).
        try FileManager.default.removeItem(atPath: folder + "/untracked.txt")
        try FileManager.default.removeItem(atPath: folder + "/olddir")
        #expect(try Checkout.hash(folder, options: options) == t2)
        // The new record matches the folder: going back to v1 is in place too.
        let back = try Checkout.update(folder, record: outcome.record, to: t1, source: store, options: options, force: false)
        #expect(back.written == 3 && back.removed == 1)
        #expect(try Checkout.hash(folder, options: options) == t1)
    }

    @Test("a local edit refuses the update and changes nothing; --force overwrites it")
    func force() throws {
        let (store, _, t2, parent, folder, record) = try checkedOut(v1, then: v2)
        defer { try? FileManager.default.removeItem(atPath: parent) }
        try vtWrite(["change.txt": "my edit"], to: folder)
        let keep = try inode(folder + "/gone.txt")
        #expect(throws: CheckoutError.conflicts(folder: folder, [CheckoutConflict(path: "change.txt", reason: .modified)])) {
            try Checkout.update(folder, record: record, to: t2, source: store, options: options, force: false)
        }
        #expect(try inode(folder + "/gone.txt") == keep)
        #expect(try String(contentsOfFile: folder + "/change.txt", encoding: .utf8) == "my edit")
        let forced = try Checkout.update(folder, record: record, to: t2, source: store, options: options, force: true)
        #expect(forced.overwritten == [CheckoutConflict(path: "change.txt", reason: .modified)])
        #expect(try Checkout.hash(folder, options: options) == t2)
    }

    @Test("a file and a directory swap kinds; a 250-byte name is replaced")
    func kindChanges() throws {
        let long = String(repeating: "n", count: 250)
        let (store, _, t2, parent, folder, record) = try checkedOut(
            ["p": "file", "q/x": "x", long: "1"], then: ["p/inner": "now a dir", "q": "now a file", long: "2"])
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let outcome = try Checkout.update(folder, record: record, to: t2, source: store, options: options, force: false)
        #expect(Set(outcome.record.files.keys) == ["p/inner", "q", long])
        #expect(try Checkout.hash(folder, options: options) == t2)
    }
}
