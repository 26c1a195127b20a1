import Foundation
import Multiformats
import NIOCore
import NIOHTTP1
import NIOPosix

/// The CLI's client of the daemon's RPC API: SwiftNIO's HTTP/1.1 codec (chunked answers,
/// trailers) under a blocking interface, for the synchronous commands.
///
/// `APIClient.find(home:)` reads `<home>/api` (written by a running daemon). Each call is one
/// `POST /api/v0/<command>` on a new connection. Answers are read as they arrive, with
/// back-pressure: a slow consumer (a `cat` into a pipe) holds the daemon back instead of
/// buffering the answer; uploads are streamed from disk.
public struct APIClient: Sendable, Equatable {
    /// Host (numeric) and port of the API.
    public let host: String
    public let port: Int
    /// Seconds the daemon may stay silent (connecting, or between two parts of the answer)
    /// before the call fails.
    public var timeout: Double
    /// The `Authorization` header sent with each call (the daemon's `API.Authorizations`), or nil.
    public var authorization: String?

    public init(host: String, port: Int, timeout: Double = 120) {
        self.host = host
        self.port = port
        self.timeout = timeout
    }

    /// The client of the daemon running on `home`, or nil when none runs (no `api` file, or a
    /// stale one nobody listens on). It authenticates with `$JZ_API_AUTH` or the home's own
    /// `API.Authorizations` (see `APIAccess.clientAuthorization`).
    public static func find(home: NodeHome) -> APIClient? {
        guard let text = try? String(contentsOfFile: home.apiFilePath, encoding: .utf8),
            var client = try? APIClient(multiaddr: text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        client.authorization = APIAccess.clientAuthorization(
            config: try? home.loadConfig(), environment: ProcessInfo.processInfo.environment)
        return client.isReachable() ? client : nil
    }

    /// A client for an API multiaddr such as `/ip4/127.0.0.1/tcp/5101`.
    public init(multiaddr text: String) throws(APIError) {
        guard let address = try? Multiaddr(text), let tcp = address.value(for: .tcp),
            let port = Int(tcp.valueString)
        else { throw .badAddress(text) }
        if let ip4 = address.value(for: .ip4) {
            host = ip4.valueString
        } else if let ip6 = address.value(for: .ip6) {
            host = ip6.valueString
        } else {
            throw .badAddress(text)
        }
        self.port = port
        timeout = 120
    }

    /// True when something accepts TCP connections at the address.
    public func isReachable() -> Bool {
        guard let channel = try? connect(timeout: 2, queue: nil) else { return false }
        try? channel.close().wait()
        return true
    }

    // MARK: - Calls

    /// Calls `command` and returns its JSON answer. Streamed answers (several documents) are
    /// returned as a JSON array.
    public func call(
        _ command: String, arguments: [String] = [], options: [(String, String)] = [], body: [UInt8] = []
    ) throws(APIError) -> JSONValue {
        try call(command, arguments: arguments, options: options, request: body.isEmpty ? .empty : .bytes(body))
    }

    /// Calls `command` with files and folders sent as Kubo's clients send them (multipart).
    public func call(
        _ command: String, arguments: [String] = [], options: [(String, String)] = [], upload: APIUpload
    ) throws(APIError) -> JSONValue {
        try call(command, arguments: arguments, options: options, request: .upload(upload))
    }

    /// Calls `command`, handing each JSON document of the answer to `each` as it arrives
    /// (`isStream` is true for streamed answers such as `ping`).
    public func stream(
        _ command: String, arguments: [String] = [], options: [(String, String)] = [], body: [UInt8] = [],
        each: (JSONValue, _ isStream: Bool) throws -> Void
    ) throws(APIError) {
        try stream(command, arguments: arguments, options: options, request: body.isEmpty ? .empty : .bytes(body), each: each)
    }

    /// `stream` with files and folders uploaded (multipart), e.g. `add` with progress.
    public func stream(
        _ command: String, arguments: [String] = [], options: [(String, String)] = [], upload: APIUpload,
        each: (JSONValue, _ isStream: Bool) throws -> Void
    ) throws(APIError) {
        try stream(command, arguments: arguments, options: options, request: .upload(upload), each: each)
    }

    /// Calls a command that answers with bytes (`cat`, `get`, `block/get`, `dag/export`) and
    /// hands them to `sink` as they arrive. An error document, or Kubo's `X-Stream-Error`
    /// trailer after a partial answer, becomes `APIError.remote`.
    public func download(
        _ command: String, arguments: [String] = [], options: [(String, String)] = [], body: [UInt8] = [],
        to sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws(APIError) {
        let answer = try exchange(command, arguments: arguments, options: options, request: body.isEmpty ? .empty : .bytes(body))
        defer { answer.close() }
        if answer.status >= 300 { try answer.throwError() }
        while let chunk = try answer.next() {
            do {
                try chunk.withUnsafeReadableBytes { try sink($0) }
            } catch {
                throw .transport("\(error)")
            }
        }
        if let failure = answer.trailers?.first(name: "X-Stream-Error"), !failure.isEmpty {
            throw .remote(status: 500, message: failure)
        }
    }

    private func call(
        _ command: String, arguments: [String], options: [(String, String)], request: RequestBody
    ) throws(APIError) -> JSONValue {
        var documents: [JSONValue] = []
        var streamed = false
        try stream(command, arguments: arguments, options: options, request: request) { document, isStream in
            documents.append(document)
            streamed = isStream
        }
        if streamed { return .array(documents) }
        return documents.first ?? .null
    }

    private func stream(
        _ command: String, arguments: [String], options: [(String, String)], request: RequestBody,
        each: (JSONValue, _ isStream: Bool) throws -> Void
    ) throws(APIError) {
        let answer = try exchange(command, arguments: arguments, options: options, request: request)
        defer { answer.close() }
        if answer.status >= 300 { try answer.throwError() }
        let isStream = answer.headers.contains(name: "X-Stream-Output")
        var lines = JSONLines()
        while let chunk = try answer.next() {
            for line in lines.feed(chunk) { try Self.emit(line, isStream: isStream, each) }
        }
        if let last = lines.finish() { try Self.emit(last, isStream: isStream, each) }
        if let failure = answer.trailers?.first(name: "X-Stream-Error"), !failure.isEmpty {
            throw .remote(status: 500, message: failure)
        }
    }

    private static func emit(_ line: [UInt8], isStream: Bool, _ each: (JSONValue, Bool) throws -> Void) throws(APIError) {
        let document: JSONValue
        do { document = try JSONValue.parse(Data(line)) } catch {
            throw .transport("the daemon sent something that is not JSON: \(String(decoding: line.prefix(120), as: UTF8.self))")
        }
        do { try each(document, isStream) } catch { throw .transport("\(error)") }
    }

    static func escape(_ s: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    // MARK: - One exchange

    private enum RequestBody {
        case empty
        case bytes([UInt8])
        case upload(APIUpload)
    }

    /// Sends the request and returns once the answer's head has arrived.
    private func exchange(
        _ command: String, arguments: [String], options: [(String, String)], request: RequestBody
    ) throws(APIError) -> Answer {
        var query: [String] = arguments.map { "arg=\(Self.escape($0))" }
        query += options.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }
        let path = "/api/v0/\(command)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        var headers = HTTPHeaders([("Host", "\(host):\(port)"), ("Connection", "close")])
        if let authorization { headers.add(name: "Authorization", value: authorization) }
        let queue = AnswerQueue()
        let channel = try connect(timeout: timeout, queue: queue)
        let answer = Answer(channel: channel, queue: queue, timeout: timeout)
        do {
            switch request {
            case .empty, .bytes:
                var body: [UInt8] = []
                if case .bytes(let bytes) = request { body = bytes }
                headers.add(name: "Content-Length", value: String(body.count))
                channel.write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers)), promise: nil)
                if !body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
                try channel.writeAndFlush(HTTPClientRequestPart.end(nil)).wait()
            case .upload(let upload):
                headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(upload.boundary)")
                headers.add(name: "Transfer-Encoding", value: "chunked")
                try channel.writeAndFlush(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: path, headers: headers))).wait()
                // At most two chunks in flight: the reader stays ahead of the socket, and a
                // large upload never sits in memory.
                var previous: EventLoopFuture<Void>?
                try upload.write { bytes in
                    let sent = channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: bytes))))
                    try previous?.wait()
                    previous = sent
                }
                try previous?.wait()
                try channel.writeAndFlush(HTTPClientRequestPart.end(nil)).wait()
            }
        } catch let error as APIUpload.ReadError {
            answer.close()
            throw .transport(error.description)
        } catch {
            // The daemon may refuse (403, 413) and close before the whole body is sent: its answer
            // is the better error.
            if (try? answer.waitForHead()) != nil { return answer }
            answer.close()
            throw .transport("sending \(command) to the daemon: \(error)")
        }
        try answer.waitForHead()
        return answer
    }

    private func connect(timeout: Double, queue: AnswerQueue?) throws(APIError) -> any Channel {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(max(timeout, 0.1) * 1000)))
            .channelOption(.autoRead, value: queue == nil)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let queue else { return }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(AnswerHandler(queue: queue))
                }
            }
        do {
            return try bootstrap.connect(host: host, port: port).wait()
        } catch {
            throw .transport("connect to \(host):\(port): \(error)")
        }
    }
}

