import Multiformats
import P2PCore
import P2PCrypto

/// DHT record keys: `/<namespace>/<rest>`, where `rest` is arbitrary bytes (for `/pk/` and
/// `/ipns/`, a peer ID's multihash bytes), as go-libp2p-record's `SplitKey` reads them.
public enum RecordKey {
    /// The namespace and the rest of `key`.
    /// - Throws: `RoutingError.invalidRecord` when the key does not start with `/`, or has no
    ///   second `/`, or an empty namespace.
    public static func split(_ key: [UInt8]) throws(RoutingError) -> (namespace: String, rest: [UInt8]) {
        let slash = UInt8(ascii: "/")
        guard key.first == slash else {
            throw .invalidRecord(key: describe(key), reason: "the key does not start with /")
        }
        guard let end = key.dropFirst().firstIndex(of: slash), end > 1 else {
            throw .invalidRecord(key: describe(key), reason: "the key has no /namespace/ prefix")
        }
        return (String(decoding: key[1..<end], as: UTF8.self), Array(key[(end + 1)...]))
    }

    /// `key` for messages: `/ns/` followed by the rest as a peer ID when it is one, as text when
    /// it is printable ASCII, else in hex.
    public static func describe(_ key: [UInt8]) -> String {
        let slash = UInt8(ascii: "/")
        guard key.first == slash, let end = key.dropFirst().firstIndex(of: slash), end > 1 else {
            return printable(key[...]) ?? "0x" + Hex.encode(key)
        }
        let prefix = String(decoding: key[...end], as: UTF8.self)
        let rest = key[(end + 1)...]
        if let peer = try? PeerID(bytes: Array(rest)) { return prefix + peer.description }
        return prefix + (printable(rest) ?? "0x" + Hex.encode(rest))
    }

    private static func printable(_ bytes: ArraySlice<UInt8>) -> String? {
        bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) ? String(decoding: bytes, as: UTF8.self) : nil
    }
}

/// Validates `/pk/` records as go-libp2p-record's `PublicKeyValidator`: the key is `/pk/` and a
/// peer ID's multihash bytes, the value the protobuf-encoded public key of that peer. Every valid
/// record of a key is the same key, so `select` picks the first.
public struct PublicKeyValidator: RecordValidator {
    /// The namespace this validator serves.
    public static let namespace = "pk"

    public init() {}

    public func validate(key: [UInt8], value: [UInt8]) throws {
        let (namespace, rest) = try RecordKey.split(key)
        guard namespace == Self.namespace else {
            throw RoutingError.invalidRecord(
                key: RecordKey.describe(key), reason: "namespace /\(namespace)/ is not /\(Self.namespace)/")
        }
        let peer: PeerID
        do {
            peer = try PeerID(bytes: rest)
        } catch {
            throw RoutingError.invalidRecord(key: RecordKey.describe(key), reason: "the key is not a peer ID: \(error)")
        }
        let publicKey: PublicKey
        do {
            publicKey = try PublicKey(protobuf: value)
        } catch {
            throw RoutingError.invalidRecord(
                key: RecordKey.describe(key), reason: "the value is not a public key protobuf: \(error)")
        }
        guard publicKey.peerID == peer else {
            throw RoutingError.invalidRecord(
                key: RecordKey.describe(key),
                reason: "the public key is peer \(publicKey.peerID), not the key's peer \(peer)")
        }
    }

    public func select(key: [UInt8], values: [[UInt8]]) throws -> Int {
        guard !values.isEmpty else {
            throw RoutingError.invalidRecord(key: RecordKey.describe(key), reason: "no records to select from")
        }
        return 0
    }
}

/// Dispatches on a key's namespace (`/pk/…` to the `pk` validator), as go-libp2p-record's
/// `NamespacedValidator`. A key whose namespace has no validator is invalid.
public struct NamespacedValidator: RecordValidator {
    /// Validators by namespace (without slashes: `"pk"`, `"ipns"`).
    public var validators: [String: any RecordValidator]

    public init(_ validators: [String: any RecordValidator]) {
        self.validators = validators
    }

    /// The namespaces this node validates today: `/pk/`. (`/ipns/` comes with the IPNS module.)
    public static var standard: NamespacedValidator {
        NamespacedValidator([PublicKeyValidator.namespace: PublicKeyValidator()])
    }

    public func validate(key: [UInt8], value: [UInt8]) throws {
        try validator(for: key).validate(key: key, value: value)
    }

    public func select(key: [UInt8], values: [[UInt8]]) throws -> Int {
        try validator(for: key).select(key: key, values: values)
    }

    private func validator(for key: [UInt8]) throws(RoutingError) -> any RecordValidator {
        let (namespace, _) = try RecordKey.split(key)
        if let validator = validators[namespace] { return validator }
        let reason = namespace == "ipns" ? "no validator for /ipns/ yet" : "no validator for /\(namespace)/"
        throw .invalidRecord(key: RecordKey.describe(key), reason: reason)
    }
}

