import P2PCore

/// libp2p Noise framing: every handshake and transport message is a 2-byte big-endian length
/// followed by that many bytes (so at most 65535 bytes per frame).
enum NoiseFraming {
    /// The largest frame body the 2-byte length allows.
    static let maxFrameLength = 65535
    /// The largest plaintext per transport frame (frame minus the 16-byte Poly1305 tag).
    static let maxPlaintextPerFrame = maxFrameLength - NoiseCrypto.tagLength
    /// How many frames one `write` of the secured stream hands to the underlying stream at once
    /// (about 512 KiB): few large writes, bounded memory.
    static let framesPerWrite = 8

    /// Frames one handshake message.
    static func frame(_ body: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(body.count + 2)
        out.append(UInt8(truncatingIfNeeded: body.count >> 8))
        out.append(UInt8(truncatingIfNeeded: body.count))
        out.append(contentsOf: body)
        return out
    }
}

/// Reads 2-byte-length-prefixed frames from a stream, keeping read-ahead bytes for the next frame
/// (the handshake's last message and the first transport frames can arrive in one chunk).
///
/// Not thread-safe: owned by the single reader.
final class NoiseFrameReader: @unchecked Sendable {
    let stream: any ByteStream
    private var buffer: [UInt8] = []
    private var start = 0

    init(_ stream: any ByteStream) { self.stream = stream }

    private var available: Int { buffer.count - start }

    /// Reads until at least `count` bytes are buffered; false on EOF before that.
    private func fill(to count: Int) async throws -> Bool {
        while available < count {
            guard let chunk = try await stream.read() else { return false }
            if start == buffer.count {
                buffer = chunk
                start = 0
            } else {
                if start > 0 {
                    buffer.removeSubrange(0..<start)
                    start = 0
                }
                buffer.append(contentsOf: chunk)
            }
        }
        return true
    }

    /// Waits for the next whole frame and passes its body to `body` (without copying it).
    /// Returns nil on a clean EOF between frames; throws `StreamError.unexpectedEOF(what)` inside a frame.
    func withNextFrame<T>(what: String, _ body: (UnsafeRawBufferPointer) throws -> T) async throws -> T? {
        guard try await fill(to: 2) else {
            if available == 0 { return nil }
            throw StreamError.unexpectedEOF(what: "\(what) length")
        }
        let length = Int(buffer[start]) << 8 | Int(buffer[start + 1])
        guard try await fill(to: 2 + length) else { throw StreamError.unexpectedEOF(what: what) }
        let bodyStart = start + 2
        start = bodyStart + length
        if start == buffer.count {
            defer {
                buffer = []
                start = 0
            }
            return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[bodyStart..<(bodyStart + length)])) }
        }
        return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[bodyStart..<(bodyStart + length)])) }
    }

    /// Reads one whole frame as an array (handshake messages).
    func readFrame(what: String) async throws -> [UInt8] {
        guard let frame = try await withNextFrame(what: what, { [UInt8]($0) }) else {
            throw StreamError.unexpectedEOF(what: what)
        }
        return frame
    }
}
