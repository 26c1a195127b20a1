/// A content identifier (multiformats/cid).
///
/// - CIDv0: a sha2-256 multihash of a dag-pb block, written as 46 bare base58btc characters
///   `Qm…`; its binary form is the 34-byte multihash alone.
/// - CIDv1: `varint(1) ‖ varint(codec) ‖ multihash`, written in any multibase (base32 `b…` by default).
///
/// Equality is structural: a v0 CID and its v1 conversion are different values.
/// Ordering is the lexicographic order of `bytes`.
public struct CID: Hashable, Sendable, CustomStringConvertible, Comparable {
    public enum Version: Int, Sendable {
        case v0 = 0
        case v1 = 1
    }

    public let version: Version
    public let codec: Multicodec
    public let multihash: Multihash

    /// Builds a CID from its parts.
    /// - Throws: `.invalidV0` when a v0 CID is not dag-pb + a 32-byte sha2-256 digest;
    ///   `.codecTooLarge` when `codec` does not fit a multiformats varint.
    public init(version: Version, codec: Multicodec, multihash: Multihash) throws(CIDError) {
        switch version {
        case .v0:
            guard codec == .dagPB, multihash.code == HashFunction.sha2_256.rawValue,
                multihash.digest.count == Sha256.digestLength
            else {
                throw .invalidV0(codec: codec, hash: multihash.function, digestLength: multihash.digest.count)
            }
        case .v1:
            guard codec.rawValue <= Varint.maxValue else { throw .codecTooLarge(codec.rawValue) }
        }
        self.version = version
        self.codec = codec
        self.multihash = multihash
    }

    /// Parses the string form: `Qm…` (46 bare base58btc characters) for v0, any multibase for v1.
    ///
    /// Rejects: an empty string; a `Qm…` string that is not 46 characters or does not decode to a
    /// dag-pb sha2-256 multihash; an unknown multibase prefix; multibase data starting with 0x12
    /// (a multibase-encoded CIDv0, which the spec forbids); any binary error from `init(bytes:)`.
    public init(_ string: String) throws(CIDError) {
        guard !string.isEmpty else { throw .empty }
        if string.hasPrefix("Qm") {
            let length = string.utf8.count
            guard length == 46 else { throw .invalidV0String(length: length) }
            let bytes: [UInt8]
            do {
                bytes = try Base58.decode(string)
            } catch {
                throw .multibase(error)
            }
            var reader = ByteReader(bytes)
            let multihash: Multihash
            do {
                multihash = try Multihash.read(from: &reader)
            } catch {
                throw .multihash(error)
            }
            guard reader.isAtEnd else {
                throw .trailingBytes(count: reader.remainingCount, offset: reader.offset)
            }
            try self.init(version: .v0, codec: .dagPB, multihash: multihash)
            return
        }
        let decoded: (base: Multibase, bytes: [UInt8])
        do {
            decoded = try Multibase.decode(string)
        } catch {
            throw .multibase(error)
        }
        guard let first = decoded.bytes.first else { throw .empty }
        if first == 0x12 { throw .multibaseEncodedV0(base: decoded.base) }
        try self.init(bytes: decoded.bytes)
    }

    /// Decodes exactly one binary CID (v0: the bare 34-byte multihash `0x12 0x20 …`).
    public init(bytes: [UInt8]) throws(CIDError) {
        var reader = ByteReader(bytes)
        self = try Self.read(from: &reader)
        guard reader.isAtEnd else {
            throw .trailingBytes(count: reader.remainingCount, offset: reader.offset)
        }
    }

    /// Reads one binary CID from `reader` (as embedded in CAR files, DAG-PB links, …), leaving
    /// it positioned after the CID. Bytes starting `0x12 0x20` are read as a CIDv0.
    public static func read(from reader: inout ByteReader) throws(CIDError) -> CID {
        guard !reader.isAtEnd else { throw .empty }
        let remaining = reader.remaining
        if remaining.count >= 2, remaining[remaining.startIndex] == 0x12,
            remaining[remaining.startIndex + 1] == 0x20
        {
            let multihash: Multihash
            do {
                multihash = try Multihash.read(from: &reader)
            } catch {
                throw .multihash(error)
            }
            return try CID(version: .v0, codec: .dagPB, multihash: multihash)
        }
        let versionOffset = reader.offset
        let version = try readVarint(&reader, field: .version)
        guard version == 1 else { throw .unsupportedVersion(version, offset: versionOffset) }
        let codec = try readVarint(&reader, field: .codec)
        let multihash: Multihash
        do {
            multihash = try Multihash.read(from: &reader)
        } catch {
            throw .multihash(error)
        }
        return try CID(version: .v1, codec: Multicodec(rawValue: codec), multihash: multihash)
    }

    private static func readVarint(_ reader: inout ByteReader, field: CIDError.Field) throws(CIDError) -> UInt64 {
        let offset = reader.offset
        do {
            return try reader.readVarint()
        } catch {
            switch error {
            case let .varint(varintError, _): throw .varint(varintError, field: field, offset: offset)
            case .truncated: throw .varint(.truncated, field: field, offset: offset)
            }
        }
    }

    /// The binary form (v0: the bare multihash).
    public var bytes: [UInt8] {
        let hash = multihash.bytes
        guard version == .v1 else { return hash }
        var out: [UInt8] = []
        out.reserveCapacity(1 + Varint.encodedLength(of: codec.rawValue) + hash.count)
        Varint.encode(1, into: &out)
        Varint.encode(codec.rawValue, into: &out)
        out.append(contentsOf: hash)
        return out
    }

