import Multiformats
import Testing

@testable import P2PCrypto
import TestSupport

@Suite("Peer IDs", .onBlockingPool)
struct PeerIDTests {
    struct CIDExample: Sendable, CustomTestStringConvertible {
        let input: String
        let codec: String
        let binary: [UInt8]
        let derived: [String: String]
        var testDescription: String { input }
    }

    static func cidExamples() throws -> [CIDExample] {
        let json = try Fixtures.json("cid-examples")
        let cids = try #require(json["cids"] as? [[String: Any]])
        return try cids.compactMap { entry in
            guard let input = entry["input"] as? String else { return nil }
            return CIDExample(
                input: input,
                codec: try #require(entry["codec"] as? String),
                binary: try hex(try #require(entry["binary_hex"] as? String)),
                derived: (entry["derived"] as? [String: String]) ?? [:])
        }
    }

    static func peerIDExamples() throws -> [CIDExample] { try cidExamples().filter { $0.codec.hasSuffix("libp2p-key") } }
    static func otherCIDExamples() throws -> [CIDExample] { try cidExamples().filter { !$0.codec.hasSuffix("libp2p-key") } }

    @Test("libp2p-key examples parse in every form to the same peer ID", arguments: try peerIDExamples())
    func libp2pKeyExamples(_ example: CIDExample) throws {
        let peerID = try PeerID(example.input)
        let legacy = try #require(example.derived["peer_id_legacy_base58"])
        #expect(peerID.b58String == legacy)
        #expect(peerID.cidString(base: .base32) == example.derived["cidv1_base32"])
        #expect(peerID.cidString() == example.derived["cidv1_base36"])
        #expect(peerID.cidString(base: .base58btc) == example.derived["cidv1_base58btc"])
        #expect(peerID.cidString(base: .base16) == example.derived["cidv1_base16"])
        for form in example.derived.values {
            #expect(try PeerID(form) == peerID, "\(form)")
        }
        // The binary form is the bare multihash (the CID's bytes after version and codec).
        let multihashBytes = example.binary.first == 0x01 ? Array(example.binary.dropFirst(2)) : example.binary
        #expect(peerID.bytes == multihashBytes)
        #expect(try PeerID(bytes: multihashBytes) == peerID)
        #expect(peerID.cid.codec == .libp2pKey)
        // An inlined Ed25519 key: it can be extracted and matches.
        let key = try #require(peerID.publicKey)
        #expect(key.type == .ed25519)
        #expect(peerID.matches(key))
        #expect(!peerID.matches(PrivateKey.generateEd25519().publicKey))
    }

    @Test("at least 3 libp2p-key examples and 3 other CIDs are in the fixture")
    func fixtureCoverage() throws {
        #expect(try Self.peerIDExamples().count >= 3)
        #expect(try Self.otherCIDExamples().count >= 3)
    }

    static func otherCIDv1Examples() throws -> [CIDExample] { try otherCIDExamples().filter { !$0.input.hasPrefix("Qm") } }

    @Test("CIDv1s with other codecs are not peer IDs", arguments: try otherCIDv1Examples())
    func nonLibp2pKeyCID(_ example: CIDExample) throws {
        #expect {
            try PeerID(example.input)
        } throws: { error in
            guard case .notLibp2pKey(let codec) = error as? PeerIDError else { return false }
            return codec != .libp2pKey
        }
    }

    @Test("a Qm… string is read as a legacy sha2-256 peer ID, whatever it was made for")
    func qmIsLegacyPeerID() throws {
        for example in try Self.otherCIDExamples() where example.input.hasPrefix("Qm") {
            let peerID = try PeerID(example.input)
            #expect(peerID.multihash.function == .sha2_256)
            #expect(peerID.b58String == example.input)
        }
    }

    @Test("the spec's examples parse", arguments: [
        "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe",
        "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
        "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
    ])
    func specExamples(_ string: String) throws {
        let peerID = try PeerID(string)
        if string.hasPrefix("baf") {
            #expect(peerID.cidString(base: .base32) == string)
            #expect(peerID.multihash.function == .sha2_256)
            #expect(peerID.publicKey == nil)
        } else {
            #expect(peerID.b58String == string)
        }
    }

