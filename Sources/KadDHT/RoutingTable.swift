import Multiformats
import P2PCrypto

/// The Kademlia routing table (go-libp2p-kbucket semantics, pure): peers grouped into k-buckets
/// by the length of the prefix their key shares with ours, each bucket holding at most
/// `bucketSize` peers plus a replacement cache of candidates seen while it was full.
///
/// No I/O and no clock: every time is a `Double` in seconds on the caller's monotonic clock. The
/// owner (the DHT service) feeds it: `add` when a peer speaking the DHT protocol is identified or
/// answers a query, `markAlive` on every answer, `remove` when a liveness check fails or a peer
/// stops speaking the protocol; it reads `peersNeedingCheck` and `bucketsNeedingRefresh` on a timer.
///
/// Buckets are indexed by common prefix length (0…255; the local key itself is never stored) and
/// kept sparsely: an index without peers, cache entries or a refresh time costs nothing.
public struct RoutingTable: Sendable {
    public struct Config: Sendable {
        /// k: the most peers one bucket holds (the replication parameter of the DHT).
        public var bucketSize = 20
        /// Per bucket: the most candidates remembered while the bucket is full; the freshest takes
        /// the place of a removed peer. 0 disables the cache.
        public var replacementCacheSize = 20
        /// Per-IP-group limits; nil on the LAN table, `.init()` on the WAN table.
        public var diversity: Diversity? = nil
        public init() {}
    }

    /// Per-IP-group limits (as go-libp2p-kad-dht's rt_diversity_filter with kbucket's peerdiversity):
    /// group = /16 for IPv4, /32 for IPv6 (go uses ASN for v6; /32 is fine); loopback/private/link-local
    /// addresses are exempt (never limited). See `IPGroup`.
    public struct Diversity: Sendable, Equatable {
        /// The most peers of one IP group in one bucket.
        public var maxPerGroupPerBucket = 2
        /// The most peers of one IP group in the whole table.
        public var maxPerGroupTotal = 3
        public init() {}
    }

    /// What `add` did.
    public enum AddOutcome: Sendable, Equatable {
        /// The peer joined its bucket.
        case added
        /// The peer was already in the table (its times refreshed when `queried`).
        case updated
        /// Its bucket is full: the peer went into (or was refreshed in) the bucket's replacement cache.
        case cached
        /// Not added, for the reason given (ourselves, or a diversity limit).
        case rejected(String)
    }

    /// One bucket as `buckets()` reports it.
    public struct BucketInfo: Sendable, Equatable {
        /// The common prefix length with the local key.
        public let index: Int
        /// Peers in the bucket.
        public let peers: Int
        /// Candidates in its replacement cache.
        public let cached: Int
        /// When `markRefreshed` was last called for it; `-infinity` when never.
        public let lastRefreshed: Double

        public init(index: Int, peers: Int, cached: Int, lastRefreshed: Double) {
            self.index = index
            self.peers = peers
            self.cached = cached
            self.lastRefreshed = lastRefreshed
        }
    }

    /// A routing-table member.
    struct Entry: Sendable {
        let peer: PeerID
        let key: KeyWords
        let addedAt: Double
        /// Last answer to one of our queries, or the time it was added (go: LastSuccessfulOutboundQueryAt).
        var lastSeen: Double
        /// Last time it answered one of our queries (go: LastUsefulAt); nil when it never did.
        var lastUseful: Double?
        /// Its diversity groups, counted while it is a member.
        let groups: [IPGroup]
    }

    /// A replacement-cache candidate.
    struct Candidate: Sendable {
        let peer: PeerID
        var addresses: [Multiaddr]
        var lastSeen: Double
        var queried: Bool
    }

    struct Bucket: Sendable {
        /// Members in insertion order (at most `bucketSize`).
        var entries: [Entry] = []
        /// Candidates, freshest first (at most `replacementCacheSize`).
        var cache: [Candidate] = []
        var lastRefreshed: Double?

        var isEmpty: Bool { entries.isEmpty && cache.isEmpty && lastRefreshed == nil }
    }

    /// go's maxCplForRefresh: `randomKey` can draw keys with at most this common prefix length in
    /// about 2^(cpl+1) hashes, so buckets deeper than this are not refreshed one by one.
    public static let maxRefreshCommonPrefixLength = 15

