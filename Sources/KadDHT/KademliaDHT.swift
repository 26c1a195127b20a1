import Foundation
import Logging
import Multiformats
import P2PCore
import P2PCrypto

/// Counters of one DHT instance (`stats dht`).
public struct DHTStats: Sendable, Equatable {
    public var requestsSent = 0
    public var requestsFailed = 0
    public var inbound: [String: Int] = [:]
    public var inboundRefused = 0
    public var lookups = 0
    public var admissionChecks = 0
    public var admissionFailures = 0
}

/// What `stats dht` shows of one table.
public struct DHTTableInfo: Sendable {
    public var scope: DHTScope
    public var mode: DHTMode
    public var protocolID: ProtocolID
    public var peers: [PeerID]
    public var buckets: [RoutingTable.BucketInfo]
    public var stats: DHTStats
}

/// How a lookup went: the closest peers that answered, and its cost.
public struct LookupOutcome: Sendable {
    public var closest: [PeerID]
    public var requests: Int
    /// Hops of the answer that ended the lookup (or of the closest peer when it ran to the end).
    public var hops: Int
}

/// One Kademlia DHT over any `P2PHost` (libp2p/specs kad-dht, go-libp2p-kad-dht's behaviour): a
/// routing table fed by identify and by answers, iterative lookups driven by the pure `Lookup`
/// machine, a server for FIND_NODE, GET_PROVIDERS, ADD_PROVIDER, GET_VALUE, PUT_VALUE and PING, and
/// the client side of each. `DualDHT` runs a LAN and a WAN instance as Kubo does.
public final class KademliaDHT: Sendable {
    public let config: DHTConfig
    let host: any P2PHost
    let providers: ProviderStore
    let values: ValueRecordStore
    let validator: any RecordValidator
    let logger: Logger
    let clock: @Sendable () -> Double
    /// An NSLock-based lock rather than `Synchronization.Mutex`: ThreadSanitizer does not see the
    /// latter's futex on Linux and reports every access under it as a race.
    private let state: Locked<State>
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: Locked<AsyncStream<Void>?>

    private struct State {
        var table: RoutingTable
        var mode: DHTMode
        var running = false
        var checking: Set<PeerID> = []
        var stats = DHTStats()
        var maintenance: Task<Void, Never>?
        var inboundBudget = RequestBudget()
    }

    public init(
        host: any P2PHost, config: DHTConfig, providers: ProviderStore, values: ValueRecordStore,
        validator: any RecordValidator, logger: Logger,
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.host = host
        self.config = config
        self.providers = providers
        self.values = values
        self.validator = validator
        var logger = logger
        logger[metadataKey: "dht"] = "\(config.scope.rawValue)"
        self.logger = logger
        self.clock = clock
        state = Locked(State(table: RoutingTable(local: host.localPeer, config: config.table), mode: config.mode))
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        wake = continuation
        wakeups = Locked(stream)
    }

    public var localPeer: PeerID { host.localPeer }
    public var mode: DHTMode { state.withLock { $0.mode } }
    public var tableSize: Int { state.withLock { $0.table.count } }

    // MARK: lifecycle

    /// Serves the protocol in server mode and starts table upkeep (refresh every `refreshInterval`).
    public func start() async {
        let alreadyRunning = state.withLock { s -> Bool in
            defer { s.running = true }
            return s.running
        }
        guard !alreadyRunning else { return }
        if mode == .server { await registerHandler() }
        guard let wakeups = wakeups.withLock({ w -> AsyncStream<Void>? in defer { w = nil }; return w }) else { return }
        // One worker runs upkeep whenever woken; a ticker wakes it every `refreshInterval`, and so do
        // the first admitted peer and `triggerRefresh()` (wake-ups coalesce: the stream keeps one).
        let interval = config.refreshInterval
        let task = Task { [weak self, wake] in
            let ticker = Task {
                while !Task.isCancelled {
                    wake.yield()
                    try? await Task.sleep(for: .seconds(interval))
                }
            }
            defer { ticker.cancel() }
            for await _ in wakeups {
                guard let self, !Task.isCancelled else { return }
                await self.maintain()
            }
        }
        state.withLock { $0.maintenance = task }
    }

    public func stop() async {
        let task = state.withLock { s -> Task<Void, Never>? in
            s.running = false
            defer { s.maintenance = nil }
            return s.maintenance
        }
        task?.cancel()
        wake.finish()
        await host.removeHandler(config.protocolID)
    }

