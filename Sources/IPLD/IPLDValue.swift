import Multiformats

/// A value of the IPLD data model: what every codec decodes to and encodes from.
///
/// Equality is structural and order-sensitive for maps (the data model keeps map order; the
/// canonical codecs sort on encode). Floats compare by bit pattern, so `0.0 != -0.0` (they
/// encode differently). NaN and infinities are not data-model values; encoders reject them.
public indirect enum IPLDValue: Sendable {
    /// Null.
    case null
    /// A boolean.
    case bool(Bool)
    /// Integers span the full CBOR range, −2^64 … 2^64−1.
    case integer(IPLDInteger)
    /// A 64-bit float (finite when encodable).
    case float(Double)
    /// A UTF-8 string (compared by bytes, not by Unicode equivalence).
    case string(String)
    /// Bytes.
    case bytes([UInt8])
    /// A list.
    case list([IPLDValue])
    /// A map with string keys, in insertion / block order.
    case map(IPLDMap)
    /// A link to another block.
    case link(CID)

    /// The data-model kind of this value.
    public var kind: IPLDKind {
        switch self {
        case .null: return .null
        case .bool: return .bool
        case .integer: return .integer
        case .float: return .float
        case .string: return .string
        case .bytes: return .bytes
        case .list: return .list
        case .map: return .map
        case .link: return .link
        }
    }

    /// An integer value from a Swift integer.
    public static func int(_ value: some BinaryInteger) -> IPLDValue {
        .integer(IPLDInteger(value))
    }

    /// The map entry for `key` (nil when this is not a map or has no such key).
    public subscript(key: String) -> IPLDValue? {
        guard case let .map(map) = self else { return nil }
        return map[key]
    }

    /// The list element at `index` (nil when this is not a list or the index is out of range).
    public subscript(index: Int) -> IPLDValue? {
        guard case let .list(list) = self, list.indices.contains(index) else { return nil }
        return list[index]
    }

    // Typed views: the payload when the value has that kind, nil otherwise.

    public var boolValue: Bool? { if case let .bool(v) = self { return v } else { return nil } }
    public var integerValue: IPLDInteger? { if case let .integer(v) = self { return v } else { return nil } }
    public var floatValue: Double? { if case let .float(v) = self { return v } else { return nil } }
    public var stringValue: String? { if case let .string(v) = self { return v } else { return nil } }
    public var bytesValue: [UInt8]? { if case let .bytes(v) = self { return v } else { return nil } }
    public var listValue: [IPLDValue]? { if case let .list(v) = self { return v } else { return nil } }
    public var mapValue: IPLDMap? { if case let .map(v) = self { return v } else { return nil } }
    public var linkValue: CID? { if case let .link(v) = self { return v } else { return nil } }
    public var isNull: Bool { if case .null = self { return true } else { return false } }

    /// Every link in this value, depth first, in list and map order.
    public var links: [CID] {
        var out: [CID] = []
        collectLinks(into: &out)
        return out
    }

    func collectLinks(into out: inout [CID]) {
        switch self {
        case let .link(cid): out.append(cid)
        case let .list(list): for item in list { item.collectLinks(into: &out) }
        case let .map(map): for entry in map.entries { entry.value.collectLinks(into: &out) }
        default: break
        }
    }
}

extension IPLDValue: Hashable {
    public static func == (lhs: IPLDValue, rhs: IPLDValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        case let (.float(a), .float(b)): return a.bitPattern == b.bitPattern
        case let (.string(a), .string(b)): return a.utf8.elementsEqual(b.utf8)
        case let (.bytes(a), .bytes(b)): return a == b
        case let (.list(a), .list(b)): return a == b
        case let (.map(a), .map(b)): return a == b
        case let (.link(a), .link(b)): return a == b
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0 as UInt8)
        case let .bool(v): hasher.combine(1 as UInt8); hasher.combine(v)
        case let .integer(v): hasher.combine(2 as UInt8); hasher.combine(v)
        case let .float(v): hasher.combine(3 as UInt8); hasher.combine(v.bitPattern)
        case let .string(v):
            hasher.combine(4 as UInt8)
            hasher.combine(v.utf8.count)
            for byte in v.utf8 { hasher.combine(byte) }
        case let .bytes(v): hasher.combine(5 as UInt8); hasher.combine(v)
        case let .list(v): hasher.combine(6 as UInt8); hasher.combine(v)
        case let .map(v): hasher.combine(7 as UInt8); hasher.combine(v)
        case let .link(v): hasher.combine(8 as UInt8); hasher.combine(v)
        }
    }
}

extension IPLDValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .integer(IPLDInteger(value)) }
    public init(floatLiteral value: Double) { self = .float(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: IPLDValue...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, IPLDValue)...) {
        self = .map(IPLDMap(elements.map { IPLDMap.Entry(key: $0.0, value: $0.1) }))
    }
}

extension IPLDValue: CustomStringConvertible {
    /// A DAG-JSON rendering (for logs and test failures; not guaranteed encodable).
    public var description: String {
        if let bytes = try? DagJSON.encode(self) { return String(decoding: bytes, as: UTF8.self) }
        return "<\(kind) value not representable in DAG-JSON>"
    }
}

/// The kinds of the IPLD data model.
public enum IPLDKind: String, Sendable, CaseIterable {
    case null, bool, integer, float, string, bytes, list, map, link
}

