import Multiformats

/// Buffered reads on top of a `ByteStream`: exact lengths, unsigned varints and varint-length-prefixed
/// messages (the framing of multistream-select, identify, bitswap and the DHT).
///
/// Not thread-safe: one reader owns it. Bytes read ahead stay in `buffered` and can be handed to
/// the next layer (`takeBuffered()` / `remainingStream()`) so nothing is lost across protocol switches.
public final class StreamReader: @unchecked Sendable {
    /// The stream being read.
    public let stream: any ByteStream
    private var buffer: [UInt8] = []
    private var start = 0

    public init(_ stream: any ByteStream) { self.stream = stream }

    /// Bytes read from the stream but not consumed yet.
    public var bufferedCount: Int { buffer.count - start }

    /// Removes and returns the bytes read ahead.
    public func takeBuffered() -> [UInt8] {
        let rest = Array(buffer[start...])
        buffer = []
        start = 0
        return rest
    }

    /// A stream that replays the read-ahead bytes, then continues with the underlying stream.
    public func remainingStream() -> any ByteStream {
        let rest = takeBuffered()
        return rest.isEmpty ? stream : PrefixedByteStream(prefix: rest, base: stream)
    }

    /// Reads more bytes into the buffer; false at EOF.
    private func fill() async throws -> Bool {
        guard let chunk = try await stream.read() else { return false }
        if start == buffer.count {
            buffer = chunk
            start = 0
        } else {
            if start > 0 && start > buffer.count / 2 {
                buffer.removeFirst(start)
                start = 0
            }
            buffer.append(contentsOf: chunk)
        }
        return true
    }

    /// Reads whatever is available: buffered bytes first, else the next chunk; nil at EOF.
    public func readAvailable(max: Int = Int.max) async throws -> [UInt8]? {
        if bufferedCount == 0 {
            guard try await fill() else { return nil }
        }
        let n = Swift.min(max, bufferedCount)
        let out = Array(buffer[start..<(start + n)])
        start += n
        return out
    }

    /// Reads exactly `count` bytes; throws `unexpectedEOF(what)` when the stream ends first.
    public func readExactly(_ count: Int, what: String = "data") async throws -> [UInt8] {
        if bufferedCount >= count {
            let out = Array(buffer[start..<(start + count)])
            start += count
            return out
        }
        // Large reads (bitswap blocks, DHT records) go straight into one array of the final size:
        // each byte is copied once, with no regrowth of the read-ahead buffer.
        var out: [UInt8] = []
        out.reserveCapacity(count)
        out.append(contentsOf: buffer[start...])
        buffer = []
        start = 0
        while out.count < count {
            guard let chunk = try await stream.read() else { throw StreamError.unexpectedEOF(what: what) }
            let need = count - out.count
            if out.isEmpty && chunk.count == need { return chunk }
            if chunk.count <= need {
                out.append(contentsOf: chunk)
            } else {
                out.append(contentsOf: chunk[..<need])
                buffer = Array(chunk[need...])
            }
        }
        return out
    }

    /// Reads one unsigned varint (multiformats rules, at most 9 bytes).
    /// Returns nil on a clean EOF before its first byte.
    public func readUVarint(what: String = "varint") async throws -> UInt64? {
        var index = start
        while true {
            if index == buffer.count {
                let consumedBefore = start
                guard try await fill() else {
                    if bufferedCount == 0 { return nil }
                    throw StreamError.unexpectedEOF(what: what)
                }
                index = index - consumedBefore + start
            }
            let byte = buffer[index]
            index += 1
            if byte & 0x80 == 0 {
                do {
                    let (value, length) = try Varint.decode(buffer[start..<index])
                    start += length
                    return value
                } catch {
                    throw StreamError.badLengthPrefix(what: what)
                }
            }
            if index - start >= Varint.maxLength { throw StreamError.badLengthPrefix(what: what) }
        }
    }

    /// Reads one varint-length-prefixed message of at most `maxLength` bytes.
    /// Returns nil on a clean EOF before the prefix; throws when the stream ends inside a message.
    public func readLengthPrefixed(maxLength: Int, what: String = "message") async throws -> [UInt8]? {
        guard let length = try await readUVarint(what: what) else { return nil }
        guard length <= UInt64(maxLength) else {
            throw StreamError.messageTooLarge(what: what, length: length, limit: maxLength)
        }
        return try await readExactly(Int(length), what: what)
    }
}

extension ByteStream {
    /// Writes `message` behind its unsigned-varint length.
    public func writeLengthPrefixed(_ message: [UInt8]) async throws {
        var framed = Varint.encode(UInt64(message.count))
        framed.append(contentsOf: message)
        try await write(framed)
    }
}
