import Foundation
import Logging
import NIOPosix
import Testing
@testable import JZNode

/// Runs blocking client code on its own thread so it never holds a cooperative-pool thread.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

@Suite("RPC API server and client")
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

@Suite("Network settings from the config")
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
