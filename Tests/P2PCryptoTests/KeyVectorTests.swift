import Multiformats
import Testing

@testable import P2PCrypto
import TestSupport

/// libp2p/specs peer-ids/peer-ids.md test vectors (Fixtures/peer-id-keys.json).
@Suite("Spec key vectors", .onBlockingPool)
struct KeyVectorTests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let keyType: String
        let privateProtobuf: [UInt8]
        let publicProtobuf: [UInt8]
        let peerIDBase58: String
        let peerIDBase32: String
        var testDescription: String { keyType }
    }

    static func vectors() throws -> [Vector] {
        let json = try Fixtures.json("peer-id-keys")
        let keys = try #require(json["keys"] as? [[String: Any]])
        return try keys.map { entry in
            Vector(
                keyType: try #require(entry["key_type"] as? String),
                privateProtobuf: try hex(try #require(entry["private_key_protobuf_hex"] as? String)),
                publicProtobuf: try hex(try #require(entry["public_key_protobuf_hex"] as? String)),
                peerIDBase58: try #require(entry["derived_peer_id_base58"] as? String),
                peerIDBase32: try #require(entry["derived_peer_id_cidv1_base32"] as? String))
        }
    }

    static let expectedTypes: [String: KeyType] = ["ECDSA": .ecdsa, "ED25519": .ed25519, "secp256k1": .secp256k1, "rsa": .rsa]

    @Test("all four key types are covered")
    func coverage() throws {
        #expect(Set(try Self.vectors().map(\.keyType)) == Set(Self.expectedTypes.keys))
    }

    @Test("private and public keys parse; the derived public key equals the given one", arguments: try vectors())
    func derivePublicKey(_ vector: Vector) throws {
        let expectedType = try #require(Self.expectedTypes[vector.keyType])
        let privateKey = try PrivateKey(protobuf: vector.privateProtobuf)
        let publicKey = try PublicKey(protobuf: vector.publicProtobuf)
        #expect(privateKey.type == expectedType)
        #expect(publicKey.type == expectedType)
        #expect(privateKey.publicKey == publicKey)
        #expect(privateKey.publicKey.protobufBytes == vector.publicProtobuf)
    }

    @Test("peer IDs derive in both text forms and parse back", arguments: try vectors())
    func peerIDs(_ vector: Vector) throws {
        let publicKey = try PublicKey(protobuf: vector.publicProtobuf)
        let peerID = PeerID(publicKey: publicKey)
        #expect(peerID.b58String == vector.peerIDBase58)
        #expect(peerID.description == vector.peerIDBase58)
        #expect(peerID.cidString(base: .base32) == vector.peerIDBase32)
        #expect(try PeerID(vector.peerIDBase58) == peerID)
        #expect(try PeerID(vector.peerIDBase32) == peerID)
        #expect(try PeerID(peerID.cidString()) == peerID)
        #expect(peerID.matches(publicKey))
        #expect(try PrivateKey(protobuf: vector.privateProtobuf).publicKey.peerID == peerID)
        let inlined = vector.publicProtobuf.count <= PeerID.maxInlineKeyLength
        #expect(peerID.multihash.function == (inlined ? .identity : .sha2_256))
        #expect(peerID.publicKey == (inlined ? publicKey : nil))
    }

    @Test("each vector key signs and verifies", arguments: try vectors())
    func signVerify(_ vector: Vector) throws {
        let privateKey = try PrivateKey(protobuf: vector.privateProtobuf)
        let message = Array("jz-node signs this".utf8)
        let signature = try privateKey.sign(message)
        #expect(privateKey.publicKey.verify(signature: signature, message: message))
        #expect(!privateKey.publicKey.verify(signature: signature, message: message + [0]))
    }
}
