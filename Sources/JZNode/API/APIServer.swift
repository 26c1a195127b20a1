import Foundation
import HTTPServing
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import P2PCore

/// A Kubo-compatible RPC API server: `POST /api/v0/<command>` with query arguments, JSON answers.
///
/// Who may call it is `APIAccess`'s decision (Kubo's rules: POST only, `Origin`/`Referer` checks,
/// `API.Authorizations`); refusals are Kubo's plain-text answers. Bodies are bounded
/// (`maxBodyBytes`; larger ones get 413), except uploads (`uploadCommands`), which go to disk.
/// Each connection serves one request and closes (the CLI makes one request per command).
public final class APIServer: @unchecked Sendable {
    /// Answers one request.
    public typealias Handler = @Sendable (APIRequest) async -> APIResponse

    private let group: any EventLoopGroup
    private let handler: Handler
    private let logger: Logger
    private let maxBodyBytes: Int
    private let lock = Mutex()
    private var listener: HTTP1Server?
    /// The rules, with `<port>` in the default origins set once bound.
    private var access: APIAccess

    /// Commands whose multipart body carries data (files, CARs, blocks): written to a temporary
    /// folder as it arrives (`APIRequest.upload`), bounded by free disk space only.
    public static let uploadCommands: Set<String> = ["add", "block/put", "dag/put", "dag/import", "commit"]
    /// Upload bytes gathered before each write to disk.
    static let uploadBatchBytes = 1 << 20

    /// `maxBodyBytes` bounds every request body held in memory (all but the multipart bodies
    /// of `uploadCommands`).
    public init(
        group: any EventLoopGroup, access: APIAccess = APIAccess(), maxBodyBytes: Int = 4 << 20,
        logger: Logger, handler: @escaping Handler
    ) {
        self.group = group
        self.access = access
        self.handler = handler
        self.logger = logger
        self.maxBodyBytes = maxBodyBytes
    }

    /// Whether a request URI (`/api/v0/<command>?…`) names one of `uploadCommands`.
    static func isUpload(uri: String) -> Bool {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        return path.hasPrefix("/api/v0/") && uploadCommands.contains(String(path.dropFirst("/api/v0/".count)))
    }


    /// Binds `host:port` (port 0 picks one) and serves until `stop()`. Returns the bound port;
    /// an address that cannot be bound (the port taken) throws, naming it.
    public func start(host: String, port: Int) async throws(HTTP1ServerError) -> Int {
        // The access rules name the bound port: set before the first connection is served.
        let server = try await HTTP1Server.start(
            group: group, host: host, port: port, name: "API", logger: logger,
            bound: { [self] port in lock.withLock { access = access.boundTo(port: port) } },
            serve: { [self] connection in await serve(connection) })
        lock.withLock { listener = server }
        return server.port
    }

    /// Stops accepting connections.
    public func stop() async {
        let server = lock.withLock { () -> HTTP1Server? in
            defer { listener = nil }
            return listener
        }
        await server?.stop()
    }

