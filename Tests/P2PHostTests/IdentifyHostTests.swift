import Logging
import Multiformats
import P2PCore
import P2PCrypto
import P2PMux
import P2PSecurity
import Testing
import TestSupport

@testable import P2PHost

/// Identify and ping between two real `LibP2PHost`s on 127.0.0.1 (TCP, Noise/TLS, yamux/mplex).
@Suite("Identify over real hosts", .serialized, .onBlockingPool, .caseTimeLimit(minutes: 2))
struct IdentifyHostTests {
    enum Stack: String, CaseIterable, Sendable { case noiseYamux, noiseMplex, tlsYamux }

    static func startHost(_ stack: Stack, key: PrivateKey) async throws -> LibP2PHost {
        var logger = Logger(label: "test.identify-host")
        logger.logLevel = .warning
        let security: any SecurityTransport =
            stack == .tlsYamux ? TLSTransport(identity: key, logger: logger) : NoiseTransport(identity: key, logger: logger)
        let muxer: any StreamMuxer = stack == .noiseMplex ? MplexMuxer() : YamuxMuxer()
        var config = HostConfig(
            identity: key, listenAddresses: [try Multiaddr("/ip4/127.0.0.1/tcp/0")], security: [security],
            muxers: [muxer], logger: logger, peerStore: MemoryPeerStore())
        config.dialTimeout = TestTime.scaled(.seconds(15))
        config.negotiationTimeout = TestTime.scaled(.seconds(15))
        config.limits.inboundHandshakeTimeout = TestTime.scaled(.seconds(15))
        let host = LibP2PHost(config: config)
        try await host.start()
        return host
    }

    @Test(arguments: Stack.allCases)
    func identifyPingAndPush(_ stack: Stack) async throws {
        let logger = Logger(label: "test.identify-host")
        let keyA = PrivateKey.generateEd25519()
        let keyB = try PrivateKey.generate(.rsa)
        let a = try await Self.startHost(stack, key: keyA)
        let b = try await Self.startHost(stack, key: keyB)
        let idA = IdentifyService(host: a, privateKey: keyA, agentVersion: "jz-node/a", logger: logger, timeout: .seconds(10))
        let idB = IdentifyService(host: b, privateKey: keyB, agentVersion: "jz-node/b", logger: logger, timeout: .seconds(10))
        let pingA = PingService(host: a, logger: logger, timeout: .seconds(10))
        let pingB = PingService(host: b, logger: logger, timeout: .seconds(10))
        for service in [idA, idB] { await service.register() }
        for service in [pingA, pingB] { await service.register() }

        let addressB = try #require(await b.listenAddresses().first)
        let peerB = try await a.connect(addressB.encapsulate(try Multiaddr("/p2p/\(b.localPeer)")))
        #expect(peerB == b.localPeer)

        let info = try await idA.identify(b.localPeer)
        #expect(info.publicKey == keyB.publicKey)
        #expect(info.agentVersion == "jz-node/b")
        #expect(info.signedPeerRecord?.addresses == (await b.listenAddresses()))
        #expect(Set(info.protocols).isSuperset(of: [.identify, .identifyPush, .ping]))
        #expect(info.observedAddress != nil)
        #expect(a.peerStore.metadata("AgentVersion", of: b.localPeer) == "jz-node/b")

        let rtts = try await pingA.ping(b.localPeer, count: 3)
        #expect(rtts.count == 3)
        let back = try await pingB.ping(a.localPeer, count: 2)
        #expect(back.count == 2)

        try await idA.push(to: b.localPeer)
        try await withTimeout(TestTime.scaled(.seconds(10)), what: "push applied") {
            while b.peerStore.metadata("AgentVersion", of: a.localPeer) != "jz-node/a" {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        await idA.unregister()
        await idB.unregister()
        await pingA.unregister()
        await pingB.unregister()
        await a.stop()
        await b.stop()
    }
}
