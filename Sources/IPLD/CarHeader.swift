import Multiformats

/// The header of a CAR file: its version, its roots and, for a CARv2, the fixed 40-byte header
/// that locates the inner CARv1 data payload and the optional index.
///
/// For a CARv2, `roots` are the roots of the inner CARv1 header.
public struct CarHeader: Hashable, Sendable {
    /// 1 or 2.
    public var version: UInt64
    /// The root CIDs (may be empty: go-car and js-car both accept that).
    public var roots: [CID]
    /// The CARv2 fixed header; nil for a CARv1.
    public var v2: CarV2Header?

    public init(version: UInt64 = 1, roots: [CID], v2: CarV2Header? = nil) {
        self.version = version
        self.roots = roots
        self.v2 = v2
    }

    /// CARv2 characteristics bitfield; nil for a CARv1.
    public var characteristics: CarCharacteristics? { v2?.characteristics }
    /// CARv2 offset of the inner CARv1 payload from the start of the file; nil for a CARv1.
    public var dataOffset: UInt64? { v2?.dataOffset }
    /// CARv2 length of the inner CARv1 payload; nil for a CARv1.
    public var dataSize: UInt64? { v2?.dataSize }
    /// CARv2 offset of the index (0 = no index); nil for a CARv1.
    public var indexOffset: UInt64? { v2?.indexOffset }
}

/// The fixed 40-byte CARv2 header that follows the 11-byte pragma.
public struct CarV2Header: Hashable, Sendable {
    /// Size of the pragma `0x0a a1 67 "version" 02`.
    public static let pragmaSize: UInt64 = 11
    /// Size of this header.
    public static let size: UInt64 = 40
    /// The pragma bytes.
    public static let pragma: [UInt8] = [0x0a, 0xa1, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x02]

    public var characteristics: CarCharacteristics
    /// Offset of the inner CARv1 from the start of the file (≥ 51).
    public var dataOffset: UInt64
    /// Length of the inner CARv1 in bytes.
    public var dataSize: UInt64
    /// Offset of the index from the start of the file; 0 when there is none.
    public var indexOffset: UInt64

    public init(characteristics: CarCharacteristics = .init(), dataOffset: UInt64, dataSize: UInt64, indexOffset: UInt64) {
        self.characteristics = characteristics
        self.dataOffset = dataOffset
        self.dataSize = dataSize
        self.indexOffset = indexOffset
    }

    /// Whether an index follows the data payload.
    public var hasIndex: Bool { indexOffset != 0 }

    /// Decodes the 40 little-endian bytes (no validation).
    init(decoding bytes: [UInt8]) {
        func le(_ at: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in (0..<8).reversed() { value = value << 8 | UInt64(bytes[at + i]) }
            return value
        }
        self.init(
            characteristics: CarCharacteristics(hi: le(0), lo: le(8)),
            dataOffset: le(16), dataSize: le(24), indexOffset: le(32))
    }
}

/// The 128-bit CARv2 characteristics bitfield (two little-endian 64-bit words, as go-car reads it).
public struct CarCharacteristics: Hashable, Sendable {
    public var hi: UInt64
    public var lo: UInt64

    public init(hi: UInt64 = 0, lo: UInt64 = 0) {
        self.hi = hi
        self.lo = lo
    }

    /// The `fully-indexed` characteristic (left-most bit): the index also lists identity CIDs.
    public var isFullyIndexed: Bool { hi & (1 << 7) != 0 }
}

// MARK: - Header block (DAG-CBOR `{roots: [&Any], version: Int}`)

enum CarHeaderCodec {
    /// The DAG-CBOR encoding of `{"roots": roots, "version": 1}` (keys in canonical order).
    static func encodeV1(roots: [CID]) -> [UInt8] {
        var out: [UInt8] = [0xa2, 0x65]
        out.append(contentsOf: Array("roots".utf8))
        appendHead(major: 4, UInt64(roots.count), into: &out)
        for root in roots {
            let bytes = root.bytes
            out.append(contentsOf: [0xd8, 0x2a])
            appendHead(major: 2, UInt64(bytes.count + 1), into: &out)
            out.append(0x00)
            out.append(contentsOf: bytes)
        }
        out.append(0x67)
        out.append(contentsOf: Array("version".utf8))
        out.append(0x01)
        return out
    }

