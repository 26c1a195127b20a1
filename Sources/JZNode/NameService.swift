import Foundation
import IPNS
import KadDHT
import Logging
import Multiformats
import P2PCore
import P2PCrypto
import Synchronization

/// Why a name could not be published or resolved.
public enum NameServiceError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No DHT peer to publish to, and `allowOffline` was not given (Kubo's refusal).
    case offline(name: String)
    /// The asked sequence would not replace the current record (`current` is the best one held
    /// here or in the network).
    case sequenceNotNewer(name: String, asked: UInt64, current: UInt64)
    /// No valid record of the name was found (`where`: the DHT, or the local records).
    case notFound(name: String, where: String)
    /// The record of the name does not hold a text path.
    case valueNotAPath(name: String)
    /// Following `/ipns/` values went deeper than `depth` names.
    case tooDeep(path: String, depth: Int)
    /// A path that does not start with `/ipns/NAME`, or a NAME that is not a name.
    case invalidName(String, reason: String)
    /// A path to publish that is neither `/ipfs/CID[/…]`, a CID, nor `/ipns/NAME[/…]`.
    case invalidPath(String, reason: String)

    public var description: String {
        switch self {
        case let .offline(name):
            return "can't publish \(name) while offline (no DHT peer): start the daemon with peers, or pass --allow-offline to store the record locally (the daemon puts it on the network later)"
        case let .sequenceNotNewer(name, asked, current):
            return "sequence \(asked) would not replace the record of \(name) (sequence \(current)); use \(current + 1) or more"
        case let .notFound(name, place): return "no valid record of \(name) found in \(place)"
        case let .valueNotAPath(name): return "the record of \(name) holds no text path"
        case let .tooDeep(path, depth): return "\(path): more than \(depth) names point to names"
        case let .invalidName(text, reason): return "\(text) is not an IPNS name: \(reason)"
        case let .invalidPath(text, reason): return "invalid path \(text): \(reason)"
        }
    }
}

/// Publishes and resolves IPNS names in-process: the RPC routes (`name/publish`, `name/resolve`),
/// the republisher and repository sync call it; a one-shot CLI command without a daemon uses it
/// with no DHT (records signed with the keystore and kept in `<home>/dht.sqlite`).
///
/// Resolution returns the best valid record as soon as the DHT search has converged on it (3 peers
/// agree), or `settleDelay` after the first valid record, whichever is first; the search goes on in
/// the background (at most `backgroundLimit`) and corrects the closest peers that returned an older
/// record or none. Resolved records are cached for their TTL, capped by their EOL; a better record
/// found later replaces the cached one.
public final class NameService: Sendable {
    /// The DHT (nil: offline, local records only).
    public let dht: DualDHT?
    let keystore: Keystore
    let storage: SQLiteProviderBackend
    let logger: Logger
    let clock: @Sendable () -> Date
    /// How long after the first valid record a resolve waits for convergence.
    public let settleDelay: Duration
    /// How long a search may go on in the background after the answer.
    public let backgroundLimit: Duration
    /// Names cached at most.
    static let cacheLimit = 4096
    /// `/ipns/` values followed at most by a recursive resolve (Kubo: 32).
    public static let maxDepth = 32

    private let cache = Locked<[IPNSName: CachedRecord]>([:])
    private let background = Locked<[UInt64: Task<Void, Never>]>([:])
    private let nextTaskID = Atomic<UInt64>(0)
    let republishWakeups: AsyncStream<Void>
    let republishSignal: AsyncStream<Void>.Continuation

    private struct CachedRecord {
        var record: IPNSRecord
        var expires: Date
    }