    /// Switches between client and server; returns whether the mode changed (the caller then pushes
    /// identify, so peers learn that the protocol appeared or went).
    @discardableResult
    public func setMode(_ mode: DHTMode) async -> Bool {
        let (changed, running) = state.withLock { s -> (Bool, Bool) in
            defer { s.mode = mode }
            return (s.mode != mode, s.running)
        }
        guard changed, running else { return changed }
        if mode == .server { await registerHandler() } else { await host.removeHandler(config.protocolID) }
        logger.info("dht mode is now \(mode.rawValue)")
        return true
    }

    /// Runs a refresh now (self lookup, stale buckets, liveness checks).
    public func triggerRefresh() { wake.yield() }

    private func registerHandler() async {
        await host.setHandler(config.protocolID) { [weak self] incoming in
            guard let self else {
                await incoming.stream.reset()
                return
            }
            await self.serve(incoming)
        }
    }

    // MARK: routing table

    /// Feeds a host event: identified peers that speak our protocol are checked with a FIND_NODE and
    /// then admitted (go-libp2p-kad-dht's `peerFound` → `lookupCheck` → `validPeerFound`).
    public func handle(_ event: HostEvent) {
        guard case .identified(let peer, let protocols, let addresses) = event else { return }
        guard protocols.contains(config.protocolID) else {
            // A peer that stopped speaking the protocol leaves the table.
            state.withLock { _ = $0.table.remove(peer) }
            return
        }
        guard addresses.contains(where: config.scope.accepts) else { return }
        let start = state.withLock { s -> Bool in
            guard s.running, s.table.isUsefulNewPeer(peer), !s.checking.contains(peer),
                  s.checking.count < config.maxConcurrentChecks
            else { return false }
            s.checking.insert(peer)
            s.stats.admissionChecks += 1
            return true
        }
        guard start else { return }
        Task { [weak self] in
            guard let self else { return }
            let ok = await self.check(peer)
            let (added, wasEmpty) = self.state.withLock { s -> (Bool, Bool) in
                s.checking.remove(peer)
                guard ok else {
                    s.stats.admissionFailures += 1
                    return (false, false)
                }
                let wasEmpty = s.table.count == 0
                let outcome = s.table.add(peer, addresses: addresses, now: self.clock(), queried: true)
                return (outcome == .added, wasEmpty)
            }
            if added {
                self.logger.debug("dht: peer added", metadata: ["peer": "\(peer)"])
                if wasEmpty { self.triggerRefresh() }
            }
        }
    }

    /// Adds a peer known to be a DHT server of this scope without checking it (tests, simulators).
    @discardableResult
    public func addPeer(_ peer: PeerID, addresses: [Multiaddr]) -> RoutingTable.AddOutcome {
        host.peerStore.addAddresses(addresses, for: peer, ttl: AddressTTL.recentlyConnected)
        return state.withLock { $0.table.add(peer, addresses: addresses, now: clock(), queried: true) }
    }

    /// A FIND_NODE for the peer's own ID: true when it answers sensibly.
    func check(_ peer: PeerID) async -> Bool {
        do {
            guard let answer = try await request(DHTMessage(kind: .findNode, key: peer.bytes), to: peer) else { return false }
            let tableFull = state.withLock { $0.table.count >= config.table.bucketSize }
            return !(answer.closerPeers.isEmpty && tableFull)
        } catch {
            logger.debug("dht: admission check failed", metadata: ["peer": "\(peer)", "reason": "\(error)"])
            return false
        }
    }

    /// The table's peers nearest to `key` (a DHT key: multihash, peer ID or record key bytes).
    public func nearestPeers(to key: [UInt8], count: Int) -> [PeerID] {
        state.withLock { $0.table.nearest(to: KadKey(key: key), count: count) }
    }

    public func info() -> DHTTableInfo {
        state.withLock { s in
            DHTTableInfo(
                scope: config.scope, mode: s.mode, protocolID: config.protocolID, peers: s.table.peers,
                buckets: s.table.buckets(), stats: s.stats)
        }
    }

