import Foundation
import Multiformats
import P2PCore
import P2PCrypto
import Testing

@testable import P2PHost
import TestSupport

/// A peer router with fixed answers; counts the lookups and notes whether each ran inside another.
final class FixedPeerRouting: PeerRouting, @unchecked Sendable {
    private let lock = Mutex()
    private let known: [PeerID: [Multiaddr]]
    private var calls = 0
    private var nested = 0

    init(_ known: [PeerID: [Multiaddr]]) { self.known = known }

    var lookups: Int { lock.withLock { calls } }
    var nestedLookups: Int { lock.withLock { nested } }

    func findPeer(_ peer: PeerID) async throws -> PeerInfo {
        let inside = RoutingScope.isRouting
        lock.withLock {
            calls += 1
            if !inside { nested += 1 }
        }
        guard let addresses = known[peer] else { throw RoutingError.notFound("peer \(peer)") }
        return PeerInfo(peer: peer, addresses: addresses)
    }
}

@Suite("Host peer routing", .serialized, .onBlockingPool)
struct PeerRoutingHostTests {
    /// A stream to a peer whose address nobody gave us: the host asks peer routing, then dials.
    @Test func aPeerWithoutAnAddressIsLookedUp() async throws {
        let a = try await makeHost()
        let b = try await makeHost()
        await installEcho(b)
        let bAddress = try #require(await b.listenAddresses().first)
        #expect(a.peerStore.addresses(of: b.localPeer).isEmpty)
        await #expect(throws: HostError.noAddresses(b.localPeer)) { _ = try await a.newStream(to: b.localPeer, protocols: ["/echo/1.0.0"]) }
        let routing = FixedPeerRouting([b.localPeer: [bAddress]])
        await a.setPeerRouting(routing)
        #expect(try await echoRoundTrip(a, b.localPeer, [1, 2, 3]) == [1, 2, 3])
        #expect(routing.lookups == 1)
        // Inside a lookup (the DHT dialling a peer it learnt of) the host never asks routing again.
        let c = try await makeHost()
        await #expect(throws: HostError.noAddresses(c.localPeer)) {
            try await RoutingScope.$isRouting.withValue(true) {
                _ = try await a.newStream(to: c.localPeer, protocols: ["/echo/1.0.0"])
            }
        }
        #expect(routing.lookups == 1)
        // A peer routing cannot find: the error says there is no address.
        await #expect(throws: HostError.noAddresses(c.localPeer)) { _ = try await a.newStream(to: c.localPeer, protocols: ["/echo/1.0.0"]) }
        #expect(routing.lookups == 2)
        for h in [a, b, c] { await h.stop() }
    }

    /// Identify tells the host's observers what it learnt (the DHT admits peers from this).
    @Test func identifyEmitsIdentified() async throws {
        let (keyA, keyB) = (PrivateKey.generateEd25519(), PrivateKey.generateEd25519())
        let a = try await makeHost(key: keyA)
        let b = try await makeHost(key: keyB)
        await b.setHandler("/ipfs/kad/1.0.0") { await $0.stream.reset() }
        let identifyA = IdentifyService(host: a, privateKey: keyA, agentVersion: "t", protocolVersion: "t", logger: .init(label: "t"))
        let identifyB = IdentifyService(host: b, privateKey: keyB, agentVersion: "t", protocolVersion: "t", logger: .init(label: "t"))
        await identifyA.register()
        await identifyB.register()
        let seen = EventCollector()
        await a.addEventObserver { seen.add($0) }
        _ = try await a.connect(try await dialAddress(of: b))
        _ = try await identifyA.identify(b.localPeer)
        let identified = seen.identified.first { $0.peer == b.localPeer }
        #expect(identified?.protocols.contains("/ipfs/kad/1.0.0") == true)
        #expect(identified?.addresses.isEmpty == false)
        for h in [a, b] { await h.stop() }
    }
}

final class EventCollector: @unchecked Sendable {
    private let lock = Mutex()
    private var events: [HostEvent] = []
    func add(_ e: HostEvent) { lock.withLock { events.append(e) } }
    var identified: [(peer: PeerID, protocols: [ProtocolID], addresses: [Multiaddr])] {
        lock.withLock {
            events.compactMap {
                if case .identified(let p, let protocols, let addresses) = $0 { return (p, protocols, addresses) }
                return nil
            }
        }
    }
}
