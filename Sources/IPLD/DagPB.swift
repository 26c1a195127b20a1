import Multiformats

/// One link of a DAG-PB node: the target's CID, an optional name and the optional cumulative
/// size of the target DAG (`Tsize`).
public struct PBLink: Hashable, Sendable {
    /// The CID of the target block (field 1, `Hash`).
    public var hash: CID
    /// The link name (field 2, `Name`); UnixFS writes it always, empty for file chunks.
    public var name: String?
    /// Cumulative size of the target DAG in bytes (field 3, `Tsize`).
    public var tsize: UInt64?

    public init(hash: CID, name: String? = nil, tsize: UInt64? = nil) {
        self.hash = hash
        self.name = name
        self.tsize = tsize
    }
}

/// A DAG-PB node (codec 0x70): a list of links and optional opaque data (UnixFS puts its
/// `Data` protobuf there).
///
/// `encoded()` writes the canonical form: every link (field 2) first, in the order given, then
/// `Data` (field 1); inside a link `Hash`, `Name`, `Tsize`. It does not sort links: callers that
/// build new nodes keep them sorted by name bytes (the DAG-PB spec; UnixFS directories are).
/// `init(decoding:)` is strict per the spec (see `DagPBError`).
public struct PBNode: Hashable, Sendable {
    /// The links, in block order.
    public var links: [PBLink]
    /// The `Data` field; nil when absent (distinct from present but empty).
    public var data: [UInt8]?

    public init(links: [PBLink] = [], data: [UInt8]? = nil) {
        self.links = links
        self.data = data
    }

    /// Decodes one DAG-PB block.
    ///
    /// Rejects (per the DAG-PB spec's protobuf strictness): wire types and field numbers outside
    /// the schema, duplicate `Data`, links interleaved around `Data` (`Links`, `Data`, `Links`),
    /// duplicate or out-of-order link fields (`Hash`, `Name`, `Tsize` order), a link without a
    /// `Hash` or whose `Hash` is not exactly one CID, a `Name` that is not UTF-8, truncated
    /// lengths or varints, and varints over 64 bits. `Data` before the links is accepted (old
    /// encoders wrote it). The empty block decodes to no links and no data.
    public init(decoding bytes: [UInt8]) throws(DagPBError) {
        var links: [PBLink] = []
        var data: [UInt8]?
        try DagPBScanner.scan(bytes, wantNames: true) { (link: DagPBScanner.RawLink) throws(DagPBError) in
            links.append(try link.makeLink(in: bytes))
        } data: { range in
            data = Array(bytes[range])
        }
        self.links = links
        self.data = data
    }

    /// The CIDs of the links, in block order, without building names or copying `Data`
    /// (structure is still checked as strictly as `init(decoding:)`, except `Name` UTF-8).
    public static func linkCIDs(in bytes: [UInt8]) throws(DagPBError) -> [CID] {
        var cids: [CID] = []
        try DagPBScanner.scan(bytes, wantNames: false) { (link: DagPBScanner.RawLink) throws(DagPBError) in
            cids.append(try link.makeCID(in: bytes))
        } data: { _ in }
        return cids
    }

    /// The canonical encoding: links (field 2) in order, then `Data` (field 1) when present.
    public func encoded() -> [UInt8] {
        // Size everything first, then write into one exact allocation.
        let total = encodedSize
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            guard let base = buffer.baseAddress else {
                initialized = 0
                return
            }
            var writer = PBWriter(pointer: base)
            for link in links {
                writer.byte(0x12)  // Links: field 2, wire type 2
                writer.varint(UInt64(link.encodedSize))
                link.write(to: &writer)
            }
            if let data {
                writer.byte(0x0a)  // Data: field 1, wire type 2
                writer.varint(UInt64(data.count))
                writer.bytes(data)
            }
            initialized = writer.pointer - base
            precondition(initialized == total, "PBNode.encodedSize disagrees with encoded()")
        }
    }

    /// The total size of `encoded()` in bytes, computed without encoding (for Tsize sums).
    public var encodedSize: Int {
        var total = 0
        for link in links {
            let size = link.encodedSize
            total += 1 + Protobuf.varintSize(UInt64(size)) + size
        }
        if let data {
            total += 1 + Protobuf.varintSize(UInt64(data.count)) + data.count
        }
        return total
    }
}

extension PBLink {
    /// Size of the link message body (without its own key and length).
    var encodedSize: Int {
        let hashSize = hash.encodedByteCount
        var size = 1 + Protobuf.varintSize(UInt64(hashSize)) + hashSize
        if let name {
            let count = name.utf8.count
            size += 1 + Protobuf.varintSize(UInt64(count)) + count
        }
        if let tsize {
            size += 1 + Protobuf.varintSize(tsize)
        }
        return size
    }