    /// The CIDv0 form of a dag-pb sha2-256 CID (self when already v0).
    /// - Throws: `.notConvertibleToV0` for any other codec or hash.
    public func toV0() throws(CIDError) -> CID {
        if version == .v0 { return self }
        guard codec == .dagPB, multihash.code == HashFunction.sha2_256.rawValue,
            multihash.digest.count == Sha256.digestLength
        else {
            throw .notConvertibleToV0(codec: codec, hash: multihash.function, digestLength: multihash.digest.count)
        }
        return CID(unchecked: .v0, codec: codec, multihash: multihash)
    }

    /// The CIDv1 form (same codec and multihash).
    public func toV1() -> CID {
        CID(unchecked: .v1, codec: codec, multihash: multihash)
    }

    private init(unchecked version: Version, codec: Multicodec, multihash: Multihash) {
        self.version = version
        self.codec = codec
        self.multihash = multihash
    }

    /// The string form in `base`: v1 gets the multibase prefix; v0 only exists as bare base58btc.
    /// - Throws: `.v0RequiresBase58btc` for a v0 CID in another base (convert with `toV1()` first);
    ///   `.unsupportedBase(.identity)` since identity "encoding" is not text.
    public func string(base: Multibase) throws(CIDError) -> String {
        switch version {
        case .v0:
            guard base == .base58btc else { throw .v0RequiresBase58btc(base) }
            return Base58.encode(bytes)
        case .v1:
            guard base != .identity else { throw .unsupportedBase(base) }
            return base.encode(bytes)
        }
    }

    /// v0 → `Qm…`; v1 → lowercase base32 `b…`.
    public var description: String {
        switch version {
        case .v0: return Base58.encode(bytes)
        case .v1: return Multibase.base32.encode(bytes)
        }
    }

    public static func < (lhs: CID, rhs: CID) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}

/// Why a CID could not be parsed, built or converted.
public enum CIDError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A varint field of the binary form.
    public enum Field: String, Sendable {
        case version
        case codec
    }

    /// No input (empty string, or empty decoded bytes).
    case empty
    /// The multibase (or the bare base58btc of a `Qm…` string) did not decode.
    case multibase(MultibaseError)
    /// A `Qm…` string that is not the 46 characters of a CIDv0.
    case invalidV0String(length: Int)
    /// Multibase data starting with 0x12: a CIDv0 must be written as bare base58btc `Qm…`.
    case multibaseEncodedV0(base: Multibase)
    /// A bad varint in the version or codec field.
    case varint(VarintError, field: Field, offset: Int)
    /// Version other than 1 in the binary form (0 is never written, 18 = 0x12 is reserved, ≥ 2 unknown).
    case unsupportedVersion(UInt64, offset: Int)
    /// The multihash part is malformed (its offsets are relative to the start of the CID bytes).
    case multihash(MultihashError)
    /// Bytes follow the CID where exactly one was expected.
    case trailingBytes(count: Int, offset: Int)
    /// A CIDv0 must be dag-pb with a 32-byte sha2-256 digest.
    case invalidV0(codec: Multicodec, hash: HashFunction, digestLength: Int)
    /// `toV0()` on a CID that is not dag-pb + 32-byte sha2-256.
    case notConvertibleToV0(codec: Multicodec, hash: HashFunction, digestLength: Int)
    /// A codec that does not fit a multiformats varint (> 2^63 - 1).
    case codecTooLarge(UInt64)
    /// `string(base:)` on a v0 CID with a base other than base58btc.
    case v0RequiresBase58btc(Multibase)
    /// A base that cannot represent a CID as text.
    case unsupportedBase(Multibase)

    public var description: String {
        switch self {
        case .empty:
            return "CID: empty input"
        case let .multibase(error):
            return "CID: \(error)"
        case let .invalidV0String(length):
            return "CID: a string starting with \"Qm\" is a CIDv0 and must be 46 base58btc characters, got \(length)"
        case let .multibaseEncodedV0(base):
            return "CID: \(base.rawValue) data starts with 0x12 (a CIDv0 multihash); CIDv0 must be bare base58btc \"Qm…\""
        case let .varint(error, field, offset):
            return "CID: bad \(field.rawValue) varint at offset \(offset): \(error)"
        case let .unsupportedVersion(version, offset):
            switch version {
            case 0: return "CID: explicit version 0 at offset \(offset) (a CIDv0 is a bare multihash)"
            case 0x12: return "CID: version 18 (0x12) at offset \(offset) is reserved (ambiguous with a CIDv0)"
            default: return "CID: unsupported version \(version) at offset \(offset)"
            }
        case let .multihash(error):
            return "CID: \(error)"
        case let .trailingBytes(count, offset):
            return "CID: \(count) unexpected trailing byte(s) at offset \(offset)"
        case let .invalidV0(codec, hash, length):
            return "CID: a CIDv0 must be dag-pb + 32-byte sha2-256, got codec \(codec), hash \(hash), \(length)-byte digest"
        case let .notConvertibleToV0(codec, hash, length):
            return "CID: only dag-pb + 32-byte sha2-256 CIDs have a v0 form, got codec \(codec), hash \(hash), \(length)-byte digest"
        case let .codecTooLarge(code):
            return "CID: codec \(code) exceeds 2^63-1"
        case let .v0RequiresBase58btc(base):
            return "CID: a CIDv0 can only be written in bare base58btc, not \(base.rawValue) (use toV1())"
        case let .unsupportedBase(base):
            return "CID: \(base.rawValue) cannot write a CID as text"
        }
    }
}
