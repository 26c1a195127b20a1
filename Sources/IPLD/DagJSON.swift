import Multiformats

/// The DAG-JSON codec (0x0129): JSON with links as `{"/": "<cid>"}` and bytes as
/// `{"/": {"bytes": "<base64, no padding>"}}`.
///
/// Encoding is canonical: no whitespace, map keys sorted bytewise by UTF-8, CIDv1 in base32 and
/// CIDv0 in base58btc, integers in decimal, floats in the shortest round-tripping form written
/// as JavaScript does (exponent below 1e-6 and from 1e21) and always with a `.` or exponent so
/// they stay floats, strings escaping only `"`, `\` and control characters.
///
/// Decoding accepts any whitespace and key order (the spec asks decoders not to enforce the
/// encoding rules; `strict: true` requires the exact canonical bytes). Never accepted: invalid
/// JSON or UTF-8, duplicate keys, lone surrogates, integers outside −2^64 … 2^64−1, floats that
/// overflow, and the reserved-namespace forms the spec rejects (a `"/"` first key with a string
/// value next to other keys, a `{"bytes": …}` inner map with extra keys, unparsable CIDs or
/// base64).
public enum DagJSON {
    /// Deepest list/map nesting accepted (guards the recursive decoder's stack).
    public static let maxNestingDepth = 512

