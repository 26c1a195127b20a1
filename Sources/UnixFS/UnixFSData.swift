/// The UnixFS `Data` protobuf carried in the `Data` field of a dag-pb node (ipfs/specs
/// src/unixfs.md, including the UnixFS 1.5 `mode` and `mtime` fields).
///
/// `encoded()` writes fields in field-number order (Type, Data, filesize, blocksizes, hashType,
/// fanout, mode, mtime), unpacked `blocksizes`, exactly as Go's protobuf encoder does, so the
/// bytes (and CIDs) match Kubo's.
public struct UnixFSData: Hashable, Sendable {
    /// `Data.Type`.
    public enum DataType: UInt64, Sendable, CustomStringConvertible {
        /// Legacy file chunk wrapped in dag-pb (trickle leaves without raw leaves).
        case raw = 0
        case directory = 1
        case file = 2
        case metadata = 3
        case symlink = 4
        case hamtShard = 5

        public var description: String {
            switch self {
            case .raw: return "Raw"
            case .directory: return "Directory"
            case .file: return "File"
            case .metadata: return "Metadata"
            case .symlink: return "Symlink"
            case .hamtShard: return "HAMTShard"
            }
        }
    }

    /// Field 1 (required).
    public var type: DataType
    /// Field 2: file bytes (File/Raw), link target (Symlink), bitfield (HAMTShard).
    public var data: [UInt8]?
    /// Field 3: total content bytes under this node (File/Raw).
    public var fileSize: UInt64?
    /// Field 4: content bytes under each child link, in link order.
    public var blockSizes: [UInt64]
    /// Field 5: hash function of a HAMT shard (0x22, murmur3-x64-64).
    public var hashType: UInt64?
    /// Field 6: fanout of a HAMT shard.
    public var fanout: UInt64?
    /// Field 7: POSIX mode bits (UnixFS 1.5); the low 12 bits are the permissions.
    public var mode: UInt32?
    /// Field 8: modification time (UnixFS 1.5).
    public var mtime: UnixFSTime?

    public init(
        type: DataType, data: [UInt8]? = nil, fileSize: UInt64? = nil, blockSizes: [UInt64] = [],
        hashType: UInt64? = nil, fanout: UInt64? = nil, mode: UInt32? = nil, mtime: UnixFSTime? = nil
    ) {
        self.type = type
        self.data = data
        self.fileSize = fileSize
        self.blockSizes = blockSizes
        self.hashType = hashType
        self.fanout = fanout
        self.mode = mode
        self.mtime = mtime
    }

    /// Decodes a UnixFS `Data` message.
    ///
    /// Unknown fields are skipped (protobuf rules); a repeated singular field keeps its last
    /// value; `blocksizes` may be packed or not. Rejects a missing or unknown `Type`, wrong wire
    /// types for known fields, truncated input and varints over 64 bits.
    public init(decoding bytes: [UInt8]) throws(UnixFSDataError) {
        let parsed = try UnixFSDataFields.parse(bytes, range: 0..<bytes.count)
        self = parsed.makeData(copyingFrom: bytes)
    }

    /// The protobuf encoding.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedSize)
        encode(into: &out)
        return out
    }

    /// Appends the UnixFS 1.5 `mode` (field 7) and `mtime` (field 8) fields, when present; shared
    /// with the importer's one-pass leaf encoder.
    static func appendMetadata(mode: UInt32?, mtime: UnixFSTime?, to out: inout [UInt8]) {
        if let mode {
            out.append(0x38)
            Protowire.appendVarint(UInt64(mode), to: &out)
        }
        if let mtime {
            out.append(0x42)
            Protowire.appendVarint(UInt64(mtime.encodedSize), to: &out)
            mtime.encode(into: &out)
        }
    }

    /// Appends the protobuf encoding to `out`.
    public func encode(into out: inout [UInt8]) {
        out.append(0x08)
        Protowire.appendVarint(type.rawValue, to: &out)
        if let data {
            out.append(0x12)
            Protowire.appendVarint(UInt64(data.count), to: &out)
            out.append(contentsOf: data)
        }
        if let fileSize {
            out.append(0x18)
            Protowire.appendVarint(fileSize, to: &out)
        }
        for size in blockSizes {
            out.append(0x20)
            Protowire.appendVarint(size, to: &out)
        }
        if let hashType {
            out.append(0x28)
            Protowire.appendVarint(hashType, to: &out)
        }
        if let fanout {
            out.append(0x30)
            Protowire.appendVarint(fanout, to: &out)
        }
        UnixFSData.appendMetadata(mode: mode, mtime: mtime, to: &out)
    }

    /// Size of `encoded()` in bytes.
    public var encodedSize: Int {
        var size = 1 + Protowire.varintSize(type.rawValue)
        if let data { size += Protowire.lengthDelimitedSize(data.count) }
        if let fileSize { size += 1 + Protowire.varintSize(fileSize) }
        for blockSize in blockSizes { size += 1 + Protowire.varintSize(blockSize) }
        if let hashType { size += 1 + Protowire.varintSize(hashType) }
        if let fanout { size += 1 + Protowire.varintSize(fanout) }
        if let mode { size += 1 + Protowire.varintSize(UInt64(mode)) }
        if let mtime { size += Protowire.lengthDelimitedSize(mtime.encodedSize) }
        return size
    }

    /// The permission bits of `mode` (low 12 bits), nil when absent or zero.
    public var permissions: UInt32? {
        guard let mode else { return nil }
        let perms = mode & 0o7777
        return perms == 0 ? nil : perms
    }
}