    @Test("a sha2-256 peer ID matches its key only")
    func hashedMatches() throws {
        let rsa = try PublicKey(protobuf: try Fixtures.goTestData(0, "pub"))
        let ecdsa = try PublicKey(protobuf: try Fixtures.goTestData(3, "pub"))
        let peerID = rsa.peerID
        #expect(peerID.b58String.hasPrefix("Qm"))
        #expect(peerID.matches(rsa))
        #expect(!peerID.matches(ecdsa))
        #expect(peerID.publicKey == nil)
    }

    @Test("secp256k1 peer IDs are identity multihashes starting 16Uiu2")
    func secp256k1PeerID() throws {
        let key = try PublicKey(protobuf: try Fixtures.goTestData(2, "pub"))
        #expect(key.peerID.b58String.hasPrefix("16Uiu2"))
        #expect(key.peerID.publicKey == key)
    }

    @Test("generated Ed25519 peer IDs start 12D3KooW and round-trip")
    func ed25519PeerID() throws {
        for _ in 0..<8 {
            let peerID = PrivateKey.generateEd25519().publicKey.peerID
            #expect(peerID.b58String.hasPrefix("12D3KooW"))
            #expect(peerID.cidString().hasPrefix("k51"))
            #expect(try PeerID(peerID.b58String) == peerID)
            #expect(try PeerID(peerID.cidString()) == peerID)
        }
    }

    @Test("invalid peer ID strings are rejected with typed errors")
    func invalidStrings() throws {
        #expect(throws: PeerIDError.empty) { try PeerID("") }
        // '0' is not in the base58 alphabet.
        #expect {
            try PeerID("Qm0000")
        } throws: { error in
            guard case .invalidBase58 = error as? PeerIDError else { return false }
            return true
        }
        // Truncated legacy peer ID: the digest is shorter than declared.
        #expect {
            try PeerID(String("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA".dropLast(4)))
        } throws: { error in
            guard case .invalidMultihash = error as? PeerIDError else { return false }
            return true
        }
        // Not a multibase prefix we know, not base58.
        #expect {
            try PeerID("!nonsense")
        } throws: { error in
            guard case .invalidCID = error as? PeerIDError else { return false }
            return true
        }
        // A raw-codec CIDv1 over an identity hash of a key: right multihash, wrong codec.
        let key = PrivateKey.generateEd25519().publicKey
        let rawCID = try CID(version: .v1, codec: .raw, multihash: key.peerID.multihash)
        #expect(throws: PeerIDError.notLibp2pKey(.raw)) { try PeerID(rawCID.string(base: .base32)) }
    }

    @Test("only identity (≤ 42 bytes) and 32-byte sha2-256 multihashes are peer IDs")
    func multihashRules() throws {
        let sha1 = try Multihash.hash([1, 2, 3], with: .sha1)
        #expect(throws: PeerIDError.unsupportedMultihash(.sha1, digestLength: 20)) { try PeerID(multihash: sha1) }
        let truncated = try Multihash.hash([1, 2, 3], with: .sha2_256, truncatedTo: 20)
        #expect(throws: PeerIDError.unsupportedMultihash(.sha2_256, digestLength: 20)) { try PeerID(multihash: truncated) }
        let long = try Multihash(function: .identity, digest: [UInt8](repeating: 1, count: 43))
        #expect(throws: PeerIDError.inlineKeyTooLong(length: 43)) { try PeerID(multihash: long) }
        #expect(throws: PeerIDError.inlineKeyTooLong(length: 43)) { try PeerID(long.base58) }
        // A 42-byte identity that is not a key is a peer ID without an extractable key.
        let junk = try PeerID(multihash: try Multihash(function: .identity, digest: [UInt8](repeating: 1, count: 42)))
        #expect(junk.publicKey == nil)
        #expect {
            try PeerID(bytes: sha1.bytes + [0])
        } throws: { error in
            guard case .invalidMultihash(.trailingBytes) = error as? PeerIDError else { return false }
            return true
        }
    }
}