/// A record kept by `ValueRecordStore`.
public struct ValueRecord: Sendable, Hashable {
    /// The record's value (for `/pk/`, a public key protobuf; for `/ipns/`, an IPNS record).
    public var value: [UInt8]
    /// When it was received, in seconds.
    public var received: Double
    /// The peer that sent it (PUT_VALUE); nil for our own (`putLocal`).
    public var sender: PeerID?

    public init(value: [UInt8], received: Double, sender: PeerID?) {
        self.value = value
        self.received = received
        self.sender = sender
    }
}

/// Why the value record store refused a record.
public enum ValueRecordStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The key is empty.
    case emptyKey
    /// The key is longer than `Limits.maxKeySize`.
    case keyTooLong(key: String, size: Int, limit: Int)
    /// The value is larger than `Limits.maxRecordSize`.
    case recordTooLarge(key: String, size: Int, limit: Int)
    /// The validator refused the record (or its namespace has none).
    case invalidRecord(key: String, reason: String)
    /// The stored record is at least as good as this one (the validator's `select` prefers it).
    case notBetter(key: String)
    /// The store holds `limit` records (`Limits.maxRecords`); the new record (from `peer`, nil for
    /// our own) was refused.
    case storeFull(limit: Int, peer: PeerID?)
    /// `peer` already sent `limit` stored records (`Limits.maxRecordsPerPeer`).
    case tooManyRecordsFromPeer(peer: PeerID, limit: Int)

    public var description: String {
        switch self {
        case .emptyKey:
            return "value store: empty key"
        case let .keyTooLong(key, size, limit):
            return "value store: key \(key) of \(size) bytes exceeds the \(limit)-byte limit"
        case let .recordTooLarge(key, size, limit):
            return "value store: record \(key) of \(size) bytes exceeds the \(limit)-byte limit"
        case let .invalidRecord(key, reason):
            return "value store: invalid record for \(key): \(reason)"
        case let .notBetter(key):
            return "value store: the stored record for \(key) is at least as good; new record refused"
        case let .storeFull(limit, peer):
            return "value store: full (maxRecords = \(limit)); record from \(peer.map { "\($0)" } ?? "this node") refused"
        case let .tooManyRecordsFromPeer(peer, limit):
            return "value store: peer \(peer) already has \(limit) records stored (maxRecordsPerPeer)"
        }
    }
}

/// Records received by PUT_VALUE (and our own), as go-libp2p-kad-dht's `records.ValueStore`:
/// validated on the way in, a new record replaces the stored one only when the validator's
/// `select` prefers it, and records older than `Limits.maxAge` are treated as absent and swept.
/// In memory, bounded in size, count and per sending peer. Time is a parameter (seconds).
public final class ValueRecordStore: Sendable {
    /// The bounds of the store.
    public struct Limits: Sendable, Equatable {
        /// How long a record is kept after it was received, in seconds (go: 48 h).
        public var maxAge: Double = 48 * 3600
        /// The largest key accepted, in bytes (`/pk/` and `/ipns/` keys are under 50).
        public var maxKeySize = 256
        /// The largest value accepted, in bytes (the IPNS record bound).
        public var maxRecordSize = 10 * 1024
        /// Records in the store (expired ones count until swept; reaching the bound sweeps).
        public var maxRecords = 10_000
        /// Records stored from one sending peer.
        public var maxRecordsPerPeer = 1_000
        public init() {}
    }

    /// When a count bound is reached, expired records are swept at most this often (seconds).
    public static let limitSweepInterval: Double = 60

    /// The validator records must pass (usually a `NamespacedValidator`).
    public let validator: any RecordValidator
    /// The bounds enforced.
    public let limits: Limits
    private let state = Locked(State())

    public init(validator: any RecordValidator, limits: Limits = Limits()) {
        self.validator = validator
        self.limits = limits
    }

    /// Stores a record `from` a remote peer sent with PUT_VALUE.
    public func put(key: [UInt8], value: [UInt8], from: PeerID, now: Double) throws(ValueRecordStoreError) {
        do {
            try store(key: key, value: value, sender: from, now: now)
        } catch {
            switch error {
            case .storeFull: state.withLock { _ = $0.storeRefusals.record(from) }
            case .tooManyRecordsFromPeer: state.withLock { _ = $0.peerRefusals.record(from) }
            default: break
            }
            throw error
        }
    }

    /// The resource name in reports.
    public static let resource = "DHTRecords"