    private func serve(_ connection: HTTP1Server.Connection) async {
        let rules = lock.withLock { access }
        do {
            try await connection.executeThenClose { inbound, _ in
                var head: HTTPRequestHead?
                var decision = APIAccess.Decision.allow(headers: [])
                var body: [UInt8] = []
                var received = 0
                // A multipart body of an upload command goes, as it arrives, through a
                // `MultipartStream` to files in a temporary folder (removed once answered):
                // bounded by free disk space, not by `maxBodyBytes`. Each batch is written
                // before more is read (back-pressure).
                var writer: UploadWriter?
                var pending: [UInt8] = []
                var failure: UploadError?
                // Removing the folder (as many files as were uploaded) is blocking work: on the
                // pool, not awaited (a defer cannot await; nothing uses the folder after this).
                defer { if let writer { BlockingExecutor.pool.submit { writer.remove() } } }
                func flush() async {
                    guard let writer, failure == nil, !pending.isEmpty else { return }
                    let batch = pending
                    pending = []
                    do throws(UploadError) {
                        try await BlockingExecutor.run { () throws(UploadError) in try writer.write(batch) }
                    } catch {
                        failure = error
                        await BlockingExecutor.run { writer.remove() }
                    }
                }
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        let path = URLComponents(string: h.uri)?.path ?? h.uri
                        decision = rules.decide(method: h.method.rawValue, path: path, headers: h.headers.map { ($0.name, $0.value) })
                        if case .deny(let status, _, _) = decision {
                            logger.debug("API refused \(h.method.rawValue) \(path): \(status)")
                            continue
                        }
                        let declared = h.headers.first(name: "Content-Length").flatMap(Int.init)
                        let contentType = h.headers.first(name: "Content-Type") ?? ""
                        if h.method == .POST, Self.isUpload(uri: h.uri), contentType.lowercased().hasPrefix("multipart/"),
                           let layout = UploadLayout.of(command: String(path.dropFirst("/api/v0/".count)))
                        {
                            do throws(UploadError) {
                                writer = try UploadWriter(contentType: contentType, layout: layout, declaredBytes: declared.map(Int64.init))
                            } catch {
                                failure = error
                            }
                        } else if let declared, declared <= maxBodyBytes {
                            body.reserveCapacity(declared)
                        }
                    case .body(var buffer):
                        // Refused, failed or oversized requests are drained, not kept, then answered.
                        received += buffer.readableBytes
                        guard case .allow = decision, failure == nil else { continue }
                        if writer != nil {
                            if let bytes = buffer.readBytes(length: buffer.readableBytes) { pending += bytes }
                            if pending.count >= Self.uploadBatchBytes { await flush() }
                            continue
                        }
                        guard received <= maxBodyBytes else {
                            body = []
                            continue
                        }
                        if let bytes = buffer.readBytes(length: buffer.readableBytes) { body += bytes }
                    case .end:
                        guard let head else { return }
                        switch decision {
                        case .deny(let status, let text, let headers):
                            try await writePlain(status: status, text: text, headers: headers, to: connection.channel)
                        case .allow(let headers):
                            var upload: UploadedFolder?
                            if let writer, failure == nil {
                                await flush()
                                if failure == nil {
                                    do throws(UploadError) {
                                        upload = try await BlockingExecutor.run { () throws(UploadError) in try writer.finish() }
                                    } catch {
                                        failure = error
                                    }
                                }
                            }
                            let response: APIResponse
                            if let failure {
                                response = .error(status: failure.status, message: "\(failure)")
                            } else if writer == nil, received > maxBodyBytes {
                                response = .error(
                                    status: 413,
                                    message: "request body of \(received) bytes is larger than the API limit of \(maxBodyBytes) bytes")
                            } else {
                                response = await route(head, body: body, upload: upload)
                            }
                            try await write(response, headers: headers, to: connection.channel)
                        }
                        return
                    }
                }
            }
        } catch {
            logger.debug("API connection ended: \(error)")
        }
    }

    private func route(_ head: HTTPRequestHead, body: [UInt8], upload: UploadedFolder?) async -> APIResponse {
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
            upload: upload))
    }

    /// A refusal as Go's `http.Error` writes it (plain text and a newline); 204 has no body.
    private func writePlain(status: Int, text: String, headers extra: [APIAccess.Header], to channel: any Channel) async throws {
        let outbound = ChannelPartWriter(channel: channel)
        var headers = HTTPHeaders()
        for header in extra { headers.add(name: header.name, value: header.value) }
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Server", value: "jz-node/\(JZNodeInfo.version)")
        let payload = status == 204 ? ByteBuffer() : ByteBuffer(string: text + "\n")
        if status != 204 {
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            headers.add(name: "X-Content-Type-Options", value: "nosniff")
            headers.add(name: "Content-Length", value: String(payload.readableBytes))
        }
        try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)))
        if payload.readableBytes > 0 { try await outbound.write(.body(.byteBuffer(payload))) }
        try await outbound.write(.end(nil))
    }

    /// Writes the answer through the channel, each part awaited until it reached the socket: the
    /// connection is closed right after, and `NIOAsyncChannel.executeThenClose` would drop writes
    /// still buffered in its outbound writer (a long `cat` lost its last megabytes).
    private func write(_ response: APIResponse, headers extra: [APIAccess.Header], to channel: any Channel) async throws {
        let outbound = ChannelPartWriter(channel: channel)
        var headers = HTTPHeaders()
        for header in extra { headers.add(name: header.name, value: header.value) }
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
