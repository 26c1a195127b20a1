import Foundation
import Multiformats
import P2PCore
import P2PCrypto

// An in-memory `P2PHost` network for protocol tests (Bitswap, the DHT): hosts connect to each
// other explicitly (or, with `autoConnect`, when a stream is opened, as a real host dials),
// streams are `MemoryByteStream` pairs handed to the remote's handler, a disconnect resets every
// stream between two hosts, and a host may speak only some protocols (an old bitswap peer).
// Connection events go to each host's `onConnectionEvent` (the test harness forwards them to
// `Bitswap.peerConnected` / `peerDisconnected`).

public enum MemoryHostError: Error, Equatable {
    case unknownPeer
    case notConnected
    case unsupportedProtocols
}

public final class MemoryNetwork: @unchecked Sendable {
    /// An unordered pair of peers.
    public struct Link: Hashable {
        let a: PeerID
        let b: PeerID
        init(_ x: PeerID, _ y: PeerID) {
            if x.description < y.description {
                a = x
                b = y
            } else {
                a = y
                b = x
            }
        }
    }

    private let lock = Mutex()
    private var hosts: [PeerID: MemoryHost] = [:]
    private var links: Set<Link> = []
    private var streams: [Link: [HostStream]] = [:]
    private var nextPort = 4001
    private var opened: [(from: PeerID, to: PeerID, protocolID: ProtocolID)] = []
    private var dialOnDemand = false

    /// `autoConnect`: a stream opened to a host that is not connected connects the two first, as a
    /// real host dials a peer whose address it knows (the DHT tests rely on it).
    public init(autoConnect: Bool = false) {
        dialOnDemand = autoConnect
    }

    public var autoConnect: Bool { lock.withLock { dialOnDemand } }

    /// A new host with a fresh Ed25519 identity. `protocols`: the only protocols it speaks (nil: any).
    /// `ip`: the IPv4 address it is known by (each host gets its own port).
    public func makeHost(protocols: Set<ProtocolID>? = nil, ip: String = "127.0.0.1") -> MemoryHost {
        let key = PrivateKey.generateEd25519()
        let port: Int = lock.withLock {
            defer { nextPort += 1 }
            return nextPort
        }
        // A valid literal multiaddr cannot fail to parse.
        let address = (try? Multiaddr("/ip4/\(ip)/tcp/\(port)")) ?? Multiaddr([])
        let host = MemoryHost(key: key, address: address, protocols: protocols, network: self)
        lock.withLock { hosts[host.localPeer] = host }
        return host
    }

    public func host(_ peer: PeerID) -> MemoryHost? { lock.withLock { hosts[peer] } }
    public func host(at address: Multiaddr) -> MemoryHost? {
        lock.withLock { hosts.values.first { $0.address == address } }
    }

    public func isConnected(_ a: PeerID, _ b: PeerID) -> Bool { lock.withLock { links.contains(Link(a, b)) } }

    public func connectedPeers(of peer: PeerID) -> [MemoryHost] {
        lock.withLock {
            links.compactMap { link -> MemoryHost? in
                if link.a == peer { return hosts[link.b] }
                if link.b == peer { return hosts[link.a] }
                return nil
            }
        }
    }

    /// Connects two hosts and tells both (no-op when already connected).
    public func connect(_ x: MemoryHost, _ y: MemoryHost) async {
        let isNew = lock.withLock { links.insert(Link(x.localPeer, y.localPeer)).inserted }
        guard isNew else { return }
        await x.connectionEvent(y.localPeer, connected: true)
        await y.connectionEvent(x.localPeer, connected: true)
    }

    /// Disconnects two hosts: every stream between them is reset, then both are told.
    public func disconnect(_ x: MemoryHost, _ y: MemoryHost) async {
        let link = Link(x.localPeer, y.localPeer)
        let (wasLinked, open): (Bool, [HostStream]) = lock.withLock {
            let was = links.remove(link) != nil
            return (was, streams.removeValue(forKey: link) ?? [])
        }
        for stream in open { await stream.reset() }
        guard wasLinked else { return }
        await x.connectionEvent(y.localPeer, connected: false)
        await y.connectionEvent(x.localPeer, connected: false)
    }

    /// Remembers the two ends of a stream so a disconnect resets them. False if the link is gone.
    public func track(_ ends: [HostStream], between x: PeerID, and y: PeerID) -> Bool {
        lock.withLock {
            let link = Link(x, y)
            guard links.contains(link) else { return false }
            streams[link, default: []].append(contentsOf: ends)
            return true
        }
    }

