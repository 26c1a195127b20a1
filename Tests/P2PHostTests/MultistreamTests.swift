import Logging
import Multiformats
import P2PCrypto
import P2PMux
import P2PCore
import Testing

@testable import P2PHost
import TestSupport

@Suite("Multistream", .onBlockingPool)
struct MultistreamTests {
    typealias SM = MultistreamStateMachine

    @Test func encodesMessages() throws {
        #expect(SM.encode("na") == [3, 0x6e, 0x61, 0x0a])
        let header = SM.encode("/multistream/1.0.0")
        #expect(header.first == 19)
        #expect(try SM.decode(Array(header.dropFirst())) == "/multistream/1.0.0")
        #expect(throws: MultistreamError.self) { try SM.decode([0x61]) }
        #expect(throws: MultistreamError.self) { try SM.decode([0xff, 0x0a]) }
    }

    @Test func initiatorPipelinesAndFallsBack() {
        var sm = SM.initiator(protocols: ["/a", "/b"])
        #expect(sm.start() == .send(SM.encode("/multistream/1.0.0") + SM.encode("/a")))
        #expect(sm.receive("/multistream/1.0.0") == .wait)
        #expect(sm.receive("na") == .send(SM.encode("/b")))
        #expect(sm.receive("/b") == .agreed("/b", send: []))
    }

    @Test func initiatorFailures() {
        var bad = SM.initiator(protocols: ["/a"])
        #expect(bad.receive("/multistream/2.0.0") == .fail(.badHeader(received: "/multistream/2.0.0")))
        var none = SM.initiator(protocols: ["/a"])
        _ = none.receive("/multistream/1.0.0")
        #expect(none.receive("na") == .fail(.noCommonProtocol(proposed: ["/a"])))
        var odd = SM.initiator(protocols: ["/a"])
        _ = odd.receive("/multistream/1.0.0")
        #expect(odd.receive("/c") == .fail(.unexpectedMessage(expected: "/a", received: "/c")))
        #expect(SM.initiator(protocols: []).start() == .fail(.noCommonProtocol(proposed: [])))
    }

    @Test func responderAnswers() {
        var sm = SM.responder(supported: ["/a", "/b"])
        #expect(sm.start() == .send(SM.encode("/multistream/1.0.0")))
        #expect(sm.receive("/multistream/1.0.0") == .wait)
        #expect(sm.receive("/x") == .send(SM.encode("na")))
        #expect(sm.receive("ls") == .send(SM.encodeList(["/a", "/b"])))
        #expect(sm.receive("/b") == .agreed("/b", send: SM.encode("/b")))
    }

    @Test func responderLimitsProposals() {
        var sm = SM.responder(supported: ["/a"])
        _ = sm.receive("/multistream/1.0.0")
        for i in 0..<SM.maxProposals { #expect(sm.receive("/x\(i)") == .send(SM.encode("na"))) }
        #expect(sm.receive("/a") == .fail(.tooManyProposals(limit: SM.maxProposals)))
    }

    @Test func negotiatesOverAStreamAndReplaysPipelinedBytes() async throws {
        let (a, b) = MemoryByteStream.pair()
        async let inbound = Multistream.negotiateInbound(b, supported: ["/echo/1", "/other"])
        let (proto, out) = try await Multistream.negotiateOutbound(a, protocols: ["/nope", "/echo/1"])
        #expect(proto == "/echo/1")
        // Pipelined application bytes right behind the proposal reach the handler.
        try await out.write([1, 2, 3])
        let (inProto, inStream) = try await inbound
        #expect(inProto == "/echo/1")
        let reader = StreamReader(inStream)
        #expect(try await reader.readExactly(3) == [1, 2, 3])
        try await inStream.write([9])
        #expect(try await out.read() == [9])
    }

    @Test func readAheadBytesAreReplayed() async throws {
        // The listener's echo and its first application bytes arrive in one chunk.
        let (a, b) = MemoryByteStream.pair()
        let task = Task {
            let r = StreamReader(b)
            _ = try await r.readLengthPrefixed(maxLength: 100)
            _ = try await r.readLengthPrefixed(maxLength: 100)
            try await b.write(SM.encode("/multistream/1.0.0") + SM.encode("/p") + [0xAA, 0xBB])
        }
        let (proto, stream) = try await Multistream.negotiateOutbound(a, protocols: ["/p"])
        try await task.value
        #expect(proto == "/p")
        #expect(try await stream.read() == [0xAA, 0xBB])
    }

    @Test func noCommonProtocolFailsBothSides() async throws {
        let (a, b) = MemoryByteStream.pair()
        let inbound = Task { try await Multistream.negotiateInbound(b, supported: ["/x"]) }
        await #expect(throws: MultistreamError.noCommonProtocol(proposed: ["/a", "/b"])) {
            _ = try await Multistream.negotiateOutbound(a, protocols: ["/a", "/b"])
        }
        await a.close()
        await #expect(throws: MultistreamError.self) { _ = try await inbound.value }
    }

    @Test func oversizedMessageIsRejected() async throws {
        let (a, b) = MemoryByteStream.pair()
        let inbound = Task { try await Multistream.negotiateInbound(b, supported: ["/x"]) }
        try await a.write(SM.encode("/multistream/1.0.0") + SM.encode(String(repeating: "x", count: 2000)))
        await #expect(throws: StreamError.self) { _ = try await inbound.value }
    }

    @Test func listsProtocols() async throws {
        let (a, b) = MemoryByteStream.pair()
        let inbound = Task { try await Multistream.negotiateInbound(b, supported: ["/a", "/b/1.0.0"]) }
        let list = try await Multistream.listProtocols(a)
        #expect(list == ["/a", "/b/1.0.0"])
        await a.close()
        _ = await inbound.result
    }
}

@Suite("Upgrader", .onBlockingPool)
struct UpgraderTests {
    @Test func upgradesOverMemoryPipe() async throws {
        let (a, b) = MemoryByteStream.pair()
        let ka = PrivateKey.generateEd25519()
        let kb = PrivateKey.generateEd25519()
        var logger = Logger(label: "test.upgrader")
        logger.logLevel = .warning
        let ua = Upgrader(security: [InsecureTransport(identity: ka)], muxers: [YamuxMuxer()], logger: logger)
        let ub = Upgrader(security: [InsecureTransport(identity: kb)], muxers: [YamuxMuxer()], logger: logger)
        async let inbound = ub.upgradeInbound(b)
        let out = try await ua.upgradeOutbound(a, remotePeer: kb.publicKey.peerID)
        let inb = try await inbound
        #expect(out.remotePeer == kb.publicKey.peerID)
        #expect(inb.remotePeer == ka.publicKey.peerID)
        #expect(out.muxer == .yamux && inb.security == "/insecure-test/1.0.0")
        await out.connection.close()
        await inb.connection.close()
    }
}
