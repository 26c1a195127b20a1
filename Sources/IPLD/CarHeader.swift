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
        let header: IPLDValue = ["roots": .list(roots.map { .link($0) }), "version": 1]
        // A map of a list of links and a small integer always encodes: no NaN, no duplicate key.
        return (try? DagCBOR.encode(header)) ?? []
    }

    /// The decoded fields of a header block; `roots` is nil when the key is absent.
    struct Decoded {
        var version: UInt64
        var roots: [CID]?
    }

    /// Decodes a header block. `base` is the absolute offset of `bytes[0]`, for error messages.
    ///
    /// The block is DAG-CBOR (lenient about key order and integer heads, like go-car); it must be
    /// a map with the keys `version` (unsigned integer, required) and `roots` (optional here:
    /// a list of links), nothing else. DAG-CBOR itself rejects duplicate keys, indefinite
    /// lengths, tags other than 42 and trailing bytes.
    static func decode(_ bytes: [UInt8], base: UInt64) throws(CarError) -> Decoded {
        let value: IPLDValue
        do {
            value = try DagCBOR.decode(bytes, strict: false)
        } catch {
            throw .invalidHeader(reason: "\(error) (offsets relative to the header block)", offset: base)
        }
        guard case let .map(map) = value else {
            throw .invalidHeader(reason: "expected a CBOR map, found \(value.kind)", offset: base)
        }
        var version: UInt64?
        var roots: [CID]?
        for entry in map.entries {
            switch entry.key {
            case "version":
                guard case let .integer(integer) = entry.value, !integer.isNegative else {
                    throw .invalidHeader(reason: "\"version\" must be an unsigned integer, found \(entry.value.kind)", offset: base)
                }
                version = integer.argument
            case "roots":
                guard case let .list(items) = entry.value else {
                    throw .invalidHeader(reason: "\"roots\" must be a list, found \(entry.value.kind)", offset: base)
                }
                roots = try items.enumerated().map { (index, item) throws(CarError) -> CID in
                    guard case let .link(cid) = item else {
                        throw .invalidHeader(reason: "root \(index) is not a CID (tag 42)", offset: base)
                    }
                    return cid
                }
            default:
                throw .invalidHeader(
                    reason: "unexpected key \"\(entry.key)\" (a CAR header has only \"roots\" and \"version\")", offset: base)
            }
        }
        guard let version else { throw .invalidHeader(reason: "missing \"version\"", offset: base) }
        return Decoded(version: version, roots: roots)
    }
}
