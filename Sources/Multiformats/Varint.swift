/// Unsigned varints as multiformats define them (unsigned LEB128).
///
/// Rules (multiformats/unsigned-varint): at most 9 bytes, so values up to 2^63 - 1;
/// the encoding must be minimal (no trailing `0x80 … 0x00` padding). Protobuf varints
/// follow other rules (10 bytes, no minimality) and must not use this decoder.
public enum Varint {
    /// The largest value a 9-byte multiformats varint can carry.
    public static let maxValue: UInt64 = (1 << 63) - 1
    /// The longest encoding allowed.
    public static let maxLength = 9

    /// Encodes `value` (must be ≤ `maxValue`).
    public static func encode(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedLength(of: value))
        encode(value, into: &out)
        return out
    }

    /// Appends the encoding of `value` to `buffer`.
    public static func encode(_ value: UInt64, into buffer: inout [UInt8]) {
        precondition(value <= maxValue, "multiformats varints carry at most 63 bits")
        var v = value
        while v >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.append(UInt8(v))
    }

    /// Number of bytes `encode(value)` produces.
    public static func encodedLength(of value: UInt64) -> Int {
        var n = 1
        var v = value >> 7
        while v != 0 { n += 1; v >>= 7 }
        return n
    }

    /// Decodes one varint from the start of `bytes`.
    /// - Returns: the value and how many bytes it took.
    /// - Throws: `VarintError` when the input is empty, truncated, overlong (more than
    ///   9 bytes) or not minimally encoded.
    public static func decode<C: Collection>(_ bytes: C) throws(VarintError) -> (value: UInt64, length: Int)
    where C.Element == UInt8 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        var count = 0
        for byte in bytes {
            count += 1
            if count > maxLength { throw .overlong }
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 {
                if byte == 0 && count > 1 { throw .notMinimal }
                return (value, count)
            }
            shift += 7
        }
        throw count == 0 ? .empty : .truncated
    }
}

/// Why a varint could not be decoded.
public enum VarintError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case truncated
    case overlong
    case notMinimal

    public var description: String {
        switch self {
        case .empty: return "varint: no bytes to decode"
        case .truncated: return "varint: input ends inside a varint (last byte has the continuation bit)"
        case .overlong: return "varint: longer than 9 bytes"
        case .notMinimal: return "varint: not minimally encoded"
        }
    }
}
