import Foundation
import Testing
@testable import JZNode
import TestSupport

/// A multipart body of `parts` (content type, file name, bytes) with `boundary`.
func multipartBody(_ parts: [(type: String, name: String?, content: [UInt8])], boundary: String, preamble: String = "") -> [UInt8] {
    var body = Array(preamble.utf8)
    for part in parts {
        var head = "--\(boundary)\r\nContent-Type: \(part.type)\r\nContent-Disposition: form-data; name=\"file\""
        if let name = part.name { head += "; filename=\"\(name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name)\"" }
        body += Array((head + "\r\n\r\n").utf8) + part.content + Array("\r\n".utf8)
    }
    return body + Array("--\(boundary)--\r\n".utf8)
}

@Suite("Incremental multipart parser", .onBlockingPool)
struct MultipartStreamTests {
    let boundary = "b0undary"
    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// Binary content full of near-boundaries: CRLFs, dashes, the boundary without its CRLF,
    /// the separator cut one byte short.
    var tricky: [UInt8] {
        Array("\r\n\r\n--\r\n-\r\n--b0undar\r\n--b0undarx--b0undary\r\r\n-".utf8) + (0..<300).map { UInt8(truncatingIfNeeded: $0) } + [13, 10, 45]
    }

    var body: [UInt8] {
        multipartBody(
            [("application/x-directory", "d", []), ("application/octet-stream", "d/a.bin", tricky),
             ("application/octet-stream", nil, Array("bare".utf8)), ("application/octet-stream", "empty", [])],
            boundary: boundary, preamble: "ignored preamble\r\n")
            + Array("epilogue, ignored".utf8)
    }

    /// Parts (file name and bytes) and whether the end was seen, from `chunks` fed in order.
    func parse(_ chunks: [[UInt8]]) throws -> (parts: [(String?, [UInt8])], finished: Bool) {
        var stream = try MultipartStream(contentType: contentType)
        var parts: [(String?, [UInt8])] = []
        var finished = false
        var open = false
        for chunk in chunks {
            for event in try stream.feed(chunk) {
                switch event {
                case .part(let headers):
                    #expect(!open && !finished)
                    parts.append((headers.filename, []))
                    open = true
                case .content(let bytes):
                    #expect(open && !bytes.isEmpty)
                    parts[parts.count - 1].1 += bytes
                case .partEnd:
                    #expect(open)
                    open = false
                case .finished:
                    #expect(!open)
                    finished = true
                }
            }
        }
        try stream.finish()
        return (parts, finished)
    }

    func check(_ result: (parts: [(String?, [UInt8])], finished: Bool), _ label: String) {
        #expect(result.finished, "\(label)")
        #expect(result.parts.map(\.0) == ["d", "d/a.bin", nil, "empty"], "\(label)")
        #expect(result.parts.map(\.1) == [[], tricky, Array("bare".utf8), []], "\(label)")
    }

    @Test("every split in two, byte by byte, and random chunkings give the same parts")
    func splits() throws {
        let body = body
        for cut in 0...body.count {
            check(try parse([Array(body[..<cut]), Array(body[cut...])]), "cut at \(cut)")
        }
        check(try parse(body.map { [$0] }), "byte by byte")
        var generator = SystemRandomNumberGenerator()
        for round in 0..<50 {
            var chunks: [[UInt8]] = []
            var at = 0
            while at < body.count {
                let n = min(body.count - at, Int.random(in: 0...40, using: &generator))
                chunks.append(Array(body[at..<(at + n)]))
                at += n
            }
            check(try parse(chunks), "random round \(round)")
        }
    }

    @Test("content is handed on as it arrives, holding back at most a separator's length")
    func incremental() throws {
        var stream = try MultipartStream(contentType: contentType)
        let head = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n\r\n".utf8)
        _ = try stream.feed(head)
        var handed = 0
        for _ in 0..<100 {
            for case .content(let bytes) in try stream.feed([UInt8](repeating: 7, count: 1000)) { handed += bytes.count }
        }
        #expect(handed >= 100_000 - "\r\n--\(boundary)".utf8.count)
        #expect(!stream.isFinished)
        #expect(throws: MultipartError.truncated(part: 0)) { try stream.finish() }
    }