    /// Table upkeep: a lookup of our own key (finds our neighbours), lookups for buckets not refreshed
    /// for `refreshInterval`, and a FIND_NODE to peers not heard from for `livenessInterval`.
    func maintain() async {
        // Expired provider and value records go (they are never served, but take room).
        let removed = try? await BlockingExecutor.run { [providers, clock] in try providers.sweep(now: clock()) }
        let removedValues = values.sweep(now: clock())
        if let removed, removed + removedValues > 0 {
            logger.debug("dht: \(removed) provider and \(removedValues) value records expired")
        }
        let (size, stale, buckets) = state.withLock { s in
            (s.table.count, s.table.peersNeedingCheck(now: clock(), staleAfter: config.livenessInterval),
             s.table.bucketsNeedingRefresh(now: clock(), interval: config.refreshInterval))
        }
        guard size > 0 else { return }
        await withTaskGroup(of: Void.self) { group in
            for peer in stale.prefix(64) {
                group.addTask { [self] in
                    if await check(peer) {
                        state.withLock { $0.table.markAlive(peer, now: clock()) }
                    } else {
                        state.withLock { _ = $0.table.remove(peer) }
                        logger.debug("dht: peer failed its liveness check", metadata: ["peer": "\(peer)"])
                    }
                }
            }
        }
        _ = await closestPeers(to: localPeer.bytes)
        let localKey = KadKey(peer: localPeer)
        var rng = SystemRandomNumberGenerator()
        for bucket in buckets {
            let key = RoutingTable.randomKey(commonPrefixLength: bucket, with: localKey, using: &rng)
            _ = await closestPeers(to: key)
            state.withLock { $0.table.markRefreshed(bucket: bucket, now: clock()) }
        }
    }

    // MARK: client: one request

    /// Sends `message` to `peer` on a new stream and reads the answer (`expectAnswer: false` for
    /// ADD_PROVIDER, which has none). Peers that answer are marked alive in the table.
    func request(_ message: DHTMessage, to peer: PeerID, expectAnswer: Bool = true) async throws -> DHTMessage? {
        state.withLock { $0.stats.requestsSent += 1 }
        let host = self.host
        let protocolID = config.protocolID
        let timeout = config.requestTimeout
        let maxBytes = config.maxMessageBytes
        do {
            let answer: [UInt8]? = try await RoutingScope.$isRouting.withValue(true) {
                let (stream, _) = try await withTimeout(timeout, what: "opening a \(protocolID) stream to \(peer)") {
                    try await host.newStream(to: peer, protocols: [protocolID])
                }
                do {
                    let bytes = try await withTaskCancellationHandler {
                        try await withStreamDeadline(timeout, what: "\(message.kind) to \(peer)", stream: stream) { () -> [UInt8]? in
                            try await stream.writeLengthPrefixed(message.encoded())
                            guard expectAnswer else { return nil }
                            let reader = StreamReader(stream)
                            guard let answer = try await reader.readLengthPrefixed(maxLength: maxBytes, what: "DHT answer from \(peer)") else {
                                throw DHTError.requestFailed(peer: peer, reason: "stream closed without an answer")
                            }
                            return answer
                        }
                    } onCancel: {
                        Task { await stream.reset() }
                    }
                    await stream.close()
                    return bytes
                } catch {
                    await stream.reset()
                    throw error
                }
            }
            guard let answer else { return nil }
            let decoded = try DHTMessage(bytes: answer)
            guard decoded.kind == message.kind else {
                throw DHTError.badAnswer(peer: peer, reason: "\(decoded.kind) in answer to \(message.kind)")
            }
            state.withLock { $0.table.markAlive(peer, now: clock()) }
            return decoded
        } catch {
            state.withLock { $0.stats.requestsFailed += 1 }
            throw error
        }
    }

    // MARK: client: lookups

    /// Peers named in an answer that we can dial in this scope (their addresses go to the peer store).
    func learn(_ peers: [DHTMessage.Peer], ttl: Double = AddressTTL.temporary) -> [PeerID] {
        var out: [PeerID] = []
        for p in peers where p.id != localPeer {
            let usable = p.addresses.filter(config.scope.accepts)
            if !usable.isEmpty {
                host.peerStore.addAddresses(usable, for: p.id, ttl: ttl)
            } else if host.peerStore.addresses(of: p.id).isEmpty {
                continue
            }
            out.append(p.id)
        }
        return out
    }

