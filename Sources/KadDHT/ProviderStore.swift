import Multiformats
import P2PCore
import P2PCrypto

/// One provider record: who provides a key, where it can be reached, and when we heard it.
public struct ProviderRecord: Sendable, Hashable {
    /// The peer that provides the key.
    public var provider: PeerID
    /// Its addresses as announced (at most `ProviderStore.Limits.maxAddresses`).
    public var addresses: [Multiaddr]
    /// When the record was received, in seconds (the clock the store is driven with).
    public var received: Double

    public init(provider: PeerID, addresses: [Multiaddr], received: Double) {
        self.provider = provider
        self.addresses = addresses
        self.received = received
    }
}

/// Where provider records live: in memory (`MemoryProviderBackend`) or on disk (JZNode's SQLite
/// backend). One record per (key, provider): `put` replaces the previous one.
///
/// Calls block (disk I/O) and are made off the cooperative pool (`BlockingExecutor.run`).
/// Implementations are safe to call from several threads at once.
public protocol ProviderBackend: Sendable {
    /// Stores `record` for `key`, replacing the record of the same provider for that key.
    func put(key: [UInt8], record: ProviderRecord) throws
    /// The records of `key` received at or after `now - validity`, freshest first, at most `limit`.
    func get(key: [UInt8], now: Double, validity: Double, limit: Int) throws -> [ProviderRecord]
    /// Deletes every record received before `before`; returns how many were deleted.
    func removeExpired(before: Double) throws -> Int
    /// How many records are stored (expired ones not yet removed included).
    func count() throws -> Int
    /// How many records `peer` provides (expired ones not yet removed included).
    func countByProvider(_ peer: PeerID) throws -> Int
}

/// Why the provider store refused or failed an operation.
public enum ProviderStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The key is empty.
    case emptyKey
    /// The key is longer than the 80 bytes go-libp2p-kad-dht accepts.
    case keyTooLong(length: Int, limit: Int)
    /// `from` announced a record for another peer (ADD_PROVIDER is only accepted from the provider).
    case notFromProvider(provider: PeerID, from: PeerID)
    /// The store holds `limit` records (`Limits.maxRecords`); `peer`'s new record was refused.
    case storeFull(limit: Int, peer: PeerID)
    /// `peer` already provides `limit` records (`Limits.maxRecordsPerProvider`).
    case tooManyRecordsFromPeer(peer: PeerID, limit: Int)
    /// The key already has `limit` live providers (`Limits.maxProvidersPerKey`); `peer` was refused.
    case tooManyProvidersForKey(key: [UInt8], limit: Int, peer: PeerID)
    /// The backend failed during `operation`; `reason` is its error (which names the file, if any).
    case backend(operation: String, reason: String)

    public var description: String {
        switch self {
        case .emptyKey:
            return "provider store: empty key"
        case let .keyTooLong(length, limit):
            return "provider store: key of \(length) bytes exceeds the \(limit)-byte limit"
        case let .notFromProvider(provider, from):
            return "provider store: peer \(from) announced a provider record for another peer, \(provider)"
        case let .storeFull(limit, peer):
            return "provider store: full (maxRecords = \(limit)); record from \(peer) refused"
        case let .tooManyRecordsFromPeer(peer, limit):
            return "provider store: peer \(peer) already provides \(limit) records (maxRecordsPerProvider)"
        case let .tooManyProvidersForKey(key, limit, peer):
            return "provider store: key \(Hex.encode(key)) already has \(limit) providers (maxProvidersPerKey); \(peer) refused"
        case let .backend(operation, reason):
            return "provider store: \(operation) failed: \(reason)"
        }
    }
}

/// Provider records as go-libp2p-kad-dht keeps them: keyed by the multihash bytes of an
/// ADD_PROVIDER / GET_PROVIDERS message, one record per (key, provider), valid for
/// `Limits.validity` (48 h) after it was received. Expired records are never returned and are
/// deleted by `sweep`, which the node runs periodically (go: hourly).
///
/// Every bound a remote peer could push against is enforced here: records in total, records per
/// providing peer, providers per key, addresses per record. Time is a parameter (seconds), so tests
/// and the simulator drive the clock.
///
/// All methods call the backend synchronously: from async code, call them through
/// `BlockingExecutor.run` when the backend does I/O.
public final class ProviderStore: Sendable {
    /// The bounds of the store.
    public struct Limits: Sendable, Equatable {
        /// How long a record stays valid after it was received, in seconds (go: 48 h).
        public var validity: Double = 48 * 3600
        /// Records in the whole store (expired ones count until swept; reaching the bound sweeps).
        public var maxRecords = 1_000_000
        /// Records announced by one remote peer.
        public var maxRecordsPerProvider = 100_000
        /// Live providers of one key accepted from remote peers.
        public var maxProvidersPerKey = 100
        /// Addresses kept per record (the first ones announced, duplicates dropped).
        public var maxAddresses = 10
        public init() {}
    }