    public init(
        home: NodeHome, storage: SQLiteProviderBackend, dht: DualDHT?, logger: Logger,
        settleDelay: Duration = .milliseconds(300), backgroundLimit: Duration = .seconds(60),
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.dht = dht
        self.keystore = home.keystore
        self.storage = storage
        self.logger = logger
        self.settleDelay = settleDelay
        self.backgroundLimit = backgroundLimit
        self.clock = clock
        (republishWakeups, republishSignal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// A service without a DHT over the node home (for CLI commands run with no daemon).
    public convenience init(offlineHome home: NodeHome, logger: Logger) throws {
        try self.init(home: home, storage: SQLiteProviderBackend(home: home), dht: nil, logger: logger)
    }

    /// Whether the DHT has a peer to publish to.
    public var isOnline: Bool { (dht?.tableSize ?? 0) > 0 }

    // MARK: Publishing

    /// The path a publish points at: `/ipfs/CID[/…]` or `/ipns/NAME[/…]` as given, a bare CID as
    /// `/ipfs/CID`.
    public static func publishPath(_ text: String) throws(NameServiceError) -> String {
        if let (name, _) = ContentPath.ipnsParts(text) {
            do { _ = try IPNSName(name) } catch { throw .invalidPath(text, reason: error.description) }
            return text
        }
        do {
            return try ContentPath(text).description
        } catch {
            throw .invalidPath(text, reason: error.description)
        }
    }

    /// Signs a record pointing the name of `keyName` at `value` and puts it on the closest DHT
    /// peers; it is also stored in the node home, served to peers and republished by the daemon.
    ///
    /// - Parameters:
    ///   - sequence: nil: one more than the best record known (ours, or the network's when online).
    ///   - allowOffline: with no DHT peer (or no DHT), store the record locally only instead of
    ///     failing with `.offline`; the daemon puts it on the network once it can.
    /// - Returns: the name and the record made.
    public func publish(
        keyName: String, value: String, sequence: UInt64? = nil, lifetime: Duration = IPNSRecord.defaultLifetime,
        ttl: Duration = IPNSRecord.defaultTTL, allowOffline: Bool = false
    ) async throws -> (name: IPNSName, record: IPNSRecord) {
        let keystore = self.keystore
        let key = try await BlockingExecutor.run { try keystore.key(named: keyName).privateKey }
        let name = IPNSName(publicKey: key.publicKey)
        let online = isOnline
        guard online || allowOffline else { throw NameServiceError.offline(name: name.string) }
        let storage = self.storage
        let stored = try await BlockingExecutor.run { try storage.publishedName(name) }
        var current = stored?.record
        if online, let dht {
            let found = try? await withTimeout(.seconds(20), what: "finding the current record of \(name.string)") {
                try await dht.getValue(name.routingKey)
            }
            if let found, let record = try? IPNSRecord(bytes: found), current.map({ record.compare($0) > 0 }) ?? true {
                current = record
            }
        }
        var next = current.map { $0.sequence &+ 1 } ?? 0
        if let sequence {
            if let current, sequence <= current.sequence {
                throw NameServiceError.sequenceNotNewer(name: name.string, asked: sequence, current: current.sequence)
            }
            next = sequence
        }
        let now = clock()
        let record = try IPNSRecord.create(value: value, sequence: next, lifetime: lifetime, ttl: ttl, key: key, now: now)
        var entry = PublishedName(
            keyName: keyName, name: name, record: record, lifetime: Self.seconds(lifetime),
            published: now.timeIntervalSince1970, online: false)
        if online, let dht {
            do {
                try await withTimeout(.seconds(60), what: "publishing \(name.string)") {
                    try await dht.putValue(name.routingKey, record.bytes)
                }
                entry.online = true
            } catch {
                guard allowOffline else { throw error }
                entry.lastFailure = now.timeIntervalSince1970
                logger.info("ipns: \(name.string) stored locally only: \(error)")
            }
            // Keys that do not fit in the peer ID (RSA) are published too, as Kubo does.
            if entry.online, name.peer.multihash.function != .identity {
                try? await dht.putValue(Array("/pk/".utf8) + name.peer.bytes, key.publicKey.protobufBytes)
            }
        } else if let dht {
            try? dht.putLocal(name.routingKey, record.bytes)
        }
        let saved = entry
        try await BlockingExecutor.run { try storage.savePublishedName(saved) }
        remember(record, for: name)
        if !entry.online { republishSignal.yield() }
        return (name, record)
    }

    /// The records this node publishes go into the DHT's local store, so peers are served them
    /// (at daemon start, before the republisher runs).
    public func serveStoredRecords() async {
        guard let dht else { return }
        let storage = self.storage
        let entries = (try? await BlockingExecutor.run { try storage.publishedNames() }) ?? []
        for entry in entries {
            try? dht.putLocal(entry.name.routingKey, entry.record.bytes)
        }
    }

    // MARK: Resolving

    /// The best valid record of `name`: from the cache (with `useCache`, while its TTL lasts), else
    /// from the DHT (see the type's description), else, with no DHT, from the local records.
    public func resolve(_ name: IPNSName, useCache: Bool = true) async throws -> IPNSRecord {
        if useCache, let cached = cached(name) { return cached }
        guard let dht else { return try await localRecord(name) }
        let decision = OneShot<IPNSRecord?>()
        let best = Locked<IPNSRecord?>(nil)
        let events = dht.searchValueEvents(name.routingKey)
        let id = nextTaskID.add(1, ordering: .relaxed).newValue
        let settleDelay = self.settleDelay
        let search = Task { [self] in
            var deadline: Task<Void, Never>?
            for await event in events {
                switch event {
                case .better(let bytes):
                    guard let record = valid(bytes, for: name) else { continue }
                    let first = best.withLock { current -> Bool in
                        defer { current = record }
                        return current == nil
                    }
                    if decision.isDone {
                        remember(record, for: name)
                    } else if first {
                        deadline = Task {
                            try? await Task.sleep(for: settleDelay)
                            decision.resolve(best.withLock { $0 })
                        }
                    }
                case .converged:
                    decision.resolve(best.withLock { $0 })
                case .finished(_, let corrected):
                    if corrected > 0 { logger.debug("ipns: \(name.string): \(corrected) peer(s) corrected") }
                }
            }
            deadline?.cancel()
            decision.resolve(best.withLock { $0 })
            _ = background.withLock { $0.removeValue(forKey: id) }
        }
        background.withLock { $0[id] = search }
        let limit = backgroundLimit
        Task {
            try? await Task.sleep(for: limit)
            search.cancel()
        }
        let started = ContinuousClock.now
        let decided = await decision.value()
        logger.debug("ipns: \(name.string) answered after \(ContinuousClock.now - started)")
        guard let record = decided else {
            throw NameServiceError.notFound(name: name.string, where: "the DHT")
        }
        remember(record, for: name)
        return record
    }

    /// Resolves `path` (`/ipns/NAME[/rest]`, or a bare NAME) to the path its record points to,
    /// with the rest appended; with `recursive`, follows `/ipns/` values (at most `maxDepth`).
    public func resolvePath(_ path: String, recursive: Bool = true, useCache: Bool = true) async throws -> String {
        var path = path.hasPrefix(IPNSName.namespacePrefix) ? path : IPNSName.namespacePrefix + path
        for _ in 0..<Self.maxDepth {
            guard let (nameText, rest) = ContentPath.ipnsParts(path) else { return path }
            let name: IPNSName
            do { name = try IPNSName(nameText) } catch {
                throw NameServiceError.invalidName(nameText, reason: error.description)
            }
            let record = try await resolve(name, useCache: useCache)
            guard let value = record.valueString else { throw NameServiceError.valueNotAPath(name: name.string) }
            path = value + rest
            if !recursive { return path }
        }
        guard ContentPath.ipnsParts(path) == nil else { throw NameServiceError.tooDeep(path: path, depth: Self.maxDepth) }
        return path
    }

    /// Cancels the searches still running in the background.
    public func stop() {
        let tasks = background.withLock { tasks in
            defer { tasks = [:] }
            return Array(tasks.values)
        }
        for task in tasks { task.cancel() }
        republishSignal.finish()
    }

    /// The locally published record of `name`, if valid.
    func localRecord(_ name: IPNSName) async throws -> IPNSRecord {
        let storage = self.storage
        guard let entry = try await BlockingExecutor.run({ try storage.publishedName(name) }),
            let record = valid(entry.record.bytes, for: name)
        else { throw NameServiceError.notFound(name: name.string, where: "the local records (no daemon runs)") }
        return record
    }

    private func valid(_ bytes: [UInt8], for name: IPNSName) -> IPNSRecord? {
        do {
            return try IPNSRecord.validate(bytes, for: name, now: clock())
        } catch {
            logger.debug("ipns: record of \(name.string) refused: \(error)")
            return nil
        }
    }

    private func cached(_ name: IPNSName) -> IPNSRecord? {
        let now = clock()
        return cache.withLock { cache in
            guard let entry = cache[name] else { return nil }
            guard entry.expires > now else {
                cache[name] = nil
                return nil
            }
            return entry.record
        }
    }

    /// Caches `record` for its TTL (capped by its EOL) unless a better one is cached.
    private func remember(_ record: IPNSRecord, for name: IPNSName) {
        let now = clock()
        let ttl = Double(record.ttlNanoseconds ?? 0) / 1e9
        let expires = min(now.addingTimeInterval(ttl), record.validity.date)
        guard expires > now else { return }
        cache.withLock { cache in
            if let old = cache[name], old.expires > now, old.record.compare(record) > 0 { return }
            if cache[name] == nil, cache.count >= Self.cacheLimit {
                cache = cache.filter { $0.value.expires > now }
                if cache.count >= Self.cacheLimit, let oldest = cache.min(by: { $0.value.expires < $1.value.expires }) {
                    cache[oldest.key] = nil
                }
            }
            cache[name] = CachedRecord(record: record, expires: expires)
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let c = duration.components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}

/// A value set once that any number of tasks can await (later `resolve` calls are ignored).
final class OneShot<T: Sendable>: Sendable {
    private struct State {
        var value: T?
        var done = false
        var waiters: [CheckedContinuation<T, Never>] = []
    }
    private let state = Locked(State())

    var isDone: Bool { state.withLock { $0.done } }

    func resolve(_ value: T) {
        let waiters = state.withLock { s -> [CheckedContinuation<T, Never>] in
            guard !s.done else { return [] }
            s.done = true
            s.value = value
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func value() async -> T {
        await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
            let ready = state.withLock { s -> T?? in
                if s.done { return .some(s.value) }
                s.waiters.append(c)
                return .none
            }
            if case .some(let value) = ready, let value { c.resume(returning: value) }
        }
    }
}
