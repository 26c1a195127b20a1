import Bitswap
import Foundation
import IPNS
import KadDHT
import Logging
import Multiformats
import NIOCore
import NIOPosix
import P2PCore
import P2PCrypto
import P2PHost
import P2PMux
import P2PSecurity

/// The node's online services, assembled in one place for the daemon and for the short-lived node
/// of a one-shot `fetch`: the libp2p host with identify and ping, Bitswap, and the dual DHT (LAN and
/// WAN) that Bitswap, `fetch` and the host's dialler use as content and peer routing.
public final class NodeServices: Sendable {
    public let host: LibP2PHost
    public let identify: IdentifyService
    public let ping: PingService
    public let bitswap: Bitswap
    /// The DHT; nil with `Routing.Type` = `none`.
    public let dht: DualDHT?
    public let local: LocalNode
    public let settings: NetworkSettings
    /// The private network key (`<home>/swarm.key`), or nil on the public network.
    public let privateNetwork: PreSharedKey?
    let storage: SQLiteProviderBackend?
    /// The DHT's record stores (nil without a DHT), for `swarm resources`.
    let providerStore: ProviderStore?
    let valueStore: ValueRecordStore?
    /// IPNS publishing and resolution (the daemon's; nil for a one-shot node or without a DHT).
    public let names: NameService?
    let logger: Logger

    /// `listens`: the daemon listens on `Addresses.Swarm`; a one-shot node listens nowhere (and is
    /// then a DHT client in `auto` mode).
    public init(
        home: NodeHome, local: LocalNode, identity: NodeIdentity, settings: NetworkSettings, listens: Bool,
        group: any EventLoopGroup, logger: Logger
    ) throws {
        var settings = settings
        if !listens { settings.listenAddresses = [] }
        self.settings = settings
        self.local = local
        self.logger = logger
        var hostConfig = Self.hostConfig(settings, identity: identity, logger: logger)
        privateNetwork = try home.loadSwarmKey()
        hostConfig.privateNetwork = privateNetwork
        if let key = hostConfig.privateNetwork {
            logger.notice("swarm is limited to the private network of peers with the swarm key", metadata: ["fingerprint": "\(key.fingerprintHex)"])
        }
        let host = LibP2PHost(config: hostConfig, group: group)
        self.host = host
        identify = IdentifyService(
            host: host, privateKey: identity.privateKey, agentVersion: JZNodeInfo.agentVersion,
            protocolVersion: NodeDaemon.protocolVersion, logger: logger)
        ping = PingService(host: host, logger: logger, timeout: .seconds(10))
        let resources = settings.resources
        if settings.routing == .none {
            dht = nil
            storage = nil
            names = nil
            providerStore = nil
            valueStore = nil
        } else {
            // The daemon keeps provider records in <home>/dht.sqlite (they outlive a restart); a
            // one-shot node keeps what it learns in memory.
            let backend: any ProviderBackend
            if listens {
                let storage = try SQLiteProviderBackend(home: home)
                self.storage = storage
                backend = storage
            } else {
                storage = nil
                backend = MemoryProviderBackend()
            }
            var providerLimits = ProviderStore.Limits()
            providerLimits.maxRecords = resources.maxProviderRecords
            providerLimits.maxRecordsPerProvider = resources.maxProviderRecordsPerPeer
            providerLimits.maxProvidersPerKey = resources.maxProvidersPerKey
            let providers = ProviderStore(backend: backend, limits: providerLimits)
            providerStore = providers
            // `/pk/` keys and `/ipns/` records (the validator of the IPNS module).
            let validator = Self.recordValidator
            var valueLimits = ValueRecordStore.Limits()
            valueLimits.maxRecords = resources.maxDHTRecords
            valueLimits.maxRecordsPerPeer = resources.maxDHTRecordsPerPeer
            let values = ValueRecordStore(validator: validator, limits: valueLimits)
            valueStore = values
            func instance(_ scope: DHTScope) -> KademliaDHT {
                KademliaDHT(
                    host: host, config: DHTConfig(scope: scope, mode: .client), providers: providers, values: values,
                    validator: validator, logger: logger)
            }
            let dht = DualDHT(lan: instance(.lan), wan: instance(.wan), host: host, logger: logger)
            self.dht = dht
            // A one-shot node resolves names too (clone, pull, /ipns/ paths); the names it
            // publishes live in <home>/dht.sqlite either way.
            names = NameService(home: home, storage: try storage ?? SQLiteProviderBackend(home: home), dht: dht, logger: logger)
        }
        var bitswapConfig = Bitswap.Config()
        bitswapConfig.maxWantlistEntries = resources.maxWantlistEntries
        bitswapConfig.maxWantlistEntriesPerPeer = resources.maxWantlistEntriesPerPeer
        bitswap = Bitswap(host: host, store: local.store, routing: dht, logger: logger, config: bitswapConfig)
    }

