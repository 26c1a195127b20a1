#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 listener over SwiftNIO, the set-up the RPC API and the gateway share: binds
/// `host:port`, runs `serve` for each accepted connection (a child task each, the connection
/// closed when it returns) until `stop()`.
public final class HTTP1Server: Sendable {
    /// A connection's request parts in, response parts out.
    public typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// The bound port (the one asked for, or the one picked for port 0).
    public let port: Int
    private let channel: any Channel

    private init(port: Int, channel: any Channel) {
        self.port = port
        self.channel = channel
    }

    /// Binds `host:port` (port 0 picks one) and starts serving; a bind failure (the port taken,
    /// an address not on this host) is thrown naming the address. `bound` learns the bound port
    /// before the first connection is served; `name` labels the log lines.
    public static func start(
        group: any EventLoopGroup, host: String, port: Int, name: String, logger: Logger,
        bound: (Int) -> Void = { _ in }, serve: @escaping @Sendable (Connection) async -> Void
    ) async throws(HTTP1ServerError) -> HTTP1Server {
        // Each accepted connection is wrapped and handed to its own task right in the child
        // channel's initializer. NIO's async `bind` would queue it in the server's stream instead,
        // and a connection still queued when the server stops is dropped without its
        // `executeThenClose`: NIOAsyncWriter's deinit then stops the process ("Deinited
        // NIOAsyncWriter without calling finish()", swift-nio#2637). Tasks wait for `bound`.
        let ready = group.next().makePromise(of: Void.self)
        let server: any Channel
        do {
            server = try await ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(ChannelOptions.backlog, value: 1024)
                .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        let connection = try Connection(wrappingChannelSynchronously: channel)
                        Task {
                            try? await ready.futureResult.get()
                            await serve(connection)
                        }
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            ready.succeed(())
            let reason = (error as? IOError)?.errnoCode == EADDRINUSE ? "the address is already in use" : "\(error)"
            throw HTTP1ServerError(address: HTTP1ServerError.address(host: host, port: port), reason: reason)
        }
        let boundPort = server.localAddress?.port ?? port
        bound(boundPort)
        ready.succeed(())
        logger.debug("\(name) server listening on \(HTTP1ServerError.address(host: host, port: boundPort))")
        return HTTP1Server(port: boundPort, channel: server)
    }

    /// Stops accepting connections (those open finish their requests).
    public func stop() async {
        try? await channel.close()
    }
}

/// An HTTP server could not listen: the address (`host:port`, IPv6 hosts in brackets) and why.
public struct HTTP1ServerError: Error, CustomStringConvertible, Sendable {
    public let address: String
    public let reason: String

    public var description: String { "cannot listen on \(address): \(reason)" }

    static func address(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
