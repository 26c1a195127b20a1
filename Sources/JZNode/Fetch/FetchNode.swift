import Bitswap
import Foundation
import Logging
import Multiformats
import NIOPosix
import P2PCore
import P2PCrypto
import P2PHost

/// A short-lived node for `jz-node fetch` when no daemon runs: the home's identity and store, a
/// host that listens nowhere (peers answer over the connections we open), identify, ping and
/// bitswap. It dials the given peers, or the bootstrap peers when none is given.
public final class FetchNode: Sendable {
    public let local: LocalNode
    private let host: LibP2PHost
    private let identify: IdentifyService
    private let ping: PingService
    private let bitswap: Bitswap
    private let settings: NetworkSettings
    private let logger: Logger
    private let lock: DaemonLock

    public init(home: NodeHome, logger: Logger) throws {
        self.logger = logger
        let (config, identity) = try home.loadIdentity()
        var settings = try NetworkSettings(config: config)
        settings.listenAddresses = []
        self.settings = settings
        // The same lock as the daemon: two nodes with one identity must not run at once.
        lock = try DaemonLock(home: home)
        local = try LocalNode(home: home, logger: logger)
        host = LibP2PHost(config: NodeDaemon.hostConfig(settings, identity: identity, logger: logger))
        identify = IdentifyService(
            host: host, privateKey: identity.privateKey, agentVersion: JZNodeInfo.agentVersion,
            protocolVersion: NodeDaemon.protocolVersion, logger: logger)
        ping = PingService(host: host, logger: logger, timeout: .seconds(10))
        bitswap = Bitswap(host: host, store: local.store, logger: logger)
    }

    /// Starts the node, fetches, and stops it again.
    public func fetch(_ request: FetchRequest, progress: FetchProgressHandler? = nil) async throws -> FetchReport {
        try await host.start()
        await identify.register()
        await ping.register()
        await bitswap.start()
        await host.addConnectionObserver { [bitswap, host] event in
            switch event {
            case .connected(let info):
                bitswap.peerConnected(info.remotePeer)
            case .disconnected(let info):
                Task {
                    if !(await host.connections().contains { $0.remotePeer == info.remotePeer }) {
                        await bitswap.peerDisconnected(info.remotePeer)
                    }
                }
            }
        }
        do {
            if request.peers.isEmpty {
                await dialBootstrap()
                if await host.connections().isEmpty {
                    let tried = settings.bootstrap.isEmpty
                        ? "the bootstrap list is empty"
                        : "none of the \(settings.bootstrap.count) bootstrap peers answered"
                    throw NodeError.network("no peer to fetch from: \(tried); give one with --peer MADDR")
                }
            }
            let report = try await ContentFetcher.fetch(
                request, host: host, bitswap: bitswap, local: local, logger: logger, progress: progress)
            await shutdown()
            return report
        } catch {
            await shutdown()
            throw error
        }
    }

    private func shutdown() async {
        await bitswap.stop()
        await host.stop()

    }

    private func dialBootstrap() async {
        await withTaskGroup(of: Void.self) { group in
            for address in settings.bootstrap {
                group.addTask { [host, logger] in
                    do {
                        _ = try await withTimeout(.seconds(10), what: "dial \(address)") { try await host.connect(address) }
                    } catch {
                        logger.info("bootstrap: \(address): \(error)")
                    }
                }
            }
        }
    }
}
