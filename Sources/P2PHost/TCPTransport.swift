import Logging
import Multiformats
import NIOCore
import NIOPosix
import P2PCore

/// Failures of the TCP transport.
public enum TCPTransportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The multiaddr is not `/ip4|ip6|dns4|dns6/…/tcp/PORT` (optionally followed by `/p2p/ID` when dialling).
    case unsupportedAddress(String)
    /// Binding a listen address failed.
    case listenFailed(address: String, reason: String)
    /// Connecting failed.
    case dialFailed(address: String, reason: String)

    public var description: String {
        switch self {
        case .unsupportedAddress(let a): return "unsupported TCP multiaddr \(a)"
        case .listenFailed(let a, let r): return "listening on \(a) failed: \(r)"
        case .dialFailed(let a, let r): return "dialling \(a) failed: \(r)"
        }
    }
}

/// TCP over SwiftNIO: listens on and dials `/ip4|ip6/…/tcp/…` (and `/dns4|dns6/…/tcp/…` for dialling),
/// giving one `TCPConnection` (a `ByteStream`) per connection.
public final class TCPTransport: Sendable {
    private let group: any EventLoopGroup
    private let logger: Logger
    /// Unread bytes buffered per connection before the socket stops being read (backpressure).
    public let readBufferLimit: Int

    /// `group` runs the sockets (e.g. `MultiThreadedEventLoopGroup.singleton`).
    public init(group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger, readBufferLimit: Int = 1 << 20) {
        self.group = group
        self.logger = logger
        self.readBufferLimit = max(64 * 1024, readBufferLimit)
    }

    /// True when `address` is something this transport can dial.
    public static func canDial(_ address: Multiaddr) -> Bool {
        (try? Endpoint(address, allowPeerSuffix: true)) != nil
    }

    /// Starts listening on `address`; `onConnection` gets each accepted connection (on a NIO thread:
    /// hand it off quickly). Port 0 binds a free port, reported by `TCPListener.address`.
    public func listen(
        _ address: Multiaddr, onConnection: @escaping @Sendable (TCPConnection) -> Void
    ) async throws -> TCPListener {
        let endpoint = try Endpoint(address, allowPeerSuffix: false)
        guard case .ip(let socketAddress) = endpoint.target else {
            throw TCPTransportError.unsupportedAddress(address.description)
        }
        let limit = readBufferLimit
        let logger = self.logger
        var bootstrap = ServerBootstrap(group: group)
        if case .v6 = socketAddress {
            // IPv6-only, as Go listens on tcp6: a dual-stack socket on [::]:P would collide with a
            // second listener on 0.0.0.0:P (the default config listens on both).
            bootstrap = bootstrap.serverChannelOption(
                ChannelOptions.Types.SocketOption(level: NIOBSDSocket.OptionLevel.ipv6, name: .ipv6_v6only), value: 1)
        }
        bootstrap = bootstrap
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                do {
                    let connection = try TCPConnection.attach(to: channel, readBufferLimit: limit)
                    onConnection(connection)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    logger.warning("rejected inbound TCP connection", metadata: ["reason": "\(error)"])
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(to: socketAddress).get()
        } catch {
            throw TCPTransportError.listenFailed(address: address.description, reason: "\(error)")
        }
        guard let local = channel.localAddress.flatMap(Self.multiaddr) else {
            try? await channel.close().get()
            throw TCPTransportError.listenFailed(address: address.description, reason: "no local address")
        }
        logger.info("listening", metadata: ["address": "\(local)"])
        return TCPListener(channel: channel, address: local)
    }

