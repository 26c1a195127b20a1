import BlockStore
import Foundation
import IPLD
import KadDHT
import Multiformats
import P2PCore
import P2PCrypto

/// Kubo's routing event types (`routing.QueryEventType`), as `routing` and `dht` answers carry them.
enum QueryEventType: Int64 {
    case sendingQuery = 0, peerResponse = 1, finalPeer = 2, queryError = 3, provider = 4, value = 5
}

/// DHT record keys as users type them: `/pk/<peer ID>` and `/ipns/<name>` (the name as a peer ID or
/// a `libp2p-key` CID such as `k51…`) become the namespace and the peer ID's binary multihash, as
/// Kubo puts them on the wire; other `/namespace/rest` keys are taken as text.
public enum RoutingKey {
    public static func parse(_ text: String) throws(NodeError) -> [UInt8] {
        let parts = text.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            throw .invalidArgument("\(text) is not a routing key: expected /pk/<peer ID> or /ipns/<name>")
        }
        let namespace = "/\(parts[1])/"
        if parts[1] == "pk" || parts[1] == "ipns" {
            do {
                let peer = try PeerID(String(parts[2]))
                return Array(namespace.utf8) + peer.bytes
            } catch {
                throw .invalidArgument("\(text): \(parts[2]) is not a peer ID or libp2p-key CID (\(error))")
            }
        }
        return Array(text.utf8)
    }
}

/// `routing`, `dht` and `stats dht|provide`.
extension APIRoutes {
    func requireDHT() throws -> DualDHT {
        guard let dht = daemon.dht else {
            throw APIError.remote(status: 500, message: "routing is off (Routing.Type is \"none\"); set it to auto, dhtclient or dhtserver")
        }
        return dht
    }

    /// The announce queue and reprovider (it exists exactly when the DHT does).
    func requireProvider() throws -> ProviderService {
        _ = try requireDHT()
        guard let provider = daemon.provider else { throw APIError.remote(status: 500, message: "routing is off") }
        return provider
    }

    static func peerJSON(_ info: PeerInfo) -> JSONValue {
        ["ID": .string(info.peer.description), "Addrs": .array(info.addresses.map { .string($0.description) })]
    }

    static func event(_ type: QueryEventType, id: String = "", responses: [PeerInfo] = [], extra: String = "") -> JSONValue {
        [
            "Extra": .string(extra), "ID": .string(id),
            "Responses": responses.isEmpty ? .null : .array(responses.map(peerJSON)),
            "Type": .int(type.rawValue),
        ]
    }

