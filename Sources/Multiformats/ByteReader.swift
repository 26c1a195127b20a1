/// A cursor over a byte array for decoders that consume fields one after another.
///
/// Every failure reports the offset at which it happened, so errors can say where
/// the input went wrong.
public struct ByteReader: Sendable {
    public let bytes: [UInt8]
    /// Index of the next unread byte.
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var isAtEnd: Bool { offset >= bytes.count }
    public var remainingCount: Int { bytes.count - offset }

    /// The unread bytes, without consuming them.
    public var remaining: ArraySlice<UInt8> { bytes[offset...] }

    /// Reads one multiformats varint.
    public mutating func readVarint() throws(ByteReaderError) -> UInt64 {
        do {
            let (value, length) = try Varint.decode(bytes[offset...])
            offset += length
            return value
        } catch {
            throw .varint(error, offset: offset)
        }
    }

    /// Reads exactly `count` bytes.
    public mutating func readBytes(_ count: Int) throws(ByteReaderError) -> [UInt8] {
        guard count >= 0, count <= remainingCount else {
            throw .truncated(needed: count, available: remainingCount, offset: offset)
        }
        let out = Array(bytes[offset..<offset + count])
        offset += count
        return out
    }

    /// Reads one byte.
    public mutating func readByte() throws(ByteReaderError) -> UInt8 {
        guard offset < bytes.count else {
            throw .truncated(needed: 1, available: 0, offset: offset)
        }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads the rest of the input.
    public mutating func readRemaining() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}

/// A read past the end or a bad varint, with the offset where it happened.
public enum ByteReaderError: Error, Equatable, Sendable, CustomStringConvertible {
    case varint(VarintError, offset: Int)
    case truncated(needed: Int, available: Int, offset: Int)

    public var description: String {
        switch self {
        case let .varint(e, offset): return "\(e) at offset \(offset)"
        case let .truncated(needed, available, offset):
            return "input truncated at offset \(offset): needed \(needed) bytes, \(available) left"
        }
    }
}
