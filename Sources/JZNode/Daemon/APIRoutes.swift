import Foundation
import Multiformats
import P2PCore
import P2PCrypto
import P2PHost

/// The RPC commands the daemon serves, with Kubo's names, arguments and JSON shapes.
struct APIRoutes {
    let daemon: NodeDaemon

    func handle(_ request: APIRequest) async -> APIResponse {
        do {
            switch request.command {
            case "id": return try await id(request)
            case "version": return version()
            case "swarm/peers": return await swarmPeers(request)
            case "swarm/connect": return try await swarmConnect(request)
            case "swarm/disconnect": return try await swarmDisconnect(request)
            case "swarm/addrs/local": return await swarmAddrsLocal(request)
            case "swarm/resources": return try await swarmResources(request)
            case "ping": return try await ping(request)
            case "fetch": return try fetch(request)
            case "bitswap/stat": return await bitswapStat(request)
            case "bitswap/wantlist": return try bitswapWantlist(request)
            case "bitswap/ledger": return try bitswapLedger(request)
            case "routing/findprovs", "dht/findprovs": return try routingFindProvs(request)
            case "routing/findpeer", "dht/findpeer": return try await routingFindPeer(request)
            case "routing/provide", "dht/provide": return try await routingProvide(request)
            case "routing/get", "dht/get": return try await routingGet(request)
            case "routing/put", "dht/put": return try await routingPut(request)
            case "routing/reprovide", "bitswap/reprovide": return try routingReprovide(request)
            case "dht/query": return try await dhtQuery(request)
            case "name/publish": return try await namePublish(request)
            case "name/resolve": return try await nameResolve(request)
            // UnixFS, blocks, pins, DAG, storage, config and keys (APIRoutes+Files, +Store). The
            // config and key commands read and write files (with fsync): on the blocking pool.
            case "add": return try add(request)
            case "cat": return try await cat(request)
            case "get": return try await get(request)
            case "ls": return try await ls(request)
            case "pin/add": return try await pinAdd(request)
            case "pin/ls": return try await pinLs(request)
            case "pin/rm": return try await pinRm(request)
            case "block/put": return try await blockPut(request)
            case "block/get": return try await blockGet(request)
            case "block/stat": return try await blockStat(request)
            case "dag/put": return try await dagPut(request)
            case "dag/get": return try await dagGet(request)
            case "dag/resolve": return try await dagResolve(request)
            case "dag/stat": return try await dagStat(request)
            case "dag/export": return try await dagExport(request)
            case "dag/import": return try await dagImport(request)
            case "block/rm": return try await blockRm(request)
            case "repo/verify": return try await repoVerify(request)
            case "store/gc": return try await storeGC(request)
            case "store/stat": return try await storeStat(request)
            case "store/verify": return try await storeVerify(request)
            case "bootstrap/add", "bootstrap/add/default": return try await BlockingExecutor.run { [self] in try bootstrapAdd(request) }
            case "bootstrap/rm", "bootstrap/rm/all": return try await BlockingExecutor.run { [self] in try bootstrapRemove(request) }
            case "config/replace": return try await BlockingExecutor.run { [self] in try configReplace(request) }
            case "key/rm": return try await BlockingExecutor.run { [self] in try keyRemove(request) }
            case "key/rename": return try await BlockingExecutor.run { [self] in try keyRename(request) }
            case "key/import": return try await BlockingExecutor.run { [self] in try keyImport(request) }
            case "repo/stat": return try await repoStat(request)
            case "repo/gc": return try await repoGC(request)
            case "bootstrap/list", "bootstrap": return try await BlockingExecutor.run { [self] in try bootstrapList() }
            case "config": return try await BlockingExecutor.run { [self] in try config(request) }
            case "config/show": return try await BlockingExecutor.run { [self] in try configShow() }
            case "key/list": return try await BlockingExecutor.run { [self] in try keyList(request) }
            case "key/gen": return try await BlockingExecutor.run { [self] in try keyGen(request) }
            case "repo/publish": return try await repoPublish(request)
            case "repo/clone": return try repoClone(request)
            case "repo/pull": return try repoPull(request)
            case "stats/dht": return try await statsDHT(request)
            case "stats/provide": return try statsProvide(request)
            // Versioning: repositories, commits, refs, diff, merge, checkout, remotes (APIRoutes+Versioning).
            case let command where VersioningCommands.handlers[command] != nil: return try await versioning(request)
            case "shutdown":
                daemon.shutdown()
                return .json(.null)
            default:
                return .error(status: 404, message: "unknown command \"\(request.command)\"; see `jz-node --help`")
            }
        } catch APIError.remote(let status, let message) {
            // Kubo's codes: 400 for bad arguments, 500 for failures; 404 is only an unknown
            // command (clients such as aioipfs read it as "endpoint not found").
            return .error(status: status == 404 ? 500 : status, message: message)
        } catch let error as APIError {
            return .badRequest(error.description)
        } catch {
            return .failure("\(error)")
        }
    }

