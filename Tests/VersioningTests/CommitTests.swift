import Foundation
import IPLD
import Multiformats
import Testing

@testable import Versioning
import TestSupport

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

@Suite(.onBlockingPool) struct CommitTests {
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

/// A stand-in for a real key (Versioning knows no crypto): the "signature" is the sha2-256 of
/// key ‖ message, so it depends on every signed byte and on the key.
struct FakeSigner: CommitSigner {
    var publicKey: [UInt8]

    func sign(_ message: [UInt8]) throws -> [UInt8] {
        Self.digest(publicKey, message)
    }

    static func digest(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        (try? Block(data: key + message, codec: .raw).cid.multihash.digest) ?? []
    }

    /// The verifier matching `sign`.
    static func verify(_ key: [UInt8], _ message: [UInt8], _ signature: [UInt8]) -> Bool {
        digest(key, message) == signature
    }
}

private struct FailingSigner: CommitSigner {
    struct Refused: Error, CustomStringConvertible { var description: String { "hardware key unplugged" } }
    var publicKey: [UInt8] { [1] }
    func sign(_ message: [UInt8]) throws -> [UInt8] { throw Refused() }
}

@Suite(.onBlockingPool) struct CommitSignatureTests {
    /// The CID `sampleCommit()` had before signatures existed, computed independently (Python cbor2,
    /// canonical DAG-CBOR): adding the optional key must not change any unsigned commit's CID.
    @Test func unsignedCommitsKeepTheirCID() throws {
        let commit = try sampleCommit()
        #expect(commit.signature == nil)
        #expect(try commit.block().cid.description == "bafyreid5lia7otva46jcjelbh2uenay2zajcsy6cjkqx3tn32lbqqlvdte")
        #expect(try IPLDCodecs.decode(try commit.block())["signature"] == nil)
        #expect(commit.verifySignature(using: FakeSigner.verify) == .unsigned)
    }

    @Test func signedCommitRoundTripsAndVerifies() throws {
        let unsigned = try sampleCommit()
        let signer = FakeSigner(publicKey: [8, 1, 18, 32] + [UInt8](repeating: 9, count: 32))
        let signed = try unsigned.signed(by: signer)
        #expect(signed.signature?.publicKey == signer.publicKey)
        // The signed message: the prefix, then exactly the unsigned commit's block bytes.
        let message = try signed.signedMessage()
        #expect(message == Commit.signaturePrefix + (try unsigned.block().data))
        #expect(Array("jz-node commit signature:".utf8) == Commit.signaturePrefix)
        #expect(signed.signature?.signature == FakeSigner.digest(signer.publicKey, message))

        let block = try signed.block()
        #expect(block.cid != (try unsigned.block().cid))
        let decoded = try Commit(block: Block(verifying: block.cid, data: block.data))
        #expect(decoded == signed)
        #expect(decoded.verifySignature(using: FakeSigner.verify) == .valid(publicKey: signer.publicKey))
        let value = try IPLDCodecs.decode(block)
        #expect(value["signature"]?["publicKey"]?.bytesValue == signer.publicKey)
        #expect(value["signature"]?["sig"]?.bytesValue == signed.signature?.signature)
        // Removing the signature gives back the unsigned commit and its CID.
        var stripped = decoded
        stripped.signature = nil
        #expect(try stripped.block().cid == (try unsigned.block().cid))
    }

    @Test func tamperingInvalidatesTheSignature() throws {
        let signed = try sampleCommit().signed(by: FakeSigner(publicKey: [1, 2, 3]))
        var message = signed
        message.message += "!"
        var tree = signed
        tree.tree = try cid("other tree")
        var parents = signed
        parents.parents.removeLast()
        var lineage = signed
        lineage.lineage.parameters["lr"] = "0.2"
        var time = signed
        time.time += 1
        for tampered in [message, tree, parents, lineage, time] {
            // Through a block, as a commit fetched from a peer would arrive.
            let decoded = try Commit(block: try tampered.block())
            #expect(decoded.verifySignature(using: FakeSigner.verify)
                == .invalid(publicKey: [1, 2, 3], reason: "the signature does not match the commit"))
        }
        // Another key claiming the same signature.
        var wrongKey = signed
        wrongKey.signature?.publicKey = [4, 5, 6]
        #expect(wrongKey.verifySignature(using: FakeSigner.verify)
            == .invalid(publicKey: [4, 5, 6], reason: "the signature does not match the commit"))
        // A verifier that cannot use the key gives its reason.
        struct BadKey: Error, CustomStringConvertible { var description: String { "unknown key type 9" } }
        #expect(signed.verifySignature(using: { _, _, _ in throw BadKey() })
            == .invalid(publicKey: [1, 2, 3], reason: "unknown key type 9"))
    }

    @Test func malformedSignatureMapsAreRefusedNamingTheField() throws {
        let signed = try sampleCommit().signed(by: FakeSigner(publicKey: [1, 2, 3]))
        guard case let .map(map) = signed.ipldValue else { Issue.record("not a map"); return }
        let sig = signed.signature?.signature ?? []
        let cases: [(IPLDValue, String, String)] = [
            (.string("x"), "signature", "expected a map, found string"),
            (["publicKey": .bytes([1])], "signature.sig", "missing"),
            (["sig": .bytes(sig)], "signature.publicKey", "missing"),
            (["publicKey": .bytes([1]), "sig": .bytes(sig), "alg": "ed25519"], "signature.alg", "unknown field"),
            (["publicKey": "k51", "sig": .bytes(sig)], "signature.publicKey", "expected bytes, found string"),
            (["publicKey": .bytes([1]), "sig": .int(3)], "signature.sig", "expected bytes, found integer"),
            (["publicKey": .bytes([]), "sig": .bytes(sig)], "signature.publicKey", "0 bytes, expected 1...2048"),
            (["publicKey": .bytes([1]), "sig": .bytes([UInt8](repeating: 0, count: 2049))], "signature.sig", "2049 bytes, expected 1...2048"),
        ]
        for (value, field, reason) in cases {
            var bad = map
            bad["signature"] = value
            #expect(throws: VersioningError.invalidCommit(cid: nil, field: field, reason: reason)) {
                try Commit(ipldValue: .map(bad))
            }
        }
        // Null is not "unsigned": a present key must hold a signature map.
        var null = map
        null["signature"] = .null
        #expect(throws: VersioningError.invalidCommit(cid: nil, field: "signature", reason: "expected a map, found null")) {
            try Commit(ipldValue: .map(null))
        }
    }

    @Test func signerFailuresAndOversizedOutputAreErrors() throws {
        let commit = try sampleCommit()
        #expect(throws: VersioningError.invalidCommit(cid: nil, field: "signature", reason: "cannot sign: hardware key unplugged")) {
            try commit.signed(by: FailingSigner())
        }
        #expect(throws: VersioningError.invalidCommit(
            cid: nil, field: "signature.publicKey", reason: "the signer returned 0 bytes, expected 1...2048")) {
            try commit.signed(by: FakeSigner(publicKey: []))
        }
    }
}
