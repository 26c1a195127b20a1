/// A multicodec code: the self-describing tag for a content type, hash function, key type…
///
/// Any code can be represented (CIDs may carry codecs this node does not know); the codes the
/// node uses have named constants, and `name` / `init(name:)` resolve them against the
/// multicodec registry (multiformats/multicodec `table.csv`).
public struct Multicodec: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// The registry name (`"dag-pb"`, `"sha2-256"` …), or nil for a code this table does not know.
    public var name: String? {
        if let name = Self.names[rawValue] { return name }
        switch rawValue {
        case 0xb201...0xb240: return "blake2b-\((rawValue - 0xb200) * 8)"
        case 0xb241...0xb260: return "blake2s-\((rawValue - 0xb240) * 8)"
        default: return nil
        }
    }

    /// Looks a codec up by its registry name; nil when the name is unknown.
    public init?(name: String) {
        if let code = Self.codes[name] {
            self.init(rawValue: code)
            return
        }
        for (prefix, base, range) in [("blake2b-", UInt64(0xb200), 1...64), ("blake2s-", UInt64(0xb240), 1...32)]
        where name.hasPrefix(prefix) {
            guard let bits = Int(name.dropFirst(prefix.count)), bits % 8 == 0, range.contains(bits / 8) else {
                return nil
            }
            self.init(rawValue: base + UInt64(bits / 8))
            return
        }
        return nil
    }

    /// The name, or `0x…` hex of the code when unknown.
    public var description: String {
        name ?? "0x" + String(rawValue, radix: 16)
    }

    // MARK: - IPLD / serialization
    public static let identity = Multicodec(rawValue: 0x00)
    public static let cbor = Multicodec(rawValue: 0x51)
    public static let raw = Multicodec(rawValue: 0x55)
    public static let dagPB = Multicodec(rawValue: 0x70)
    public static let dagCBOR = Multicodec(rawValue: 0x71)
    public static let libp2pKey = Multicodec(rawValue: 0x72)
    public static let gitRaw = Multicodec(rawValue: 0x78)
    public static let dagJOSE = Multicodec(rawValue: 0x85)
    public static let dagCOSE = Multicodec(rawValue: 0x86)
    public static let dagJSON = Multicodec(rawValue: 0x0129)
    public static let json = Multicodec(rawValue: 0x0200)
    public static let protobuf = Multicodec(rawValue: 0x50)
    public static let car = Multicodec(rawValue: 0x0202)
    public static let carIndexSorted = Multicodec(rawValue: 0x0400)
    public static let carMultihashIndexSorted = Multicodec(rawValue: 0x0401)
    public static let ipnsRecord = Multicodec(rawValue: 0x0300)
    public static let libp2pPeerRecord = Multicodec(rawValue: 0x0301)
    public static let libp2pRelayRsvp = Multicodec(rawValue: 0x0302)

    // MARK: - multiformats / namespaces
    public static let cidv1 = Multicodec(rawValue: 0x01)
    public static let multicodec = Multicodec(rawValue: 0x30)
    public static let multihash = Multicodec(rawValue: 0x31)
    public static let multiaddr = Multicodec(rawValue: 0x32)
    public static let ipfs = Multicodec(rawValue: 0xe3)
    public static let ipns = Multicodec(rawValue: 0xe5)

    // MARK: - keys
    public static let secp256k1Pub = Multicodec(rawValue: 0xe7)
    public static let x25519Pub = Multicodec(rawValue: 0xec)
    public static let ed25519Pub = Multicodec(rawValue: 0xed)
    public static let rsaPub = Multicodec(rawValue: 0x1205)

    // MARK: - transports (IPNI / content routing)
    public static let transportBitswap = Multicodec(rawValue: 0x0900)
    public static let transportGraphsyncFilecoinv1 = Multicodec(rawValue: 0x0910)
    public static let transportIpfsGatewayHttp = Multicodec(rawValue: 0x0920)

    // MARK: - hash functions (see also `HashFunction`)
    public static let sha1 = Multicodec(rawValue: 0x11)
    public static let sha2_256 = Multicodec(rawValue: 0x12)
    public static let sha2_512 = Multicodec(rawValue: 0x13)
    public static let sha3_512 = Multicodec(rawValue: 0x14)
    public static let sha3_384 = Multicodec(rawValue: 0x15)
    public static let sha3_256 = Multicodec(rawValue: 0x16)
    public static let sha3_224 = Multicodec(rawValue: 0x17)
    public static let sha2_384 = Multicodec(rawValue: 0x20)
    public static let sha2_224 = Multicodec(rawValue: 0x1013)
    public static let blake2b_256 = Multicodec(rawValue: 0xb220)
    public static let blake2b_512 = Multicodec(rawValue: 0xb240)
    /// The first 64 bits of murmur3-x64-128: UnixFS HAMT directory sharding.
    public static let murmur3X64_64 = Multicodec(rawValue: 0x22)

    /// Every code with a fixed name in this table (the blake2b/blake2s families are computed).
    public static var known: [Multicodec] {
        names.keys.sorted().map { Multicodec(rawValue: $0) }
    }

    private static let names: [UInt64: String] = [
        0x00: "identity", 0x01: "cidv1",
        0x11: "sha1", 0x12: "sha2-256", 0x13: "sha2-512", 0x14: "sha3-512", 0x15: "sha3-384",
        0x16: "sha3-256", 0x17: "sha3-224", 0x18: "shake-128", 0x19: "shake-256",
        0x1a: "keccak-224", 0x1b: "keccak-256", 0x1c: "keccak-384", 0x1d: "keccak-512",
        0x1e: "blake3", 0x20: "sha2-384", 0x22: "murmur3-x64-64", 0xd5: "md5",
        0x1012: "sha2-256-trunc254-padded", 0x1013: "sha2-224",
        0x30: "multicodec", 0x31: "multihash", 0x32: "multiaddr",
        0x50: "protobuf", 0x51: "cbor", 0x55: "raw",
        0x70: "dag-pb", 0x71: "dag-cbor", 0x72: "libp2p-key", 0x78: "git-raw",
        0x85: "dag-jose", 0x86: "dag-cose", 0x0129: "dag-json", 0x0200: "json",
        0x0202: "car", 0x0400: "car-index-sorted", 0x0401: "car-multihash-index-sorted",
        0x0300: "ipns-record", 0x0301: "libp2p-peer-record", 0x0302: "libp2p-relay-rsvp",
        0xe3: "ipfs", 0xe5: "ipns",
        0xe7: "secp256k1-pub", 0xec: "x25519-pub", 0xed: "ed25519-pub", 0x1205: "rsa-pub",
        0x0900: "transport-bitswap", 0x0910: "transport-graphsync-filecoinv1",
        0x0920: "transport-ipfs-gateway-http",
    ]

    private static let codes: [String: UInt64] = Dictionary(
        uniqueKeysWithValues: names.map { ($0.value, $0.key) })
}
