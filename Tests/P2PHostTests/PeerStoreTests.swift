import Multiformats
import P2PCore
import P2PCrypto
import Testing

@testable import P2PHost
import TestSupport

/// A settable clock for TTL tests.
final class PeerStoreTestClock: @unchecked Sendable {
    private let lock = Mutex()
    private var now: Double
    init(_ start: Double = 1000) { now = start }
    func advance(_ seconds: Double) { lock.withLock { now += seconds } }
    var read: @Sendable () -> Double { { [self] in lock.withLock { now } } }
}

@Suite("MemoryPeerStore", .onBlockingPool)
struct PeerStoreTests {
    let peer = PeerID(publicKey: PrivateKey.generateEd25519().publicKey)

    func addr(_ port: Int) throws -> Multiaddr { try Multiaddr("/ip4/10.0.0.1/tcp/\(port)") }

    @Test func addressesExpireWithTheirTTL() throws {
        let clock = PeerStoreTestClock()
        let store = MemoryPeerStore(clock: clock.read)
        store.addAddresses([try addr(1)], for: peer, ttl: 10)
        store.addAddresses([try addr(2)], for: peer, ttl: 100)
        #expect(store.addresses(of: peer) == [try addr(1), try addr(2)])
        #expect(store.peers() == [peer])
        clock.advance(11)
        #expect(store.addresses(of: peer) == [try addr(2)])
        clock.advance(100)
        #expect(store.addresses(of: peer).isEmpty)
        #expect(store.peers().isEmpty)
    }

    @Test func addKeepsTheLongerTTLAndSetReplaces() throws {
        let clock = PeerStoreTestClock()
        let store = MemoryPeerStore(clock: clock.read)
        store.addAddresses([try addr(1)], for: peer, ttl: 100)
        store.addAddresses([try addr(1)], for: peer, ttl: 5)  // shorter: the 100 s TTL stays
        clock.advance(50)
        #expect(store.addresses(of: peer) == [try addr(1)])
        store.setAddresses([try addr(3), try addr(4), try addr(3)], for: peer, ttl: 10)
        #expect(store.addresses(of: peer) == [try addr(3), try addr(4)])
        store.setAddresses([try addr(5)], for: peer, ttl: AddressTTL.permanent)
        clock.advance(1e12)
        #expect(store.addresses(of: peer) == [try addr(5)])
        store.setAddresses([], for: peer, ttl: 10)
        #expect(store.addresses(of: peer).isEmpty)
    }

    @Test func publicKeyMustMatchThePeer() throws {
        let store = MemoryPeerStore()
        let key = PrivateKey.generateEd25519().publicKey
        let rsa = try PrivateKey.generate(.rsa, rsaBits: 2048).publicKey
        let rsaPeer = PeerID(publicKey: rsa)
        store.setPublicKey(key, for: rsaPeer)  // not its key: ignored
        #expect(store.publicKey(of: rsaPeer) == nil)
        store.setPublicKey(rsa, for: rsaPeer)
        #expect(store.publicKey(of: rsaPeer) == rsa)
        // Ed25519 peer IDs inline their key.
        #expect(store.publicKey(of: PeerID(publicKey: key)) == key)
    }

    @Test func protocolsAndMetadataAreBounded() {
        let store = MemoryPeerStore(limits: .init(maxProtocolsPerPeer: 4, maxMetadataEntries: 2, maxMetadataValueBytes: 5))
        store.setProtocols(["/a", "/b", "/a", "/c", "/d", "/e", "/f"], for: peer)
        #expect(store.protocols(of: peer) == ["/a", "/b", "/c", "/d"])
        store.setMetadata("AgentVersion", "héllo-world", for: peer)
        #expect(store.metadata("AgentVersion", of: peer) == "héll")  // 5 bytes at most, whole characters
        store.setMetadata("ProtocolVersion", "ipfs", for: peer)
        store.setMetadata("Third", "x", for: peer)
        #expect(store.metadata("Third", of: peer) == nil)
        store.setMetadata("AgentVersion", "kubo", for: peer)  // existing key: replaced
        #expect(store.metadata("AgentVersion", of: peer) == "kubo")
        store.remove(peer)
        #expect(store.protocols(of: peer).isEmpty)
        #expect(store.metadata("AgentVersion", of: peer) == nil)
    }

    @Test func addressesPerPeerAreBounded() throws {
        let store = MemoryPeerStore(limits: .init(maxAddressesPerPeer: 64))
        store.addAddresses(try (0..<100).map { try addr($0) }, for: peer, ttl: 10)
        #expect(store.addresses(of: peer).count == 64)
        // A longer-lived address replaces one expiring soonest.
        store.addAddresses([try addr(500)], for: peer, ttl: 1000)
        let now = store.addresses(of: peer)
        #expect(now.count == 64)
        #expect(now.contains(try addr(500)))
    }

    @Test func peersAreBoundedAndTheStalestIsEvicted() throws {
        let clock = PeerStoreTestClock()
        let store = MemoryPeerStore(limits: .init(maxPeers: 3), clock: clock.read)
        let peers = (0..<4).map { _ in PeerID(publicKey: PrivateKey.generateEd25519().publicKey) }
        for (index, p) in peers.prefix(3).enumerated() {
            store.addAddresses([try addr(index)], for: p, ttl: 1000)
            clock.advance(1)
        }
        store.setProtocols(["/x"], for: peers[0])  // peers[0] is now the freshest
        clock.advance(1)
        store.addAddresses([try addr(9)], for: peers[3], ttl: 1000)
        #expect(Set(store.peers()) == [peers[0], peers[2], peers[3]])
    }

    @Test func concurrentUseIsSafe() async throws {
        let store = MemoryPeerStore(limits: .init(maxPeers: 50))
        let peers = (0..<20).map { _ in PeerID(publicKey: PrivateKey.generateEd25519().publicKey) }
        let addresses = try (0..<10).map { try addr($0) }
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for round in 0..<200 {
                        let p = peers[(worker + round) % peers.count]
                        store.addAddresses([addresses[round % addresses.count]], for: p, ttl: 60)
                        store.setProtocols([ProtocolID("/p/\(round % 7)")], for: p)
                        store.setMetadata("AgentVersion", "w\(worker)", for: p)
                        _ = store.addresses(of: p)
                        _ = store.peers()
                        if round % 50 == 0 { store.remove(p) }
                    }
                }
            }
        }
        #expect(store.peers().count <= 20)
    }
}