    public func recordStream(from: PeerID, to: PeerID, protocolID: ProtocolID) {
        lock.withLock { opened.append((from, to, protocolID)) }
    }

    /// The protocols of the streams `from` opened to `to`, in order.
    public func negotiated(from: PeerID, to: PeerID) -> [ProtocolID] {
        lock.withLock { opened.filter { $0.from == from && $0.to == to }.map(\.protocolID) }
    }

    /// Stream ends opened between two hosts so far (two per stream).
    public func streamCount(between x: PeerID, and y: PeerID) -> Int {
        lock.withLock { streams[Link(x, y)]?.count ?? 0 }
    }
}

public final class MemoryHost: P2PHost, @unchecked Sendable {
    public let key: PrivateKey
    public let localPeer: PeerID
    public let peerStore: any PeerStore = TestPeerStore()
    public let address: Multiaddr
    /// The protocols this host speaks (nil: any it has a handler for).
    public let protocols: Set<ProtocolID>?
    private weak var network: MemoryNetwork?
    private let lock = Mutex()
    private var handlers: [ProtocolID: StreamHandler] = [:]
    private var eventHandler: (@Sendable (PeerID, Bool) async -> Void)?
    private var observers: [@Sendable (HostEvent) -> Void] = []
    /// Writes allowed before the host's streams stall (nil: unlimited).
    private var writeAllowance: Int?
    private var stalledWrites = 0
    private var writes = 0

    public init(key: PrivateKey, address: Multiaddr, protocols: Set<ProtocolID>?, network: MemoryNetwork) {
        self.key = key
        self.localPeer = PeerID(publicKey: key.publicKey)
        self.address = address
        self.protocols = protocols
        self.network = network
    }

    public func speaks(_ protocolID: ProtocolID) -> Bool { protocols?.contains(protocolID) ?? true }

    /// Called on every connection and disconnection of this host.
    public func onConnectionEvent(_ handler: @escaping @Sendable (PeerID, Bool) async -> Void) {
        lock.withLock { eventHandler = handler }
    }

    public func connectionEvent(_ peer: PeerID, connected: Bool) async {
        if let handler = lock.withLock({ eventHandler }) { await handler(peer, connected) }
    }

    // MARK: Write stalls (a provider that goes quiet)

    /// After `count` more writes, writes on this host's streams wait until `resumeWrites()` or a reset.
    public func stallWrites(after count: Int) { lock.withLock { writeAllowance = count } }
    public func resumeWrites() { lock.withLock { writeAllowance = nil } }
    /// Writes currently waiting because of a stall.
    public var stalledWriteCount: Int { lock.withLock { stalledWrites } }
    /// Writes made on this host's streams.
    public var writeCount: Int { lock.withLock { writes } }

