/// A multihash function code, with the digest size and implementation for the ones this
/// library can compute.
///
/// Computable: identity, sha1, sha2-224/256/384/512, sha3-224/256/384/512 (OpenSSL) and
/// blake2b-128 … blake2b-512 (libsodium). Other codes still parse and compare; they just
/// cannot be computed or verified.
public struct HashFunction: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Looks a function up by its multicodec name (`"sha2-256"`, `"blake2b-256"` …).
    public init?(name: String) {
        guard let codec = Multicodec(name: name) else { return nil }
        self.init(rawValue: codec.rawValue)
    }

    public static let identity = HashFunction(rawValue: 0x00)
    public static let sha1 = HashFunction(rawValue: 0x11)
    public static let sha2_256 = HashFunction(rawValue: 0x12)
    public static let sha2_512 = HashFunction(rawValue: 0x13)
    public static let sha3_512 = HashFunction(rawValue: 0x14)
    public static let sha3_384 = HashFunction(rawValue: 0x15)
    public static let sha3_256 = HashFunction(rawValue: 0x16)
    public static let sha3_224 = HashFunction(rawValue: 0x17)
    public static let sha2_384 = HashFunction(rawValue: 0x20)
    public static let sha2_224 = HashFunction(rawValue: 0x1013)
    public static let blake2b_256 = HashFunction(rawValue: 0xb220)
    public static let blake2b_512 = HashFunction(rawValue: 0xb240)

    /// The multicodec registry name, nil when unknown.
    public var name: String? { Multicodec(rawValue: rawValue).name }

    /// The same code as a `Multicodec`.
    public var multicodec: Multicodec { Multicodec(rawValue: rawValue) }

    /// The name, or `0x…` hex of the code when unknown.
    public var description: String { multicodec.description }

    /// Full digest size in bytes for the functions this library computes; nil for identity
    /// (any length) and for functions it cannot compute.
    public var digestLength: Int? {
        switch implementation {
        case .identity, nil: return nil
        case let .evp(algorithm): return algorithm.length
        case let .blake2b(length): return length
        }
    }

    /// Whether `Multihash.hash` can compute this function.
    public var isSupported: Bool { implementation.map { _ in true } ?? false }

    enum Implementation {
        case identity
        case evp(EVPAlgorithm)
        case blake2b(length: Int)
    }

    var implementation: Implementation? {
        switch rawValue {
        case 0x00: return .identity
        case 0x11: return .evp(.sha1)
        case 0x12: return .evp(.sha2_256)
        case 0x13: return .evp(.sha2_512)
        case 0x14: return .evp(.sha3_512)
        case 0x15: return .evp(.sha3_384)
        case 0x16: return .evp(.sha3_256)
        case 0x17: return .evp(.sha3_224)
        case 0x20: return .evp(.sha2_384)
        case 0x1013: return .evp(.sha2_224)
        case 0xb201...0xb240:
            let length = Int(rawValue - 0xb200)
            return Blake2b.supportedLengths.contains(length) ? .blake2b(length: length) : nil
        default: return nil
        }
    }

    /// The largest digest a multihash with this code may carry: the output size for functions
    /// with a fixed output (the whole blake2b/blake2s families included), nil when unbounded or unknown.
    var maximumDigestLength: Int? {
        switch rawValue {
        case 0xb201...0xb240: return Int(rawValue - 0xb200)
        case 0xb241...0xb260: return Int(rawValue - 0xb240)
        default: return digestLength
        }
    }
}

/// A self-describing hash: `varint(code) ‖ varint(digest length) ‖ digest`.
///
/// The digest may be a truncated prefix of the function's output (the multihash test vectors
/// use that); it may never be longer than the output of a known fixed-size function.
public struct Multihash: Hashable, Sendable, CustomStringConvertible {
    /// The hash function code (`HashFunction.rawValue`).
    public let code: UInt64
    /// The digest (possibly truncated), or the data itself for identity.
    public let digest: [UInt8]