    static func appendHead(major: UInt8, _ value: UInt64, into out: inout [UInt8]) {
        let m = major << 5
        switch value {
        case 0..<24: out.append(m | UInt8(value))
        case 24...0xff: out.append(contentsOf: [m | 24, UInt8(value)])
        case 0x100...0xffff: out.append(contentsOf: [m | 25, UInt8(value >> 8), UInt8(truncatingIfNeeded: value)])
        case 0x10000...0xffff_ffff:
            out.append(m | 26)
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        default:
            out.append(m | 27)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
    }

    /// The decoded fields of a header block; `roots` is nil when the key is absent.
    struct Decoded {
        var version: UInt64
        var roots: [CID]?
    }

    /// Decodes a header block. `base` is the absolute offset of `bytes[0]`, for error messages.
    ///
    /// Accepts exactly a definite-length map with the text keys `version` (unsigned integer,
    /// required) and `roots` (optional here: array of tag-42 CIDs); rejects other keys, duplicate
    /// keys, indefinite lengths and trailing bytes. Key order is not enforced.
    static func decode(_ bytes: [UInt8], base: UInt64) throws(CarError) -> Decoded {
        var reader = CBORCursor(bytes: bytes, base: base)
        let (major, count) = try reader.head()
        guard major == 5 else {
            throw .invalidHeader(reason: "expected a CBOR map, found major type \(major)", offset: base)
        }
        var version: UInt64?
        var roots: [CID]?
        for _ in 0..<count {
            let keyOffset = reader.absoluteOffset
            let (keyMajor, keyLength) = try reader.head()
            guard keyMajor == 3 else {
                throw .invalidHeader(reason: "map key is CBOR major type \(keyMajor), expected a text string", offset: keyOffset)
            }
            let key = String(decoding: try reader.bytes(keyLength, what: "map key"), as: UTF8.self)
            switch key {
            case "version":
                guard version == nil else { throw .invalidHeader(reason: "duplicate key \"version\"", offset: keyOffset) }
                let valueOffset = reader.absoluteOffset
                let (valueMajor, value) = try reader.head()
                guard valueMajor == 0 else {
                    throw .invalidHeader(reason: "\"version\" must be an unsigned integer, found CBOR major type \(valueMajor)", offset: valueOffset)
                }
                version = value
            case "roots":
                guard roots == nil else { throw .invalidHeader(reason: "duplicate key \"roots\"", offset: keyOffset) }
                roots = try decodeRoots(&reader)
            default:
                throw .invalidHeader(reason: "unexpected key \"\(key)\" (a CAR header has only \"roots\" and \"version\")", offset: keyOffset)
            }
        }
        guard reader.isAtEnd else {
            throw .invalidHeader(reason: "\(reader.remaining) trailing byte(s) after the header map", offset: reader.absoluteOffset)
        }
        guard let version else { throw .invalidHeader(reason: "missing \"version\"", offset: base) }
        return Decoded(version: version, roots: roots)
    }

    private static func decodeRoots(_ reader: inout CBORCursor) throws(CarError) -> [CID] {
        let arrayOffset = reader.absoluteOffset
        let (major, count) = try reader.head()
        guard major == 4 else {
            throw .invalidHeader(reason: "\"roots\" must be an array, found CBOR major type \(major)", offset: arrayOffset)
        }
        // Every root takes at least 2 (tag) + 1 (bytes head) + 1 (0x00) + 2 bytes: bound the count by the input.
        guard count <= UInt64(reader.remaining) else {
            throw .invalidHeader(reason: "\"roots\" declares \(count) entries but only \(reader.remaining) bytes remain", offset: arrayOffset)
        }
        var roots: [CID] = []
        roots.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let itemOffset = reader.absoluteOffset
            let (tagMajor, tag) = try reader.head()
            guard tagMajor == 6, tag == 42 else {
                throw .invalidHeader(reason: "root \(index) is not a CID (tag 42)", offset: itemOffset)
            }
            let bytesOffset = reader.absoluteOffset
            let (bytesMajor, length) = try reader.head()
            guard bytesMajor == 2 else {
                throw .invalidHeader(reason: "root \(index): tag 42 must wrap a byte string", offset: bytesOffset)
            }
            let raw = try reader.bytes(length, what: "root \(index)")
            guard raw.first == 0x00 else {
                throw .invalidHeader(reason: "root \(index): CID bytes must start with the 0x00 multibase prefix", offset: bytesOffset)
            }
            do {
                roots.append(try CID(bytes: Array(raw.dropFirst())))
            } catch {
                throw .invalidHeader(reason: "root \(index): \(error)", offset: bytesOffset)
            }
        }
        return roots
    }
}

/// A forward-only reader over CBOR data items (heads and byte runs only).
private struct CBORCursor {
    let bytes: [UInt8]
    let base: UInt64
    var offset = 0

    init(bytes: [UInt8], base: UInt64) {
        self.bytes = bytes
        self.base = base
    }

    var isAtEnd: Bool { offset >= bytes.count }
    var remaining: Int { bytes.count - offset }
    var absoluteOffset: UInt64 { base + UInt64(offset) }

    /// Reads a data item head: the major type and its argument (count, length, value or tag).
    mutating func head() throws(CarError) -> (major: UInt8, argument: UInt64) {
        let start = absoluteOffset
        guard offset < bytes.count else {
            throw .invalidHeader(reason: "header block ends inside a CBOR item", offset: start)
        }
        let initial = bytes[offset]
        offset += 1
        let major = initial >> 5
        let info = initial & 0x1f
        let extra: Int
        switch info {
        case 0..<24: return (major, UInt64(info))
        case 24: extra = 1
        case 25: extra = 2
        case 26: extra = 4
        case 27: extra = 8
        case 31:
            throw .invalidHeader(reason: "indefinite-length CBOR items are not allowed in DAG-CBOR", offset: start)
        default:
            throw .invalidHeader(reason: "reserved CBOR additional information \(info)", offset: start)
        }
        guard remaining >= extra else {
            throw .invalidHeader(reason: "header block ends inside a CBOR item", offset: start)
        }
        var value: UInt64 = 0
        for _ in 0..<extra {
            value = value << 8 | UInt64(bytes[offset])
            offset += 1
        }
        return (major, value)
    }

    mutating func bytes(_ count: UInt64, what: String) throws(CarError) -> ArraySlice<UInt8> {
        guard count <= UInt64(remaining) else {
            throw .invalidHeader(reason: "\(what) declares \(count) bytes but only \(remaining) remain", offset: absoluteOffset)
        }
        let slice = bytes[offset..<offset + Int(count)]
        offset += Int(count)
        return slice
    }
}
