import Foundation
import Logging
import Multiformats
import NIOCore
import NIOPosix
import P2PCore
import P2PCrypto
import P2PMux

/// Failures of the host.
public enum HostError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The host is not running.
    case notRunning
    /// No known address of the peer can be dialled.
    case noAddresses(PeerID)
    /// Dialling the peer failed recently; retry after the backoff.
    case dialBackoff(PeerID, secondsLeft: Double)
    /// Every address failed; the last reason is given.
    case dialFailed(PeerID?, reason: String)
    /// Dialling ourselves.
    case dialSelf
    /// The connection to the peer closed before the stream opened.
    case connectionClosed(PeerID)

    public var description: String {
        switch self {
        case .notRunning: return "host is not running"
        case .noAddresses(let p): return "no dialable addresses for \(p)"
        case .dialBackoff(let p, let s): return "dial to \(p) backed off (\(Int(s.rounded(.up))) s left)"
        case .dialFailed(let p, let r): return "dial to \(p.map { "\($0)" } ?? "address") failed: \(r)"
        case .dialSelf: return "refusing to dial ourselves"
        case .connectionClosed(let p): return "connection to \(p) closed"
        }
    }
}

/// The libp2p host: TCP listeners, the upgrader, a swarm holding connections (reused, inbound and
/// outbound; concurrent dials to a peer coalesce), protocol handlers negotiated with
/// multistream-select, limits, dial backoff and the connection manager.
public actor LibP2PHost: P2PHost {
    public nonisolated let localPeer: PeerID
    public nonisolated let peerStore: any PeerStore
    private let config: HostConfig
    private let logger: Logger
    private let transport: TCPTransport
    private let upgrader: Upgrader

    private final class Connection: Sendable {
        let id: Int
        let info: ConnectionInfo
        let muxed: any MuxedConnection
        init(id: Int, info: ConnectionInfo, muxed: any MuxedConnection) {
            self.id = id
            self.info = info
            self.muxed = muxed
        }
    }

    private var running = false
    private var listeners: [TCPListener] = []
    private var connectionsByPeer: [PeerID: [Connection]] = [:]
    private var nextConnectionID = 0
    private var pendingDials: [PeerID: Task<Connection, any Error>] = [:]
    private var backoff: [PeerID: (until: Double, failures: Int)] = [:]
    private var handlers: [ProtocolID: StreamHandler] = [:]
    private var observers: [@Sendable (HostEvent) -> Void] = []
    /// Inbound connections in their handshake, by a local number, with when they arrived.
    private var pendingInbound: [UInt64: (raw: TCPConnection, since: ContinuousClock.Instant)] = [:]
    private var nextPendingID: UInt64 = 0
    private var inboundEstablished = 0
    private var streamsPerPeer: [PeerID: Int] = [:]
    private var streamsPerProtocol: [ProtocolID: Int] = [:]
    private var streamsTotal = 0
    /// What the muxers buffer for each peer, against `Limits.maxPendingInboundBytes(PerPeer)`.
    public nonisolated let inboundBytes: InboundBytesBudget
    private var refusals = Refusals()
    private var manager: ConnectionManager
    private var peerRouting: (any PeerRouting)?
    private var tasks: [Int: Task<Void, Never>] = [:]

    /// `group` runs the sockets.
    public init(config: HostConfig, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.config = config
        self.localPeer = config.identity.publicKey.peerID
        self.peerStore = config.peerStore
        var logger = config.logger
        logger[metadataKey: "host"] = "\(config.identity.publicKey.peerID)"
        self.logger = logger
        self.transport = TCPTransport(group: group, logger: logger)
        let budget = InboundBytesBudget(
            systemLimit: config.limits.maxPendingInboundBytes, peerLimit: config.limits.maxPendingInboundBytesPerPeer)
        self.inboundBytes = budget
        self.upgrader = Upgrader(
            security: config.security, muxers: config.muxers, privateNetwork: config.privateNetwork,
            timeout: config.negotiationTimeout, inboundBytes: budget, logger: logger)
        let gc = config.connManager.gracePeriod.components
        self.manager = ConnectionManager(
            lowWater: config.connManager.lowWater, highWater: config.connManager.highWater,
            gracePeriod: Double(gc.seconds) + Double(gc.attoseconds) / 1e18)
    }

    // MARK: lifecycle

    /// Binds every listen address (all or nothing).
    public func start() async throws {
        guard !running else { return }
        running = true
        do {
            for address in config.listenAddresses {
                let listener = try await transport.listen(address) { [weak self] raw in
                    guard let self else { Task { await raw.reset() }; return }
                    Task { await self.handleInbound(raw) }
                }
                listeners.append(listener)
            }
        } catch {
            await stop()
            throw error
        }
    }

    /// Closes listeners and every connection.
    public func stop() async {
        running = false
        let ls = listeners
        listeners = []
        for l in ls { await l.close() }
        for task in pendingDials.values { task.cancel() }
        pendingDials = [:]
        let all = connectionsByPeer.values.flatMap { $0 }
        for c in all { await c.muxed.close() }
        for c in all { remove(c) }
        let running = tasks.values
        tasks = [:]
        for t in running { t.cancel() }
    }

    // MARK: P2PHost

    /// The bound listen addresses, with an unspecified IP (0.0.0.0, ::) replaced by this machine's
    /// interface addresses (as go-libp2p does), so identify never advertises an address nobody can dial.
    public func listenAddresses() async -> [Multiaddr] {
        Self.expandUnspecified(listeners.map(\.address), interfaces: Self.interfaceAddresses())
    }

    /// Replaces `/ip4/0.0.0.0/…` and `/ip6/::/…` by one address per interface IP of that family.
    static func expandUnspecified(_ addresses: [Multiaddr], interfaces: [Multiaddr]) -> [Multiaddr] {
        var out: [Multiaddr] = []
        for address in addresses {
            guard let first = address.components.first,
                (first.protocol == .ip4 && first.valueString == "0.0.0.0") || (first.protocol == .ip6 && first.valueString == "::")
            else {
                out.append(address)
                continue
            }
            let rest = Array(address.components.dropFirst())
            let matching = interfaces.filter { $0.components.first?.protocol == first.protocol }
            if matching.isEmpty { out.append(address) }
            for ip in matching { out.append(Multiaddr(ip.components + rest)) }
        }
        var seen = Set<Multiaddr>()
        return out.filter { seen.insert($0).inserted }
    }

    /// `/ip4/A` and `/ip6/A` for every interface address (IPv6 link-local skipped: it needs a zone).
    static func interfaceAddresses() -> [Multiaddr] {
        guard let devices = try? System.enumerateDevices() else { return [] }
        var out: [Multiaddr] = []
        for device in devices {
            guard let socketAddress = device.address, let ip = socketAddress.ipAddress else { continue }
            switch socketAddress {
            case .v4: if let a = try? Multiaddr("/ip4/\(ip)") { out.append(a) }
            case .v6:
                if ip.lowercased().hasPrefix("fe80") { continue }
                if let a = try? Multiaddr("/ip6/\(ip)") { out.append(a) }
            default: continue
            }
        }
        return out
    }

    public func setHandler(_ protocolID: ProtocolID, _ handler: @escaping StreamHandler) async {
        handlers[protocolID] = handler
    }

    public func removeHandler(_ protocolID: ProtocolID) async { handlers[protocolID] = nil }

    public func supportedProtocols() async -> [ProtocolID] { handlers.keys.sorted() }

    public func connections() async -> [ConnectionInfo] {
        connectionsByPeer.values.flatMap { $0 }.map(\.info).sorted { $0.openedAt < $1.openedAt }
    }

    /// Registers a callback for host events (called on the host's executor; keep it quick).
    public func addEventObserver(_ observer: @escaping @Sendable (HostEvent) -> Void) {
        observers.append(observer)
    }

    public func emit(_ event: HostEvent) { notify(event) }

    /// Where to look up a peer that has no known address when a stream to it is asked for (the DHT).
    public func setPeerRouting(_ routing: (any PeerRouting)?) { peerRouting = routing }

    /// Protects `peer` from the connection manager under `tag`.
    public func protect(_ peer: PeerID, tag: String) { manager.protect(peer, tag: tag) }

    /// Removes a protection; returns whether other tags still protect the peer.
    @discardableResult
    public func unprotect(_ peer: PeerID, tag: String) -> Bool { manager.unprotect(peer, tag: tag) }

    @discardableResult
    public func connect(_ address: Multiaddr) async throws -> PeerID {
        guard running else { throw HostError.notRunning }
        var expected: PeerID?
        if let mh = address.peerIDMultihash {
            do {
                expected = try PeerID(bytes: mh)
            } catch {
                throw HostError.dialFailed(nil, reason: "bad /p2p/ component in \(address): \(error)")
            }
        }
        if let expected {
            if expected == localPeer { throw HostError.dialSelf }
            if let existing = connectionsByPeer[expected]?.first { return existing.info.remotePeer }
            peerStore.addAddresses([address.decapsulate(protocol: .p2p)], for: expected, ttl: AddressTTL.temporary)
            return try await dialCoalesced(expected, addresses: [address]).info.remotePeer
        }
        let conn = try await dialAddress(address, expected: nil)
        return conn.info.remotePeer
    }

    public func disconnect(_ peer: PeerID) async {
        let conns = connectionsByPeer[peer] ?? []
        for c in conns { await c.muxed.close() }
        for c in conns { remove(c) }
    }

    public func newStream(to peer: PeerID, protocols: [ProtocolID]) async throws -> (stream: any ByteStream, protocolID: ProtocolID) {
        guard running else { throw HostError.notRunning }
        let conn = try await connection(to: peer)
        let stream = try await conn.muxed.openStream()
        do {
            let (proto, negotiated) = try await withTimeout(
                config.negotiationTimeout, what: "protocol negotiation with \(peer)", onTimeout: { await stream.reset() }
            ) {
                try await Multistream.negotiateOutbound(stream, protocols: protocols)
            }
            return (negotiated, proto)
        } catch {
            await stream.reset()
            throw error
        }
    }

    // MARK: dialling

    private func connection(to peer: PeerID) async throws -> Connection {
        if let existing = connectionsByPeer[peer]?.first(where: { !$0.muxed.isClosed }) { return existing }
        if peer == localPeer { throw HostError.dialSelf }
        var addresses = peerStore.addresses(of: peer).filter(TCPTransport.canDial)
        if addresses.isEmpty, let routing = peerRouting, !RoutingScope.isRouting {
            // No address: ask peer routing (never from inside a lookup, which would recurse).
            do {
                let found = try await RoutingScope.$isRouting.withValue(true) { try await routing.findPeer(peer) }
                peerStore.addAddresses(found.addresses, for: peer, ttl: AddressTTL.temporary)
                addresses = found.addresses.filter(TCPTransport.canDial)
            } catch {
                logger.debug("peer routing found no address", metadata: ["peer": "\(peer)", "reason": "\(error)"])
            }
        }
        guard !addresses.isEmpty else { throw HostError.noAddresses(peer) }
        return try await dialCoalesced(peer, addresses: addresses)
    }

    /// One dial per peer at a time; concurrent callers share it.
    private func dialCoalesced(_ peer: PeerID, addresses: [Multiaddr]) async throws -> Connection {
        if let pending = pendingDials[peer] { return try await pending.value }
        if let b = backoff[peer] {
            let left = b.until - Self.now()
            if left > 0 { throw HostError.dialBackoff(peer, secondsLeft: left) }
        }
        let task = Task { () async throws -> Connection in
            var lastError: any Error = HostError.noAddresses(peer)
            for address in addresses {
                do {
                    return try await self.dialAddress(address, expected: peer)
                } catch {
                    lastError = error
                }
            }
            throw lastError
        }
        pendingDials[peer] = task
        defer { pendingDials[peer] = nil }
        do {
            let conn = try await task.value
            backoff[peer] = nil
            return conn
        } catch {
            let failures = (backoff[peer]?.failures ?? 0) + 1
            let bc = config.dialBackoff.components
            let base = Double(bc.seconds) + Double(bc.attoseconds) / 1e18
            let delay = min(300, base * Double(1 << min(failures - 1, 16)))
            backoff[peer] = (Self.now() + delay, failures)
            logger.info("dial failed", metadata: ["peer": "\(peer)", "reason": "\(error)", "backoff_s": "\(delay)"])
            throw HostError.dialFailed(peer, reason: "\(error)")
        }
    }

    private func dialAddress(_ address: Multiaddr, expected: PeerID?) async throws -> Connection {
        let raw: TCPConnection
        do {
            raw = try await transport.dial(address, timeout: config.dialTimeout)
        } catch {
            throw HostError.dialFailed(expected, reason: "\(error)")
        }
        let upgraded: UpgradedConnection
        do {
            upgraded = try await upgrader.upgradeOutbound(raw, remotePeer: expected)
        } catch {
            await raw.reset()
            logger.warning(
                "outbound connection failed",
                metadata: ["peer": "\(expected.map { "\($0)" } ?? "?")", "address": "\(address)", "reason": "\(error)"])
            throw error
        }
        guard let conn = register(upgraded, raw: raw, direction: .outbound) else {
            throw HostError.connectionClosed(upgraded.remotePeer)
        }
        return conn
    }

    // MARK: inbound

    private func handleInbound(_ raw: TCPConnection) async {
        guard running else {
            await raw.reset()
            return
        }
        guard inboundEstablished < config.limits.maxInboundConnections else {
            refusals.connsInbound.record(nil)
            logger.warning("rejected inbound connection", metadata: ["address": "\(raw.remoteAddress)", "reason": "inbound connection limit \(config.limits.maxInboundConnections) reached"])
            await raw.reset()
            return
        }
        // Connections that have not authenticated have a bound of their own. When it is
        // reached, the one waiting longest is dropped to make room: sockets that open and say
        // nothing cannot keep a real peer out, and each one is dropped at the deadline anyway.
        if pendingInbound.count >= config.limits.maxInboundPending,
            let oldest = pendingInbound.min(by: { $0.value.since < $1.value.since })
        {
            pendingInbound[oldest.key] = nil
            refusals.pendingHandshakes.record(nil)
            logger.info("dropped the oldest pending inbound handshake", metadata: ["address": "\(oldest.value.raw.remoteAddress)", "reason": "\(config.limits.maxInboundPending) handshakes pending"])
            let evicted = oldest.value.raw
            Task { await evicted.reset() }
        }
        nextPendingID &+= 1
        let pendingID = nextPendingID
        pendingInbound[pendingID] = (raw, ContinuousClock.now)
        let upgrader = self.upgrader
        let result: Result<UpgradedConnection, any Error>
        do {
            let upgraded = try await withTimeout(
                config.limits.inboundHandshakeTimeout, what: "inbound handshake", onTimeout: { await raw.reset() }
            ) {
                try await upgrader.upgradeInbound(raw)
            }
            result = .success(upgraded)
        } catch {
            result = .failure(error)
        }
        pendingInbound[pendingID] = nil
        switch result {
        case .success(let upgraded):
            guard inboundEstablished < config.limits.maxInboundConnections else {
                refusals.connsInbound.record(upgraded.remotePeer)
                logger.warning("rejected inbound connection", metadata: ["peer": "\(upgraded.remotePeer)", "address": "\(raw.remoteAddress)", "reason": "inbound connection limit reached"])
                await upgraded.connection.close()
                return
            }
            // One peer may not take the whole inbound budget (go-libp2p's per-peer limit).
            let fromPeer = connectionsByPeer[upgraded.remotePeer, default: []].filter { $0.info.direction == .inbound }.count
            guard fromPeer < config.limits.maxInboundConnectionsPerPeer else {
                refusals.peerConnsInbound.record(upgraded.remotePeer)
                logger.warning("rejected inbound connection", metadata: ["peer": "\(upgraded.remotePeer)", "address": "\(raw.remoteAddress)", "reason": "per-peer inbound connection limit \(config.limits.maxInboundConnectionsPerPeer) reached"])
                await upgraded.connection.close()
                return
            }
            _ = register(upgraded, raw: raw, direction: .inbound)
        case .failure(let error):
            logger.warning("inbound connection failed", metadata: ["address": "\(raw.remoteAddress)", "reason": "\(error)"])
            await raw.reset()
        }
    }

    // MARK: connection table

    private func register(_ upgraded: UpgradedConnection, raw: TCPConnection, direction: Direction) -> Connection? {
        guard running else {
            Task { await upgraded.connection.close() }
            return nil
        }
        let info = ConnectionInfo(
            remotePeer: upgraded.remotePeer, remoteAddress: raw.remoteAddress, localAddress: raw.localAddress,
            direction: direction, security: upgraded.security, muxer: upgraded.muxer, openedAt: Self.now())
        nextConnectionID += 1
        let conn = Connection(id: nextConnectionID, info: info, muxed: upgraded.connection)
        connectionsByPeer[info.remotePeer, default: []].append(conn)
        if direction == .inbound { inboundEstablished += 1 }
        peerStore.setPublicKey(upgraded.remotePublicKey, for: info.remotePeer)
        if direction == .outbound {
            peerStore.addAddresses([info.remoteAddress], for: info.remotePeer, ttl: AddressTTL.connected)
        }
        logger.debug("connected", metadata: [
            "peer": "\(info.remotePeer)", "address": "\(info.remoteAddress)", "direction": "\(direction.rawValue)",
            "security": "\(info.security)", "muxer": "\(info.muxer)",
        ])
        let id = conn.id
        tasks[id] = Task { [weak self] in
            await self?.acceptLoop(conn)
        }
        notify(.connected(info))
        trimIfNeeded()
        return conn
    }

    private func remove(_ conn: Connection) {
        guard var list = connectionsByPeer[conn.info.remotePeer],
              let index = list.firstIndex(where: { $0.id == conn.id })
        else { return }
        list.remove(at: index)
        connectionsByPeer[conn.info.remotePeer] = list.isEmpty ? nil : list
        if conn.info.direction == .inbound { inboundEstablished -= 1 }
        tasks[conn.id] = nil
        logger.debug("disconnected", metadata: ["peer": "\(conn.info.remotePeer)"])
        notify(.disconnected(conn.info))
    }

    private func notify(_ event: HostEvent) {
        for o in observers { o(event) }
    }

    private func acceptLoop(_ conn: Connection) async {
        while true {
            let next: (any MuxedStream)?
            do {
                next = try await conn.muxed.acceptStream()
            } catch {
                logger.debug("accept ended", metadata: ["peer": "\(conn.info.remotePeer)", "reason": "\(error)"])
                next = nil
            }
            guard let stream = next else { break }
            Task { [weak self] in await self?.handleStream(stream, on: conn) }
        }
        await conn.muxed.close()
        remove(conn)
    }

    private func handleStream(_ stream: any MuxedStream, on conn: Connection) async {
        let peer = conn.info.remotePeer
        let supported = handlers.keys.sorted()
        let negotiated: (ProtocolID, any ByteStream)
        do {
            negotiated = try await withTimeout(
                config.negotiationTimeout, what: "inbound protocol negotiation", onTimeout: { await stream.reset() }
            ) {
                try await Multistream.negotiateInbound(stream, supported: supported)
            }
        } catch {
            logger.debug("inbound stream negotiation failed", metadata: ["peer": "\(peer)", "reason": "\(error)"])
            await stream.reset()
            return
        }
        let (proto, negotiatedStream) = negotiated
        guard let handler = handlers[proto] else {
            await stream.reset()
            return
        }
        let perPeer = streamsPerPeer[peer, default: 0]
        let perProto = streamsPerProtocol[proto, default: 0]
        let limits = config.limits
        let reason: String?
        if perPeer >= limits.maxStreamsPerPeer {
            reason = "per-peer stream limit \(limits.maxStreamsPerPeer)"
            refusals.peerStreams.record(peer)
        } else if perProto >= limits.maxStreamsPerProtocol {
            reason = "per-protocol stream limit \(limits.maxStreamsPerProtocol)"
            refusals.protocolStreams[proto, default: 0] += 1
            refusals.protocolStreamsPeers.record(peer)
        } else if streamsTotal >= limits.maxStreams {
            reason = "stream limit \(limits.maxStreams)"
            refusals.streams.record(peer)
        } else {
            reason = nil
        }
        if let reason {
            if RefusalTally.shouldLog(refusals.streamRefusals) {
                logger.warning("rejected inbound stream", metadata: [
                    "peer": "\(peer)", "protocol": "\(proto)", "reason": "\(reason)",
                    "refused_so_far": "\(refusals.streamRefusals)",
                ])
            }
            await stream.reset()
            return
        }
        streamsPerPeer[peer] = perPeer + 1
        streamsPerProtocol[proto] = perProto + 1
        streamsTotal += 1
        let incoming = IncomingStream(
            stream: negotiatedStream, protocolID: proto, remotePeer: peer, remoteAddress: conn.info.remoteAddress)
        await handler(incoming)
        streamsPerPeer[peer] = streamsPerPeer[peer, default: 1] - 1
        if streamsPerPeer[peer] == 0 { streamsPerPeer[peer] = nil }
        streamsPerProtocol[proto] = streamsPerProtocol[proto, default: 1] - 1
        if streamsPerProtocol[proto] == 0 { streamsPerProtocol[proto] = nil }
        streamsTotal -= 1
    }

    // MARK: resource use

    /// Refusals per limit.
    private struct Refusals {
        var connsInbound = RefusalTally()
        var peerConnsInbound = RefusalTally()
        var pendingHandshakes = RefusalTally()
        var streams = RefusalTally()
        var peerStreams = RefusalTally()
        var protocolStreams: [ProtocolID: Int] = [:]
        var protocolStreamsPeers = RefusalTally()

        var streamRefusals: Int { streams.total + peerStreams.total + protocolStreamsPeers.total }
    }

    /// Connections, streams, pending handshakes and pending inbound bytes against their limits:
    /// for the node, per protocol, and per peer (peers with a connection or a refusal).
    public func resourceReport() -> ResourceReport {
        let limits = config.limits
        var report = ResourceReport()
        let all = connectionsByPeer.values.reduce(0) { $0 + $1.count }
        report.system["Conns"] = ResourceUse(used: all, limit: 0)
        report.system["ConnsInbound"] = ResourceUse(
            used: inboundEstablished, limit: limits.maxInboundConnections, refused: refusals.connsInbound.total)
        report.system["PendingHandshakes"] = ResourceUse(
            used: pendingInbound.count, limit: limits.maxInboundPending, refused: refusals.pendingHandshakes.total)
        report.system["StreamsInbound"] = ResourceUse(used: streamsTotal, limit: limits.maxStreams, refused: refusals.streams.total)
        for proto in Set(streamsPerProtocol.keys).union(refusals.protocolStreams.keys) {
            report.protocols[proto.rawValue] = ["StreamsInbound": ResourceUse(
                used: streamsPerProtocol[proto, default: 0], limit: limits.maxStreamsPerProtocol,
                refused: refusals.protocolStreams[proto, default: 0])]
        }
        let peers = Set(connectionsByPeer.keys).union(streamsPerPeer.keys)
            .union(refusals.peerConnsInbound.byPeer.keys).union(refusals.connsInbound.byPeer.keys)
            .union(refusals.peerStreams.byPeer.keys).union(refusals.streams.byPeer.keys)
            .union(refusals.protocolStreamsPeers.byPeer.keys)
        for peer in peers {
            let conns = connectionsByPeer[peer] ?? []
            report.peers[peer] = [
                "Conns": ResourceUse(used: conns.count, limit: 0),
                "ConnsInbound": ResourceUse(
                    used: conns.filter { $0.info.direction == .inbound }.count, limit: limits.maxInboundConnectionsPerPeer,
                    refused: refusals.peerConnsInbound.count(of: peer) + refusals.connsInbound.count(of: peer)),
                "StreamsInbound": ResourceUse(
                    used: streamsPerPeer[peer, default: 0], limit: limits.maxStreamsPerPeer,
                    refused: refusals.peerStreams.count(of: peer) + refusals.streams.count(of: peer)
                        + refusals.protocolStreamsPeers.count(of: peer)),
            ]
        }
        report.merge(inboundBytes.snapshot.report)
        return report
    }

    // MARK: connection manager

    private func trimIfNeeded() {
        let candidates = connectionsByPeer.map { peer, conns in
            ConnectionManager.Candidate(
                peer: peer, connections: conns.count,
                newestOpenedAt: conns.map(\.info.openedAt).max() ?? 0,
                activeStreams: streamsPerPeer[peer, default: 0])
        }
        let victims = manager.peersToTrim(candidates, now: Self.now())
        guard !victims.isEmpty else { return }
        logger.info("connection manager trimming", metadata: ["peers": "\(victims.count)"])
        for peer in victims {
            let conns = connectionsByPeer[peer] ?? []
            for c in conns {
                logger.info("closing connection", metadata: ["peer": "\(peer)", "reason": "connection manager: above high water"])
                remove(c)
                Task { await c.muxed.close() }
            }
        }
    }

    /// Runs the connection manager now (it also runs after every new connection).
    public func trimConnections() { trimIfNeeded() }

    private static func now() -> Double { Date().timeIntervalSince1970 }
}