/// A UnixFS 1.5 modification time: seconds since the Unix epoch and optional nanoseconds.
public struct UnixFSTime: Hashable, Sendable, CustomStringConvertible {
    /// Seconds relative to 1970-01-01T00:00:00Z (negative before it).
    public var seconds: Int64
    /// Fractional nanoseconds (1…999 999 999), nil when zero or absent.
    public var nanoseconds: UInt32?

    public init(seconds: Int64, nanoseconds: UInt32? = nil) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds == 0 ? nil : nanoseconds
    }

    public var description: String {
        if let nanoseconds { return "\(seconds).\(String(nanoseconds + 1_000_000_000).dropFirst())" }
        return "\(seconds)"
    }

    var encodedSize: Int {
        var size = 1 + Protowire.varintSize(UInt64(bitPattern: seconds))
        if nanoseconds != nil { size += 5 }
        return size
    }

    func encode(into out: inout [UInt8]) {
        out.append(0x08)
        Protowire.appendVarint(UInt64(bitPattern: seconds), to: &out)
        if let nanoseconds {
            out.append(0x15)
            for shift in stride(from: 0, to: 32, by: 8) {
                out.append(UInt8(truncatingIfNeeded: nanoseconds >> UInt32(shift)))
            }
        }
    }
}

/// Why bytes are not a UnixFS `Data` message. Offsets are relative to the start of the message.
public enum UnixFSDataError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ends inside the field at `offset`.
    case truncated(field: String, offset: Int)
    /// A varint longer than 64 bits.
    case varintOverflow(field: String, offset: Int)
    /// A known field with the wrong wire type.
    case invalidWireType(field: String, wireType: UInt8, offset: Int)
    /// An unknown wire type (6 or 7, or groups) that cannot be skipped.
    case unknownWireType(UInt8, offset: Int)
    /// The required `Type` field is absent.
    case missingType
    /// `Type` holds a value outside the enum.
    case unknownType(UInt64, offset: Int)
    /// A field value that does not fit its declared type (e.g. `mode` over 32 bits).
    case valueOutOfRange(field: String, value: UInt64, offset: Int)
    /// `mtime` without its required `Seconds`.
    case missingMtimeSeconds(offset: Int)

    public var description: String {
        switch self {
        case let .truncated(field, offset):
            return "unixfs Data: input ends inside field \(field) at offset \(offset)"
        case let .varintOverflow(field, offset):
            return "unixfs Data: varint of field \(field) at offset \(offset) exceeds 64 bits"
        case let .invalidWireType(field, wireType, offset):
            return "unixfs Data: field \(field) at offset \(offset) has wire type \(wireType)"
        case let .unknownWireType(wireType, offset):
            return "unixfs Data: unknown wire type \(wireType) at offset \(offset)"
        case .missingType:
            return "unixfs Data: required field Type is missing"
        case let .unknownType(value, offset):
            return "unixfs Data: unknown Type \(value) at offset \(offset)"
        case let .valueOutOfRange(field, value, offset):
            return "unixfs Data: field \(field) at offset \(offset) holds out-of-range value \(value)"
        case let .missingMtimeSeconds(offset):
            return "unixfs Data: mtime at offset \(offset) has no Seconds"
        }
    }
}

/// The fields of a UnixFS `Data` message parsed in place: `data` is a range of the input, so
/// the exporter reads file bytes without copying them.
struct UnixFSDataFields {
    var type: UnixFSData.DataType
    var dataRange: Range<Int>?
    var fileSize: UInt64?
    var blockSizes: [UInt64]
    var hashType: UInt64?
    var fanout: UInt64?
    var mode: UInt32?
    var mtime: UnixFSTime?

    func makeData(copyingFrom bytes: [UInt8]) -> UnixFSData {
        UnixFSData(
            type: type, data: dataRange.map { Array(bytes[$0]) }, fileSize: fileSize, blockSizes: blockSizes,
            hashType: hashType, fanout: fanout, mode: mode, mtime: mtime)
    }

