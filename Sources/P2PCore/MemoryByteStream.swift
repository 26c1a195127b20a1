/// An in-memory, bounded, bidirectional pipe: `MemoryByteStream.pair()` returns two connected ends.
/// Used by tests of every layer (security, muxers, protocols) and for in-process connections.
///
/// Each direction buffers at most `capacity` bytes; a writer suspends until the reader drains it,
/// so backpressure behaves as on a socket.
public final class MemoryByteStream: ByteStream, @unchecked Sendable {
    private let inbound: Pipe
    private let outbound: Pipe

    private init(inbound: Pipe, outbound: Pipe) {
        self.inbound = inbound
        self.outbound = outbound
    }

    /// Two connected ends; bytes written to one are read from the other.
    public static func pair(capacity: Int = 1 << 20) -> (MemoryByteStream, MemoryByteStream) {
        let aToB = Pipe(capacity: capacity)
        let bToA = Pipe(capacity: capacity)
        return (MemoryByteStream(inbound: bToA, outbound: aToB), MemoryByteStream(inbound: aToB, outbound: bToA))
    }

    public func read() async throws -> [UInt8]? { try await inbound.read() }
    public func write(_ bytes: [UInt8]) async throws { try await outbound.write(bytes) }
    public func closeWrite() async throws { outbound.finish() }
    public func close() async {
        outbound.finish()
        inbound.finish()
    }
    public func reset() async {
        outbound.fail()
        inbound.fail()
    }

    /// One direction of the pipe.
    final class Pipe: @unchecked Sendable {
        private let lock = Mutex()
        private let capacity: Int
        private var chunks: [[UInt8]] = []
        private var bufferedBytes = 0
        private var finished = false
        private var failed = false
        private var readers: [CheckedContinuation<Void, Never>] = []
        private var writers: [CheckedContinuation<Void, Never>] = []

        init(capacity: Int) { self.capacity = Swift.max(1, capacity) }

        func read() async throws -> [UInt8]? {
            while true {
                enum Step { case chunk([UInt8]), eof, reset, wait }
                let step: Step = lock.withLock {
                    if failed { return .reset }
                    if !chunks.isEmpty {
                        let chunk = chunks.removeFirst()
                        bufferedBytes -= chunk.count
                        return .chunk(chunk)
                    }
                    return finished ? .eof : .wait
                }
                switch step {
                case .chunk(let chunk):
                    wakeAll(\.writers)
                    return chunk
                case .eof: return nil
                case .reset: throw StreamError.reset
                case .wait:
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let ready = lock.withLock { () -> Bool in
                            if failed || finished || !chunks.isEmpty { return true }
                            readers.append(c)
                            return false
                        }
                        if ready { c.resume() }
                    }
                }
            }
        }

        func write(_ bytes: [UInt8]) async throws {
            guard !bytes.isEmpty else {
                try lock.withLock { () throws -> Void in
                    if failed { throw StreamError.reset }
                    if finished { throw StreamError.closed }
                }
                return
            }
            while true {
                enum Step { case done, reset, closed, wait }
                let step: Step = lock.withLock {
                    if failed { return .reset }
                    if finished { return .closed }
                    if bufferedBytes == 0 || bufferedBytes + bytes.count <= capacity {
                        chunks.append(bytes)
                        bufferedBytes += bytes.count
                        return .done
                    }
                    return .wait
                }
                switch step {
                case .done:
                    wakeAll(\.readers)
                    return
                case .reset: throw StreamError.reset
                case .closed: throw StreamError.closed
                case .wait:
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let ready = lock.withLock { () -> Bool in
                            if failed || finished || bufferedBytes == 0 || bufferedBytes + bytes.count <= capacity {
                                return true
                            }
                            writers.append(c)
                            return false
                        }
                        if ready { c.resume() }
                    }
                }
            }
        }

        /// Clean end of this direction: the reader drains what is buffered, then sees EOF.
        func finish() {
            lock.withLock { finished = true }
            wakeAll(\.readers)
            wakeAll(\.writers)
        }

        /// Abort: both sides fail at once.
        func fail() {
            lock.withLock {
                failed = true
                chunks.removeAll()
                bufferedBytes = 0
            }
            wakeAll(\.readers)
            wakeAll(\.writers)
        }

        private func wakeAll(_ queue: ReferenceWritableKeyPath<Pipe, [CheckedContinuation<Void, Never>]>) {
            let waiting = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
                defer { self[keyPath: queue] = [] }
                return self[keyPath: queue]
            }
            for c in waiting { c.resume() }
        }
    }
}