    /// Waits while the host's writes are stalled; false if `isReset()` turns true meanwhile.
    public func awaitWritePermission(isReset: @Sendable () -> Bool) async throws {
        var counted = false
        defer { if counted { lock.withLock { stalledWrites -= 1 } } }
        while true {
            let go: Bool = lock.withLock {
                guard let allowance = writeAllowance else {
                    writes += 1
                    return true
                }
                if allowance > 0 {
                    writeAllowance = allowance - 1
                    writes += 1
                    return true
                }
                if !counted {
                    counted = true
                    stalledWrites += 1
                }
                return false
            }
            if go { return }
            if isReset() { throw StreamError.reset }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    // MARK: P2PHost

    public func listenAddresses() async -> [Multiaddr] { [address] }

    public func addEventObserver(_ observer: @escaping @Sendable (HostEvent) -> Void) async {
        lock.withLock { observers.append(observer) }
    }

    public func emit(_ event: HostEvent) async {
        for observer in lock.withLock({ observers }) { observer(event) }
    }

    public func setHandler(_ protocolID: ProtocolID, _ handler: @escaping StreamHandler) async {
        guard speaks(protocolID) else { return }
        lock.withLock { handlers[protocolID] = handler }
    }

    public func removeHandler(_ protocolID: ProtocolID) async { lock.withLock { handlers[protocolID] = nil } }

    public func supportedProtocols() async -> [ProtocolID] { lock.withLock { handlers.keys.sorted() } }

    public func handler(for protocolID: ProtocolID) -> StreamHandler? { lock.withLock { handlers[protocolID] } }

    public func newStream(to peer: PeerID, protocols offered: [ProtocolID]) async throws -> (stream: any ByteStream, protocolID: ProtocolID) {
        guard let network, let remote = network.host(peer) else { throw MemoryHostError.unknownPeer }
        if !network.isConnected(localPeer, peer) && network.autoConnect { await network.connect(self, remote) }
        guard network.isConnected(localPeer, peer) else { throw MemoryHostError.notConnected }
        for proto in offered where speaks(proto) {
            guard let handler = remote.handler(for: proto) else { continue }
            let (near, far) = MemoryByteStream.pair(capacity: 256 * 1024)
            let local = HostStream(near, owner: self)
            let other = HostStream(far, owner: remote)
            guard network.track([local, other], between: localPeer, and: peer) else {
                throw MemoryHostError.notConnected
            }
            network.recordStream(from: localPeer, to: peer, protocolID: proto)
            let incoming = IncomingStream(stream: other, protocolID: proto, remotePeer: localPeer, remoteAddress: address)
            Task { await handler(incoming) }
            return (local, proto)
        }
        throw MemoryHostError.unsupportedProtocols
    }

    @discardableResult
    public func connect(_ address: Multiaddr) async throws -> PeerID {
        guard let network, let remote = network.host(at: address) else { throw MemoryHostError.unknownPeer }
        await network.connect(self, remote)
        return remote.localPeer
    }

    public func disconnect(_ peer: PeerID) async {
        guard let network, let remote = network.host(peer) else { return }
        await network.disconnect(self, remote)
    }

    public func connections() async -> [ConnectionInfo] {
        guard let network else { return [] }
        return network.connectedPeers(of: localPeer).map { other in
            ConnectionInfo(
                remotePeer: other.localPeer, remoteAddress: other.address, localAddress: address,
                direction: .outbound, security: .noise, muxer: .yamux, openedAt: 0)
        }
    }
}

/// One end of an in-memory stream, owned by a host (whose write stalls it obeys).
public final class HostStream: ByteStream, Sendable {
    private let base: MemoryByteStream
    private unowned let owner: MemoryHost
    private let wasReset = Locked(false)

    public init(_ base: MemoryByteStream, owner: MemoryHost) {
        self.base = base
        self.owner = owner
    }

    public var isReset: Bool { wasReset.withLock { $0 } }

    public func read() async throws -> [UInt8]? { try await base.read() }

    public func write(_ bytes: [UInt8]) async throws {
        try await owner.awaitWritePermission(isReset: { [self] in isReset })
        try await base.write(bytes)
    }

    public func closeWrite() async throws { try await base.closeWrite() }
    public func close() async { await base.close() }

    public func reset() async {
        wasReset.withLock { $0 = true }
        await base.reset()
    }
}

/// The least `PeerStore` a host needs (bitswap does not use it).
public final class TestPeerStore: PeerStore, Sendable {
    public init() {}
    private struct Tables {
        var addresses: [PeerID: [Multiaddr]] = [:]
        var keys: [PeerID: PublicKey] = [:]
        var protocolLists: [PeerID: [ProtocolID]] = [:]
        var metadata: [PeerID: [String: String]] = [:]
    }
    private let tables = Locked(Tables())

    public func addAddresses(_ list: [Multiaddr], for peer: PeerID, ttl: Double) {
        tables.withLock { t in t.addresses[peer, default: []].append(contentsOf: list.filter { !(t.addresses[peer] ?? []).contains($0) }) }
    }
    public func setAddresses(_ list: [Multiaddr], for peer: PeerID, ttl: Double) { tables.withLock { $0.addresses[peer] = list } }
    public func addresses(of peer: PeerID) -> [Multiaddr] { tables.withLock { $0.addresses[peer] ?? [] } }
    public func setPublicKey(_ key: PublicKey, for peer: PeerID) { tables.withLock { $0.keys[peer] = key } }
    public func publicKey(of peer: PeerID) -> PublicKey? { tables.withLock { $0.keys[peer] } }
    public func setProtocols(_ protocols: [ProtocolID], for peer: PeerID) { tables.withLock { $0.protocolLists[peer] = protocols } }
    public func protocols(of peer: PeerID) -> [ProtocolID] { tables.withLock { $0.protocolLists[peer] ?? [] } }
    public func setMetadata(_ key: String, _ value: String, for peer: PeerID) { tables.withLock { $0.metadata[peer, default: [:]][key] = value } }
    public func metadata(_ key: String, of peer: PeerID) -> String? { tables.withLock { $0.metadata[peer]?[key] } }
    public func peers() -> [PeerID] {
        tables.withLock { t in Array(Set(t.addresses.keys).union(t.keys.keys).union(t.protocolLists.keys).union(t.metadata.keys)) }
    }
    public func remove(_ peer: PeerID) {
        tables.withLock { t in
            t.addresses[peer] = nil
            t.keys[peer] = nil
            t.protocolLists[peer] = nil
            t.metadata[peer] = nil
        }
    }
}
