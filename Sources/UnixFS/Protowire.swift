/// Protobuf wire helpers for the UnixFS codecs (protobuf varints: up to 10 bytes, 64 bits,
/// no minimality rule; unlike multiformats varints).
enum Protowire {
    /// Bytes the varint encoding of `value` takes.
    @inline(__always)
    static func varintSize(_ value: UInt64) -> Int {
        let bits = 64 - (value | 1).leadingZeroBitCount
        return (bits + 6) / 7
    }

    @inline(__always)
    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// Size of a length-delimited field (key of one byte) holding `length` bytes.
    @inline(__always)
    static func lengthDelimitedSize(_ length: Int) -> Int {
        1 + varintSize(UInt64(length)) + length
    }

    /// A bounded cursor over `bytes[position..<end]`; positions are absolute offsets.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var position: Int
        let end: Int

        init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) {
            self.bytes = bytes
            self.position = range.lowerBound
            self.end = range.upperBound
        }

        var isAtEnd: Bool { position >= end }

        /// Reads a varint; nil when the input ends inside it or it exceeds 64 bits
        /// (`overflow` tells which).
        mutating func varint() -> (value: UInt64, overflow: Bool)? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < end {
                let byte = bytes[position]
                position += 1
                if shift == 63 && byte > 1 { return (0, true) }
                value |= UInt64(byte & 0x7f) << shift
                if byte < 0x80 { return (value, false) }
                shift += 7
                if shift > 63 { return (0, true) }
            }
            return nil
        }

        /// Reads a length prefix and returns the range of the bytes it covers; nil when truncated.
        mutating func lengthDelimited() -> Range<Int>? {
            guard let (length, overflow) = varint(), !overflow, length <= UInt64(end - position) else { return nil }
            let range = position..<(position + Int(length))
            position = range.upperBound
            return range
        }

        /// Reads a little-endian fixed32; nil when truncated.
        mutating func fixed32() -> UInt32? {
            guard end - position >= 4 else { return nil }
            var value: UInt32 = 0
            for i in 0..<4 { value |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
            position += 4
            return value
        }

        /// Skips one field of `wireType`; false when the wire type is unknown or the input is truncated.
        mutating func skip(wireType: UInt8) -> Bool {
            switch wireType {
            case 0: return varint().map { !$0.overflow } ?? false
            case 1:
                guard end - position >= 8 else { return false }
                position += 8
                return true
            case 2: return lengthDelimited() != nil
            case 5:
                guard end - position >= 4 else { return false }
                position += 4
                return true
            default: return false
            }
        }
    }
}
