import P2PCore
import P2PCrypto
import P2PSecurity
import Testing
import TestSupport

/// A named way to build a security transport for an identity; the conformance suite runs for each.
struct SecurityTransportFactory: Sendable, CustomStringConvertible {
    let name: String
    let make: @Sendable (PrivateKey) -> any SecurityTransport
    var description: String { name }

    /// Every transport that must pass the suite.
    static let all: [SecurityTransportFactory] = [
        SecurityTransportFactory(name: "noise") {
            NoiseTransport(identity: $0, logger: NoiseTestSupport.logger(), handshakeTimeout: TestTime.scaled(.seconds(30)))
        },
        SecurityTransportFactory(name: "tls") { TLSTransport(identity: $0, logger: NoiseTestSupport.logger()) },
    ]
}

/// Behaviour every `SecurityTransport` must show over an in-memory pipe.
@Suite(.onBlockingPool) struct SecurityConformanceTests {
    static func pair(
        _ factory: SecurityTransportFactory, _ a: PrivateKey = .generateEd25519(), _ b: PrivateKey = .generateEd25519()
    ) async throws -> (outbound: any SecuredStream, inbound: any SecuredStream) {
        try await NoiseTestSupport.handshake(
            initiator: factory.make(a), responder: factory.make(b), expected: PeerID(publicKey: b.publicKey))
    }

    @Test(arguments: SecurityTransportFactory.all)
    func remoteIdentitiesAreRight(_ factory: SecurityTransportFactory) async throws {
        let a = PrivateKey.generateEd25519()
        let b = try PrivateKey.generate(.secp256k1)
        let (outbound, inbound) = try await Self.pair(factory, a, b)
        #expect(outbound.localPeer == PeerID(publicKey: a.publicKey))
        #expect(outbound.remotePeer == PeerID(publicKey: b.publicKey))
        #expect(outbound.remotePublicKey == b.publicKey)
        #expect(inbound.localPeer == PeerID(publicKey: b.publicKey))
        #expect(inbound.remotePeer == PeerID(publicKey: a.publicKey))
        #expect(inbound.remotePublicKey == a.publicKey)
        #expect(outbound.securityProtocol == factory.make(a).protocolID)
        #expect(inbound.securityProtocol == factory.make(b).protocolID)
        await outbound.close()
        await inbound.close()
    }

    @Test(arguments: SecurityTransportFactory.all)
    func eightMiBEachWayConcurrently(_ factory: SecurityTransportFactory) async throws {
        let (outbound, inbound) = try await Self.pair(factory)
        let size = 8 << 20
        let dataA = NoiseTestSupport.pattern(size, seed: 11)
        let dataB = NoiseTestSupport.pattern(size, seed: 29)
        try await withTimeout(TestTime.scaled(.seconds(120)), what: "8 MiB each way", onTimeout: { await outbound.reset() }) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var offset = 0
                    while offset < size {  // uneven write sizes, some above one frame
                        let n = min(size - offset, 100_003)
                        try await outbound.write(Array(dataA[offset..<(offset + n)]))
                        offset += n
                    }
                    try await outbound.closeWrite()
                }
                group.addTask {
                    try await inbound.write(dataB)
                    try await inbound.closeWrite()
                }
                group.addTask {
                    let got = try await NoiseTestSupport.readAll(inbound)
                    #expect(got.count == size)
                    #expect(got == dataA)
                }
                group.addTask {
                    let got = try await NoiseTestSupport.readAll(outbound)
                    #expect(got.count == size)
                    #expect(got == dataB)
                }
                try await group.waitForAll()
            }
        }
    }

    @Test(arguments: SecurityTransportFactory.all)
    func halfClose(_ factory: SecurityTransportFactory) async throws {
        let (outbound, inbound) = try await Self.pair(factory)
        try await outbound.write(Array("request".utf8))
        try await outbound.closeWrite()
        #expect(try await NoiseTestSupport.readAll(inbound) == Array("request".utf8))
        // The other direction still works after the half-close.
        try await inbound.write(Array("response".utf8))
        try await inbound.closeWrite()
        #expect(try await NoiseTestSupport.readAll(outbound) == Array("response".utf8))
        await #expect(throws: (any Error).self) { try await outbound.write([1]) }
    }

    @Test(arguments: SecurityTransportFactory.all)
    func resetPropagates(_ factory: SecurityTransportFactory) async throws {
        let (outbound, inbound) = try await Self.pair(factory)
        try await outbound.write([1, 2, 3])
        #expect(try await inbound.read() == [1, 2, 3])
        try await withTimeout(TestTime.scaled(.seconds(10)), what: "reset propagation") {
            async let pending: Void = {
                await #expect(throws: (any Error).self) { _ = try await inbound.read() }
            }()
            try await Task.sleep(for: .milliseconds(20))
            await outbound.reset()
            await pending
        }
        await #expect(throws: (any Error).self) { try await inbound.write([4]) }
    }

    @Test(arguments: SecurityTransportFactory.all)
    func expectedPeerMismatch(_ factory: SecurityTransportFactory) async throws {
        let responderKey = PrivateKey.generateEd25519()
        let wrong = PeerID(publicKey: PrivateKey.generateEd25519().publicKey)
        let (a, b) = MemoryByteStream.pair()
        let responder = factory.make(responderKey)
        async let inbound: Void = { _ = try? await responder.secureInbound(b) }()
        await #expect(throws: SecurityError.peerIDMismatch(
            expected: wrong, actual: PeerID(publicKey: responderKey.publicKey))) {
            _ = try await factory.make(.generateEd25519()).secureOutbound(a, remotePeer: wrong)
        }
        await inbound
    }

    @Test(arguments: SecurityTransportFactory.all)
    func manySmallWrites(_ factory: SecurityTransportFactory) async throws {
        let (outbound, inbound) = try await Self.pair(factory)
        let count = 5_000
        var expected: [UInt8] = []
        for i in 0..<count { expected += [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 1 + i % 7) }
        let data = expected
        try await withTimeout(TestTime.scaled(.seconds(60)), what: "many small writes", onTimeout: { await outbound.reset() }) {
            async let writer: Void = {
                var offset = 0
                for i in 0..<count {
                    let n = 1 + i % 7
                    try await outbound.write(Array(data[offset..<(offset + n)]))
                    offset += n
                }
                try await outbound.closeWrite()
            }()
            let got = try await NoiseTestSupport.readAll(inbound)
            try await writer
            #expect(got == data)
        }
    }
}