    /// An iterative lookup toward `key`: asks the closest known peers `message`, learns closer peers
    /// from each answer, and ends as `Lookup` decides or when `onAnswer` returns true.
    func lookup(
        key: [UInt8], message: DHTMessage, followUp: Bool = false,
        onAnswer: @escaping @Sendable (PeerID, DHTMessage, Int) async -> Bool = { _, _, _ in false }
    ) async -> LookupOutcome {
        let target = KadKey(key: key)
        let seeds = state.withLock { s -> [PeerID] in
            s.stats.lookups += 1
            return s.table.nearest(to: target, count: config.lookup.k)
        }
        var lookupConfig = config.lookup
        lookupConfig.followUp = followUp
        var machine = Lookup(target: target, seeds: seeds, local: localPeer, config: lookupConfig, now: clock())
        guard !seeds.isEmpty else { return LookupOutcome(closest: [], requests: 0, hops: 0) }
        let (answers, sink) = AsyncStream<(PeerID, Result<DHTMessage, any Error>)>.makeStream()
        var tasks: [PeerID: Task<Void, Never>] = [:]
        var inFlight = 0
        var endingHops = 0
        var iterator = answers.makeAsyncIterator()
        while !Task.isCancelled {
            for peer in machine.next(now: clock()) {
                inFlight += 1
                tasks[peer] = Task { [self] in
                    do {
                        if let answer = try await request(message, to: peer) {
                            sink.yield((peer, .success(answer)))
                        } else {
                            sink.yield((peer, .failure(DHTError.requestFailed(peer: peer, reason: "no answer"))))
                        }
                    } catch {
                        sink.yield((peer, .failure(error)))
                    }
                }
            }
            if machine.isFinished || inFlight == 0 { break }
            guard let (peer, result) = await iterator.next() else { break }
            inFlight -= 1
            tasks[peer] = nil
            switch result {
            case .success(let answer):
                let closer = learn(answer.closerPeers)
                machine.succeeded(peer, closer: closer, now: clock())
                // A peer that answered is a working DHT server of this scope: it may join the table.
                let addresses = host.peerStore.addresses(of: peer)
                if addresses.contains(where: config.scope.accepts) {
                    state.withLock { _ = $0.table.add(peer, addresses: addresses, now: clock(), queried: true) }
                }
                let hops = machine.hops(of: peer) ?? 1
                if await onAnswer(peer, answer, hops) {
                    endingHops = hops
                    machine.stop()
                }
            case .failure(let error):
                machine.failed(peer, now: clock())
                // A peer whose identify no longer lists the protocol leaves the table; one that is
                // merely unreachable stays until its liveness check fails.
                let protocols = host.peerStore.protocols(of: peer)
                if !protocols.isEmpty && !protocols.contains(config.protocolID) {
                    state.withLock { _ = $0.table.remove(peer) }
                }
                logger.trace("dht: \(message.kind) to \(peer) failed: \(error)")
            }
        }
        sink.finish()
        for task in tasks.values { task.cancel() }
        let closest = machine.closestQueried(config.lookup.k)
        let hops = endingHops > 0 ? endingHops : (closest.first.flatMap { machine.hops(of: $0) } ?? 0)
        return LookupOutcome(closest: closest, requests: machine.requestsSent, hops: hops)
    }

    /// The k closest DHT servers to `key` (go's GetClosestPeers: FIND_NODE with the key).
    /// The lookup asks every unanswered peer among the k closest before it ends (go's lookup with
    /// follow-up), so records go to the true k closest.
    public func closestPeers(to key: [UInt8]) async -> LookupOutcome {
        await lookup(key: key, message: DHTMessage(kind: .findNode, key: key), followUp: true)
    }

