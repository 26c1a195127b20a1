import Foundation
import Multiformats
import P2PCore
import P2PCrypto
import Testing

@testable import P2PHost
import TestSupport

// An in-memory fake `P2PHost` for the identify and ping tests: hosts on one `IDFakeNetwork` open
// streams to each other over `MemoryByteStream.pair()`, calling the remote's registered handler.

enum IDFakeError: Error, Equatable {
    case unknownPeer
    case unsupported
}

final class IDFakeNetwork: @unchecked Sendable {
    private let lock = Mutex()
    private var hosts: [PeerID: IDFakeHost] = [:]

    /// The test is over: its hosts drop their handlers and observers (services registered on a
    /// host are kept alive by it, as on a real host, and would otherwise outlive the test).
    deinit {
        for host in hosts.values { host.removeAll() }
    }

    func add(_ host: IDFakeHost) { lock.withLock { hosts[host.localPeer] = host } }
    func host(_ peer: PeerID) -> IDFakeHost? { lock.withLock { hosts[peer] } }
    func all() -> [IDFakeHost] { lock.withLock { Array(hosts.values) } }

    /// A new host with a fresh Ed25519 identity on this network.
    func makeHost(port: Int, key: PrivateKey = .generateEd25519()) throws -> IDFakeHost {
        let host = IDFakeHost(
            key: key, address: try Multiaddr("/ip4/127.0.0.1/tcp/\(port)"), network: self)
        add(host)
        return host
    }
}

final class IDFakeHost: P2PHost, @unchecked Sendable {
    let key: PrivateKey
    let localPeer: PeerID
    let peerStore: any PeerStore
    let address: Multiaddr
    /// Weak: the network keeps its hosts (a strong reference back was a cycle that kept every
    /// test's hosts alive to the end of the run: LeakSanitizer).
    private weak let network: IDFakeNetwork?
    private let lock = Mutex()
    private var handlers: [ProtocolID: StreamHandler] = [:]
    private var listen: [Multiaddr]
    private var observers: [@Sendable (HostEvent) -> Void] = []
    /// Every event emitted on this host (identify's `.identified` among them).
    var emitted: [HostEvent] { lock.withLock { events } }
    private var events: [HostEvent] = []

    init(key: PrivateKey, address: Multiaddr, network: IDFakeNetwork) {
        self.key = key
        self.localPeer = PeerID(publicKey: key.publicKey)
        self.peerStore = MemoryPeerStore()
        self.address = address
        self.network = network
        self.listen = [address]
    }

    func setListenAddresses(_ addresses: [Multiaddr]) { lock.withLock { listen = addresses } }
    func removeAll() {
        lock.withLock {
            handlers.removeAll()
            observers.removeAll()
        }
    }
    func listenAddresses() async -> [Multiaddr] { lock.withLock { listen } }
    func setHandler(_ protocolID: ProtocolID, _ handler: @escaping StreamHandler) async {
        lock.withLock { handlers[protocolID] = handler }
    }
    func removeHandler(_ protocolID: ProtocolID) async { lock.withLock { handlers[protocolID] = nil } }
    func supportedProtocols() async -> [ProtocolID] { lock.withLock { handlers.keys.sorted() } }
    func handler(for protocolID: ProtocolID) -> StreamHandler? { lock.withLock { handlers[protocolID] } }

    func newStream(to peer: PeerID, protocols: [ProtocolID]) async throws -> (stream: any ByteStream, protocolID: ProtocolID) {
        guard let remote = network?.host(peer) else { throw IDFakeError.unknownPeer }
        for proto in protocols {
            guard let handler = remote.handler(for: proto) else { continue }
            let (local, far) = MemoryByteStream.pair(capacity: 64 * 1024)
            let incoming = IncomingStream(stream: far, protocolID: proto, remotePeer: localPeer, remoteAddress: address)
            Task { await handler(incoming) }
            return (local, proto)
        }
        throw IDFakeError.unsupported
    }

    func connect(_ address: Multiaddr) async throws -> PeerID {
        guard let host = network?.all().first(where: { $0.address == address }) else { throw IDFakeError.unknownPeer }
        return host.localPeer
    }
    func disconnect(_ peer: PeerID) async {}
    func addEventObserver(_ observer: @escaping @Sendable (HostEvent) -> Void) async {
        lock.withLock { observers.append(observer) }
    }
    func emit(_ event: HostEvent) async {
        let all = lock.withLock { () -> [@Sendable (HostEvent) -> Void] in
            events.append(event)
            return observers
        }
        for o in all { o(event) }
    }
    func connections() async -> [ConnectionInfo] {
        (network?.all() ?? []).filter { $0.localPeer != localPeer }.map { other in
            ConnectionInfo(
                remotePeer: other.localPeer, remoteAddress: other.address, localAddress: address, direction: .outbound,
                security: .noise, muxer: .yamux, openedAt: 0)
        }
    }
}

@Suite("Identify fake host", .onBlockingPool)
struct IdentifyFakeHostTests {
    @Test func fakeHostsOpenStreamsToHandlers() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 1001)
        let b = try network.makeHost(port: 1002)
        await b.setHandler("/echo/1.0.0") { incoming in
            while let chunk = try? await incoming.stream.read() { try? await incoming.stream.write(chunk) }
            await incoming.stream.close()
        }
        let (stream, proto) = try await a.newStream(to: b.localPeer, protocols: ["/nope", "/echo/1.0.0"])
        #expect(proto == "/echo/1.0.0")
        try await stream.write([1, 2, 3])
        #expect(try await stream.read() == [1, 2, 3])
        await stream.close()
        await #expect(throws: IDFakeError.unsupported) { try await a.newStream(to: b.localPeer, protocols: ["/nope"]) }
    }
}
