import Multiformats
import P2PCrypto

@testable import KadDHT

/// SplitMix64: a small deterministic generator, so that every test sees the same peers.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A random sha2-256 peer ID (0x12 0x20 + 32 bytes): cheap, no key generation.
func randomPeer(_ rng: inout SplitMix) -> PeerID {
    var bytes: [UInt8] = [0x12, 0x20]
    for _ in 0..<32 { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
    // A 34-byte sha2-256 multihash is always a valid peer ID.
    guard let peer = try? PeerID(bytes: bytes) else { fatalError("sha2-256 multihash rejected as a peer ID") }
    return peer
}

func randomPeers(_ count: Int, _ rng: inout SplitMix) -> [PeerID] {
    (0..<count).map { _ in randomPeer(&rng) }
}

/// A random peer in bucket `cpl` of `local` (its key shares exactly `cpl` leading bits), cpl ≤ 15.
func peer(inBucket cpl: Int, of local: PeerID, _ rng: inout SplitMix) -> PeerID {
    let bytes = RoutingTable.randomKey(commonPrefixLength: cpl, with: KadKey(peer: local), using: &rng)
    guard let peer = try? PeerID(bytes: bytes) else { fatalError("randomKey is not a peer ID") }
    return peer
}

/// `peers` sorted by XOR distance to `target`, nearest first (the brute-force reference).
func sortedByDistance(_ peers: [PeerID], to target: KadKey) -> [PeerID] {
    peers.map { (KadKey(peer: $0), $0) }
        .sorted { target.isCloser($0.0, than: $1.0) }
        .map(\.1)
}

func addr(_ string: String) -> Multiaddr {
    guard let a = try? Multiaddr(string) else { fatalError("bad test multiaddr \(string)") }
    return a
}
