import Logging
import Multiformats
import P2PCore
import P2PCrypto
import P2PMux
import P2PSecurity
import Testing
import TestSupport
import NIOPosix

@testable import P2PHost

/// A test-only insecure "security" transport: each side sends its public key (length-prefixed)
/// and trusts the other's. Lets host tests run independently of Noise/TLS.
struct InsecureTransport: SecurityTransport {
    let identity: PrivateKey
    var protocolID: ProtocolID { "/insecure-test/1.0.0" }

    final class Secured: SecuredStream, @unchecked Sendable {
        let base: any ByteStream
        let localPeer: PeerID
        let remotePeer: PeerID
        let remotePublicKey: PublicKey
        var securityProtocol: ProtocolID { "/insecure-test/1.0.0" }
        init(base: any ByteStream, local: PeerID, remote: PublicKey) {
            self.base = base
            self.localPeer = local
            self.remotePublicKey = remote
            self.remotePeer = remote.peerID
        }
        func read() async throws -> [UInt8]? { try await base.read() }
        func write(_ bytes: [UInt8]) async throws { try await base.write(bytes) }
        func closeWrite() async throws { try await base.closeWrite() }
        func close() async { await base.close() }
        func reset() async { await base.reset() }
    }

    func handshake(_ stream: any ByteStream, expected: PeerID?) async throws -> any SecuredStream {
        try await stream.writeLengthPrefixed(identity.publicKey.protobufBytes)
        let reader = StreamReader(stream)
        guard let bytes = try await reader.readLengthPrefixed(maxLength: 4096, what: "insecure key") else {
            throw SecurityError.handshakeFailed(protocolID: protocolID, reason: "eof")
        }
        let key = try PublicKey(protobuf: bytes)
        if let expected, expected != key.peerID {
            throw SecurityError.peerIDMismatch(expected: expected, actual: key.peerID)
        }
        return Secured(base: reader.remainingStream(), local: identity.publicKey.peerID, remote: key)
    }
    func secureOutbound(_ stream: any ByteStream, remotePeer: PeerID?) async throws -> any SecuredStream {
        try await handshake(stream, expected: remotePeer)
    }
    func secureInbound(_ stream: any ByteStream) async throws -> any SecuredStream {
        try await handshake(stream, expected: nil)
    }
}

final class EventLog: @unchecked Sendable {
    private let lock = Mutex()
    private var events: [String] = []
    func add(_ e: HostEvent) {
        lock.withLock {
            switch e {
            case .connected(let i): events.append("+\(i.remotePeer)")
            case .disconnected(let i): events.append("-\(i.remotePeer)")
            case .identified: break
            }
        }
    }
    var all: [String] { lock.withLock { events } }
}

enum Stack: String, CaseIterable, Sendable {
    case insecureYamux, noiseYamux, noiseMplex, tlsYamux
}

func makeHost(
    _ stack: Stack = .insecureYamux, key: PrivateKey = .generateEd25519(),
    configure: (inout HostConfig) -> Void = { _ in }
) async throws -> LibP2PHost {
    var logger = Logger(label: "test.host")
    logger.logLevel = .warning
    let security: [any SecurityTransport]
    let muxers: [any StreamMuxer]
    switch stack {
    case .insecureYamux: (security, muxers) = ([InsecureTransport(identity: key)], [YamuxMuxer()])
    case .noiseYamux: (security, muxers) = ([NoiseTransport(identity: key, logger: logger)], [YamuxMuxer()])
    case .noiseMplex: (security, muxers) = ([NoiseTransport(identity: key, logger: logger)], [MplexMuxer()])
    case .tlsYamux: (security, muxers) = ([TLSTransport(identity: key, logger: logger)], [YamuxMuxer()])
    }
    var config = HostConfig(
        identity: key, listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")], security: security,
        muxers: muxers, logger: logger, peerStore: MemoryPeerStore())
    // Deadlines well above a handshake's time on a loaded machine (the tests that check a
    // deadline set their own).
    config.negotiationTimeout = TestTime.scaled(.seconds(15))
    config.dialTimeout = TestTime.scaled(.seconds(10))
    config.limits.inboundHandshakeTimeout = TestTime.scaled(.seconds(15))
    configure(&config)
    let host = LibP2PHost(config: config)
    try await host.start()
    return host
}

