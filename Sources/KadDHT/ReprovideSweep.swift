import Multiformats
import P2PCrypto

/// A plan for one cycle of Kubo's "sweep" reprovide (go-libp2p-kad-dht `provider`, Kubo 0.38's
/// `Provide.DHT.SweepEnabled`), without I/O.
///
/// Instead of one lookup per provided key, the keyspace is cut into *regions*: the keys whose
/// KadKey starts with the same `prefixLength` bits. The prefix length comes from an estimate of
/// the network size so that a region holds about `replication` (k) peers; then ONE lookup for the
/// region's `target` finds the peers closest to every key of the region, and `assign(_:peers:)`
/// gives each key its k closest among them (the peers that ADD_PROVIDER goes to).
///
/// Why `prefixLength = ceil(log2(n / k))` (a region expected to hold between k/2 and k peers):
/// every peer inside a region is closer (XOR) to every point of the region than any peer outside
/// it. While a region holds at most k peers, the k closest peers to its target therefore include
/// all of them, and the k closest peers of each of its keys are those same peers plus the nearest
/// outside (found in the same lookup's answers). A shorter prefix (regions of k…2k peers) would
/// leave half of a region's peers out of one lookup's k closest.
///
/// Regions without keys are skipped; `regions` is in keyspace order (ascending prefix), which is
/// the order of a cycle, and `SweepProgress` records how far a cycle got so that a restarted
/// daemon resumes it, even when the key set or the network estimate changed meanwhile.
///
/// Typical use (the provider service):
/// ```swift
/// let n = ReprovideSweep.estimateNetworkSize(around: table.localKey,
///     nearest: table.nearest(to: table.localKey, count: 20).map(KadKey.init(peer:))) ?? 1
/// let sweep = ReprovideSweep(multihashes: provided, networkSize: n)
/// for region in sweep.regions(from: progress) {
///     let found = await lookup(region.target)          // every peer that answered or was named
///     for (key, peers) in sweep.assign(region, peers: found) { send ADD_PROVIDER(key.multihash) to peers }
///     progress = progress.advanced(past: region); persist(progress.bytes)
/// }
/// ```
public struct ReprovideSweep: Sendable {
    /// The longest prefix used (2^30 regions: ~2·10^10 peers at k = 20). Keeps every keyspace
    /// position exact in `UInt64` arithmetic.
    public static let maxPrefixLength = 30

    /// A provided key: the multihash (what ADD_PROVIDER carries) and its keyspace point.
    public struct Key: Sendable, Hashable {
        /// The multihash bytes (a CID's multihash, not the whole CID).
        public let multihash: [UInt8]
        /// `KadKey(key: multihash)`.
        public let kadKey: KadKey

        /// Hashes `multihash` (for many keys, `ReprovideSweep(multihashes:…)` hashes in batches).
        public init(multihash: [UInt8]) {
            self.init(multihash: multihash, kadKey: KadKey(key: multihash))
        }

        /// A key whose keyspace point is already known (must be `KadKey(key: multihash)`;
        /// tests use it to place keys at chosen points).
        public init(multihash: [UInt8], kadKey: KadKey) {
            self.multihash = multihash
            self.kadKey = kadKey
        }
    }

    /// One keyspace region with keys in it.
    public struct Region: Sendable, Equatable {
        /// The region's first `prefixLength` bits as an integer (0 ..< 2^prefixLength).
        public let prefix: UInt64
        /// How many leading bits the region's keys share (0: the whole keyspace).
        public let prefixLength: Int
        /// The region's keys, ascending by `kadKey` (never empty).
        public let keys: [Key]

