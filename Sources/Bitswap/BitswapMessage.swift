import IPLD
import Multiformats
import P2PCore
import P2PCrypto

/// What a wantlist entry asks for.
public enum WantType: String, Sendable, Hashable, Codable {
    /// Send the block.
    case block
    /// Say whether you have the block (HAVE / DONT_HAVE, bitswap 1.2.0).
    case have
}

/// One wantlist entry.
public struct WantlistEntry: Sendable, Hashable {
    public var cid: CID
    public var priority: Int32
    /// Revokes an earlier want of `cid`.
    public var cancel: Bool
    public var wantType: WantType
    /// Ask for DONT_HAVE when the peer lacks the block.
    public var sendDontHave: Bool

    public init(cid: CID, priority: Int32 = 1, cancel: Bool = false, wantType: WantType = .block, sendDontHave: Bool = false) {
        self.cid = cid
        self.priority = priority
        self.cancel = cancel
        self.wantType = wantType
        self.sendDontHave = sendDontHave
    }

    /// A cancel entry for `cid`.
    public static func cancel(_ cid: CID) -> WantlistEntry {
        WantlistEntry(cid: cid, priority: 0, cancel: true)
    }
}

/// A HAVE or DONT_HAVE answer.
public struct BlockPresence: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case have, dontHave }
    public var cid: CID
    public var kind: Kind

    public init(cid: CID, kind: Kind) {
        self.cid = cid
        self.kind = kind
    }
}

/// The first part of a CID (version, codec, hash function, digest length): with a block's bytes it
/// names the block. Bitswap 1.1.0+ sends it with every block; the receiver hashes the bytes to get
/// the CID, which is what verifies them.
public struct CIDPrefix: Sendable, Hashable, CustomStringConvertible {
    public var version: CID.Version
    public var codec: Multicodec
    public var hashFunction: HashFunction
    public var digestLength: Int

    /// The prefix of CIDv0 (dag-pb, sha2-256, 32 bytes): how bitswap 1.0.0 blocks are named.
    public static let v0 = CIDPrefix(version: .v0, codec: .dagPB, hashFunction: .sha2_256, digestLength: 32)

    public init(version: CID.Version, codec: Multicodec, hashFunction: HashFunction, digestLength: Int) {
        self.version = version
        self.codec = codec
        self.hashFunction = hashFunction
        self.digestLength = digestLength
    }

    public init(of cid: CID) {
        self.init(version: cid.version, codec: cid.codec, hashFunction: HashFunction(rawValue: cid.multihash.code),
                  digestLength: cid.multihash.digest.count)
    }

    /// Parses the wire form: four varints. An empty prefix names a CIDv0 block (py-libp2p sends
    /// CIDv0 blocks so on 1.1.0 and 1.2.0).
    public init(bytes: [UInt8]) throws(BitswapError) {
        if bytes.isEmpty {
            self = .v0
            return
        }
        var reader = ByteReader(bytes)
        do {
            let version = try reader.readVarint()
            let codec = try reader.readVarint()
            let hash = try reader.readVarint()
            let length = try reader.readVarint()
            guard reader.isAtEnd else { throw BitswapError.malformedMessage(field: "block prefix", reason: "trailing bytes") }
            guard let v = CID.Version(rawValue: Int(clamping: version)) else {
                throw BitswapError.malformedMessage(field: "block prefix", reason: "CID version \(version)")
            }
            guard length <= 128 else {
                throw BitswapError.malformedMessage(field: "block prefix", reason: "digest length \(length)")
            }
            self.init(version: v, codec: Multicodec(rawValue: codec), hashFunction: HashFunction(rawValue: hash),
                      digestLength: Int(length))
        } catch let error as BitswapError {
            throw error
        } catch {
            throw .malformedMessage(field: "block prefix", reason: "\(error)")
        }
    }

    /// The wire form.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        Varint.encode(UInt64(version.rawValue), into: &out)
        Varint.encode(codec.rawValue, into: &out)
        Varint.encode(hashFunction.rawValue, into: &out)
        Varint.encode(UInt64(digestLength), into: &out)
        return out
    }

    /// Hashes `data` into the CID this prefix names it with.
    /// - Throws: `.unsupportedBlock` when the hash function cannot be computed here, the digest
    ///   length is not the function's, or the CID cannot be built (CIDv0 other than dag-pb/sha2-256).
    public func cid(for data: [UInt8]) throws(BitswapError) -> CID {
        try checkVerifiable()
        let multihash: Multihash
        do {
            multihash = try Multihash.hash(data, with: hashFunction)
        } catch {
            throw .unsupportedBlock(reason: "\(error)")
        }
        return try cid(hashed: multihash)
    }

    /// Throws `.unsupportedBlock` unless blocks named with this prefix can be hashed here.
    func checkVerifiable() throws(BitswapError) {
        guard hashFunction.isSupported else {
            throw .unsupportedBlock(reason: "hash function \(hashFunction) cannot be verified here")
        }
    }

    /// The CID naming a block whose full `hashFunction` multihash is `multihash`, computed by the
    /// caller (`cid(for:)`, or a batch in `BlockVerifier`): checks the digest length this prefix
    /// announced and builds the CID with its version and codec.
    /// - Throws: `.unsupportedBlock`, as `cid(for:)` does after hashing.
    func cid(hashed multihash: Multihash) throws(BitswapError) -> CID {
        guard multihash.code == hashFunction.rawValue else {
            throw .unsupportedBlock(reason: "\(multihash.function) digest for a \(hashFunction) prefix")
        }
        guard multihash.digest.count == digestLength || hashFunction.digestLength == nil else {
            throw .unsupportedBlock(reason: "digest length \(digestLength) for \(hashFunction)")
        }
        do {
            return try CID(version: version, codec: codec, multihash: multihash)
        } catch {
            throw .unsupportedBlock(reason: "\(error)")
        }
    }

    public var description: String { "v\(version.rawValue)/\(codec)/\(hashFunction)/\(digestLength)" }
}

