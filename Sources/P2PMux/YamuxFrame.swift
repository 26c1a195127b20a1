import P2PCore

/// One yamux frame (hashicorp/yamux spec.md): a 12-byte header (version, type, flags, stream ID,
/// length, all big-endian) followed, for data frames only, by `length` payload bytes.
public struct YamuxFrame: Sendable, Equatable, CustomStringConvertible {
    /// The frame type (header byte 1).
    public enum FrameType: UInt8, Sendable {
        case data = 0, windowUpdate = 1, ping = 2, goAway = 3
    }

    /// Header flags (bytes 2–3).
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        /// Opens a stream, or is a ping request.
        public static let syn = Flags(rawValue: 1)
        /// Acknowledges a stream open, or is a ping response.
        public static let ack = Flags(rawValue: 2)
        /// Half-closes the sender's side of a stream.
        public static let fin = Flags(rawValue: 4)
        /// Resets a stream.
        public static let rst = Flags(rawValue: 8)
    }

    /// The only protocol version.
    public static let version: UInt8 = 0
    /// Bytes in a header.
    public static let headerSize = 12
    /// The window every stream starts with (256 KiB), fixed by the protocol.
    public static let defaultWindow: UInt32 = 256 * 1024

    public var type: FrameType
    public var flags: Flags
    /// 0 for session frames (ping, go-away).
    public var streamID: UInt32
    /// Data: payload length; window update: delta; ping: opaque value; go-away: error code.
    public var length: UInt32
    /// The payload (data frames only; empty otherwise).
    public var payload: [UInt8]

    public init(type: FrameType, flags: Flags = [], streamID: UInt32, length: UInt32, payload: [UInt8] = []) {
        self.type = type
        self.flags = flags
        self.streamID = streamID
        self.length = length
        self.payload = payload
    }

    /// A data frame carrying `payload`.
    public static func data(streamID: UInt32, flags: Flags = [], payload: [UInt8]) -> YamuxFrame {
        YamuxFrame(type: .data, flags: flags, streamID: streamID, length: UInt32(payload.count), payload: payload)
    }

    /// A window update granting `delta` more bytes (also used to carry SYN/ACK/FIN/RST flags).
    public static func windowUpdate(streamID: UInt32, flags: Flags = [], delta: UInt32 = 0) -> YamuxFrame {
        YamuxFrame(type: .windowUpdate, flags: flags, streamID: streamID, length: delta)
    }

    /// A ping request (`.syn`) or response (`.ack`) with an opaque value.
    public static func ping(flags: Flags, value: UInt32) -> YamuxFrame {
        YamuxFrame(type: .ping, flags: flags, streamID: 0, length: value)
    }

    /// A go-away frame with its error code.
    public static func goAway(_ code: YamuxGoAwayCode) -> YamuxFrame {
        YamuxFrame(type: .goAway, streamID: 0, length: code.rawValue)
    }

    public var description: String {
        "yamux \(type) stream=\(streamID) flags=\(flags.rawValue) length=\(length)"
    }
}

/// Go-away error codes.
public enum YamuxGoAwayCode: UInt32, Sendable {
    case normal = 0, protocolError = 1, internalError = 2
}

/// yamux protocol errors; each names the stream, field or offset at fault.
public enum YamuxError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A header carried a version other than 0.
    case unsupportedVersion(UInt8, offset: UInt64)
    /// A header carried an unknown type.
    case unknownFrameType(UInt8, offset: UInt64)
    /// A data frame announced more than `maxFrameSize` bytes.
    case frameTooLarge(streamID: UInt32, length: UInt32, limit: Int, offset: UInt64)
    /// The remote sent more data than the receive window allowed.
    case windowExceeded(streamID: UInt32, length: Int, window: UInt32)
    /// A frame named a stream ID it must not (0 for a stream frame, a reused or wrong-parity SYN, data after FIN).
    case invalidStream(streamID: UInt32, reason: String)
    /// A window update overflowed the 32-bit send window.
    case windowOverflow(streamID: UInt32)
    /// The remote does not read our control frames (too many queued).
    case tooManyPendingFrames(limit: Int)
    /// No new streams: a go-away was sent or received, or the IDs ran out.
    case streamsExhausted(reason: String)
    /// The keep-alive ping was not answered.
    case keepAliveTimeout(seconds: Double)
    /// The connection has ended.
    case connectionClosed

    public var description: String {
        switch self {
        case .unsupportedVersion(let v, let offset): return "yamux: unsupported version \(v) at offset \(offset)"
        case .unknownFrameType(let t, let offset): return "yamux: unknown frame type \(t) at offset \(offset)"
        case .frameTooLarge(let id, let length, let limit, let offset):
            return "yamux: frame of \(length) bytes on stream \(id) exceeds \(limit) (offset \(offset))"
        case .windowExceeded(let id, let length, let window):
            return "yamux: stream \(id) received \(length) bytes beyond its window of \(window)"
        case .invalidStream(let id, let reason): return "yamux: stream \(id): \(reason)"
        case .windowOverflow(let id): return "yamux: stream \(id): send window overflow"
        case .tooManyPendingFrames(let limit): return "yamux: more than \(limit) control frames pending"
        case .streamsExhausted(let reason): return "yamux: cannot open a stream: \(reason)"
        case .keepAliveTimeout(let s): return "yamux: keep-alive ping unanswered for \(s) s"
        case .connectionClosed: return "yamux: connection closed"
        }
    }
}