// MARK: - Answers

/// The answer being read: head, then body chunks pulled with `next()`.
private final class Answer {
    let channel: any Channel
    let queue: AnswerQueue
    let timeout: Double
    private(set) var status = 0
    private(set) var headers = HTTPHeaders()
    private(set) var trailers: HTTPHeaders?
    private var ended = false

    init(channel: any Channel, queue: AnswerQueue, timeout: Double) {
        self.channel = channel
        self.queue = queue
        self.timeout = timeout
    }

    func waitForHead() throws(APIError) {
        guard status == 0 else { return }
        switch try queue.pop(timeout: timeout) {
        case .head(let head):
            status = Int(head.status.code)
            headers = head.headers
        case .body, .end:
            throw .transport("the daemon's answer has no status line")
        case .failed(let reason):
            throw .transport(reason)
        }
    }

    /// The next chunk of the body, or nil at its end.
    func next() throws(APIError) -> ByteBuffer? {
        guard !ended else { return nil }
        switch try queue.pop(timeout: timeout) {
        case .body(let buffer):
            return buffer
        case .end(let trailers):
            self.trailers = trailers
            ended = true
            return nil
        case .head:
            throw .transport("the daemon sent a second answer head")
        case .failed(let reason):
            throw .transport(reason)
        }
    }

