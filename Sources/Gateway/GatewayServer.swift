import HTTPServing
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import P2PCore

/// Serves a `Gateway` over HTTP/1.1: keep-alive connections, GET and HEAD, streamed bodies
/// with backpressure (the next chunk is produced only after the previous one was written).
public final class GatewayServer: Sendable {
    private let group: any EventLoopGroup
    private let gateway: Gateway
    private let logger: Logger
    private let listener = Locked<HTTP1Server?>(nil)
    /// The version announced in `Server`.
    private let serverName: String

    /// Answers requests the gateway does not (the repository web page under `/webui/`); nil
    /// hands the request to the gateway.
    public typealias Route = @Sendable (_ method: HTTPMethod, _ uri: String, _ headers: HTTPHeaders) async -> GatewayResponse?
    private let route: Route?

    public init(group: any EventLoopGroup, gateway: Gateway, serverName: String = "jz-node", logger: Logger, route: Route? = nil) {
        self.group = group
        self.gateway = gateway
        self.serverName = serverName
        self.logger = logger
        self.route = route
    }

    /// Binds `host:port` (port 0 picks one) and serves until `stop()`. Returns the bound port;
    /// an address that cannot be bound (the port taken) throws, naming it.
    public func start(host: String, port: Int) async throws(HTTP1ServerError) -> Int {
        let server = try await HTTP1Server.start(
            group: group, host: host, port: port, name: "gateway", logger: logger,
            serve: { [self] connection in await serve(connection) })
        listener.withLock { $0 = server }
        return server.port
    }

    /// Stops accepting connections.
    public func stop() async {
        let server = listener.withLock { current -> HTTP1Server? in
            defer { current = nil }
            return current
        }
        await server?.stop()
    }

    private func serve(_ connection: HTTP1Server.Connection) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                for try await part in inbound {
                    switch part {
                    case .head(let h): head = h
                    case .body: continue  // GET and HEAD carry no body worth reading
                    case .end:
                        guard let request = head else { return }
                        head = nil
                        let response: GatewayResponse
                        if let answer = await route?(request.method, request.uri, request.headers) {
                            response = answer
                        } else {
                            response = await gateway.handle(method: request.method, uri: request.uri, headers: request.headers)
                        }
                        let keepAlive = request.isKeepAlive
                        try await write(response, for: request, keepAlive: keepAlive, to: outbound)
                        if !keepAlive { return }
                    }
                }
            }
        } catch {
            logger.debug("gateway connection ended: \(error)")
        }
    }

    private func write(
        _ response: GatewayResponse, for request: HTTPRequestHead, keepAlive: Bool,
        to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>
    ) async throws {
        var headers = HTTPHeaders()
        headers.add(name: "Server", value: serverName)
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        if case .stream(_, nil) = response.body, request.method != .HEAD {
            headers.add(name: "Transfer-Encoding", value: "chunked")
        }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if request.version.major == 1 && request.version.minor == 0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        let head = HTTPServerResponsePart.head(
            HTTPResponseHead(version: request.version, status: HTTPResponseStatus(statusCode: response.status), headers: headers))
        // An answer in memory goes out in one write (one hop to the event loop, one flush).
        switch response.body {
        case .stream(let source, _) where request.method != .HEAD:
            try await outbound.write(head)
            try await stream(source, to: outbound)
            try await outbound.write(.end(nil))
        case .bytes(let bytes) where request.method != .HEAD && !bytes.isEmpty:
            try await outbound.write(contentsOf: [head, .body(.byteBuffer(ByteBuffer(bytes: bytes))), .end(nil)])
        case .empty, .bytes, .stream:
            try await outbound.write(contentsOf: [head, .end(nil)])
        }
    }

    /// Writes the chunks of `source`, producing the next one while the current one is written.
    private func stream(_ source: GatewayChunkSource, to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var next = Task { try await BlockingExecutor.run { try source.next() } }
        while let chunk = try await next.value {
            next = Task { try await BlockingExecutor.run { try source.next() } }
            do {
                try await outbound.write(.body(.byteBuffer(chunk)))
            } catch {
                _ = try? await next.value
                throw error
            }
        }
    }
}