/// `/echo/1.0.0`: copy until EOF, then close.
func installEcho(_ host: LibP2PHost) async {
    await host.setHandler("/echo/1.0.0") { incoming in
        do {
            while let chunk = try await incoming.stream.read() { try await incoming.stream.write(chunk) }
            try await incoming.stream.closeWrite()
        } catch {
            await incoming.stream.reset()
        }
    }
}

func dialAddress(of host: LibP2PHost) async throws -> Multiaddr {
    let addr = try #require(await host.listenAddresses().first)
    return addr.encapsulate(try Multiaddr("/p2p/\(host.localPeer)"))
}

func echoRoundTrip(_ from: LibP2PHost, _ to: PeerID, _ payload: [UInt8]) async throws -> [UInt8] {
    let (stream, proto) = try await from.newStream(to: to, protocols: ["/echo/1.0.0"])
    #expect(proto == "/echo/1.0.0")
    // Write while reading: an echo of more than the flow-control windows would otherwise deadlock.
    let writer = Task {
        try await stream.write(payload)
        try await stream.closeWrite()
    }
    defer { writer.cancel() }
    var out: [UInt8] = []
    while let chunk = try await stream.read() { out += chunk }
    try await writer.value
    await stream.close()
    return out
}

func waitUntil(_ what: String, _ condition: @escaping @Sendable () async -> Bool) async throws {
    try await withTimeout(TestTime.scaled(.seconds(10)), what: what) {
        while await !condition() { try await Task.sleep(for: .milliseconds(20)) }
    }
}

