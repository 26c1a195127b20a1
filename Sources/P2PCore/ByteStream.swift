/// A reliable, ordered, bidirectional byte stream: a TCP connection, a secured channel or one
/// stream of a multiplexed connection.
///
/// Concurrency contract: at most one task reads and at most one task writes at a time, and the two
/// may run concurrently. `close()`/`reset()` may be called from any task at any time; they make
/// pending and later `read()`/`write()` calls finish (reads see EOF or throw `.reset`).
public protocol ByteStream: AnyObject, Sendable {
    /// The next bytes that arrived (never empty), or nil once the remote has closed its write side
    /// (clean EOF). Throws `StreamError.reset` when the stream was reset, or the transport's error.
    func read() async throws -> [UInt8]?
    /// Writes all of `bytes`, suspending while flow control or the socket push back.
    /// Throws `StreamError.closed` after `closeWrite()`/`close()`, `.reset` after a reset.
    func write(_ bytes: [UInt8]) async throws
    /// Half-closes: tells the remote we will write no more (FIN). Reading goes on.
    func closeWrite() async throws
    /// Closes both directions gracefully (half-close, then stop reading); idempotent.
    func close() async
    /// Aborts both directions at once (RST); idempotent. Pending reads and writes throw `.reset`.
    func reset() async
}

/// Errors every `ByteStream` implementation shares.
public enum StreamError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The stream or connection was reset (locally or by the remote).
    case reset
    /// A write after the write side was closed.
    case closed
    /// The remote closed the stream before `expected` more bytes arrived (while reading `what`).
    case unexpectedEOF(what: String)
    /// A length-prefixed message announced more than the limit.
    case messageTooLarge(what: String, length: UInt64, limit: Int)
    /// A varint length prefix was malformed.
    case badLengthPrefix(what: String)
    /// An operation did not finish in time.
    case timeout(what: String, seconds: Double)
    /// The connection under the stream went away.
    case connectionClosed

    public var description: String {
        switch self {
        case .reset: return "stream reset"
        case .closed: return "stream closed for writing"
        case .unexpectedEOF(let what): return "stream ended while reading \(what)"
        case .messageTooLarge(let what, let length, let limit):
            return "\(what): message of \(length) bytes exceeds the limit of \(limit)"
        case .badLengthPrefix(let what): return "\(what): malformed varint length prefix"
        case .timeout(let what, let seconds): return "\(what) timed out after \(seconds) s"
        case .connectionClosed: return "connection closed"
        }
    }
}

/// A stream that first yields `prefix` (bytes already read from `base` by a previous layer, e.g.
/// multistream-select's look-ahead) and then reads `base`. Writes and closes go to `base`.
public final class PrefixedByteStream: ByteStream, @unchecked Sendable {
    private let base: any ByteStream
    private let lock = Mutex()
    private var prefix: [UInt8]?

    /// Wraps `base`; an empty prefix reads straight through.
    public init(prefix: [UInt8], base: any ByteStream) {
        self.base = base
        self.prefix = prefix.isEmpty ? nil : prefix
    }

    public func read() async throws -> [UInt8]? {
        if let pending = lock.withLock({ () -> [UInt8]? in defer { prefix = nil }; return prefix }) {
            return pending
        }
        return try await base.read()
    }
    public func write(_ bytes: [UInt8]) async throws { try await base.write(bytes) }
    public func closeWrite() async throws { try await base.closeWrite() }
    public func close() async { await base.close() }
    public func reset() async { await base.reset() }
}
