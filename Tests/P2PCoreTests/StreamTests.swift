import Multiformats
import P2PCore
import Testing
import TestSupport

@Suite("P2PCore streams", .onBlockingPool)
struct StreamTests {
    @Test("memory pipe carries bytes, half-close gives EOF")
    func pipe() async throws {
        let (a, b) = MemoryByteStream.pair(capacity: 8)
        let writer = Task {
            try await a.write([1, 2, 3])
            try await a.write(Array(repeating: 9, count: 20))
            try await a.closeWrite()
        }
        var got: [UInt8] = []
        while let chunk = try await b.read() { got += chunk }
        try await writer.value
        #expect(got == [1, 2, 3] + Array(repeating: 9, count: 20))
        // The other direction still works after a's half-close.
        try await b.write([7])
        #expect(try await a.read() == [7])
        await #expect(throws: StreamError.closed) { try await a.write([1]) }
    }

    @Test("reset fails pending reads on both ends")
    func reset() async throws {
        let (a, b) = MemoryByteStream.pair()
        let reader = Task { try await b.read() }
        await a.reset()
        await #expect(throws: StreamError.reset) { _ = try await reader.value }
        await #expect(throws: StreamError.reset) { try await a.write([1]) }
    }

    @Test("reader: varints, exact reads, length prefixes across chunk boundaries, replay of read-ahead")
    func reader() async throws {
        let (a, b) = MemoryByteStream.pair()
        var message = Varint.encode(300)
        message += Array(repeating: 0xAB, count: 300)
        message += [0x05, 1, 2, 3, 4, 5, 42, 43]
        for byte in message { try await a.write([byte]) }  // one byte per chunk
        try await a.closeWrite()
        let reader = StreamReader(b)
        let first = try await reader.readLengthPrefixed(maxLength: 1000)
        #expect(first == Array(repeating: 0xAB, count: 300))
        #expect(try await reader.readLengthPrefixed(maxLength: 10) == [1, 2, 3, 4, 5])
        #expect(try await reader.readExactly(1) == [42])
        let rest = reader.remainingStream()
        var tail: [UInt8] = []
        while let chunk = try await rest.read() { tail += chunk }
        #expect(tail == [43])
    }

    @Test("reader rejects oversized and truncated messages, and bad varints")
    func readerErrors() async throws {
        let (a, b) = MemoryByteStream.pair()
        try await a.write(Varint.encode(5000))
        await #expect(throws: StreamError.messageTooLarge(what: "hello", length: 5000, limit: 100)) {
            _ = try await StreamReader(b).readLengthPrefixed(maxLength: 100, what: "hello")
        }
        let (c, d) = MemoryByteStream.pair()
        try await c.write([0x03, 1])
        try await c.closeWrite()
        await #expect(throws: StreamError.unexpectedEOF(what: "x")) {
            _ = try await StreamReader(d).readLengthPrefixed(maxLength: 100, what: "x")
        }
        let (e, f) = MemoryByteStream.pair()
        try await e.write([0x80, 0x00])
        await #expect(throws: StreamError.badLengthPrefix(what: "y")) {
            _ = try await StreamReader(f).readUVarint(what: "y")
        }
        let (g, h) = MemoryByteStream.pair()
        try await g.closeWrite()
        #expect(try await StreamReader(h).readLengthPrefixed(maxLength: 1) == nil)
    }

    @Test("timeout runs its hook and throws")
    func timeout() async throws {
        let (_, b) = MemoryByteStream.pair()
        await #expect(throws: StreamError.timeout(what: "read", seconds: 0.05)) {
            _ = try await withTimeout(.milliseconds(50), what: "read", onTimeout: { await b.reset() }) {
                try await b.read()
            }
        }
    }

    /// A read parked on a stream ignores cancellation; only the hook (the reset) wakes it. Before
    /// the hook ran for a cancelled caller too, such a caller waited forever (a test cancelled by
    /// its time limit hung the whole run this way).
    @Test("a cancelled caller runs the hook, so a parked read does not hold it")
    func cancelledCallerRunsTheHook() async throws {
        let (_, b) = MemoryByteStream.pair()
        let reads = ReadSignal(b)
        let task = Task {
            try await withTimeout(.seconds(600), what: "read", onTimeout: { await b.reset() }) {
                try await reads.read()
            }
        }
        await reads.started()
        task.cancel()
        let outcome = await resultOf(task, within: .seconds(20))
        if outcome == nil { await b.reset() }  // let the stuck task end before the test does
        let result = try #require(outcome, "the cancelled caller was never released")
        #expect(throws: CancellationError.self) { try result.get() }
    }

    @Test("a caller cancelled before the call runs the hook and is not held")
    func callerCancelledBeforeTheCall() async throws {
        let (_, b) = MemoryByteStream.pair()
        let hook = Locked(false)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await withTimeout(.seconds(600), what: "read", onTimeout: { hook.withLock { $0 = true }; await b.reset() }) {
                try await b.read()
            }
        }
        let outcome = await resultOf(task, within: .seconds(20))
        if outcome == nil { await b.reset() }
        let result = try #require(outcome, "the cancelled caller was never released")
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(hook.withLock { $0 })
    }

    @Test("the hook does not run when the operation ends in time")
    func hookStaysQuietOnSuccess() async throws {
        let hook = Locked(false)
        let value = try await withTimeout(.seconds(600), what: "value", onTimeout: { hook.withLock { $0 = true } }) { 42 }
        #expect(value == 42)
        await #expect(throws: StreamError.self) {
            try await withTimeout(.seconds(600), what: "failing", onTimeout: { hook.withLock { $0 = true } }) { () -> Int in
                throw StreamError.reset
            }
        }
        #expect(!hook.withLock { $0 })
    }
}

/// A stream whose `read` announces that it started (so a test acts once the read is parked).
private final class ReadSignal: ByteStream, @unchecked Sendable {
    private let base: any ByteStream
    private let (stream, continuation) = AsyncStream<Void>.makeStream()
    init(_ base: any ByteStream) { self.base = base }
    func started() async {
        var iterator = stream.makeAsyncIterator()
        _ = await iterator.next()
    }
    func read() async throws -> [UInt8]? {
        continuation.yield()
        return try await base.read()
    }
    func write(_ bytes: [UInt8]) async throws { try await base.write(bytes) }
    func closeWrite() async throws { try await base.closeWrite() }
    func close() async { await base.close() }
    func reset() async { await base.reset() }
}

/// `task`'s result, or nil when it has not ended within `limit` (without waiting for it then).
private func resultOf<T: Sendable>(_ task: Task<T, any Error>, within limit: Duration) async -> Result<T, any Error>? {
    let once = Locked<CheckedContinuation<Result<T, any Error>?, Never>?>(nil)
    return await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>?, Never>) in
        once.withLock { $0 = continuation }
        Task {
            let result = await task.result
            once.withLock { c in defer { c = nil }; return c }?.resume(returning: result)
        }
        Task {
            try? await Task.sleep(for: limit)
            once.withLock { c in defer { c = nil }; return c }?.resume(returning: nil)
        }
    }
}
