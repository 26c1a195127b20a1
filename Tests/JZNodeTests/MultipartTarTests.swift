import BlockStore
import Foundation
import Logging
import NIOPosix
import P2PCore
import Testing
import UnixFS
@testable import JZNode
import TestSupport

@Suite("Multipart bodies as Kubo clients send them", .onBlockingPool)
struct MultipartTests {
    let boundary = "6d389c8997674c2094a5f40dadb203bc"
    var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// The body aioipfs 0.7.1 sends for `add("d")` with `d/a.txt` and `d/sub/b.txt` (captured).
    var folderBody: [UInt8] {
        let text = """
            --\(boundary)\r
            Content-Type: application/x-directory\r
            Content-Disposition: form-data; name="file"; filename="d"\r
            \r
            \r
            --\(boundary)\r
            Content-Type: application/octet-stream\r
            Abspath: /tmp/cap/d/a.txt\r
            Content-Disposition: form-data; name="file"; filename="d%2Fa.txt"\r
            \r
            hello
            \r
            --\(boundary)\r
            Content-Type: application/x-directory\r
            Content-Disposition: form-data; name="file"; filename="d%2Fsub"\r
            \r
            \r
            --\(boundary)\r
            Content-Type: application/octet-stream\r
            Abspath: /tmp/cap/d/sub/b.txt\r
            Content-Disposition: form-data; name="file"; filename="d%2Fsub%2Fb.txt"\r
            \r
            deep
            \r
            --\(boundary)--\r

            """
        return Array(text.utf8)
    }

    @Test("a folder: directory parts, decoded names, headers and exact bytes")
    func folder() throws {
        let parts = try MultipartParser.parse(folderBody, contentType: contentType)
        #expect(parts.map(\.filename) == ["d", "d/a.txt", "d/sub", "d/sub/b.txt"])
        #expect(parts.map(\.isDirectory) == [true, false, true, false])
        #expect(parts[1].content == Array("hello\n".utf8))
        #expect(parts[3].content == Array("deep\n".utf8))
        #expect(parts[1].headers["abspath"] == "/tmp/cap/d/a.txt")
        #expect(MultipartHeaders(parts[1].headers).name == "file")
        #expect(parts[0].content.isEmpty)
    }

    @Test("binary data containing CRLF and dashes survives")
    func binary() throws {
        let payload: [UInt8] = [0, 13, 10, 45, 45, 13, 10, 255] + Array("--\(boundary.prefix(10))".utf8)
        var body = Array("preamble\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n\r\n".utf8)
        body += payload + Array("\r\n--\(boundary)--\r\n".utf8)
        let parts = try MultipartParser.parse(body, contentType: "multipart/form-data; boundary=\"\(boundary)\"")
        #expect(parts.count == 1)
        #expect(parts[0].content == payload)
        #expect(parts[0].contentType == "application/octet-stream")
    }

    @Test("no or bad boundary is refused")
    func badBoundary() {
        #expect(throws: MultipartError.badContentType("application/json")) {
            try MultipartParser.parse(folderBody, contentType: "application/json")
        }
        #expect(throws: MultipartError.badContentType("multipart/form-data")) {
            try MultipartParser.parse(folderBody, contentType: "multipart/form-data")
        }
        // A boundary that is not in the body.
        #expect(throws: MultipartError.truncated(part: 0)) {
            try MultipartParser.parse(folderBody, contentType: "multipart/form-data; boundary=other")
        }
    }

    @Test("a body cut inside a part is truncated")
    func truncated() {
        let cut = Array(folderBody.prefix(folderBody.count - 60))
        #expect(throws: MultipartError.truncated(part: 3)) {
            try MultipartParser.parse(cut, contentType: contentType)
        }
        let headersCut = Array("--\(boundary)\r\nContent-Type: text/plain\r\n".utf8)
        #expect(throws: MultipartError.truncated(part: 0)) {
            try MultipartParser.parse(headersCut, contentType: contentType)
        }
    }

    @Test("malformed part headers are refused")
    func badHeaders() {
        let body = Array("--\(boundary)\r\nno colon here\r\n\r\nx\r\n--\(boundary)--\r\n".utf8)
        #expect(throws: MultipartError.badHeaders(part: 0)) { try MultipartParser.parse(body, contentType: contentType) }
    }
}