    func write(to writer: inout PBWriter) {
        writer.byte(0x0a)  // Hash: field 1, wire type 2
        writer.varint(UInt64(hash.encodedByteCount))
        writer.cid(hash)
        if let name {
            writer.byte(0x12)  // Name: field 2, wire type 2
            var name = name
            name.withUTF8 { utf8 in
                writer.varint(UInt64(utf8.count))
                writer.bytes(utf8)
            }
        }
        if let tsize {
            writer.byte(0x18)  // Tsize: field 3, wire type 0
            writer.varint(tsize)
        }
    }
}

/// Writes protobuf fields into memory sized beforehand by `encodedSize`.
struct PBWriter {
    var pointer: UnsafeMutablePointer<UInt8>

    @inline(__always)
    mutating func byte(_ value: UInt8) {
        pointer.initialize(to: value)
        pointer += 1
    }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            byte(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        byte(UInt8(v))
    }

    @inline(__always)
    mutating func bytes(_ source: UnsafeBufferPointer<UInt8>) {
        guard let base = source.baseAddress, !source.isEmpty else { return }
        pointer.initialize(from: base, count: source.count)
        pointer += source.count
    }

    @inline(__always)
    mutating func bytes(_ source: [UInt8]) {
        source.withUnsafeBufferPointer { bytes($0) }
    }

    /// The binary CID (v0: the bare multihash).
    @inline(__always)
    mutating func cid(_ cid: CID) {
        if cid.version == .v1 {
            byte(1)
            varint(cid.codec.rawValue)
        }
        varint(cid.multihash.code)
        varint(UInt64(cid.multihash.digest.count))
        bytes(cid.multihash.digest)
    }
}

extension CID {
    /// `bytes.count`, computed without building the bytes.
    var encodedByteCount: Int {
        let hash = Varint.encodedLength(of: multihash.code)
            + Varint.encodedLength(of: UInt64(multihash.digest.count)) + multihash.digest.count
        guard version == .v1 else { return hash }
        return 1 + Varint.encodedLength(of: codec.rawValue) + hash
    }

    /// Appends `bytes` to `out` without an intermediate array.
    func appendBytes(to out: inout [UInt8]) {
        if version == .v1 {
            Varint.encode(1, into: &out)
            Varint.encode(codec.rawValue, into: &out)
        }
        Varint.encode(multihash.code, into: &out)
        Varint.encode(UInt64(multihash.digest.count), into: &out)
        out.append(contentsOf: multihash.digest)
    }
}

/// Protobuf wire helpers (protobuf varints: up to 10 bytes, 64 bits, no minimality rule;
/// unlike multiformats varints).
enum Protobuf {
    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        // ceil(bits / 7), counting at least one bit so 0 takes one byte.
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }
}

/// The one DAG-PB parser behind `PBNode(decoding:)` and `PBNode.linkCIDs(in:)`.
enum DagPBScanner {
    /// A link's field positions inside the block.
    struct RawLink {
        var index: Int
        var offset: Int
        var hash: Range<Int>
        var name: Range<Int>?
        var tsize: UInt64?

        func makeCID(in bytes: [UInt8]) throws(DagPBError) -> CID {
            if let cid = Self.fastCID(bytes[hash]) { return cid }
            // Slow path: the full parser, for its precise error.
            do {
                return try CID(bytes: Array(bytes[hash]))
            } catch {
                throw .invalidHash(link: index, offset: hash.lowerBound, error)
            }
        }

        /// Parses a well-formed binary CID in place (no intermediate arrays); nil when anything
        /// is off, so the caller can rerun the full parser for the error. Accepts exactly what
        /// `CID(bytes:)` accepts.
        @inline(__always)
        static func fastCID(_ slice: ArraySlice<UInt8>) -> CID? {
            var index = slice.startIndex
            // A multiformats varint: at most 9 bytes, minimal.
            func varint() -> UInt64? {
                var value: UInt64 = 0
                var shift: UInt64 = 0
                while index < slice.endIndex, shift < 63 {
                    let byte = slice[index]
                    index += 1
                    value |= UInt64(byte & 0x7f) << shift
                    if byte < 0x80 { return byte == 0 && shift > 0 ? nil : value }
                    shift += 7
                }
                return nil
            }
            let version: CID.Version
            let codec: Multicodec
            if slice.count >= 2, slice[index] == 0x12, slice[index + 1] == 0x20 {
                version = .v0
                codec = .dagPB
            } else {
                guard varint() == 1, let code = varint() else { return nil }
                version = .v1
                codec = Multicodec(rawValue: code)
            }
            guard let hashCode = varint(), let length = varint(), length == UInt64(slice.endIndex - index),
                let multihash = try? Multihash(code: hashCode, digest: Array(slice[index...]))
            else { return nil }
            return try? CID(version: version, codec: codec, multihash: multihash)
        }