    // MARK: - id, version

    func id(_ request: APIRequest) async throws -> APIResponse {
        guard let target = request.arguments.first else {
            let listen = await daemon.host.listenAddresses()
            let me = daemon.identity.peerID
            return .json(Self.identity(
                id: me, publicKey: daemon.identity.privateKey.publicKey,
                addresses: listen.map { "\($0)/p2p/\(me)" }, agent: JZNodeInfo.agentVersion,
                protocolVersion: NodeDaemon.protocolVersion,
                protocols: await daemon.host.supportedProtocols()))
        }
        let peer = try await resolvePeer(target)
        let info = try await withTimeout(.seconds(30), what: "identify \(peer)") { [daemon] in
            try await daemon.identify.identify(peer)
        }
        return .json(Self.identity(
            id: peer, publicKey: info.publicKey,
            addresses: info.listenAddresses.map { "\($0)/p2p/\(peer)" }, agent: info.agentVersion,
            protocolVersion: info.protocolVersion, protocols: info.protocols))
    }

    static func identity(
        id: PeerID, publicKey: PublicKey?, addresses: [String], agent: String?, protocolVersion: String?, protocols: [ProtocolID]
    ) -> JSONValue {
        [
            "ID": .string(id.description),
            "PublicKey": publicKey.map { .string(Data($0.protobufBytes).base64EncodedString()) } ?? .string(""),
            "Addresses": addresses.isEmpty ? .null : .array(addresses.sorted().map { .string($0) }),
            "AgentVersion": .string(agent ?? ""),
            "ProtocolVersion": .string(protocolVersion ?? ""),
            "Protocols": protocols.isEmpty ? .null : .array(protocols.sorted().map { .string($0.rawValue) }),
        ]
    }

    func version() -> APIResponse {
        .json([
            "Version": .string(JZNodeInfo.version), "Commit": "", "Repo": .string(String(JZNodeInfo.repoVersion)),
            "System": .string("amd64/linux"), "Golang": "",
        ])
    }

    // MARK: - swarm

    func swarmPeers(_ request: APIRequest) async -> APIResponse {
        let verbose = request.flag("verbose") || request.flag("v")
        let connections = await daemon.host.connections().sorted { $0.remotePeer.description < $1.remotePeer.description }
        let peers: [JSONValue] = connections.map { c in
            var entry: [String: JSONValue] = [
                "Addr": .string(c.remoteAddress.description),
                "Peer": .string(c.remotePeer.description),
            ]
            if verbose {
                entry["Muxer"] = .string(c.muxer.rawValue)
                entry["Security"] = .string(c.security.rawValue)
                entry["Direction"] = .int(c.direction == .inbound ? 1 : 2)
                entry["Latency"] = ""
                entry["Streams"] = .null
                entry["Identify"] = [
                    "AgentVersion": .string(daemon.host.peerStore.metadata("AgentVersion", of: c.remotePeer) ?? ""),
                    "Protocols": .array(daemon.host.peerStore.protocols(of: c.remotePeer).map { .string($0.rawValue) }),
                ]
            }
            return .object(entry)
        }
        return .json(["Peers": peers.isEmpty ? .null : .array(peers)])
    }

    func swarmConnect(_ request: APIRequest) async throws -> APIResponse {
        guard !request.arguments.isEmpty else { throw APIError.remote(status: 400, message: "argument \"address\" is required") }
        var lines: [JSONValue] = []
        for text in request.arguments {
            let address: Multiaddr
            do { address = try Multiaddr(text) } catch {
                throw APIError.remote(status: 400, message: "invalid multiaddr \(text): \(error)")
            }
            guard address.value(for: .p2p) != nil else {
                throw APIError.remote(status: 400, message: "\(text): the address must end in /p2p/<peer ID>")
            }
            let peer = try await withTimeout(.seconds(30), what: "connect \(text)") { [daemon] in
                try await daemon.host.connect(address)
            }
            lines.append(.string("connect \(peer) success"))
        }
        return .json(["Strings": .array(lines)])
    }