    /// Wraps an existing digest.
    /// - Throws: `.codeTooLarge` when `code` does not fit a multiformats varint, `.digestTooLong`
    ///   when `digest` is longer than the function's output.
    public init(code: UInt64, digest: [UInt8]) throws(MultihashError) {
        guard code <= Varint.maxValue else { throw .codeTooLarge(code) }
        if let maximum = HashFunction(rawValue: code).maximumDigestLength, digest.count > maximum {
            throw .digestTooLong(function: HashFunction(rawValue: code), length: digest.count, maximum: maximum)
        }
        self.code = code
        self.digest = digest
    }

    /// Wraps an existing digest.
    public init(function: HashFunction, digest: [UInt8]) throws(MultihashError) {
        try self.init(code: function.rawValue, digest: digest)
    }

    /// Decodes exactly one binary multihash.
    /// - Throws: on a bad varint, a digest shorter than declared, or bytes after the digest.
    public init(bytes: [UInt8]) throws(MultihashError) {
        var reader = ByteReader(bytes)
        self = try Self.read(from: &reader)
        guard reader.isAtEnd else {
            throw .trailingBytes(count: reader.remainingCount, offset: reader.offset)
        }
    }

    /// Decodes a bare base58btc multihash (the legacy peer-ID form `Qm…`, `12D3Koo…`).
    public init(base58 string: String) throws(MultihashError) {
        let bytes: [UInt8]
        do {
            bytes = try Base58.decode(string)
        } catch {
            throw .base58(error)
        }
        try self.init(bytes: bytes)
    }

    /// Reads one multihash from `reader`, leaving it positioned after the digest.
    public static func read(from reader: inout ByteReader) throws(MultihashError) -> Multihash {
        let codeOffset = reader.offset
        let code: UInt64
        do {
            code = try reader.readVarint()
        } catch {
            throw MultihashError(error, field: .code, offset: codeOffset)
        }
        let lengthOffset = reader.offset
        let declared: UInt64
        do {
            declared = try reader.readVarint()
        } catch {
            throw MultihashError(error, field: .digestLength, offset: lengthOffset)
        }
        guard declared <= UInt64(reader.remainingCount) else {
            throw .truncatedDigest(declared: declared, available: reader.remainingCount, offset: reader.offset)
        }
        let digestOffset = reader.offset
        let digest: [UInt8]
        do {
            digest = try reader.readBytes(Int(declared))
        } catch {
            throw .truncatedDigest(declared: declared, available: reader.remainingCount, offset: digestOffset)
        }
        return try Multihash(code: code, digest: digest)
    }

    /// The binary form.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Varint.encodedLength(of: code) + Varint.maxLength + digest.count)
        Varint.encode(code, into: &out)
        Varint.encode(UInt64(digest.count), into: &out)
        out.append(contentsOf: digest)
        return out
    }

    /// The hash function.
    public var function: HashFunction { HashFunction(rawValue: code) }

    /// Bare base58btc of `bytes` (how peer IDs and CIDv0s print).
    public var base58: String { Base58.encode(bytes) }

    /// Same as `base58`.
    public var description: String { base58 }

    /// Hashes `data`.
    /// - Parameter truncatedTo: keep only the first n digest bytes (1 … full size); for
    ///   identity it must equal `data.count`.
    /// - Throws: `.unsupportedHashFunction` or `.invalidTruncation`.
    public static func hash(
        _ data: [UInt8], with function: HashFunction, truncatedTo: Int? = nil
    ) throws(MultihashError) -> Multihash {
        if function == .identity {
            if let truncatedTo, truncatedTo != data.count {
                throw .invalidTruncation(function: function, requested: truncatedTo, available: data.count)
            }
            return try Multihash(code: function.rawValue, digest: data)
        }
        let result = data.withUnsafeBytes { buffer in
            Result { () throws(MultihashError) -> Multihash in
                try hash(buffer, with: function, truncatedTo: truncatedTo)
            }
        }
        return try result.get()
    }

    /// Hashes the bytes in `data` (no copy).
    public static func hash(
        _ data: UnsafeRawBufferPointer, with function: HashFunction, truncatedTo: Int? = nil
    ) throws(MultihashError) -> Multihash {
        guard let implementation = function.implementation else {
            throw .unsupportedHashFunction(function)
        }
        var digest: [UInt8]
        switch implementation {
        case .identity:
            digest = Array(data)
        case let .evp(algorithm):
            digest = algorithm.digest(data)
        case let .blake2b(length):
            digest = Blake2b.digest(data, length: length)
        }
        if let truncatedTo {
            let minimum = function == .identity ? digest.count : 1
            guard truncatedTo >= minimum, truncatedTo <= digest.count else {
                throw .invalidTruncation(function: function, requested: truncatedTo, available: digest.count)
            }
            digest.removeLast(digest.count - truncatedTo)
        }
        return try Multihash(code: function.rawValue, digest: digest)
    }

    /// Whether `data` hashes to this multihash (a truncated digest is compared on its prefix).
    /// False for functions this library cannot compute and for empty non-identity digests.
    public func verifies(_ data: [UInt8]) -> Bool {
        let function = self.function
        if function == .identity { return digest == data }
        guard !digest.isEmpty, let full = try? Multihash.hash(data, with: function) else { return false }
        return full.digest.count >= digest.count && full.digest.prefix(digest.count).elementsEqual(digest)
    }
}

