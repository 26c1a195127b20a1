import Multiformats

/// The codec registry: decode, encode and list links for every codec this node understands —
/// dag-pb (0x70), dag-cbor (0x71), dag-json (0x0129) and raw (0x55).
///
/// Decoding is lenient where the codec specs allow it for historical data (DAG-CBOR map order,
/// head sizes and short floats; DAG-JSON whitespace and key order) and strict everywhere else;
/// encoding is always canonical. Use `DagCBOR.decode(_:strict: true)` /
/// `DagJSON.decode(_:strict: true)` to demand canonical bytes.
public enum IPLDCodecs {
    /// The codecs `decode`, `encode` and `links(in:)` accept.
    public static let supported: [Multicodec] = [.dagPB, .dagCBOR, .dagJSON, .raw]

    /// Whether `codec` is one of `supported`.
    public static func isSupported(_ codec: Multicodec) -> Bool {
        supported.contains(codec)
    }

    /// Decodes a block with the codec named by its CID.
    public static func decode(_ block: Block) throws(IPLDCodecError) -> IPLDValue {
        try decode(block.data, codec: block.cid.codec, cid: block.cid)
    }

    /// Decodes `bytes` with `codec`. dag-pb blocks become their data-model form
    /// (`{"Data": bytes?, "Links": [{"Hash": link, "Name": string?, "Tsize": int?}]}`),
    /// raw blocks become `.bytes`.
    public static func decode(_ bytes: [UInt8], codec: Multicodec, cid: CID? = nil) throws(IPLDCodecError) -> IPLDValue {
        switch codec {
        case .dagPB:
            do {
                return try PBNode(decoding: bytes).ipldValue
            } catch {
                throw .dagPB(error, cid: cid)
            }
        case .dagCBOR:
            do {
                return try DagCBOR.decode(bytes, strict: false)
            } catch {
                throw .dagCBOR(error, cid: cid)
            }
        case .dagJSON:
            do {
                return try DagJSON.decode(bytes, strict: false)
            } catch {
                throw .dagJSON(error, cid: cid)
            }
        case .raw:
            return .bytes(bytes)
        default:
            throw .unsupportedCodec(codec, cid: cid)
        }
    }

    /// Encodes `value` canonically with `codec`. dag-pb needs the PBNode shape (links sorted by
    /// name bytes, see `PBNode(ipldValue:)`); raw needs `.bytes`.
    public static func encode(_ value: IPLDValue, codec: Multicodec) throws(IPLDCodecError) -> [UInt8] {
        switch codec {
        case .dagPB:
            do {
                return try PBNode(ipldValue: value).encoded()
            } catch {
                throw .dagPB(error, cid: nil)
            }
        case .dagCBOR:
            do {
                return try DagCBOR.encode(value)
            } catch {
                throw .dagCBOR(error, cid: nil)
            }
        case .dagJSON:
            do {
                return try DagJSON.encode(value)
            } catch {
                throw .dagJSON(error, cid: nil)
            }
        case .raw:
            guard case let .bytes(bytes) = value else { throw .rawNeedsBytes(value.kind) }
            return bytes
        default:
            throw .unsupportedCodec(codec, cid: nil)
        }
    }

    /// The CIDs a block links to, in codec order (dag-pb: link order; dag-cbor / dag-json:
    /// depth first in block order; raw: none). dag-pb and dag-cbor are scanned without
    /// building the value. Duplicates are kept.
    public static func links(in block: Block) throws(IPLDCodecError) -> [CID] {
        try links(in: block.data, codec: block.cid.codec, cid: block.cid)
    }

    /// The CIDs `bytes` links to when decoded with `codec`.
    public static func links(in bytes: [UInt8], codec: Multicodec, cid: CID? = nil) throws(IPLDCodecError) -> [CID] {
        switch codec {
        case .dagPB:
            do {
                return try PBNode.linkCIDs(in: bytes)
            } catch {
                throw .dagPB(error, cid: cid)
            }
        case .dagCBOR:
            do {
                return try DagCBOR.links(in: bytes, strict: false)
            } catch {
                throw .dagCBOR(error, cid: cid)
            }
        case .dagJSON:
            do {
                return try DagJSON.links(in: bytes, strict: false)
            } catch {
                throw .dagJSON(error, cid: cid)
            }
        case .raw, .cbor, .json:
            // Plain CBOR and JSON (not the DAG variants) cannot hold links; Kubo walks them too.
            return []
        default:
            throw .unsupportedCodec(codec, cid: cid)
        }
    }
}