    /// Parses the message in `bytes[range]`; reported offsets are relative to `range.lowerBound`.
    static func parse(_ bytes: [UInt8], range: Range<Int>) throws(UnixFSDataError) -> UnixFSDataFields {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(UnixFSDataError) -> UnixFSDataFields in try parse(raw, range: range) }
        }
        return try result.get()
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) throws(UnixFSDataError) -> UnixFSDataFields {
        let base = range.lowerBound
        var reader = Protowire.Reader(bytes, range: range)
        var type: UnixFSData.DataType?
        var fields = UnixFSDataFields(type: .raw, blockSizes: [])

        func varint(_ reader: inout Protowire.Reader, _ name: String, _ offset: Int) throws(UnixFSDataError) -> UInt64 {
            guard let (value, overflow) = reader.varint() else { throw .truncated(field: name, offset: offset) }
            if overflow { throw .varintOverflow(field: name, offset: offset) }
            return value
        }

        while !reader.isAtEnd {
            let keyOffset = reader.position - base
            let key = try varint(&reader, "key", keyOffset)
            let wireType = UInt8(key & 7)
            let field = key >> 3
            func expect(_ wanted: UInt8, _ name: String) throws(UnixFSDataError) {
                guard wireType == wanted else { throw .invalidWireType(field: name, wireType: wireType, offset: keyOffset) }
            }
            switch field {
            case 1:
                try expect(0, "Type")
                let value = try varint(&reader, "Type", keyOffset)
                guard let t = UnixFSData.DataType(rawValue: value) else { throw .unknownType(value, offset: keyOffset) }
                type = t
            case 2:
                try expect(2, "Data")
                guard let r = reader.lengthDelimited() else { throw .truncated(field: "Data", offset: keyOffset) }
                fields.dataRange = r
            case 3:
                try expect(0, "filesize")
                fields.fileSize = try varint(&reader, "filesize", keyOffset)
            case 4:
                if wireType == 2 {
                    guard let r = reader.lengthDelimited() else { throw .truncated(field: "blocksizes", offset: keyOffset) }
                    var inner = Protowire.Reader(bytes, range: r)
                    while !inner.isAtEnd {
                        fields.blockSizes.append(try varint(&inner, "blocksizes", inner.position - base))
                    }
                } else {
                    try expect(0, "blocksizes")
                    fields.blockSizes.append(try varint(&reader, "blocksizes", keyOffset))
                }
            case 5:
                try expect(0, "hashType")
                fields.hashType = try varint(&reader, "hashType", keyOffset)
            case 6:
                try expect(0, "fanout")
                fields.fanout = try varint(&reader, "fanout", keyOffset)
            case 7:
                try expect(0, "mode")
                let value = try varint(&reader, "mode", keyOffset)
                // uint32 on the wire may be sign-extended by some encoders: keep the low 32 bits
                // only when the high bits are all zero or all one.
                let high = value >> 32
                guard high == 0 || high == 0xFFFF_FFFF else {
                    throw .valueOutOfRange(field: "mode", value: value, offset: keyOffset)
                }
                fields.mode = UInt32(truncatingIfNeeded: value)
            case 8:
                try expect(2, "mtime")
                guard let r = reader.lengthDelimited() else { throw .truncated(field: "mtime", offset: keyOffset) }
                fields.mtime = try parseTime(bytes, range: r, base: base)
            default:
                guard reader.skip(wireType: wireType) else {
                    if wireType == 3 || wireType == 4 || wireType > 5 { throw .unknownWireType(wireType, offset: keyOffset) }
                    throw .truncated(field: "field \(field)", offset: keyOffset)
                }
            }
        }
        guard let type else { throw .missingType }
        fields.type = type
        return fields
    }

    private static func parseTime(_ bytes: UnsafeRawBufferPointer, range: Range<Int>, base: Int) throws(UnixFSDataError) -> UnixFSTime {
        var reader = Protowire.Reader(bytes, range: range)
        var seconds: Int64?
        var nanos: UInt32?
        while !reader.isAtEnd {
            let keyOffset = reader.position - base
            guard let (key, overflow) = reader.varint() else { throw .truncated(field: "mtime key", offset: keyOffset) }
            if overflow { throw .varintOverflow(field: "mtime key", offset: keyOffset) }
            let wireType = UInt8(key & 7)
            switch key >> 3 {
            case 1:
                guard wireType == 0 else { throw .invalidWireType(field: "mtime.Seconds", wireType: wireType, offset: keyOffset) }
                guard let (value, overflow) = reader.varint() else { throw .truncated(field: "mtime.Seconds", offset: keyOffset) }
                if overflow { throw .varintOverflow(field: "mtime.Seconds", offset: keyOffset) }
                seconds = Int64(bitPattern: value)
            case 2:
                guard wireType == 5 else {
                    throw .invalidWireType(field: "mtime.FractionalNanoseconds", wireType: wireType, offset: keyOffset)
                }
                guard let value = reader.fixed32() else { throw .truncated(field: "mtime.FractionalNanoseconds", offset: keyOffset) }
                nanos = value
            default:
                guard reader.skip(wireType: wireType) else {
                    if wireType == 3 || wireType == 4 || wireType > 5 { throw .unknownWireType(wireType, offset: keyOffset) }
                    throw .truncated(field: "mtime field \(key >> 3)", offset: keyOffset)
                }
            }
        }
        guard let seconds else { throw .missingMtimeSeconds(offset: range.lowerBound - base) }
        return UnixFSTime(seconds: seconds, nanoseconds: nanos)
    }
}