        /// The lookup target: the prefix followed by a 1 bit and zeros (the middle of the region).
        /// Any point of the region serves; the middle is as good as any and deterministic.
        public var target: KadKey {
            var bytes = [UInt8](repeating: 0, count: 32)
            let aligned = prefixLength == 0 ? 0 : prefix << UInt64(64 - prefixLength)
            let withMiddle = aligned | (UInt64(1) << UInt64(63 - prefixLength))
            for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: withMiddle >> UInt64(56 - 8 * i)) }
            return KadKey(digest: bytes)
        }

        /// Where the region starts, as a fraction of the keyspace (0 ≤ position < 1): a daemon
        /// spreading a cycle over an interval reprovides the region at `cycleStart + position * interval`.
        public var position: Double { Double(prefix) / Double(UInt64(1) << UInt64(prefixLength)) }

        /// Whether `key` lies in the region.
        public func contains(_ key: KadKey) -> Bool {
            ReprovideSweep.prefix(of: key, length: prefixLength) == prefix
        }
    }

    /// Bits of prefix shared by the keys of one region.
    public let prefixLength: Int
    /// k: the peers each key is sent to.
    public let replication: Int
    /// The non-empty regions, ascending by prefix (keyspace order). Together they hold every key once.
    public let regions: [Region]

    /// Plans a cycle for `multihashes` (duplicates count once) in a network of about `networkSize`
    /// peers. The keyspace points are hashed in batches.
    public init(multihashes: [[UInt8]], networkSize: Double, replication: Int = 20) {
        let digests = Sha256.digests(of: multihashes)
        let keys = zip(multihashes, digests).map { Key(multihash: $0, kadKey: KadKey(digest: $1)) }
        self.init(keys: keys, networkSize: networkSize, replication: replication)
    }

    /// Plans a cycle for `keys` in a network of about `networkSize` peers (see `prefixLength(networkSize:replication:)`).
    public init(keys: [Key], networkSize: Double, replication: Int = 20) {
        self.init(keys: keys, prefixLength: Self.prefixLength(networkSize: networkSize, replication: replication),
                  replication: replication)
    }

    /// Plans a cycle with a given prefix length (clamped to 0…`maxPrefixLength`).
    public init(keys: [Key], prefixLength: Int, replication: Int = 20) {
        let length = min(max(prefixLength, 0), Self.maxPrefixLength)
        self.prefixLength = length
        self.replication = max(replication, 1)
        let sorted = keys.sorted { $0.kadKey != $1.kadKey ? $0.kadKey < $1.kadKey : $0.multihash.lexicographicallyPrecedes($1.multihash) }
        var regions: [Region] = []
        var current: [Key] = []
        var currentPrefix: UInt64 = 0
        for key in sorted {
            if let last = current.last, last == key { continue }
            let p = Self.prefix(of: key.kadKey, length: length)
            if p != currentPrefix, !current.isEmpty {
                regions.append(Region(prefix: currentPrefix, prefixLength: length, keys: current))
                current = []
            }
            currentPrefix = p
            current.append(key)
        }
        if !current.isEmpty { regions.append(Region(prefix: currentPrefix, prefixLength: length, keys: current)) }
        self.regions = regions
    }

    /// The regions a cycle still has to do after `progress`: those ending after its position, in
    /// keyspace order. When the prefix length changed since `progress` was written, a region
    /// straddling the position is included (its keys are provided again rather than skipped).
    /// A complete cycle leaves nothing.
    public func regions(from progress: SweepProgress) -> ArraySlice<Region> {
        // Region q of length p ends at (q+1)/2^p; the position is next/2^L. Compare
        // (q+1)·2^L > next·2^p, exact in UInt64 since every factor is at most 2^30.
        let first = regions.firstIndex { region in
            (region.prefix + 1) << UInt64(progress.prefixLength) > progress.nextPrefix << UInt64(region.prefixLength)
        }
        return regions[(first ?? regions.endIndex)...]
    }

    /// Each key of `region` with its `replication` closest peers among `peers` (nearest first;
    /// all of them when fewer; duplicates and order of `peers` do not matter). Pass every peer the
    /// region's lookup learned of: those that answered and those named in answers.
    public func assign(_ region: Region, peers: [PeerID]) -> [(key: Key, peers: [PeerID])] {
        var seen = Set<PeerID>()
        let candidates = peers.filter { seen.insert($0).inserted }.map { (peer: $0, words: KeyWords(KadKey(peer: $0))) }
        let k = min(replication, candidates.count)
        return region.keys.map { key in
            let target = KeyWords(key.kadKey)
            let nearest = candidates.sorted { a, b in
                let da = a.words.distance(to: target), db = b.words.distance(to: target)
                return da != db ? da < db : PeerID.bytesPrecede(a.peer, b.peer)
            }
            return (key, nearest.prefix(k).map(\.peer))
        }
    }

    /// The prefix length at which a region of a network of `networkSize` peers is expected to hold
    /// between k/2 and k of them: `ceil(log2(networkSize / replication))`, clamped to
    /// 0…`maxPrefixLength` (0 — one region, the whole keyspace — for k peers or fewer, or a
    /// non-finite estimate).
    public static func prefixLength(networkSize: Double, replication: Int = 20) -> Int {
        let ratio = networkSize / Double(max(replication, 1))
        guard ratio.isFinite, ratio > 1 else { return 0 }
        var length = 0
        var capacity = 1.0
        while capacity < ratio, length < maxPrefixLength {
            capacity *= 2
            length += 1
        }
        return length
    }

    /// Estimates the network size from the keys of the peers nearest to `center`, a member of the
    /// network (the local peer's key, with `nearest` from its routing table, e.g. the 20 nearest).
    ///
    /// With n peers spread uniformly over the keyspace, the i-th nearest other peer lies at an
    /// expected normalized XOR distance i/n; a least-squares fit of d_i = i·s through the origin
    /// gives s = Σ i·d_i / Σ i², and n ≈ 1/s (go-libp2p-kad-dht's netsize estimator does the same
    /// fit). Returns nil without peers. The spread of one estimate from 20 peers is about ±25%,
    /// which moves `prefixLength` by at most one.
    public static func estimateNetworkSize(around center: KadKey, nearest: [KadKey]) -> Double? {
        let distances = nearest.map { Double(prefix(of: center.distance(to: $0), length: 64)) / 18_446_744_073_709_551_616.0 }
            .sorted()
        guard !distances.isEmpty else { return nil }
        var weighted = 0.0
        var squares = 0.0
        for (i, d) in distances.enumerated() {
            let rank = Double(i + 1)
            weighted += rank * d
            squares += rank * rank
        }
        guard weighted > 0 else { return nil }
        return max(squares / weighted, Double(distances.count + 1))
    }

    /// The first `length` (0…64) bits of `key` as an integer.
    static func prefix(of key: KadKey, length: Int) -> UInt64 {
        guard length > 0 else { return 0 }
        let top = KeyWords(key).w0
        return length >= 64 ? top : top >> UInt64(64 - length)
    }
}

