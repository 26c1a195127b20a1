import BlockStore
import Foundation
import IPLD
import Multiformats
import Testing
import UnixFS

@testable import Versioning
import TestSupport

/// A clock that advances one second per reading.
private final class TickingClock: @unchecked Sendable {
    private let lock = NSLock()
    private var seconds: Double = 1_700_000_000

    func now() -> Date {
        lock.lock()
        defer { lock.unlock() }
        seconds += 1
        return Date(timeIntervalSince1970: seconds)
    }
}

/// A version store over a memory block store and a temporary ref database.
private struct Fixture {
    let dir: RefStoreTempDir
    let blocks: MemoryBlockStore
    let store: VersionStore
    let author = Person(name: "Ada", email: "ada@example.org")

    init() throws {
        dir = try RefStoreTempDir()
        blocks = MemoryBlockStore()
        let clock = TickingClock()
        store = VersionStore(
            blocks: blocks, refs: try RefStore(path: dir.path + "/refs.sqlite"), clock: { clock.now() },
            timeZone: TimeZone(secondsFromGMT: 3600) ?? .current)
    }

    /// Writes `files` (relative path → contents) into a fresh folder and returns its path.
    func folder(_ name: String, _ files: [String: String]) throws -> String {
        let root = dir.path + "/" + name
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for (path, contents) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: url)
        }
        return root
    }

    func read(_ tree: CID, _ path: String) throws -> String {
        let exporter = Exporter(source: blocks)
        let cid = try exporter.resolve(tree, components: path.split(separator: "/").map(String.init))
        var reader = try exporter.reader(cid)
        var bytes: [UInt8] = []
        while let chunk = try reader.next() { bytes += chunk }
        return String(decoding: bytes, as: UTF8.self)
    }
}

@Suite(.onBlockingPool) struct RepositoryTests {
    @Test func createCommitLogAndResolve() throws {
        let f = try Fixture()
        let info = try f.store.createRepository("data")
        #expect(info.record.defaultBranch == "main")
        #expect(info.branches == [RefEntry(name: "main", target: nil)])
        #expect(throws: VersioningError.emptyBranch(repo: "data", branch: "main")) { try f.store.resolve("data", nil) }

        let v1 = try f.folder("v1", ["a.csv": "1,2,3\n", "sub/b.txt": "hello", ".meta": "hidden files are data too"])
        let first = try f.store.commit(
            "data", directory: v1, message: "initial import", author: f.author,
            lineage: Lineage(code: "etl.py@abc", parameters: ["source": "s3"]))
        #expect(first.previous == nil)
        #expect(first.commit.parents.isEmpty)
        #expect(first.commit.timezoneOffsetMinutes == 60)
        #expect(first.commit.tree.version == .v1)
        #expect(try f.read(first.commit.tree, "sub/b.txt") == "hello")

        // Nothing changed: refused unless allowEmpty.
        #expect(throws: VersioningError.nothingToCommit(repo: "data", branch: "main")) {
            try f.store.commit("data", directory: v1, message: "again", author: f.author)
        }
        let empty = try f.store.commit("data", directory: v1, message: "empty", author: f.author, allowEmpty: true)
        #expect(empty.commit.tree == first.commit.tree)

        #expect(try f.read(first.commit.tree, ".meta") == "hidden files are data too")
        let v2 = try f.folder("v2", ["a.csv": "1,2,3,4\n", "sub/b.txt": "hello", ".meta": "hidden files are data too"])
        let second = try f.store.commit(
            "data", directory: v2, message: "append row", author: f.author,
            committer: Person(name: "CI", email: "ci@example.org"), lineage: Lineage(inputs: [first.cid]))
        #expect(second.commit.parents == [empty.cid])
        #expect(second.commit.committer.name == "CI")
        #expect(try f.store.commit(second.cid) == second.commit)