    @Test("a part without headers, and a part with padding after its boundary")
    func noHeaders() throws {
        let body = Array("--\(boundary)  \t\r\n\r\nplain\r\n--\(boundary)--".utf8)
        var stream = try MultipartStream(contentType: contentType)
        #expect(try stream.feed(body) == [.part(MultipartHeaders([:])), .content(Array("plain".utf8)), .partEnd, .finished])
        try stream.finish()
    }

    @Test("refused: no closing boundary, oversized headers, malformed headers, bad content types")
    func refusals() throws {
        // Missing final boundary, cut at any point.
        let body = body
        let end = body.count - "--\r\nepilogue, ignored".utf8.count
        for cut in [0, 10, 40, end - 20, end - 1] {
            var stream = try MultipartStream(contentType: contentType)
            _ = try stream.feed(Array(body[..<cut]))
            #expect(throws: MultipartError.self, "cut at \(cut)") { try stream.finish() }
        }
        // Headers larger than the bound, fed in small chunks: refused before their end comes.
        var stream = try MultipartStream(contentType: contentType, maxHeaderBytes: 1000)
        _ = try stream.feed(Array("--\(boundary)\r\n".utf8))
        #expect(throws: MultipartError.headersTooLarge(part: 0, limit: 1000)) {
            for _ in 0..<100 { _ = try stream.feed(Array("X-Long: aaaaaaaaaaaaaaaaaaaa\r\n".utf8)) }
        }
        var whole = try MultipartStream(contentType: contentType, maxHeaderBytes: 10)
        #expect(throws: MultipartError.headersTooLarge(part: 0, limit: 10)) {
            _ = try whole.feed(Array("--\(boundary)\r\nContent-Type: text/plain\r\n\r\nx\r\n--\(boundary)--".utf8))
        }
        // Malformed headers: no colon, empty name, not UTF-8; junk after a boundary.
        for bad in [Array("no colon".utf8), Array(": empty name".utf8), [0x58, 0x3A, 0xFF, 0xFE]] {
            var s = try MultipartStream(contentType: contentType)
            let input = Array("--\(boundary)\r\n".utf8) + bad + Array("\r\n\r\nx\r\n--\(boundary)--".utf8)
            #expect(throws: MultipartError.badHeaders(part: 0)) { _ = try s.feed(input) }
        }
        var junk = try MultipartStream(contentType: contentType)
        #expect(throws: MultipartError.badHeaders(part: 0)) { _ = try junk.feed(Array("--\(boundary)junk\r\n\r\nx".utf8)) }
        // Content types.
        for type in ["application/json", "multipart/form-data", "multipart/form-data; boundary=", "text/plain; boundary=x"] {
            #expect(throws: MultipartError.badContentType(type)) { _ = try MultipartStream(contentType: type) }
        }
    }
}

@Suite("Upload bodies written to a folder as they arrive", .onBlockingPool)
struct UploadWriterTests {
    let boundary = "b0undary"
    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// Feeds `body` in chunks of `chunk` bytes.
    func upload(
        _ body: [UInt8], layout: UploadLayout = .tree, chunk: Int = 7, declared: Int64? = nil, in folder: String = NSTemporaryDirectory()
    ) throws(UploadError) -> UploadedFolder {
        let writer = try UploadWriter(contentType: contentType, layout: layout, declaredBytes: declared, temporaryFolder: folder)
        do {
            for start in stride(from: 0, to: body.count, by: chunk) { try writer.write(Array(body[start..<min(start + chunk, body.count)])) }
            return try writer.finish()
        } catch {
            writer.remove()
            throw error
        }
    }