/// Why a multihash could not be decoded, built or computed.
public enum MultihashError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A field of the binary form.
    public enum Field: String, Sendable {
        case code = "hash function code"
        case digestLength = "digest length"
    }

    /// A varint field is empty, truncated, overlong or not minimal.
    case varint(VarintError, field: Field, offset: Int)
    /// The digest length declares more bytes than are left.
    case truncatedDigest(declared: UInt64, available: Int, offset: Int)
    /// Bytes follow the digest where exactly one multihash was expected.
    case trailingBytes(count: Int, offset: Int)
    /// The digest is longer than the function's output.
    case digestTooLong(function: HashFunction, length: Int, maximum: Int)
    /// A code that does not fit a multiformats varint (> 2^63 - 1).
    case codeTooLarge(UInt64)
    /// `hash` was asked for a function this library cannot compute.
    case unsupportedHashFunction(HashFunction)
    /// `truncatedTo` outside 1 … digest size (for identity: not the data length).
    case invalidTruncation(function: HashFunction, requested: Int, available: Int)
    /// A base58 multihash string did not decode.
    case base58(MultibaseError)

    init(_ error: ByteReaderError, field: Field, offset: Int) {
        switch error {
        case let .varint(varintError, offset): self = .varint(varintError, field: field, offset: offset)
        case .truncated: self = .varint(.truncated, field: field, offset: offset)
        }
    }

    public var description: String {
        switch self {
        case let .varint(error, field, offset):
            return "multihash: bad \(field.rawValue) varint at offset \(offset): \(error)"
        case let .truncatedDigest(declared, available, offset):
            return "multihash: digest at offset \(offset) declares \(declared) bytes but only \(available) remain"
        case let .trailingBytes(count, offset):
            return "multihash: \(count) unexpected trailing byte(s) at offset \(offset)"
        case let .digestTooLong(function, length, maximum):
            return "multihash: \(function) digest of \(length) bytes exceeds its \(maximum)-byte output"
        case let .codeTooLarge(code):
            return "multihash: hash function code \(code) exceeds 2^63-1"
        case let .unsupportedHashFunction(function):
            return "multihash: hash function \(function) (code 0x\(String(function.rawValue, radix: 16))) is not supported"
        case let .invalidTruncation(function, requested, available):
            if function == .identity {
                return "multihash: identity length \(requested) must equal the data length \(available)"
            }
            return "multihash: cannot truncate a \(available)-byte \(function) digest to \(requested) bytes"
        case let .base58(error):
            return "multihash: invalid base58btc string: \(error)"
        }
    }
}