/// An ordered map with string keys (the data-model map).
///
/// Lookups are linear; the codecs reject duplicate keys on decode and encode.
public struct IPLDMap: Hashable, Sendable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    /// One key/value pair.
    public struct Entry: Hashable, Sendable {
        public var key: String
        public var value: IPLDValue

        public init(key: String, value: IPLDValue) {
            self.key = key
            self.value = value
        }

        public static func == (lhs: Entry, rhs: Entry) -> Bool {
            lhs.key.utf8.elementsEqual(rhs.key.utf8) && lhs.value == rhs.value
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(key.utf8.count)
            for byte in key.utf8 { hasher.combine(byte) }
            hasher.combine(value)
        }
    }

    /// The entries in order.
    public var entries: [Entry]

    public init(_ entries: [Entry] = []) {
        self.entries = entries
    }

    /// A map from (key, value) pairs, in the order given.
    public init(_ pairs: [(String, IPLDValue)]) {
        self.entries = pairs.map { Entry(key: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, IPLDValue)...) {
        self.init(elements)
    }

    public var startIndex: Int { entries.startIndex }
    public var endIndex: Int { entries.endIndex }
    public subscript(position: Int) -> Entry { entries[position] }

    /// The keys in order.
    public var keys: [String] { entries.map(\.key) }

    /// The value for `key` (compared by UTF-8 bytes), nil when absent.
    /// Setting appends a new entry or replaces the existing one in place; nil removes it.
    public subscript(key: String) -> IPLDValue? {
        get {
            for entry in entries where entry.key.utf8.elementsEqual(key.utf8) { return entry.value }
            return nil
        }
        set {
            let index = entries.firstIndex { $0.key.utf8.elementsEqual(key.utf8) }
            switch (index, newValue) {
            case let (index?, value?): entries[index].value = value
            case let (index?, nil): entries.remove(at: index)
            case let (nil, value?): entries.append(Entry(key: key, value: value))
            case (nil, nil): break
            }
        }
    }
}

/// An integer of the IPLD data model over the CBOR range −2^64 … 2^64−1.
///
/// Stored as CBOR does: a sign and an unsigned argument, the value being `argument` when
/// non-negative and `−1 − argument` when negative, so every value has exactly one form.
public struct IPLDInteger: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByIntegerLiteral {
    /// Whether the value is below zero.
    public let isNegative: Bool
    /// The value itself when non-negative; `−1 − value` when negative (the CBOR argument).
    public let argument: UInt64

    /// −2^64, the smallest value.
    public static let min = IPLDInteger(isNegative: true, argument: .max)
    /// 2^64 − 1, the largest value.
    public static let max = IPLDInteger(isNegative: false, argument: .max)

    /// The value from its CBOR form (major type 1 when `isNegative`, 0 otherwise).
    public init(isNegative: Bool, argument: UInt64) {
        self.isNegative = isNegative
        self.argument = argument
    }

    /// Any Swift integer (every Swift integer up to 64 bits fits).
    public init(_ value: some BinaryInteger) {
        if value < 0 {
            // −1 − value = |value| − 1, without overflow for Int64.min.
            self.init(isNegative: true, argument: UInt64(value.magnitude) - 1)
        } else {
            self.init(isNegative: false, argument: UInt64(value))
        }
    }

    public init(integerLiteral value: Int64) {
        self.init(value)
    }

    /// Parses an optionally `-`-signed decimal; nil when malformed or out of range.
    public init?(decimal text: some StringProtocol) {
        var utf8 = Substring(text).utf8[...]
        let negative = utf8.first == UInt8(ascii: "-")
        if negative { utf8 = utf8.dropFirst() }
        guard !utf8.isEmpty else { return nil }
        var magnitude: UInt64 = 0
        var isTwoTo64 = false  // the magnitude 2^64 (only valid as −2^64)
        for byte in utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), !isTwoTo64 else { return nil }
            let digit = UInt64(byte - UInt8(ascii: "0"))
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            guard !o1 else { return nil }
            let (sum, o2) = times10.addingReportingOverflow(digit)
            if o2 {
                guard sum == 0 else { return nil }  // wrapped to exactly 2^64
                isTwoTo64 = true
            }
            magnitude = sum
        }
        if isTwoTo64 {
            guard negative else { return nil }
            self = .min
            return
        }
        if negative {
            guard magnitude != 0 else {
                self.init(isNegative: false, argument: 0)  // "-0" is 0
                return
            }
            self.init(isNegative: true, argument: magnitude - 1)
        } else {
            self.init(isNegative: false, argument: magnitude)
        }
    }

    /// The value as `Int64`, nil when out of range.
    public var int64: Int64? {
        if isNegative {
            return argument <= UInt64(Int64.max) ? -1 - Int64(argument) : nil
        }
        return argument <= UInt64(Int64.max) ? Int64(argument) : nil
    }

    /// The value as `UInt64`, nil when negative.
    public var uint64: UInt64? { isNegative ? nil : argument }

    /// The value as `Int`, nil when out of range.
    public var int: Int? { int64.flatMap { Int(exactly: $0) } }

    /// Decimal digits with a leading `-` when negative.
    public var description: String {
        guard isNegative else { return String(argument) }
        if argument == .max { return "-18446744073709551616" }
        return "-" + String(argument + 1)
    }

    public static func < (lhs: IPLDInteger, rhs: IPLDInteger) -> Bool {
        switch (lhs.isNegative, rhs.isNegative) {
        case (true, false): return true
        case (false, true): return false
        case (false, false): return lhs.argument < rhs.argument
        case (true, true): return lhs.argument > rhs.argument
        }
    }
}