/// Encodes yamux frames.
public enum YamuxFrameEncoder {
    /// Appends the 12-byte header of a frame to `buffer`.
    public static func encodeHeader(
        type: YamuxFrame.FrameType, flags: YamuxFrame.Flags, streamID: UInt32, length: UInt32,
        into buffer: inout [UInt8]
    ) {
        buffer.append(YamuxFrame.version)
        buffer.append(type.rawValue)
        buffer.append(UInt8(truncatingIfNeeded: flags.rawValue >> 8))
        buffer.append(UInt8(truncatingIfNeeded: flags.rawValue))
        for shift in stride(from: 24, through: 0, by: -8) { buffer.append(UInt8(truncatingIfNeeded: streamID >> UInt32(shift))) }
        for shift in stride(from: 24, through: 0, by: -8) { buffer.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
    }

    /// Header and payload of `frame`.
    public static func encode(_ frame: YamuxFrame) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(YamuxFrame.headerSize + frame.payload.count)
        encodeHeader(type: frame.type, flags: frame.flags, streamID: frame.streamID, length: frame.length, into: &out)
        out.append(contentsOf: frame.payload)
        return out
    }

    /// A data frame for `payload` without building a `YamuxFrame` first (one copy).
    public static func encodeData(streamID: UInt32, flags: YamuxFrame.Flags = [], payload: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(YamuxFrame.headerSize + payload.count)
        appendData(streamID: streamID, flags: flags, payload: payload, into: &out)
        return out
    }

    /// Appends a data frame (header, then `payload`) to `out`.
    public static func appendData(
        streamID: UInt32, flags: YamuxFrame.Flags = [], payload: ArraySlice<UInt8>, into out: inout [UInt8]
    ) {
        encodeHeader(type: .data, flags: flags, streamID: streamID, length: UInt32(payload.count), into: &out)
        out.append(contentsOf: payload)
    }
}

/// Incremental yamux frame decoder: `feed` bytes as they arrive, then call `next()` until nil.
public struct YamuxFrameDecoder: Sendable {
    /// Largest data payload accepted.
    public let maxFrameSize: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Stream offset of the next unread byte (for error messages).
    public private(set) var offset: UInt64 = 0

    public init(maxFrameSize: Int) { self.maxFrameSize = maxFrameSize }

    /// Bytes buffered but not yet decoded.
    public var bufferedCount: Int { buffer.count - start }

    /// Adds received bytes.
    public mutating func feed(_ bytes: [UInt8]) {
        if start == buffer.count {
            buffer = bytes
            start = 0
        } else {
            if start > 0 && start >= buffer.count / 2 {
                buffer.removeFirst(start)
                start = 0
            }
            buffer.append(contentsOf: bytes)
        }
    }

    /// The next complete frame, or nil when more bytes are needed.
    public mutating func next() throws(YamuxError) -> YamuxFrame? {
        guard bufferedCount >= YamuxFrame.headerSize else { return nil }
        let h = start
        let version = buffer[h]
        guard version == YamuxFrame.version else { throw .unsupportedVersion(version, offset: offset) }
        guard let type = YamuxFrame.FrameType(rawValue: buffer[h + 1]) else {
            throw .unknownFrameType(buffer[h + 1], offset: offset + 1)
        }
        let flags = YamuxFrame.Flags(rawValue: UInt16(buffer[h + 2]) << 8 | UInt16(buffer[h + 3]))
        let streamID = Self.readUInt32(buffer, at: h + 4)
        let length = Self.readUInt32(buffer, at: h + 8)
        var payload: [UInt8] = []
        var consumed = YamuxFrame.headerSize
        if type == .data {
            guard UInt64(length) <= UInt64(maxFrameSize) else {
                throw .frameTooLarge(streamID: streamID, length: length, limit: maxFrameSize, offset: offset)
            }
            let total = YamuxFrame.headerSize + Int(length)
            guard bufferedCount >= total else { return nil }
            payload = Array(buffer[(h + YamuxFrame.headerSize)..<(h + total)])
            consumed = total
        }
        start += consumed
        offset += UInt64(consumed)
        if start == buffer.count {
            buffer = []
            start = 0
        }
        return YamuxFrame(type: type, flags: flags, streamID: streamID, length: length, payload: payload)
    }

    private static func readUInt32(_ b: [UInt8], at i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }
}