    /// Decodes one DAG-JSON block.
    public static func decode(_ bytes: [UInt8], strict: Bool = false) throws(DagJSONError) -> IPLDValue {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw .trailingBytes(offset: parser.position) }
        if strict {
            let canonical = try encode(value)
            if canonical != bytes {
                var offset = 0
                while offset < canonical.count, offset < bytes.count, canonical[offset] == bytes[offset] { offset += 1 }
                throw .notCanonical(offset: offset)
            }
        }
        return value
    }

    /// The links of a DAG-JSON block, in block order.
    public static func links(in bytes: [UInt8], strict: Bool = false) throws(DagJSONError) -> [CID] {
        try decode(bytes, strict: strict).links
    }

    /// Encodes `value` canonically.
    public static func encode(_ value: IPLDValue) throws(DagJSONError) -> [UInt8] {
        var out: [UInt8] = []
        try encode(value, into: &out, depth: 0)
        return out
    }

    // MARK: - Encoder

    private static func encode(_ value: IPLDValue, into out: inout [UInt8], depth: Int) throws(DagJSONError) {
        switch value {
        case .null:
            out.append(contentsOf: "null".utf8)
        case let .bool(v):
            out.append(contentsOf: (v ? "true" : "false").utf8)
        case let .integer(v):
            out.append(contentsOf: v.description.utf8)
        case let .float(v):
            guard v.isFinite else { throw .unencodableFloat(v) }
            out.append(contentsOf: formatFloat(v).utf8)
        case let .string(v):
            appendString(v, to: &out)
        case let .bytes(v):
            out.append(contentsOf: #"{"/":{"bytes":""#.utf8)
            out.append(contentsOf: Multibase.base64.encodeBare(v).utf8)
            out.append(contentsOf: #""}}"#.utf8)
        case let .link(cid):
            out.append(contentsOf: #"{"/":""#.utf8)
            out.append(contentsOf: cid.description.utf8)
            out.append(contentsOf: #""}"#.utf8)
        case let .list(list):
            guard depth < maxNestingDepth else { throw .tooDeep(offset: out.count) }
            out.append(UInt8(ascii: "["))
            for (index, item) in list.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try encode(item, into: &out, depth: depth + 1)
            }
            out.append(UInt8(ascii: "]"))
        case let .map(map):
            guard depth < maxNestingDepth else { throw .tooDeep(offset: out.count) }
            let sorted = map.entries.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            if let first = sorted.first, first.key == "/" {
                switch first.value {
                case .string:
                    throw .reservedNamespace("a map whose first key is \"/\" with a string value reads back as a link")
                case let .map(inner):
                    let innerFirst = inner.entries.min { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                    if let innerFirst, innerFirst.key == "bytes", case .string = innerFirst.value {
                        throw .reservedNamespace("a map {\"/\": {\"bytes\": <string>, …}} reads back as bytes")
                    }
                default:
                    break
                }
            }
            out.append(UInt8(ascii: "{"))
            var previous: String?
            for (index, entry) in sorted.enumerated() {
                if let previous, previous.utf8.elementsEqual(entry.key.utf8) { throw .duplicateKey(entry.key, offset: out.count) }
                previous = entry.key
                if index > 0 { out.append(UInt8(ascii: ",")) }
                appendString(entry.key, to: &out)
                out.append(UInt8(ascii: ":"))
                try encode(entry.value, into: &out, depth: depth + 1)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "\\"))
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0c: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0x0a: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0d: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                out.append(contentsOf: "\\u00".utf8)
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xf)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// The shortest round-tripping decimal of `value`, laid out as ECMAScript's
    /// Number::toString does, plus `.0` when that layout would read back as an integer.
    static func formatFloat(_ value: Double) -> String {
        // Swift's description gives the shortest round-tripping digits; only the layout differs.
        var text = Substring(value.magnitude.description)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...]) ?? 0
            text = text[..<e]
        }
        var digits: [UInt8] = []
        var point = 0  // value = 0.digits × 10^point
        var seenPoint = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: ".") { seenPoint = true; continue }
            digits.append(byte)
            if !seenPoint { point += 1 }
        }
        point += exponent
        while let first = digits.first, first == UInt8(ascii: "0") {
            digits.removeFirst()
            point -= 1
        }
        while let last = digits.last, last == UInt8(ascii: "0") { digits.removeLast() }
        let sign = value.sign == .minus ? "-" : ""
        if digits.isEmpty { return sign + "0.0" }

        let k = digits.count
        let n = point
        let d = String(decoding: digits, as: UTF8.self)
        if k <= n && n <= 21 {
            return sign + d + String(repeating: "0", count: n - k) + ".0"
        }
        if 0 < n && n <= 21 {
            return sign + String(d.prefix(n)) + "." + String(d.dropFirst(n))
        }
        if -6 < n && n <= 0 {
            return sign + "0." + String(repeating: "0", count: -n) + d
        }
        let e = n - 1
        let exponentText = (e < 0 ? "e-" : "e+") + String(e.magnitude)
        if k == 1 { return sign + d + exponentText }
        return sign + String(d.prefix(1)) + "." + String(d.dropFirst()) + exponentText
    }

    // MARK: - Decoder

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        mutating func skipWhitespace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0a, 0x0d: position += 1
                default: return
                }
            }
        }

        func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func expectLiteral(_ literal: StaticString, value: IPLDValue) throws(DagJSONError) -> IPLDValue {
            let start = position
            let count = literal.utf8CodeUnitCount
            guard bytes.count - position >= count else { throw .unexpectedEnd(offset: bytes.count) }
            var matches = true
            literal.withUTF8Buffer { buffer in
                for i in 0..<count where bytes[start + i] != buffer[i] { matches = false }
            }
            guard matches else { throw .unexpectedCharacter(bytes[start], offset: start) }
            position += count
            return value
        }

        mutating func parseValue(depth: Int) throws(DagJSONError) -> IPLDValue {
            guard let byte = peek() else { throw .unexpectedEnd(offset: position) }
            switch byte {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): return try expectLiteral("true", value: .bool(true))
            case UInt8(ascii: "f"): return try expectLiteral("false", value: .bool(false))
            case UInt8(ascii: "n"): return try expectLiteral("null", value: .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw .unexpectedCharacter(byte, offset: position)
            }
        }

        mutating func parseArray(depth: Int) throws(DagJSONError) -> IPLDValue {
            let start = position
            guard depth < DagJSON.maxNestingDepth else { throw .tooDeep(offset: start) }
            position += 1
            var list: [IPLDValue] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                position += 1
                return .list(list)
            }
            while true {
                skipWhitespace()
                list.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard let byte = peek() else { throw .unexpectedEnd(offset: position) }
                position += 1
                if byte == UInt8(ascii: ",") { continue }
                if byte == UInt8(ascii: "]") { return .list(list) }
                throw .unexpectedCharacter(byte, offset: position - 1)
            }
        }

        mutating func parseObject(depth: Int) throws(DagJSONError) -> IPLDValue {
            let start = position
            guard depth < DagJSON.maxNestingDepth else { throw .tooDeep(offset: start) }
            position += 1
            var entries: [IPLDMap.Entry] = []
            var seen: Set<[UInt8]> = []  // keys compare by UTF-8 bytes, not canonical equivalence
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                position += 1
                return .map(IPLDMap(entries))
            }
            while true {
                skipWhitespace()
                let keyOffset = position
                guard let quote = peek() else { throw .unexpectedEnd(offset: position) }
                guard quote == UInt8(ascii: "\"") else { throw .unexpectedCharacter(quote, offset: position) }
                let key = try parseString()
                guard seen.insert(Array(key.utf8)).inserted else { throw .duplicateKey(key, offset: keyOffset) }
                skipWhitespace()
                guard let colon = peek() else { throw .unexpectedEnd(offset: position) }
                guard colon == UInt8(ascii: ":") else { throw .unexpectedCharacter(colon, offset: position) }
                position += 1
                skipWhitespace()
                entries.append(IPLDMap.Entry(key: key, value: try parseValue(depth: depth + 1)))
                skipWhitespace()
                guard let byte = peek() else { throw .unexpectedEnd(offset: position) }
                position += 1
                if byte == UInt8(ascii: ",") { continue }
                if byte == UInt8(ascii: "}") { break }
                throw .unexpectedCharacter(byte, offset: position - 1)
            }
            return try reservedForm(entries, offset: start)
        }

        /// Applies the reserved-namespace rules: `{"/": "cid"}` is a link,
        /// `{"/": {"bytes": "b64"}}` is bytes; near-misses the spec forbids are errors.
        func reservedForm(_ entries: [IPLDMap.Entry], offset: Int) throws(DagJSONError) -> IPLDValue {
            guard let first = entries.first, first.key == "/" else { return .map(IPLDMap(entries)) }
            switch first.value {
            case let .string(text):
                guard entries.count == 1 else {
                    throw .invalidLink(offset: offset, reason: "a link map must have the single key \"/\"")
                }
                do {
                    return .link(try CID(text))
                } catch {
                    throw .invalidLink(offset: offset, reason: "\(error)")
                }
            case let .map(inner):
                guard let innerFirst = inner.entries.first, innerFirst.key == "bytes",
                    case let .string(text) = innerFirst.value
                else { return .map(IPLDMap(entries)) }
                guard inner.count == 1, entries.count == 1 else {
                    throw .invalidBytes(offset: offset, reason: "a bytes map must be exactly {\"/\": {\"bytes\": …}}")
                }
                var base64 = Substring(text)
                while base64.last == "=" { base64 = base64.dropLast() }
                do {
                    return .bytes(try Multibase.base64.decodeBare(base64))
                } catch {
                    throw .invalidBytes(offset: offset, reason: "\(error)")
                }
            default:
                return .map(IPLDMap(entries))
            }
        }

        mutating func parseString() throws(DagJSONError) -> String {
            let start = position
            position += 1  // opening quote
            var buffer: [UInt8] = []
            var runStart = position
            while true {
                guard position < bytes.count else { throw .unexpectedEnd(offset: position) }
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    buffer.append(contentsOf: bytes[runStart..<position])
                    position += 1
                    break
                }
                if byte < 0x20 { throw .controlCharacterInString(offset: position) }
                if byte != UInt8(ascii: "\\") {
                    position += 1
                    continue
                }
                buffer.append(contentsOf: bytes[runStart..<position])
                let escapeOffset = position
                position += 1
                guard position < bytes.count else { throw .unexpectedEnd(offset: position) }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): buffer.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0c)
                case UInt8(ascii: "n"): buffer.append(0x0a)
                case UInt8(ascii: "r"): buffer.append(0x0d)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = UInt32(try readHex4(escapeOffset))
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A high surrogate must be followed by an escaped low surrogate.
                        guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"),
                            bytes[position + 1] == UInt8(ascii: "u")
                        else { throw .loneSurrogate(offset: escapeOffset) }
                        position += 2
                        let low = UInt32(try readHex4(escapeOffset))
                        guard (0xDC00..<0xE000).contains(low) else { throw .loneSurrogate(offset: escapeOffset) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw .loneSurrogate(offset: escapeOffset)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw .loneSurrogate(offset: escapeOffset) }
                    UTF8.encode(unicode) { buffer.append($0) }
                default:
                    throw .invalidEscape(escape, offset: escapeOffset)
                }
                runStart = position
            }
            let string = String(decoding: buffer, as: UTF8.self)
            guard string.utf8.elementsEqual(buffer) else { throw .invalidUTF8(offset: start) }
            return string
        }

        mutating func readHex4(_ escapeOffset: Int) throws(DagJSONError) -> UInt16 {
            guard bytes.count - position >= 4 else { throw .unexpectedEnd(offset: bytes.count) }
            var value: UInt16 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
                default: throw .invalidEscape(UInt8(ascii: "u"), offset: escapeOffset)
                }
                value = value << 4 | UInt16(digit)
                position += 1
            }
            return value
        }

        mutating func parseNumber() throws(DagJSONError) -> IPLDValue {
            let start = position
            var isFloat = false
            if peek() == UInt8(ascii: "-") { position += 1 }
            guard let first = peek() else { throw .unexpectedEnd(offset: position) }
            if first == UInt8(ascii: "0") {
                position += 1
            } else if first >= UInt8(ascii: "1") && first <= UInt8(ascii: "9") {
                skipDigits()
            } else {
                throw .invalidNumber(offset: start)
            }
            if peek() == UInt8(ascii: ".") {
                isFloat = true
                position += 1
                guard skipDigits() > 0 else { throw .invalidNumber(offset: start) }
            }
            if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
                isFloat = true
                position += 1
                if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { position += 1 }
                guard skipDigits() > 0 else { throw .invalidNumber(offset: start) }
            }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            if isFloat {
                guard let value = Double(text), value.isFinite else { throw .floatOutOfRange(offset: start) }
                return .float(value)
            }
            guard let integer = IPLDInteger(decimal: text) else { throw .integerOutOfRange(offset: start) }
            return .integer(integer)
        }

        @discardableResult
        mutating func skipDigits() -> Int {
            let start = position
            while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
            return position - start
        }
    }
}

