import Foundation
import Logging
import NIOPosix
import Testing
@testable import JZNode
import TestSupport

/// Runs blocking client code on its own thread so it never holds a cooperative-pool thread.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

@Suite("RPC API server and client", .onBlockingPool)
struct APITests {
    func startServer() async throws -> (APIServer, APIClient) {
        let server = APIServer(group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "test")) { request in
            switch request.command {
            case "echo":
                return .json(["Args": .array(request.arguments.map { .string($0) }), "V": .bool(request.flag("verbose"))])
            case "count":
                let (stream, c) = AsyncStream<JSONValue>.makeStream()
                Task {
                    for i in 0..<3 { c.yield(["I": .int(Int64(i))]) }
                    c.finish()
                }
                return .stream(stream)
            case "add":
                // Echoes the uploaded folder: name, kind and size and byte sum of each file.
                guard let upload = request.upload else { return .badRequest("no upload") }
                let tree = upload.root + "/tree"
                let paths = (FileManager.default.subpaths(atPath: tree) ?? []).sorted()
                return .json(.array(paths.map { path in
                    let full = tree + "/" + path
                    let type = (try? FileManager.default.attributesOfItem(atPath: full)[.type] as? FileAttributeType) ?? .typeUnknown
                    let content: [UInt8] = switch type {
                    case .typeSymbolicLink: Array(((try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? "").utf8)
                    case .typeDirectory: []
                    default: [UInt8](FileManager.default.contents(atPath: full) ?? Data())
                    }
                    return ["Name": .string(path), "Type": .string(type.rawValue), "Size": .int(Int64(content.count)),
                            "Sum": .int(Int64(content.reduce(0) { $0 &+ Int($1) }))]
                }))
            case "bytes":
                // `size` bytes of a counting pattern in 100 KiB chunks; `fail` ends early with an error.
                let size = Int(request.value("size") ?? "0") ?? 0
                let fail = request.flag("fail")
                let (stream, c) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
                Task {
                    var sent = 0
                    while sent < size {
                        let n = min(100 * 1024, size - sent)
                        c.yield((sent..<(sent + n)).map { UInt8(truncatingIfNeeded: $0) })
                        sent += n
                    }
                    c.finish(throwing: fail ? APIError.transport("disk on fire") : nil)
                }
                return .bytes(stream, contentType: "application/octet-stream")
            case "silent":
                try? await Task.sleep(for: .seconds(5))
                return .json(.null)
            default:
                return .badRequest("unknown command \(request.command)")
            }
        }
        let port = try await server.start(host: "127.0.0.1", port: 0)
        return (server, try APIClient(multiaddr: "/ip4/127.0.0.1/tcp/\(port)"))
    }

    @Test("JSON answers, repeated and escaped arguments, flags")
    func json() async throws {
        let (server, client) = try await startServer()
        defer { Task { await server.stop() } }
        let answer = try await onThread { try client.call("echo", arguments: ["a b", "/ip4/1.2.3.4/tcp/1&x=y"], options: [("verbose", "true")]) }
        #expect(answer == ["Args": ["a b", "/ip4/1.2.3.4/tcp/1&x=y"], "V": true])
    }

    @Test("streamed answers arrive as separate documents")
    func streamed() async throws {
        let (server, client) = try await startServer()
        defer { Task { await server.stop() } }
        let answer = try await onThread { try client.call("count") }
        #expect(answer == [["I": 0], ["I": 1], ["I": 2]])
    }