    /// Connects to `address` (a trailing `/p2p/ID` is ignored here: the security layer verifies it).
    public func dial(_ address: Multiaddr, timeout: Duration = .seconds(10)) async throws -> TCPConnection {
        let endpoint = try Endpoint(address, allowPeerSuffix: true)
        let limit = readBufferLimit
        let c = timeout.components
        let millis = max(1, c.seconds * 1000 + c.attoseconds / 1_000_000_000_000_000)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.milliseconds(millis))
            .channelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                // Installed before the channel is active, so no early bytes are dropped.
                do {
                    try channel.pipeline.syncOperations.addHandler(
                        TCPConnection.BridgeHandler(state: .init(limit: limit, channel: channel)))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        let channel: any Channel
        do {
            switch endpoint.target {
            case .ip(let socketAddress):
                channel = try await bootstrap.connect(to: socketAddress).get()
            case .host(let host, let port):
                channel = try await bootstrap.connect(host: host, port: port).get()
            }
        } catch {
            throw TCPTransportError.dialFailed(address: address.description, reason: "\(error)")
        }
        do {
            return try await channel.eventLoop.submit {
                let state = try channel.pipeline.syncOperations.handler(type: TCPConnection.BridgeHandler.self).state
                return try TCPConnection(channel: channel, state: state)
            }.get()
        } catch {
            try? await channel.close().get()
            throw TCPTransportError.dialFailed(address: address.description, reason: "\(error)")
        }
    }

    /// `/ip4/A/tcp/P` or `/ip6/A/tcp/P` for a socket address.
    static func multiaddr(_ address: SocketAddress) -> Multiaddr? {
        guard let ip = address.ipAddress, let port = address.port else { return nil }
        switch address {
        case .v4: return try? Multiaddr("/ip4/\(ip)/tcp/\(port)")
        case .v6: return try? Multiaddr("/ip6/\(ip)/tcp/\(port)")
        default: return nil
        }
    }

    /// A parsed TCP multiaddr.
    struct Endpoint {
        enum Target { case ip(SocketAddress), host(String, Int) }
        let target: Target

        init(_ address: Multiaddr, allowPeerSuffix: Bool) throws(TCPTransportError) {
            var parts = address.components
            if allowPeerSuffix, parts.last?.protocol == .p2p { parts.removeLast() }
            guard parts.count == 2, parts[1].protocol == .tcp, parts[1].value.count == 2 else {
                throw .unsupportedAddress(address.description)
            }
            let port = Int(parts[1].value[0]) << 8 | Int(parts[1].value[1])
            let host = parts[0].valueString
            switch parts[0].protocol {
            case .ip4, .ip6:
                do {
                    target = .ip(try SocketAddress(ipAddress: host, port: port))
                } catch {
                    throw .unsupportedAddress(address.description)
                }
            case .dns4, .dns6, .dns:
                target = .host(host, port)
            default:
                throw .unsupportedAddress(address.description)
            }
        }
    }
}

/// A bound TCP listener.
public final class TCPListener: Sendable {
    private let channel: any Channel
    /// The address actually bound (port 0 replaced by the real port).
    public let address: Multiaddr

    init(channel: any Channel, address: Multiaddr) {
        self.channel = channel
        self.address = address
    }

    /// Stops accepting connections (accepted ones stay open).
    public func close() async {
        try? await channel.close().get()
    }
}

/// One TCP connection as a `ByteStream`. Reads are buffered up to a limit; beyond it the socket is
/// not read until the consumer catches up.
public final class TCPConnection: ByteStream, @unchecked Sendable {
    /// Our side's address.
    public let localAddress: Multiaddr
    /// The remote's address.
    public let remoteAddress: Multiaddr
    private let channel: any Channel
    private let state: ReadState

    private init(channel: any Channel, state: ReadState, local: Multiaddr, remote: Multiaddr) {
        self.channel = channel
        self.state = state
        self.localAddress = local
        self.remoteAddress = remote
    }

    /// Installs the bridging handler; must run on the channel's event loop.
    static func attach(to channel: any Channel, readBufferLimit: Int) throws -> TCPConnection {
        let state = ReadState(limit: readBufferLimit, channel: channel)
        try channel.pipeline.syncOperations.addHandler(BridgeHandler(state: state))
        return try TCPConnection(channel: channel, state: state)
    }

    /// Wraps a channel whose bridging handler is installed.
    convenience init(channel: any Channel, state: ReadState) throws {
        guard let local = channel.localAddress.flatMap(TCPTransport.multiaddr),
              let remote = channel.remoteAddress.flatMap(TCPTransport.multiaddr)
        else { throw TCPTransportError.dialFailed(address: "\(channel.remoteAddress.map { "\($0)" } ?? "?")", reason: "no socket address") }
        self.init(channel: channel, state: state, local: local, remote: remote)
    }

    public func read() async throws -> [UInt8]? {
        try await state.read()
    }