    /// Records stored against `maxRecords`, and per sending peer (every peer with records or
    /// refusals) against `maxRecordsPerPeer`, with refusals.
    public func resourceReport() -> ResourceReport {
        state.withLock { state in
            var report = ResourceReport()
            report.system[Self.resource] = ResourceUse(
                used: state.records.count, limit: limits.maxRecords, refused: state.storeRefusals.total)
            let peers = Set(state.perPeer.keys).union(state.storeRefusals.byPeer.keys).union(state.peerRefusals.byPeer.keys)
            for peer in peers {
                report.peers[peer] = [Self.resource: ResourceUse(
                    used: state.perPeer[peer, default: 0], limit: limits.maxRecordsPerPeer,
                    refused: state.storeRefusals.count(of: peer) + state.peerRefusals.count(of: peer))]
            }
            return report
        }
    }

    /// Stores one of our own records (not subject to the per-peer bound).
    public func putLocal(key: [UInt8], value: [UInt8], now: Double) throws(ValueRecordStoreError) {
        try store(key: key, value: value, sender: nil, now: now)
    }

    /// The live record of `key`, if any.
    public func get(key: [UInt8], now: Double) -> ValueRecord? {
        state.withLock { state in
            guard let record = state.records[key], !isExpired(record, now: now) else { return nil }
            return record
        }
    }

    /// Deletes the expired records; returns how many were deleted.
    @discardableResult
    public func sweep(now: Double) -> Int {
        state.withLock { state in state.removeAll { isExpired($0, now: now) } }
    }

    /// How many records are stored (expired ones not yet swept included).
    public var count: Int { state.withLock { $0.records.count } }

    private func isExpired(_ record: ValueRecord, now: Double) -> Bool {
        record.received < now - limits.maxAge
    }

    private func store(key: [UInt8], value: [UInt8], sender: PeerID?, now: Double) throws(ValueRecordStoreError) {
        guard !key.isEmpty else { throw .emptyKey }
        guard key.count <= limits.maxKeySize else {
            throw .keyTooLong(key: RecordKey.describe(Array(key.prefix(64))) + "…", size: key.count, limit: limits.maxKeySize)
        }
        guard value.count <= limits.maxRecordSize else {
            throw .recordTooLarge(key: RecordKey.describe(key), size: value.count, limit: limits.maxRecordSize)
        }
        // Validation may verify signatures: done before taking the lock.
        try checked(key) { try validator.validate(key: key, value: value) }
        try state.withLock { (state: inout State) throws(ValueRecordStoreError) in
            var existing = state.records[key]
            if let old = existing, isExpired(old, now: now) {
                state.remove(key)
                existing = nil
            }
            if let old = existing {
                let best = try checked(key) { try validator.select(key: key, values: [value, old.value]) }
                guard best == 0 else { throw .notBetter(key: RecordKey.describe(key)) }
            }
            if let refusal = refusal(state, sender: sender, replacing: existing) {
                guard now - state.lastLimitSweep >= Self.limitSweepInterval else { throw refusal }
                state.lastLimitSweep = now
                state.removeAll { isExpired($0, now: now) }
                if let refusal = self.refusal(state, sender: sender, replacing: existing) { throw refusal }
            }
            state.insert(key, ValueRecord(value: value, received: now, sender: sender))
        }
    }

    /// The bound a record from `sender` would break, if any.
    private func refusal(_ state: borrowing State, sender: PeerID?, replacing existing: ValueRecord?) -> ValueRecordStoreError? {
        if let sender, existing?.sender != sender,
            state.perPeer[sender, default: 0] >= limits.maxRecordsPerPeer
        {
            return .tooManyRecordsFromPeer(peer: sender, limit: limits.maxRecordsPerPeer)
        }
        if existing == nil, state.records.count >= limits.maxRecords {
            return .storeFull(limit: limits.maxRecords, peer: sender)
        }
        return nil
    }

    /// Runs a validator call, turning what it throws into `.invalidRecord`.
    private func checked<T>(_ key: [UInt8], _ body: () throws -> T) throws(ValueRecordStoreError) -> T {
        do {
            return try body()
        } catch let RoutingError.invalidRecord(described, reason) {
            throw .invalidRecord(key: described, reason: reason)
        } catch {
            throw .invalidRecord(key: RecordKey.describe(key), reason: "\(error)")
        }
    }

    private struct State {
        var records: [[UInt8]: ValueRecord] = [:]
        var perPeer: [PeerID: Int] = [:]
        var lastLimitSweep = -Double.infinity
        var storeRefusals = RefusalTally()
        var peerRefusals = RefusalTally()

        mutating func insert(_ key: [UInt8], _ record: ValueRecord) {
            remove(key)
            records[key] = record
            if let sender = record.sender { perPeer[sender, default: 0] += 1 }
        }

        mutating func remove(_ key: [UInt8]) {
            guard let old = records.removeValue(forKey: key), let sender = old.sender else { return }
            let left = perPeer[sender, default: 1] - 1
            perPeer[sender] = left > 0 ? left : nil
        }

        @discardableResult
        mutating func removeAll(where expired: (ValueRecord) -> Bool) -> Int {
            let keys = records.compactMap { expired($0.value) ? $0.key : nil }
            for key in keys { remove(key) }
            return keys.count
        }
    }
}
