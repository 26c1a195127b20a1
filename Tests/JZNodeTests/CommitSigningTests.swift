import Foundation
import Logging
import Multiformats
import P2PCrypto
import Testing
import Versioning

@testable import JZNode
import TestSupport

/// Commit signatures with real keys from the keystore, and `commit --sign` / `log --show-signature`
/// end to end through the binary.
@Suite("Commit signing", .onBlockingPool, .serialized)
struct CommitSigningTests {
    /// An initialised home with an Ed25519 key `ed` and an RSA key `rsa`, and a repository `r`.
    func makeNode() throws -> (LocalNode, VersionStore, String) {
        let dir = try temporaryDirectory()
        let home = NodeHome(path: dir + "/node")
        try home.initialize(bootstrap: [])
        try home.keystore.generate(name: "ed")
        try home.keystore.generate(name: "rsa", type: .rsa, bits: 2048)
        let node = try LocalNode(home: home, logger: Logger(label: "commit-signing-test"))
        let versions = node.versionStore()
        try versions.createRepository("r")
        return (node, versions, dir)
    }

    func folder(_ dir: String, _ name: String, _ contents: String) throws -> String {
        let path = dir + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path + "/file.txt"))
        return path
    }

    let author = Person(name: "Ada", email: "ada@example.org")

    @Test(arguments: ["self", "ed", "rsa"])
    func keystoreKeysSignAndVerify(keyName: String) throws {
        let (node, versions, dir) = try makeNode()
        let signer = try CommitSigning.signer(keystore: node.home.keystore, keyName: keyName)
        let expected = try node.home.keystore.key(named: keyName).peerID
        #expect(signer.peerID == expected)
        let result = try versions.commit(
            "r", directory: try folder(dir, "a", "one"), message: "signed by \(keyName)", author: author, signer: signer)
        // Read back from the store, as `log` does.
        let stored = try versions.commit(result.cid)
        let verification = CommitSigning.verify(stored)
        #expect(verification == .good(signer: expected))
        #expect(verification.signerName == expected.cidString(base: .base36))
        // Inlined (Ed25519) keys give k51… names, hashed (RSA) keys k2k4r8… names, as in Kubo.
        #expect(verification.signerName?.hasPrefix(keyName == "rsa" ? "k2k4r8" : "k51") == true)
        #expect(stored.verifySignature(using: { key, message, sig in
            try PublicKey(protobuf: key).verify(signature: sig, message: message)
        }) == .valid(publicKey: signer.publicKey))
        try CommitSigning.requireSigned(commits: [(result.cid, stored)], by: expected)
        #expect(CommitSigning.localKeyNames(keystore: node.home.keystore)[expected] == keyName)

        // Tampered: the signature no longer covers the commit.
        var tampered = stored
        tampered.message = "rewritten"
        let tamperedCID = try tampered.block().cid
        #expect(CommitSigning.verify(tampered) == .bad(signer: expected, reason: "the signature does not match the commit"))
        #expect(throws: CommitSigningError.badSignature(
            cid: tamperedCID, signer: expected, reason: "the signature does not match the commit")) {
            try CommitSigning.requireSigned(commits: [(result.cid, stored), (tamperedCID, tampered)], by: expected)
        }
    }

    @Test func requireSignedRefusesUnsignedAndOtherSigners() throws {
        let (node, versions, dir) = try makeNode()
        let keystore = node.home.keystore
        let ed = try CommitSigning.signer(keystore: keystore, keyName: "ed")
        let rsa = try CommitSigning.signer(keystore: keystore, keyName: "rsa")
        let one = try versions.commit("r", directory: try folder(dir, "a", "1"), message: "1", author: author, signer: ed)
        let two = try versions.commit("r", directory: try folder(dir, "b", "2"), message: "2", author: author, signer: rsa)
        let three = try versions.commit("r", directory: try folder(dir, "c", "3"), message: "3", author: author)
        #expect(three.commit.signature == nil)
        #expect(CommitSigning.verify(three.commit) == .unsigned)

        try CommitSigning.requireSigned(commits: [(one.cid, one.commit)], by: ed.peerID)
        #expect(throws: CommitSigningError.wrongSigner(cid: two.cid, signer: rsa.peerID, required: ed.peerID)) {
            try CommitSigning.requireSigned(commits: [(one.cid, one.commit), (two.cid, two.commit)], by: ed.peerID)
        }
        #expect(throws: CommitSigningError.unsigned(cid: three.cid, required: rsa.peerID)) {
            try CommitSigning.requireSigned(commits: [(two.cid, two.commit), (three.cid, three.commit)], by: rsa.peerID)
        }
        // An empty pull has nothing to refuse.
        try CommitSigning.requireSigned(commits: [], by: rsa.peerID)

        // A signature whose key field is not a libp2p key, and a swapped key.
        var garbage = one.commit
        garbage.signature?.publicKey = [1, 2, 3]
        guard case let .bad(nil, reason) = CommitSigning.verify(garbage) else {
            Issue.record("expected a bad signature without signer"); return
        }
        #expect(reason.hasPrefix("signature.publicKey is not a libp2p public key"))
        var swapped = one.commit
        swapped.signature?.publicKey = rsa.publicKey
        #expect(CommitSigning.verify(swapped) == .bad(signer: rsa.peerID, reason: "the signature does not match the commit"))
    }

    @Test func parsesRequireSignedKeys() throws {
        let (node, _, _) = try makeNode()
        let keystore = node.home.keystore
        let ed = try keystore.key(named: "ed").peerID
        let me = try keystore.key(named: "self").peerID
        #expect(try CommitSigning.parseSigner("ed", keystore: keystore) == ed)
        #expect(try CommitSigning.parseSigner("self", keystore: keystore) == me)
        #expect(try CommitSigning.parseSigner(ed.b58String, keystore: keystore) == ed)
        #expect(try CommitSigning.parseSigner(ed.cidString(base: .base36), keystore: keystore) == ed)
        #expect(try CommitSigning.parseSigner("/ipns/" + ed.cidString(base: .base36), keystore: keystore) == ed)
        #expect(try CommitSigning.parseSigner(ed.cidString(base: .base32), keystore: keystore) == ed)
        // A peer that is not ours parses too (a remote's signer).
        let other = PrivateKey.generateEd25519().publicKey.peerID
        #expect(try CommitSigning.parseSigner(other.cidString(base: .base36), keystore: keystore) == other)
        #expect(throws: CommitSigningError.self) { try CommitSigning.parseSigner("nosuchkey", keystore: keystore) }
        do {
            _ = try CommitSigning.parseSigner("nosuchkey", keystore: keystore)
        } catch {
            #expect(error.description.hasPrefix("'nosuchkey' is neither a key of this node"))
        }
        #expect(throws: CommitSigningError.self) { try CommitSigning.parseSigner("", keystore: keystore) }
    }

    @Test func signerChoiceFollowsFlagsAndConfig() throws {
        let (node, _, _) = try makeNode()
        let me = try node.home.keystore.key(named: "self").peerID
        let ed = try node.home.keystore.key(named: "ed").peerID
        #expect(try CommitSigning.signer(for: node, sign: nil, keyName: nil) == nil)
        #expect(try CommitSigning.signer(for: node, sign: true, keyName: nil)?.peerID == me)
        #expect(try CommitSigning.signer(for: node, sign: nil, keyName: "ed")?.peerID == ed)
        #expect(throws: CommitSigningError.self) { try CommitSigning.signer(for: node, sign: true, keyName: "missing") }

        var config = node.config
        try config.set(true, at: CommitSigning.signByDefaultConfigKey)
        try node.home.save(config)
        let signing = try LocalNode(home: node.home, logger: Logger(label: "commit-signing-test"))
        #expect(try CommitSigning.signer(for: signing, sign: nil, keyName: nil)?.peerID == me)
        #expect(try CommitSigning.signer(for: signing, sign: false, keyName: nil) == nil)

        try config.set("yes", at: CommitSigning.signByDefaultConfigKey)
        try node.home.save(config)
        let bad = try LocalNode(home: node.home, logger: Logger(label: "commit-signing-test"))
        #expect(throws: CommitSigningError.config(
            .invalidConfigValue(
                key: "Versioning.SignCommits",
                reason: "expected true or false (set it with 'jz-node config --bool Versioning.SignCommits true')"))) {
            try CommitSigning.signer(for: bad, sign: nil, keyName: nil)
        }
    }

    @Test func cliSignsAndShowsSignatures() throws {
        let dir = try temporaryDirectory()
        let home = dir + "/home"
        func run(_ args: [String]) throws -> CLI.Output {
            let r = try CLI.run(args, home: home)
            #expect(r.status == 0, "\(args): \(r.stderr)")
            return r
        }
        _ = try run(["init", "--empty-bootstrap"])
        _ = try run(["key", "gen", "release"])
        _ = try run(["repo", "create", "r"])
        let me = try NodeHome(path: home).keystore.key(named: "self").peerID.cidString(base: .base36)
        let release = try NodeHome(path: home).keystore.key(named: "release").peerID.cidString(base: .base36)
        let first = try run(["commit", "r", try folder(dir, "a", "1"), "-m", "plain"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let second = try run(["commit", "r", try folder(dir, "b", "2"), "-m", "node", "--sign"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let third = try run(["commit", "r", try folder(dir, "c", "3"), "-m", "release", "--sign-key", "release"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)

        let log = try run(["log", "r", "--show-signature"]).stdout
        #expect(log.contains("commit \(third)\nGood signature by \(release) (key release)\n"))
        #expect(log.contains("commit \(second)\nGood signature by \(me) (key self)\n"))
        #expect(log.contains("commit \(first)\nAuthor:"))
        #expect(!(try run(["log", "r"]).stdout.contains("signature")))

        let json = try JSONValue.parse(try run(["log", "r", "--show-signature", "--json"]).stdout)
        let signatures = json.arrayValue?.compactMap { $0["Signature"] } ?? []
        #expect(signatures.count == 3)
        #expect(signatures.first?["Key"]?.stringValue == release)
        #expect(signatures.first?["KeyName"]?.stringValue == "release")
        #expect(signatures.first?["Valid"]?.boolValue == true)
        #expect(signatures.last?["Key"] == .null)
        #expect(signatures.last?["Valid"]?.boolValue == false)
        #expect(signatures.last?["Reason"]?.stringValue == "unsigned")

        let show = try run(["show", "r@main"]).stdout
        #expect(show.contains("Good signature by \(release) (key release)"))
        let showJSON = try JSONValue.parse(try run(["show", "r@main~2", "--json"]).stdout)
        #expect(showJSON["Signature"]?["Valid"]?.boolValue == false)

        let contradiction = try CLI.run(["commit", "r", dir + "/a", "-m", "x", "--no-sign", "--sign-key", "release"], home: home)
        #expect(contradiction.status != 0)
        #expect(contradiction.stderr.contains("--no-sign and --sign-key contradict each other"))
        let missing = try CLI.run(["commit", "r", dir + "/a", "-m", "x", "--sign-key", "nope", "--allow-empty"], home: home)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no key named 'nope'"))
    }
}
