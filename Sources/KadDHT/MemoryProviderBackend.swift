import Multiformats
import P2PCore
import P2PCrypto

/// Provider records in memory, compactly: for tests, the simulator and nodes without a disk.
///
/// A record costs 16 bytes plus its key's share: providing peers and address sets are interned
/// (one copy per distinct peer, one per distinct encoded address list, reference counted and freed
/// when the last record using them goes), and a key with one provider holds its record inline.
/// `countByProvider` is the interned peer's reference count, so it costs nothing.
public final class MemoryProviderBackend: ProviderBackend {
    private let state = Locked(State())

    public init() {}

    public func put(key: [UInt8], record: ProviderRecord) {
        state.withLock { $0.put(key: key, record: record) }
    }

    public func get(key: [UInt8], now: Double, validity: Double, limit: Int) -> [ProviderRecord] {
        state.withLock { $0.get(key: key, notBefore: now - validity, limit: limit) }
    }

    public func removeExpired(before: Double) -> Int {
        state.withLock { $0.removeExpired(before: before) }
    }

    public func count() -> Int {
        state.withLock { $0.total }
    }

    public func countByProvider(_ peer: PeerID) -> Int {
        state.withLock { $0.peers.referenceCount(of: peer) }
    }
}

extension MemoryProviderBackend {
    /// One record: interned provider and address list, and when it was received.
    struct Entry {
        var peer: UInt32
        var addresses: UInt32
        var received: Double
    }

    /// The records of one key: most keys have one provider, held inline without an array.
    enum Slot {
        case one(Entry)
        case many(ContiguousArray<Entry>)

        var entries: ContiguousArray<Entry> {
            switch self {
            case .one(let entry): return [entry]
            case .many(let entries): return entries
            }
        }

        init?(_ entries: ContiguousArray<Entry>) {
            switch entries.count {
            case 0: return nil
            case 1: self = .one(entries[0])
            default: self = .many(entries)
            }
        }
    }

    struct State {
        var keys: [[UInt8]: Slot] = [:]
        var peers = InternTable<PeerID>()
        var addressLists = InternTable<[UInt8]>()
        var total = 0

        mutating func put(key: [UInt8], record: ProviderRecord) {
            let addresses = addressLists.retain(ProviderAddressCoding.encode(record.addresses))
            let peer = peers.retain(record.provider)
            let entry = Entry(peer: peer, addresses: addresses, received: record.received)
            guard var entries = keys[key]?.entries else {
                keys[key] = .one(entry)
                total += 1
                return
            }
            if let i = entries.firstIndex(where: { $0.peer == peer }) {
                // Replace: drop the references the old entry held (the peer was retained twice).
                addressLists.release(entries[i].addresses)
                peers.release(peer)
                entries[i] = entry
            } else {
                entries.append(entry)
                total += 1
            }
            keys[key] = Slot(entries)
        }

        func get(key: [UInt8], notBefore: Double, limit: Int) -> [ProviderRecord] {
            guard limit > 0, let slot = keys[key] else { return [] }
            let live = slot.entries.filter { $0.received >= notBefore }.sorted { $0.received > $1.received }
            return live.prefix(limit).map { entry in
                ProviderRecord(
                    provider: peers.value(entry.peer),
                    // The bytes were encoded by `put`; they always decode.
                    addresses: ProviderAddressCoding.decode(addressLists.value(entry.addresses)) ?? [],
                    received: entry.received)
            }
        }

        mutating func removeExpired(before: Double) -> Int {
            var emptied: [[UInt8]] = []
            var removed = 0
            // Walk by index (not `keys.indices`, which would hold a second reference to the
            // storage and make the in-place writes below copy the whole dictionary).
            var index = keys.startIndex
            while index != keys.endIndex {
                defer { keys.formIndex(after: &index) }
                let expired: ContiguousArray<Entry>
                var kept: ContiguousArray<Entry> = []
                switch keys.values[index] {
                case .one(let entry):
                    guard entry.received < before else { continue }
                    expired = [entry]
                case .many(let entries):
                    guard entries.contains(where: { $0.received < before }) else { continue }
                    expired = entries.filter { $0.received < before }
                    kept = entries.filter { $0.received >= before }
                }
                for entry in expired {
                    peers.release(entry.peer)
                    addressLists.release(entry.addresses)
                }
                removed += expired.count
                if let slot = Slot(kept) {
                    keys.values[index] = slot
                } else {
                    emptied.append(keys.keys[index])
                }
            }
            for key in emptied { keys[key] = nil }
            total -= removed
            return removed
        }
    }
}

/// Values stored once and referred to by a 32-bit id, reference counted; freed ids are reused.
struct InternTable<Value: Hashable> {
    private var values: [Value?] = []
    private var counts: [UInt32] = []
    private var ids: [Value: UInt32] = [:]
    private var free: [UInt32] = []

    /// The id of `value`, adding it (count 1) or counting one more reference.
    mutating func retain(_ value: Value) -> UInt32 {
        if let id = ids[value] {
            counts[Int(id)] += 1
            return id
        }
        let id: UInt32
        if let reused = free.popLast() {
            id = reused
            values[Int(id)] = value
            counts[Int(id)] = 1
        } else {
            id = UInt32(values.count)
            values.append(value)
            counts.append(1)
        }
        ids[value] = id
        return id
    }

    /// Drops one reference to `id`, freeing it with the last.
    mutating func release(_ id: UInt32) {
        let i = Int(id)
        counts[i] -= 1
        guard counts[i] == 0, let value = values[i] else { return }
        ids[value] = nil
        values[i] = nil
        free.append(id)
    }

    /// The value of a retained id.
    func value(_ id: UInt32) -> Value {
        guard let value = values[Int(id)] else { preconditionFailure("intern table: id \(id) was released") }
        return value
    }

    /// How many references `value` has (0 when absent).
    func referenceCount(of value: Value) -> Int {
        ids[value].map { Int(counts[Int($0)]) } ?? 0
    }

    /// Distinct values held.
    var distinctCount: Int { ids.count }
}
