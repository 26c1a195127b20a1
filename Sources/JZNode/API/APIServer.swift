import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import P2PCore

/// A Kubo-compatible RPC API server: `POST /api/v0/<command>` with query arguments, JSON answers.
///
/// Only POST is accepted (Kubo answers 405 to GET). Bodies are bounded (`maxBodyBytes`). Each
/// connection serves one request and closes (the CLI makes one request per command).
public final class APIServer: @unchecked Sendable {
    /// Answers one request.
    public typealias Handler = @Sendable (APIRequest) async -> APIResponse

    private let group: any EventLoopGroup
    private let handler: Handler
    private let logger: Logger
    private let maxBodyBytes: Int
    private let maxUploadBytes: Int
    private let lock = Mutex()
    private var serverChannel: Channel?

    /// Commands whose body carries data (multipart files or blocks): bounded by `maxUploadBytes`.
    public static let uploadCommands: Set<String> = ["add", "block/put", "dag/put"]

    /// `maxBodyBytes` bounds every request body (held in memory), `maxUploadBytes` (default
    /// 1 GiB) the bodies of `uploadCommands`, which are spooled to a temporary file as they
    /// arrive (`APIRequest.bodyFile`; removed once the handler returned).
    public init(
        group: any EventLoopGroup, maxBodyBytes: Int = 4 << 20, maxUploadBytes: Int = 1 << 30, logger: Logger,
        handler: @escaping Handler
    ) {
        self.group = group
        self.handler = handler
        self.logger = logger
        self.maxBodyBytes = maxBodyBytes
        self.maxUploadBytes = maxUploadBytes
    }

    /// Whether a request URI (`/api/v0/<command>?…`) names one of `uploadCommands`.
    static func isUpload(uri: String) -> Bool {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        return path.hasPrefix("/api/v0/") && uploadCommands.contains(String(path.dropFirst("/api/v0/".count)))
    }

    /// The body bound for a request URI.
    func bodyLimit(uri: String) -> Int {
        Self.isUpload(uri: uri) ? maxUploadBytes : maxBodyBytes
    }

    /// Binds `host:port` (port 0 picks one) and serves until `stop()`. Returns the bound port.
    public func start(host: String, port: Int) async throws -> Int {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        lock.withLock { serverChannel = server.channel }
        let boundPort = server.channel.localAddress?.port ?? port
        Task { [self] in
            do {
                try await withThrowingDiscardingTaskGroup { group in
                    try await server.executeThenClose { connections in
                        for try await connection in connections {
                            group.addTask { await self.serve(connection) }
                        }
                    }
                }
            } catch {
                logger.debug("API server stopped: \(error)")
            }
        }
        return boundPort
    }

    /// Stops accepting connections.
    public func stop() async {
        let channel = lock.withLock { () -> Channel? in
            defer { serverChannel = nil }
            return serverChannel
        }
        try? await channel?.close()
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body: [UInt8] = []
                var tooLarge = false
                var limit = maxBodyBytes
                // Upload commands' bodies go to a temporary file as they arrive.
                var spool: BodySpool?
                defer { spool?.remove() }
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        limit = bodyLimit(uri: h.uri)
                        if Self.isUpload(uri: h.uri) && h.method == .POST {
                            spool = try BodySpool()
                        } else if let declared = h.headers.first(name: "Content-Length").flatMap(Int.init), declared <= limit {
                            body.reserveCapacity(declared)
                        }
                    case .body(var buffer):
                        let received = (spool?.count ?? body.count) + buffer.readableBytes
                        if tooLarge || received > limit {
                            tooLarge = true
                            body = []
                        } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                            if let spool { try await spool.append(bytes) } else { body += bytes }
                        }
                    case .end:
                        guard let head else { return }
                        let response: APIResponse
                        if tooLarge {
                            response = .error(status: 413, message: "request body larger than \(limit) bytes")
                        } else {
                            try await spool?.flush()
                            response = await route(head, body: body, bodyFile: spool?.path)
                        }
                        try await write(response, to: connection.channel)
                        return
                    }
                }
            }
        } catch {
            logger.debug("API connection ended: \(error)")
        }
    }

    private func route(_ head: HTTPRequestHead, body: [UInt8], bodyFile: String?) async -> APIResponse {
        guard let components = URLComponents(string: head.uri), components.path.hasPrefix("/api/v0/") else {
            return .error(status: 404, message: "404 page not found: \(head.uri)")
        }
        guard head.method == .POST else {
            return .error(status: 405, message: "405 - Method Not Allowed: use POST")
        }
        let command = String(components.path.dropFirst("/api/v0/".count))
        let parameters = (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }
        logger.debug("API \(command)")
        return await handler(APIRequest(
            command: command, parameters: parameters, body: body, contentType: head.headers.first(name: "Content-Type"),
            bodyFile: bodyFile))
    }

    /// Writes the answer through the channel, each part awaited until it reached the socket: the
    /// connection is closed right after, and `NIOAsyncChannel.executeThenClose` would drop writes
    /// still buffered in its outbound writer (a long `cat` lost its last megabytes).
    private func write(_ response: APIResponse, to channel: any Channel) async throws {
        let outbound = ChannelPartWriter(channel: channel)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Server", value: "jz-node/\(JZNodeInfo.version)")
        func bytes(_ value: JSONValue) -> ByteBuffer {
            ByteBuffer(string: value.serialized(indent: nil) + "\n")
        }
        switch response {
        case .json(let value):
            let payload = bytes(value)
            headers.add(name: "Content-Length", value: String(payload.readableBytes))
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
            try await outbound.write(.body(.byteBuffer(payload)))
            try await outbound.write(.end(nil))
        case .error(let status, let message):
            let payload = bytes(APIResponse.errorDocument(message, code: 0))
            headers.add(name: "Content-Length", value: String(payload.readableBytes))
            let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
            try await outbound.write(.head(head))
            try await outbound.write(.body(.byteBuffer(payload)))
            try await outbound.write(.end(nil))
        case .stream(let values):
            headers.add(name: "Transfer-Encoding", value: "chunked")
            headers.add(name: "X-Stream-Output", value: "1")
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
            for await value in values {
                try await outbound.write(.body(.byteBuffer(bytes(value))))
            }
            try await outbound.write(.end(nil))
        case .bytes(let chunks, let contentType):
            headers.replaceOrAdd(name: "Content-Type", value: contentType)
            headers.add(name: "Transfer-Encoding", value: "chunked")
            headers.add(name: "X-Stream-Output", value: "1")
            headers.add(name: "Trailer", value: "X-Stream-Error")
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
            do {
                for try await chunk in chunks where !chunk.isEmpty {
                    try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk))))
                }
            } catch {
                try await outbound.write(.end(HTTPHeaders([("X-Stream-Error", "\(error)")])))
                return
            }
            try await outbound.write(.end(nil))
        }
    }
}

/// Writes response parts to a channel and waits until each one is written.
private struct ChannelPartWriter {
    let channel: any Channel

    func write(_ part: HTTPServerResponsePart) async throws {
        try await channel.writeAndFlush(part).get()
    }
}
