import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import P2PCore
import Testing

import HTTPServing
import TestSupport

/// The HTTP listener the RPC API and the gateway share.
@Suite("HTTP1Server", .onBlockingPool)
struct HTTP1ServerTests {
    /// A server stopped while connections keep arriving serves or closes every one it accepted.
    /// With NIO's async `bind`, a connection accepted just before the stop was queued, dropped
    /// unserved, and its writer's deinit stopped the whole process ("Deinited NIOAsyncWriter
    /// without calling finish()"; seen under ThreadSanitizer).
    @Test func stoppingWhileConnectionsArriveStopsNothingElse() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let logger = Logger(label: "http1-test") { _ in SwiftLogNoOpLogHandler() }
        for _ in 0..<20 {
            let server = try await HTTP1Server.start(group: group, host: "127.0.0.1", port: 0, name: "test", logger: logger) { connection in
                try? await connection.executeThenClose { inbound, outbound in
                    for try await part in inbound {
                        guard case .end = part else { continue }
                        try await outbound.write(contentsOf: [
                            .head(HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "0"])), .end(nil),
                        ])
                    }
                }
            }
            // Clients that connect, send a request and leave, while the server stops under them.
            try await withTimeout(TestTime.scaled(.seconds(30)), what: "clients of a stopping server") {
                await withTaskGroup(of: Void.self) { clients in
                    for _ in 0..<40 {
                        clients.addTask {
                            guard let channel = try? await ClientBootstrap(group: group)
                                .connect(host: "127.0.0.1", port: server.port).get() else { return }
                            var request = ByteBuffer()
                            request.writeString("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                            try? await channel.writeAndFlush(request).get()
                            try? await channel.close().get()
                        }
                    }
                    await server.stop()
                }
            }
        }
    }
}