        func makeLink(in bytes: [UInt8]) throws(DagPBError) -> PBLink {
            let cid = try makeCID(in: bytes)
            var name: String?
            if let range = self.name {
                let slice = bytes[range]
                let string = String(decoding: slice, as: UTF8.self)
                // String(decoding:) repairs invalid UTF-8; a repaired string differs in bytes.
                guard string.utf8.elementsEqual(slice) else {
                    throw .invalidName(link: index, offset: range.lowerBound)
                }
                name = string
            }
            return PBLink(hash: cid, name: name, tsize: tsize)
        }
    }

    static func scan(
        _ bytes: [UInt8], wantNames: Bool,
        link onLink: (RawLink) throws(DagPBError) -> Void,
        data onData: (Range<Int>) -> Void
    ) throws(DagPBError) {
        var reader = Reader(bytes: bytes, position: 0, end: bytes.count)
        var sawData = false
        var sawLinks = false
        var linksBeforeData = false
        var linkIndex = 0
        while !reader.isAtEnd {
            let keyOffset = reader.position
            let key = try reader.varint(context: .nodeKey)
            let wireType = UInt8(key & 7)
            let field = key >> 3
            guard wireType == 2 else {
                throw .invalidWireType(message: .node, field: field, wireType: wireType, offset: keyOffset)
            }
            switch field {
            case 1:
                guard !sawData else { throw .duplicateField(message: .node, field: "Data", offset: keyOffset) }
                let range = try reader.lengthDelimited(context: .data)
                sawData = true
                if sawLinks { linksBeforeData = true }
                onData(range)
            case 2:
                guard !linksBeforeData else { throw .linksAfterData(offset: keyOffset) }
                sawLinks = true
                let range = try reader.lengthDelimited(context: .link(linkIndex))
                let link = try scanLink(bytes, range: range, index: linkIndex, offset: keyOffset)
                try onLink(link)
                linkIndex += 1
            default:
                throw .unknownField(message: .node, field: field, offset: keyOffset)
            }
        }
    }

    private static func scanLink(_ bytes: [UInt8], range: Range<Int>, index: Int, offset: Int) throws(DagPBError) -> RawLink {
        var reader = Reader(bytes: bytes, position: range.lowerBound, end: range.upperBound)
        var hash: Range<Int>?
        var name: Range<Int>?
        var tsize: UInt64?
        while !reader.isAtEnd {
            let keyOffset = reader.position
            let key = try reader.varint(context: .linkKey(index))
            let wireType = UInt8(key & 7)
            let field = key >> 3
            switch field {
            case 1:
                guard hash == nil else { throw .duplicateField(message: .link(index), field: "Hash", offset: keyOffset) }
                guard wireType == 2 else {
                    throw .invalidWireType(message: .link(index), field: field, wireType: wireType, offset: keyOffset)
                }
                if name != nil { throw .outOfOrder(link: index, field: "Hash", after: "Name", offset: keyOffset) }
                if tsize != nil { throw .outOfOrder(link: index, field: "Hash", after: "Tsize", offset: keyOffset) }
                hash = try reader.lengthDelimited(context: .hash(index))
            case 2:
                guard name == nil else { throw .duplicateField(message: .link(index), field: "Name", offset: keyOffset) }
                guard wireType == 2 else {
                    throw .invalidWireType(message: .link(index), field: field, wireType: wireType, offset: keyOffset)
                }
                if tsize != nil { throw .outOfOrder(link: index, field: "Name", after: "Tsize", offset: keyOffset) }
                name = try reader.lengthDelimited(context: .name(index))
            case 3:
                guard tsize == nil else { throw .duplicateField(message: .link(index), field: "Tsize", offset: keyOffset) }
                guard wireType == 0 else {
                    throw .invalidWireType(message: .link(index), field: field, wireType: wireType, offset: keyOffset)
                }
                tsize = try reader.varint(context: .tsize(index))
            default:
                throw .unknownField(message: .link(index), field: field, offset: keyOffset)
            }
        }
        guard let hash, !hash.isEmpty else { throw .missingHash(link: index, offset: offset) }
        return RawLink(index: index, offset: offset, hash: hash, name: name, tsize: tsize)
    }

    /// A bounded cursor; positions are absolute offsets into the block.
    struct Reader {
        let bytes: [UInt8]
        var position: Int
        let end: Int

        var isAtEnd: Bool { position >= end }