/// How far a sweep reprovide cycle got: when it started and the keyspace position where it
/// continues. The daemon persists `bytes` after each region and, on restart, passes the decoded
/// value to `ReprovideSweep.regions(from:)`.
///
/// The position is stored as a prefix (`nextPrefix` of `prefixLength` bits: the cycle continues
/// at the fraction `nextPrefix / 2^prefixLength` of the keyspace), not as a region index, so it
/// stays meaningful when the keys or the network estimate (hence the regions) change.
public struct SweepProgress: Sendable, Equatable {
    /// When the cycle started, in seconds on the caller's wall clock (Unix time in the daemon, so
    /// that it survives a restart; the next cycle is due at `cycleStart` + the reprovide interval).
    public let cycleStart: Double
    /// With `prefixLength`: where the cycle continues (`1 << prefixLength` when it is complete).
    public let nextPrefix: UInt64
    /// 0…`ReprovideSweep.maxPrefixLength`.
    public let prefixLength: Int

    /// Format version of `bytes`.
    public static let version: UInt8 = 1
    /// Length of `bytes`: version, cycle start (IEEE double, big endian), prefix length, next prefix (big endian).
    public static let encodedLength = 18

    /// A cycle starting at `time`, nothing done yet.
    public static func start(at time: Double) -> SweepProgress {
        SweepProgress(cycleStart: time, nextPrefix: 0, prefixLength: 0)
    }

    /// Whether every region of the cycle is done.
    public var isComplete: Bool { nextPrefix >= UInt64(1) << UInt64(prefixLength) }

    /// The progress once `region` (and every region before it) is done.
    public func advanced(past region: ReprovideSweep.Region) -> SweepProgress {
        SweepProgress(cycleStart: cycleStart, nextPrefix: region.prefix + 1, prefixLength: region.prefixLength)
    }

    /// The progress of a complete cycle (every region done, including regions with no keys at its end).
    public func completed() -> SweepProgress {
        SweepProgress(cycleStart: cycleStart, nextPrefix: 1, prefixLength: 0)
    }

    /// The compact form the daemon persists (`encodedLength` bytes).
    public var bytes: [UInt8] {
        var out: [UInt8] = [Self.version]
        out.reserveCapacity(Self.encodedLength)
        let start = cycleStart.bitPattern
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: start >> UInt64(shift))) }
        out.append(UInt8(prefixLength))
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: nextPrefix >> UInt64(shift))) }
        return out
    }

    /// Decodes `bytes`, checking every field.
    public init(bytes: [UInt8]) throws(SweepProgressError) {
        guard bytes.count == Self.encodedLength else { throw .wrongLength(bytes.count) }
        guard bytes[0] == Self.version else { throw .unknownVersion(bytes[0]) }
        func word(at offset: Int) -> UInt64 { bytes[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        let start = Double(bitPattern: word(at: 1))
        guard start.isFinite else { throw .invalidCycleStart }
        let length = Int(bytes[9])
        guard length <= ReprovideSweep.maxPrefixLength else { throw .prefixLengthOutOfRange(length) }
        let next = word(at: 10)
        guard next <= UInt64(1) << UInt64(length) else { throw .positionOutOfRange(nextPrefix: next, prefixLength: length) }
        self.init(cycleStart: start, nextPrefix: next, prefixLength: length)
    }

    private init(cycleStart: Double, nextPrefix: UInt64, prefixLength: Int) {
        self.cycleStart = cycleStart
        self.nextPrefix = nextPrefix
        self.prefixLength = prefixLength
    }
}

/// Why persisted `SweepProgress` bytes were refused.
public enum SweepProgressError: Error, Equatable, Sendable {
    /// Not `SweepProgress.encodedLength` bytes.
    case wrongLength(Int)
    /// A format version this build does not know.
    case unknownVersion(UInt8)
    /// The cycle start (bytes 1…8) is NaN or infinite.
    case invalidCycleStart
    /// The prefix length (byte 9) exceeds `ReprovideSweep.maxPrefixLength`.
    case prefixLengthOutOfRange(Int)
    /// The next prefix (bytes 10…17) lies beyond the end of the keyspace.
    case positionOutOfRange(nextPrefix: UInt64, prefixLength: Int)
}
