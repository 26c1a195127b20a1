import BlockStore
import Foundation
import KadDHT
import Logging
import Multiformats
import P2PCore

/// What `stats provide` shows.
public struct ProvideStats: Sendable {
    /// CIDs announced since the daemon started (each once per announcement).
    public var provided = 0
    /// Announcements that reached no peer.
    public var failed = 0
    /// CIDs waiting in the announce queue.
    public var queued = 0
    /// The last reprovide cycle: when it started and ended (seconds since 1970), CIDs, lookups.
    public var lastCycleStart: Double?
    public var lastCycleEnd: Double?
    public var lastCycleKeys = 0
    public var lastCycleLookups = 0
    public var lastCycleMessages = 0
    public var cycleRunning = false
}

/// Announces what the node stores (`add`, `pin add`, `dag import`, `fetch`, `commit` queue roots
/// here) and reprovides everything the `Reprovider.Strategy` covers every `Reprovider.Interval`,
/// as a keyspace sweep: one lookup per region of the keyspace serves every CID in it.
public final class ProviderService: Sendable {
    let dht: DualDHT
    let services: NodeServices
    let logger: Logger
    private let state = Locked<State>(State())
    private let queueSignal: AsyncStream<Void>.Continuation
    private let queueWakeups: AsyncStream<Void>
    /// Largest number of CIDs waiting to be announced; more are left to the next reprovide.
    static let maxQueued = 4096

    private struct State {
        var queue: [CID] = []
        var queued: Set<CID> = []
        var stats = ProvideStats()
        var worker: Task<Void, Never>?
        var cycle: Task<Void, Never>?
    }

