import Foundation
import Logging
import Multiformats
import P2PCore
import P2PCrypto
import P2PTestSupport
import Testing

@testable import KadDHT
import TestSupport

/// A network of DHT nodes over in-memory hosts (streams open on demand, as a real host dials).
final class DHTTestNet: Sendable {
    let network = MemoryNetwork(autoConnect: true)
    let hosts: [MemoryHost]
    let dhts: [KademliaDHT]

    init(
        count: Int, scope: DHTScope = .lan, modes: (Int) -> DHTMode = { _ in .server },
        ip: (Int) -> String = { _ in "127.0.0.1" }, validator: any RecordValidator = NamespacedValidator.standard
    ) {
        var hosts: [MemoryHost] = []
        var dhts: [KademliaDHT] = []
        for i in 0..<count {
            let host = network.makeHost(ip: ip(i))
            var config = DHTConfig(scope: scope, mode: modes(i))
            config.requestTimeout = TestTime.scaled(.seconds(5))
            config.refreshInterval = 3600
            dhts.append(KademliaDHT(
                host: host, config: config, providers: ProviderStore(backend: MemoryProviderBackend()),
                values: ValueRecordStore(validator: validator), validator: validator,
                logger: Logger(label: "dht-test")))
            hosts.append(host)
        }
        self.hosts = hosts
        self.dhts = dhts
    }

    /// Starts every node; each knows the previous node only, then looks itself up (as a node that
    /// bootstraps from one peer does), which fills the tables.
    func start() async {
        for dht in dhts { await dht.start() }
        for i in 1..<dhts.count {
            dhts[i].addPeer(hosts[i - 1].localPeer, addresses: [hosts[i - 1].address])
            if dhts[i - 1].mode == .server || true {
                dhts[i - 1].addPeer(hosts[i].localPeer, addresses: [hosts[i].address])
            }
        }
        for (i, dht) in dhts.enumerated() {
            _ = await dht.closestPeers(to: hosts[i].localPeer.bytes)
        }
    }

    func stop() async {
        for dht in dhts { await dht.stop() }
    }
}