    public let local: PeerID
    public let localKey: KadKey
    public let config: Config
    private let localWords: KeyWords
    private var bucketsByIndex: [Int: Bucket] = [:]
    /// Member -> bucket index.
    private var memberBucket: [PeerID: Int] = [:]
    private var diversityCounts: DiversityCounts?

    public init(local: PeerID, config: Config = Config()) {
        self.local = local
        self.localKey = KadKey(peer: local)
        self.localWords = KeyWords(localKey)
        self.config = config
        self.diversityCounts = config.diversity.map { DiversityCounts(limits: $0) }
    }

    // MARK: - Membership

    /// Peers in the table.
    public var count: Int { memberBucket.count }

    /// Every member, by bucket index then insertion order.
    public var peers: [PeerID] {
        bucketsByIndex.keys.sorted().flatMap { bucketsByIndex[$0]?.entries.map(\.peer) ?? [] }
    }

    public func contains(_ peer: PeerID) -> Bool { memberBucket[peer] != nil }

    /// The bucket index (common prefix length with the local key) of `peer`; 256 for ourselves.
    public func bucketIndex(of peer: PeerID) -> Int {
        localWords.commonPrefixLength(with: KeyWords(KadKey(peer: peer)))
    }

    /// Would `add` place the peer in its bucket (not present, bucket not full)? (go: UsefulNewPeer)
    /// Diversity limits are not considered: they need the peer's addresses.
    public func isUsefulNewPeer(_ peer: PeerID) -> Bool {
        guard peer != local, memberBucket[peer] == nil else { return false }
        let index = bucketIndex(of: peer)
        return (bucketsByIndex[index]?.entries.count ?? 0) < config.bucketSize
    }

    /// Adds `peer` or refreshes it. `addresses` feed the diversity filter (pass the addresses of
    /// the connections to the peer; exempt and IP-less ones are not limited, and a peer with no
    /// limited address is always allowed). `queried`: the peer just answered one of our queries
    /// (it is alive now). A full bucket puts the peer into the bucket's replacement cache
    /// (`.cached`, or `.rejected` when the cache size is 0).
    ///
    /// Diversity is checked when a peer joins the table (or its cache), against the members of
    /// that moment; a member's groups are fixed at insertion, as in go.
    public mutating func add(_ peer: PeerID, addresses: [Multiaddr], now: Double, queried: Bool) -> AddOutcome {
        guard peer != local else { return .rejected("the local peer is not added to its own routing table") }
        if let index = memberBucket[peer] {
            if queried { markAlive(peer, now: now, in: index) }
            return .updated
        }
        let key = KeyWords(KadKey(peer: peer))
        let index = localWords.commonPrefixLength(with: key)
        let groups = diversityCounts == nil ? [] : IPGroup.groups(of: addresses)
        if let reason = diversityCounts?.rejection(groups: groups, bucket: index) {
            return .rejected(reason)
        }
        var bucket = bucketsByIndex[index] ?? Bucket()
        if bucket.entries.count < config.bucketSize {
            bucket.cache.removeAll { $0.peer == peer }
            bucket.entries.append(
                Entry(peer: peer, key: key, addedAt: now, lastSeen: now, lastUseful: queried ? now : nil, groups: groups))
            bucketsByIndex[index] = bucket
            memberBucket[peer] = index
            diversityCounts?.insert(groups: groups, bucket: index)
            return .added
        }
        guard config.replacementCacheSize > 0 else {
            return .rejected("bucket \(index) is full (\(config.bucketSize) peers) and has no replacement cache")
        }
        var candidate = Candidate(peer: peer, addresses: addresses, lastSeen: now, queried: queried)
        if let i = bucket.cache.firstIndex(where: { $0.peer == peer }) {
            candidate.queried = candidate.queried || bucket.cache[i].queried
            bucket.cache.remove(at: i)
        }
        bucket.cache.insert(candidate, at: 0)
        if bucket.cache.count > config.replacementCacheSize { bucket.cache.removeLast() }
        bucketsByIndex[index] = bucket
        return .cached
    }

