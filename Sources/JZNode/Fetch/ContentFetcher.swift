import Bitswap
import BlockStore
import Foundation
import IPLD
import Logging
import Multiformats
import P2PCore
import P2PCrypto
import UnixFS

/// What `jz-node fetch` is asked to get.
public struct FetchRequest: Sendable {
    public var path: ContentPath
    /// Peers to dial and ask (each must end in `/p2p/<id>`).
    public var peers: [Multiaddr]
    /// Overall time limit (nil: none).
    public var timeout: Duration?
    /// Pin the fetched DAG recursively.
    public var pin: Bool
    /// Fetch the whole DAG (false: only the blocks that name the target).
    public var recursive: Bool
    /// With `recursive`: follow links at most this many levels below the target (nil: all; 1: a
    /// directory and its entries' first blocks, as `ls` needs).
    public var maxDepth: Int?

    public init(
        path: ContentPath, peers: [Multiaddr] = [], timeout: Duration? = nil, pin: Bool = true, recursive: Bool = true,
        maxDepth: Int? = nil
    ) {
        self.maxDepth = maxDepth
        self.path = path
        self.peers = peers
        self.timeout = timeout
        self.pin = pin
        self.recursive = recursive
    }
}

/// How a fetch went (the `--json` answer of `jz-node fetch`).
public struct FetchReport: Sendable {
    /// The CID the path resolved to (the DAG fetched).
    public var target: CID
    public var result: FetchResult
    public var pinned: Bool
    /// `--peer` addresses that could not be dialled, with the reason.
    public var unreachable: [(address: String, reason: String)]

    public var json: JSONValue {
        [
            "Root": .string(target.description),
            "Blocks": .int(Int64(result.blocks)),
            "BlocksFetched": .int(Int64(result.blocksFetched)),
            "BlocksPresent": .int(Int64(result.blocksPresent)),
            "BytesFetched": .int(Int64(result.bytesFetched)),
            "Seconds": .double(result.seconds),
            "Pinned": .bool(pinned),
            "Providers": .array(result.providers.map {
                ["Peer": .string($0.peer.description), "Blocks": .int(Int64($0.blocks)), "Bytes": .int(Int64($0.bytes))]
            }),
            "DroppedPeers": .array(result.droppedPeers.map {
                ["Peer": .string($0.peer.description), "Reason": .string($0.reason)]
            } + unreachable.map { ["Peer": .string($0.address), "Reason": .string($0.reason)] }),
        ]
    }
}

/// Progress as the CLI shows it.
public typealias FetchProgressHandler = @Sendable (FetchProgress) -> Void

/// Fetching content over bitswap: dial the given peers, resolve the path (fetching the
/// directory blocks it crosses), fetch the DAG, pin it. Shared by the daemon and the one-shot
/// node of `jz-node fetch`.
public enum ContentFetcher {
    public static func fetch(
        _ request: FetchRequest, host: any P2PHost, bitswap: Bitswap, local: LocalNode, logger: Logger,
        progress: FetchProgressHandler? = nil
    ) async throws -> FetchReport {
        // Dial the given peers in parallel.
        var peers: [PeerID] = []
        var unreachable: [(String, String)] = []
        await withTaskGroup(of: (String, Result<PeerID, Error>).self) { group in
            for address in request.peers {
                group.addTask {
                    do {
                        let peer = try await withTimeout(.seconds(30), what: "dial \(address)") {
                            try await host.connect(address)
                        }
                        return (address.description, .success(peer))
                    } catch {
                        return (address.description, .failure(error))
                    }
                }
            }
            for await (address, outcome) in group {
                switch outcome {
                case .success(let peer): peers.append(peer)
                case .failure(let error):
                    logger.warning("fetch: cannot dial \(address): \(error)")
                    unreachable.append((address, "\(error)"))
                }
            }
        }
        let connected = await host.connections()
        if !request.peers.isEmpty && peers.isEmpty && connected.isEmpty {
            let reasons = unreachable.map { "\($0.0): \($0.1)" }.joined(separator: "; ")
            throw NodeError.network("cannot reach any of the given peers (\(reasons))")
        }
        let deadline = request.timeout.map { ContinuousClock.now + $0 }
        func remaining() -> Duration? { deadline.map { max(.zero, $0 - ContinuousClock.now) } }

        let lease = await BlockingExecutor.run { local.store.gcLease() }
        defer { lease.release() }

        // Resolve the path, fetching the blocks it crosses.
        var target = request.path.root
        if !request.path.components.isEmpty {
            var attempts = 0
            let path = request.path
            resolving: while true {
                let outcome: Result<CID, ExportError> = await BlockingExecutor.run { () -> Result<CID, ExportError> in
                    do throws(ExportError) { return .success(try local.resolve(path)) } catch { return .failure(error) }
                }
                switch outcome {
                case .success(let cid):
                    target = cid
                    break resolving
                case .failure(let error):
                    guard case .missingBlock(let missing, _) = error else { throw error }
                    attempts += 1
                    guard attempts <= 10_000 else { throw NodeError.network("resolving \(path) needs too many blocks") }
                    let options = FetchOptions(peers: peers, timeout: remaining(), recursive: false)
                    _ = try await bitswap.fetch(missing, options: options)
                }
            }
        }
        let options = FetchOptions(peers: peers, timeout: remaining(), recursive: request.recursive, maxDepth: request.maxDepth)
        let resolved = target
        let result = try await bitswap.fetch(resolved, options: options, progress: progress)
        var pinned = false
        if request.pin {
            // Only a whole DAG can be pinned recursively; a partial fetch pins its root block.
            let whole = request.recursive && request.maxDepth == nil
            try await BlockingExecutor.run { () throws(BlockStoreError) in try local.store.pin(resolved, recursive: whole, name: nil) }
            pinned = true
        }
        return FetchReport(target: target, result: result, pinned: pinned, unreachable: unreachable)
    }
}
