import P2PCore
import Testing
@testable import P2PMux
import TestSupport

@Suite("Muxer specific behaviour", .onBlockingPool)
struct MuxerBehaviourTests {
    @Test func yamuxMeasuresRTTWithPing() async throws {
        let pair = MuxPair(.yamux)
        try await timed {
            guard let client = pair.client as? YamuxConnection else { Issue.record("not yamux"); return }
            for _ in 0..<200 where client.measuredRTT == nil { try await Task.sleep(for: .milliseconds(10)) }
            #expect((client.measuredRTT ?? -1) >= 0)
        }
        await pair.close()
    }

    @Test func yamuxDataBeyondWindowIsAProtocolError() async throws {
        let (raw, b) = MemoryByteStream.pair(capacity: 4 << 20)
        let server = YamuxMuxer().makeConnection(b, isInitiator: false, logger: quietLogger)
        try await timed {
            try await raw.write(YamuxFrameEncoder.encode(.data(streamID: 1, flags: .syn, payload: pattern(200 * 1024))))
            try await raw.write(YamuxFrameEncoder.encode(.data(streamID: 1, payload: pattern(100 * 1024))))
            await server.waitClosed()
            // The server said go-away(protocol error) before closing.
            var decoder = YamuxFrameDecoder(maxFrameSize: 1 << 20)
            var frames: [YamuxFrame] = []
            while let chunk = try await raw.read() {
                decoder.feed(chunk)
                while let f = try decoder.next() { frames.append(f) }
            }
            #expect(frames.contains(.goAway(.protocolError)))
            #expect(frames.contains(.windowUpdate(streamID: 1, flags: .ack)))
        }
        await raw.close()
    }

    @Test func yamuxRemoteGoAwayStopsNewStreams() async throws {
        let (raw, b) = MemoryByteStream.pair()
        let conn = YamuxMuxer().makeConnection(b, isInitiator: true, logger: quietLogger)
        try await timed {
            try await raw.write(YamuxFrameEncoder.encode(.goAway(.normal)))
            var refused = false
            for _ in 0..<200 {
                do {
                    let s = try await conn.openStream()
                    await s.reset()
                    try await Task.sleep(for: .milliseconds(10))
                } catch {
                    refused = true
                    break
                }
            }
            #expect(refused)
            #expect(!conn.isClosed)
        }
        await conn.close()
        await raw.close()
    }

    @Test func mplexStalledReaderIsResetAndConnectionContinues() async throws {
        var config = MuxerConfig()
        config.maxBufferedPerStream = 256 * 1024
        let (a, b) = MemoryByteStream.pair()
        let client = MplexMuxer(config: config).makeConnection(a, isInitiator: true, logger: quietLogger)
        let server = MplexMuxer(config: config, receiveTimeout: .milliseconds(300))
            .makeConnection(b, isInitiator: false, logger: quietLogger)
        try await timed {
            let c = try await client.openStream()
            guard let s = try await server.acceptStream() else { Issue.record("no stream"); return }
            // Never read `s`: its buffer fills, the connection stalls, then `s` is reset. Wait for
            // the reset to reach the client before touching `s`: reading `s` earlier would drain
            // it, and on a loaded machine that can happen before the stall timer fires.
            for _ in 0..<16 { try? await c.write(pattern(64 * 1024)) }
            await #expect(throws: StreamError.reset) { _ = try await readAll(c) }
            await #expect(throws: StreamError.reset) { _ = try await readAll(s) }
            let c2 = try await client.openStream()
            try await c2.write([1, 2])
            try await c2.closeWrite()
            guard let s2 = try await server.acceptStream() else { Issue.record("no stream"); return }
            #expect(try await readAll(s2) == [1, 2])
            #expect(!server.isClosed)
        }
        await client.close()
        await server.close()
    }
}
