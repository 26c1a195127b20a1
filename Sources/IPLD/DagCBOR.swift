import Multiformats

/// The DAG-CBOR codec (0x71): CBOR restricted to the IPLD data model, links as tag 42.
///
/// Encoding is canonical (shortest integer and length heads, map keys sorted length-first then
/// bytewise, floats always 64-bit). Decoding checks the same canonical rules by default
/// (`strict: true`); `strict: false` relaxes exactly what the spec allows for historical data
/// (map key order, non-minimal integer/length/tag heads, 16- and 32-bit floats). Never
/// accepted: tags other than 42, indefinite lengths, simple values other than
/// false/true/null, undefined, NaN and infinities, non-string map keys, duplicate keys,
/// invalid UTF-8, a tag-42 payload that is not `0x00 ‖ CID`, and bytes after the top-level item.
public enum DagCBOR {
    /// Deepest list/map nesting accepted (guards the recursive decoder's stack).
    public static let maxNestingDepth = 512

    /// Decodes one DAG-CBOR block.
    public static func decode(_ bytes: [UInt8], strict: Bool = true) throws(DagCBORError) -> IPLDValue {
        var decoder = Decoder(bytes: bytes, strict: strict)
        let value = try decoder.readValue(depth: 0)
        guard decoder.position == bytes.count else {
            throw .trailingBytes(count: bytes.count - decoder.position, offset: decoder.position)
        }
        return value
    }

    /// The links of a DAG-CBOR block in block order, found without building the value.
    public static func links(in bytes: [UInt8], strict: Bool = true) throws(DagCBORError) -> [CID] {
        var decoder = Decoder(bytes: bytes, strict: strict)
        var links: [CID] = []
        try decoder.skipValue(depth: 0, links: &links)
        guard decoder.position == bytes.count else {
            throw .trailingBytes(count: bytes.count - decoder.position, offset: decoder.position)
        }
        return links
    }

    /// Encodes `value` canonically.
    /// - Throws: `.unencodableFloat` for NaN/±infinity, `.duplicateKey` for a map with a repeated
    ///   key, `.tooDeep` past `maxNestingDepth`.
    public static func encode(_ value: IPLDValue) throws(DagCBORError) -> [UInt8] {
        var out: [UInt8] = []
        try encode(value, into: &out, depth: 0)
        return out
    }

    // MARK: - Encoder