    init(dht: DualDHT, services: NodeServices, logger: Logger) {
        self.dht = dht
        self.services = services
        self.logger = logger
        (queueWakeups, queueSignal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    public var stats: ProvideStats {
        state.withLock { s in
            var out = s.stats
            out.queued = s.queue.count
            return out
        }
    }

    /// Announces `cids` now (one lookup each) and returns, per CID, how many peers took it or why
    /// it failed.
    public func provide(_ cids: [CID]) async -> [(cid: CID, result: Result<Int, any Error>)] {
        var out: [(CID, Result<Int, any Error>)] = []
        for cid in cids {
            do {
                let peers = try await dht.provide(key: cid.multihash.bytes)
                state.withLock { $0.stats.provided += 1 }
                out.append((cid, .success(peers)))
            } catch {
                state.withLock { $0.stats.failed += 1 }
                out.append((cid, .failure(error)))
            }
        }
        return out
    }

    /// Queues `cids` for announcement in the background (duplicates and overflow dropped: the next
    /// reprovide covers them).
    public func enqueue(_ cids: [CID]) {
        let added = state.withLock { s -> Bool in
            var any = false
            for cid in cids where s.queue.count < Self.maxQueued && s.queued.insert(cid).inserted {
                s.queue.append(cid)
                any = true
            }
            if s.worker == nil {
                s.worker = Task { [weak self] in await self?.drain() }
            }
            return any
        }
        if added { queueSignal.yield() }
    }

    private func drain() async {
        for await _ in queueWakeups {
            while let next = state.withLock({ s -> CID? in
                guard !s.queue.isEmpty else { return nil }
                let cid = s.queue.removeFirst()
                s.queued.remove(cid)
                return cid
            }) {
                let result = await provide([next])
                if case .failure(let error)? = result.first?.result {
                    logger.info("provide \(next): \(error)")
                }
            }
        }
    }

    /// The multihashes the strategy covers, read from the store (off the cooperative pool):
    /// `all` every block, `pinned` every block of a pinned DAG, `roots` the pinned roots.
    func strategyKeys() async throws -> [Multihash] {
        let strategy = services.settings.reprovideStrategy
        let store = services.local.store
        return try await BlockingExecutor.run { () throws(BlockStoreError) -> [Multihash] in
            switch strategy {
            case .all:
                return try store.allMultihashes()
            case .roots:
                return try store.pins(type: .recursive).map(\.cid.multihash) + store.pins(type: .direct).map(\.cid.multihash)
            case .pinned:
                return try store.pins(type: .all).map(\.cid.multihash)
            }
        }
    }

    /// Reprovides every `interval` seconds until cancelled (0: never). A cycle interrupted by a
    /// restart resumes where it stopped (progress kept in `<home>/dht.sqlite`).
    func runReprovider(interval: Double) async {
        guard interval > 0 else { return }
        while !Task.isCancelled {
            let wait = await reprovideCycle(interval: interval)
            try? await Task.sleep(for: .seconds(max(wait, 60)))
        }
    }

    /// Starts a reprovide cycle now unless one runs; returns at once.
    public func triggerReprovide() {
        state.withLock { s in
            guard s.cycle == nil else { return }
            s.cycle = Task { [weak self] in
                _ = await self?.reprovideCycle(interval: 0, force: true)
                self?.state.withLock { $0.cycle = nil }
            }
        }
    }

    /// Runs (or resumes) one cycle when it is due; returns the seconds until the next one is due.
    func reprovideCycle(interval: Double, force: Bool = false) async -> Double {
        let now = Date().timeIntervalSince1970
        let progress = await loadProgress()
        let cycleStart = progress?.values.map(\.cycleStart).min()
        let complete = progress?.values.allSatisfy(\.isComplete) ?? false
        if !force, let cycleStart, complete, now - cycleStart < interval {
            return interval - (now - cycleStart)
        }
        guard dht.tableSize > 0 else {
            logger.info("reprovide: no DHT peers yet; retrying in a minute")
            return 60
        }
        let keys: [Multihash]
        do {
            keys = try await strategyKeys()
        } catch {
            logger.warning("reprovide: cannot list what to provide: \(error)")
            return 600
        }
        // One cycle at a time (the timer's and `routing reprovide`'s).
        let alreadyRunning = state.withLock { s -> Bool in
            if s.stats.cycleRunning { return true }
            s.stats.cycleRunning = true
            s.stats.lastCycleStart = now
            return false
        }
        guard !alreadyRunning else { return 60 }
        let fresh = force || complete || progress == nil
        let outcome = await sweep(keys, resumeFrom: fresh ? nil : progress, started: fresh ? now : (cycleStart ?? now))
        state.withLock { s in
            s.stats.cycleRunning = false
            s.stats.lastCycleEnd = Date().timeIntervalSince1970
            s.stats.lastCycleKeys = keys.count
            s.stats.lastCycleLookups = outcome.lookups
            s.stats.lastCycleMessages = outcome.messages
        }
        logger.info("reprovide: \(keys.count) CIDs announced with \(outcome.lookups) lookups and \(outcome.messages) messages")
        return interval
    }

    /// Announces `keys` by keyspace sweep in each DHT table with peers: the keys are grouped into
    /// regions holding about k peers each (the region size comes from the table's estimate of the
    /// network size); one lookup per region finds its peers and every key of the region goes to its
    /// k closest among them. Progress is saved after each region, so a restart resumes the cycle.
    func sweep(_ keys: [Multihash], resumeFrom saved: [DHTScope: SweepProgress]?, started: Double) async -> (lookups: Int, messages: Int) {
        var lookups = 0
        var messages = 0
        var progress: [DHTScope: SweepProgress] = saved ?? [:]
        let addresses = await services.announcedAddresses()
        let multihashes = keys.map(\.bytes)
        for instance in dht.instances where instance.tableSize > 0 {
            let scope = instance.config.scope
            let local = KadKey(peer: instance.localPeer)
            let neighbours = instance.nearestPeers(to: instance.localPeer.bytes, count: 20).map { KadKey(peer: $0) }
            let size = ReprovideSweep.estimateNetworkSize(around: local, nearest: neighbours) ?? Double(instance.tableSize)
            let plan = ReprovideSweep(multihashes: multihashes, networkSize: size)
            var current = progress[scope].flatMap { $0.prefixLength == plan.prefixLength && !$0.isComplete ? $0 : nil }
                ?? SweepProgress.start(at: started)
            for region in plan.regions(from: current) {
                guard !Task.isCancelled, let probe = region.keys.first else { break }
                // A key of the region stands for it: its lookup finds the region's peers.
                let found = await instance.closestPeers(to: probe.multihash)
                lookups += 1
                messages += found.requests
                for (key, peers) in plan.assign(region, peers: found.closest) {
                    messages += await instance.announce(key: key.multihash, addresses: addresses, to: peers)
                }
                current = current.advanced(past: region)
                progress[scope] = current
                await saveProgress(progress)
            }
            if !Task.isCancelled {
                progress[scope] = current.completed()
                await saveProgress(progress)
            }
        }
        state.withLock { $0.stats.provided += keys.count }
        return (lookups, messages)
    }

    /// The saved sweep progress of each table (nil when none or unreadable: a new cycle starts).
    func loadProgress() async -> [DHTScope: SweepProgress]? {
        guard let bytes = try? await services.loadReprovideState(), !bytes.isEmpty else { return nil }
        var out: [DHTScope: SweepProgress] = [:]
        let size = SweepProgress.encodedLength
        for (index, scope) in [DHTScope.lan, .wan].enumerated() where bytes.count >= (index + 1) * size {
            if let p = try? SweepProgress(bytes: Array(bytes[(index * size)..<((index + 1) * size)])) { out[scope] = p }
        }
        return out.isEmpty ? nil : out
    }

    func saveProgress(_ progress: [DHTScope: SweepProgress]) async {
        let empty = SweepProgress.start(at: 0).completed()
        let bytes = (progress[.lan] ?? empty).bytes + (progress[.wan] ?? empty).bytes
        do {
            try await services.saveReprovideState(bytes)
        } catch {
            logger.warning("reprovide: cannot save progress: \(error)")
        }
    }
}
