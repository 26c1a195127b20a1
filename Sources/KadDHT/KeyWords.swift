import P2PCrypto

/// A 256-bit keyspace point (or XOR distance) as four big-endian 64-bit words: comparing and
/// XOR-ing these costs four integer operations, where `KadKey`'s byte arrays cost 32 bounds-checked
/// loads. The routing table and the lookup keep one per peer so that sorting by distance is cheap.
struct KeyWords: Hashable, Comparable, Sendable {
    var w0: UInt64
    var w1: UInt64
    var w2: UInt64
    var w3: UInt64

    init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        self.w0 = w0
        self.w1 = w1
        self.w2 = w2
        self.w3 = w3
    }

    /// The words of `key` (its 32 bytes, most significant first).
    init(_ key: KadKey) {
        func word(_ i: Int) -> UInt64 {
            var w: UInt64 = 0
            for b in key.bytes[(i * 8)..<(i * 8 + 8)] { w = (w << 8) | UInt64(b) }
            return w
        }
        self.init(w0: word(0), w1: word(1), w2: word(2), w3: word(3))
    }

    /// XOR distance.
    @inline(__always)
    func distance(to other: KeyWords) -> KeyWords {
        KeyWords(w0: w0 ^ other.w0, w1: w1 ^ other.w1, w2: w2 ^ other.w2, w3: w3 ^ other.w3)
    }

    /// Leading bits shared with `other` (256 when equal).
    func commonPrefixLength(with other: KeyWords) -> Int {
        let d = distance(to: other)
        if d.w0 != 0 { return d.w0.leadingZeroBitCount }
        if d.w1 != 0 { return 64 + d.w1.leadingZeroBitCount }
        if d.w2 != 0 { return 128 + d.w2.leadingZeroBitCount }
        if d.w3 != 0 { return 192 + d.w3.leadingZeroBitCount }
        return 256
    }

    /// Big-endian numeric order (the order of distances).
    @inline(__always)
    static func < (lhs: KeyWords, rhs: KeyWords) -> Bool {
        if lhs.w0 != rhs.w0 { return lhs.w0 < rhs.w0 }
        if lhs.w1 != rhs.w1 { return lhs.w1 < rhs.w1 }
        if lhs.w2 != rhs.w2 { return lhs.w2 < rhs.w2 }
        return lhs.w3 < rhs.w3
    }
}

extension PeerID {
    /// Total order on peer IDs by their bytes: the tie-break that makes orderings deterministic
    /// (two distinct peer IDs at the same distance need a SHA-256 collision, but the order must
    /// not depend on dictionary iteration even then).
    static func bytesPrecede(_ a: PeerID, _ b: PeerID) -> Bool {
        a.bytes.lexicographicallyPrecedes(b.bytes)
    }
}
