import Foundation

/// A part's header fields (names lowercased) and what Kubo's clients say in them.
public struct MultipartHeaders: Sendable, Equatable {
    public let fields: [String: String]

    public init(_ fields: [String: String]) {
        self.fields = fields
    }

    /// `Content-Disposition`'s `name`.
    public var name: String? { disposition["name"] }
    /// `Content-Disposition`'s `filename`, percent-decoded (Kubo's clients encode `/` as `%2F`).
    public var filename: String? {
        guard let raw = disposition["filename"] else { return nil }
        return raw.removingPercentEncoding ?? raw
    }
    /// `Content-Type` (default `application/octet-stream`).
    public var contentType: String { fields["content-type"] ?? "application/octet-stream" }
    /// A folder entry as Kubo's clients send it (`application/x-directory`).
    public var isDirectory: Bool { contentType.lowercased().hasPrefix("application/x-directory") }
    /// A symlink entry (`application/symlink`); the data is the target.
    public var isSymlink: Bool { contentType.lowercased().hasPrefix("application/symlink") }

    private var disposition: [String: String] {
        MultipartParser.headerParameters(fields["content-disposition"] ?? "")
    }
}

/// One part of a `multipart/form-data` body held in memory.
public struct MultipartPart: Sendable, Equatable {
    /// Header fields, names lowercased.
    public let headers: [String: String]
    /// The part's bytes.
    public let content: [UInt8]

    public init(headers: [String: String], data: [UInt8]) {
        self.headers = headers
        self.content = data
    }

    private var described: MultipartHeaders { MultipartHeaders(headers) }
    /// `Content-Disposition`'s `filename`, percent-decoded.
    public var filename: String? { described.filename }
    /// `Content-Type` (default `application/octet-stream`).
    public var contentType: String { described.contentType }
    /// A folder entry (`application/x-directory`).
    public var isDirectory: Bool { described.isDirectory }
}

/// Why a multipart body cannot be read.
public enum MultipartError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `Content-Type` is not `multipart/…` with a usable boundary.
    case badContentType(String)
    /// The body does not start with the boundary, or ends before the closing boundary.
    case truncated(part: Int)
    /// A part's headers are malformed.
    case badHeaders(part: Int)
    /// A part's header block is larger than the bound.
    case headersTooLarge(part: Int, limit: Int)

    public var description: String {
        switch self {
        case .badContentType(let t): return "multipart: content type \"\(t)\" has no usable boundary"
        case .truncated(let p): return "multipart: body ends inside part \(p) (no closing boundary)"
        case .badHeaders(let p): return "multipart: part \(p) has malformed headers"
        case .headersTooLarge(let p, let limit): return "multipart: the headers of part \(p) are larger than \(limit) bytes"
        }
    }
}

/// Reads `multipart/form-data` bodies (RFC 7578), as Kubo's HTTP clients send files and folders;
/// the header grammar shared with `MultipartStream`, which does the parsing.
public enum MultipartParser {
    /// The parts of a whole body held in memory; `contentType` carries the boundary.
    public static func parse(_ body: [UInt8], contentType: String) throws(MultipartError) -> [MultipartPart] {
        var stream = try MultipartStream(contentType: contentType)
        var parts: [MultipartPart] = []
        var headers: [String: String] = [:]
        var content: [UInt8] = []
        for event in try stream.feed(body) {
            switch event {
            case .part(let h): (headers, content) = (h.fields, [])
            case .content(let bytes): content += bytes
            case .partEnd: parts.append(MultipartPart(headers: headers, data: content))
            case .finished: break
            }
        }
        try stream.finish()
        return parts
    }

    /// `key=value` parameters of a header value (`form-data; name="file"; filename="a%2Fb"`),
    /// keys lowercased, quotes removed.
    static func headerParameters(_ value: String) -> [String: String] {
        var result: [String: String] = [:]
        var rest = Substring(value)
        // Skip the leading token (`form-data`, `multipart/form-data`).
        guard let firstSemicolon = rest.firstIndex(of: ";") else { return result }
        rest = rest[rest.index(after: firstSemicolon)...]
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "\t" || $0 == ";" }
            guard let equals = rest.firstIndex(of: "=") else { break }
            let key = rest[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: equals)...]
            var parsed = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if escaped { parsed.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { break } else { parsed.append(c) }
                }
                if let semicolon = rest.firstIndex(of: ";") { rest = rest[semicolon...] } else { rest = "" }
            } else {
                let end = rest.firstIndex(of: ";") ?? rest.endIndex
                parsed = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            result[key] = parsed
        }
        return result
    }

    /// A part's header block (`Name: value` lines separated by CRLF).
    static func parseHeaders(_ bytes: [UInt8], part: Int) throws(MultipartError) -> [String: String] {
        guard !bytes.isEmpty else { return [:] }
        guard let text = String(bytes: bytes, encoding: .utf8) else { throw .badHeaders(part: part) }
        var headers: [String: String] = [:]
        for line in text.components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw .badHeaders(part: part) }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            guard !name.isEmpty else { throw .badHeaders(part: part) }
            headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return headers
    }

    /// The first index of `needle` in `haystack` at or after `start`.
    static func find(_ needle: [UInt8], in hay: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard let first = needle.first, hay.count - start >= needle.count, let base = hay.baseAddress else { return nil }
        return needle.withUnsafeBufferPointer { pin -> Int? in
            var i = start
            let last = hay.count - pin.count
            while i <= last {
                guard let hit = memchr(base + i, Int32(first), last - i + 1) else { return nil }
                let offset = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if memcmp(base + offset, pin.baseAddress!, pin.count) == 0 { return offset }
                i = offset + 1
            }
            return nil
        }
    }
}
