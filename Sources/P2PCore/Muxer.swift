import Logging

/// One stream of a multiplexed connection.
public protocol MuxedStream: ByteStream {
    /// The muxer's identifier of this stream (unique per connection and direction).
    var streamID: UInt64 { get }
}

/// A multiplexed connection (yamux, mplex) over a secured stream.
///
/// The implementation runs its own frame-reading task from creation until the connection ends.
public protocol MuxedConnection: AnyObject, Sendable {
    /// Opens a new outbound stream.
    func openStream() async throws -> any MuxedStream
    /// The next stream the remote opened; nil once the connection is closed.
    func acceptStream() async throws -> (any MuxedStream)?
    /// Closes the connection (go-away where the protocol has one), resetting open streams.
    func close() async
    /// True once the connection has ended (closed locally, by the remote, or on an error).
    var isClosed: Bool { get }
    /// Suspends until the connection has ended.
    func waitClosed() async
}

/// Limits and tuning every muxer honours.
public struct MuxerConfig: Sendable {
    /// Inbound streams open at once; the remote's excess streams are reset (a stream flood).
    public var maxInboundStreams: Int = 512
    /// Inbound streams accepted by the muxer but not yet taken by `acceptStream()`.
    public var acceptBacklog: Int = 256
    /// yamux initial receive window (the protocol's fixed 256 KiB).
    public var initialWindow: UInt32 = 256 * 1024
    /// yamux receive window ceiling when auto-tuning grows it.
    public var maxWindow: UInt32 = 16 * 1024 * 1024
    /// Largest frame payload accepted; a bigger frame is a protocol error that ends the connection.
    public var maxFrameSize: Int = 1 << 20
    /// mplex: bytes a stream may buffer unread before it is reset (mplex has no flow control).
    public var maxBufferedPerStream: Int = 4 << 20
    /// yamux keep-alive ping interval (nil: none).
    public var keepAliveInterval: Duration? = .seconds(30)

    public init() {}
}

/// A stream multiplexer protocol.
public protocol StreamMuxer: Sendable {
    /// The multistream-select identifier.
    var protocolID: ProtocolID { get }
    /// Starts a multiplexed session over `stream`. `isInitiator` is true on the dialer's side
    /// (yamux: odd stream IDs; mplex: initiator flags).
    func makeConnection(_ stream: any ByteStream, isInitiator: Bool, logger: Logger) -> any MuxedConnection
}