    /// The longest key accepted (go-libp2p-kad-dht's `handleAddProvider` bound).
    public static let maxKeyLength = 80
    /// When a count bound is reached, expired records are swept at most this often (seconds)
    /// before the record is refused, so a peer pushing against a bound cannot force a scan per message.
    public static let limitSweepInterval: Double = 60

    /// The backend the records live in.
    public let backend: any ProviderBackend
    /// The bounds enforced.
    public let limits: Limits
    /// Serialises check-then-put in `add`, so that concurrent adds cannot overshoot a bound; holds
    /// when the last bound-triggered sweep ran.
    private let admission = Locked<Double>(-Double.infinity)
    /// Refusals by bound: the store's, the per-provider one, the per-key one.
    private let refusals = Locked(Refusals())

    private struct Refusals {
        var store = RefusalTally()
        var perProvider = RefusalTally()
        var perKey = RefusalTally()
    }

    public init(backend: any ProviderBackend, limits: Limits = Limits()) {
        self.backend = backend
        self.limits = limits
    }

    /// Stores the record of a peer announcing itself (ADD_PROVIDER). `from` is the remote peer the
    /// message came from and must be `provider.peer`. Refreshing an existing record (same key and
    /// provider) is always accepted; a new one must fit every bound of `limits`.
    public func add(key: [UInt8], provider: PeerInfo, from: PeerID, now: Double) throws(ProviderStoreError) {
        guard provider.peer == from else { throw .notFromProvider(provider: provider.peer, from: from) }
        do {
            try store(key: key, provider: provider, now: now, local: false)
        } catch {
            refusals.withLock { r in
                switch error {
                case .storeFull: r.store.record(from)
                case .tooManyRecordsFromPeer: r.perProvider.record(from)
                case .tooManyProvidersForKey: r.perKey.record(from)
                default: break
                }
            }
            throw error
        }
    }

    /// The resource names in reports.
    public static let resource = "DHTProviders"
    public static let perKeyResource = "DHTProvidersPerKey"

    /// Records stored against `maxRecords`, and for each of `peers` (and each peer refused so far)
    /// the records it provides against `maxRecordsPerProvider`, with refusals per bound. Calls
    /// the backend (blocking).
    public func resourceReport(peers: [PeerID]) throws(ProviderStoreError) -> ResourceReport {
        let r = refusals.withLock { $0 }
        var report = ResourceReport()
        report.system[Self.resource] = ResourceUse(used: try count(), limit: limits.maxRecords, refused: r.store.total)
        report.system[Self.perKeyResource] = ResourceUse(used: 0, limit: limits.maxProvidersPerKey, refused: r.perKey.total)
        let all = Set(peers).union(r.store.byPeer.keys).union(r.perProvider.byPeer.keys).union(r.perKey.byPeer.keys)
        for peer in all {
            let used = try call("count by provider") { try backend.countByProvider(peer) }
            let refused = r.store.count(of: peer) + r.perProvider.count(of: peer) + r.perKey.count(of: peer)
            guard used > 0 || refused > 0 else { continue }
            report.peers[peer] = [Self.resource: ResourceUse(used: used, limit: limits.maxRecordsPerProvider, refused: refused)]
        }
        return report
    }

    /// Stores one of our own records (`provide`). Not subject to the per-provider or per-key
    /// bounds (our own record must be servable whatever remote peers announced), only to
    /// `maxRecords`.
    public func addLocal(key: [UInt8], provider: PeerInfo, now: Double) throws(ProviderStoreError) {
        try store(key: key, provider: provider, now: now, local: true)
    }

    /// Live providers of `key`, freshest first, at most `limit` (0 or less: none).
    public func providers(for key: [UInt8], now: Double, limit: Int = 20) throws(ProviderStoreError) -> [PeerInfo] {
        try Self.check(key)
        guard limit > 0 else { return [] }
        let records = try call("get providers") {
            try backend.get(key: key, now: now, validity: limits.validity, limit: limit)
        }
        return records.map { PeerInfo(peer: $0.provider, addresses: $0.addresses) }
    }