    private static func encode(_ value: IPLDValue, into out: inout [UInt8], depth: Int) throws(DagCBORError) {
        switch value {
        case .null:
            out.append(0xf6)
        case let .bool(v):
            out.append(v ? 0xf5 : 0xf4)
        case let .integer(v):
            appendHead(major: v.isNegative ? 1 : 0, argument: v.argument, to: &out)
        case let .float(v):
            guard v.isFinite else { throw .unencodableFloat(v) }
            out.append(0xfb)
            let bits = v.bitPattern
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift)))
            }
        case let .string(v):
            appendHead(major: 3, argument: UInt64(v.utf8.count), to: &out)
            out.append(contentsOf: v.utf8)
        case let .bytes(v):
            appendHead(major: 2, argument: UInt64(v.count), to: &out)
            out.append(contentsOf: v)
        case let .list(list):
            guard depth < maxNestingDepth else { throw .tooDeep(offset: out.count) }
            appendHead(major: 4, argument: UInt64(list.count), to: &out)
            for item in list { try encode(item, into: &out, depth: depth + 1) }
        case let .map(map):
            guard depth < maxNestingDepth else { throw .tooDeep(offset: out.count) }
            appendHead(major: 5, argument: UInt64(map.count), to: &out)
            let sorted = map.entries.sorted { keyPrecedes($0.key, $1.key) }
            var previous: String?
            for entry in sorted {
                if let previous, previous.utf8.elementsEqual(entry.key.utf8) {
                    throw .duplicateKey(entry.key, offset: out.count)
                }
                previous = entry.key
                appendHead(major: 3, argument: UInt64(entry.key.utf8.count), to: &out)
                out.append(contentsOf: entry.key.utf8)
                try encode(entry.value, into: &out, depth: depth + 1)
            }
        case let .link(cid):
            out.append(0xd8)
            out.append(42)
            appendHead(major: 2, argument: UInt64(cid.encodedByteCount + 1), to: &out)
            out.append(0x00)
            cid.appendBytes(to: &out)
        }
    }

    /// DAG-CBOR key order: shorter UTF-8 first, then bytewise.
    static func keyPrecedes(_ a: String, _ b: String) -> Bool {
        let (la, lb) = (a.utf8.count, b.utf8.count)
        if la != lb { return la < lb }
        return a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    private static func appendHead(major: UInt8, argument: UInt64, to out: inout [UInt8]) {
        let m = major << 5
        switch argument {
        case 0..<24:
            out.append(m | UInt8(argument))
        case 24...0xff:
            out.append(m | 24)
            out.append(UInt8(argument))
        case 0x100...0xffff:
            out.append(m | 25)
            out.append(UInt8(argument >> 8))
            out.append(UInt8(truncatingIfNeeded: argument))
        case 0x1_0000...0xffff_ffff:
            out.append(m | 26)
            for shift in stride(from: 24, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: argument >> UInt64(shift)))
            }
        default:
            out.append(m | 27)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: argument >> UInt64(shift)))
            }
        }
    }

    // MARK: - Decoder

    private struct Head {
        var major: UInt8
        var info: UInt8
        var argument: UInt64
        var offset: Int
    }

    private struct Decoder {
        let bytes: [UInt8]
        let strict: Bool
        var position = 0

        init(bytes: [UInt8], strict: Bool) {
            self.bytes = bytes
            self.strict = strict
        }

        mutating func readHead() throws(DagCBORError) -> Head {
            let offset = position
            guard position < bytes.count else { throw .truncated(offset: offset) }
            let initial = bytes[position]
            position += 1
            let major = initial >> 5
            let info = initial & 0x1f
            if major == 7 {
                // Floats keep their raw bits in `argument`; simple values are checked by the caller.
                switch info {
                case 25: return Head(major: 7, info: info, argument: try readUInt(2, offset: offset), offset: offset)
                case 26: return Head(major: 7, info: info, argument: try readUInt(4, offset: offset), offset: offset)
                case 27: return Head(major: 7, info: info, argument: try readUInt(8, offset: offset), offset: offset)
                case 31: throw .indefiniteLength(offset: offset)
                default: return Head(major: 7, info: info, argument: 0, offset: offset)
                }
            }
            let argument: UInt64
            switch info {
            case 0..<24: argument = UInt64(info)
            case 24:
                argument = try readUInt(1, offset: offset)
                if strict && argument < 24 { throw .nonMinimalHead(offset: offset) }
            case 25:
                argument = try readUInt(2, offset: offset)
                if strict && argument <= 0xff { throw .nonMinimalHead(offset: offset) }
            case 26:
                argument = try readUInt(4, offset: offset)
                if strict && argument <= 0xffff { throw .nonMinimalHead(offset: offset) }
            case 27:
                argument = try readUInt(8, offset: offset)
                if strict && argument <= 0xffff_ffff { throw .nonMinimalHead(offset: offset) }
            case 31:
                throw .indefiniteLength(offset: offset)
            default:
                throw .reservedAdditionalInfo(info, offset: offset)
            }
            return Head(major: major, info: info, argument: argument, offset: offset)
        }

        mutating func readUInt(_ count: Int, offset: Int) throws(DagCBORError) -> UInt64 {
            guard bytes.count - position >= count else { throw .truncated(offset: offset) }
            var value: UInt64 = 0
            for i in 0..<count { value = value << 8 | UInt64(bytes[position + i]) }
            position += count
            return value
        }

        /// The range of a byte or text string payload of `length` bytes.
        mutating func payload(_ length: UInt64, head: Head) throws(DagCBORError) -> Range<Int> {
            guard length <= UInt64(bytes.count - position) else { throw .truncated(offset: head.offset) }
            let range = position..<(position + Int(length))
            position = range.upperBound
            return range
        }

        func string(_ range: Range<Int>, offset: Int) throws(DagCBORError) -> String {
            let slice = bytes[range]
            let string = String(decoding: slice, as: UTF8.self)
            guard string.utf8.count == slice.count, string.utf8.elementsEqual(slice) else {
                throw .invalidUTF8(offset: offset)
            }
            return string
        }

        func float(_ head: Head) throws(DagCBORError) -> Double {
            let value: Double
            switch head.info {
            case 25:
                if strict { throw .nonCanonicalFloat(bits: 16, offset: head.offset) }
                value = halfToDouble(UInt16(head.argument))
            case 26:
                if strict { throw .nonCanonicalFloat(bits: 32, offset: head.offset) }
                value = Double(Float(bitPattern: UInt32(head.argument)))
            default:
                value = Double(bitPattern: head.argument)
            }
            guard value.isFinite else { throw .nonFiniteFloat(offset: head.offset) }
            return value
        }

        /// Reads a tag-42 payload: a byte string `0x00 ‖ binary CID`.
        mutating func readLink(tag: Head) throws(DagCBORError) -> CID {
            guard tag.argument == 42 else { throw .unsupportedTag(tag.argument, offset: tag.offset) }
            if strict && tag.info != 24 { throw .nonMinimalHead(offset: tag.offset) }
            let head = try readHead()
            guard head.major == 2 else { throw .invalidLink(offset: head.offset, reason: "tag 42 must wrap a byte string") }
            let range = try payload(head.argument, head: head)
            guard let first = range.first, bytes[first] == 0x00 else {
                throw .invalidLink(offset: head.offset, reason: "CID bytes must start with the 0x00 multibase prefix")
            }
            do {
                return try CID(bytes: Array(bytes[(first + 1)..<range.upperBound]))
            } catch {
                throw .invalidLink(offset: head.offset, reason: "\(error)")
            }
        }

        func simple(_ head: Head) throws(DagCBORError) -> IPLDValue {
            switch head.info {
            case 20: return .bool(false)
            case 21: return .bool(true)
            case 22: return .null
            case 23: throw .undefined(offset: head.offset)
            default: throw .unsupportedSimpleValue(head.info, offset: head.offset)
            }
        }

        /// Checks a container count against the bytes left (each item takes at least one byte).
        func checkCount(_ count: UInt64, perItem: UInt64, head: Head) throws(DagCBORError) -> Int {
            let remaining = UInt64(bytes.count - position)
            guard count <= remaining / perItem else { throw .truncated(offset: head.offset) }
            return Int(count)
        }

        mutating func readKey() throws(DagCBORError) -> (key: String, range: Range<Int>, offset: Int) {
            let head = try readHead()
            guard head.major == 3 else { throw .nonStringKey(offset: head.offset) }
            let range = try payload(head.argument, head: head)
            return (try string(range, offset: head.offset), range, head.offset)
        }

        /// Enforces key order (strict) and uniqueness (always) as keys arrive. While keys come
        /// sorted, uniqueness follows from the order; once they do not (lenient mode), every
        /// key goes through a set.
        struct KeyChecker {
            var ranges: [Range<Int>] = []
            var seen: Set<ArraySlice<UInt8>>?

            mutating func check(
                range: Range<Int>, offset: Int, in bytes: [UInt8], strict: Bool
            ) throws(DagCBORError) {
                let key = bytes[range]
                if seen != nil {
                    guard seen?.insert(key).inserted == true else { throw duplicate(key, offset) }
                    return
                }
                if let previous = ranges.last {
                    let order = Self.compare(bytes[previous], key)
                    if order == 0 { throw duplicate(key, offset) }
                    if order > 0 {
                        if strict {
                            throw .unsortedKey(String(decoding: key, as: UTF8.self), offset: offset)
                        }
                        var set = Set(ranges.map { bytes[$0] })
                        guard set.insert(key).inserted else { throw duplicate(key, offset) }
                        seen = set
                        return
                    }
                }
                ranges.append(range)
            }

            private func duplicate(_ key: ArraySlice<UInt8>, _ offset: Int) -> DagCBORError {
                .duplicateKey(String(decoding: key, as: UTF8.self), offset: offset)
            }

            /// -1, 0, 1 in DAG-CBOR key order (length first, then bytewise).
            static func compare(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Int {
                if a.count != b.count { return a.count < b.count ? -1 : 1 }
                if a.elementsEqual(b) { return 0 }
                return a.lexicographicallyPrecedes(b) ? -1 : 1
            }
        }

        mutating func readValue(depth: Int) throws(DagCBORError) -> IPLDValue {
            let head = try readHead()
            switch head.major {
            case 0:
                return .integer(IPLDInteger(isNegative: false, argument: head.argument))
            case 1:
                return .integer(IPLDInteger(isNegative: true, argument: head.argument))
            case 2:
                return .bytes(Array(bytes[try payload(head.argument, head: head)]))
            case 3:
                return .string(try string(try payload(head.argument, head: head), offset: head.offset))
            case 4:
                guard depth < DagCBOR.maxNestingDepth else { throw .tooDeep(offset: head.offset) }
                let count = try checkCount(head.argument, perItem: 1, head: head)
                var list: [IPLDValue] = []
                list.reserveCapacity(count)
                for _ in 0..<count { list.append(try readValue(depth: depth + 1)) }
                return .list(list)
            case 5:
                guard depth < DagCBOR.maxNestingDepth else { throw .tooDeep(offset: head.offset) }
                let count = try checkCount(head.argument, perItem: 2, head: head)
                var entries: [IPLDMap.Entry] = []
                entries.reserveCapacity(count)
                var checker = KeyChecker()
                for _ in 0..<count {
                    let (key, range, offset) = try readKey()
                    try checker.check(range: range, offset: offset, in: bytes, strict: strict)
                    entries.append(IPLDMap.Entry(key: key, value: try readValue(depth: depth + 1)))
                }
                return .map(IPLDMap(entries))
            case 6:
                return .link(try readLink(tag: head))
            default:
                if head.info >= 25 && head.info <= 27 { return .float(try float(head)) }
                return try simple(head)
            }
        }

        /// Walks one value without building it, collecting links; same checks as `readValue`.
        mutating func skipValue(depth: Int, links: inout [CID]) throws(DagCBORError) {
            let head = try readHead()
            switch head.major {
            case 0, 1:
                return
            case 2:
                _ = try payload(head.argument, head: head)
            case 3:
                // Link scanning in lenient mode does not judge text: go-ipld-prime does not check
                // UTF-8 either, so Kubo walks (exports, pins) blocks holding such strings.
                let range = try payload(head.argument, head: head)
                if strict { _ = try string(range, offset: head.offset) }
            case 4:
                guard depth < DagCBOR.maxNestingDepth else { throw .tooDeep(offset: head.offset) }
                let count = try checkCount(head.argument, perItem: 1, head: head)
                for _ in 0..<count { try skipValue(depth: depth + 1, links: &links) }
            case 5:
                guard depth < DagCBOR.maxNestingDepth else { throw .tooDeep(offset: head.offset) }
                let count = try checkCount(head.argument, perItem: 2, head: head)
                var checker = KeyChecker()
                for _ in 0..<count {
                    let (_, range, offset) = try readKey()
                    try checker.check(range: range, offset: offset, in: bytes, strict: strict)
                    try skipValue(depth: depth + 1, links: &links)
                }
            case 6:
                links.append(try readLink(tag: head))
            default:
                if head.info >= 25 && head.info <= 27 {
                    _ = try float(head)
                } else {
                    _ = try simple(head)
                }
            }
        }
    }

    /// IEEE 754 binary16 → Double.
    static func halfToDouble(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int((bits >> 10) & 0x1f)
        let fraction = Double(bits & 0x3ff)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }
}