    func cidArgument(_ request: APIRequest) throws -> CID {
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"key\" is required") }
        do { return try ContentPath(text).root } catch {
            throw APIError.remote(status: 400, message: "invalid CID \(text): \(error)")
        }
    }

    /// Streams one provider event per provider found. Options: `num-providers` (default 20).
    func routingFindProvs(_ request: APIRequest) throws -> APIResponse {
        let dht = try requireDHT()
        let cid = try cidArgument(request)
        let limit = Int(request.value("num-providers") ?? request.value("n") ?? "") ?? 20
        guard limit > 0 else { throw APIError.remote(status: 400, message: "num-providers must be greater than 0") }
        let (stream, continuation) = AsyncStream<JSONValue>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let task = Task {
            for await provider in dht.findProviders(cid, limit: limit) {
                continuation.yield(Self.event(.provider, responses: [provider]))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return .stream(stream)
    }

    func routingFindPeer(_ request: APIRequest) async throws -> APIResponse {
        let dht = try requireDHT()
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"peerID\" is required") }
        let peer: PeerID
        do { peer = try PeerID(text) } catch {
            throw APIError.remote(status: 400, message: "invalid peer ID \(text): \(error)")
        }
        guard peer != daemon.identity.peerID else {
            throw APIError.remote(status: 400, message: "found self: \(peer) is this node")
        }
        let info = try await withTimeout(.seconds(60), what: "finding peer \(peer)") { try await dht.findPeer(peer) }
        return .json(Self.event(.finalPeer, responses: [info]))
    }

    /// Announces each CID now (`recursive`: every block of its DAG present locally). With `queue`,
    /// queues the CIDs and returns at once (what `add`, `pin add`, `dag import` and `commit` use).
    func routingProvide(_ request: APIRequest) async throws -> APIResponse {
        let provider = try requireProvider()
        var cids: [CID] = []
        for text in request.arguments {
            do { cids.append(try ContentPath(text).root) } catch {
                throw APIError.remote(status: 400, message: "invalid CID \(text): \(error)")
            }
        }
        guard !cids.isEmpty else { throw APIError.remote(status: 400, message: "argument \"key\" is required") }
        let store = daemon.local.store
        for cid in cids {
            let has = try await BlockingExecutor.run { () throws(BlockStoreError) in try store.has(cid) }
            guard has else {
                throw APIError.remote(status: 500, message: "block \(cid) not found locally, cannot provide")
            }
        }
        if request.flag("recursive") {
            let roots = cids
            cids = try await BlockingExecutor.run { () throws -> [CID] in
                var out: [CID] = []
                for root in roots {
                    var walker = DAGExport.blocks(root: root, source: store)
                    while let block = try walker.next() { out.append(block.cid) }
                }
                return out
            }
        }
        if request.flag("queue") {
            provider.enqueue(cids)
            return .json(["Queued": .int(Int64(cids.count))])
        }
        let (stream, continuation) = AsyncStream<JSONValue>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let all = cids
        let task = Task {
            for cid in all {
                let result = await provider.provide([cid]).first?.result
                switch result {
                case .success(let peers)?:
                    continuation.yield(["Type": .int(QueryEventType.value.rawValue), "ID": .string(cid.description), "Peers": .int(Int64(peers)), "Extra": ""])
                case .failure(let error)?:
                    continuation.yield(["Type": .int(QueryEventType.queryError.rawValue), "ID": .string(cid.description), "Extra": .string("\(error)")])
                case nil:
                    break
                }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return .stream(stream)
    }

    func routingGet(_ request: APIRequest) async throws -> APIResponse {
        let dht = try requireDHT()
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"key\" is required") }
        let key = try RoutingKey.parse(text)
        let value = try await withTimeout(.seconds(60), what: "getting \(text)") { try await dht.getValue(key) }
        return .json(Self.event(.value, extra: Data(value).base64EncodedString()))
    }

    func routingPut(_ request: APIRequest) async throws -> APIResponse {
        let dht = try requireDHT()
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"key\" is required") }
        let key = try RoutingKey.parse(text)
        guard !request.body.isEmpty else { throw APIError.remote(status: 400, message: "the value (request body) is empty") }
        let value = request.body
        try await withTimeout(.seconds(60), what: "putting \(text)") { try await dht.putValue(key, value) }
        return .json(Self.event(.value, id: daemon.identity.peerID.description))
    }

    func routingReprovide(_ request: APIRequest) throws -> APIResponse {
        let provider = try requireProvider()
        provider.triggerReprovide()
        return .json(.null)
    }

    /// The closest peers to a peer ID's key, one final-peer event each.
    func dhtQuery(_ request: APIRequest) async throws -> APIResponse {
        let dht = try requireDHT()
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"peerID\" is required") }
        let peer: PeerID
        do { peer = try PeerID(text) } catch {
            throw APIError.remote(status: 400, message: "invalid peer ID \(text): \(error)")
        }
        var closest: [PeerID] = []
        for instance in dht.instances where instance.tableSize > 0 {
            closest += await instance.closestPeers(to: peer.bytes).closest
        }
        let target = KadKey(peer: peer)
        var seen = Set<PeerID>()
        let ordered = closest.filter { seen.insert($0).inserted }.sorted {
            target.isCloser(KadKey(peer: $0), than: KadKey(peer: $1))
        }
        let (stream, continuation) = AsyncStream<JSONValue>.makeStream()
        for p in ordered.prefix(20) { continuation.yield(Self.event(.finalPeer, id: p.description)) }
        continuation.finish()
        return .stream(stream)
    }

    func statsDHT(_ request: APIRequest) async throws -> APIResponse {
        let dht = try requireDHT()
        let connected = Set(await daemon.host.connections().map(\.remotePeer))
        let store = daemon.host.peerStore
        let tables: [JSONValue] = dht.instances.map { instance in
            let info = instance.info()
            return [
                "Name": .string(info.scope == .lan ? "lan" : "wan"),
                "Mode": .string(info.mode.rawValue),
                "Protocol": .string(info.protocolID.rawValue),
                "PeerCount": .int(Int64(info.peers.count)),
                "Buckets": .array(info.buckets.map { b in
                    ["Index": .int(Int64(b.index)), "Peers": .int(Int64(b.peers)), "Cached": .int(Int64(b.cached)),
                     // Never refreshed: null (the table reports -infinity).
                     "LastRefresh": b.lastRefreshed.isFinite ? .double(b.lastRefreshed) : .null]
                }),
                "Peers": .array(info.peers.map { p in
                    ["ID": .string(p.description), "Connected": .bool(connected.contains(p)),
                     "AgentVersion": .string(store.metadata("AgentVersion", of: p) ?? "")]
                }),
                "Stats": [
                    "RequestsSent": .int(Int64(info.stats.requestsSent)),
                    "RequestsFailed": .int(Int64(info.stats.requestsFailed)),
                    "Lookups": .int(Int64(info.stats.lookups)),
                    "InboundRefused": .int(Int64(info.stats.inboundRefused)),
                    "Inbound": .object(info.stats.inbound.mapValues { .int(Int64($0)) }),
                ],
            ]
        }
        return .json(.array(tables))
    }

    func statsProvide(_ request: APIRequest) throws -> APIResponse {
        let provider = try requireProvider()
        let s = provider.stats
        let duration: Double? = s.lastCycleStart.flatMap { start in s.lastCycleEnd.map { $0 - start } }
        return .json([
            "TotalProvides": .int(Int64(s.provided)),
            "FailedProvides": .int(Int64(s.failed)),
            "Queued": .int(Int64(s.queued)),
            "Strategy": .string(daemon.settings.reprovideStrategy.rawValue),
            "ReprovideInterval": .double(daemon.settings.reprovideInterval),
            "ReprovideRunning": .bool(s.cycleRunning),
            "LastReprovideStart": s.lastCycleStart.map { .double($0) } ?? .null,
            "LastReprovideDuration": duration.map { .double($0) } ?? .null,
            "LastReprovideBatchSize": .int(Int64(s.lastCycleKeys)),
            "LastReprovideLookups": .int(Int64(s.lastCycleLookups)),
            "LastReprovideMessages": .int(Int64(s.lastCycleMessages)),
        ])
    }
}
