import Logging
import Multiformats
import P2PCore
import Testing
import TestSupport

@testable import P2PHost

@Suite("TCPTransport", .onBlockingPool)
struct TCPTransportTests {
    let transport = TCPTransport(logger: Logger(label: "test.tcp"))

    /// Listens on `address`, hands accepted connections to `serve`.
    func listen(_ address: String = "/ip4/127.0.0.1/tcp/0", serve: @escaping @Sendable (TCPConnection) async -> Void) async throws -> TCPListener {
        try await transport.listen(try Multiaddr(address)) { conn in Task { await serve(conn) } }
    }

    static func echo(_ conn: TCPConnection) async {
        do {
            while let chunk = try await conn.read() { try await conn.write(chunk) }
            try await conn.closeWrite()
        } catch {
            await conn.reset()
        }
    }

    @Test func listensOnARealPortAndEchoes() async throws {
        let listener = try await listen(serve: Self.echo)
        defer { Task { await listener.close() } }
        #expect(listener.address.description.hasPrefix("/ip4/127.0.0.1/tcp/"))
        #expect(!listener.address.description.hasSuffix("/tcp/0"))
        try await withTimeout(TestTime.scaled(.seconds(10)), what: "echo") {
            let conn = try await transport.dial(listener.address)
            #expect(conn.remoteAddress == listener.address)
            try await conn.write(Array("hello".utf8))
            try await conn.closeWrite()
            let reader = StreamReader(conn)
            #expect(try await reader.readExactly(5) == Array("hello".utf8))
            #expect(try await reader.readAvailable() == nil)
            await conn.close()
        }
    }

    @Test func transfers8MiBWithBackpressure() async throws {
        let listener = try await listen(serve: Self.echo)
        defer { Task { await listener.close() } }
        try await withTimeout(TestTime.scaled(.seconds(30)), what: "8 MiB echo") {
            let conn = try await transport.dial(listener.address)
            let total = 8 << 20
            var block = [UInt8](repeating: 0, count: 64 * 1024)
            for i in block.indices { block[i] = UInt8(truncatingIfNeeded: i &* 31) }
            let chunk = block
            let writer = Task {
                for _ in 0..<(total / chunk.count) { try await conn.write(chunk) }
                try await conn.closeWrite()
            }
            var received = 0
            var ok = true
            while let bytes = try await conn.read() {
                for (j, b) in bytes.enumerated() where b != chunk[(received + j) % chunk.count] { ok = false; break }
                received += bytes.count
            }
            try await writer.value
            #expect(received == total)
            #expect(ok)
            await conn.close()
        }
    }

    @Test func slowReaderBoundsBuffering() async throws {
        // The server never reads: the client's writes must eventually block rather than buffer forever.
        let held = ConnBox()
        let listener = try await listen { conn in held.set(conn) }
        defer { Task { await listener.close() } }
        let conn = try await transport.dial(listener.address)
        let written = Counter()
        let writer = Task {
            let chunk = [UInt8](repeating: 7, count: 64 * 1024)
            for _ in 0..<4096 { try await conn.write(chunk); written.add(chunk.count) }
        }
        try await Task.sleep(for: .milliseconds(700))
        // 256 MiB would have been written without backpressure; socket buffers + the 1 MiB read limit are far less.
        #expect(written.value < 64 << 20)
        writer.cancel()
        await conn.reset()
        await held.get()?.reset()
    }

    @Test func ipv6Loopback() async throws {
        let listener: TCPListener
        do {
            listener = try await listen("/ip6/::1/tcp/0", serve: Self.echo)
        } catch {
            return  // no IPv6 on this machine
        }
        defer { Task { await listener.close() } }
        #expect(listener.address.description.hasPrefix("/ip6/::1/tcp/"))
        try await withTimeout(TestTime.scaled(.seconds(10)), what: "ip6 echo") {
            let conn = try await transport.dial(listener.address)
            try await conn.write([1, 2])
            let reader = StreamReader(conn)
            #expect(try await reader.readExactly(2) == [1, 2])
            await conn.close()
        }
    }

    @Test func dialsDNSNamesAndStripsPeerSuffix() async throws {
        let listener = try await listen(serve: Self.echo)
        defer { Task { await listener.close() } }
        let port = listener.address.components[1].valueString
        let peer = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
        try await withTimeout(TestTime.scaled(.seconds(10)), what: "dns dial") {
            let conn = try await transport.dial(try Multiaddr("/dns4/localhost/tcp/\(port)/p2p/\(peer)"))
            try await conn.write([5])
            #expect(try await conn.read() == [5])
            await conn.close()
        }
    }

    @Test func rejectsUnsupportedAddresses() async throws {
        for text in ["/ip4/127.0.0.1/udp/1", "/ip4/127.0.0.1", "/ip4/127.0.0.1/tcp/1/ws"] {
            await #expect(throws: TCPTransportError.unsupportedAddress(text)) {
                _ = try await transport.dial(try Multiaddr(text))
            }
        }
        #expect(!TCPTransport.canDial(try Multiaddr("/ip4/1.2.3.4/udp/1")))
        #expect(TCPTransport.canDial(try Multiaddr("/dns6/example.com/tcp/1")))
    }

    @Test func refusedDialFails() async throws {
        // Bind then close to get a port nobody listens on.
        let listener = try await listen(serve: Self.echo)
        let address = listener.address
        await listener.close()
        await #expect(throws: TCPTransportError.self) {
            _ = try await transport.dial(address, timeout: .seconds(3))
        }
    }

    @Test func resetReachesTheRemote() async throws {
        let box = ConnBox()
        let listener = try await listen { conn in box.set(conn) }
        defer { Task { await listener.close() } }
        try await withTimeout(TestTime.scaled(.seconds(10)), what: "reset") {
            let conn = try await transport.dial(listener.address)
            try await conn.write([1])
            var server: TCPConnection?
            while server == nil { try await Task.sleep(for: .milliseconds(10)); server = box.get() }
            #expect(try await server?.read() == [1])
            await conn.reset()
            await #expect(throws: (any Error).self) {
                // Either a reset error or EOF; a read must not hang. EOF returns nil, so map it to an error.
                if try await server?.read() == nil { throw StreamError.connectionClosed }
            }
            await #expect(throws: StreamError.reset) { try await conn.write([2]) }
        }
    }
}

final class ConnBox: @unchecked Sendable {
    private let lock = Mutex()
    private var conn: TCPConnection?
    func set(_ c: TCPConnection) { lock.withLock { conn = c } }
    func get() -> TCPConnection? { lock.withLock { conn } }
}

final class Counter: @unchecked Sendable {
    private let lock = Mutex()
    private var n = 0
    func add(_ k: Int) { lock.withLock { n += k } }
    var value: Int { lock.withLock { n } }
}
