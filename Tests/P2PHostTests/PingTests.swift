import Logging
import Multiformats
import P2PCore
import P2PCrypto
import Testing
import TestSupport

@testable import P2PHost

@Suite("Ping", .onBlockingPool, .caseTimeLimit(minutes: 1))
struct PingTests {
    let logger = Logger(label: "test.ping")

    @Test func pingsAPeer() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 2001)
        let b = try network.makeHost(port: 2002)
        await PingService(host: b, logger: logger).register()
        #expect(await b.supportedProtocols() == [.ping])
        let rtts = try await PingService(host: a, logger: logger).ping(b.localPeer, count: 5)
        #expect(rtts.count == 5)
        #expect(rtts.allSatisfy { $0 >= .zero && $0 < TestTime.scaled(.seconds(10)) })
    }

    @Test func wrongEchoIsATypedError() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 2003)
        let b = try network.makeHost(port: 2004)
        await b.setHandler(.ping) { incoming in
            let reader = StreamReader(incoming.stream)
            while let payload = try? await reader.readExactly(32) {
                try? await incoming.stream.write(payload.map { $0 ^ 1 })
            }
            await incoming.stream.close()
        }
        await #expect(throws: PingError.wrongEcho(peer: b.localPeer, index: 0)) {
            try await PingService(host: a, logger: logger).ping(b.localPeer, count: 3)
        }
    }

    @Test func earlyEOFIsATypedError() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 2005)
        let b = try network.makeHost(port: 2006)
        await b.setHandler(.ping) { incoming in
            let reader = StreamReader(incoming.stream)
            if let payload = try? await reader.readExactly(32) { try? await incoming.stream.write(payload) }
            _ = try? await reader.readExactly(32)
            try? await incoming.stream.closeWrite()
            await incoming.stream.close()
        }
        await #expect(throws: PingError.streamEnded(peer: b.localPeer, index: 1)) {
            try await PingService(host: a, logger: logger).ping(b.localPeer, count: 3)
        }
    }

    @Test func silentPeerTimesOut() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 2007)
        let b = try network.makeHost(port: 2008)
        await b.setHandler(.ping) { incoming in
            // Never answers; ends when the pinger resets.
            while (try? await incoming.stream.read()) != nil {}
        }
        let service = PingService(host: a, logger: logger, timeout: .milliseconds(200))
        let error = await #expect(throws: StreamError.self) { try await service.ping(b.localPeer) }
        if case .timeout = error {} else { Issue.record("expected a timeout, got \(String(describing: error))") }
    }

    @Test func rejectsBadCounts() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 2009)
        let service = PingService(host: a, logger: logger, maxEchoesPerStream: 10)
        await #expect(throws: PingError.invalidCount(0, limit: 10)) { try await service.ping(a.localPeer, count: 0) }
        await #expect(throws: PingError.invalidCount(11, limit: 10)) { try await service.ping(a.localPeer, count: 11) }
    }

    @Test func handlerEchoesUntilEOFAndEnforcesItsLimit() async throws {
        let service = PingService(host: try IDFakeNetwork().makeHost(port: 2010), logger: logger, maxEchoesPerStream: 3)
        let remote = PeerID(publicKey: PrivateKey.generateEd25519().publicKey)
        let address = try Multiaddr("/ip4/127.0.0.1/tcp/9")

        // Payloads split across writes are reassembled; EOF at a boundary closes cleanly.
        let (client, server) = MemoryByteStream.pair()
        let handler = Task {
            await service.handle(IncomingStream(stream: server, protocolID: .ping, remotePeer: remote, remoteAddress: address))
        }
        let reader = StreamReader(client)
        let payload = (0..<32).map { UInt8($0) }
        try await client.write(Array(payload[0..<10]))
        try await client.write(Array(payload[10...]))
        #expect(try await reader.readExactly(32) == payload)
        try await client.closeWrite()
        #expect(try await reader.readAvailable() == nil)
        await handler.value

        // The fourth ping on one stream is refused with a reset.
        let (client2, server2) = MemoryByteStream.pair()
        let handler2 = Task {
            await service.handle(IncomingStream(stream: server2, protocolID: .ping, remotePeer: remote, remoteAddress: address))
        }
        let reader2 = StreamReader(client2)
        for _ in 0..<3 {
            try await client2.write(payload)
            #expect(try await reader2.readExactly(32) == payload)
        }
        try await client2.write(payload)
        await #expect(throws: StreamError.reset) { try await reader2.readExactly(32) }
        await handler2.value
    }
}
