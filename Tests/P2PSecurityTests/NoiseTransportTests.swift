import P2PCore
import P2PCrypto
import Testing
import TestSupport
@testable import P2PSecurity

@Suite(.onBlockingPool) struct NoiseTransportTests {
    static let keyTypes: [KeyType] = [.ed25519, .rsa, .secp256k1, .ecdsa]

    static func key(_ type: KeyType) throws -> PrivateKey {
        type == .ed25519 ? PrivateKey.generateEd25519() : try PrivateKey.generate(type)
    }

    static func transport(_ key: PrivateKey, timeout: Duration = TestTime.scaled(.seconds(30))) -> NoiseTransport {
        NoiseTransport(identity: key, logger: NoiseTestSupport.logger(), handshakeTimeout: timeout)
    }

    /// Handshake with `type` as the initiator's key and as the responder's key; identities and echo checked.
    @Test(arguments: keyTypes)
    func handshakeBothWays(_ type: KeyType) async throws {
        for initiatorIsType in [true, false] {
            let initiatorKey = initiatorIsType ? try Self.key(type) : PrivateKey.generateEd25519()
            let responderKey = initiatorIsType ? PrivateKey.generateEd25519() : try Self.key(type)
            let responderPeer = PeerID(publicKey: responderKey.publicKey)
            let (outbound, inbound) = try await NoiseTestSupport.handshake(
                initiator: Self.transport(initiatorKey), responder: Self.transport(responderKey), expected: responderPeer)
            #expect(outbound.remotePeer == responderPeer)
            #expect(outbound.remotePublicKey == responderKey.publicKey)
            #expect(outbound.localPeer == PeerID(publicKey: initiatorKey.publicKey))
            #expect(inbound.remotePeer == PeerID(publicKey: initiatorKey.publicKey))
            #expect(inbound.remotePublicKey == initiatorKey.publicKey)
            #expect(inbound.securityProtocol == .noise)
            try await outbound.write(Array("hello".utf8))
            #expect(try await inbound.read() == Array("hello".utf8))
            try await inbound.write(Array("world".utf8))
            #expect(try await outbound.read() == Array("world".utf8))
            await outbound.close()
            await inbound.close()
        }
    }

    @Test func inboundWithoutExpectedPeerAcceptsAnyone() async throws {
        let (outbound, inbound) = try await NoiseTestSupport.handshake(
            initiator: Self.transport(.generateEd25519()), responder: Self.transport(.generateEd25519()), expected: nil)
        #expect(inbound.remotePeer == outbound.localPeer)
        #expect(outbound.remotePeer == inbound.localPeer)
    }

