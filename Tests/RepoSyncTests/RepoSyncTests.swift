import BlockStore
import Foundation
import IPLD
import IPNS
import Logging
import Multiformats
import P2PCore
import P2PCrypto
import Testing
import UnixFS

@testable import RepoSync
@testable import Versioning
import TestSupport

/// Names in memory: the "network" holds one record per name; keys are made on demand.
final class MemoryNames: RepoNameSystem, @unchecked Sendable {
    private let state = Locked<(records: [String: (String, UInt64)], keys: [String: PrivateKey])>(([:], [:]))
    /// Set to serve an older record than the one published (a stale peer).
    let stale = Locked<(String, UInt64)?>(nil)

    func resolve(_ name: IPNSName, fresh: Bool) async throws -> (value: String, sequence: UInt64) {
        if let old = stale.withLock({ $0 }) { return (old.0, old.1) }
        guard let record = state.withLock({ $0.records[name.string] }) else { throw SyncError.invalidName(name.string, reason: "no record") }
        return (record.0, record.1)
    }

    func name(ofKey keyName: String, create: Bool) async throws -> IPNSName {
        let key = state.withLock { s -> PrivateKey in
            if let key = s.keys[keyName] { return key }
            let key = PrivateKey.generateEd25519()
            s.keys[keyName] = key
            return key
        }
        return IPNSName(publicKey: key.publicKey)
    }

    func publish(keyName: String, value: String, sequence: UInt64) async throws {
        let name = try await self.name(ofKey: keyName, create: true)
        state.withLock { $0.records[name.string] = (value, sequence) }
    }

    /// Puts a record directly (another publisher of the same name).
    func force(_ name: IPNSName, _ value: String, _ sequence: UInt64) {
        state.withLock { $0.records[name.string] = (value, sequence) }
    }
}

/// Blocks from another site's store: every block copied is counted; `failAfter` blocks, the
/// "network" goes away (an interrupted pull).
final class StoreFetcher: SyncBlockFetcher, @unchecked Sendable {
    let source: MemoryBlockStore
    let target: MemoryBlockStore
    let fetched = Locked<[CID]>([])
    let failAfter = Locked<Int?>(nil)
    let announced = Locked<[CID]>([])
    /// Every fetch asked for: the root and whether it was recursive.
    let calls = Locked<[(CID, Bool)]>([])

    init(source: MemoryBlockStore, target: MemoryBlockStore) {
        self.source = source
        self.target = target
    }

    struct Gone: Error {}

    func fetch(_ root: CID, recursive: Bool, progress: @escaping @Sendable (FetchCounts) -> Void) async throws -> FetchCounts {
        calls.withLock { $0.append((root, recursive)) }
        var counts = FetchCounts()
        var stack = [root]
        var seen: Set<CID> = []
        while let cid = stack.popLast() {
            guard seen.insert(cid).inserted else { continue }
            let block: Block
            if let present = try target.get(cid) {
                block = present
                counts.blocksPresent += 1
            } else {
                let budget = failAfter.withLock { f -> Bool in
                    guard let left = f else { return true }
                    if left <= 0 { return false }
                    f = left - 1
                    return true
                }
                guard budget, let found = try source.get(cid) else { throw Gone() }
                try target.put(found)
                fetched.withLock { $0.append(cid) }
                counts.blocksFetched += 1
                counts.bytesFetched += found.data.count
                block = found
            }
            if recursive { stack.append(contentsOf: try IPLDCodecs.links(in: block)) }
        }
        progress(counts)
        return counts
    }

    func announce(_ cids: [CID]) async { announced.withLock { $0 += cids } }
}

/// Two sites: A publishes, B clones and pulls.
struct TwoSites {
    let dir: RefStoreTempDir
    let blocksA = MemoryBlockStore()
    let blocksB = MemoryBlockStore()
    let a: VersionStore
    let b: VersionStore
    let names = MemoryNames()
    let fetcher: StoreFetcher
    let syncA: RepoSync
    let syncB: RepoSync
    let author = Person(name: "Ada", email: "ada@example.org")

