import Foundation
import Logging
import Multiformats
import P2PCore
import P2PCrypto

/// Kubo's dual DHT: a LAN instance (`/ipfs/lan/kad/1.0.0`, loopback and private peers) and a WAN
/// instance (`/ipfs/kad/1.0.0`, public peers), each with its own routing table, behind the three
/// routing protocols. Lookups ask both and merge the answers; provides and puts go to both.
public final class DualDHT: ContentRouting, PeerRouting, ValueStore, Sendable {
    public let lan: KademliaDHT
    public let wan: KademliaDHT
    let host: any P2PHost
    let logger: Logger

    public init(lan: KademliaDHT, wan: KademliaDHT, host: any P2PHost, logger: Logger) {
        self.lan = lan
        self.wan = wan
        self.host = host
        self.logger = logger
    }

    public var instances: [KademliaDHT] { [lan, wan] }

    public func start() async {
        await lan.start()
        await wan.start()
    }

    public func stop() async {
        await lan.stop()
        await wan.stop()
    }

    /// Feeds host events to both tables.
    public func handle(_ event: HostEvent) {
        lan.handle(event)
        wan.handle(event)
    }

    /// Total peers in both tables.
    public var tableSize: Int { lan.tableSize + wan.tableSize }

    public func triggerRefresh() {
        lan.triggerRefresh()
        wan.triggerRefresh()
    }

    // MARK: ContentRouting

    public func findProviders(_ cid: CID, limit: Int) -> AsyncStream<PeerInfo> {
        let key = cid.multihash.bytes
        let (stream, continuation) = AsyncStream<PeerInfo>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let task = Task { [self] in
            let (merged, producers) = merge { $0.findProviders(key: key, limit: limit) }
            var seen = Set<PeerID>()
            for await info in merged where seen.insert(info.peer).inserted {
                continuation.yield(info)
                if limit > 0 && seen.count >= limit { break }
            }
            producers.cancel()
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    public func provide(_ cid: CID) async throws {
        _ = try await provide(key: cid.multihash.bytes)
    }

    /// Announces `key` in both tables; returns how many peers took it. Fails only when neither
    /// table had a peer to announce to.
    @discardableResult
    public func provide(key: [UInt8]) async throws -> Int {
        let addresses = await host.listenAddresses()
        var total = 0
        var errors: [String] = []
        for dht in instances where dht.tableSize > 0 {
            do {
                total += try await dht.provide(key: key, addresses: addresses)
            } catch {
                errors.append("\(error)")
            }
        }
        if total == 0 {
            throw RoutingError.unavailable(errors.isEmpty ? "no DHT peer to announce to (the routing tables are empty)" : errors.joined(separator: "; "))
        }
        return total
    }

    // MARK: PeerRouting

    public func findPeer(_ peer: PeerID) async throws -> PeerInfo {
        let known = host.peerStore.addresses(of: peer)
        if !known.isEmpty, await host.connections().contains(where: { $0.remotePeer == peer }) {
            return PeerInfo(peer: peer, addresses: known)
        }
        return try await withThrowingTaskGroup(of: PeerInfo?.self) { group in
            for dht in instances where dht.tableSize > 0 {
                group.addTask { try? await dht.findPeer(peer) }
            }
            for try await found in group {
                if let found {
                    group.cancelAll()
                    return found
                }
            }
            throw RoutingError.notFound("peer \(peer)")
        }
    }

    // MARK: ValueStore

    public func putValue(_ key: [UInt8], _ value: [UInt8]) async throws {
        var stored = 0
        var errors: [String] = []
        for dht in instances where dht.tableSize > 0 {
            do {
                stored += try await dht.putValue(key: key, value: value)
            } catch {
                errors.append("\(error)")
            }
        }
        if stored == 0 {
            throw RoutingError.unavailable(errors.isEmpty ? "no DHT peer stored the record" : errors.joined(separator: "; "))
        }
    }

    /// Stores a record of our own in the local record store only (see `KademliaDHT.putLocal`).
    public func putLocal(_ key: [UInt8], _ value: [UInt8]) throws {
        try lan.putLocal(key: key, value: value)
        if wan.values !== lan.values { try wan.putLocal(key: key, value: value) }
    }

    public func getValue(_ key: [UInt8]) async throws -> [UInt8] {
        var best: [UInt8]?
        for try await value in searchValue(key) { best = value }
        guard let best else { throw RoutingError.notFound("record \(RecordKey.describe(key))") }
        return best
    }

    public func searchValue(_ key: [UInt8]) -> AsyncThrowingStream<[UInt8], any Error> {
        let (stream, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        let validator = lan.validator
        let task = Task { [self] in
            let (merged, producers) = merge { $0.searchValues(key: key) }
            var best: [UInt8]?
            for await value in merged {
                if let current = best {
                    guard value != current,
                          let index = try? validator.select(key: key, values: [current, value]), index == 1
                    else { continue }
                }
                best = value
                continuation.yield(value)
            }
            producers.cancel()
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Both tables' `searchValueEvents`, merged: `.better` when a record beats every one before it
    /// (from either table), `.converged` once, with the best record so far, when either table's
    /// search converged or else when both ended, `.finished` when both lookups ended (corrections
    /// summed).
    public func searchValueEvents(_ key: [UInt8], correctStalePeers: Bool = true) -> AsyncStream<ValueSearchEvent> {
        let (stream, continuation) = AsyncStream<ValueSearchEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let validator = lan.validator
        let task = Task { [self] in
            let (merged, producers) = merge { $0.searchValueEvents(key: key, correctStalePeers: correctStalePeers) }
            var best: [UInt8]?
            var converged = false
            var finished = 0
            var corrected = 0
            for await event in merged {
                switch event {
                case .better(let value), .converged(let value):
                    if let current = best {
                        if value != current, let index = try? validator.select(key: key, values: [current, value]), index == 1 {
                            best = value
                            continuation.yield(.better(value))
                        }
                    } else {
                        best = value
                        continuation.yield(.better(value))
                    }
                    if case .converged = event, !converged, let best {
                        converged = true
                        continuation.yield(.converged(best))
                    }
                case .finished(_, let count):
                    finished += 1
                    corrected += count
                }
            }
            producers.cancel()
            if !converged, !Task.isCancelled, let best { continuation.yield(.converged(best)) }
            if finished == instances.count || !Task.isCancelled {
                continuation.yield(.finished(best: best, corrected: corrected))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// One stream of what both tables' searches yield, in arrival order, and the task feeding it
    /// (cancel it once enough has been read; the stream ends when both searches do).
    private func merge<T: Sendable>(
        _ search: @escaping @Sendable (KademliaDHT) -> AsyncStream<T>
    ) -> (AsyncStream<T>, Task<Void, Never>) {
        let (merged, sink) = AsyncStream<T>.makeStream()
        let producers = Task { [lan, wan] in
            await withTaskGroup(of: Void.self) { group in
                for dht in [lan, wan] {
                    group.addTask { for await item in search(dht) { sink.yield(item) } }
                }
            }
            sink.finish()
        }
        return (merged, producers)
    }
}