    @Test("errors come back as Kubo error documents")
    func errors() async throws {
        let (server, client) = try await startServer()
        defer { Task { await server.stop() } }
        await #expect(throws: APIError.remote(status: 400, message: "unknown command nope")) {
            _ = try await onThread { try client.call("nope") }
        }
    }

    @Test("uploads: files from disk, bytes, folders and links as Kubo's multipart parts")
    func uploads() async throws {
        let (server, client) = try await startServer()
        defer { Task { await server.stop() } }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jz-upload-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let big = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Data(big).write(to: dir.appendingPathComponent("big.bin"))
        let upload = APIUpload(parts: [
            .directory(name: "d"),
            .file(name: "d/big file&=.bin", path: dir.appendingPathComponent("big.bin").path),
            .bytes(name: "d/ünï.txt", Array("hello".utf8)),
            .symlink(name: "d/link", target: "big file&=.bin"),
        ])
        let answer = try await onThread { try client.call("add", upload: upload) }
        #expect(answer == [
            ["Name": "d", "Type": "NSFileTypeDirectory", "Size": 0, "Sum": 0],
            ["Name": "d/big file&=.bin", "Type": "NSFileTypeRegular", "Size": .int(Int64(big.count)),
             "Sum": .int(Int64(big.reduce(0) { $0 &+ Int($1) }))],
            ["Name": "d/link", "Type": "NSFileTypeSymbolicLink", "Size": 14, "Sum": .int(Int64("big file&=.bin".utf8.reduce(0) { $0 &+ Int($1) }))],
            ["Name": "d/ünï.txt", "Type": "NSFileTypeRegular", "Size": 5, "Sum": .int(Int64("hello".utf8.reduce(0) { $0 &+ Int($1) }))],
        ])
        await #expect(throws: APIError.self) {
            _ = try await onThread { try client.call("add", upload: APIUpload(parts: [.file(name: "x", path: dir.appendingPathComponent("missing").path)])) }
        }
    }

    @Test("downloads arrive whole through a slow reader; an error trailer fails the call")
    func downloads() async throws {
        let (server, client) = try await startServer()
        defer { Task { await server.stop() } }
        let size = 8 << 20
        let (count, ok) = try await onThread { () -> (Int, Bool) in
            var count = 0
            var ok = true
            try client.download("bytes", options: [("size", String(size))]) { chunk in
                for (i, byte) in chunk.enumerated() where byte != UInt8(truncatingIfNeeded: count + i) { ok = false }
                count += chunk.count
                if count < (1 << 20) { usleep(2000) }  // a slow start: the daemon must wait, not buffer
            }
            return (count, ok)
        }
        #expect(count == size)
        #expect(ok)
        await #expect(throws: APIError.remote(status: 500, message: "\(APIError.transport("disk on fire"))")) {
            try await onThread { try client.download("bytes", options: [("size", "300000"), ("fail", "true")]) { _ in } }
        }
        await #expect(throws: APIError.remote(status: 400, message: "unknown command nope")) {
            try await onThread { try client.download("nope") { _ in } }
        }
    }

    @Test("a daemon that stays silent fails the call after the timeout")
    func silence() async throws {
        let (server, started) = try await startServer()
        defer { Task { await server.stop() } }
        var client = started
        client.timeout = 0.5
        // Timed on the calling thread, from the call to its failure.
        let took = try await onThread { [client] () -> Duration in
            let start = ContinuousClock.now
            do {
                _ = try client.call("silent")
                Issue.record("a silent daemon answered")
            } catch {
                #expect("\(error)".contains("did not answer within"))
            }
            return ContinuousClock.now - start
        }
        #expect(took < TestTime.scaled(.seconds(3)), "took \(took)")
    }

    @Test("find() ignores a missing or stale api file")
    func find() async throws {
        let home = NodeHome(path: try temporaryDirectory())
        #expect(APIClient.find(home: home) == nil)
        // A port nobody listens on: bind-and-close gives a free one.
        try "/ip4/127.0.0.1/tcp/1".write(toFile: home.apiFilePath, atomically: true, encoding: .utf8)
        #expect(APIClient.find(home: home) == nil)
        #expect(throws: APIError.badAddress("/dns4/x/udp/1")) { try APIClient(multiaddr: "/dns4/x/udp/1") }
    }
}

@Suite("Network settings from the config", .onBlockingPool)
struct NetworkSettingsTests {
    func config(_ edits: [String: JSONValue]) throws -> NodeConfig {
        var config = NodeConfig.makeDefault(peerID: "x", privateKeyBase64: "y", bootstrap: [])
        for (key, value) in edits { try config.set(value, at: key) }
        return config
    }

    @Test("defaults: noise before tls, yamux before mplex")
    func defaults() throws {
        let s = try NetworkSettings(config: config([:]))
        #expect(s.security == ["noise", "tls"])
        #expect(s.muxers == ["yamux", "mplex"])
        #expect(s.listenAddresses.count == 2)
        #expect(s.connGracePeriod == 20)
    }

    @Test("Kubo-style priorities and false disable")
    func priorities() throws {
        let s = try NetworkSettings(config: config([
            "Swarm.Transports.Security.Noise": false, "Swarm.Transports.Multiplexers.Mplex": 10,
        ]))
        #expect(s.security == ["tls"])
        #expect(s.muxers == ["mplex", "yamux"])
    }

    @Test("bad values name the key")
    func errors() throws {
        #expect(throws: NodeError.invalidConfigValue(key: "Swarm.Transports.Security", reason: "every option is disabled; enable at least one")) {
            try NetworkSettings(config: config(["Swarm.Transports.Security.Noise": false, "Swarm.Transports.Security.TLS": false]))
        }
        #expect(throws: NodeError.self) { try NetworkSettings(config: config(["Addresses.Swarm": ["/ip4/1.2.3.4/tcp/x"]])) }
        #expect(throws: NodeError.self) { try NetworkSettings(config: config(["Swarm.ConnMgr.GracePeriod": "soon"])) }
        #expect(NetworkSettings.parseDuration("500ms") == 0.5)
        #expect(NetworkSettings.parseDuration("2m") == 120)
    }
}
