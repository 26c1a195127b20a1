import Foundation

/// One RPC call: `POST /api/v0/<command>?arg=…&flag=…` as Kubo's HTTP API takes it.
public struct APIRequest: Sendable {
    /// The command path after `/api/v0/`, e.g. `swarm/connect`.
    public let command: String
    /// Query parameters in order; `arg` may repeat.
    public let parameters: [(String, String)]
    /// The request body, held in memory (bounded by the server: `APIServer.maxBodyBytes`);
    /// empty for an upload, whose parts are in `upload`.
    public let body: [UInt8]
    /// The request's `Content-Type` (a multipart body names its boundary there).
    public let contentType: String?
    /// The parts of a multipart body sent to one of `APIServer.uploadCommands`, written to a
    /// temporary folder as they arrived (removed once the response is written).
    public let upload: UploadedFolder?

    public init(
        command: String, parameters: [(String, String)], body: [UInt8] = [], contentType: String? = nil, upload: UploadedFolder? = nil
    ) {
        self.command = command
        self.parameters = parameters
        self.body = body
        self.contentType = contentType
        self.upload = upload
    }

    /// The uploaded parts, or why there are none (the body is not multipart).
    public func uploadedFolder() throws(MultipartError) -> UploadedFolder {
        guard let upload else { throw .badContentType(contentType ?? "") }
        return upload
    }

    /// Every `arg` value, in order.
    public var arguments: [String] { parameters.filter { $0.0 == "arg" }.map(\.1) }
    /// The first value of `name`.
    public func value(_ name: String) -> String? { parameters.first { $0.0 == name }?.1 }
    /// A boolean option: present without a value, `true`/`false`, or absent (`defaultValue`).
    public func flag(_ name: String, default defaultValue: Bool = false) -> Bool {
        guard let raw = value(name) else { return defaultValue }
        return raw.isEmpty || raw == "true" || raw == "1"
    }
}

/// What a route answers.
public enum APIResponse: Sendable {
    /// One JSON document (HTTP 200).
    case json(JSONValue)
    /// Newline-delimited JSON documents sent as they are produced (HTTP 200, chunked), as Kubo
    /// streams `ping` and progress; the stream ends the response.
    case stream(AsyncStream<JSONValue>)
    /// Binary data sent as it is produced (HTTP 200, chunked) with its content type, as Kubo
    /// streams `cat`, `get` (a tar) and `block/get`. A thrown error ends the response early
    /// with Kubo's `X-Stream-Error` trailer.
    case bytes(AsyncThrowingStream<[UInt8], any Error>, contentType: String)
    /// A failure: HTTP status and Kubo's error document `{"Message", "Code", "Type": "error"}`.
    case error(status: Int, message: String)

    /// Kubo's "bad request" (400) and "internal error" (500) shapes.
    public static func badRequest(_ message: String) -> APIResponse { .error(status: 400, message: message) }
    public static func failure(_ message: String) -> APIResponse { .error(status: 500, message: message) }

    /// Kubo's error document.
    static func errorDocument(_ message: String, code: Int) -> JSONValue {
        ["Message": .string(message), "Code": .int(Int64(code)), "Type": "error"]
    }
}

/// Errors of the API client and server.
public enum APIError: Error, Sendable, CustomStringConvertible, Equatable {
    /// No daemon answers at the node home's API address.
    case noDaemon(home: String)
    /// The API address in `<home>/api` or the config cannot be used.
    case badAddress(String)
    /// The daemon answered with an error document.
    case remote(status: Int, message: String)
    /// The connection failed or the answer was not HTTP/JSON.
    case transport(String)

    public var description: String {
        switch self {
        case .noDaemon(let home):
            return "this command needs a running daemon: start `jz-node daemon` (node home \(home))"
        case .badAddress(let a): return "API address \(a) is not usable (want /ip4|ip6/…/tcp/PORT)"
        case .remote(_, let message): return message
        case .transport(let reason): return "talking to the daemon failed: \(reason)"
        }
    }
}
