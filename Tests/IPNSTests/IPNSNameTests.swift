import Multiformats
import P2PCrypto
import Testing

@testable import IPNS
import TestSupport

@Suite(.onBlockingPool) struct IPNSNameTests {
    /// The name of the v1-v2 vector (an Ed25519 key inlined in the peer ID).
    static let k51 = "k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w"

    @Test func everyFormParsesToTheSamePeer() throws {
        let name = try IPNSName(Self.k51)
        #expect(name.string == Self.k51)
        #expect(name.description == Self.k51)
        #expect(name.path == "/ipns/" + Self.k51)
        let b58 = name.peer.b58String
        #expect(b58.hasPrefix("12D3KooW"))
        let base32 = name.peer.cidString(base: .base32)
        #expect(base32.hasPrefix("bafzaa"))
        for form in [Self.k51, "/ipns/" + Self.k51, b58, "/ipns/" + b58, base32, "/ipns/" + base32] {
            #expect(try IPNSName(form) == name, "\(form)")
        }
        #expect(name.peer.publicKey?.type == .ed25519)
    }

    @Test func rsaNamesAreQmAndPrintAsBase36() throws {
        let key = try PrivateKey.generate(.rsa, rsaBits: 2048)
        let name = IPNSName(publicKey: key.publicKey)
        let qm = name.peer.b58String
        #expect(qm.hasPrefix("Qm"))
        #expect(try IPNSName(qm) == name)
        #expect(try IPNSName("/ipns/" + qm) == name)
        #expect(name.string.hasPrefix("k"))
        #expect(try IPNSName(name.string) == name)
        #expect(name.peer.publicKey == nil)  // hashed: records must carry pubKey
    }

    @Test func routingKeyIsPrefixAndMultihashBytes() throws {
        let name = try IPNSName(Self.k51)
        let key = name.routingKey
        #expect(Array(key.prefix(6)) == Array("/ipns/".utf8))
        #expect(Array(key.dropFirst(6)) == name.peer.multihash.bytes)
        // identity multihash (0x00), 36 bytes: the Ed25519 PublicKey protobuf 08 01 12 20 ‖ 32 bytes.
        #expect(Array(key.dropFirst(6).prefix(6)) == [0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
        #expect(key.count == 6 + 2 + 36)
        #expect(try IPNSName(routingKey: key) == name)
    }

    @Test func invalidNamesFail() throws {
        for text in ["", "/ipns/", "hello", "k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9x0",
            "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "QmNotBase58OOOO", "/ipfs/" + Self.k51]
        {
            #expect(throws: IPNSNameError.self, "\(text)") { try IPNSName(text) }
        }
        // A dag-pb CID is not a libp2p-key.
        do {
            _ = try IPNSName("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")
            Issue.record("a dag-pb CID parsed as a name")
        } catch {
            guard case .invalidPeerID(_, .notLibp2pKey) = error else {
                Issue.record("unexpected \(error)")
                return
            }
        }
        let name = try IPNSName(Self.k51)
        #expect(throws: IPNSNameError.notIPNSRoutingKey(4 + name.peer.bytes.count)) {
            try IPNSName(routingKey: Array("/pk/".utf8) + name.peer.bytes)
        }
        #expect(throws: IPNSNameError.self) { try IPNSName(routingKey: Array("/ipns/".utf8) + [0x12, 0x20, 1]) }
    }
}
