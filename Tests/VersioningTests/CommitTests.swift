import Foundation
import IPLD
import Multiformats
import Testing

@testable import Versioning

private func cid(_ text: String) throws -> CID {
    try Block(data: Array(text.utf8), codec: .raw).cid
}

private func sampleCommit() throws -> Commit {
    Commit(
        tree: try Block(data: Array("tree".utf8), codec: .dagPB).cid, parents: [try cid("p1"), try cid("p2")],
        author: Person(name: "Ada", email: "ada@example.org"), committer: Person(name: "Bot", email: "bot@example.org"),
        time: 1_700_000_000, timezoneOffsetMinutes: -300, message: "first\n\nbody",
        lineage: Lineage(inputs: [try cid("in")], code: "git+https://example.org/x@abc", parameters: ["lr": "0.1", "epochs": "3"]))
}

@Suite struct CommitTests {
    @Test func roundTripsThroughDagCBOR() throws {
        let commit = try sampleCommit()
        let block = try commit.block()
        #expect(block.cid.version == .v1)
        #expect(block.cid.codec == .dagCBOR)
        #expect(block.cid.multihash.code == HashFunction.sha2_256.rawValue)
        let decoded = try Commit(block: Block(verifying: block.cid, data: block.data))
        #expect(decoded == commit)
        // Deterministic: same commit, same CID.
        #expect(try commit.block().cid == block.cid)
        // The tree is a real IPLD link (what `dag get` shows as {"/": …}).
        let value = try IPLDCodecs.decode(block)
        #expect(value["tree"]?.linkValue == commit.tree)
        #expect(value["lineage"]?["inputs"]?[0]?.linkValue == commit.lineage.inputs[0])
    }

    @Test func emptyLineageEncodesNullCode() throws {
        var commit = try sampleCommit()
        commit.lineage = Lineage()
        commit.parents = []
        let value = try IPLDCodecs.decode(try commit.block())
        #expect(value["lineage"]?["code"]?.isNull == true)
        #expect(try Commit(block: try commit.block()) == commit)
    }

    @Test func rejectsUnknownMissingAndMistypedFields() throws {
        let good = try sampleCommit().ipldValue
        guard case let .map(map) = good else { Issue.record("not a map"); return }

        var extra = map
        extra["extra"] = .int(1)
        #expect(throws: VersioningError.invalidCommit(cid: nil, field: "extra", reason: "unknown field")) {
            try Commit(ipldValue: .map(extra))
        }

        var missing = map
        missing["message"] = nil
        #expect(throws: VersioningError.invalidCommit(cid: nil, field: "message", reason: "missing")) {
            try Commit(ipldValue: .map(missing))
        }

        var mistyped = map
        mistyped["tree"] = .string("bafy")
        #expect(throws: VersioningError.invalidCommit(cid: nil, field: "tree", reason: "expected a link, found string")) {
            try Commit(ipldValue: .map(mistyped))
        }

        var badParent = map
        badParent["parents"] = .list([.int(3)])
        #expect(throws: VersioningError.invalidCommit(cid: nil, field: "parents[0]", reason: "expected a link, found integer")) {
            try Commit(ipldValue: .map(badParent))
        }

        var badTZ = map
        badTZ["tz"] = .int(5000)
        #expect(throws: VersioningError.self) { try Commit(ipldValue: .map(badTZ)) }

        var badParam = map
        badParam["lineage"] = ["inputs": [], "code": nil, "parameters": ["k": 1]]
        #expect(throws: VersioningError.invalidCommit(cid: nil, field: "lineage.parameters.k", reason: "expected a string, found integer")) {
            try Commit(ipldValue: .map(badParam))
        }

        var badAuthor = map
        badAuthor["author"] = ["name": "x"]
        #expect(throws: VersioningError.invalidCommit(cid: nil, field: "author.email", reason: "missing")) {
            try Commit(ipldValue: .map(badAuthor))
        }
    }

    @Test func rejectsNonCommitBlocks() throws {
        let raw = try Block(data: [1, 2, 3], codec: .raw)
        #expect(throws: VersioningError.notACommit(cid: raw.cid)) { try Commit(block: raw) }
        let list = try Block(data: try IPLDCodecs.encode([1, 2], codec: .dagCBOR), codec: .dagCBOR)
        #expect(throws: VersioningError.invalidCommit(cid: list.cid, field: "", reason: "expected a map, found list")) {
            try Commit(block: list)
        }
    }

    @Test func parsesPeople() {
        #expect(Person(parsing: "Ada Lovelace <ada@example.org>") == Person(name: "Ada Lovelace", email: "ada@example.org"))
        #expect(Person(parsing: "no email") == nil)
        #expect(Person(parsing: "<x@y>") == nil)
        #expect(Person(name: "A", email: "a@b").description == "A <a@b>")
    }

    @Test func stateDocumentRoundTripsAndIsStrict() throws {
        let state = RepositoryState(
            name: "data", defaultBranch: "main", branches: ["main": try cid("a"), "dev": try cid("b")],
            tags: ["v1": try cid("a")], sequence: 7, previous: try cid("prev"))
        let block = try state.block()
        #expect(block.cid.codec == .dagCBOR)
        #expect(try RepositoryState(block: block) == state)

        var first = state
        first.previous = nil
        #expect(try RepositoryState(block: try first.block()) == first)

        guard case var .map(map) = state.ipldValue else { Issue.record("not a map"); return }
        map["sequence"] = .int(-1)
        #expect(throws: VersioningError.invalidState(cid: nil, field: "sequence", reason: "-1 is negative")) {
            try RepositoryState(ipldValue: .map(map))
        }
        map["sequence"] = .int(1)
        map["branches"] = ["main": "notalink"]
        #expect(throws: VersioningError.invalidState(cid: nil, field: "branches.main", reason: "expected a link, found string")) {
            try RepositoryState(ipldValue: .map(map))
        }
    }
}
