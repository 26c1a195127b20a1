import BlockStore
import Foundation
import IPLD
import Multiformats
import Testing

@testable import Versioning
import TestSupport

/// A temporary directory removed when the value dies.
final class RefStoreTempDir {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("jz-vcore-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

private func cid(_ text: String) throws -> CID {
    try Block(data: Array(text.utf8), codec: .raw).cid
}

@Suite(.onBlockingPool) struct RefStoreTests {
    @Test func repositoriesBranchesAndTags() throws {
        let dir = try RefStoreTempDir()
        let refs = try RefStore(path: dir.path + "/refs.sqlite", clock: { 42 })
        try refs.createRepository("data", defaultBranch: "main")
        #expect(throws: VersioningError.repositoryExists(repo: "data")) { try refs.createRepository("data", defaultBranch: "main") }
        #expect(throws: VersioningError.self) { try refs.createRepository("bad name", defaultBranch: "main") }
        #expect(try refs.repositories().map(\.name) == ["data"])
        #expect(try refs.repository("data").defaultBranch == "main")
        #expect(try refs.branches("data") == [RefEntry(name: "main", target: nil)])
        #expect(throws: VersioningError.repositoryNotFound(repo: "nope")) { try refs.branches("nope") }

        let a = try cid("a")
        try refs.updateBranch("data", "main", expected: nil, new: a, message: "commit")
        try refs.createBranch("data", "feature/x", target: a, message: "branch")
        #expect(throws: VersioningError.branchExists(repo: "data", branch: "feature/x")) {
            try refs.createBranch("data", "feature/x", target: a, message: "again")
        }
        try refs.createTag("data", "v1.0", target: a, message: "tag")
        #expect(try refs.tag("data", "v1.0") == a)
        #expect(throws: VersioningError.tagExists(repo: "data", tag: "v1.0")) { try refs.createTag("data", "v1.0", target: a, message: "") }
        #expect(throws: VersioningError.cannotDeleteDefaultBranch(repo: "data", branch: "main")) { try refs.deleteBranch("data", "main") }
        try refs.deleteBranch("data", "feature/x")
        #expect(throws: VersioningError.branchNotFound(repo: "data", branch: "feature/x")) { try refs.deleteBranch("data", "feature/x") }
        try refs.deleteTag("data", "v1.0")
        #expect(try refs.tags("data").isEmpty)

        let log = try refs.reflog("data")
        #expect(log.map(\.ref) == [
            "refs/tags/v1.0", "refs/heads/feature/x", "refs/tags/v1.0", "refs/heads/feature/x", "refs/heads/main", "refs/heads/main",
        ])
        #expect(log[4].old == nil && log[4].new == a && log[4].message == "commit" && log[4].time == 42)
        #expect(try refs.reflog("data", ref: "refs/heads/main", limit: 1).first?.new == a)

