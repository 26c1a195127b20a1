import Bitswap
import Foundation
import Logging
import Multiformats
import NIOPosix
import P2PCore
import P2PCrypto
import P2PHost
import RepoSync

/// A short-lived node for `jz-node fetch` when no daemon runs: the same `NodeServices` as the
/// daemon (host, identify, ping, Bitswap, DHT as a client), listening nowhere (peers answer over
/// the connections we open). It dials the given peers, or the bootstrap peers when none is given,
/// and finds providers through the DHT.
public final class FetchNode: Sendable {
    public let local: LocalNode
    private let services: NodeServices
    private let logger: Logger
    private let lock: DaemonLock

    public init(home: NodeHome, logger: Logger) throws {
        self.logger = logger
        let (config, identity) = try home.loadIdentity()
        let settings = try NetworkSettings(config: config)
        // The same lock as the daemon: two nodes with one identity must not run at once.
        lock = try DaemonLock(home: home)
        local = try LocalNode(home: home, logger: logger)
        services = try NodeServices(
            home: home, local: local, identity: identity, settings: settings, listens: false,
            group: MultiThreadedEventLoopGroup.singleton, logger: logger)
    }

    /// Starts the node, fetches, and stops it again.
    public func fetch(_ request: FetchRequest, progress: FetchProgressHandler? = nil) async throws -> FetchReport {
        try await running(bootstrap: request.peers.isEmpty, purpose: "fetch from", hint: "give one with --peer MADDR") { [services, local, logger] in
            try await ContentFetcher.fetch(
                request, host: services.host, bitswap: services.bitswap, local: local, logger: logger, progress: progress)
        }
    }

    /// Starts the node, runs `body` with repository sync over it (names through the DHT, blocks
    /// over Bitswap; nothing announced, since the node stops right after), and stops it again.
    public func sync<T: Sendable>(_ body: @escaping @Sendable (RepoSync) async throws -> T) async throws -> T {
        try await running(bootstrap: true, purpose: "sync with", hint: "add one with `jz-node bootstrap add MADDR`") { [services, local, logger] in
            let sync = RepoSyncService(
                local: local, names: services.names, bitswap: services.bitswap, provider: nil, keystore: local.home.keystore,
                logger: logger)
            return try await body(sync.engine)
        }
    }

    /// Starts the services, dials the bootstrap peers when asked, runs `body`, stops.
    private func running<T: Sendable>(
        bootstrap: Bool, purpose: String, hint: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await services.start()
        do {
            if bootstrap {
                await services.dialBootstrap(timeout: .seconds(10))
                if await services.host.connections().isEmpty {
                    let tried = services.settings.bootstrap.isEmpty
                        ? "the bootstrap list is empty"
                        : "none of the \(services.settings.bootstrap.count) bootstrap peers answered"
                    throw NodeError.network("no peer to \(purpose): \(tried); \(hint)")
                }
                // Give identify a moment to admit the bootstrap peers to the DHT's tables, so the
                // lookups have someone to ask (bounded; returns as soon as one is in).
                await services.waitForRoutingPeers(timeout: .seconds(3))
            }
            let result = try await body()
            await services.stop()
            return result
        } catch {
            await services.stop()
            throw error
        }
    }
}