/// Why a block could not be decoded or a value encoded; names the block's CID when known.
public enum IPLDCodecError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A codec other than dag-pb, dag-cbor, dag-json, raw.
    case unsupportedCodec(Multicodec, cid: CID?)
    case dagPB(DagPBError, cid: CID?)
    case dagCBOR(DagCBORError, cid: CID?)
    case dagJSON(DagJSONError, cid: CID?)
    /// The raw codec only encodes bytes.
    case rawNeedsBytes(IPLDKind)

    public var description: String {
        func suffix(_ cid: CID?) -> String { cid.map { " in block \($0)" } ?? "" }
        switch self {
        case let .unsupportedCodec(codec, cid):
            return "unsupported IPLD codec \(codec) (0x\(String(codec.rawValue, radix: 16)))\(suffix(cid))"
        case let .dagPB(error, cid): return "\(error)\(suffix(cid))"
        case let .dagCBOR(error, cid): return "\(error)\(suffix(cid))"
        case let .dagJSON(error, cid): return "\(error)\(suffix(cid))"
        case let .rawNeedsBytes(kind): return "raw: only bytes can be encoded, got \(kind.rawValue)"
        }
    }
}

// MARK: - DAG-PB ⇄ data model

extension PBNode {
    /// The data-model form: `{"Data": bytes (when present), "Links": [{"Hash": link,
    /// "Name": string (when present), "Tsize": int (when present)}]}`.
    public var ipldValue: IPLDValue {
        var entries: [IPLDMap.Entry] = []
        if let data { entries.append(IPLDMap.Entry(key: "Data", value: .bytes(data))) }
        let links: [IPLDValue] = self.links.map { link in
            var fields: [IPLDMap.Entry] = [IPLDMap.Entry(key: "Hash", value: .link(link.hash))]
            if let name = link.name { fields.append(IPLDMap.Entry(key: "Name", value: .string(name))) }
            if let tsize = link.tsize { fields.append(IPLDMap.Entry(key: "Tsize", value: .integer(IPLDInteger(tsize)))) }
            return .map(IPLDMap(fields))
        }
        entries.append(IPLDMap.Entry(key: "Links", value: .list(links)))
        return .map(IPLDMap(entries))
    }

    /// Builds a node from its data-model form, checking it the way the DAG-PB spec asks of
    /// encoders: only `Data` and `Links` at the top (`Links` required, a list), only `Hash`
    /// (required, a link), `Name` (string) and `Tsize` (non-negative int) in links, and links
    /// sorted by name bytes (stable; a missing name sorts as "").
    /// - Throws: `DagPBError.invalidForm` saying what is wrong.
    public init(ipldValue value: IPLDValue) throws(DagPBError) {
        guard case let .map(map) = value else { throw .invalidForm("expected a map, got \(value.kind.rawValue)") }
        for entry in map.entries where entry.key != "Data" && entry.key != "Links" {
            throw .invalidForm("extraneous property \"\(entry.key)\"")
        }
        var data: [UInt8]?
        if let dataValue = map["Data"] {
            guard case let .bytes(bytes) = dataValue else {
                throw .invalidForm("Data must be bytes, got \(dataValue.kind.rawValue)")
            }
            data = bytes
        }
        guard case let .list(linkValues)? = map["Links"] else { throw .invalidForm("Links must be a list") }
        var links: [PBLink] = []
        links.reserveCapacity(linkValues.count)
        for (index, linkValue) in linkValues.enumerated() {
            guard case let .map(fields) = linkValue else {
                throw .invalidForm("bad link #\(index): expected a map, got \(linkValue.kind.rawValue)")
            }
            for field in fields.entries where field.key != "Hash" && field.key != "Name" && field.key != "Tsize" {
                throw .invalidForm("extraneous property \"\(field.key)\" on link #\(index)")
            }
            guard let hashValue = fields["Hash"] else { throw .invalidForm("link #\(index) must have a Hash") }
            guard case let .link(cid) = hashValue else {
                throw .invalidForm("link #\(index) Hash must be a CID, got \(hashValue.kind.rawValue)")
            }
            var name: String?
            if let nameValue = fields["Name"] {
                guard case let .string(string) = nameValue else {
                    throw .invalidForm("link #\(index) Name must be a string, got \(nameValue.kind.rawValue)")
                }
                name = string
            }
            var tsize: UInt64?
            if let tsizeValue = fields["Tsize"] {
                guard case let .integer(integer) = tsizeValue else {
                    throw .invalidForm("link #\(index) Tsize must be an integer, got \(tsizeValue.kind.rawValue)")
                }
                guard let unsigned = integer.uint64 else { throw .invalidForm("link #\(index) Tsize cannot be negative") }
                tsize = unsigned
            }
            if let previous = links.last,
                (name ?? "").utf8.lexicographicallyPrecedes((previous.name ?? "").utf8)
            {
                throw .invalidForm("links must be sorted by Name bytes (link #\(index))")
            }
            links.append(PBLink(hash: cid, name: name, tsize: tsize))
        }
        self.init(links: links, data: data)
    }
}