@Suite("Host", .serialized, .onBlockingPool)
struct HostTests {
    @Test func connectEchoReuseDisconnect() async throws {
        let a = try await makeHost()
        let b = try await makeHost()
        let events = EventLog()
        await a.addEventObserver { events.add($0) }
        await installEcho(b)
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "host test") {
            let peer = try await a.connect(try await dialAddress(of: b))
            #expect(peer == b.localPeer)
            // Reuse: a second connect and a stream open no new connection.
            _ = try await a.connect(try await dialAddress(of: b))
            #expect(try await echoRoundTrip(a, b.localPeer, Array("hi".utf8)) == Array("hi".utf8))
            #expect(try await echoRoundTrip(a, b.localPeer, [1, 2, 3]) == [1, 2, 3])
            #expect(await a.connections().count == 1)
            let info = try #require(await a.connections().first)
            #expect(info.direction == .outbound && info.remotePeer == b.localPeer && info.muxer == .yamux)
            try await waitUntil("inbound seen") { await b.connections().count == 1 }
            #expect(await b.connections().first?.direction == .inbound)
            #expect(a.peerStore.publicKey(of: b.localPeer) != nil)
            // b can open streams back over the same (inbound) connection.
            await installEcho(a)
            #expect(try await echoRoundTrip(b, a.localPeer, [7]) == [7])
            #expect(await b.connections().count == 1)
            await a.disconnect(b.localPeer)
            #expect(await a.connections().isEmpty)
            try await waitUntil("remote side sees the close") { await b.connections().isEmpty }
            #expect(events.all == ["+\(b.localPeer)", "-\(b.localPeer)"])
            // Dial again via the peer store's addresses.
            #expect(try await echoRoundTrip(a, b.localPeer, [4]) == [4])
        }
        await a.stop()
        await b.stop()
    }

    @Test func concurrentDialsCoalesce() async throws {
        let a = try await makeHost()
        let b = try await makeHost()
        await installEcho(b)
        let addr = try await dialAddress(of: b)
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "coalesce") {
            try await withThrowingTaskGroup(of: PeerID.self) { group in
                for _ in 0..<8 { group.addTask { try await a.connect(addr) } }
                for try await p in group { #expect(p == b.localPeer) }
            }
            #expect(await a.connections().count == 1)
            try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for i in 0..<20 { group.addTask { try await echoRoundTrip(a, b.localPeer, [UInt8(i)]) } }
                for try await r in group { #expect(r.count == 1) }
            }
        }
        await a.stop()
        await b.stop()
    }

    @Test func wrongPeerIDIsRefused() async throws {
        let a = try await makeHost()
        let b = try await makeHost()
        let other = PrivateKey.generateEd25519().publicKey.peerID
        let addr = try #require(await b.listenAddresses().first).encapsulate(try Multiaddr("/p2p/\(other)"))
        await #expect(throws: HostError.self) { try await a.connect(addr) }
        #expect(await a.connections().isEmpty)
        // Backoff: an immediate retry fails fast.
        do {
            try await a.connect(addr)
            Issue.record("expected a failure")
        } catch let error as HostError {
            if case .dialBackoff = error {} else { Issue.record("expected backoff, got \(error)") }
        }
        await a.stop()
        await b.stop()
    }

    @Test func unknownProtocolAndUnknownPeer() async throws {
        let a = try await makeHost()
        let b = try await makeHost()
        await installEcho(b)
        try await a.connect(try await dialAddress(of: b))
        await #expect(throws: MultistreamError.self) {
            _ = try await a.newStream(to: b.localPeer, protocols: ["/nope/1"])
        }
        let stranger = PrivateKey.generateEd25519().publicKey.peerID
        await #expect(throws: HostError.noAddresses(stranger)) {
            _ = try await a.newStream(to: stranger, protocols: ["/echo/1.0.0"])
        }
        #expect(await b.supportedProtocols() == ["/echo/1.0.0"])
        await a.stop()
        await b.stop()
    }

    @Test func inboundConnectionLimit() async throws {
        let server = try await makeHost { $0.limits.maxInboundConnections = 1 }
        await installEcho(server)
        let c1 = try await makeHost()
        let c2 = try await makeHost()
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "limit") {
            try await c1.connect(try await dialAddress(of: server))
            try await waitUntil("first registered") { await server.connections().count == 1 }
            // The second client's connection is refused (reset before or after the handshake).
            var failed = false
            do {
                try await c2.connect(try await dialAddress(of: server))
                _ = try await echoRoundTrip(c2, server.localPeer, [1])
            } catch {
                failed = true
            }
            #expect(failed)
            #expect(await server.connections().count == 1)
            #expect(try await echoRoundTrip(c1, server.localPeer, [2]) == [2])
        }
        for h in [server, c1, c2] { await h.stop() }
    }

    /// Sockets that connect and say nothing take a bounded number of handshake slots, are
    /// dropped oldest first when a newcomer needs a slot, and at the handshake deadline.
    @Test func idleSocketsNeverKeepARealPeerOut() async throws {
        let server = try await makeHost {
            $0.limits.maxInboundPending = 4
            $0.limits.inboundHandshakeTimeout = .seconds(1)
        }
        await installEcho(server)
        let client = try await makeHost()
        let address = try await dialAddress(of: server)
        let port = Int(try #require(address.value(for: .tcp)).valueString)!
        var idle: [TCPConnection] = []
        let transport = TCPTransport(group: MultiThreadedEventLoopGroup.singleton, logger: Logger(label: "idle"))
        for _ in 0..<12 { idle.append(try await transport.dial(try Multiaddr("/ip4/127.0.0.1/tcp/\(port)"))) }
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "real peer among idle sockets") {
            try await client.connect(address)
            #expect(try await echoRoundTrip(client, server.localPeer, [7, 7]) == [7, 7])
        }
        // Every idle socket is closed by the server: the oldest evicted, the rest at the deadline.
        let started = ContinuousClock.now
        for socket in idle {
            try await withTimeout(TestTime.scaled(.seconds(10)), what: "idle socket dropped") {
                // The server's multistream header, then EOF, or a reset (evicted sockets).
                do { while try await socket.read() != nil {} } catch {}
            }
        }
        #expect(ContinuousClock.now - started < TestTime.scaled(.seconds(5)))
        for h in [server, client] { await h.stop() }
    }

    /// Hosts with the same swarm key connect; a host without it, or with another, cannot.
    @Test func privateNetworks() async throws {
        let key = PreSharedKey.generate()
        let a = try await makeHost(.noiseYamux) { $0.privateNetwork = key }
        let b = try await makeHost(.noiseYamux) { $0.privateNetwork = key }
        // A refused dial can end only at a handshake deadline (garbage read as a long length
        // prefix waits for bytes that never come): the outsiders' deadlines, as dialer and as
        // listener, are short, so the four refusals fit the test's deadline.
        func short(_ config: inout HostConfig) {
            config.negotiationTimeout = TestTime.scaled(.seconds(2))
            config.limits.inboundHandshakeTimeout = TestTime.scaled(.seconds(2))
        }
        let outsider = try await makeHost(.noiseYamux) { short(&$0) }
        let stranger = try await makeHost(.noiseYamux) { short(&$0); $0.privateNetwork = PreSharedKey.generate() }
        await installEcho(b)
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "private network") {
            try await a.connect(try await dialAddress(of: b))
            #expect(try await echoRoundTrip(a, b.localPeer, [1, 2, 3]) == [1, 2, 3])
            for (dialer, target) in [(outsider, b), (b, outsider), (stranger, b), (b, stranger)] {
                await #expect(throws: (any Error).self) { try await dialer.connect(try await dialAddress(of: target)) }
            }
        }
        for h in [a, b, outsider, stranger] { await h.stop() }
    }

    @Test func perProtocolStreamLimit() async throws {
        let server = try await makeHost { $0.limits.maxStreamsPerProtocol = 1 }
        let client = try await makeHost()
        let gate = Gate()
        await server.setHandler("/hold/1") { incoming in
            await gate.wait()
            await incoming.stream.close()
        }
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "stream limit") {
            try await client.connect(try await dialAddress(of: server))
            let (s1, _) = try await client.newStream(to: server.localPeer, protocols: ["/hold/1"])
            try await Task.sleep(for: .milliseconds(200))
            let (s2, _) = try await client.newStream(to: server.localPeer, protocols: ["/hold/1"])
            // The second one is reset by the server: reading fails or ends at once.
            var failed = false
            do { _ = try await s2.read() } catch { failed = true }
            #expect(failed)
            await gate.open()
            #expect(try await s1.read() == nil)
        }
        await server.stop()
        await client.stop()
    }

    @Test func connectionManagerTrims() async throws {
        let server = try await makeHost {
            $0.connManager = .init(lowWater: 1, highWater: 2, gracePeriod: .zero)
        }
        var made: [LibP2PHost] = []
        for _ in 0..<3 { made.append(try await makeHost()) }
        let clients = made
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "trim") {
            for c in clients {
                try await c.connect(try await dialAddress(of: server))
                try await Task.sleep(for: .milliseconds(50))
            }
            try await waitUntil("trimmed") { await server.connections().count <= 1 }
            // The newest survives.
            #expect(await server.connections().first?.remotePeer == clients[2].localPeer)
        }
        await server.stop()
        for c in clients { await c.stop() }
    }

    @Test func protectedPeerSurvivesTrim() async throws {
        let server = try await makeHost {
            $0.connManager = .init(lowWater: 1, highWater: 2, gracePeriod: .zero)
        }
        var made: [LibP2PHost] = []
        for _ in 0..<3 { made.append(try await makeHost()) }
        let clients = made
        await server.protect(clients[0].localPeer, tag: "test")
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "trim") {
            for c in clients {
                try await c.connect(try await dialAddress(of: server))
                try await Task.sleep(for: .milliseconds(50))
            }
            try await waitUntil("trimmed") { await server.connections().count <= 1 }
            #expect(await server.connections().first?.remotePeer == clients[0].localPeer)
        }
        await server.stop()
        for c in clients { await c.stop() }
    }

    @Test(arguments: [Stack.noiseYamux, .noiseMplex, .tlsYamux])
    func realStacksEcho(_ stack: Stack) async throws {
        let a = try await makeHost(stack)
        let b = try await makeHost(stack)
        await installEcho(b)
        try await withTimeout(TestTime.scaled(.seconds(30)), what: "\(stack) echo") {
            try await a.connect(try await dialAddress(of: b))
            let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            #expect(try await echoRoundTrip(a, b.localPeer, payload) == payload)
            let info = try #require(await a.connections().first)
            #expect(info.security == (stack == .tlsYamux ? .tls : .noise))
            #expect(info.muxer == (stack == .noiseMplex ? .mplex : .yamux))
        }
        await a.stop()
        await b.stop()
    }

    @Test func noiseRefusesWrongPeer() async throws {
        let a = try await makeHost(.noiseYamux)
        let b = try await makeHost(.noiseYamux)
        let other = PrivateKey.generateEd25519().publicKey.peerID
        let addr = try #require(await b.listenAddresses().first).encapsulate(try Multiaddr("/p2p/\(other)"))
        await #expect(throws: HostError.self) { try await a.connect(addr) }
        #expect(await a.connections().isEmpty)
        await a.stop()
        await b.stop()
    }

    @Test func securityNegotiationPicksCommonProtocol() async throws {
        // a prefers TLS then Noise, b only has Noise.
        let keyA = PrivateKey.generateEd25519()
        var logger = Logger(label: "t")
        logger.logLevel = .warning
        let a = try await makeHost(.tlsYamux, key: keyA) {
            $0.security = [TLSTransport(identity: keyA, logger: logger), NoiseTransport(identity: keyA, logger: logger)]
        }
        let b = try await makeHost(.noiseYamux)
        await installEcho(b)
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "negotiate") {
            try await a.connect(try await dialAddress(of: b))
            #expect(await a.connections().first?.security == .noise)
            #expect(try await echoRoundTrip(a, b.localPeer, [1]) == [1])
        }
        await a.stop()
        await b.stop()
    }
}

