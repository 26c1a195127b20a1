import Bitswap
import Foundation
import Logging
import Multiformats
import NIOCore
import NIOPosix
import P2PCore
import P2PCrypto
import P2PHost
import P2PMux
import P2PSecurity

/// The online node: the libp2p host with identify and ping, bootstrap dialling, and the RPC API.
///
/// `run()` starts everything, prints Kubo's readiness lines, and serves until `shutdown()` (called by
/// the SIGINT/SIGTERM handler or the `shutdown` API command); then it stops the API, closes
/// connections and removes `<home>/api`.
public final class NodeDaemon: Sendable {
    public let home: NodeHome
    public let settings: NetworkSettings
    public let identity: NodeIdentity
    public let host: LibP2PHost
    public let identify: IdentifyService
    public let ping: PingService
    /// The node's block store, pins and refs.
    public let local: LocalNode
    /// Block exchange with other peers.
    public let bitswap: Bitswap
    let logger: Logger
    private let lock: DaemonLock
    private let group: MultiThreadedEventLoopGroup
    private let stopSignal = AsyncSignal()
    
    /// Protocol version announced by identify (as Kubo).
    public static let protocolVersion = "ipfs/0.1.0"

    /// Prepares the daemon (takes the home's daemon lock; nothing listens yet).
    public init(home: NodeHome, logger: Logger) throws {
        self.home = home
        self.logger = logger
        let (config, identity) = try home.loadIdentity()
        self.identity = identity
        settings = try NetworkSettings(config: config)
        lock = try DaemonLock(home: home)
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        host = LibP2PHost(config: NodeDaemon.hostConfig(settings, identity: identity, logger: logger), group: group)
        identify = IdentifyService(
            host: host, privateKey: identity.privateKey, agentVersion: JZNodeInfo.agentVersion,
            protocolVersion: NodeDaemon.protocolVersion, logger: logger)
        ping = PingService(host: host, logger: logger, timeout: .seconds(10))
        local = try LocalNode(home: home, logger: logger)
        bitswap = Bitswap(host: host, store: local.store, logger: logger)
    }

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
        return config
    }

    /// Runs until `shutdown()`. `ready` is called once the swarm and the API listen (the CLI
    /// prints Kubo's lines there).
    public func run(ready: @Sendable (_ swarm: [Multiaddr], _ api: String) -> Void) async throws {
        try await host.start()
        await identify.register()
        await ping.register()
        await bitswap.start()
        // Identify every new connection's peer; when a peer's last connection closes, identify
        // lowers the TTL of what it learnt.
        await host.addConnectionObserver { [identify, logger, host, bitswap] event in
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
            }
        }
        let api = APIServer(group: group, logger: logger) { [self] request in
            await APIRoutes(daemon: self).handle(request)
        }
        let apiHost = settings.apiAddress.value(for: .ip4)?.valueString ?? settings.apiAddress.value(for: .ip6)?.valueString ?? "127.0.0.1"
        let apiPort = Int(settings.apiAddress.value(for: .tcp)?.valueString ?? "") ?? 5101
        let boundPort: Int
        do {
            boundPort = try await api.start(host: apiHost, port: apiPort)
        } catch {
            await host.stop()
            throw NodeError.io(path: settings.apiAddress.description, reason: "cannot serve the RPC API: \(error)")
        }
        let apiText = (settings.apiAddress.value(for: .ip6) != nil ? "/ip6/\(apiHost)" : "/ip4/\(apiHost)") + "/tcp/\(boundPort)"
        do {
            try apiText.write(toFile: home.apiFilePath, atomically: true, encoding: .utf8)
        } catch {
            logger.warning("cannot write \(home.apiFilePath): \(error)")
        }
        ready(await host.listenAddresses(), apiText)
        let bootstrap = Task { await dialBootstrap() }
        await stopSignal.wait()
        bootstrap.cancel()
        logger.info("shutting down")
        await api.stop()
        await bitswap.stop()
        await host.stop()
        try? FileManager.default.removeItem(atPath: home.apiFilePath)
        try? await group.shutdownGracefully()
    }

    /// Makes `run()` return.
    public func shutdown() {
        stopSignal.fire()
    }

    /// Dials every bootstrap peer (in parallel, each with a timeout) and logs the outcome.
    func dialBootstrap() async {
        await withTaskGroup(of: Void.self) { group in
            for address in settings.bootstrap {
                group.addTask { [host, logger] in
                    do {
                        let peer = try await withTimeout(.seconds(15), what: "dial \(address)") {
                            try await host.connect(address)
                        }
                        logger.info("bootstrap: connected to \(peer)")
                    } catch {
                        logger.info("bootstrap: \(address): \(error)")
                    }
                }
            }
        }
    }
}

/// A one-shot event that any number of tasks can wait for.
final class AsyncSignal: @unchecked Sendable {
    private let lock = Mutex()
    private var fired = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func fire() {
        let waiting = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            fired = true
            defer { waiters = [] }
            return waiters
        }
        for waiter in waiting { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = lock.withLock { () -> Bool in
                if fired { return true }
                waiters.append(c)
                return false
            }
            if done { c.resume() }
        }
    }
}