    init() throws {
        dir = try RefStoreTempDir()
        a = VersionStore(blocks: blocksA, refs: try RefStore(path: dir.path + "/a.sqlite"))
        b = VersionStore(blocks: blocksB, refs: try RefStore(path: dir.path + "/b.sqlite"))
        fetcher = StoreFetcher(source: blocksA, target: blocksB)
        let logger = Logger(label: "test")
        syncA = RepoSync(versions: a, names: names, fetcher: StoreFetcher(source: blocksB, target: blocksA), logger: logger)
        syncB = RepoSync(versions: b, names: names, fetcher: fetcher, logger: logger)
    }

    /// Writes `files` into a fresh folder.
    func folder(_ name: String, _ files: [String: String]) throws -> String {
        let root = dir.path + "/" + name
        try? FileManager.default.removeItem(atPath: root)
        for (path, contents) in files {
            let url = URL(fileURLWithPath: root + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: url)
        }
        return root
    }

    static func dataset(_ changed: String = "v1") -> [String: String] {
        var files: [String: String] = [:]
        for i in 0..<20 { files["dir\(i % 4)/file\(i).txt"] = String(repeating: "row \(i)\n", count: 50) }
        files["dir0/file0.txt"] = "changed: \(changed)\n"
        return files
    }

    @discardableResult
    func commitA(_ message: String, _ files: [String: String], repo: String = "data") throws -> CID {
        try a.commit(repo, directory: try folder("a-\(message)", files), message: message, author: author).cid
    }
}

@Suite(.onBlockingPool) struct RepoSyncTests {
    @Test func publishCloneAndPullMoveOnlyNewBlocks() async throws {
        let s = try TwoSites()
        try s.a.createRepository("data")
        let first = try s.commitA("first", TwoSites.dataset())
        try s.a.createTag("data", "v1")
        let published = try await s.syncA.publish("data")
        #expect(published.sequence == 1)
        #expect(published.key == "repo-data")
        #expect(!published.unchanged)

        let clone = try await s.syncB.clone(published.name.string)
        #expect(clone.repository == "data")
        #expect(clone.branches == [BranchUpdate(name: "main", outcome: .created, old: nil, new: first)])
        #expect(clone.tagsCreated == ["v1"])
        #expect(try s.b.resolve("data", RefExpression(base: "origin/main")) == first)
        #expect(try s.b.resolve("data", nil) == first)
        #expect(try s.b.refs.remote("data", "origin")?.address == published.name.path)
        // The whole DAG of the head is local: every block of A's tree.
        #expect(try LocalDAG(store: s.blocksB).missing(tree: try s.b.commit(first).tree, lazyData: false).isEmpty)
        #expect(s.fetcher.announced.withLock { $0 }.contains(first))

        // A changes one file; B pulls only the new blocks.
        let second = try s.commitA("second", TwoSites.dataset("v2"))
        _ = try await s.syncA.publish("data")
        let before = s.fetcher.fetched.withLock { $0.count }
        let callsBefore = s.fetcher.calls.withLock { $0.count }
        let pull = try await s.syncB.pull("data")
        let moved = s.fetcher.fetched.withLock { $0.count } - before
        // Only the changed entries were asked for: the new tree is compared with the old one
        // directory by directory, never fetched (or walked) whole.
        let newTree = try s.b.commit(second).tree
        let calls = s.fetcher.calls.withLock { Array($0.dropFirst(callsBefore)) }
        #expect(!calls.contains { $0.0 == newTree && $0.1 }, "\(calls)")
        #expect(calls.count <= 6, "\(calls)")
        #expect(pull.branches == [BranchUpdate(name: "main", outcome: .fastForward, old: first, new: second)])
        #expect(pull.commits == 1)
        // The heads document, the commit, the root and one directory, the changed file.
        #expect(moved == 5, "moved \(moved) blocks")
        #expect(pull.refs == [RefUpdate(kind: .branch, name: "main", old: first, new: second)])

        // Nothing new: up to date, nothing fetched.
        let again = try await s.syncB.pull("data")
        #expect(again.upToDate)
        #expect(again.fetched.blocksFetched == 0)
    }

