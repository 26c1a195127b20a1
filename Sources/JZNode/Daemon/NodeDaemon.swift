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

/// The online node: the libp2p host with identify and ping, bootstrap dialling, and the RPC API.
///
/// `run()` starts everything, prints Kubo's readiness lines, and serves until `shutdown()` (called by
/// the SIGINT/SIGTERM handler or the `shutdown` API command); then it stops the API, closes
/// connections and removes `<home>/api`.
public final class NodeDaemon: Sendable {
    public let home: NodeHome
    public let settings: NetworkSettings
    public let identity: NodeIdentity
    /// The host, identify, ping, Bitswap and the DHT (the same assembly as a one-shot fetch).
    public let services: NodeServices
    public var host: LibP2PHost { services.host }
    public var identify: IdentifyService { services.identify }
    public var ping: PingService { services.ping }
    /// The node's block store, pins and refs.
    public var local: LocalNode { services.local }
    /// Block exchange with other peers.
    public var bitswap: Bitswap { services.bitswap }
    /// The DHT (nil with `Routing.Type` = `none`).
    public var dht: DualDHT? { services.dht }
    /// Announces what the node stores and reprovides it.
    public let provider: ProviderService?
    /// Publish, clone, pull and the background republishing and following.
    public let sync: RepoSyncService
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
        let local = try LocalNode(home: home, logger: logger)
        let services = try NodeServices(
            home: home, local: local, identity: identity, settings: settings, listens: true, group: group, logger: logger)
        self.services = services
        let provider = services.dht.map { dht in
            ProviderService(dht: dht, services: services, logger: logger)
        }
        self.provider = provider
        sync = RepoSyncService(
            local: local, names: services.names, bitswap: services.bitswap, provider: provider, keystore: home.keystore, logger: logger)
    }

    /// Runs until `shutdown()`. `ready` is called once the swarm and the API listen (the CLI
    /// prints Kubo's lines there).
    public func run(ready: @Sendable (_ swarm: [Multiaddr], _ api: String) -> Void) async throws {
        try await services.start()
        let api = APIServer(group: group, access: settings.apiAccess, logger: logger) { [self] request in
            await APIRoutes(daemon: self).handle(request)
        }
        let apiHost = settings.apiAddress.value(for: .ip4)?.valueString ?? settings.apiAddress.value(for: .ip6)?.valueString ?? "127.0.0.1"
        let apiPort = Int(settings.apiAddress.value(for: .tcp)?.valueString ?? "") ?? 5101
        let boundPort: Int
        do {
            boundPort = try await api.start(host: apiHost, port: apiPort)
        } catch {
            await services.stop()
            throw NodeError.io(path: settings.apiAddress.description, reason: "cannot serve the RPC API (Addresses.API): \(error)")
        }
        let apiText = (settings.apiAddress.value(for: .ip6) != nil ? "/ip6/\(apiHost)" : "/ip4/\(apiHost)") + "/tcp/\(boundPort)"
        let apiFile = home.apiFilePath
        do {
            try await BlockingExecutor.run { try apiText.write(toFile: apiFile, atomically: true, encoding: .utf8) }
        } catch {
            logger.warning("cannot write \(home.apiFilePath): \(error)")
        }
        // The HTTP gateway on Addresses.Gateway (none when it is "" or []). An address that
        // cannot be bound stops the daemon, as Kubo does.
        var gateway: GatewayService?
        if let gatewayAddress = settings.gatewayAddress {
            let service = GatewayService(
                home: home, address: gatewayAddress, settings: settings, services: services, group: group, logger: logger,
                webUI: WebUIRoute.route(webUIContext()))
            do {
                let gatewayText = try await service.start()
                logger.info("gateway listening on \(gatewayText)")
                gateway = service
            } catch {
                await api.stop()
                await services.stop()
                try? await BlockingExecutor.run { try FileManager.default.removeItem(atPath: apiFile) }
                throw error
            }
        }
        ready(await host.listenAddresses(), apiText)
        let bootstrap = Task { [services, settings, dht, logger] in
            await services.dialBootstrap(timeout: .seconds(15))
            // Bootstrap again whenever the routing tables run low (checked every minute).
            guard let dht, !settings.bootstrap.isEmpty else { return }
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(60))
                if dht.tableSize < 4 {
                    logger.info("dht: routing tables low (\(dht.tableSize) peers); bootstrapping again")
                    await services.dialBootstrap(timeout: .seconds(15))
                    dht.triggerRefresh()
                }
            }
        }
        let reprovider = Task { [provider, settings] in
            await provider?.runReprovider(interval: settings.reprovideInterval)
        }
        let republisher = Task { [services, settings] in
            guard let names = services.names else { return }
            await names.serveStoredRecords()
            await services.waitForRoutingPeers(timeout: .seconds(30))
            await names.runRepublisher(schedule: IPNSRepublishSchedule(period: settings.ipnsRepublishPeriod))
        }
        let autoPublisher = Task { [sync] in await sync.runAutoPublisher() }
        let follower = Task { [sync, settings] in
            guard settings.followInterval > 0 else { return }
            await sync.runFollower(interval: .milliseconds(Int64(settings.followInterval * 1000)))
        }
        await stopSignal.wait()
        bootstrap.cancel()
        reprovider.cancel()
        autoPublisher.cancel()
        follower.cancel()
        republisher.cancel()
        logger.info("shutting down")
        await api.stop()
        await gateway?.stop()
        await services.stop()
        try? await BlockingExecutor.run { try FileManager.default.removeItem(atPath: apiFile) }
        try? await group.shutdownGracefully()
    }

    /// Makes `run()` return.
    public func shutdown() {
        stopSignal.fire()
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