    /// Removes a peer (from its bucket, or from a replacement cache); the freshest replacement-cache
    /// candidate of its bucket that passes the diversity limits takes its place and is returned
    /// (candidates that no longer pass are dropped). nil when nothing took the place.
    @discardableResult
    public mutating func remove(_ peer: PeerID) -> PeerID? {
        guard let index = memberBucket.removeValue(forKey: peer) else {
            let index = bucketIndex(of: peer)
            bucketsByIndex[index]?.cache.removeAll { $0.peer == peer }
            dropIfEmpty(index)
            return nil
        }
        guard var bucket = bucketsByIndex[index], let position = bucket.entries.firstIndex(where: { $0.peer == peer })
        else { return nil }
        let removed = bucket.entries.remove(at: position)
        diversityCounts?.remove(groups: removed.groups, bucket: index)
        var promoted: PeerID?
        while promoted == nil, !bucket.cache.isEmpty {
            let candidate = bucket.cache.removeFirst()
            let groups = diversityCounts == nil ? [] : IPGroup.groups(of: candidate.addresses)
            guard diversityCounts?.rejection(groups: groups, bucket: index) == nil else { continue }
            bucket.entries.append(
                Entry(
                    peer: candidate.peer, key: KeyWords(KadKey(peer: candidate.peer)), addedAt: candidate.lastSeen,
                    lastSeen: candidate.lastSeen, lastUseful: candidate.queried ? candidate.lastSeen : nil,
                    groups: groups))
            memberBucket[candidate.peer] = index
            diversityCounts?.insert(groups: groups, bucket: index)
            promoted = candidate.peer
        }
        bucketsByIndex[index] = bucket
        dropIfEmpty(index)
        return promoted
    }

    /// The peer answered a query now (updates its last-useful/last-seen time; a replacement-cache
    /// candidate becomes the freshest of its cache). No-op for unknown peers.
    public mutating func markAlive(_ peer: PeerID, now: Double) {
        if let index = memberBucket[peer] {
            markAlive(peer, now: now, in: index)
            return
        }
        let index = bucketIndex(of: peer)
        guard var bucket = bucketsByIndex[index], let i = bucket.cache.firstIndex(where: { $0.peer == peer }) else {
            return
        }
        var candidate = bucket.cache.remove(at: i)
        candidate.lastSeen = max(candidate.lastSeen, now)
        candidate.queried = true
        bucket.cache.insert(candidate, at: 0)
        bucketsByIndex[index] = bucket
    }

    private mutating func markAlive(_ peer: PeerID, now: Double, in index: Int) {
        guard var bucket = bucketsByIndex[index], let i = bucket.entries.firstIndex(where: { $0.peer == peer }) else {
            return
        }
        bucket.entries[i].lastSeen = max(bucket.entries[i].lastSeen, now)
        bucket.entries[i].lastUseful = now
        bucketsByIndex[index] = bucket
    }

    private mutating func dropIfEmpty(_ index: Int) {
        if bucketsByIndex[index]?.isEmpty == true { bucketsByIndex[index] = nil }
    }

    // MARK: - Queries

    /// The `count` peers nearest to `key` by XOR distance, nearest first (ties, which need a
    /// SHA-256 collision, by peer ID bytes). Sorts the members: O(n log n) for n members.
    public func nearest(to key: KadKey, count: Int, excluding: Set<PeerID> = []) -> [PeerID] {
        guard count > 0 else { return [] }
        let target = KeyWords(key)
        var scored: [(distance: KeyWords, peer: PeerID)] = []
        scored.reserveCapacity(memberBucket.count)
        for bucket in bucketsByIndex.values {
            for entry in bucket.entries where !excluding.contains(entry.peer) {
                scored.append((entry.key.distance(to: target), entry.peer))
            }
        }
        scored.sort { $0.distance != $1.distance ? $0.distance < $1.distance : PeerID.bytesPrecede($0.peer, $1.peer) }
        return scored.prefix(count).map(\.peer)
    }

    /// Every bucket index from 0 to the deepest bucket holding peers, candidates or a refresh time
    /// (empty ones in between included); `[]` for a table that never held anything.
    public func buckets() -> [BucketInfo] {
        guard let deepest = bucketsByIndex.keys.max() else { return [] }
        return (0...deepest).map { index in
            let bucket = bucketsByIndex[index] ?? Bucket()
            return BucketInfo(
                index: index, peers: bucket.entries.count, cached: bucket.cache.count,
                lastRefreshed: bucket.lastRefreshed ?? -.infinity)
        }
    }

