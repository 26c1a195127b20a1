import Multiformats

/// A libp2p peer ID: the multihash of a peer's `crypto.pb.PublicKey` protobuf
/// (libp2p/specs peer-ids/peer-ids.md).
///
/// Keys whose protobuf is at most 42 bytes (Ed25519, secp256k1) are inlined with the identity multihash,
/// so the public key can be read back (`publicKey`); longer ones (RSA, ECDSA) are sha2-256 hashed.
/// Accepted multihashes: identity with at most 42 bytes, or sha2-256 with a 32-byte digest (as rust-libp2p).
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    /// Protobuf keys up to this many bytes are inlined with the identity multihash.
    public static let maxInlineKeyLength = 42

    /// The peer ID's multihash (its binary form is `bytes`).
    public let multihash: Multihash

    /// The peer ID of `publicKey`.
    public init(publicKey: PublicKey) {
        let encoded = publicKey.protobufBytes
        let function: HashFunction = encoded.count <= Self.maxInlineKeyLength ? .identity : .sha2_256
        do {
            multihash = try Multihash.hash(encoded, with: function)
        } catch {
            // identity and sha2-256 are always available and never fail on their own output sizes.
            preconditionFailure("hashing a public key for its peer ID failed: \(error)")
        }
    }

    /// Wraps a multihash, checking that it is a valid peer ID multihash.
    /// - Throws: `.unsupportedMultihash` for other functions or a sha2-256 digest that is not 32 bytes,
    ///   `.inlineKeyTooLong` for an identity digest over 42 bytes.
    public init(multihash: Multihash) throws(PeerIDError) {
        switch multihash.function {
        case .identity:
            guard multihash.digest.count <= Self.maxInlineKeyLength else {
                throw .inlineKeyTooLong(length: multihash.digest.count)
            }
        case .sha2_256:
            guard multihash.digest.count == 32 else {
                throw .unsupportedMultihash(multihash.function, digestLength: multihash.digest.count)
            }
        default:
            throw .unsupportedMultihash(multihash.function, digestLength: multihash.digest.count)
        }
        self.multihash = multihash
    }

    /// Decodes the binary form (a multihash, as in a `/p2p/` multiaddr component or a protocol message).
    public init(bytes: [UInt8]) throws(PeerIDError) {
        let multihash: Multihash
        do {
            multihash = try Multihash(bytes: bytes)
        } catch {
            throw .invalidMultihash(error)
        }
        try self.init(multihash: multihash)
    }

    /// Parses either text form: a bare base58btc multihash (starts with `Qm` or `1`, e.g. `Qm…`,
    /// `12D3KooW…`, `16Uiu2…`) or a CIDv1 with the `libp2p-key` codec in any multibase (`k51…`, `bafz…`).
    /// - Throws: `.empty`, `.invalidBase58`, `.invalidMultihash`, `.invalidCID`, `.notLibp2pKey` for a CID
    ///   with another codec, or the errors of `init(multihash:)`.
    public init(_ string: String) throws(PeerIDError) {
        guard !string.isEmpty else { throw .empty }
        if string.hasPrefix("Qm") || string.hasPrefix("1") {
            let bytes: [UInt8]
            do {
                bytes = try Base58.decode(string)
            } catch {
                throw .invalidBase58(error)
            }
            try self.init(bytes: bytes)
            return
        }
        let cid: CID
        do {
            cid = try CID(string)
        } catch {
            throw .invalidCID(error)
        }
        guard cid.version == .v1, cid.codec == .libp2pKey else { throw .notLibp2pKey(cid.codec) }
        try self.init(multihash: cid.multihash)
    }

    /// The binary form: the multihash bytes.
    public var bytes: [UInt8] { multihash.bytes }

    /// The legacy text form, bare base58btc of the multihash (`Qm…`, `12D3KooW…`); what Kubo prints.
    public var b58String: String { multihash.base58 }

    /// The CIDv1 form: codec `libp2p-key` (0x72) over the multihash.
    public var cid: CID {
        do {
            return try CID(version: .v1, codec: .libp2pKey, multihash: multihash)
        } catch {
            preconditionFailure("a libp2p-key CIDv1 is always valid: \(error)")
        }
    }

    /// The CIDv1 text form in `base` (default base36 `k51…`, as IPNS names; `.base32` gives `bafz…`).
    /// `.identity` is not text and falls back to base36.
    public func cidString(base: Multibase = .base36) -> String {
        (try? cid.string(base: base)) ?? Multibase.base36.encode(cid.bytes)
    }

    /// The public key inlined in an identity peer ID; nil for hashed (sha2-256) peer IDs, or when the
    /// inlined bytes are not a valid, canonically encoded public key.
    public var publicKey: PublicKey? {
        guard multihash.function == .identity, let key = try? PublicKey(protobuf: multihash.digest),
            PeerID(publicKey: key) == self
        else { return nil }
        return key
    }

    /// Whether `key` is the key this peer ID was derived from.
    public func matches(_ key: PublicKey) -> Bool { PeerID(publicKey: key) == self }

    /// Same as `b58String`.
    public var description: String { b58String }
}

extension PublicKey {
    /// This key's peer ID.
    public var peerID: PeerID { PeerID(publicKey: self) }
}

/// Why a string or byte sequence is not a peer ID.
public enum PeerIDError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Empty input.
    case empty
    /// A `Qm…`/`1…` string that is not valid base58btc.
    case invalidBase58(MultibaseError)
    /// The bytes are not exactly one multihash.
    case invalidMultihash(MultihashError)
    /// The string is not a valid CID.
    case invalidCID(CIDError)
    /// A CID whose codec is not `libp2p-key` (0x72).
    case notLibp2pKey(Multicodec)
    /// A multihash other than identity or 32-byte sha2-256.
    case unsupportedMultihash(HashFunction, digestLength: Int)
    /// An identity multihash longer than the 42 bytes an inlined key may have.
    case inlineKeyTooLong(length: Int)

    public var description: String {
        switch self {
        case .empty: "peer ID: empty input"
        case .invalidBase58(let error): "peer ID: invalid base58btc: \(error)"
        case .invalidMultihash(let error): "peer ID: \(error)"
        case .invalidCID(let error): "peer ID: \(error)"
        case .notLibp2pKey(let codec): "peer ID: CID has codec \(codec), expected libp2p-key (0x72)"
        case .unsupportedMultihash(let function, let length):
            "peer ID: multihash \(function) with a \(length)-byte digest is not identity or 32-byte sha2-256"
        case .inlineKeyTooLong(let length):
            "peer ID: identity multihash of \(length) bytes exceeds the 42-byte inline key limit"
        }
    }
}