    /// Reads an error answer: Kubo's `{"Message": …}` document, or a plain-text refusal (403, 405).
    func throwError() throws(APIError) -> Never {
        var text: [UInt8] = []
        while text.count < 64 * 1024, let chunk = try? next() {
            text += chunk.readableBytesView
        }
        let document = try? JSONValue.parse(Data(text))
        if let message = document?["Message"]?.stringValue {
            throw .remote(status: status, message: message)
        }
        let plain = String(decoding: text.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        throw .remote(status: status, message: plain.isEmpty ? "HTTP \(status)" : "HTTP \(status): \(plain)")
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// What the channel handler hands the reading thread.
private enum AnswerEvent {
    case head(HTTPResponseHead)
    case body(ByteBuffer)
    case end(HTTPHeaders?)
    case failed(String)
}

/// A bounded hand-over from the event loop to the blocked caller. The handler reads from the
/// socket only while fewer than `window` chunks wait here.
private final class AnswerQueue: @unchecked Sendable {
    // Everything below is guarded by `condition`; `wantsRead` is called outside it.
    private let condition = NSCondition()
    private var events: [AnswerEvent] = []
    private var wantsRead: (@Sendable () -> Void)?
    private var readPending = false
    static let window = 8

    /// Called on the event loop. Returns false when the queue is full: the handler then waits
    /// for the drain callback.
    func push(_ event: AnswerEvent) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        events.append(event)
        condition.signal()
        if events.count >= Self.window {
            readPending = true
            return false
        }
        return true
    }

    /// `resume` is called (off the lock) once a full queue has half drained; nil forgets it.
    func onDrain(_ resume: (@Sendable () -> Void)?) {
        condition.lock()
        wantsRead = resume
        condition.unlock()
    }

    func pop(timeout: Double) throws(APIError) -> AnswerEvent {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        while events.isEmpty {
            guard condition.wait(until: deadline) || !events.isEmpty else {
                condition.unlock()
                throw .transport("the daemon did not answer within \(Int(timeout)) s")
            }
        }
        let event = events.removeFirst()
        var resume: (@Sendable () -> Void)?
        if readPending && events.count < Self.window / 2 {
            readPending = false
            resume = wantsRead
        }
        condition.unlock()
        resume?()
        return event
    }
}

/// Forwards the answer to the queue and reads the socket only when the queue has room.
private final class AnswerHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let queue: AnswerQueue
    private var paused = false
    private var finished = false

    init(queue: AnswerQueue) { self.queue = queue }

    func handlerAdded(context: ChannelHandlerContext) {
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        queue.onDrain {
            loop.execute {
                let (handler, context) = bound.value
                guard handler.paused else { return }
                handler.paused = false
                context.read()
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        queue.onDrain(nil)
    }

    func channelActive(context: ChannelHandlerContext) {
        context.read()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        let event: AnswerEvent
        switch unwrapInboundIn(data) {
        case .head(let head): event = .head(head)
        case .body(let buffer): event = .body(buffer)
        case .end(let trailers):
            event = .end(trailers)
            finished = true
        }
        if !queue.push(event) { paused = true }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if !paused && !finished { context.read() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail("\(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail("the daemon closed the connection mid-answer")
        context.fireChannelInactive()
    }

    private func fail(_ reason: String) {
        guard !finished else { return }
        finished = true
        _ = queue.push(.failed(reason))
    }
}

/// Splits an answer into newline-delimited JSON documents.
private struct JSONLines {
    private var pending: [UInt8] = []

    mutating func feed(_ chunk: ByteBuffer) -> [[UInt8]] {
        pending += chunk.readableBytesView
        var lines: [[UInt8]] = []
        var start = 0
        while let newline = pending[start...].firstIndex(of: 0x0A) {
            let line = Array(pending[start..<newline])
            start = newline + 1
            if !Self.isBlank(line) { lines.append(line) }
        }
        pending.removeFirst(start)
        return lines
    }

    mutating func finish() -> [UInt8]? {
        defer { pending = [] }
        return Self.isBlank(pending) ? nil : pending
    }

    private static func isBlank(_ line: [UInt8]) -> Bool { line.allSatisfy { $0 == 0x20 || $0 == 0x0D || $0 == 0x09 } }
}

// MARK: - Uploads

/// Files and folders sent as `multipart/form-data`, the way Kubo's clients send `add`: each
/// part's `filename` is its path relative to the upload (percent-encoded), folders are parts
/// of type `application/x-directory`, symbolic links `application/symlink`. File contents are
/// streamed from disk.
public struct APIUpload: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        /// A file read from `path` on disk, named `name` in the upload.
        case file(name: String, path: String)
        /// In-memory bytes named `name` (`block put`, `dag put`, standard input).
        case bytes(name: String, [UInt8])
        /// A folder; its entries are the parts named below it.
        case directory(name: String)
        /// A symbolic link to `target`.
        case symlink(name: String, target: String)
    }

    public var parts: [Part]
    let boundary: String

    public init(parts: [Part]) {
        self.parts = parts
        boundary = "jz-node-" + (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined()
    }

    /// A file on disk that cannot be read while it is sent.
    struct ReadError: Error, CustomStringConvertible {
        let path: String
        let reason: String
        var description: String { "cannot read \(path): \(reason)" }
    }

    /// The whole body, in pieces of at most 1 MiB, handed to `send`.
    func write(_ send: ([UInt8]) throws -> Void) throws {
        let chunkSize = 1 << 20
        for part in parts {
            let (name, type): (String, String)
            switch part {
            case .file(let n, _), .bytes(let n, _): (name, type) = (n, "application/octet-stream")
            case .directory(let n): (name, type) = (n, "application/x-directory")
            case .symlink(let n, _): (name, type) = (n, "application/symlink")
            }
            let encoded = name.addingPercentEncoding(withAllowedCharacters: Self.filenameAllowed) ?? name
            let header = "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(encoded)\"\r\n"
                + "Content-Type: \(type)\r\n\r\n"
            try send(Array(header.utf8))
            switch part {
            case .file(_, let path):
                guard let handle = FileHandle(forReadingAtPath: path) else {
                    throw ReadError(path: path, reason: "no such file, or not readable")
                }
                defer { try? handle.close() }
                while true {
                    let data: Data
                    do { data = try handle.read(upToCount: chunkSize) ?? Data() } catch {
                        throw ReadError(path: path, reason: "\(error)")
                    }
                    if data.isEmpty { break }
                    try send(Array(data))
                }
            case .bytes(_, let bytes):
                var offset = 0
                while offset < bytes.count {
                    let end = min(offset + chunkSize, bytes.count)
                    try send(Array(bytes[offset..<end]))
                    offset = end
                }
            case .symlink(_, let target):
                try send(Array(target.utf8))
            case .directory:
                break
            }
            try send(Array("\r\n".utf8))
        }
        try send(Array("--\(boundary)--\r\n".utf8))
    }

    /// Unreserved characters and `/` stay as they are in `filename` (Kubo's clients escape the rest).
    private static let filenameAllowed: CharacterSet = {
        var set = CharacterSet()
        set.insert(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")
        return set
    }()
}

extension NodeHome {
    /// `<home>/api`: the API multiaddr of the running daemon (as Kubo's `$IPFS_PATH/api`).
    public var apiFilePath: String { (path as NSString).appendingPathComponent("api") }
}