    @Test func interruptedPullLeavesRefsAtCompleteDAGsAndResumes() async throws {
        let s = try TwoSites()
        try s.a.createRepository("data")
        let first = try s.commitA("first", TwoSites.dataset())
        let published = try await s.syncA.publish("data")
        _ = try await s.syncB.clone(published.name.string)
        var files = TwoSites.dataset("v2")
        for i in 0..<10 { files["new/extra\(i).txt"] = "extra \(i)" }
        let second = try s.commitA("second", files)
        _ = try await s.syncA.publish("data")

        s.fetcher.failAfter.withLock { $0 = 4 }
        await #expect(throws: StoreFetcher.Gone.self) { try await s.syncB.pull("data") }
        #expect(try s.b.resolve("data", RefExpression(base: "origin/main")) == first)
        #expect(try s.b.resolve("data", nil) == first)
        #expect(try s.b.refs.remote("data", "origin")?.stateSequence == 1)

        s.fetcher.failAfter.withLock { $0 = nil }
        let resumed = try await s.syncB.pull("data")
        #expect(resumed.branches.first?.outcome == .fastForward)
        #expect(try s.b.resolve("data", RefExpression(base: "origin/main")) == second)
    }

    @Test func interruptedCloneIsResumedByPull() async throws {
        let s = try TwoSites()
        try s.a.createRepository("data")
        let first = try s.commitA("first", TwoSites.dataset())
        let published = try await s.syncA.publish("data")
        s.fetcher.failAfter.withLock { $0 = 3 }
        await #expect(throws: SyncError.self) { try await s.syncB.clone(published.name.string, as: "copy") }
        #expect(try s.b.refs.branch("copy", "main")?.target == nil)
        s.fetcher.failAfter.withLock { $0 = nil }
        let resumed = try await s.syncB.pull("copy")
        #expect(resumed.branches == [BranchUpdate(name: "main", outcome: .created, old: nil, new: first)])
    }

    @Test func publishRefusesToGoBackwards() async throws {
        let s = try TwoSites()
        try s.a.createRepository("data")
        try s.commitA("first", TwoSites.dataset())
        let published = try await s.syncA.publish("data")
        // Publishing the same state again needs no new record.
        let again = try await s.syncA.publish("data")
        #expect(again.unchanged)
        #expect(again.sequence == published.sequence)
        // Someone else published sequence 7 under this name.
        s.names.force(published.name, "/ipfs/\(try Block(data: [1], codec: .raw).cid)", 7)
        try s.commitA("second", TwoSites.dataset("v2"))
        await #expect(throws: SyncError.self) { try await s.syncA.publish("data") }
        do {
            _ = try await s.syncA.publish("data")
        } catch let error as SyncError {
            guard case let .sequenceBackwards(_, _, ours, network, _) = error else { Issue.record("\(error)"); return }
            #expect(ours == 2)
            #expect(network == 7)
            #expect(error.description.contains("would go backwards"))
        }
    }

    @Test func divergedBranchesAreReportedOrMerged() async throws {
        let s = try TwoSites()
        try s.a.createRepository("data")
        try s.commitA("first", TwoSites.dataset())
        let published = try await s.syncA.publish("data")
        _ = try await s.syncB.clone(published.name.string)
        var local = TwoSites.dataset()
        local["local.txt"] = "made at B"
        let mine = try s.b.commit("data", directory: try s.folder("b-local", local), message: "local", author: s.author).cid
        try s.commitA("second", TwoSites.dataset("v2"))
        _ = try await s.syncA.publish("data")

        let pull = try await s.syncB.pull("data")
        #expect(pull.branches.first?.outcome == .diverged)
        #expect(try s.b.resolve("data", nil) == mine)

        try s.commitA("third", TwoSites.dataset("v3"))
        _ = try await s.syncA.publish("data")
        let merged = try await s.syncB.pull("data", options: SyncOptions(merge: true, mergeAuthor: s.author))
        #expect(merged.branches.first?.outcome == .merged)
        let head = try s.b.commit(try s.b.resolve("data", nil))
        #expect(head.parents.count == 2)
        #expect(head.parents.first == mine)
    }

