import Bitswap
import Foundation
import Multiformats
import P2PCore
import P2PCrypto

/// `fetch` and the `bitswap` commands.
extension APIRoutes {
    /// Fetches a DAG; streams progress and the result (see `streaming`).
    /// Options: `arg` (CID or /ipfs/ path), `peer` (repeatable multiaddr), `timeout` (seconds),
    /// `pin` (default true), `recursive` (default true), `depth` (levels of links to follow;
    /// default all).
    func fetch(_ request: APIRequest) throws -> APIResponse {
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"cid\" is required") }
        let path: ContentPath
        do { path = try ContentPath(text) } catch {
            throw APIError.remote(status: 400, message: "invalid path \(text): \(error)")
        }
        var peers: [Multiaddr] = []
        for value in request.parameters.filter({ $0.0 == "peer" }).map(\.1) {
            do { peers.append(try Multiaddr(value)) } catch {
                throw APIError.remote(status: 400, message: "invalid multiaddr \(value): \(error)")
            }
        }
        var timeout: Duration?
        if let value = request.value("timeout") {
            guard let seconds = Double(value), seconds > 0 else {
                throw APIError.remote(status: 400, message: "timeout must be a positive number of seconds")
            }
            timeout = .milliseconds(Int64(seconds * 1000))
        }
        var depth: Int?
        if let value = request.value("depth") {
            guard let levels = Int(value), levels >= 0 else {
                throw APIError.remote(status: 400, message: "depth must be a whole number of levels (0 or more)")
            }
            depth = levels
        }
        let fetchRequest = FetchRequest(
            path: path, peers: peers, timeout: timeout, pin: request.flag("pin", default: true),
            recursive: request.flag("recursive", default: true), maxDepth: depth)
        let daemon = daemon
        return Self.streaming { emit in
            let report = try await ContentFetcher.fetch(
                fetchRequest, host: daemon.host, bitswap: daemon.bitswap, local: daemon.local, logger: daemon.logger
            ) { progress in emit(progress.json) }
            // What a fetch pinned is ours to provide now (unpinned fetches for `cat` are not).
            if report.pinned { daemon.provider?.enqueue([report.target]) }
            return report.json
        }
    }

    /// A long command's answer: `{"Progress": {...}}` documents (at most every 250 ms, as
    /// `emit` is called), then `{"Result": {...}}` or `{"Error": "..."}`. A heartbeat every
    /// second notices a client that went away (Ctrl-C): the write fails, the stream ends and the
    /// work is cancelled.
    static func streaming(_ work: @escaping @Sendable (_ emit: @escaping @Sendable (JSONValue) -> Void) async throws -> JSONValue) -> APIResponse {
        let (stream, continuation) = AsyncStream<JSONValue>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let throttle = ProgressThrottle()
        let task = Task {
            do {
                let result = try await work { progress in
                    if throttle.shouldEmit() { continuation.yield(["Progress": progress]) }
                }
                continuation.yield(["Result": result])
            } catch {
                continuation.yield(["Error": .string("\(error)")])
            }
            continuation.finish()
        }
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                continuation.yield(["Progress": .null])
            }
        }
        continuation.onTermination = { termination in
            heartbeat.cancel()
            if case .cancelled = termination { task.cancel() }
        }
        return .stream(stream)
    }

    func bitswapStat(_ request: APIRequest) async -> APIResponse {
        let stats = daemon.bitswap.stats()
        let peers = Set(await daemon.host.connections().map(\.remotePeer)).map(\.description).sorted()
        return .json([
            "ProvideBufLen": 0,
            "Wantlist": .array(daemon.bitswap.wantlist().map { ["/": .string($0.description)] }),
            "Peers": .array(peers.map { .string($0) }),
            "BlocksReceived": .int(Int64(stats.blocksReceived)),
            "DataReceived": .int(Int64(stats.dataReceived)),
            "DupBlksReceived": .int(Int64(stats.duplicateBlocksReceived)),
            "DupDataReceived": .int(Int64(stats.duplicateDataReceived)),
            "BlocksSent": .int(Int64(stats.blocksSent)),
            "DataSent": .int(Int64(stats.dataSent)),
            "MessagesReceived": .int(Int64(stats.messagesReceived)),
            "BadBlocksReceived": .int(Int64(stats.badBlocksReceived)),
        ])
    }

    func bitswapWantlist(_ request: APIRequest) throws -> APIResponse {
        let keys: [CID]
        if let text = request.value("peer") {
            keys = daemon.bitswap.wantlist(of: try peerID(in: text)).map(\.cid)
        } else {
            keys = daemon.bitswap.wantlist()
        }
        return .json(["Keys": .array(keys.map { ["/": .string($0.description)] })])
    }

    func bitswapLedger(_ request: APIRequest) throws -> APIResponse {
        guard let text = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"peer\" is required") }
        let ledger = daemon.bitswap.ledger(for: try peerID(in: text))
        return .json([
            "Peer": .string(ledger.peer.description),
            "Value": .double(ledger.value),
            "Sent": .int(Int64(ledger.bytesSent)),
            "Recv": .int(Int64(ledger.bytesReceived)),
            "Exchanged": .int(Int64(ledger.exchanged)),
        ])
    }
}

extension FetchProgress {
    /// The JSON form streamed by the `fetch` API command.
    public var json: JSONValue {
        [
            "BlocksKnown": .int(Int64(blocksKnown)), "BlocksDone": .int(Int64(blocksDone)),
            "BlocksPresent": .int(Int64(blocksPresent)), "BytesFetched": .int(Int64(bytesFetched)),
            "Peers": .int(Int64(peers)),
        ]
    }

    /// Parses the JSON form.
    public init?(json: JSONValue) {
        guard case .int(let known)? = json["BlocksKnown"], case .int(let done)? = json["BlocksDone"],
              case .int(let present)? = json["BlocksPresent"], case .int(let bytes)? = json["BytesFetched"],
              case .int(let peers)? = json["Peers"] else { return nil }
        self.init(blocksKnown: Int(known), blocksDone: Int(done), blocksPresent: Int(present), bytesFetched: Int(bytes), peers: Int(peers))
    }
}

/// Lets at most one progress report through every 250 ms.
final class ProgressThrottle: @unchecked Sendable {
    private let lock = Mutex()
    private var last = ContinuousClock.now - .seconds(1)

    func shouldEmit() -> Bool {
        lock.withLock {
            let now = ContinuousClock.now
            guard now - last >= .milliseconds(250) else { return false }
            last = now
            return true
        }
    }
}
