import P2PCore
import Testing
@testable import P2PMux
import TestSupport

@Suite("Yamux frame codec and state machine", .onBlockingPool)
struct YamuxUnitTests {
    @Test func headerLayout() {
        let bytes = YamuxFrameEncoder.encode(.windowUpdate(streamID: 0x0102_0304, flags: [.syn, .fin], delta: 0x0A0B_0C0D))
        #expect(bytes == [0, 1, 0, 5, 1, 2, 3, 4, 0x0A, 0x0B, 0x0C, 0x0D])
        let data = YamuxFrameEncoder.encode(.data(streamID: 3, payload: [0xAA, 0xBB]))
        #expect(data == [0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 2, 0xAA, 0xBB])
        #expect(YamuxFrameEncoder.encode(.ping(flags: .ack, value: 7)) == [0, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7])
        #expect(YamuxFrameEncoder.encode(.goAway(.protocolError)) == [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    }

    @Test func decoderHandlesSplitInput() throws {
        let frames: [YamuxFrame] = [
            .windowUpdate(streamID: 1, flags: .syn, delta: 100),
            .data(streamID: 1, payload: pattern(1000)),
            .ping(flags: .syn, value: 42),
            .data(streamID: 1, flags: .fin, payload: []),
            .goAway(.normal),
        ]
        let wire = frames.flatMap { YamuxFrameEncoder.encode($0) }
        var decoder = YamuxFrameDecoder(maxFrameSize: 1 << 20)
        var out: [YamuxFrame] = []
        var i = 0
        while i < wire.count {
            let n = min(7, wire.count - i)
            decoder.feed(Array(wire[i..<(i + n)]))
            i += n
            while let f = try decoder.next() { out.append(f) }
        }
        #expect(out == frames)
        #expect(decoder.offset == UInt64(wire.count))
        #expect(decoder.bufferedCount == 0)
    }

    @Test func decoderRejectsBadInput() {
        var d1 = YamuxFrameDecoder(maxFrameSize: 1024)
        d1.feed([1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        #expect(throws: YamuxError.unsupportedVersion(1, offset: 0)) { _ = try d1.next() }
        var d2 = YamuxFrameDecoder(maxFrameSize: 1024)
        d2.feed([0, 9, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0])
        #expect(throws: YamuxError.unknownFrameType(9, offset: 1)) { _ = try d2.next() }
        var d3 = YamuxFrameDecoder(maxFrameSize: 1024)
        d3.feed([0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 4, 1])
        #expect(throws: YamuxError.frameTooLarge(streamID: 5, length: 1025, limit: 1024, offset: 0)) { _ = try d3.next() }
        // A window update's length is a delta, not a payload: no size limit.
        var d4 = YamuxFrameDecoder(maxFrameSize: 1024)
        d4.feed(YamuxFrameEncoder.encode(.windowUpdate(streamID: 5, delta: 16 << 20)))
        #expect((try? d4.next())?.length == 16 << 20)
    }

    @Test func windowUpdateAtHalfAndGrowth() {
        let k = 1024
        var w = YamuxReceiveWindow(window: 256 * 1024, maxWindow: 1024 * 1024)
        #expect(w.initialDelta == 0)
        do { let ok = w.receive(100 * k); #expect(ok) }
        do { let d = w.consume(100 * k, now: 0, rtt: 0.01); #expect(d == nil) }  // less than half consumed
        do { let ok = w.receive(60 * k); #expect(ok) }
        do { let d = w.consume(60 * k, now: 0.001, rtt: 0.01); #expect(d == UInt32(160 * 1024)) }  // first epoch: no growth
        #expect(w.window == 256 * 1024)
        // The next half window consumed within 4 RTT: the window doubles.
        do { let ok = w.receive(200 * k); #expect(ok) }
        do { let d = w.consume(200 * k, now: 0.02, rtt: 0.01); #expect(d == UInt32(200 * 1024 + 256 * 1024)) }
        #expect(w.window == 512 * 1024)
        #expect(w.credit == 512 * 1024)
        do { let ok = w.receive(512 * k); #expect(ok) }
        do { let d = w.consume(512 * k, now: 0.03, rtt: 0.01); #expect(d == UInt32(512 * 1024 + 512 * 1024)) }
        #expect(w.window == 1024 * 1024)
        // Capped at maxWindow.
        do { let ok = w.receive(1024 * k); #expect(ok) }
        do { let d = w.consume(1024 * k, now: 0.031, rtt: 0.01); #expect(d == UInt32(1024 * 1024)) }
        #expect(w.window == 1024 * 1024)
        // Beyond the window is refused.
        do { let ok = w.receive(1024 * k + 1); #expect(!ok) }
    }

    @Test func noGrowthWhenSlow() {
        var w = YamuxReceiveWindow(window: 256 * 1024, maxWindow: 16 << 20)
        var t = 0.0
        for _ in 0..<10 {
            do { let ok = w.receive(200 * 1024); #expect(ok) }
            do { let d = w.consume(200 * 1024, now: t, rtt: 0.001); #expect(d != nil) }
            t += 1
        }
        #expect(w.window == 256 * 1024)
    }

    @Test func largerInitialWindowIsGrantedWithSyn() throws {
        var config = MuxerConfig()
        config.initialWindow = 1 << 20
        var sm = YamuxSessionStateMachine(isInitiator: true, config: config)
        let (id, syn) = try sm.openStream()
        #expect(id == 1)
        #expect(syn == .windowUpdate(streamID: 1, flags: .syn, delta: (1 << 20) - 256 * 1024))
        #expect(try sm.openStream().0 == 3)
    }

    @Test func pingAndGoAway() throws {
        var sm = YamuxSessionStateMachine(isInitiator: false, config: MuxerConfig())
        #expect(try sm.receive(.ping(flags: .syn, value: 9), now: 0) == [.send(.ping(flags: .ack, value: 9))])
        #expect(try sm.receive(.ping(flags: .ack, value: 9), now: 0) == [.pong(9)])
        #expect(try sm.receive(.goAway(.normal), now: 0) == [.remoteGoAway(code: 0)])
        #expect(throws: YamuxError.self) { _ = try sm.openStream() }
        // After we go away, inbound SYNs are refused with RST.
        var sm2 = YamuxSessionStateMachine(isInitiator: false, config: MuxerConfig())
        sm2.goAway()
        let actions = try sm2.receive(.windowUpdate(streamID: 1, flags: .syn), now: 0)
        #expect(actions.first == .send(.windowUpdate(streamID: 1, flags: .rst)))
    }

    @Test func inboundStreamLifecycle() throws {
        var sm = YamuxSessionStateMachine(isInitiator: false, config: MuxerConfig())
        #expect(try sm.receive(.data(streamID: 1, flags: .syn, payload: [1, 2]), now: 0) == [
            .send(.windowUpdate(streamID: 1, flags: .ack)), .newInboundStream(1), .data(streamID: 1, payload: [1, 2]),
        ])
        #expect(sm.inboundCount == 1 && sm.backlog == 1)
        sm.acceptDequeued()
        #expect(try sm.receive(.windowUpdate(streamID: 1, delta: 10), now: 0) == [.sendWindowOpened(1)])
        #expect(sm.streams[1]?.sendWindow == UInt32(256 * 1024 + 10))
        #expect(sm.reserveSend(streamID: 1, max: 100) == 100)
        #expect(try sm.receive(.windowUpdate(streamID: 1, flags: .fin), now: 0) == [.remoteClosed(1)])
        #expect(throws: YamuxError.self) { _ = try sm.receive(.data(streamID: 1, payload: [3]), now: 0) }
        #expect(sm.closeWrite(streamID: 1) == .windowUpdate(streamID: 1, flags: .fin))
        #expect(sm.streams[1] == nil && sm.inboundCount == 0)
        #expect(sm.reserveSend(streamID: 1, max: 1) == nil)
    }

    @Test func protocolViolations() throws {
        var sm = YamuxSessionStateMachine(isInitiator: false, config: MuxerConfig())
        // Wrong parity: the initiator uses odd IDs.
        #expect(throws: YamuxError.invalidStream(streamID: 2, reason: "SYN with our own ID parity")) {
            _ = try sm.receive(.windowUpdate(streamID: 2, flags: .syn), now: 0)
        }
        #expect(throws: YamuxError.self) { _ = try sm.receive(.data(streamID: 0, payload: [1]), now: 0) }
        _ = try sm.receive(.windowUpdate(streamID: 1, flags: .syn), now: 0)
        #expect(throws: YamuxError.self) { _ = try sm.receive(.windowUpdate(streamID: 1, flags: .syn), now: 0) }
        // Data beyond the 256 KiB window.
        _ = try sm.receive(.data(streamID: 1, payload: pattern(200 * 1024)), now: 0)
        #expect(throws: YamuxError.windowExceeded(streamID: 1, length: 100 * 1024, window: 56 * 1024)) {
            _ = try sm.receive(.data(streamID: 1, payload: pattern(100 * 1024)), now: 0)
        }
        // Frames for unknown streams are dropped.
        #expect(try sm.receive(.data(streamID: 7, payload: [1]), now: 0) == [])
    }

    @Test func streamLimitsRefuseWithRST() throws {
        var config = MuxerConfig()
        config.maxInboundStreams = 2
        config.acceptBacklog = 100
        var sm = YamuxSessionStateMachine(isInitiator: true, config: config)
        _ = try sm.receive(.windowUpdate(streamID: 2, flags: .syn), now: 0)
        _ = try sm.receive(.windowUpdate(streamID: 4, flags: .syn), now: 0)
        let refused = try sm.receive(.windowUpdate(streamID: 6, flags: .syn), now: 0)
        #expect(refused.first == .send(.windowUpdate(streamID: 6, flags: .rst)))
        #expect(sm.streams[6] == nil)
        // The backlog limit applies too.
        config.maxInboundStreams = 100
        config.acceptBacklog = 1
        var sm2 = YamuxSessionStateMachine(isInitiator: true, config: config)
        _ = try sm2.receive(.windowUpdate(streamID: 2, flags: .syn), now: 0)
        #expect(try sm2.receive(.windowUpdate(streamID: 4, flags: .syn), now: 0).first == .send(.windowUpdate(streamID: 4, flags: .rst)))
        sm2.acceptDequeued()
        #expect(try sm2.receive(.windowUpdate(streamID: 6, flags: .syn), now: 0).contains(.newInboundStream(6)))
    }
}

@Suite("Mplex frame codec", .onBlockingPool)
struct MplexCodecTests {
    @Test func roundTripAndLayout() throws {
        #expect(MplexFrame(streamID: 3, flag: .messageInitiator, payload: [7]).encoded() == [3 << 3 | 2, 1, 7])
        #expect(MplexFrame(streamID: 300, flag: .resetReceiver).encoded() == [0xE5, 0x12, 0])
        let frames = [
            MplexFrame(streamID: 0, flag: .newStream, payload: Array("0".utf8)),
            MplexFrame(streamID: 0, flag: .messageInitiator, payload: pattern(70_000)),
            MplexFrame(streamID: 0, flag: .closeReceiver),
            MplexFrame(streamID: 1 << 40, flag: .resetInitiator),
        ]
        let wire = frames.flatMap { $0.encoded() }
        var d = MplexFrameDecoder(maxFrameSize: 1 << 20)
        var out: [MplexFrame] = []
        for byte in wire {
            d.feed([byte])
            while let f = try d.next() { out.append(f) }
        }
        #expect(out == frames)
        #expect(frames[1].sentByInitiator && !frames[2].sentByInitiator)
    }

    @Test func rejectsBadFrames() {
        var d = MplexFrameDecoder(maxFrameSize: 1024)
        d.feed([0 << 3 | 7, 0])
        #expect(throws: MplexError.unknownFlag(7, streamID: 0, offset: 0)) { _ = try d.next() }
        var d2 = MplexFrameDecoder(maxFrameSize: 1024)
        d2.feed([1 << 3 | 2, 0x81, 0x08])
        #expect(throws: MplexError.frameTooLarge(streamID: 1, length: 1025, limit: 1024, offset: 0)) { _ = try d2.next() }
        var d3 = MplexFrameDecoder(maxFrameSize: 1024)
        d3.feed([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: MplexError.badHeader(offset: 0)) { _ = try d3.next() }
    }
}