    @Test func shallowAndHistoryOnlyClones() async throws {
        let s = try TwoSites()
        try s.a.createRepository("data")
        try s.commitA("first", TwoSites.dataset())
        try s.commitA("second", TwoSites.dataset("v2"))
        let third = try s.commitA("third", TwoSites.dataset("v3"))
        let published = try await s.syncA.publish("data")

        let shallow = try await s.syncB.clone(published.name.string, as: "shallow", options: SyncOptions(depth: 1))
        #expect(shallow.commits == 1)
        #expect(try s.b.log("shallow", stopAtMissing: true).map(\.cid) == [third])
        #expect(throws: VersioningError.self) { try s.b.log("shallow") }
        #expect(try s.b.refs.remote("shallow", "origin")?.shallow == true)

        let before = s.fetcher.fetched.withLock { $0 }
        let lazy = try await s.syncB.clone(published.name.string, as: "lazy", options: SyncOptions(lazyData: true))
        #expect(lazy.commits == 3)
        let moved = s.fetcher.fetched.withLock { $0 }.dropFirst(before.count)
        #expect(!moved.contains { $0.codec == .raw }, "a history-only clone fetched file data")
        #expect(try s.b.refs.remote("lazy", "origin")?.lazyData == true)
        // Trees can be compared without the data.
        let diff = try s.b.show(third)
        #expect(diff.changes.map(\.path) == ["dir0/file0.txt"])
    }

    @Test func requireSignedRefusesAndLeavesRefs() async throws {
        let s = try TwoSites()
        try s.a.createRepository("data")
        let first = try s.commitA("first", TwoSites.dataset())
        let published = try await s.syncA.publish("data")
        _ = try await s.syncB.clone(published.name.string)
        let second = try s.commitA("second", TwoSites.dataset("v2"))
        _ = try await s.syncA.publish("data")
        let options = SyncOptions(commitCheck: { cid, _ in cid == second ? "not signed" : nil })
        do {
            _ = try await s.syncB.pull("data", options: options)
            Issue.record("the pull should have been refused")
        } catch let error as SyncError {
            #expect(error == .rejectedCommit(ref: "origin/main", commit: second, reason: "not signed"))
        }
        #expect(try s.b.resolve("data", RefExpression(base: "origin/main")) == first)
        #expect(try s.b.resolve("data", nil) == first)
    }

    @Test func staleRecordIsIgnored() async throws {
        let s = try TwoSites()
        try s.a.createRepository("data")
        let first = try s.commitA("first", TwoSites.dataset())
        let published = try await s.syncA.publish("data")
        _ = try await s.syncB.clone(published.name.string)
        try s.commitA("second", TwoSites.dataset("v2"))
        let newer = try await s.syncA.publish("data")
        _ = try await s.syncB.pull("data")
        s.names.stale.withLock { $0 = ("/ipfs/\(published.state)", published.sequence) }
        let pull = try await s.syncB.pull("data")
        #expect(pull.staleRecord)
        #expect(pull.sequence == newer.sequence)
        #expect(try s.b.resolve("data", RefExpression(base: "origin/main")) != first)
    }

