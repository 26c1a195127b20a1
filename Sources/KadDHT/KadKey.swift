import Multiformats
import P2PCrypto

/// A point of the Kademlia keyspace: SHA-256 of a peer ID's bytes or of a record key
/// (libp2p/specs kad-dht: distance is XOR of the SHA-256 images, read as a big-endian integer).
public struct KadKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// 32 bytes, most significant first.
    public let bytes: [UInt8]

    /// The key whose image is `digest` (must be 32 bytes; shorter input is zero-padded, longer cut).
    public init(digest: [UInt8]) {
        if digest.count == 32 {
            bytes = digest
        } else {
            var b = Array(digest.prefix(32))
            b += [UInt8](repeating: 0, count: 32 - b.count)
            bytes = b
        }
    }

    /// The keyspace point of a peer: SHA-256 of its peer ID bytes.
    public init(peer: PeerID) { self.init(digest: Sha256.digest(peer.bytes)) }

    /// The keyspace point of a DHT key (a multihash for providers, `/pk/…` or `/ipns/…` for records).
    public init(key: [UInt8]) { self.init(digest: Sha256.digest(key)) }

    /// XOR distance to `other`.
    public func distance(to other: KadKey) -> KadKey {
        var out = [UInt8](repeating: 0, count: 32)
        for i in 0..<32 { out[i] = bytes[i] ^ other.bytes[i] }
        return KadKey(digest: out)
    }

    /// Leading bits shared with `other` (256 when equal): the bucket index of `other` seen from `self`.
    public func commonPrefixLength(with other: KadKey) -> Int {
        for i in 0..<32 {
            let x = bytes[i] ^ other.bytes[i]
            if x != 0 { return i * 8 + x.leadingZeroBitCount }
        }
        return 256
    }

    /// Whether `a` is closer to `self` than `b` is.
    public func isCloser(_ a: KadKey, than b: KadKey) -> Bool {
        for i in 0..<32 {
            let da = a.bytes[i] ^ bytes[i]
            let db = b.bytes[i] ^ bytes[i]
            if da != db { return da < db }
        }
        return false
    }

    public static func < (lhs: KadKey, rhs: KadKey) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    public var description: String { Hex.encode(bytes) }
}