/// Why bytes are not valid DAG-JSON, or a value cannot be encoded as DAG-JSON. Offsets are
/// byte offsets into the block.
public enum DagJSONError: Error, Equatable, Sendable, CustomStringConvertible {
    case unexpectedEnd(offset: Int)
    case unexpectedCharacter(UInt8, offset: Int)
    case trailingBytes(offset: Int)
    case invalidNumber(offset: Int)
    /// An integer outside −2^64 … 2^64−1.
    case integerOutOfRange(offset: Int)
    /// A float that overflows to infinity.
    case floatOutOfRange(offset: Int)
    case controlCharacterInString(offset: Int)
    case invalidEscape(UInt8, offset: Int)
    case loneSurrogate(offset: Int)
    case invalidUTF8(offset: Int)
    case duplicateKey(String, offset: Int)
    /// A `{"/": …}` link form that is malformed or holds an unparsable CID.
    case invalidLink(offset: Int, reason: String)
    /// A `{"/": {"bytes": …}}` form that is malformed or holds invalid base64.
    case invalidBytes(offset: Int, reason: String)
    case tooDeep(offset: Int)
    /// Strict mode: the bytes differ from the canonical encoding from this offset on.
    case notCanonical(offset: Int)
    /// NaN or ±infinity given to the encoder.
    case unencodableFloat(Double)
    /// A data-model map that would read back as a link or bytes.
    case reservedNamespace(String)