@Suite("DHT over an in-memory network", .onBlockingPool)
struct DHTNetworkTests {
    @Test func providersAreFoundFromAnyNode() async throws {
        let net = DHTTestNet(count: 30)
        await net.start()
        defer { Task { await net.stop() } }
        let key = try Multihash.hash(Array("dataset v1".utf8), with: .sha2_256).bytes
        let sent = try await net.dhts[4].provide(key: key, addresses: [net.hosts[4].address])
        #expect(sent >= 10)
        for asker in [0, 13, 29] {
            var found: [PeerInfo] = []
            for await info in net.dhts[asker].findProviders(key: key, limit: 1) { found.append(info) }
            #expect(found.map(\.peer) == [net.hosts[4].localPeer], "node \(asker)")
            if asker != 4 { #expect(found.first?.addresses == [net.hosts[4].address]) }
        }
        // Nobody provides another key: the lookup ends with nothing.
        var none: [PeerInfo] = []
        let other = try Multihash.hash(Array("nobody".utf8), with: .sha2_256).bytes
        for await info in net.dhts[7].findProviders(key: other, limit: 1) { none.append(info) }
        #expect(none.isEmpty)
    }

    /// The WAN table over public addresses: at most 2 peers of one /16 per bucket (3 per table), so
    /// a crowd from one network cannot fill it; providers are still found.
    @Test func wanTableLimitsPeersPerNetwork() async throws {
        // 10 nodes in 198.51.x.x (one /16), 15 spread over other /16s.
        let net = DHTTestNet(count: 25, scope: .wan, ip: { i in i < 10 ? "198.51.0.\(i + 1)" : "203.\(i).0.1" })
        await net.start()
        defer { Task { await net.stop() } }
        let crowd = Set(net.hosts.prefix(10).map(\.localPeer))
        for (i, dht) in net.dhts.enumerated() where i >= 10 {
            #expect(dht.info().peers.filter { crowd.contains($0) }.count <= 3, "node \(i)")
        }
        let key = try Multihash.hash(Array("wan".utf8), with: .sha2_256).bytes
        _ = try await net.dhts[20].provide(key: key, addresses: [net.hosts[20].address])
        var found: [PeerInfo] = []
        for await info in net.dhts[12].findProviders(key: key, limit: 1) { found.append(info) }
        #expect(found.map(\.peer) == [net.hosts[20].localPeer])
        // Loopback addresses are not WAN addresses: they are not announced.
        let loopback = try Multiaddr("/ip4/127.0.0.1/tcp/1")
        _ = try await net.dhts[21].provide(key: key, addresses: [loopback, net.hosts[21].address])
        var all: [PeerInfo] = []
        for await info in net.dhts[12].findProviders(key: key, limit: 0) { all.append(info) }
        #expect(all.first { $0.peer == net.hosts[21].localPeer }?.addresses == [net.hosts[21].address])
    }

    @Test func recordsLandOnTheClosestPeers() async throws {
        let net = DHTTestNet(count: 40)
        await net.start()
        defer { Task { await net.stop() } }
        let key = try Multihash.hash(Array("where does it go".utf8), with: .sha2_256).bytes
        let outcome = await net.dhts[0].closestPeers(to: key)
        let target = KadKey(key: key)
        let truth = net.hosts.map(\.localPeer).filter { $0 != net.hosts[0].localPeer }
            .sorted { target.isCloser(KadKey(peer: $0), than: KadKey(peer: $1)) }
        #expect(Set(outcome.closest.prefix(20)) == Set(truth.prefix(20)))
    }

    @Test func findPeerReturnsItsAddress() async throws {
        let net = DHTTestNet(count: 25)
        await net.start()
        defer { Task { await net.stop() } }
        let target = net.hosts[21]
        let info = try await net.dhts[2].findPeer(target.localPeer)
        #expect(info.peer == target.localPeer)
        #expect(info.addresses.contains(target.address))
        // An unknown peer is not found, and the lookup ends.
        let stranger = PrivateKey.generateEd25519().publicKey.peerID
        await #expect(throws: RoutingError.self) { try await net.dhts[2].findPeer(stranger) }
    }

    @Test func publicKeyRecordsArePutAndGot() async throws {
        let net = DHTTestNet(count: 20)
        await net.start()
        defer { Task { await net.stop() } }
        let owner = net.hosts[3]
        let key = Array("/pk/".utf8) + owner.localPeer.bytes
        let value = owner.key.publicKey.protobufBytes
        let stored = try await net.dhts[3].putValue(key: key, value: value)
        #expect(stored >= 10)
        var got: [[UInt8]] = []
        for await v in net.dhts[15].searchValues(key: key) { got.append(v) }
        #expect(!got.isEmpty && got.allSatisfy { $0 == value })
        // Someone else's key under our peer ID is refused before anything is sent.
        let wrong = PrivateKey.generateEd25519().publicKey.protobufBytes
        await #expect(throws: (any Error).self) { _ = try await net.dhts[3].putValue(key: key, value: wrong) }
        // Namespaces without a validator are refused.
        await #expect(throws: (any Error).self) {
            _ = try await net.dhts[3].putValue(key: Array("/ipns/".utf8) + owner.localPeer.bytes, value: [1, 2, 3])
        }
        await #expect(throws: (any Error).self) { _ = try await net.dhts[3].putValue(key: Array("/x/y".utf8), value: [1]) }
    }

