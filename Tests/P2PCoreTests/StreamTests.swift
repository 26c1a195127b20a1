import Multiformats
import P2PCore
import Testing

@Suite("P2PCore streams")
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
}