    /// Deletes every expired record; returns how many were deleted.
    @discardableResult
    public func sweep(now: Double) throws(ProviderStoreError) -> Int {
        try call("sweep") { try backend.removeExpired(before: now - limits.validity) }
    }

    /// How many records are stored (expired ones not yet swept included).
    public func count() throws(ProviderStoreError) -> Int {
        try call("count") { try backend.count() }
    }

    // MARK: - Admission

    private func store(key: [UInt8], provider: PeerInfo, now: Double, local: Bool) throws(ProviderStoreError) {
        try Self.check(key)
        let record = ProviderRecord(
            provider: provider.peer, addresses: normalized(provider.addresses), received: now)
        try admission.withLock { (lastSweep: inout Double) throws(ProviderStoreError) in
            // A bound-limited look at the key's live providers: enough to see whether this is a
            // refresh and whether the key is full (only `addLocal` can take a key past the bound).
            let live = try call("get providers") {
                try backend.get(
                    key: key, now: now, validity: limits.validity, limit: limits.maxProvidersPerKey + 1)
            }
            let isRefresh = live.contains { $0.provider == provider.peer }
            if !isRefresh {
                if !local && live.count >= limits.maxProvidersPerKey {
                    throw .tooManyProvidersForKey(key: key, limit: limits.maxProvidersPerKey, peer: provider.peer)
                }
                if let refusal = try countRefusal(provider.peer, local: local) {
                    // Expired records count until swept: sweep (rate-limited), then look again.
                    guard now - lastSweep >= Self.limitSweepInterval else { throw refusal }
                    lastSweep = now
                    _ = try sweep(now: now)
                    if let refusal = try countRefusal(provider.peer, local: local) { throw refusal }
                }
            }
            try call("put provider") { try backend.put(key: key, record: record) }
        }
    }

    /// The bound a new record of `peer` would break, if any.
    private func countRefusal(_ peer: PeerID, local: Bool) throws(ProviderStoreError) -> ProviderStoreError? {
        if !local {
            let fromPeer = try call("count by provider") { try backend.countByProvider(peer) }
            if fromPeer >= limits.maxRecordsPerProvider {
                return .tooManyRecordsFromPeer(peer: peer, limit: limits.maxRecordsPerProvider)
            }
        }
        if try count() >= limits.maxRecords { return .storeFull(limit: limits.maxRecords, peer: peer) }
        return nil
    }

    /// The addresses kept: duplicates dropped, at most `maxAddresses`, in announced order.
    private func normalized(_ addresses: [Multiaddr]) -> [Multiaddr] {
        var seen = Set<Multiaddr>()
        var kept: [Multiaddr] = []
        for address in addresses where kept.count < limits.maxAddresses && seen.insert(address).inserted {
            kept.append(address)
        }
        return kept
    }

    private static func check(_ key: [UInt8]) throws(ProviderStoreError) {
        guard !key.isEmpty else { throw .emptyKey }
        guard key.count <= maxKeyLength else { throw .keyTooLong(length: key.count, limit: maxKeyLength) }
    }

    /// Runs a backend call, turning its error into `.backend` naming the operation.
    private func call<T>(_ operation: String, _ body: () throws -> T) throws(ProviderStoreError) -> T {
        do {
            return try body()
        } catch let error as ProviderStoreError {
            throw error
        } catch {
            throw .backend(operation: operation, reason: "\(error)")
        }
    }
}

/// The on-disk and in-memory encoding of a record's addresses: each multiaddr's binary form behind
/// its varint length. Shared by the backends (`package`), not part of any wire format.
package enum ProviderAddressCoding {
    /// Encodes `addresses`.
    package static func encode(_ addresses: [Multiaddr]) -> [UInt8] {
        var out: [UInt8] = []
        for address in addresses {
            let bytes = address.bytes
            Varint.encode(UInt64(bytes.count), into: &out)
            out += bytes
        }
        return out
    }

    /// Decodes `bytes`; nil when they are not a sequence of length-prefixed valid multiaddrs.
    package static func decode(_ bytes: [UInt8]) -> [Multiaddr]? {
        var addresses: [Multiaddr] = []
        var offset = 0
        while offset < bytes.count {
            guard let (length, used) = try? Varint.decode(bytes[offset...]),
                length <= UInt64(bytes.count - offset - used)
            else { return nil }
            let start = offset + used
            let end = start + Int(length)
            guard let address = try? Multiaddr(bytes: Array(bytes[start..<end])) else { return nil }
            addresses.append(address)
            offset = end
        }
        return addresses
    }
}