@Suite("Tar writer", .onBlockingPool)
struct TarWriterTests {
    /// Reads back (name, type, size, data) records with checksums verified.
    func entries(_ archive: [UInt8]) throws -> [(String, UInt8, Int, [UInt8])] {
        var result: [(String, UInt8, Int, [UInt8])] = []
        var offset = 0
        var paxPath: String?
        while offset + 512 <= archive.count {
            let header = Array(archive[offset..<offset + 512])
            if header.allSatisfy({ $0 == 0 }) { break }
            func field(_ start: Int, _ width: Int) -> String {
                String(decoding: header[start..<start + width].prefix { $0 != 0 }, as: UTF8.self)
            }
            var copy = header
            for i in 148..<156 { copy[i] = 0x20 }
            let sum = copy.reduce(0) { $0 + Int($1) }
            #expect(Int(field(148, 7).trimmingCharacters(in: .whitespaces), radix: 8) == sum)
            #expect(field(257, 6) == "ustar")
            let size = Int(field(124, 12), radix: 8) ?? -1
            let data = Array(archive[offset + 512..<offset + 512 + size])
            offset += 512 + (size + 511) / 512 * 512
            if header[156] == UInt8(ascii: "x") {
                let text = String(decoding: data, as: UTF8.self)
                paxPath = text.split(separator: "\n").compactMap { line -> String? in
                    guard let eq = line.firstIndex(of: "="), line[..<eq].hasSuffix(" path") else { return nil }
                    return String(line[line.index(after: eq)...])
                }.first
                continue
            }
            result.append((paxPath ?? field(0, 100), header[156], size, data))
            paxPath = nil
        }
        return result
    }

    @Test("files, folders, symlinks and long names read back")
    func roundTrip() throws {
        let long = String(repeating: "n", count: 150)
        var archive: [UInt8] = []
        archive += TarWriter.header(name: "d", kind: .directory, size: 0)
        let data = Array("hello\n".utf8)
        archive += TarWriter.header(name: "d/a.txt", kind: .file, size: UInt64(data.count)) + data + TarWriter.padding(UInt64(data.count))
        archive += TarWriter.header(name: "d/\(long)", kind: .file, size: 0)
        archive += TarWriter.header(name: "d/l", kind: .symlink(target: "a.txt"), size: 0)
        archive += TarWriter.trailer
        #expect(archive.count % 512 == 0)
        let read = try entries(archive)
        #expect(read.map(\.0) == ["d/", "d/a.txt", "d/\(long)", "d/l"])
        #expect(read.map(\.1) == [UInt8(ascii: "5"), UInt8(ascii: "0"), UInt8(ascii: "0"), UInt8(ascii: "2")])
        #expect(read[1].3 == data)
    }