/// A block as it travels: bytes and the prefix that names them. Received ones are unverified until
/// `cid()` has hashed them.
public struct PrefixedBlock: Sendable, Hashable {
    public var prefix: CIDPrefix
    public var data: [UInt8]

    public init(prefix: CIDPrefix, data: [UInt8]) {
        self.prefix = prefix
        self.data = data
    }

    public init(_ block: Block) {
        self.init(prefix: CIDPrefix(of: block.cid), data: block.data)
    }
}

/// A bitswap message: wantlist changes, blocks and HAVE/DONT_HAVE answers.
public struct BitswapMessage: Sendable, Hashable {
    public var wantlist: [WantlistEntry]
    /// Whether `wantlist` replaces the receiver's whole view of our wantlist.
    public var fullWantlist: Bool
    public var blocks: [PrefixedBlock]
    public var presences: [BlockPresence]
    public var pendingBytes: Int32

    public init(
        wantlist: [WantlistEntry] = [], fullWantlist: Bool = false, blocks: [PrefixedBlock] = [],
        presences: [BlockPresence] = [], pendingBytes: Int32 = 0
    ) {
        self.wantlist = wantlist
        self.fullWantlist = fullWantlist
        self.blocks = blocks
        self.presences = presences
        self.pendingBytes = pendingBytes
    }

    public var isEmpty: Bool { wantlist.isEmpty && blocks.isEmpty && presences.isEmpty && !fullWantlist }

    /// Bytes of block data carried.
    public var blockBytes: Int { blocks.reduce(0) { $0 + $1.data.count } }

    /// Encodes for a peer speaking `protocolID`: 1.0.0 carries bare blocks (CIDv0 only), 1.1.0 and
    /// 1.2.0 prefixed blocks; HAVE/DONT_HAVE and want-have only go to 1.2.0 peers (for older ones a
    /// want-have becomes a want-block and presences are dropped).
    public func encoded(for protocolID: ProtocolID) -> [UInt8] {
        let framed = frame(for: protocolID)
        var prefixLength = 1
        while framed[prefixLength - 1] >= 0x80 { prefixLength += 1 }
        return Array(framed[prefixLength...])
    }

    /// The message as written on a stream: varint length, then the protobuf bytes.
    public func frame(for protocolID: ProtocolID) -> [UInt8] {
        BitswapWire.frame(self, for: BitswapWire.ProtocolIDKind(
            presence: BitswapProtocol.supportsPresence(protocolID), payload: BitswapProtocol.usesPayload(protocolID)))
    }

    /// Decodes a message read from a stream (without its length prefix). Blocks are not hashed
    /// here (see `PrefixedBlock`).
    /// - Throws: `BitswapError.malformedMessage` naming the field.
    public static func decode(_ bytes: [UInt8]) throws(BitswapError) -> BitswapMessage {
        try BitswapWire.decode(bytes)
    }
}

/// Errors of the bitswap module; each names what was wrong and where.
public enum BitswapError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A message that does not parse.
    case malformedMessage(field: String, reason: String)
    /// A block that cannot be named or verified here.
    case unsupportedBlock(reason: String)
    /// No stream could be opened to the peer.
    case cannotReach(peer: PeerID, reason: String)
    /// The fetch could not complete in time.
    case timeout(what: String, seconds: Double)
    /// No peer to ask.
    case noProviders(CID)
    /// The block store failed.
    case store(String)
    /// A block in the DAG cannot be decoded to find its links.
    case badDAG(cid: CID, reason: String)
    /// The service was stopped.
    case stopped
    /// The task that ran the fetch was cancelled.
    case cancelled

    public var description: String {
        switch self {
        case let .malformedMessage(field, reason): return "malformed bitswap message: \(field): \(reason)"
        case let .unsupportedBlock(reason): return "unsupported block: \(reason)"
        case let .cannotReach(peer, reason): return "cannot open a bitswap stream to \(peer): \(reason)"
        case let .timeout(what, seconds): return "\(what) did not finish within \(seconds) s"
        case let .noProviders(cid): return "no peer to fetch \(cid) from: give one with --peer or connect to one"
        case let .store(reason): return "block store: \(reason)"
        case let .badDAG(cid, reason): return "cannot read the links of \(cid): \(reason)"
        case .stopped: return "bitswap was stopped"
        case .cancelled: return "the fetch was cancelled"
        }
    }
}