    @Test func expectedPeerMismatchFails() async throws {
        let wrong = PeerID(publicKey: PrivateKey.generateEd25519().publicKey)
        let responderKey = PrivateKey.generateEd25519()
        let (a, b) = MemoryByteStream.pair()
        async let inbound: Void = { _ = try? await Self.transport(responderKey).secureInbound(b) }()
        await #expect(throws: SecurityError.peerIDMismatch(
            expected: wrong, actual: PeerID(publicKey: responderKey.publicKey))) {
            _ = try await Self.transport(.generateEd25519()).secureOutbound(a, remotePeer: wrong)
        }
        await inbound
        // The failed handshake reset the stream.
        await #expect(throws: StreamError.reset) { _ = try await b.read() }
    }

    @Test func garbledFrameAfterHandshakeIsBadFrameAndResets() async throws {
        let (a, b) = MemoryByteStream.pair()
        async let inboundTask = Self.transport(.generateEd25519()).secureInbound(b)
        let outbound = try await Self.transport(.generateEd25519()).secureOutbound(a, remotePeer: nil)
        let inbound = try await inboundTask
        try await outbound.write([1, 2, 3])
        #expect(try await inbound.read() == [1, 2, 3])
        // Garbage frame written under the secure layer.
        try await a.write([0x00, 0x20] + NoiseTestSupport.pattern(0x20))
        await #expect {
            _ = try await inbound.read()
        } throws: { error in
            guard let e = error as? SecurityError, case .badFrame(let proto, _) = e else { return false }
            return proto == .noise
        }
        // Later reads fail the same way; the underlying stream was reset.
        await #expect(throws: SecurityError.self) { _ = try await inbound.read() }
        await #expect(throws: StreamError.reset) { _ = try await outbound.read() }
    }

    /// A stream that flips one bit of the next chunk it reads once armed (a corrupting middlebox).
    final class TamperingStream: ByteStream, @unchecked Sendable {
        let base: any ByteStream
        private let lock = Mutex()
        private var armed = false
        init(_ base: any ByteStream) { self.base = base }
        func arm() { lock.withLock { armed = true } }
        func read() async throws -> [UInt8]? {
            guard var chunk = try await base.read() else { return nil }
            if lock.withLock({ () -> Bool in defer { armed = false }; return armed }), let last = chunk.indices.last {
                chunk[last] ^= 0x01
            }
            return chunk
        }
        func write(_ bytes: [UInt8]) async throws { try await base.write(bytes) }
        func closeWrite() async throws { try await base.closeWrite() }
        func close() async { await base.close() }
        func reset() async { await base.reset() }
    }

    @Test func flippedBitInRealFrameIsBadFrame() async throws {
        let (a, b) = MemoryByteStream.pair()
        let tampering = TamperingStream(b)
        async let inboundTask = Self.transport(.generateEd25519()).secureInbound(tampering)
        let outbound = try await Self.transport(.generateEd25519()).secureOutbound(a, remotePeer: nil)
        let inbound = try await inboundTask
        try await outbound.write([1, 1])
        #expect(try await inbound.read() == [1, 1])
        tampering.arm()
        try await outbound.write([9, 9, 9, 9])
        await #expect {
            _ = try await inbound.read()
        } throws: { error in
            guard let e = error as? SecurityError, case .badFrame(_, let reason) = e else { return false }
            return reason.contains("frame 1")
        }
        await #expect(throws: StreamError.reset) { try await outbound.write([1]) }
    }

    @Test func garbageFirstMessageIsHandshakeFailed() async throws {
        let (a, b) = MemoryByteStream.pair()
        try await a.write([0x00, 0x05, 1, 2, 3, 4, 5])
        await #expect {
            _ = try await Self.transport(.generateEd25519()).secureInbound(b)
        } throws: { error in
            guard let e = error as? SecurityError, case .handshakeFailed = e else { return false }
            return true
        }
    }

    @Test func garbageSecondMessageIsHandshakeFailed() async throws {
        let (a, b) = MemoryByteStream.pair()
        async let fake: Void = {
            let reader = NoiseFrameReader(b)
            _ = try? await reader.readFrame(what: "m1")
            try? await b.write(NoiseFraming.frame(NoiseTestSupport.pattern(200)))
        }()
        await #expect {
            _ = try await Self.transport(.generateEd25519()).secureOutbound(a, remotePeer: nil)
        } throws: { error in
            guard let e = error as? SecurityError, case .handshakeFailed = e else { return false }
            return true
        }
        await fake
    }

    @Test func truncatedHandshakeIsHandshakeFailed() async throws {
        let (a, b) = MemoryByteStream.pair()
        try await a.write([0x00, 0x40, 1, 2, 3])
        try await a.closeWrite()
        await #expect {
            _ = try await Self.transport(.generateEd25519()).secureInbound(b)
        } throws: { error in
            guard let e = error as? SecurityError, case .handshakeFailed = e else { return false }
            return true
        }
    }

    @Test func truncatedFrameAfterHandshakeIsUnexpectedEOF() async throws {
        let (a, b) = MemoryByteStream.pair()
        async let inboundTask = Self.transport(.generateEd25519()).secureInbound(b)
        _ = try await Self.transport(.generateEd25519()).secureOutbound(a, remotePeer: nil)
        let inbound = try await inboundTask
        try await a.write([0x01, 0x00, 1, 2, 3])
        try await a.closeWrite()
        await #expect {
            _ = try await inbound.read()
        } throws: { error in
            guard let e = error as? StreamError, case .unexpectedEOF = e else { return false }
            return true
        }
    }

    @Test func silentPeerTimesOut() async throws {
        let (_, b) = MemoryByteStream.pair()
        let clock = ContinuousClock()
        let started = clock.now
        await #expect {
            _ = try await Self.transport(.generateEd25519(), timeout: .milliseconds(200)).secureInbound(b)
        } throws: { error in
            guard let e = error as? StreamError, case .timeout = e else { return false }
            return true
        }
        #expect(clock.now - started < TestTime.scaled(.seconds(10)))
    }

    @Test func bigWritesAreSplitIntoMaxSizeFrames() async throws {
        let (a, b) = MemoryByteStream.pair(capacity: 4 << 20)
        async let inboundTask = Self.transport(.generateEd25519()).secureInbound(b)
        let outbound = try await Self.transport(.generateEd25519()).secureOutbound(a, remotePeer: nil)
        _ = try await inboundTask
        let total = 150_000
        try await outbound.write(NoiseTestSupport.pattern(total))
        let rawCount = total + 3 * 18
        let raw = try await NoiseTestSupport.readAll(b, count: rawCount)
        #expect(raw.count == rawCount)
        var lengths: [Int] = []
        var offset = 0
        while offset + 2 <= raw.count {
            let length = Int(raw[offset]) << 8 | Int(raw[offset + 1])
            lengths.append(length)
            offset += 2 + length
        }
        #expect(lengths == [65535, 65535, total - 2 * 65519 + 16])
    }

    @Test func emptyFramesAreSkipped() async throws {
        let (a, b) = MemoryByteStream.pair()
        async let inboundTask = Self.transport(.generateEd25519()).secureInbound(b)
        let outbound = try await Self.transport(.generateEd25519()).secureOutbound(a, remotePeer: nil)
        let inbound = try await inboundTask
        try await outbound.write([])
        try await outbound.write([42])
        #expect(try await inbound.read() == [42])
        try await outbound.closeWrite()
        #expect(try await inbound.read() == nil)
    }
}