    public func write(_ bytes: [UInt8]) async throws {
        if let error = state.writeError() { throw error }
        guard !bytes.isEmpty else { return }
        do {
            try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
        } catch {
            if let error = state.writeError() { throw error }
            throw StreamError.connectionClosed
        }
    }

    public func closeWrite() async throws {
        if let error = state.writeError() { throw error }
        state.markWriteClosed()
        do {
            try await channel.close(mode: .output).get()
        } catch {
            throw StreamError.connectionClosed
        }
    }

    public func close() async {
        state.markWriteClosed()
        try? await channel.close().get()
    }

    public func reset() async {
        state.markReset()
        if let provider = channel as? any SocketOptionProvider {
            try? await provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).get()
        }
        try? await channel.close().get()
    }

    /// Read side state shared by the NIO handler and the async reader.
    final class ReadState: @unchecked Sendable {
        private let lock = Mutex()
        private let limit: Int
        private let channel: any Channel
        private var chunks: [[UInt8]] = []
        private var head = 0
        private var buffered = 0
        private var eof = false
        private var failure: (any Error)?
        private var resetLocally = false
        private var writeClosed = false
        private var readPaused = false
        private var waiter: CheckedContinuation<Void, Never>?

        init(limit: Int, channel: any Channel) {
            self.limit = limit
            self.channel = channel
        }

        /// Event loop: bytes arrived.
        func append(_ bytes: [UInt8]) {
            let w = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                chunks.append(bytes)
                buffered += bytes.count
                defer { waiter = nil }
                return waiter
            }
            w?.resume()
        }

        /// Event loop: should the socket be read now? If not, remember to resume reading later.
        func shouldRead() -> Bool {
            lock.withLock {
                if buffered >= limit {
                    readPaused = true
                    return false
                }
                return true
            }
        }

        /// Event loop: the remote finished (nil) or the connection failed.
        func finish(_ error: (any Error)?) {
            let w = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                if let error, failure == nil, !eof { failure = error }
                eof = true
                defer { waiter = nil }
                return waiter
            }
            w?.resume()
        }

        func markReset() {
            let w = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                resetLocally = true
                defer { waiter = nil }
                return waiter
            }
            w?.resume()
        }

        func markWriteClosed() { lock.withLock { writeClosed = true } }

        func writeError() -> StreamError? {
            lock.withLock {
                if resetLocally { return .reset }
                if writeClosed { return .closed }
                return nil
            }
        }

        func read() async throws -> [UInt8]? {
            while true {
                enum Step { case chunk([UInt8], resume: Bool), eof, fail(any Error), wait }
                let step: Step = lock.withLock {
                    if resetLocally { return .fail(StreamError.reset) }
                    if head < chunks.count {
                        let chunk = chunks[head]
                        head += 1
                        if head > 64 && head * 2 > chunks.count {
                            chunks.removeFirst(head)
                            head = 0
                        }
                        buffered -= chunk.count
                        var resume = false
                        if readPaused && buffered < limit / 2 {
                            readPaused = false
                            resume = true
                        }
                        return .chunk(chunk, resume: resume)
                    }
                    if let failure { return .fail(failure) }
                    if eof { return .eof }
                    return .wait
                }
                switch step {
                case .chunk(let chunk, let resume):
                    if resume { channel.read() }
                    return chunk
                case .eof: return nil
                case .fail(let error): throw error
                case .wait:
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let ready = lock.withLock { () -> Bool in
                            if resetLocally || head < chunks.count || eof { return true }
                            waiter = c
                            return false
                        }
                        if ready { c.resume() }
                    }
                }
            }
        }
    }

    /// Moves inbound bytes into `ReadState`, holding back socket reads while it is full.
    final class BridgeHandler: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let state: ReadState

        init(state: ReadState) { self.state = state }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            if buffer.readableBytes > 0 { state.append(Array(buffer.readableBytesView)) }
        }

        func read(context: ChannelHandlerContext) {
            if state.shouldRead() { context.read() }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, event == .inputClosed {
                state.finish(nil)
            }
            context.fireUserInboundEventTriggered(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.finish(nil)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            state.finish(error)
            context.close(promise: nil)
        }
    }
}