    @Test func clientModeNodesNeitherAdvertiseNorAnswer() async throws {
        let net = DHTTestNet(count: 3, modes: { $0 == 2 ? .client : .server })
        await net.start()
        defer { Task { await net.stop() } }
        #expect(await !net.hosts[2].supportedProtocols().contains(DHTProtocol.lan))
        #expect(await net.hosts[0].supportedProtocols().contains(DHTProtocol.lan))
        await #expect(throws: (any Error).self) {
            _ = try await net.dhts[0].request(DHTMessage(kind: .ping), to: net.hosts[2].localPeer)
        }
        // Switching to server mode registers the protocol.
        #expect(await net.dhts[2].setMode(.server))
        #expect(await net.hosts[2].supportedProtocols().contains(DHTProtocol.lan))
        let pong = try await net.dhts[0].request(DHTMessage(kind: .ping), to: net.hosts[2].localPeer)
        #expect(pong?.kind == .ping)
    }

    @Test func identifiedPeersAreCheckedThenAdmitted() async throws {
        let net = DHTTestNet(count: 2)
        for dht in net.dhts { await dht.start() }
        defer { Task { await net.stop() } }
        let (a, b) = (net.dhts[0], net.hosts[1])
        // Speaks another protocol only: ignored.
        a.handle(.identified(peer: b.localPeer, protocols: ["/ipfs/bitswap/1.2.0"], listenAddresses: [b.address]))
        // A public address only does not fit the LAN table: ignored.
        let publicAddress = try Multiaddr("/ip4/8.8.8.8/tcp/4001")
        a.handle(.identified(peer: b.localPeer, protocols: [DHTProtocol.lan], listenAddresses: [publicAddress]))
        #expect(a.tableSize == 0)
        net.hosts[0].peerStore.addAddresses([b.address], for: b.localPeer, ttl: 600)
        a.handle(.identified(peer: b.localPeer, protocols: [DHTProtocol.lan], listenAddresses: [b.address]))
        try await waitUntil { a.tableSize == 1 }
        #expect(a.info().peers == [b.localPeer])
        // A peer that stops speaking the protocol leaves the table.
        a.handle(.identified(peer: b.localPeer, protocols: [], listenAddresses: [b.address]))
        #expect(a.tableSize == 0)
    }

    @Test func hostileCloserPeerFloodIsBounded() async throws {
        let net = DHTTestNet(count: 12)
        await net.start()
        defer { Task { await net.stop() } }
        // A hostile server answers every FIND_NODE with 10,000 fake peers (with addresses).
        let hostile = net.network.makeHost()
        let fakes = (0..<10_000).map { i in
            DHTMessage.Peer(id: PrivateKey.generateEd25519().publicKey.peerID,
                            addresses: [(try? Multiaddr("/ip4/127.0.0.1/tcp/\(20_000 + i % 1000)")) ?? hostile.address])
        }
        let flood = DHTMessage(kind: .findNode, closerPeers: fakes).encoded()
        #expect(flood.count < DHTProtocol.maxMessageBytes)
        await hostile.setHandler(DHTProtocol.lan) { incoming in
            let reader = StreamReader(incoming.stream)
            while (try? await reader.readLengthPrefixed(maxLength: 1 << 20)) != nil {
                try? await incoming.stream.writeLengthPrefixed(flood)
            }
            await incoming.stream.close()
        }
        net.dhts[0].addPeer(hostile.localPeer, addresses: [hostile.address])
        let key = Array("anything".utf8)
        let outcome = await net.dhts[0].closestPeers(to: key)
        // The lookup ends; fake peers (unreachable) never make the result, honest ones do.
        let honest = Set(net.hosts.map(\.localPeer))
        #expect(!outcome.closest.isEmpty)
        #expect(outcome.closest.allSatisfy { honest.contains($0) || $0 == hostile.localPeer })
        #expect(outcome.requests < 400)
    }

    @Test func serverRefusesBadRequestsAndKeepsServing() async throws {
        let net = DHTTestNet(count: 3)
        await net.start()
        defer { Task { await net.stop() } }
        let server = net.hosts[0].localPeer
        let client = net.hosts[1]
        func raw(_ frames: [[UInt8]]) async throws -> [UInt8]? {
            let (stream, _) = try await client.newStream(to: server, protocols: [DHTProtocol.lan])
            for f in frames { try await stream.write(f) }
            let reader = StreamReader(stream)
            let answer = try? await reader.readLengthPrefixed(maxLength: DHTProtocol.maxMessageBytes)
            await stream.reset()
            return answer
        }
        // A length prefix over 4 MiB: the stream is reset without an answer.
        #expect(try await raw([Varint.encode(UInt64(5 << 20))]) == nil)
        // Garbage that is not a protobuf message.
        #expect(try await raw([Varint.encode(3) + [0xff, 0xff, 0xff]]) == nil)
        // ADD_PROVIDER for someone else's peer ID is refused (no record stored).
        let stranger = PrivateKey.generateEd25519().publicKey.peerID
        let key = try Multihash.hash([1, 2, 3], with: .sha2_256).bytes
        let add = DHTMessage(kind: .addProvider, key: key, providerPeers: [DHTMessage.Peer(id: stranger, addresses: [client.address])])
        _ = try await raw([Varint.encode(UInt64(add.encoded().count)) + add.encoded()])
        let providers = try net.dhts[0].providers.providers(for: key, now: Date().timeIntervalSince1970)
        #expect(providers.isEmpty)
        // A provider key over 80 bytes is refused.
        let long = DHTMessage(kind: .getProviders, key: [UInt8](repeating: 7, count: 81)).encoded()
        #expect(try await raw([Varint.encode(UInt64(long.count)) + long]) == nil)
        // The server still answers a normal request.
        let pong = try await net.dhts[1].request(DHTMessage(kind: .ping), to: server)
        #expect(pong?.kind == .ping)
        #expect(net.dhts[0].info().stats.inboundRefused >= 3)
    }
}

