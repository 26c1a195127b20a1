import Foundation
import Multiformats

#if canImport(Glibc)
import Glibc
#endif

/// A small blocking HTTP/1.1 client for the daemon's RPC API, used by the CLI.
///
/// `APIClient.find(home:)` reads `<home>/api` (written by a running daemon). Each call is one
/// `POST /api/v0/<command>` on a new connection.
public struct APIClient: Sendable, Equatable {
    /// Host (numeric) and port of the API.
    public let host: String
    public let port: Int
    /// Seconds a call may take before it fails.
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
        guard let fd = try? connectSocket(timeout: 2) else { return false }
        close(fd)
        return true
    }

    /// Calls `command` and returns its JSON answer. Streamed answers (several documents) are
    /// returned as a JSON array.
    public func call(
        _ command: String, arguments: [String] = [], options: [(String, String)] = [], body: [UInt8] = []
    ) throws(APIError) -> JSONValue {
        var documents: [JSONValue] = []
        var streamed = false
        try stream(command, arguments: arguments, options: options, body: body) { document, isStream in
            documents.append(document)
            streamed = isStream
        }
        if streamed { return .array(documents) }
        return documents.first ?? .null
    }

    /// Calls `command`, handing each JSON document of the answer to `each` as it arrives
    /// (`isStream` is true for streamed answers such as `ping`).
    public func stream(
        _ command: String, arguments: [String] = [], options: [(String, String)] = [], body: [UInt8] = [],
        each: (JSONValue, _ isStream: Bool) throws -> Void
    ) throws(APIError) {
        var query: [String] = arguments.map { "arg=\(Self.escape($0))" }
        query += options.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }
        let path = "/api/v0/\(command)" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
        let fd = try connectSocket(timeout: timeout)
        defer { close(fd) }
        let auth = authorization.map { "Authorization: \($0)\r\n" } ?? ""
        let request = "POST \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n\(auth)Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        try sendAll(fd, Array(request.utf8) + body)
        var reader = SocketReader(fd: fd)
        let statusLine = try reader.line()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw .transport("not an HTTP answer: \(statusLine.prefix(80))")
        }
        var headers: [String: String] = [:]
        while true {
            let line = try reader.line()
            if line.isEmpty { break }
            if let colon = line.firstIndex(of: ":") {
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        let chunked = headers["transfer-encoding"]?.lowercased() == "chunked"
        let isStream = headers["x-stream-output"] != nil
        var pending: [UInt8] = []
        func emitLines(final: Bool) throws(APIError) {
            while let newline = pending.firstIndex(of: 0x0A) {
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                try emit(line)
            }
            if final && !pending.isEmpty {
                try emit(pending)
                pending = []
            }
        }
        func emit(_ line: [UInt8]) throws(APIError) {
            guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) else { return }
            let document: JSONValue
            do { document = try JSONValue.parse(Data(line)) } catch {
                // Refusals (403, 405) are plain text, as Kubo's.
                if status >= 300 { throw .remote(status: status, message: "HTTP \(status): " + String(decoding: line.prefix(300), as: UTF8.self)) }
                throw .transport("the daemon sent something that is not JSON: \(String(decoding: line.prefix(120), as: UTF8.self))")
            }
            if status >= 300 {
                throw .remote(status: status, message: document["Message"]?.stringValue ?? "HTTP \(status)")
            }
            do { try each(document, isStream) } catch { throw .transport("\(error)") }
        }
        if chunked {
            while true {
                let sizeLine = try reader.line()
                guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else {
                    throw .transport("bad chunk size \(sizeLine.prefix(20))")
                }
                if size == 0 { break }
                pending += try reader.bytes(size)
                _ = try reader.line()
                try emitLines(final: false)
            }
        } else if let length = headers["content-length"].flatMap(Int.init) {
            pending = try reader.bytes(length)
        } else {
            pending = try reader.rest()
        }
        try emitLines(final: true)
        if status >= 300 { throw .remote(status: status, message: "HTTP \(status)") }
    }

    static func escape(_ s: String) -> String {
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&=+?#")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    private func connectSocket(timeout: Double) throws(APIError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICHOST
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            throw .badAddress("\(host):\(port)")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw .transport("socket: \(String(cString: strerror(errno)))") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .transport("connect to \(host):\(port): \(reason)")
        }
        return fd
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws(APIError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw .transport("send: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }
}

/// Buffered reads of a blocking socket.
private struct SocketReader {
    let fd: Int32
    var buffer: [UInt8] = []

    init(fd: Int32) { self.fd = fd }

    /// Reads more; false at EOF.
    mutating func fill() throws(APIError) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 {
            throw .transport(errno == EAGAIN || errno == EWOULDBLOCK ? "the daemon did not answer in time" : String(cString: strerror(errno)))
        }
        if n == 0 { return false }
        buffer += chunk[..<n]
        return true
    }

    mutating func line() throws(APIError) -> String {
        while true {
            if let i = buffer.firstIndex(of: 0x0A) {
                var line = Array(buffer[..<i])
                buffer.removeSubrange(...i)
                if line.last == 0x0D { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw .transport("the daemon closed the connection mid-answer") }
        }
    }

    mutating func bytes(_ count: Int) throws(APIError) -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw .transport("the daemon closed the connection mid-answer") }
        }
        let out = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return out
    }

    mutating func rest() throws(APIError) -> [UInt8] {
        while try fill() {}
        defer { buffer = [] }
        return buffer
    }
}

extension NodeHome {
    /// `<home>/api`: the API multiaddr of the running daemon (as Kubo's `$IPFS_PATH/api`).
    public var apiFilePath: String { (path as NSString).appendingPathComponent("api") }
}