    func swarmDisconnect(_ request: APIRequest) async throws -> APIResponse {
        guard !request.arguments.isEmpty else { throw APIError.remote(status: 400, message: "argument \"address\" is required") }
        var lines: [JSONValue] = []
        for text in request.arguments {
            let peer = try peerID(in: text)
            let connected = await daemon.host.connections().contains { $0.remotePeer == peer }
            guard connected else { throw APIError.remote(status: 400, message: "disconnect \(peer) failure: not connected") }
            await daemon.host.disconnect(peer)
            lines.append(.string("disconnect \(peer) success"))
        }
        return .json(["Strings": .array(lines)])
    }

    func swarmAddrsLocal(_ request: APIRequest) async -> APIResponse {
        let withID = request.flag("id")
        let me = daemon.identity.peerID
        let addresses = await daemon.host.listenAddresses().map { withID ? "\($0)/p2p/\(me)" : $0.description }
        return .json(["Strings": .array(addresses.map { .string($0) })])
    }

    // MARK: - ping

    func ping(_ request: APIRequest) async throws -> APIResponse {
        guard let target = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"peer ID\" is required") }
        let count = Int(request.value("count") ?? request.value("n") ?? "10") ?? 10
        guard count > 0, count <= 1000 else { throw APIError.remote(status: 400, message: "ping count must be 1…1000") }
        let peer = try await resolvePeer(target)
        let (stream, continuation) = AsyncStream<JSONValue>.makeStream(bufferingPolicy: .bufferingNewest(64))
        let daemon = daemon
        Task {
            continuation.yield(["Success": true, "Time": 0, "Text": .string("PING \(peer).")])
            var times: [Double] = []
            for _ in 0..<count {
                do {
                    let rtts = try await daemon.ping.ping(peer, count: 1)
                    guard let rtt = rtts.first else { continue }
                    let c = rtt.components
                    let nanoseconds = Double(c.seconds) * 1e9 + Double(c.attoseconds) / 1e9
                    times.append(nanoseconds)
                    continuation.yield(["Success": true, "Time": .int(Int64(nanoseconds)), "Text": ""])
                } catch {
                    continuation.yield(["Success": false, "Time": 0, "Text": .string("Ping error: \(error)")])
                }
                try? await Task.sleep(for: .milliseconds(count > 1 ? 200 : 0))
            }
            if times.isEmpty {
                continuation.yield(["Success": false, "Time": 0, "Text": .string("Ping failed: no answer from \(peer)")])
            } else {
                let average = times.reduce(0, +) / Double(times.count) / 1e6
                continuation.yield(["Success": true, "Time": 0, "Text": .string("Average latency: \(String(format: "%.2f", average))ms")])
            }
            continuation.finish()
        }
        return .stream(stream)
    }

    // MARK: - helpers

    /// A peer ID, or a multiaddr ending in /p2p/ (dialled first).
    func resolvePeer(_ text: String) async throws -> PeerID {
        if text.hasPrefix("/") {
            let address: Multiaddr
            do { address = try Multiaddr(text) } catch {
                throw APIError.remote(status: 400, message: "invalid multiaddr \(text): \(error)")
            }
            return try await withTimeout(.seconds(30), what: "connect \(text)") { [daemon] in
                try await daemon.host.connect(address)
            }
        }
        do { return try PeerID(text) } catch {
            throw APIError.remote(status: 400, message: "\(text) is neither a peer ID nor a multiaddr: \(error)")
        }
    }

    func peerID(in text: String) throws -> PeerID {
        if text.hasPrefix("/") {
            guard let address = try? Multiaddr(text), let component = address.value(for: .p2p),
                let peer = try? PeerID(bytes: component.value)
            else { throw APIError.remote(status: 400, message: "\(text): not a multiaddr ending in /p2p/<peer ID>") }
            return peer
        }
        do { return try PeerID(text) } catch {
            throw APIError.remote(status: 400, message: "\(text) is not a peer ID: \(error)")
        }
    }
}