        let log = try f.store.log("data")
        #expect(log.map(\.cid) == [second.cid, empty.cid, first.cid])
        #expect(try f.store.log("data", limit: 2).count == 2)
        #expect(try f.store.resolve("data", RefExpression(base: "main", generations: 2)) == first.cid)
        #expect(throws: VersioningError.noSuchAncestor(ref: "main~3", generations: 3)) {
            try f.store.resolve("data", RefExpression(base: "main", generations: 3))
        }
        #expect(try f.store.resolve("data", RefExpression(base: first.cid.description)) == first.cid)
        #expect(throws: VersioningError.refNotFound(repo: "data", ref: "nope")) {
            try f.store.resolve("data", RefExpression(base: "nope"))
        }
        let spec = try RefSyntax.parse("data@main~2:a.csv")
        let file = try f.store.resolveTree(spec)
        #expect(try Exporter(source: f.blocks).stat(file).size == 6)

        let raw = try Block(data: Array("external input".utf8), codec: .raw).cid
        let third = try f.store.commit(
            "data", directory: try f.folder("v3", ["out.csv": "derived"]), message: "derived", author: f.author,
            lineage: Lineage(inputs: [second.cid, raw], code: "derive.py"))
        let chain = try f.store.lineage(third.cid)
        #expect(chain.map(\.cid) == [third.cid, second.cid, raw, first.cid])
        #expect(chain.map(\.depth) == [0, 1, 1, 2])
        #expect(chain.dropFirst(2).first?.commit == nil)
        #expect(chain.last?.inputOf == second.cid)
        #expect(try f.store.lineage(third.cid, maxDepth: 1).count == 3)

        let shown = try f.store.show(second.cid)
        #expect(shown.changes.map(\.path) == ["a.csv"])
        #expect(shown.changes.first?.kind == .modified)
        #expect(shown.changes.first?.newSize == 8)
        let root = try f.store.show(first.cid)
        #expect(Set(root.changes.filter { $0.kind == .added }.map(\.path)).isSuperset(of: ["a.csv", "sub/b.txt"]))

        let reflog = try f.store.refs.reflog("data", ref: "refs/heads/main")
        #expect(reflog.dropFirst().first?.new == second.cid)
        #expect(reflog.dropFirst().first?.message == "commit: append row")
    }

    @Test func branchesTagsAndMergeOrderedLog() throws {
        let f = try Fixture()
        try f.store.createRepository("r", defaultBranch: "trunk")
        let base = try f.store.commit("r", directory: try f.folder("b", ["x": "0"]), message: "base", author: f.author)
        #expect(try f.store.createBranch("r", "dev") == base.cid)
        try f.store.createTag("r", "v0")
        let onDev = try f.store.commit("r", branch: "dev", directory: try f.folder("d", ["x": "dev"]), message: "dev", author: f.author)
        let onTrunk = try f.store.commit("r", directory: try f.folder("t", ["x": "trunk"]), message: "trunk", author: f.author)
        #expect(onTrunk.commit.parents == [base.cid])
        #expect(try f.store.resolve("r", RefExpression(base: "v0")) == base.cid)
        #expect(try f.store.resolve("r", RefExpression(base: "dev")) == onDev.cid)
        #expect(try f.store.createBranch("r", "fromdev", from: RefExpression(base: "dev")) == onDev.cid)
        #expect(try f.store.branches("r").map(\.name) == ["dev", "fromdev", "trunk"])
        #expect(try f.store.tags("r") == [RefEntry(name: "v0", target: base.cid)])
        #expect(throws: VersioningError.branchNotFound(repo: "r", branch: "nope")) {
            try f.store.commit("r", branch: "nope", directory: try f.folder("n", ["x": "n"]), message: "", author: f.author)
        }
        try f.store.deleteBranch("r", "fromdev")
        try f.store.deleteTag("r", "v0")

        // A merge commit made by hand (the Merge machinery lives elsewhere): log walks both parents
        // newest first, each commit once.
        let merge = Commit(
            tree: onTrunk.commit.tree, parents: [onTrunk.cid, onDev.cid], author: f.author, committer: f.author,
            time: onTrunk.commit.time + 10, message: "merge")
        let block = try merge.block()
        try f.blocks.put(block)
        try f.store.refs.updateBranch("r", "trunk", expected: onTrunk.cid, new: block.cid, message: "merge")
        #expect(try f.store.log("r").map(\.cid) == [block.cid, onTrunk.cid, onDev.cid, base.cid])
    }

    @Test func signedCommitsAndMergeCommits() throws {
        let f = try Fixture()
        try f.store.createRepository("r")
        let signer = FakeSigner(publicKey: [7, 7])
        let base = try f.store.commit(
            "r", directory: try f.folder("b", ["x": "0"]), message: "base", author: f.author, signer: signer)
        // What the store holds is signed and verifies.
        let stored = try f.store.commit(base.cid)
        #expect(stored == base.commit)
        #expect(stored.verifySignature(using: FakeSigner.verify) == .valid(publicKey: [7, 7]))
        try f.store.createBranch("r", "dev")
        let dev = try f.store.commit("r", branch: "dev", directory: try f.folder("d", ["x": "0", "y": "dev"]), message: "dev", author: f.author)
        #expect(dev.commit.signature == nil)
        try f.store.commit("r", directory: try f.folder("m", ["x": "1"]), message: "main", author: f.author)
        let merged = try f.store.merge("r", from: RefExpression(base: "dev"), strategy: .fail, author: f.author, signer: signer)
        #expect(merged.kind == .merged)
        let mergeCommit = try f.store.commit(merged.head)
        #expect(mergeCommit.parents.count == 2)
        #expect(mergeCommit.verifySignature(using: FakeSigner.verify) == .valid(publicKey: [7, 7]))
    }

    @Test func commitLosesRaceWhenBranchMovesConcurrently() throws {
        let f = try Fixture()
        try f.store.createRepository("r")
        let first = try f.store.commit("r", directory: try f.folder("a", ["x": "1"]), message: "1", author: f.author)
        // Another writer moves the branch; a CAS from the stale head fails, the branch keeps the winner.
        let winner = try f.store.commit("r", directory: try f.folder("b", ["x": "2"]), message: "2", author: f.author)
        #expect(throws: VersioningError.refConflict(repo: "r", ref: "main", expected: first.cid, actual: winner.cid)) {
            try f.store.refs.updateBranch("r", "main", expected: first.cid, new: first.cid, message: "stale")
        }
        #expect(try f.store.resolve("r", nil) == winner.cid)
    }

    @Test func gcKeepsEverythingReachableFromRefs() throws {
        let f = try Fixture()
        try f.store.createRepository("r")
        let one = try f.store.commit("r", directory: try f.folder("a", ["x": "one", "d/y": "why"]), message: "1", author: f.author)
        try f.store.createBranch("r", "old")
        let two = try f.store.commit("r", directory: try f.folder("b", ["x": "two", "d/y": "why"]), message: "2", author: f.author)
        let state = try f.store.currentState("r")
        // Junk that nothing names.
        let junk = try Block(data: Array("junk".utf8), codec: .raw)
        try f.blocks.put(junk)

        let result = try f.blocks.collectGarbage()
        #expect(result.removed.map(\.multihash) == [junk.cid.multihash])
        for commit in [one, two] {
            #expect(try f.blocks.has(commit.cid))
            #expect(try f.read(commit.commit.tree, "d/y") == "why")
        }
        #expect(try f.read(one.commit.tree, "x") == "one")
        #expect(try f.blocks.has(state.cid))

        // A new heads document links the previous one, so published history stays reachable.
        try f.store.deleteBranch("r", "old")
        let newer = try f.store.currentState("r")
        #expect(newer.state.previous == state.cid)
        _ = try f.blocks.collectGarbage()
        #expect(try f.blocks.has(state.cid))
        #expect(try f.blocks.has(two.cid))
        #expect(try f.read(two.commit.tree, "d/y") == "why")
        #expect(try f.read(two.commit.tree, "x") == "two")
        // `one` is still reachable as `two`'s parent, so it stays.
        #expect(try f.blocks.has(one.cid))

        try f.store.deleteRepository("r")
        _ = try f.blocks.collectGarbage()
        #expect(try f.blocks.stat().blockCount == 0)
    }

    @Test func unchangedFilesCostNoNewBlocks() throws {
        let f = try Fixture()
        try f.store.createRepository("r")
        var files: [String: String] = [:]
        for i in 0..<50 { files["f\(i).txt"] = String(repeating: "row \(i)\n", count: 200) }
        try f.store.commit("r", directory: try f.folder("a", files), message: "1", author: f.author)
        let before = try f.blocks.stat().blockCount
        files["f7.txt"] = "changed"
        try f.store.commit("r", directory: try f.folder("b", files), message: "2", author: f.author)
        // One new file block, one new directory block, one commit.
        #expect(try f.blocks.stat().blockCount - before == 3)
    }

    @Test func stateDocumentsChainAndOnlyChangeWithRefs() throws {
        let f = try Fixture()
        try f.store.createRepository("r")
        let s0 = try f.store.currentState("r")
        #expect(s0.state.sequence == 1)
        #expect(s0.state.previous == nil)
        #expect(s0.state.branches.isEmpty)
        #expect(try f.store.currentState("r").cid == s0.cid)

        let c = try f.store.commit("r", directory: try f.folder("a", ["x": "1"]), message: "1", author: f.author)
        try f.store.createTag("r", "v1")
        let s1 = try f.store.currentState("r")
        #expect(s1.state == RepositoryState(name: "r", defaultBranch: "main", branches: ["main": c.cid], tags: ["v1": c.cid], sequence: 2, previous: s0.cid))
        let stored = try #require(try f.blocks.get(s1.cid))
        #expect(try RepositoryState(block: stored) == s1.state)
        #expect(try f.store.repository("r").record.stateCID == s1.cid)
    }

    @Test func commitIntoSubpath() throws {
        let f = try Fixture()
        try f.store.createRepository("r")
        // Into an empty branch: the subtree is created.
        let first = try f.store.commit(
            "r", directory: try f.folder("raw", ["a.csv": "a"]), message: "raw", author: f.author, subpath: "data/raw")
        #expect(try f.read(first.commit.tree, "data/raw/a.csv") == "a")
        // Beside existing content, which is kept.
        let second = try f.store.commit(
            "r", directory: try f.folder("models", ["m.bin": "weights"]), message: "models", author: f.author, subpath: "models")
        #expect(try f.read(second.commit.tree, "data/raw/a.csv") == "a")
        #expect(try f.read(second.commit.tree, "models/m.bin") == "weights")
        // Same content at the same place: nothing changed.
        #expect(throws: VersioningError.nothingToCommit(repo: "r", branch: "main")) {
            try f.store.commit("r", directory: try f.folder("models", ["m.bin": "weights"]), message: "again", author: f.author, subpath: "models/")
        }
    }

    @Test func rejectsMissingDirectory() throws {
        let f = try Fixture()
        try f.store.createRepository("r")
        #expect(throws: VersioningError.notADirectory(path: f.dir.path + "/missing")) {
            try f.store.commit("r", directory: f.dir.path + "/missing", message: "", author: f.author)
        }
    }
}