    /// The members and their times (for diagnostics and `routing table` output).
    public func entry(for peer: PeerID) -> (addedAt: Double, lastSeen: Double, lastUseful: Double?)? {
        guard let index = memberBucket[peer], let e = bucketsByIndex[index]?.entries.first(where: { $0.peer == peer })
        else { return nil }
        return (e.addedAt, e.lastSeen, e.lastUseful)
    }

    /// Peers not heard from for `staleAfter` seconds (last answer, or addition when they never
    /// answered): the owner pings them (liveness) and removes those that fail. Stalest first.
    public func peersNeedingCheck(now: Double, staleAfter: Double) -> [PeerID] {
        var stale: [(lastSeen: Double, peer: PeerID)] = []
        for bucket in bucketsByIndex.values {
            for entry in bucket.entries where now - entry.lastSeen >= staleAfter {
                stale.append((entry.lastSeen, entry.peer))
            }
        }
        stale.sort { $0.lastSeen != $1.lastSeen ? $0.lastSeen < $1.lastSeen : PeerID.bytesPrecede($0.peer, $1.peer) }
        return stale.map(\.peer)
    }

    /// Bucket indexes (common-prefix lengths, at most `maxRefreshCommonPrefixLength` (15) as go's
    /// maxCplForRefresh, only up to the deepest non-empty bucket + 1) not refreshed for `interval`
    /// seconds, ascending. A bucket never refreshed is always due; an empty table yields `[0]`.
    public func bucketsNeedingRefresh(now: Double, interval: Double) -> [Int] {
        let deepest = bucketsByIndex.filter { !$0.value.entries.isEmpty }.keys.max() ?? -1
        let last = min(Self.maxRefreshCommonPrefixLength, deepest + 1)
        return (0...last).filter { index in
            guard let refreshed = bucketsByIndex[index]?.lastRefreshed else { return true }
            return now - refreshed >= interval
        }
    }

    /// Records a refresh of bucket `bucket` (a lookup of a key in it completed). Ignored outside 0…255.
    public mutating func markRefreshed(bucket: Int, now: Double) {
        guard (0..<256).contains(bucket) else { return }
        bucketsByIndex[bucket, default: Bucket()].lastRefreshed = now
    }

    // MARK: - Refresh keys

    /// Bytes of a DHT FIND_NODE key whose KadKey (SHA-256) has exactly `cpl` leading bits in common with
    /// the local peer's KadKey: a random sha2-256 peer-ID multihash (0x12 0x20 + 32 random bytes), drawn
    /// until it lands (bounded attempts; cpl ≤ 15 keeps it under ~2^17 hashes).
    ///
    /// `cpl` is clamped to 0…`maxRefreshCommonPrefixLength` (go refuses deeper ones: each extra bit
    /// doubles the work). A draw lands with probability 2^-(cpl+1); after 2^22 draws (failure
    /// probability below e^-60 at cpl 15) the last draw is returned whatever its prefix.
    public static func randomKey(
        commonPrefixLength cpl: Int, with local: KadKey, using rng: inout some RandomNumberGenerator
    ) -> [UInt8] {
        let cpl = min(max(cpl, 0), maxRefreshCommonPrefixLength)
        let localWords = KeyWords(local)
        let batch = 64
        let maxAttempts = 1 << 22
        var candidates = [[UInt8]](repeating: [], count: batch)
        var attempts = 0
        while true {
            for i in 0..<batch {
                var bytes: [UInt8] = [0x12, 0x20]
                bytes.reserveCapacity(34)
                for _ in 0..<4 {
                    let word = rng.next()
                    for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
                }
                candidates[i] = bytes
            }
            let digests = Sha256.digests(of: candidates)
            for (i, digest) in digests.enumerated() {
                attempts += 1
                if KeyWords(KadKey(digest: digest)).commonPrefixLength(with: localWords) == cpl || attempts >= maxAttempts {
                    return candidates[i]
                }
            }
        }
    }
}