        try refs.deleteRepository("data")
        #expect(try refs.repositories().isEmpty)
    }

    @Test func compareAndSwap() throws {
        let dir = try RefStoreTempDir()
        let refs = try RefStore(path: dir.path + "/refs.sqlite")
        try refs.createRepository("r", defaultBranch: "main")
        let a = try cid("a"), b = try cid("b"), c = try cid("c")
        try refs.updateBranch("r", "main", expected: nil, new: a, message: "1")
        #expect(throws: VersioningError.refConflict(repo: "r", ref: "main", expected: nil, actual: a)) {
            try refs.updateBranch("r", "main", expected: nil, new: b, message: "lost race")
        }
        try refs.updateBranch("r", "main", expected: a, new: b, message: "2")
        #expect(throws: VersioningError.refConflict(repo: "r", ref: "main", expected: a, actual: b)) {
            try refs.updateBranch("r", "main", expected: a, new: c, message: "stale")
        }
        #expect(try refs.branch("r", "main")?.target == b)
        // The failed swaps left no reflog entries.
        #expect(try refs.reflog("r", ref: "refs/heads/main").count == 3)
    }

    @Test func concurrentSwapsExactlyOneWinsEachRound() async throws {
        let dir = try RefStoreTempDir()
        let path = dir.path + "/refs.sqlite"
        let refs = try RefStore(path: path)
        try refs.createRepository("r", defaultBranch: "main")
        // Two connections (as two processes would have) race from the same expected value.
        let other = try RefStore(path: path)
        let targets = try (0..<20).map { try cid("t\($0)") }
        var wins = 0
        var head: CID?
        for round in 0..<10 {
            let expected = head
            async let first: Bool = {
                (try? refs.updateBranch("r", "main", expected: expected, new: targets[2 * round], message: "a")) != nil
            }()
            async let second: Bool = {
                (try? other.updateBranch("r", "main", expected: expected, new: targets[2 * round + 1], message: "b")) != nil
            }()
            let (x, y) = await (first, second)
            #expect(x != y)
            wins += (x ? 1 : 0) + (y ? 1 : 0)
            head = try refs.branch("r", "main")?.target
            #expect(head == (x ? targets[2 * round] : targets[2 * round + 1]))
        }
        #expect(wins == 10)
    }

    @Test func persistsAcrossReopenAndListsGCRoots() throws {
        let dir = try RefStoreTempDir()
        let path = dir.path + "/refs.sqlite"
        let a = try cid("a"), b = try cid("b"), s = try cid("state")
        do {
            let refs = try RefStore(path: path)
            try refs.createRepository("r", defaultBranch: "main")
            try refs.updateBranch("r", "main", expected: nil, new: a, message: "")
            try refs.createTag("r", "t", target: b, message: "")
            try refs.createBranch("r", "empty", target: nil, message: "")
            try refs.recordState("r", cid: s, sequence: 1, expectedPrevious: nil)
            #expect(throws: VersioningError.self) { try refs.recordState("r", cid: a, sequence: 2, expectedPrevious: nil) }
        }
        let refs = try RefStore(path: path)
        #expect(try refs.branch("r", "main")?.target == a)
        #expect(try refs.repository("r").stateCID == s)
        #expect(try refs.repository("r").stateSequence == 1)
        #expect(Set(try refs.gcRoots()) == [a, b, s])
    }

    @Test func refusesForeignDatabases() throws {
        let dir = try RefStoreTempDir()
        let path = dir.path + "/store.sqlite"
        _ = try SQLiteBlockStore(path: path)
        #expect(throws: VersioningError.self) { try RefStore(path: path) }
    }
}

@Suite(.onBlockingPool) struct RefSyntaxTests {
    @Test func parsesRefSpecs() throws {
        #expect(try RefSyntax.parse("data") == RefSpec(repository: "data"))
        #expect(try RefSyntax.parse("data@main") == RefSpec(repository: "data", ref: RefExpression(base: "main")))
        #expect(
            try RefSyntax.parse("data@feature/x~2:dir/file.csv")
                == RefSpec(repository: "data", ref: RefExpression(base: "feature/x", generations: 2), path: "dir/file.csv"))
        #expect(try RefSyntax.parse("data:/a//b/") == RefSpec(repository: "data", path: "a/b"))
        #expect(try RefSyntax.parse("data@v1~~3").ref == RefExpression(base: "v1", generations: 4))
        #expect(try RefSyntax.parse("data@main:").path == nil)
        let cidText = "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
        #expect(try RefSyntax.parse("data@\(cidText)~1").ref == RefExpression(base: cidText, generations: 1))
        #expect(try RefSyntax.parse("d@main~3").description == "d@main~3")
    }

    @Test func rejectsBadSpecs() {
        for bad in ["", "@main", "data@", "data@~1", "data@main~x", "data@main~-1", "bad name@main", "data:a/../b", ".hidden@main"] {
            #expect(throws: VersioningError.self, "\(bad)") { try RefSyntax.parse(bad) }
        }
    }

    @Test func validatesNames() throws {
        try RefSyntax.validateRefName("feature/x-1.2_b", kind: "branch")
        for bad in ["", "a//b", "/a", "a/", "a..b", "-a", "a b", "a~1", "a@b", "a:b", "x.lock", "é"] {
            #expect(throws: VersioningError.self, "\(bad)") { try RefSyntax.validateRefName(bad, kind: "branch") }
        }
        #expect(throws: VersioningError.invalidName(kind: "repository", name: "a/b", reason: "character '/' is not allowed (use A-Z a-z 0-9 . _ -)")) {
            try RefSyntax.validateRepositoryName("a/b")
        }
    }
}