    /// The record namespaces the node stores and accepts: `/pk/` and `/ipns/`.
    static let recordValidator = NamespacedValidator([
        PublicKeyValidator.namespace: PublicKeyValidator(), "ipns": IPNSValidator(),
    ])

    static func hostConfig(_ settings: NetworkSettings, identity: NodeIdentity, logger: Logger) -> HostConfig {
        let security: [any SecurityTransport] = settings.security.map { name in
            name == "tls"
                ? TLSTransport(identity: identity.privateKey, logger: logger) as any SecurityTransport
                : NoiseTransport(identity: identity.privateKey, logger: logger) as any SecurityTransport
        }
        let muxers: [any StreamMuxer] = settings.muxers.map { name in
            name == "mplex" ? MplexMuxer() as any StreamMuxer : YamuxMuxer() as any StreamMuxer
        }
        var config = HostConfig(
            identity: identity.privateKey, listenAddresses: settings.listenAddresses,
            security: security, muxers: muxers, logger: logger, peerStore: MemoryPeerStore())
        config.connManager.lowWater = settings.connLowWater
        config.connManager.highWater = settings.connHighWater
        config.connManager.gracePeriod = Duration.milliseconds(Int64(settings.connGracePeriod * 1000))
        config.limits.maxInboundConnections = settings.maxInboundConnections
        config.limits.maxStreamsPerPeer = settings.maxStreamsPerPeer
        config.limits.maxInboundConnectionsPerPeer = settings.maxConnectionsPerPeer
        config.limits.maxStreams = settings.resources.maxStreams
        config.limits.maxStreamsPerProtocol = settings.resources.maxStreamsPerProtocol
        config.limits.maxInboundPending = settings.resources.maxPendingHandshakes
        config.limits.maxPendingInboundBytes = settings.resources.maxPendingBytes
        config.limits.maxPendingInboundBytesPerPeer = settings.resources.maxPendingBytesPerPeer
        return config
    }

    /// Use against limits of every service (host, muxer buffers, DHT stores, Bitswap server), merged.
    /// Reads the provider store (blocking I/O, run on the blocking executor).
    public func resourceReport() async throws -> ResourceReport {
        var report = await host.resourceReport()
        if let values = valueStore { report.merge(values.resourceReport()) }
        if let providers = providerStore {
            let peers = Array(report.peers.keys)
            report.merge(try await BlockingExecutor.run { try providers.resourceReport(peers: peers) })
        }
        report.merge(bitswap.resourceReport())
        return report
    }