actor Gate {
    private var opened = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    func wait() async {
        if opened { return }
        await withCheckedContinuation { waiters.append($0) }
    }
    func open() {
        opened = true
        for w in waiters { w.resume() }
        waiters = []
    }
}

@Suite("Listen addresses", .onBlockingPool)
struct ListenAddressTests {
    @Test("0.0.0.0 and :: become one address per interface of the family; others stay")
    func expands() throws {
        let interfaces = [try Multiaddr("/ip4/127.0.0.1"), try Multiaddr("/ip4/10.0.0.5"), try Multiaddr("/ip6/::1")]
        let out = LibP2PHost.expandUnspecified(
            [try Multiaddr("/ip4/0.0.0.0/tcp/4101"), try Multiaddr("/ip6/::/tcp/4101"), try Multiaddr("/ip4/192.168.1.2/tcp/1")],
            interfaces: interfaces)
        #expect(out.map(\.description) == [
            "/ip4/127.0.0.1/tcp/4101", "/ip4/10.0.0.5/tcp/4101", "/ip6/::1/tcp/4101", "/ip4/192.168.1.2/tcp/1",
        ])
        // No interface of a family: the unspecified address is kept rather than dropped.
        #expect(LibP2PHost.expandUnspecified([try Multiaddr("/ip6/::/tcp/1")], interfaces: []).map(\.description) == ["/ip6/::/tcp/1"])
        #expect(!LibP2PHost.interfaceAddresses().isEmpty)
    }

    @Test("0.0.0.0:P and [::]:P listen side by side (IPv6 listeners are IPv6-only, as the default config needs)")
    func dualListeners() async throws {
        let transport = TCPTransport(logger: Logger(label: "test.tcp"))
        let v4 = try await transport.listen(try Multiaddr("/ip4/0.0.0.0/tcp/0")) { connection in
            Task { await connection.close() }
        }
        defer { Task { await v4.close() } }
        let port = try #require(v4.address.value(for: .tcp)).valueString
        let v6 = try await transport.listen(try Multiaddr("/ip6/::/tcp/\(port)")) { connection in
            Task { await connection.close() }
        }
        await v6.close()
    }
}