/// Why bytes are not valid DAG-CBOR, or a value cannot be encoded. Offsets are from the start
/// of the block (the head of the offending item).
public enum DagCBORError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The input ends inside an item.
    case truncated(offset: Int)
    /// Bytes follow the top-level item.
    case trailingBytes(count: Int, offset: Int)
    /// An indefinite-length item or a break code.
    case indefiniteLength(offset: Int)
    /// Additional info 28–30.
    case reservedAdditionalInfo(UInt8, offset: Int)
    /// An integer, length or tag head longer than needed (strict mode).
    case nonMinimalHead(offset: Int)
    /// A 16- or 32-bit float (strict mode).
    case nonCanonicalFloat(bits: Int, offset: Int)
    /// NaN or ±infinity in the input.
    case nonFiniteFloat(offset: Int)
    /// A tag other than 42.
    case unsupportedTag(UInt64, offset: Int)
    /// A tag 42 whose payload is not `0x00 ‖ CID`.
    case invalidLink(offset: Int, reason: String)
    /// The simple value `undefined` (not in the data model).
    case undefined(offset: Int)
    /// A simple value other than false/true/null.
    case unsupportedSimpleValue(UInt8, offset: Int)
    /// A map key that is not a text string.
    case nonStringKey(offset: Int)
    /// A map key out of length-first order (strict mode).
    case unsortedKey(String, offset: Int)
    /// A map key that appears twice (decode) or a map with a repeated key (encode).
    case duplicateKey(String, offset: Int)
    /// A text string that is not UTF-8.
    case invalidUTF8(offset: Int)
    /// Nesting deeper than `DagCBOR.maxNestingDepth`.
    case tooDeep(offset: Int)
    /// NaN or ±infinity given to the encoder.
    case unencodableFloat(Double)

    public var description: String {
        switch self {
        case let .truncated(offset): return "dag-cbor: input ends inside the item at offset \(offset)"
        case let .trailingBytes(count, offset): return "dag-cbor: \(count) byte(s) after the top-level item at offset \(offset)"
        case let .indefiniteLength(offset): return "dag-cbor: indefinite length or break at offset \(offset)"
        case let .reservedAdditionalInfo(info, offset): return "dag-cbor: reserved additional info \(info) at offset \(offset)"
        case let .nonMinimalHead(offset): return "dag-cbor: integer, length or tag at offset \(offset) is not minimally encoded"
        case let .nonCanonicalFloat(bits, offset): return "dag-cbor: \(bits)-bit float at offset \(offset) (floats must be 64-bit)"
        case let .nonFiniteFloat(offset): return "dag-cbor: NaN or infinity at offset \(offset)"
        case let .unsupportedTag(tag, offset): return "dag-cbor: tag \(tag) at offset \(offset) (only 42 is allowed)"
        case let .invalidLink(offset, reason): return "dag-cbor: invalid link at offset \(offset): \(reason)"
        case let .undefined(offset): return "dag-cbor: undefined at offset \(offset)"
        case let .unsupportedSimpleValue(value, offset): return "dag-cbor: simple value \(value) at offset \(offset)"
        case let .nonStringKey(offset): return "dag-cbor: map key at offset \(offset) is not a string"
        case let .unsortedKey(key, offset): return "dag-cbor: map key \"\(key)\" at offset \(offset) is out of canonical order"
        case let .duplicateKey(key, offset): return "dag-cbor: duplicate map key \"\(key)\" at offset \(offset)"
        case let .invalidUTF8(offset): return "dag-cbor: string at offset \(offset) is not valid UTF-8"
        case let .tooDeep(offset): return "dag-cbor: nesting deeper than \(DagCBOR.maxNestingDepth) at offset \(offset)"
        case let .unencodableFloat(value): return "dag-cbor: cannot encode float \(value) (not in the IPLD data model)"
        }
    }
}