    /// Providers of `key` (a multihash): our own records first, then a GET_PROVIDERS lookup that ends
    /// once `limit` distinct providers are found (0: when the lookup ends).
    public func findProviders(key: [UInt8], limit: Int) -> AsyncStream<PeerInfo> {
        let (stream, continuation) = AsyncStream<PeerInfo>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let task = Task { [self] in
            let seen = Locked<Set<PeerID>>([])
            let offer: @Sendable (PeerInfo) -> Bool = { info in
                let fresh = seen.withLock { $0.insert(info.peer).inserted }
                if fresh { continuation.yield(info) }
                return limit > 0 && seen.withLock { $0.count } >= limit
            }
            let local = (try? await BlockingExecutor.run { [providers, clock] in
                try providers.providers(for: key, now: clock(), limit: max(limit, 20))
            }) ?? []
            for info in local where offer(info) {
                continuation.finish()
                return
            }
            _ = await lookup(key: key, message: DHTMessage(kind: .getProviders, key: key)) { [self] _, answer, _ in
                for provider in answer.providerPeers {
                    let addresses = provider.addresses.filter(config.scope.accepts)
                    if !addresses.isEmpty {
                        host.peerStore.addAddresses(addresses, for: provider.id, ttl: AddressTTL.provider)
                    }
                    if offer(PeerInfo(peer: provider.id, addresses: addresses)) { return true }
                }
                return false
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Announces that `provider` (ourselves, reachable at `addresses`) provides `key`: stores the
    /// record locally and sends ADD_PROVIDER to the k closest peers. Returns how many took it.
    public func provide(key: [UInt8], addresses: [Multiaddr]) async throws -> Int {
        let usable = addresses.filter(config.scope.accepts)
        let me = PeerInfo(peer: localPeer, addresses: usable)
        try await BlockingExecutor.run { [providers, clock] in
            try providers.addLocal(key: key, provider: me, now: clock())
        }
        let closest = await closestPeers(to: key).closest
        guard !closest.isEmpty else { throw DHTError.noPeers("no \(config.scope.rawValue) DHT peer to announce to") }
        return await announce(key: key, me: me, to: closest)
    }

    /// Announces `key` to the given peers (found by a lookup that served several keys, as the
    /// reprovide sweep does); returns how many were sent the record.
    public func announce(key: [UInt8], addresses: [Multiaddr], to peers: [PeerID]) async -> Int {
        let me = PeerInfo(peer: localPeer, addresses: addresses.filter(config.scope.accepts))
        try? await BlockingExecutor.run { [providers, clock] in
            try providers.addLocal(key: key, provider: me, now: clock())
        }
        return await announce(key: key, me: me, to: peers)
    }

    /// Sends ADD_PROVIDER for `key` to each of `peers` at once; returns how many were sent.
    func announce(key: [UInt8], me: PeerInfo, to peers: [PeerID]) async -> Int {
        let message = DHTMessage(kind: .addProvider, key: key, providerPeers: [DHTMessage.Peer(id: me.peer, addresses: me.addresses)])
        return await withTaskGroup(of: Bool.self) { group in
            for peer in peers {
                group.addTask { [self] in
                    do {
                        _ = try await request(message, to: peer, expectAnswer: false)
                        return true
                    } catch {
                        return false
                    }
                }
            }
            var sent = 0
            for await ok in group where ok { sent += 1 }
            return sent
        }
    }

    /// Finds `peer`'s addresses: at once when connected, else by a FIND_NODE lookup that ends when an
    /// answer names the peer with an address.
    public func findPeer(_ peer: PeerID) async throws -> PeerInfo {
        let known = host.peerStore.addresses(of: peer)
        if !known.isEmpty, await host.connections().contains(where: { $0.remotePeer == peer }) {
            return PeerInfo(peer: peer, addresses: known)
        }
        let found = Locked<PeerInfo?>(nil)
        _ = await lookup(key: peer.bytes, message: DHTMessage(kind: .findNode, key: peer.bytes)) { [self] _, answer, _ in
            guard let match = answer.closerPeers.first(where: { $0.id == peer && !$0.addresses.isEmpty }) else { return false }
            let addresses = match.addresses
            host.peerStore.addAddresses(addresses, for: peer, ttl: AddressTTL.temporary)
            found.withLock { $0 = PeerInfo(peer: peer, addresses: addresses) }
            return true
        }
        guard let info = found.withLock({ $0 }) else { throw RoutingError.notFound("peer \(peer) in the \(config.scope.rawValue) DHT") }
        return info
    }

    /// Validates and stores a record locally, then sends PUT_VALUE to the k closest peers.
    /// Returns how many peers stored it.
    public func putValue(key: [UInt8], value: [UInt8]) async throws -> Int {
        try validator.validate(key: key, value: value)
        try values.putLocal(key: key, value: value, now: clock())
        let closest = await closestPeers(to: key).closest
        guard !closest.isEmpty else { throw DHTError.noPeers("no \(config.scope.rawValue) DHT peer to store the record") }
        return await sendRecord(key: key, value: value, to: closest)
    }

    /// Validates and stores a record of our own locally only: GET_VALUE answers with it and searches
    /// start from it. Throws when it is invalid or not better than the stored one.
    public func putLocal(key: [UInt8], value: [UInt8]) throws {
        try validator.validate(key: key, value: value)
        try values.putLocal(key: key, value: value, now: clock())
    }

    /// Valid records for `key` as a GET_VALUE lookup finds them (our own first), each better than
    /// the one before. The stream ends once `valueAgreement` peers have returned the same best
    /// record (the network has converged on it), after `valueQuorum` records in all, or when the
    /// lookup ends.
    public func searchValues(key: [UInt8]) -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let task = Task { [self] in
            for await event in searchValueEvents(key: key, correctStalePeers: false) {
                switch event {
                case .better(let value): continuation.yield(value)
                case .converged, .finished: break
                }
                if case .converged = event { break }
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// A GET_VALUE search for `key` that runs to the lookup's normal end: `.better` for each valid
    /// record better than the ones before (our own copy first), `.converged` at most once (when
    /// `valueAgreement` peers returned the same best record, or after `valueQuorum` records), and
    /// `.finished` when the lookup ends. With `correctStalePeers`, the best record is then sent
    /// (PUT_VALUE) to the closest peers that returned an older record or none, and stored locally
    /// if ours was older (go-libp2p-kad-dht's `updatePeerValues`). Cancelling the consumer stops it.
    public func searchValueEvents(key: [UInt8], correctStalePeers: Bool = true) -> AsyncStream<ValueSearchEvent> {
        let (stream, continuation) = AsyncStream<ValueSearchEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let task = Task { [self] in
            let validator = self.validator
            let prefer: @Sendable ([UInt8], [UInt8]) -> Bool = { current, candidate in
                (try? validator.select(key: key, values: [current, candidate])) == 1
            }
            struct Search: Sendable {
                var tally: ValueTally
                var converged = false
                var answered: [PeerID: [UInt8]] = [:]
            }
            let search = Locked(Search(tally: ValueTally(agreement: config.valueAgreement, quorum: config.valueQuorum)))
            let mine = values.get(key: key, now: clock())?.value
            if let mine {
                continuation.yield(.better(mine))
                search.withLock { _ = $0.tally.add(mine, prefer: { _, _ in false }) }
            }
            // With corrections, the lookup asks every unanswered peer among the k closest (follow-up),
            // so all of them are known to hold the best record afterwards.
            let message = DHTMessage(kind: .getValue, key: key)
            let outcome = await lookup(key: key, message: message, followUp: correctStalePeers) { [self] peer, answer, _ in
                guard let record = answer.record, record.key == key else { return false }
                do {
                    try validator.validate(key: key, value: record.value)
                } catch {
                    logger.debug("dht: invalid record from \(peer): \(error)")
                    return false
                }
                let events = search.withLock { s -> [ValueSearchEvent] in
                    s.answered[peer] = record.value
                    let before = s.tally.best
                    let settled = s.tally.add(record.value, prefer: prefer)
                    var out: [ValueSearchEvent] = []
                    if let best = s.tally.best, best != before { out.append(.better(best)) }
                    if settled, !s.converged, let best = s.tally.best {
                        s.converged = true
                        out.append(.converged(best))
                    }
                    return out
                }
                for event in events { continuation.yield(event) }
                return false
            }
            let (best, answered) = search.withLock { ($0.tally.best, $0.answered) }
            var corrected = 0
            if correctStalePeers, let best, !Task.isCancelled {
                if mine != best { try? values.putLocal(key: key, value: best, now: clock()) }
                let stale = outcome.closest.filter { answered[$0] != best }
                corrected = await sendRecord(key: key, value: best, to: stale)
                if corrected > 0 { logger.debug("dht: corrected \(corrected) peer(s) holding an older record of \(RecordKey.describe(key))") }
            }
            continuation.yield(.finished(best: best, corrected: corrected))
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Sends PUT_VALUE of `value` to `peers` at once; returns how many stored it.
    func sendRecord(key: [UInt8], value: [UInt8], to peers: [PeerID]) async -> Int {
        let message = DHTMessage(kind: .putValue, key: key, record: DHTMessage.Record(key: key, value: value))
        return await withTaskGroup(of: Bool.self) { group in
            for peer in peers {
                group.addTask { [self] in (try? await request(message, to: peer)) != nil }
            }
            var stored = 0
            for await ok in group where ok { stored += 1 }
            return stored
        }
    }

    // MARK: server

    /// Reads requests from one inbound stream until it closes or idles, answering each.
    func serve(_ incoming: IncomingStream) async {
        let peer = incoming.remotePeer
        let stream = incoming.stream
        let reader = StreamReader(stream)
        guard mode == .server else {
            await stream.reset()
            return
        }
        while true {
            let bytes: [UInt8]?
            do {
                bytes = try await withStreamDeadline(config.streamIdleTimeout, what: "DHT request from \(peer)", stream: stream) {
                    try await reader.readLengthPrefixed(maxLength: self.config.maxMessageBytes, what: "DHT request from \(peer)")
                }
            } catch {
                refuse(peer, "\(error)")
                await stream.reset()
                return
            }
            guard let bytes else {
                await stream.close()
                return
            }
            let allowed = state.withLock { $0.inboundBudget.take(peer, now: clock(), rate: config.inboundRequestsPerSecond, burst: config.inboundRequestBurst) }
            guard allowed else {
                refuse(peer, "more than \(Int(config.inboundRequestsPerSecond)) requests per second")
                await stream.reset()
                return
            }
            do throws(any Error) {
                let request = try DHTMessage(bytes: bytes)
                state.withLock { $0.stats.inbound["\(request.kind)", default: 0] += 1 }
                if let answer = try await answer(request, from: peer, address: incoming.remoteAddress) {
                    try await stream.writeLengthPrefixed(answer.encoded())
                }
            } catch {
                refuse(peer, "\(error)")
                await stream.reset()
                return
            }
        }
    }

    private func refuse(_ peer: PeerID, _ reason: String) {
        state.withLock { $0.stats.inboundRefused += 1 }
        logger.debug("dht: request refused", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
    }

    /// The answer to one request (nil for ADD_PROVIDER); throws to refuse it (the stream is reset, as
    /// go-libp2p-kad-dht does for handler errors).
    func answer(_ request: DHTMessage, from peer: PeerID, address: Multiaddr) async throws -> DHTMessage? {
        switch request.kind {
        case .ping:
            return DHTMessage(kind: .ping)
        case .findNode:
            guard !request.key.isEmpty else { throw DHTError.refused(reason: "FIND_NODE without a key") }
            var closest = closerPeers(to: request.key, excluding: peer)
            if let target = try? PeerID(bytes: request.key), target != peer, closest.first?.id != target {
                let addresses = host.peerStore.addresses(of: target)
                if !addresses.isEmpty || target == localPeer {
                    closest.insert(DHTMessage.Peer(id: target, addresses: target == localPeer ? await host.listenAddresses() : addresses), at: 0)
                }
            }
            return DHTMessage(kind: .findNode, closerPeers: closest.filter { !$0.addresses.isEmpty })
        case .getProviders:
            try checkProviderKey(request.key, "GET_PROVIDERS")
            let key = request.key
            let found = try await BlockingExecutor.run { [providers, clock, config] in
                try providers.providers(for: key, now: clock(), limit: config.providersPerAnswer)
            }
            return DHTMessage(
                kind: .getProviders, key: key, closerPeers: closerPeers(to: key, excluding: peer),
                providerPeers: found.map { DHTMessage.Peer(id: $0.peer, addresses: $0.addresses) })
        case .addProvider:
            try checkProviderKey(request.key, "ADD_PROVIDER")
            var stored = false
            var lastError: (any Error)?
            for provider in request.providerPeers where provider.id == peer {
                // As go-libp2p-kad-dht: the provider must name an address, and the record keeps
                // those of our scope (a WAN record of a loopback-only peer keeps none).
                guard !provider.addresses.isEmpty else { continue }
                let addresses = provider.addresses.filter(config.scope.accepts)
                let key = request.key
                let info = PeerInfo(peer: peer, addresses: addresses)
                do {
                    try await BlockingExecutor.run { [providers, clock] in
                        try providers.add(key: key, provider: info, from: peer, now: clock())
                    }
                    if !addresses.isEmpty { host.peerStore.addAddresses(addresses, for: peer, ttl: AddressTTL.provider) }
                    stored = true
                } catch {
                    lastError = error
                }
            }
            guard stored else {
                throw DHTError.refused(reason: lastError.map { "\($0)" } ?? "ADD_PROVIDER names no valid provider (it must be the sender, with an address)")
            }
            return nil
        case .getValue:
            guard !request.key.isEmpty else { throw DHTError.refused(reason: "GET_VALUE without a key") }
            let record = values.get(key: request.key, now: clock()).map { DHTMessage.Record(key: request.key, value: $0.value) }
            return DHTMessage(kind: .getValue, key: request.key, record: record, closerPeers: closerPeers(to: request.key, excluding: peer))
        case .putValue:
            guard !request.key.isEmpty else { throw DHTError.refused(reason: "PUT_VALUE without a key") }
            guard let record = request.record else { throw DHTError.refused(reason: "PUT_VALUE without a record") }
            guard record.key == request.key else { throw DHTError.refused(reason: "PUT_VALUE key does not match the record's key") }
            try validator.validate(key: record.key, value: record.value)
            try values.put(key: record.key, value: record.value, from: peer, now: clock())
            return DHTMessage(kind: .putValue, key: request.key, record: record)
        }
    }

    private func checkProviderKey(_ key: [UInt8], _ what: String) throws {
        guard !key.isEmpty else { throw DHTError.refused(reason: "\(what) without a key") }
        guard key.count <= ProviderStore.maxKeyLength else {
            throw DHTError.refused(reason: "\(what) key of \(key.count) bytes (at most \(ProviderStore.maxKeyLength))")
        }
    }

    /// The k closest table peers to `key`, with their addresses, leaving out the asker.
    func closerPeers(to key: [UInt8], excluding asker: PeerID) -> [DHTMessage.Peer] {
        let peers = state.withLock { $0.table.nearest(to: KadKey(key: key), count: config.table.bucketSize, excluding: [asker]) }
        return peers.compactMap { p in
            let addresses = host.peerStore.addresses(of: p)
            return addresses.isEmpty ? nil : DHTMessage.Peer(id: p, addresses: addresses)
        }
    }
}

/// A token bucket per peer for inbound requests, so one peer's flood (ADD_PROVIDER, PUT_VALUE)
/// cannot take the server from others. Tracks at most `maxPeers` peers (the stalest are forgotten).
struct RequestBudget: Sendable {
    private var buckets: [PeerID: (tokens: Double, at: Double)] = [:]
    let maxPeers = 4096

    mutating func take(_ peer: PeerID, now: Double, rate: Double, burst: Double) -> Bool {
        var bucket = buckets[peer] ?? (burst, now)
        bucket.tokens = min(burst, bucket.tokens + max(0, now - bucket.at) * rate)
        bucket.at = now
        guard bucket.tokens >= 1 else {
            buckets[peer] = bucket
            return false
        }
        bucket.tokens -= 1
        if buckets[peer] == nil && buckets.count >= maxPeers {
            // Forget the peers idle longest (a full bucket is what a new peer gets anyway).
            let cutoff = buckets.values.map(\.at).sorted()[buckets.count / 2]
            buckets = buckets.filter { $0.value.at > cutoff }
        }
        buckets[peer] = bucket
        return true
    }
}

/// What a value search (`searchValueEvents`) reports.
public enum ValueSearchEvent: Sendable, Equatable {
    /// A valid record better than every one before it (the first one found included).
    case better([UInt8])
    /// The search converged on this best record (reported at most once): enough peers returned
    /// it. A search that ends first reports only `.finished`.
    case converged([UInt8])
    /// The lookup ended with this best record (nil: none found); `corrected` peers among the
    /// closest were sent it because they held an older record or none.
    case finished(best: [UInt8]?, corrected: Int)
}

/// Counts records a GET_VALUE search has seen: how many peers returned the best one so far.
struct ValueTally: Sendable {
    let agreement: Int
    let quorum: Int
    private(set) var best: [UInt8]?
    private(set) var agreeing = 0
    private(set) var total = 0

    init(agreement: Int, quorum: Int) {
        self.agreement = agreement
        self.quorum = quorum
    }

    /// Adds a valid record; `prefer(current, candidate)` says whether the candidate is better.
    /// Returns true when the search may settle.
    mutating func add(_ value: [UInt8], prefer: ([UInt8], [UInt8]) -> Bool) -> Bool {
        total += 1
        if let current = best, current == value {
            agreeing += 1
        } else if best == nil || prefer(best ?? [], value) {
            best = value
            agreeing = 1
        }
        return agreeing >= agreement || total >= quorum
    }
}