@Suite(.onBlockingPool) struct RequestBudgetTests {
    @Test func burstThenRate() {
        var budget = RequestBudget()
        let peer = PrivateKey.generateEd25519().publicKey.peerID
        let other = PrivateKey.generateEd25519().publicKey.peerID
        var outcomes: [Bool] = []
        for _ in 0..<6 { outcomes.append(budget.take(peer, now: 0, rate: 2, burst: 5)) }
        #expect(outcomes == [true, true, true, true, true, false])
        let otherTook = budget.take(other, now: 0, rate: 2, burst: 5)
        #expect(otherTook)
        // Half a second at 2 per second earns one more.
        let later = [budget.take(peer, now: 0.5, rate: 2, burst: 5), budget.take(peer, now: 0.5, rate: 2, burst: 5)]
        #expect(later == [true, false])
    }

    @Test func trackedPeersAreBounded() {
        var budget = RequestBudget()
        for i in 0..<10_000 {
            let peer = PrivateKey.generateEd25519().publicKey.peerID
            let took = budget.take(peer, now: Double(i), rate: 1, burst: 1)
            #expect(took)
        }
    }
}

@Suite("DHT request floods", .onBlockingPool)
struct DHTFloodTests {
    @Test func aFloodingPeerIsCutOffOthersAreServed() async throws {
        let net = DHTTestNet(count: 3)
        await net.start()
        defer { Task { await net.stop() } }
        let server = net.hosts[0].localPeer
        let (stream, _) = try await net.hosts[1].newStream(to: server, protocols: [DHTProtocol.lan])
        let ping = DHTMessage(kind: .ping).encoded()
        let reader = StreamReader(stream)
        var answered = 0
        for _ in 0..<20_000 {
            guard (try? await stream.writeLengthPrefixed(ping)) != nil,
                  (try? await reader.readLengthPrefixed(maxLength: 1024)) ?? nil != nil
            else { break }
            answered += 1
        }
        // The burst (2,000) is served, then the stream is reset (20,000 would take far longer
        // than the refill of 500 per second allows).
        #expect(answered >= 2_000 && answered < 20_000)
        let pong = try await net.dhts[2].request(DHTMessage(kind: .ping), to: server)
        #expect(pong?.kind == .ping)
    }
}

/// Polls `condition` (bounded: 30 s, for a loaded machine) for state that changes on another task.
func waitUntil(_ condition: @Sendable () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(30)
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("condition not met within 30 s")
            return
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}