    @Test("a UnixFS folder streams as a tar: folders, files across chunks, empty files, symlinks")
    func unixfsFolder() throws {
        let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("jz-tar-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: base + "/d/sub", withIntermediateDirectories: true)
        let big = (0..<700_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        _ = fm.createFile(atPath: base + "/d/a.txt", contents: Data("hello\n".utf8))
        _ = fm.createFile(atPath: base + "/d/empty", contents: Data())
        _ = fm.createFile(atPath: base + "/d/sub/big.bin", contents: Data(big))
        try fm.createSymbolicLink(atPath: base + "/d/sub/link", withDestinationPath: "../a.txt")
        let store = MemoryBlockStore()
        let sink = BatchingBlockSink(store: store)
        let root = try Importer(options: ImportOptions(), sink: sink).add(path: base + "/d").root.cid
        try sink.flush()
        let tar = TarStream(exporter: Exporter(source: store), root: root, name: "out")
        var archive: [UInt8] = []
        var chunks = 0
        while let chunk = try tar.next() {
            archive += chunk
            chunks += 1
        }
        #expect(chunks > 5)
        #expect(archive.count % 512 == 0)
        #expect(archive.suffix(1024).allSatisfy { $0 == 0 })
        let read = try entries(archive)
        #expect(read.map(\.0) == ["out/", "out/a.txt", "out/empty", "out/sub/", "out/sub/big.bin", "out/sub/link"])
        #expect(read[1].3 == Array("hello\n".utf8))
        #expect(read[2].2 == 0)
        #expect(read[4].3 == big)
        #expect(read[5].1 == UInt8(ascii: "2"))
    }

    @Test("padding rounds to 512")
    func padding() {
        #expect(TarWriter.padding(0).isEmpty)
        #expect(TarWriter.padding(1).count == 511)
        #expect(TarWriter.padding(512).isEmpty)
        #expect(TarWriter.padding(513).count == 511)
    }
}

@Suite("RPC route arguments", .onBlockingPool)
struct RouteArgumentTests {
    @Test("add options as Kubo: cid-version 1 turns raw leaves on, chunker, wrap")
    func addOptions() throws {
        let v0 = try APIRoutes.importOptions(APIRequest(command: "add", parameters: []))
        #expect(v0.cidVersion == .v0 && !v0.rawLeaves)
        let v1 = try APIRoutes.importOptions(APIRequest(command: "add", parameters: [("cid-version", "1"), ("chunker", "size-1024"), ("wrap-with-directory", "true")]))
        #expect(v1.cidVersion == .v1 && v1.rawLeaves && v1.wrapWithDirectory)
        #expect(v1.chunker == .fixed(size: 1024))
        let noRaw = try APIRoutes.importOptions(APIRequest(command: "add", parameters: [("cid-version", "1"), ("raw-leaves", "false")]))
        #expect(!noRaw.rawLeaves)
        #expect(throws: APIError.self) { try APIRoutes.importOptions(APIRequest(command: "add", parameters: [("cid-version", "2")])) }
        #expect(throws: APIError.self) { try APIRoutes.importOptions(APIRequest(command: "add", parameters: [("chunker", "bogus")])) }
        #expect(throws: APIError.self) { try APIRoutes.importOptions(APIRequest(command: "add", parameters: [("hash", "md5x")])) }
    }

    @Test("upload commands take multipart bodies to disk, each with its layout")
    func uploadCommands() {
        #expect(APIServer.isUpload(uri: "/api/v0/add?cid-version=1"))
        #expect(APIServer.isUpload(uri: "/api/v0/block/put"))
        #expect(!APIServer.isUpload(uri: "/api/v0/config?arg=x"))
        #expect(!APIServer.isUpload(uri: "/api/v0/add/extra"))
        for command in APIServer.uploadCommands { #expect(UploadLayout.of(command: command) != nil) }
        #expect(UploadLayout.of(command: "add") == .tree)
        #expect(UploadLayout.of(command: "dag/import") == .flat)
        #expect(UploadLayout.of(command: "config/replace") == nil)
    }
}

@Suite("RPC server body and response plumbing", .onBlockingPool)
struct APIServerPlumbingTests {
    /// One raw HTTP/1.1 exchange over a socket: the status code, headers and de-chunked body.
    static func exchange(port: Int, _ request: [UInt8]) throws -> (status: Int, headers: String, body: [UInt8]) {
        let fd = try connect(port: port)
        defer { close(fd) }
        send(fd, request)
        return try receive(fd)
    }

    /// A connected socket to the server on loopback.
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw APIError.transport("socket") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw APIError.transport("connect")
        }
        return fd
    }

    static func send(_ fd: Int32, _ request: [UInt8]) {
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }  // the server may answer 413 and close before reading everything
            sent += n
        }
    }

    /// The answer: status code, headers and de-chunked body.
    static func receive(_ fd: Int32) throws -> (status: Int, headers: String, body: [UInt8]) {
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        let separator = Array("\r\n\r\n".utf8)
        guard let split = (0...(answer.count - 4)).first(where: { Array(answer[$0..<$0 + 4]) == separator }) else {
            throw APIError.transport("no header end")
        }
        let head = String(decoding: answer[0..<split], as: UTF8.self)
        var rest = Array(answer[(split + 4)...])
        let status = Int(head.split(separator: " ")[1]) ?? 0
        guard head.lowercased().contains("transfer-encoding: chunked") else { return (status, head, rest) }
        var body: [UInt8] = []
        var trailers = ""
        while let lineEnd = (0..<max(0, rest.count - 1)).first(where: { rest[$0] == 13 && rest[$0 + 1] == 10 }) {
            let size = Int(String(decoding: rest[0..<lineEnd], as: UTF8.self), radix: 16) ?? 0
            if size == 0 {
                trailers = String(decoding: rest[(lineEnd + 2)...], as: UTF8.self)
                break
            }
            body += rest[(lineEnd + 2)..<(lineEnd + 2 + size)]
            rest = Array(rest[(lineEnd + 4 + size)...])
        }
        return (status, head + "\n" + trailers, body)
    }

    static func post(_ path: String, body: [UInt8], contentType: String = "application/octet-stream") -> [UInt8] {
        Array("POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
    }

    @Test("binary answers stream whole; uploads are written to a folder as they arrive; bounds give 413")
    func plumbing() async throws {
        let roots = Locked<[String]>([])
        let big = (0..<5_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let server = APIServer(
            group: MultiThreadedEventLoopGroup.singleton, maxBodyBytes: 1000, logger: Logger(label: "t")
        ) { request in
            switch request.command {
            case "cat":
                let chunks = stride(from: 0, to: big.count, by: 100_000).map { Array(big[$0..<min($0 + 100_000, big.count)]) }
                return .bytes(APIRoutes.finished(chunks), contentType: "text/plain")
            case "broken":
                return .bytes(AsyncThrowingStream { c in
                    c.yield([1, 2, 3])
                    c.finish(throwing: APIError.transport("disk on fire"))
                }, contentType: "text/plain")
            case "add":
                do {
                    let upload = try request.uploadedFolder()
                    let sizes = upload.entries.map { (try? FileManager.default.attributesOfItem(atPath: $0.path)[.size] as? Int) ?? -1 }
                    roots.withLock { $0.append(upload.root) }
                    return .json(["Spooled": .bool(request.body.isEmpty), "Sizes": .array(sizes.map { .int(Int64($0)) })])
                } catch {
                    return .badRequest("\(error)")
                }
            default:
                return .json(["Bytes": .int(Int64(request.body.count)), "Spooled": .bool(request.upload != nil)])
            }
        }
        let port = try await server.start(host: "127.0.0.1", port: 0)
        defer { Task { await server.stop() } }

        let cat = try await onThread { try Self.exchange(port: port, Self.post("/api/v0/cat", body: [])) }
        #expect(cat.status == 200 && cat.body == big)
        let broken = try await onThread { try Self.exchange(port: port, Self.post("/api/v0/broken", body: [])) }
        #expect(broken.body == [1, 2, 3])
        #expect(broken.headers.contains("X-Stream-Error: talking to the daemon failed: disk on fire"))

        let boundary = "b0undary"
        let file = [UInt8](repeating: 9, count: 2_000_000)
        let multipart = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n".utf8)
            + file + Array("\r\n--\(boundary)--\r\n".utf8)
        let add = try await onThread {
            try Self.exchange(port: port, Self.post("/api/v0/add?pin=true", body: multipart, contentType: "multipart/form-data; boundary=\(boundary)"))
        }
        #expect(add.status == 200)
        #expect(try JSONValue.parse(Data(add.body)) == ["Spooled": true, "Sizes": [2_000_000]])
        // Far larger than `maxBodyBytes`, and sent without Content-Length (chunked, as Kubo's
        // clients do): no bound but the disk.
        let chunked = Array("POST /api/v0/add HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=\(boundary)\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            + Array(String(multipart.count, radix: 16).utf8) + [13, 10] + multipart + Array("\r\n0\r\n\r\n".utf8)
        let streamed = try await onThread { try Self.exchange(port: port, chunked) }
        #expect(try JSONValue.parse(Data(streamed.body)) == ["Spooled": true, "Sizes": [2_000_000]])
        // A cut body, a name escaping the folder: 400 with the reason.
        let cut = try await onThread {
            try Self.exchange(port: port, Self.post("/api/v0/add", body: Array(multipart.dropLast(10)), contentType: "multipart/form-data; boundary=\(boundary)"))
        }
        #expect(cut.status == 400 && String(decoding: cut.body, as: UTF8.self).contains("no closing boundary"))
        let evil = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"..%2Fx\"\r\n\r\nx\r\n--\(boundary)--\r\n".utf8)
        let escaped = try await onThread {
            try Self.exchange(port: port, Self.post("/api/v0/add", body: evil, contentType: "multipart/form-data; boundary=\(boundary)"))
        }
        #expect(escaped.status == 400 && String(decoding: escaped.body, as: UTF8.self).contains("not a relative path"))

        let small = try await onThread { try Self.exchange(port: port, Self.post("/api/v0/config", body: [UInt8](repeating: 1, count: 900))) }
        #expect(try JSONValue.parse(Data(small.body)) == ["Bytes": 900, "Spooled": false])
        let tooBig = try await onThread { try Self.exchange(port: port, Self.post("/api/v0/config", body: [UInt8](repeating: 1, count: 1001))) }
        #expect(tooBig.status == 413)
        // An upload command's body that is not multipart is held in memory, bounded as others.
        let tooBigUpload = try await onThread {
            try Self.exchange(port: port, Self.post("/api/v0/add", body: [UInt8](repeating: 1, count: 1001)))
        }
        #expect(tooBigUpload.status == 413)
        // No upload folder is left behind.
        // (removed right after the answer is written: waited for, bounded).
        let seen = roots.withLock { $0 }
        #expect(seen.count == 2)
        for root in seen {
            var waited = 0
            while FileManager.default.fileExists(atPath: root), waited < 200 {
                try await Task.sleep(for: .milliseconds(10))
                waited += 1
            }
            #expect(!FileManager.default.fileExists(atPath: root), "\(root)")
        }
    }

    @Test("an upload's file grows on disk while its body is still arriving")
    func streamsToDisk() async throws {
        let server = APIServer(group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "t")) { request in
            .json(["Entries": .int(Int64(request.upload?.entries.count ?? -1))])
        }
        let port = try await server.start(host: "127.0.0.1", port: 0)
        defer { Task { await server.stop() } }
        let boundary = "b0undary"
        let name = "stream-\(UUID().uuidString)"
        let first = Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\n\r\n".utf8)
            + [UInt8](repeating: 5, count: 3 << 20)
        let rest = [UInt8](repeating: 6, count: 1 << 20) + Array("\r\n--\(boundary)--\r\n".utf8)
        func chunk(_ bytes: [UInt8]) -> [UInt8] { Array(String(bytes.count, radix: 16).utf8) + [13, 10] + bytes + [13, 10] }
        let fd = try Self.connect(port: port)
        defer { close(fd) }
        Self.send(fd, Array("POST /api/v0/add HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=\(boundary)\r\nTransfer-Encoding: chunked\r\n\r\n".utf8) + chunk(first))
        // The body is not complete, yet its file is being written (in 1 MiB batches).
        var size = 0
        for _ in 0..<500 where size < 2 << 20 {
            let folders = (try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? []
            for folder in folders where folder.hasPrefix("jz-upload-") {
                let path = NSTemporaryDirectory() + folder + "/tree/" + name
                if let bytes = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int { size = bytes }
            }
            if size < 2 << 20 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(size >= 2 << 20)
        Self.send(fd, chunk(rest) + Array("0\r\n\r\n".utf8))
        let answer = try await onThread { try Self.receive(fd) }
        #expect(answer.status == 200)
        #expect(try JSONValue.parse(Data(answer.body)) == ["Entries": 1])
    }
}
