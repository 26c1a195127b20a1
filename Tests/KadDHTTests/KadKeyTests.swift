import Multiformats
import P2PCrypto
import Testing

@testable import KadDHT
import TestSupport

@Suite(.onBlockingPool) struct KadKeyTests {
    @Test func distanceIsXorAndSymmetric() {
        let a = KadKey(digest: [0b1010_0000] + [UInt8](repeating: 0, count: 31))
        let b = KadKey(digest: [0b1001_0000] + [UInt8](repeating: 0, count: 31))
        #expect(a.distance(to: b).bytes[0] == 0b0011_0000)
        #expect(a.distance(to: b) == b.distance(to: a))
        #expect(a.commonPrefixLength(with: b) == 2)
        #expect(a.commonPrefixLength(with: a) == 256)
    }

    @Test func closerIsXorOrder() {
        let target = KadKey(digest: [UInt8](repeating: 0, count: 32))
        let near = KadKey(digest: [0x01] + [UInt8](repeating: 0, count: 31))
        let far = KadKey(digest: [0x80] + [UInt8](repeating: 0, count: 31))
        #expect(target.isCloser(near, than: far))
        #expect(!target.isCloser(far, than: near))
        #expect(!target.isCloser(near, than: near))
    }

    @Test func peerKeyIsSha256OfPeerIDBytes() throws {
        let peer = PrivateKey.generateEd25519().publicKey.peerID
        #expect(KadKey(peer: peer).bytes == Sha256.digest(peer.bytes))
    }
}
