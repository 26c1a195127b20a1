import Foundation
import Logging
import P2PCore
import Testing
@testable import P2PMux
import TestSupport

@Suite("Muxer conformance", .onBlockingPool)
struct MuxerConformanceTests {
    @Test(arguments: MuxKind.allCases)
    func openAcceptEcho(kind: MuxKind) async throws {
        let pair = MuxPair(kind)
        try await timed {
            let server = Task {
                guard let s = try await pair.server.acceptStream() else { return }
                let data = try await readAll(s)
                try await s.write(data)
                try await s.closeWrite()
            }
            let c = try await pair.client.openStream()
            try await c.write(Array("hello muxer".utf8))
            try await c.closeWrite()
            let echoed = try await readAll(c)
            #expect(echoed == Array("hello muxer".utf8))
            try await server.value
        }
        await pair.close()
        #expect(pair.client.isClosed && pair.server.isClosed)
    }

    @Test(arguments: MuxKind.allCases)
    func hundredConcurrentStreams(kind: MuxKind) async throws {
        let pair = MuxPair(kind)
        try await timed(60) {
            let server = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<100 {
                        guard let s = try await pair.server.acceptStream() else { break }
                        group.addTask {
                            let data = try await readAll(s)
                            try await s.write(data)
                            try await s.closeWrite()
                        }
                    }
                    try await group.waitForAll()
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<100 {
                    group.addTask {
                        let s = try await pair.client.openStream()
                        let data = pattern(10_000 + i, seed: UInt8(i))
                        try await s.write(data)
                        try await s.closeWrite()
                        let back = try await readAll(s)
                        #expect(back == data, "stream \(i)")
                    }
                }
                try await group.waitForAll()
            }
            try await server.value
        }
        await pair.close()
    }

    @Test(arguments: MuxKind.allCases)
    func halfCloseBothWays(kind: MuxKind) async throws {
        let pair = MuxPair(kind)
        try await timed {
            // Client closes first, server keeps writing.
            let c = try await pair.client.openStream()
            try await c.write([1, 2, 3])
            try await c.closeWrite()
            await #expect(throws: StreamError.closed) { try await c.write([4]) }
            guard let s = try await pair.server.acceptStream() else { Issue.record("no stream"); return }
            #expect(try await readAll(s) == [1, 2, 3])
            try await s.write([9, 8])
            try await s.write([7])
            try await s.closeWrite()
            #expect(try await readAll(c) == [9, 8, 7])

            // Server closes first, client keeps writing.
            let c2 = try await pair.client.openStream()
            try await c2.write([5])
            guard let s2 = try await pair.server.acceptStream() else { Issue.record("no stream"); return }
            try await s2.closeWrite()
            #expect(try await c2.read() == nil)
            try await c2.write([6, 6])
            try await c2.closeWrite()
            #expect(try await readAll(s2) == [5, 6, 6])
        }
        await pair.close()
    }

    @Test(arguments: MuxKind.allCases)
    func resetBothWays(kind: MuxKind) async throws {
        let pair = MuxPair(kind)
        try await timed {
            let c = try await pair.client.openStream()
            try await c.write([1])
            guard let s = try await pair.server.acceptStream() else { Issue.record("no stream"); return }
            #expect(try await s.read() == [1])
            await c.reset()
            await #expect(throws: StreamError.reset) { _ = try await s.read() }
            await #expect(throws: StreamError.reset) { try await c.write([2]) }
            await #expect(throws: StreamError.reset) { _ = try await c.read() }

            let c2 = try await pair.client.openStream()
            try await c2.write([3])
            guard let s2 = try await pair.server.acceptStream() else { Issue.record("no stream"); return }
            #expect(try await s2.read() == [3])
            await s2.reset()
            await #expect(throws: StreamError.reset) { _ = try await c2.read() }
            // The writer eventually learns about the reset too.
            await #expect(throws: StreamError.reset) {
                for _ in 0..<1000 {
                    try await c2.write([0])
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            // The connection keeps working.
            let c3 = try await pair.client.openStream()
            try await c3.write([4])
            try await c3.closeWrite()
            guard let s3 = try await pair.server.acceptStream() else { Issue.record("no stream"); return }
            #expect(try await readAll(s3) == [4])
        }
        await pair.close()
    }

    @Test(arguments: MuxKind.allCases)
    func transfer32MiB(kind: MuxKind) async throws {
        let pair = MuxPair(kind)
        let total = 32 << 20
        try await timed(120) {
            let receiver = Task { () -> (Int, Bool) in
                guard let s = try await pair.server.acceptStream() else { return (0, false) }
                var count = 0
                var ok = true
                let reference = pattern(251 * 4096)
                while let chunk = try await s.read() {
                    // memcmp against the pattern (a byte loop is slow in debug builds).
                    var done = 0
                    while done < chunk.count && ok {
                        let phase = (count + done) % 251
                        let n = min(chunk.count - done, reference.count - phase)
                        let equal = chunk.withUnsafeBytes { c in
                            reference.withUnsafeBytes { r in
                                guard let cb = c.baseAddress, let rb = r.baseAddress else { return false }
                                return memcmp(cb + done, rb + phase, n) == 0
                            }
                        }
                        if !equal { ok = false }
                        done += n
                    }
                    count += chunk.count
                }
                return (count, ok)
            }
            let c = try await pair.client.openStream()
            let block = pattern(251 * 1024)
            var sent = 0
            while sent < total {
                let n = min(block.count, total - sent)
                try await c.write(Array(block[0..<n]))
                sent += n
            }
            try await c.closeWrite()
            let (count, ok) = try await receiver.value
            #expect(count == total)
            #expect(ok)
        }
        await pair.close()
    }

    @Test(arguments: MuxKind.allCases)
    func slowReaderGetsEverything(kind: MuxKind) async throws {
        let pair = MuxPair(kind)
        let total = 2 << 20
        try await timed(60) {
            let c = try await pair.client.openStream()
            let written = Counter()
            let writer = Task {
                let block = pattern(64 * 1024)
                var sent = 0
                while sent < total {
                    try await c.write(block)
                    sent += block.count
                    written.add(block.count)
                }
                try await c.closeWrite()
            }
            guard let s = try await pair.server.acceptStream() else { Issue.record("no stream"); return }
            try await Task.sleep(for: .milliseconds(300))
            if kind == .yamux {
                // Nothing read yet: the sender is held by the 256 KiB window.
                #expect(written.current <= 256 * 1024 + 64 * 1024)
            }
            var count = 0
            while let chunk = try await s.read() {
                count += chunk.count
                try await Task.sleep(for: .microseconds(200))
            }
            #expect(count == total)
            try await writer.value
        }
        await pair.close()
    }

    @Test(arguments: MuxKind.allCases)
    func concurrentWritersKeepFramesIntact(kind: MuxKind) async throws {
        let pair = MuxPair(kind)
        try await timed(60) {
            let server = Task { () -> [UInt64: [UInt8]] in
                try await withThrowingTaskGroup(of: (UInt64, [UInt8]).self) { group in
                    for _ in 0..<8 {
                        guard let s = try await pair.server.acceptStream() else { break }
                        group.addTask { (s.streamID, try await readAll(s)) }
                    }
                    var out: [UInt64: [UInt8]] = [:]
                    for try await (id, data) in group { out[id] = data }
                    return out
                }
            }
            var streams: [(UInt64, [UInt8], any MuxedStream)] = []
            for i in 0..<8 {
                let s = try await pair.client.openStream()
                streams.append((s.streamID, pattern(1 << 20, seed: UInt8(i * 31)), s))
            }
            let snapshot = streams.map { ($0.1, $0.2) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (data, s) in snapshot {
                    group.addTask {
                        var offset = 0
                        while offset < data.count {
                            let n = min(100_000, data.count - offset)
                            try await s.write(Array(data[offset..<(offset + n)]))
                            offset += n
                        }
                        try await s.closeWrite()
                    }
                }
                try await group.waitForAll()
            }
            let received = try await server.value
            #expect(received.count == 8)
            for (id, data, _) in streams { #expect(received[id] == data, "stream \(id)") }
        }
        await pair.close()
    }

    @Test(arguments: MuxKind.allCases)
    func streamFloodIsRefused(kind: MuxKind) async throws {
        var config = MuxerConfig()
        config.maxInboundStreams = 10
        let pair = MuxPair(kind, server: config)
        try await timed(30) {
            var opened: [any MuxedStream] = []
            for _ in 0..<50 {
                let s = try await pair.client.openStream()
                try? await s.write([1])  // a refused stream may already be reset
                opened.append(s)
            }
            var accepted: [any MuxedStream] = []
            for _ in 0..<10 {
                guard let s = try await pair.server.acceptStream() else { break }
                #expect(try await s.read() == [1])
                accepted.append(s)
            }
            #expect(accepted.count == 10)
            // The excess streams were reset by the server.
            var resets = 0
            for s in opened[10...] {
                do { _ = try await s.read() } catch { resets += 1 }
            }
            #expect(resets == 40)
            #expect(!pair.server.isClosed)
            for s in accepted { await s.reset() }
            try await Task.sleep(for: .milliseconds(50))
            // The connection keeps working.
            let c = try await pair.client.openStream()
            try await c.write([42])
            try await c.closeWrite()
            guard let s = try await pair.server.acceptStream() else { Issue.record("no stream"); return }
            #expect(try await readAll(s) == [42])
        }
        await pair.close()
    }

    @Test(arguments: MuxKind.allCases)
    func oversizedFrameEndsConnection(kind: MuxKind) async throws {
        let (raw, b) = MemoryByteStream.pair()
        let server = kind.muxer().makeConnection(b, isInitiator: false, logger: quietLogger)
        try await timed {
            switch kind {
            case .yamux:
                try await raw.write(YamuxFrameEncoder.encode(.windowUpdate(streamID: 1, flags: .syn)))
                var header: [UInt8] = []
                YamuxFrameEncoder.encodeHeader(type: .data, flags: [], streamID: 1, length: 64 << 20, into: &header)
                try await raw.write(header)
            case .mplex:
                try await raw.write(MplexFrame(streamID: 0, flag: .newStream).encoded())
                try await raw.write([0 << 3 | 2, 0x80, 0x80, 0x80, 0x20])  // 64 MiB message
            }
            await server.waitClosed()
            #expect(server.isClosed)
            #expect(try await server.acceptStream() == nil)
        }
        await raw.close()
    }

    @Test(arguments: MuxKind.allCases)
    func baseEOFEndsAllStreams(kind: MuxKind) async throws {
        let pair = MuxPair(kind)
        try await timed {
            let c = try await pair.client.openStream()
            try await c.write([1])
            guard let s = try await pair.server.acceptStream() else { Issue.record("no stream"); return }
            #expect(try await s.read() == [1])
            await pair.clientRaw.close()
            await pair.server.waitClosed()
            await pair.client.waitClosed()
            await #expect(throws: StreamError.reset) { _ = try await s.read() }
            await #expect(throws: (any Error).self) { try await c.write([2]) }
            #expect(try await pair.server.acceptStream() == nil)
            await #expect(throws: (any Error).self) { _ = try await pair.client.openStream() }
        }
    }
}