    public var description: String {
        switch self {
        case let .unexpectedEnd(offset): return "dag-json: unexpected end of input at offset \(offset)"
        case let .unexpectedCharacter(byte, offset):
            return "dag-json: unexpected character 0x\(String(byte, radix: 16)) at offset \(offset)"
        case let .trailingBytes(offset): return "dag-json: data after the top-level value at offset \(offset)"
        case let .invalidNumber(offset): return "dag-json: malformed number at offset \(offset)"
        case let .integerOutOfRange(offset): return "dag-json: integer at offset \(offset) is outside -2^64 … 2^64-1"
        case let .floatOutOfRange(offset): return "dag-json: float at offset \(offset) is out of range"
        case let .controlCharacterInString(offset): return "dag-json: unescaped control character in string at offset \(offset)"
        case let .invalidEscape(byte, offset):
            return "dag-json: invalid escape \\\(Character(Unicode.Scalar(byte))) at offset \(offset)"
        case let .loneSurrogate(offset): return "dag-json: unpaired UTF-16 surrogate escape at offset \(offset)"
        case let .invalidUTF8(offset): return "dag-json: string at offset \(offset) is not valid UTF-8"
        case let .duplicateKey(key, offset): return "dag-json: repeat map key \"\(key)\" at offset \(offset)"
        case let .invalidLink(offset, reason): return "dag-json: invalid link at offset \(offset): \(reason)"
        case let .invalidBytes(offset, reason): return "dag-json: invalid bytes at offset \(offset): \(reason)"
        case let .tooDeep(offset): return "dag-json: nesting deeper than \(DagJSON.maxNestingDepth) at offset \(offset)"
        case let .notCanonical(offset): return "dag-json: not in canonical form from offset \(offset)"
        case let .unencodableFloat(value): return "dag-json: cannot encode float \(value) (not in the IPLD data model)"
        case let .reservedNamespace(reason): return "dag-json: cannot encode map: \(reason)"
        }
    }
}