    @Test("folders as directories, files as files, symlinks as symlinks, unnamed parts as data, in order")
    func tree() throws {
        let big = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let folder = try upload(multipartBody([
            ("application/octet-stream", nil, Array("bare".utf8)),
            ("application/x-directory", "d", []),
            ("application/octet-stream", "d/big.bin", big),
            ("application/symlink", "d/link", Array("big.bin".utf8)),
            ("application/octet-stream", "d/sub/deep.txt", Array("deep".utf8)),  // parent made on the way
            ("application/x-directory", "d/sub", []),  // sent after its file: fine
            ("application/octet-stream", "top.txt", Array("x".utf8)),
        ], boundary: boundary))
        defer { folder.remove() }
        let tree = folder.root + "/tree"
        #expect(folder.entries.map(\.name) == [nil, "d", "top.txt"])
        #expect(folder.entries.map(\.kind) == [.file, .directory, .file])
        #expect(folder.entries[1].path == tree + "/d")
        #expect(FileManager.default.contents(atPath: folder.entries[0].path) == Data("bare".utf8))
        #expect(FileManager.default.contents(atPath: tree + "/d/big.bin") == Data(big))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: tree + "/d/link") == "big.bin")
        #expect(FileManager.default.contents(atPath: tree + "/d/sub/deep.txt") == Data("deep".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: tree).sorted() == ["d", "top.txt"])
        folder.remove()
        #expect(!FileManager.default.fileExists(atPath: folder.root))
    }

    @Test("flat layout: every data part in order, names kept for messages only")
    func flat() throws {
        let folder = try upload(multipartBody([
            ("application/octet-stream", "same", Array("one".utf8)), ("application/x-directory", "dir", []),
            ("application/octet-stream", "same", Array("two".utf8)), ("application/octet-stream", "../../x", Array("three".utf8)),
        ], boundary: boundary), layout: .flat)
        defer { folder.remove() }
        #expect(folder.entries.map(\.name) == ["same", "same", "../../x"])
        #expect(folder.entries.map { FileManager.default.contents(atPath: $0.path) } == ["one", "two", "three"].map { Data($0.utf8) })
    }

    @Test("names escaping the folder are refused with 400: .., absolute, through a symlink or a file; twice")
    func escapes() throws {
        let outside = NSTemporaryDirectory() + "jz-escape-\(UUID().uuidString)"
        let uploads = NSTemporaryDirectory() + "jz-escape-uploads-\(UUID().uuidString)"
        for folder in [outside, uploads] { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        defer { for folder in [outside, uploads] { try? FileManager.default.removeItem(atPath: folder) } }
        let cases: [(String, [(type: String, name: String?, content: [UInt8])])] = [
            ("..", [("application/octet-stream", "../x", [1])]),
            ("inner ..", [("application/octet-stream", "a/../../x", [1])]),
            (".", [("application/octet-stream", "./x", [1])]),
            ("absolute", [("application/octet-stream", outside + "/x", [1])]),
            ("through a symlink", [("application/symlink", "l", Array(outside.utf8)), ("application/octet-stream", "l/x", [1])]),
            ("under a file", [("application/octet-stream", "f", [1]), ("application/octet-stream", "f/x", [1])]),
            ("twice", [("application/octet-stream", "f", [1]), ("application/octet-stream", "f", [2])]),
            ("file over folder", [("application/x-directory", "f", []), ("application/octet-stream", "f", [2])]),
        ]
        for (label, parts) in cases {
            do {
                let folder = try upload(multipartBody(parts, boundary: boundary), in: uploads)
                folder.remove()
                Issue.record("\(label): accepted")
            } catch {
                #expect(error.status == 400, "\(label): \(error)")
                guard case .badName = error else { Issue.record("\(label): \(error)"); continue }
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        // Nothing written outside, nothing left of the refused uploads.
        #expect(try FileManager.default.contentsOfDirectory(atPath: uploads).isEmpty)
    }

    @Test("a body larger than the free space is refused with 507; a cut body with 400")
    func bounds() throws {
        let body = multipartBody([("application/octet-stream", "f", [1, 2, 3])], boundary: boundary)
        do {
            _ = try upload(body, declared: Int64.max / 4)
            Issue.record("accepted")
        } catch {
            #expect(error.status == 507)
            #expect("\(error)".contains("bytes free"))
        }
        do {
            _ = try upload(Array(body.dropLast(6)))
            Issue.record("accepted")
        } catch {
            #expect(error.status == 400 && "\(error)".contains("no closing boundary"))
        }
        #expect(throws: UploadError.self) { _ = try UploadWriter(contentType: "application/json", layout: .tree) }
    }
}
