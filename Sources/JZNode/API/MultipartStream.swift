import Foundation

/// What `MultipartStream` finds in a body, in order: for each part its headers, its bytes in
/// pieces, its end; then the end of the body.
public enum MultipartEvent: Sendable, Equatable {
    /// A part starts: its header fields (names lowercased).
    case part(MultipartHeaders)
    /// The next bytes of the current part.
    case content([UInt8])
    /// The current part is complete.
    case partEnd
    /// The closing boundary: the body is complete (bytes after it are ignored).
    case finished
}

/// An incremental `multipart/form-data` parser (RFC 7578 / RFC 2046): feed it the body in
/// chunks of any size as they arrive, it answers the events found so far. It holds back at
/// most a boundary's length of content (and one part's headers), whatever the part sizes.
public struct MultipartStream: Sendable {
    private enum State: Sendable { case preamble, boundaryLine, headers, content, finished }

    /// `\r\n--boundary`: what ends a part's content.
    private let separator: [UInt8]
    private let maxHeaderBytes: Int
    /// Bytes not yet consumed; starts with a virtual CRLF so that the first delimiter (no CRLF
    /// before it) is found like the others.
    private var buffer: [UInt8] = [0x0D, 0x0A]
    private var position = 0
    private var state = State.preamble
    /// The index of the current part (-1 before the first).
    private var index = -1

    /// Bytes a boundary line may carry after the boundary (transport padding).
    static let maxBoundaryLineBytes = 1024

    /// `contentType` names the boundary; a part's header block larger than `maxHeaderBytes` is
    /// refused (`headersTooLarge`).
    public init(contentType: String, maxHeaderBytes: Int = 16 << 10) throws(MultipartError) {
        let type = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard type.hasPrefix("multipart/"), let boundary = MultipartParser.headerParameters(contentType)["boundary"],
              !boundary.isEmpty, boundary.utf8.count <= 200
        else { throw .badContentType(contentType) }
        separator = Array("\r\n--\(boundary)".utf8)
        self.maxHeaderBytes = maxHeaderBytes
    }

    /// Whether the closing boundary was seen.
    public var isFinished: Bool { if case .finished = state { true } else { false } }

    /// Consumes `bytes` (the next piece of the body); returns the events they complete.
    public mutating func feed(_ bytes: [UInt8]) throws(MultipartError) -> [MultipartEvent] {
        if case .finished = state { return [] }
        buffer.append(contentsOf: bytes)
        var events: [MultipartEvent] = []
        defer {
            buffer.removeFirst(position)
            position = 0
        }
        parsing: while true {
            switch state {
            case .preamble:
                // Anything before the first delimiter is ignored.
                guard let found = find(separator, from: position) else {
                    position = max(position, buffer.count - (separator.count - 1))
                    break parsing
                }
                position = found + separator.count
                state = .boundaryLine
            case .boundaryLine:
                // After a delimiter: `--` closes the body, padding and CRLF start a part.
                guard buffer.count - position >= 2 else { break parsing }
                if buffer[position] == UInt8(ascii: "-"), buffer[position + 1] == UInt8(ascii: "-") {
                    state = .finished
                    position = buffer.count
                    events.append(.finished)
                    break parsing
                }
                guard let lineEnd = find(Self.crlf, from: position) else {
                    if buffer.count - position > Self.maxBoundaryLineBytes { throw .badHeaders(part: index + 1) }
                    break parsing
                }
                guard buffer[position..<lineEnd].allSatisfy({ $0 == 0x20 || $0 == 0x09 }) else { throw .badHeaders(part: index + 1) }
                index += 1
                // The header block is searched from this CRLF, so that no headers at all
                // (CRLF CRLF right after the boundary) is found too.
                position = lineEnd
                state = .headers
            case .headers:
                guard let end = find(Self.crlf + Self.crlf, from: position) else {
                    if buffer.count - position - 2 > maxHeaderBytes + 3 { throw .headersTooLarge(part: index, limit: maxHeaderBytes) }
                    break parsing
                }
                let start = position + 2
                guard end - start <= maxHeaderBytes else { throw .headersTooLarge(part: index, limit: maxHeaderBytes) }
                let fields = try MultipartParser.parseHeaders(end > start ? Array(buffer[start..<end]) : [], part: index)
                events.append(.part(MultipartHeaders(fields)))
                position = end + 4
                state = .content
            case .content:
                if let end = find(separator, from: position) {
                    if end > position { events.append(.content(Array(buffer[position..<end]))) }
                    events.append(.partEnd)
                    position = end + separator.count
                    state = .boundaryLine
                } else {
                    // The tail may be the start of the separator: held back until more comes.
                    let safe = buffer.count - (separator.count - 1)
                    if safe > position {
                        events.append(.content(Array(buffer[position..<safe])))
                        position = safe
                    }
                    break parsing
                }
            case .finished:
                position = buffer.count
                break parsing
            }
        }
        return events
    }

    /// The body ended: throws unless the closing boundary was seen.
    public func finish() throws(MultipartError) {
        guard case .finished = state else { throw .truncated(part: max(index, 0)) }
    }

    private static let crlf: [UInt8] = [0x0D, 0x0A]

    /// The first index of `needle` in the buffer at or after `start`.
    private func find(_ needle: [UInt8], from start: Int) -> Int? {
        buffer.withUnsafeBufferPointer { hay in MultipartParser.find(needle, in: hay, from: start) }
    }
}
