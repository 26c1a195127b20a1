import Foundation

/// One part of a `multipart/form-data` body.
public struct MultipartPart: Sendable, Equatable {
    /// Header fields, names lowercased.
    public let headers: [String: String]
    /// The part's bytes: a slice of the body (no copy; a spooled body stays memory-mapped).
    public let content: Data

    public init(headers: [String: String], content: Data) {
        self.headers = headers
        self.content = content
    }

    public init(headers: [String: String], data: [UInt8]) {
        self.init(headers: headers, content: Data(data))
    }

    /// The part's bytes, copied.
    public var data: [UInt8] { Array(content) }

    /// `Content-Disposition`'s `name`.
    public var name: String? { disposition["name"] }
    /// `Content-Disposition`'s `filename`, percent-decoded (Kubo's clients encode `/` as `%2F`).
    public var filename: String? {
        guard let raw = disposition["filename"] else { return nil }
        return raw.removingPercentEncoding ?? raw
    }
    /// `Content-Type` (default `application/octet-stream`).
    public var contentType: String { headers["content-type"] ?? "application/octet-stream" }
    /// A folder entry as Kubo's clients send it (`application/x-directory`).
    public var isDirectory: Bool { contentType.lowercased().hasPrefix("application/x-directory") }
    /// A symlink entry (`application/symlink`); the data is the target.
    public var isSymlink: Bool { contentType.lowercased().hasPrefix("application/symlink") }

    private var disposition: [String: String] {
        MultipartParser.headerParameters(headers["content-disposition"] ?? "")
    }
}

/// Why a multipart body cannot be read.
public enum MultipartError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `Content-Type` is not `multipart/…` with a usable boundary.
    case badContentType(String)
    /// The body does not start with the boundary, or ends before the closing boundary.
    case truncated(part: Int)
    /// A part's headers are malformed.
    case badHeaders(part: Int)
    /// A part is larger than the bound.
    case partTooLarge(part: Int, limit: Int)

    public var description: String {
        switch self {
        case .badContentType(let t): return "multipart: content type \"\(t)\" has no usable boundary"
        case .truncated(let p): return "multipart: body ends inside part \(p) (no closing boundary)"
        case .badHeaders(let p): return "multipart: part \(p) has malformed headers"
        case .partTooLarge(let p, let limit): return "multipart: part \(p) is larger than \(limit) bytes"
        }
    }
}

/// Reads `multipart/form-data` bodies (RFC 7578), as Kubo's HTTP clients send files and folders.
public enum MultipartParser {
    /// The parts of `body`; `contentType` carries the boundary.
    public static func parse(_ body: [UInt8], contentType: String, maxPartBytes: Int = Int.max) throws(MultipartError) -> [MultipartPart] {
        try parse(Data(body), contentType: contentType, maxPartBytes: maxPartBytes)
    }

    /// The parts of `body` (parts are slices of it).
    public static func parse(_ data: Data, contentType: String, maxPartBytes: Int = Int.max) throws(MultipartError) -> [MultipartPart] {
        let result = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Result<[(headers: [String: String], range: Range<Int>)], MultipartError> in
            Result { () throws(MultipartError) in
                try Self.spans(raw.bindMemory(to: UInt8.self), contentType: contentType, maxPartBytes: maxPartBytes)
            }
        }
        let found = try result.get()
        let start = data.startIndex
        return found.map { MultipartPart(headers: $0.headers, content: data[(start + $0.range.lowerBound)..<(start + $0.range.upperBound)]) }
    }

    /// Each part's headers and the range of its bytes in `body`.
    static func spans(
        _ body: UnsafeBufferPointer<UInt8>, contentType: String, maxPartBytes: Int
    ) throws(MultipartError) -> [(headers: [String: String], range: Range<Int>)] {
        let type = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard type.hasPrefix("multipart/"), let boundary = headerParameters(contentType)["boundary"],
              !boundary.isEmpty, boundary.utf8.count <= 200
        else { throw .badContentType(contentType) }
        let delimiter = Array("--\(boundary)".utf8)
        let separator = Array("\r\n--\(boundary)".utf8)
        // The first delimiter (a preamble before it is allowed).
        var position: Int
        if body.starts(with: delimiter) {
            position = delimiter.count
        } else if let found = find(separator, in: body, from: 0) {
            position = found + separator.count
        } else {
            throw .truncated(part: 0)
        }
        var parts: [(headers: [String: String], range: Range<Int>)] = []
        while true {
            let index = parts.count
            // After a delimiter: `--` closes the body, CRLF starts a part.
            if body.count >= position + 2, body[position] == UInt8(ascii: "-"), body[position + 1] == UInt8(ascii: "-") {
                return parts
            }
            guard let lineEnd = find(crlf, in: body, from: position) else { throw .truncated(part: index) }
            guard body[position..<lineEnd].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else { throw .badHeaders(part: index) }
            position = lineEnd + 2
            guard let headerEnd = find(crlf + crlf, in: body, from: position - 2) else { throw .truncated(part: index) }
            let headerBytes = headerEnd > position ? Array(body[position..<headerEnd]) : []
            let headers = try parseHeaders(headerBytes, part: index)
            let dataStart = headerEnd + 4
            guard let dataEnd = find(separator, in: body, from: dataStart) else {
                if body.count - dataStart > maxPartBytes { throw .partTooLarge(part: index, limit: maxPartBytes) }
                throw .truncated(part: index)
            }
            guard dataEnd - dataStart <= maxPartBytes else { throw .partTooLarge(part: index, limit: maxPartBytes) }
            parts.append((headers, dataStart..<dataEnd))
            position = dataEnd + separator.count
        }
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

    private static let crlf: [UInt8] = [0x0D, 0x0A]

    private static func parseHeaders(_ bytes: [UInt8], part: Int) throws(MultipartError) -> [String: String] {
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
    private static func find(_ needle: [UInt8], in hay: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
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
