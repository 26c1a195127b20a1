import Foundation
import Multiformats
import P2PCore
import P2PCrypto

/// A thread-safe, bounded, in-memory `PeerStore` with address TTLs.
///
/// Time comes from an injected clock (seconds; default: wall-clock seconds since 1970) so TTL
/// expiry can be tested without waiting. Every table is bounded: at most `maxPeers` peers (when a
/// new peer arrives at the limit, the peer updated longest ago is evicted), `maxAddressesPerPeer`
/// addresses per peer (the one expiring soonest makes room), `maxProtocolsPerPeer` protocols and
/// `maxMetadataEntries` metadata keys per peer; metadata values are cut at `maxMetadataValueBytes`.
public final class MemoryPeerStore: PeerStore, @unchecked Sendable {
    /// Limits of one store.
    public struct Limits: Sendable {
        public var maxPeers: Int
        public var maxAddressesPerPeer: Int
        public var maxProtocolsPerPeer: Int
        public var maxMetadataEntries: Int
        public var maxMetadataValueBytes: Int

        public init(
            maxPeers: Int = 10_000, maxAddressesPerPeer: Int = 64, maxProtocolsPerPeer: Int = 256,
            maxMetadataEntries: Int = 32, maxMetadataValueBytes: Int = 1024
        ) {
            self.maxPeers = max(1, maxPeers)
            self.maxAddressesPerPeer = max(1, maxAddressesPerPeer)
            self.maxProtocolsPerPeer = max(1, maxProtocolsPerPeer)
            self.maxMetadataEntries = max(1, maxMetadataEntries)
            self.maxMetadataValueBytes = max(1, maxMetadataValueBytes)
        }
    }

    private struct AddressEntry {
        var address: Multiaddr
        var expiry: Double
    }

    private struct Record {
        var addresses: [AddressEntry] = []
        var publicKey: PublicKey?
        var protocols: [ProtocolID] = []
        var metadata: [String: String] = [:]
        var updated: Double = 0

        var isEmpty: Bool { addresses.isEmpty && publicKey == nil && protocols.isEmpty && metadata.isEmpty }
    }

    /// The store's limits.
    public let limits: Limits
    private let clock: @Sendable () -> Double
    private let lock = Mutex()
    private var records: [PeerID: Record] = [:]

    /// An empty store with `limits`, reading time (seconds) from `clock`.
    public init(limits: Limits = Limits(), clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.limits = limits
        self.clock = clock
    }

    // MARK: Addresses

    public func addAddresses(_ addresses: [Multiaddr], for peer: PeerID, ttl: Double) {
        guard ttl > 0, !addresses.isEmpty else { return }
        let now = clock()
        let expiry = now + ttl
        update(peer, now: now) { record in
            for address in addresses {
                if let index = record.addresses.firstIndex(where: { $0.address == address }) {
                    record.addresses[index].expiry = max(record.addresses[index].expiry, expiry)
                } else {
                    self.insert(AddressEntry(address: address, expiry: expiry), into: &record)
                }
            }
        }
    }

    public func setAddresses(_ addresses: [Multiaddr], for peer: PeerID, ttl: Double) {
        let now = clock()
        update(peer, now: now) { record in
            record.addresses = []
            guard ttl > 0 else { return }
            for address in addresses where !record.addresses.contains(where: { $0.address == address }) {
                self.insert(AddressEntry(address: address, expiry: now + ttl), into: &record)
            }
        }
    }

    public func addresses(of peer: PeerID) -> [Multiaddr] {
        let now = clock()
        return lock.withLock {
            guard var record = records[peer] else { return [] }
            let before = record.addresses.count
            record.addresses.removeAll { $0.expiry <= now }
            if record.addresses.count != before {
                records[peer] = record.isEmpty ? nil : record
            }
            return record.addresses.map(\.address)
        }
    }

    /// Inserts `entry` into a record at the address limit by replacing the entry expiring soonest
    /// (when `entry` outlives it). Runs under the lock.
    private func insert(_ entry: AddressEntry, into record: inout Record) {
        if record.addresses.count < limits.maxAddressesPerPeer {
            record.addresses.append(entry)
            return
        }
        guard let victim = record.addresses.indices.min(by: { record.addresses[$0].expiry < record.addresses[$1].expiry }),
            record.addresses[victim].expiry < entry.expiry
        else { return }
        record.addresses.remove(at: victim)
        record.addresses.append(entry)
    }

    // MARK: Keys, protocols, metadata

    public func setPublicKey(_ key: PublicKey, for peer: PeerID) {
        guard peer.matches(key) else { return }
        update(peer, now: clock()) { $0.publicKey = key }
    }

    public func publicKey(of peer: PeerID) -> PublicKey? {
        lock.withLock { records[peer]?.publicKey } ?? peer.publicKey
    }

    public func setProtocols(_ protocols: [ProtocolID], for peer: PeerID) {
        var unique: [ProtocolID] = []
        var seen = Set<ProtocolID>()
        for proto in protocols where seen.insert(proto).inserted {
            unique.append(proto)
            if unique.count == limits.maxProtocolsPerPeer { break }
        }
        update(peer, now: clock()) { $0.protocols = unique }
    }

    public func protocols(of peer: PeerID) -> [ProtocolID] {
        lock.withLock { records[peer]?.protocols ?? [] }
    }

    public func setMetadata(_ key: String, _ value: String, for peer: PeerID) {
        var value = value
        if value.utf8.count > limits.maxMetadataValueBytes {
            // Cut on a character boundary within the byte limit.
            var cut = ""
            for character in value {
                if cut.utf8.count + character.utf8.count > limits.maxMetadataValueBytes { break }
                cut.append(character)
            }
            value = cut
        }
        update(peer, now: clock()) { record in
            if record.metadata[key] == nil && record.metadata.count >= self.limits.maxMetadataEntries { return }
            record.metadata[key] = value
        }
    }

    public func metadata(_ key: String, of peer: PeerID) -> String? {
        lock.withLock { records[peer]?.metadata[key] }
    }

    // MARK: Peers

    public func peers() -> [PeerID] {
        let now = clock()
        return lock.withLock {
            var result: [PeerID] = []
            for (peer, var record) in records {
                let before = record.addresses.count
                record.addresses.removeAll { $0.expiry <= now }
                if record.isEmpty {
                    records[peer] = nil
                    continue
                }
                if record.addresses.count != before { records[peer] = record }
                result.append(peer)
            }
            return result
        }
    }

    public func remove(_ peer: PeerID) {
        lock.withLock { records[peer] = nil }
    }

    /// Applies `change` to the record of `peer`, creating it (and evicting the stalest peer at the
    /// peer limit) when needed. Runs `change` under the lock.
    private func update(_ peer: PeerID, now: Double, _ change: (inout Record) -> Void) {
        lock.withLock {
            var record: Record
            if let existing = records[peer] {
                record = existing
            } else {
                if records.count >= limits.maxPeers { evictOne(now: now) }
                record = Record()
            }
            change(&record)
            record.updated = now
            records[peer] = record.isEmpty ? nil : record
        }
    }

    /// Drops one peer: one with nothing but expired addresses if any, else the one updated longest ago.
    /// Runs under the lock.
    private func evictOne(now: Double) {
        if let dead = records.first(where: { entry in
            entry.value.publicKey == nil && entry.value.protocols.isEmpty && entry.value.metadata.isEmpty
                && entry.value.addresses.allSatisfy { $0.expiry <= now }
        }) {
            records[dead.key] = nil
            return
        }
        if let stalest = records.min(by: { $0.value.updated < $1.value.updated }) {
            records[stalest.key] = nil
        }
    }
}