        mutating func varint(context: DagPBError.Context) throws(DagPBError) -> UInt64 {
            let start = position
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard position < end else { throw .truncated(context, offset: start) }
                let byte = bytes[position]
                position += 1
                if shift == 63 && byte > 1 { throw .varintOverflow(context, offset: start) }
                value |= UInt64(byte & 0x7f) << shift
                if byte < 0x80 { return value }
                shift += 7
                if shift > 63 { throw .varintOverflow(context, offset: start) }
            }
        }

        mutating func lengthDelimited(context: DagPBError.Context) throws(DagPBError) -> Range<Int> {
            let start = position
            let length = try varint(context: context)
            guard length <= UInt64(end - position) else {
                throw .truncated(context, offset: start)
            }
            let range = position..<(position + Int(length))
            position = range.upperBound
            return range
        }
    }
}

/// Why bytes are not a valid DAG-PB block, or a data-model value has no DAG-PB form.
/// Offsets are from the start of the block.
public enum DagPBError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Which protobuf message a field belongs to.
    public enum Message: Equatable, Sendable, CustomStringConvertible {
        case node
        case link(Int)

        public var description: String {
            switch self {
            case .node: return "PBNode"
            case let .link(index): return "PBLink #\(index)"
            }
        }
    }

    /// What was being read when the input ended or overflowed.
    public enum Context: Equatable, Sendable, CustomStringConvertible {
        case nodeKey
        case data
        case link(Int)
        case linkKey(Int)
        case hash(Int)
        case name(Int)
        case tsize(Int)

        public var description: String {
            switch self {
            case .nodeKey: return "PBNode field key"
            case .data: return "Data"
            case let .link(index): return "PBLink #\(index)"
            case let .linkKey(index): return "PBLink #\(index) field key"
            case let .hash(index): return "PBLink #\(index) Hash"
            case let .name(index): return "PBLink #\(index) Name"
            case let .tsize(index): return "PBLink #\(index) Tsize"
            }
        }
    }

    /// The input ends inside a varint or a length-delimited field.
    case truncated(Context, offset: Int)
    /// A varint longer than 64 bits.
    case varintOverflow(Context, offset: Int)
    /// A known field with the wrong wire type, or a PBNode field that is not length-delimited.
    case invalidWireType(message: Message, field: UInt64, wireType: UInt8, offset: Int)
    /// A field number outside the schema.
    case unknownField(message: Message, field: UInt64, offset: Int)
    /// A field that may appear once appears twice.
    case duplicateField(message: Message, field: String, offset: Int)
    /// Links on both sides of `Data` ("duplicate Links section").
    case linksAfterData(offset: Int)
    /// A link field out of `Hash`, `Name`, `Tsize` order.
    case outOfOrder(link: Int, field: String, after: String, offset: Int)
    /// A link without a (non-empty) `Hash`.
    case missingHash(link: Int, offset: Int)
    /// A link `Hash` that is not exactly one binary CID.
    case invalidHash(link: Int, offset: Int, CIDError)
    /// A link `Name` that is not valid UTF-8.
    case invalidName(link: Int, offset: Int)
    /// A data-model value that does not have the PBNode shape (encoding side).
    case invalidForm(String)

    public var description: String {
        switch self {
        case let .truncated(context, offset):
            return "dag-pb: input ends inside \(context) at offset \(offset)"
        case let .varintOverflow(context, offset):
            return "dag-pb: varint of \(context) at offset \(offset) exceeds 64 bits"
        case let .invalidWireType(message, field, wireType, offset):
            return "dag-pb: \(message) field \(field) at offset \(offset) has wire type \(wireType)"
        case let .unknownField(message, field, offset):
            return "dag-pb: \(message) has unknown field number \(field) at offset \(offset)"
        case let .duplicateField(message, field, offset):
            return "dag-pb: duplicate \(field) in \(message) at offset \(offset)"
        case let .linksAfterData(offset):
            return "dag-pb: duplicate Links section (links after Data) at offset \(offset)"
        case let .outOfOrder(link, field, after, offset):
            return "dag-pb: PBLink #\(link) has \(field) after \(after) at offset \(offset)"
        case let .missingHash(link, offset):
            return "dag-pb: PBLink #\(link) at offset \(offset) has no Hash (expected a CID)"
        case let .invalidHash(link, offset, error):
            return "dag-pb: PBLink #\(link) Hash at offset \(offset) is not a CID: \(error)"
        case let .invalidName(link, offset):
            return "dag-pb: PBLink #\(link) Name at offset \(offset) is not valid UTF-8"
        case let .invalidForm(reason):
            return "dag-pb: invalid DAG-PB form (\(reason))"
        }
    }
}
