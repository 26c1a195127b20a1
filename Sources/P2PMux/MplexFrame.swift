import Multiformats
import P2PCore

/// One mplex frame (libp2p/specs mplex): `uvarint(id << 3 | flag)`, `uvarint(length)`, data.
public struct MplexFrame: Sendable, Equatable {
    /// The 3-bit flag. "Initiator" variants are sent by the side that opened the stream.
    public enum Flag: UInt8, Sendable {
        case newStream = 0
        case messageReceiver = 1, messageInitiator = 2
        case closeReceiver = 3, closeInitiator = 4
        case resetReceiver = 5, resetInitiator = 6
    }

    /// The largest message the protocol allows (1 MiB).
    public static let maxMessageSize = 1 << 20

    public var streamID: UInt64
    public var flag: Flag
    public var payload: [UInt8]

    public init(streamID: UInt64, flag: Flag, payload: [UInt8] = []) {
        self.streamID = streamID
        self.flag = flag
        self.payload = payload
    }

    /// True when the sender opened the stream (even flags except NewStream count as initiator).
    public var sentByInitiator: Bool {
        switch flag {
        case .newStream, .messageInitiator, .closeInitiator, .resetInitiator: return true
        case .messageReceiver, .closeReceiver, .resetReceiver: return false
        }
    }

    /// The wire bytes.
    public func encoded() -> [UInt8] { Self.encode(streamID: streamID, flag: flag, payload: payload[...]) }

    /// Encodes a frame from a payload slice (one copy).
    public static func encode(streamID: UInt64, flag: Flag, payload: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 12)
        append(streamID: streamID, flag: flag, payload: payload, into: &out)
        return out
    }

    /// Appends a frame (header, then `payload`) to `out`.
    public static func append(streamID: UInt64, flag: Flag, payload: ArraySlice<UInt8>, into out: inout [UInt8]) {
        Varint.encode(streamID << 3 | UInt64(flag.rawValue), into: &out)
        Varint.encode(UInt64(payload.count), into: &out)
        out.append(contentsOf: payload)
    }
}

/// mplex protocol errors; each names the stream or offset at fault.
public enum MplexError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A malformed varint in a header at `offset`.
    case badHeader(offset: UInt64)
    /// Flag 7 (undefined).
    case unknownFlag(UInt8, streamID: UInt64, offset: UInt64)
    /// A frame longer than the limit.
    case frameTooLarge(streamID: UInt64, length: UInt64, limit: Int, offset: UInt64)
    /// A stream ID larger than 2^60 (it cannot be re-encoded).
    case streamIDTooLarge(offset: UInt64)
    /// NewStream for a stream the remote already has open.
    case duplicateStream(streamID: UInt64)
    /// The connection has ended.
    case connectionClosed

    public var description: String {
        switch self {
        case .badHeader(let offset): return "mplex: malformed header varint at offset \(offset)"
        case .unknownFlag(let flag, let id, let offset): return "mplex: unknown flag \(flag) on stream \(id) at offset \(offset)"
        case .frameTooLarge(let id, let length, let limit, let offset):
            return "mplex: frame of \(length) bytes on stream \(id) exceeds \(limit) (offset \(offset))"
        case .streamIDTooLarge(let offset): return "mplex: stream ID too large at offset \(offset)"
        case .duplicateStream(let id): return "mplex: NewStream for open stream \(id)"
        case .connectionClosed: return "mplex: connection closed"
        }
    }
}

/// Incremental mplex frame decoder: `feed` bytes, then call `next()` until nil.
public struct MplexFrameDecoder: Sendable {
    /// Largest payload accepted.
    public let maxFrameSize: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Stream offset of the next unread byte.
    public private(set) var offset: UInt64 = 0

    public init(maxFrameSize: Int) { self.maxFrameSize = maxFrameSize }

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

    /// Reads a varint at `index`; nil when incomplete.
    private func varint(at index: Int) throws(MplexError) -> (UInt64, Int)? {
        var i = index
        while i < buffer.count {
            if buffer[i] & 0x80 == 0 {
                do {
                    let (value, length) = try Varint.decode(buffer[index...i])
                    return (value, length)
                } catch {
                    throw .badHeader(offset: offset + UInt64(index - start))
                }
            }
            i += 1
            if i - index >= Varint.maxLength { throw .badHeader(offset: offset + UInt64(index - start)) }
        }
        return nil
    }

    /// The next complete frame, or nil when more bytes are needed.
    public mutating func next() throws(MplexError) -> MplexFrame? {
        guard let (header, headerLength) = try varint(at: start) else { return nil }
        guard let (length, lengthLength) = try varint(at: start + headerLength) else { return nil }
        let id = header >> 3
        guard let flag = MplexFrame.Flag(rawValue: UInt8(header & 7)) else {
            throw .unknownFlag(UInt8(header & 7), streamID: id, offset: offset)
        }
        guard length <= UInt64(maxFrameSize) else {
            throw .frameTooLarge(streamID: id, length: length, limit: maxFrameSize, offset: offset)
        }
        let payloadStart = start + headerLength + lengthLength
        guard buffer.count - payloadStart >= Int(length) else { return nil }
        let payload = Array(buffer[payloadStart..<(payloadStart + Int(length))])
        let consumed = headerLength + lengthLength + Int(length)
        start += consumed
        offset += UInt64(consumed)
        if start == buffer.count {
            buffer = []
            start = 0
        }
        return MplexFrame(streamID: id, flag: flag, payload: payload)
    }
}