    @Test func remotesAreKeptPerRepository() throws {
        let dir = try RefStoreTempDir()
        let refs = try RefStore(path: dir.path + "/refs.sqlite")
        try refs.createRepository("data", defaultBranch: "main")
        try refs.addRemote("data", "origin", address: "/ipns/k51a", follow: false)
        try refs.addRemote("data", "mirror", address: "/ipns/k51b", follow: true)
        #expect(throws: VersioningError.remoteExists(repo: "data", remote: "origin")) {
            try refs.addRemote("data", "origin", address: "/ipns/x", follow: false)
        }
        #expect(throws: VersioningError.self) { try refs.addRemote("data", "bad/name", address: "/ipns/x", follow: false) }
        #expect(try refs.remotes("data").map(\.name) == ["mirror", "origin"])
        #expect(try refs.followedRemotes().map(\.name) == ["mirror"])
        let commit = try Block(data: [7], codec: .raw).cid
        try refs.updateRemoteRef("data", remote: "origin", kind: .branch, name: "main", expected: nil, new: commit, message: "t")
        #expect(throws: VersioningError.self) {
            try refs.updateRemoteRef("data", remote: "origin", kind: .branch, name: "main", expected: nil, new: commit, message: "t")
        }
        #expect(try refs.gcRoots().contains(commit))
        #expect(try refs.reflog("data", ref: "refs/remotes/origin/main").count == 1)
        try refs.removeRemote("data", "origin")
        #expect(try refs.remotes("data").map(\.name) == ["mirror"])
        #expect(!(try refs.gcRoots().contains(commit)))
        #expect(throws: VersioningError.remoteNotFound(repo: "data", remote: "origin")) { try refs.removeRemote("data", "origin") }
    }

    @Test func schemaOneDatabasesAreUpgraded() throws {
        let dir = try RefStoreTempDir()
        let path = dir.path + "/refs.sqlite"
        do {
            let db = try RefDatabase(path: path)
            try db.execute(
                """
                CREATE TABLE repos(name TEXT PRIMARY KEY, default_branch TEXT NOT NULL, created INTEGER NOT NULL,
                    state_cid BLOB, state_sequence INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE branches(repo TEXT NOT NULL REFERENCES repos(name) ON DELETE CASCADE, name TEXT NOT NULL,
                    target BLOB, PRIMARY KEY(repo, name));
                CREATE TABLE tags(repo TEXT NOT NULL REFERENCES repos(name) ON DELETE CASCADE, name TEXT NOT NULL,
                    target BLOB NOT NULL, PRIMARY KEY(repo, name));
                CREATE TABLE reflog(id INTEGER PRIMARY KEY AUTOINCREMENT, repo TEXT NOT NULL, ref TEXT NOT NULL,
                    old BLOB, new BLOB, time INTEGER NOT NULL, message TEXT NOT NULL);
                INSERT INTO repos(name, default_branch, created) VALUES('old', 'main', 1);
                INSERT INTO branches(repo, name, target) VALUES('old', 'main', NULL);
                PRAGMA application_id = \(RefStore.applicationID);
                PRAGMA user_version = 1;
                """, "make a schema 1 database")
        }
        let refs = try RefStore(path: path)
        #expect(try refs.repository("old").publishKey == nil)
        try refs.setPublishing("old", key: "repo-old", auto: true)
        #expect(try refs.autoPublished().map(\.name) == ["old"])
        try refs.addRemote("old", "origin", address: "/ipns/k51", follow: false)
        #expect(try RefDatabase(path: path).integer("PRAGMA user_version") == 2)
    }
}

/// A temporary folder removed when released.
final class RefStoreTempDir {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("jz-sync-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite(.onBlockingPool) struct PartialClonesAndGC {
    @Test func gcKeepsWhatShallowAndHistoryOnlyClonesHave() async throws {
        let s = try TwoSites()
        try s.a.createRepository("data")
        try s.commitA("first", TwoSites.dataset())
        let head = try s.commitA("second", TwoSites.dataset("v2"))
        let published = try await s.syncA.publish("data")
        _ = try await s.syncB.clone(published.name.string, as: "lazy", options: SyncOptions(lazyData: true))
        _ = try await s.syncB.clone(published.name.string, as: "shallow", options: SyncOptions(depth: 1))
        let before = try s.blocksB.allMultihashes().count
        _ = try s.blocksB.collectGarbage()
        #expect(try s.blocksB.allMultihashes().count == before)
        #expect(try s.b.resolve("lazy", nil) == head)
        #expect(try LocalDAG(store: s.blocksB).missing(tree: try s.b.commit(head).tree, lazyData: true).isEmpty)
    }
}
