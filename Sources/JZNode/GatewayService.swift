import Bitswap
import Foundation
import Gateway
import IPNS
import Logging
import Multiformats
import NIOCore
import P2PCore

/// The daemon's HTTP gateway on `Addresses.Gateway`: the `Gateway` module over the node's block
/// store, with Bitswap fetching missing blocks and the name service resolving `/ipns/` names.
/// While it runs, `<home>/gateway` holds its address (as `<home>/api` holds the API's).
public final class GatewayService: Sendable {
    private let server: GatewayServer
    private let home: NodeHome
    private let address: Multiaddr

    /// - Parameter webUI: the repository web page's route (`/webui/`), tried before the gateway.
    init(
        home: NodeHome, address: Multiaddr, settings: NetworkSettings, services: NodeServices, group: any EventLoopGroup,
        logger: Logger, webUI: GatewayServer.Route? = nil
    ) {
        self.home = home
        self.address = address
        let gateway = Gateway(
            store: services.local.store, fetcher: BitswapGatewayFetcher(bitswap: services.bitswap),
            names: services.names.map { NameServiceGatewayResolver(names: $0) }, config: settings.gateway, logger: logger)
        server = GatewayServer(
            group: group, gateway: gateway, serverName: "jz-node/\(JZNodeInfo.version)", logger: logger, route: webUI)
    }

    /// Listens and writes `<home>/gateway`; returns the bound address (`/ip4/HOST/tcp/PORT`).
    func start() async throws(NodeError) -> String {
        let ip6 = address.value(for: .ip6)?.valueString
        let host = address.value(for: .ip4)?.valueString ?? ip6 ?? "127.0.0.1"
        let port = Int(address.value(for: .tcp)?.valueString ?? "") ?? 8180
        let bound: Int
        do {
            bound = try await server.start(host: host, port: port)
        } catch {
            throw .io(path: address.description, reason: "cannot serve the gateway (Addresses.Gateway): \(error)")
        }
        let text = (ip6 != nil ? "/ip6/\(host)" : "/ip4/\(host)") + "/tcp/\(bound)"
        let file = home.gatewayFilePath
        try? await BlockingExecutor.run { try text.write(toFile: file, atomically: true, encoding: .utf8) }
        return text
    }

    func stop() async {
        await server.stop()
        let file = home.gatewayFilePath
        try? await BlockingExecutor.run { try FileManager.default.removeItem(atPath: file) }
    }
}

extension NodeHome {
    /// `<home>/gateway`: the running daemon's gateway address.
    public var gatewayFilePath: String { (path as NSString).appendingPathComponent("gateway") }
}

/// Missing blocks come over Bitswap from connected peers and content routing's providers.
struct BitswapGatewayFetcher: GatewayBlockFetcher {
    let bitswap: Bitswap

    func fetch(_ cid: CID, recursive: Bool, timeout: Duration) async throws {
        _ = try await bitswap.fetch(cid, options: FetchOptions(timeout: timeout, recursive: recursive))
    }
}

/// `/ipns/` names through the node's name service (DHT records, or local ones offline).
struct NameServiceGatewayResolver: GatewayNameResolver {
    let names: NameService

    func resolve(_ path: String) async throws -> String {
        try await names.resolvePath(path)
    }

    func record(_ name: String) async throws -> [UInt8] {
        let parsed: IPNSName
        do { parsed = try IPNSName(name) } catch {
            throw NameServiceError.invalidName(name, reason: error.description)
        }
        return try await names.resolve(parsed).bytes
    }
}
