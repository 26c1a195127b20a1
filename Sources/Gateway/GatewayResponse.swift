import NIOCore

/// A producer of body chunks, pulled one at a time (never concurrently) by the server: the
/// next chunk is asked for only once the previous one was written, so a slow client slows
/// the producer down instead of filling memory. `nil` ends the body.
public final class GatewayChunkSource: @unchecked Sendable {
    private let produce: () throws -> ByteBuffer?

    /// `produce` runs on the blocking executor (it may read the block store).
    public init(_ produce: @escaping () throws -> ByteBuffer?) {
        self.produce = produce
    }

    func next() throws -> ByteBuffer? { try produce() }
}

/// A response body.
public enum GatewayBody: Sendable {
    case empty
    case bytes([UInt8])
    /// Streamed; `length` (Content-Length) when known, chunked otherwise.
    case stream(GatewayChunkSource, length: UInt64?)
}

/// One gateway answer: status, headers (in order) and body. HEAD answers carry the same
/// headers and no body (the server drops it).
public struct GatewayResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: GatewayBody

    public init(status: Int, headers: [(String, String)] = [], body: GatewayBody = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// A plain-text error answer.
    static func text(_ status: Int, _ message: String, headers: [(String, String)] = []) -> GatewayResponse {
        let body = Array((message + "\n").utf8)
        return GatewayResponse(
            status: status,
            headers: headers + [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", String(body.count))],
            body: .bytes(body))
    }
}