    /// Starts listening and every protocol; connection events feed identify, Bitswap and the DHT.
    public func start() async throws {
        try await host.start()
        await identify.register()
        await ping.register()
        await bitswap.start()
        await host.addEventObserver { [identify, logger, host, bitswap, dht] event in
            dht?.handle(event)
            switch event {
            case .connected(let info):
                bitswap.peerConnected(info.remotePeer)
                Task {
                    do {
                        _ = try await identify.identify(info.remotePeer)
                    } catch {
                        logger.debug("identify of \(info.remotePeer) failed: \(error)")
                    }
                }
            case .disconnected(let info):
                Task {
                    let stillConnected = await host.connections().contains { $0.remotePeer == info.remotePeer }
                    if !stillConnected {
                        identify.peerDisconnected(info.remotePeer)
                        await bitswap.peerDisconnected(info.remotePeer)
                    }
                }
            case .identified:
                break
            }
        }
        if let dht {
            await host.setPeerRouting(dht)
            let listen = await host.listenAddresses()
            let (lanMode, wanMode) = Self.modes(settings.routing, listenAddresses: listen)
            await dht.lan.setMode(lanMode)
            await dht.wan.setMode(wanMode)
            await dht.start()
            logger.info("dht: LAN \(lanMode.rawValue), WAN \(wanMode.rawValue)")
        }
    }

    /// The DHT modes for `Routing.Type` and the addresses we listen on: in `auto`, the LAN DHT serves
    /// when there is any address to reach us at, the WAN DHT only with a public one.
    static func modes(_ routing: NetworkSettings.RoutingMode, listenAddresses: [Multiaddr]) -> (lan: DHTMode, wan: DHTMode) {
        switch routing {
        case .dhtserver: return (.server, .server)
        case .dhtclient, .none: return (.client, .client)
        case .auto:
            let lan: DHTMode = listenAddresses.contains { $0.scope != .unknown && $0.scope != .unspecified } ? .server : .client
            let wan: DHTMode = listenAddresses.contains { $0.scope.isPublic } ? .server : .client
            return (lan, wan)
        }
    }

    /// Stops every service and closes connections.
    public func stop() async {
        names?.stop()
        await dht?.stop()
        await bitswap.stop()
        await host.stop()
    }

    /// Dials every bootstrap peer (in parallel, each bounded by `timeout`); returns how many answered.
    /// `/dnsaddr/` entries are resolved first (DNS TXT `_dnsaddr.` records, recursively, filtered by
    /// the entry's peer ID); a peer's addresses are tried one after the other.
    @discardableResult
    public func dialBootstrap(timeout: Duration) async -> Int {
        let addresses = await BootstrapResolver(logger: logger).resolve(settings.bootstrap)
        var byPeer: [(key: String, addresses: [Multiaddr])] = []
        for address in addresses {
            let key = address.peerIDMultihash.map { Hex.encode($0) } ?? address.description
            if let i = byPeer.firstIndex(where: { $0.key == key }) {
                byPeer[i].addresses.append(address)
            } else {
                byPeer.append((key, [address]))
            }
        }
        return await withTaskGroup(of: Bool.self) { group in
            for (_, candidates) in byPeer {
                group.addTask { [host, logger] in
                    for address in candidates {
                        do {
                            let peer = try await withTimeout(timeout, what: "dial \(address)") { try await host.connect(address) }
                            logger.info("bootstrap: connected to \(peer)")
                            return true
                        } catch {
                            logger.info("bootstrap: \(address): \(error)")
                        }
                    }
                    return false
                }
            }
            var connected = 0
            for await ok in group where ok { connected += 1 }
            return connected
        }
    }

    /// Waits (at most `timeout`) until the DHT has a peer in a routing table: identify admits
    /// bootstrap peers a moment after they connect.
    public func waitForRoutingPeers(timeout: Duration) async {
        guard let dht else { return }
        let deadline = ContinuousClock.now + timeout
        while dht.tableSize == 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The reprovider's saved progress (`<home>/dht.sqlite`; nil for a one-shot node).
    func loadReprovideState() async throws -> [UInt8]? {
        guard let storage else { return nil }
        return try await BlockingExecutor.run { try storage.loadReprovideState() }
    }

    func saveReprovideState(_ bytes: [UInt8]) async throws {
        guard let storage else { return }
        try await BlockingExecutor.run { try storage.saveReprovideState(bytes) }
    }

    /// The addresses we announce in provider records.
    public func announcedAddresses() async -> [Multiaddr] { await host.listenAddresses() }
}
