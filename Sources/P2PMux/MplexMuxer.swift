import Logging
import P2PCore

/// The mplex stream muxer (`/mplex/6.7.0`). mplex has no flow control: a stream's unread data
/// is bounded by `MuxerConfig.maxBufferedPerStream`; when it is full the frame-reading task waits
/// for the reader (pausing the whole connection, as go-mplex does) and resets the stream if the
/// reader does not drain it within `receiveTimeout`.
public struct MplexMuxer: AccountedStreamMuxer {
    public let config: MuxerConfig
    /// How long a full stream may stall the connection before it is reset.
    public let receiveTimeout: Duration
    public var protocolID: ProtocolID { .mplex }

    public init(config: MuxerConfig = .init()) {
        self.config = config
        self.receiveTimeout = .seconds(5)
    }

    /// Like `init(config:)` with a custom stall timeout.
    public init(config: MuxerConfig, receiveTimeout: Duration) {
        self.config = config
        self.receiveTimeout = receiveTimeout
    }

    /// Starts an mplex session over `stream`; it runs until `close()`, a protocol error or the
    /// end of `stream`. Buffered data is charged to `inboundBytes` (when given), and a frame that
    /// does not fit gets its stream reset.
    public func makeConnection(
        _ stream: any ByteStream, isInitiator: Bool, logger: Logger, inboundBytes: InboundBytesAccount?
    ) -> any MuxedConnection {
        let connection = MplexConnection(
            base: stream, config: config, receiveTimeout: receiveTimeout, logger: logger, inboundBytes: inboundBytes)
        connection.start()
        return connection
    }
}

/// A stream key: mplex IDs are chosen independently by each side.
struct MplexStreamKey: Hashable {
    var id: UInt64
    /// True when we opened the stream.
    var local: Bool
}

final class MplexConnection: MuxedConnection, @unchecked Sendable {
    /// Largest message we send.
    static let maxSendPayload = 256 * 1024
    /// Bytes of frames one `write` hands to the frame writer at once.
    static let maxWriteBurst = 1024 * 1024

    let base: any ByteStream
    let logger: Logger
    let config: MuxerConfig
    let receiveTimeout: Duration
    let writer: FrameWriter
    let lock = Mutex()
    // Guarded by `lock`:
    private var streams: [MplexStreamKey: MplexStream] = [:]
    private var inboundCount = 0
    private var nextID: UInt64 = 0
    private var acceptQueue: [MplexStream] = []
    private var acceptWaiters: [CheckedContinuation<MplexStream?, Never>] = []
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private var closed = false
    private var tasks: [Task<Void, Never>] = []
    private var refusals = RefusalCounter()
    private var budgetRefusals = RefusalCounter()
    /// Where buffered data is charged (nil: only `maxBufferedPerStream` bounds it).
    let inboundBytes: InboundBytesAccount?

    init(base: any ByteStream, config: MuxerConfig, receiveTimeout: Duration, logger: Logger, inboundBytes: InboundBytesAccount? = nil) {
        self.base = base
        self.inboundBytes = inboundBytes
        self.config = config
        self.receiveTimeout = receiveTimeout
        self.logger = logger
        self.writer = FrameWriter(base: base)
    }

    func start() {
        let writer = self.writer
        let writeTask = Task { [weak self] in
            await writer.run()
            await self?.shutdown(reason: nil)
        }
        let readTask = Task { [weak self] in
            guard let self else { return }
            await self.readLoop()
        }
        lock.withLock { tasks = [writeTask, readTask] }
    }

    var isClosed: Bool { lock.withLock { closed } }

    func openStream() async throws -> any MuxedStream {
        let stream = try lock.withLock { () throws -> MplexStream in
            if closed { throw StreamError.connectionClosed }
            let key = MplexStreamKey(id: nextID, local: true)
            nextID += 1
            let s = MplexStream(key: key, connection: self)
            streams[key] = s
            return s
        }
        let name = Array(String(stream.key.id).utf8)
        do {
            try await writer.write(MplexFrame(streamID: stream.key.id, flag: .newStream, payload: name).encoded())
        } catch {
            throw StreamError.connectionClosed
        }
        return stream
    }

    func acceptStream() async throws -> (any MuxedStream)? {
        await withCheckedContinuation { (c: CheckedContinuation<MplexStream?, Never>) in
            let ready = lock.withLock { () -> MplexStream?? in
                if !acceptQueue.isEmpty { return .some(acceptQueue.removeFirst()) }
                if closed { return .some(nil) }
                acceptWaiters.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
    }

    func close() async {
        guard !isClosed else { return }
        writer.finish()
        let writeTask = lock.withLock { tasks.first }
        let flushed = Task { await writeTask?.value }
        let timer = Task {
            try? await Task.sleep(for: .seconds(2))
            flushed.cancel()
        }
        await flushed.value
        timer.cancel()
        await shutdown(reason: nil)
    }

    func waitClosed() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = lock.withLock { () -> Bool in
                if closed { return true }
                closeWaiters.append(c)
                return false
            }
            if done { c.resume() }
        }
    }

    func shutdown(reason: (any Error)?) async {
        guard let (all, waiters, closers, tasks) = lock.withLock({
            () -> ([MplexStream], [CheckedContinuation<MplexStream?, Never>], [CheckedContinuation<Void, Never>], [Task<Void, Never>])? in
            if closed { return nil }
            closed = true
            let all = Array(streams.values) + acceptQueue
            streams = [:]
            acceptQueue = []
            defer {
                acceptWaiters = []
                closeWaiters = []
            }
            return (all, acceptWaiters, closeWaiters, self.tasks)
        }) else { return }
        if let reason { logger.debug("mplex connection ended", metadata: ["reason": "\(reason)"]) }
        writer.fail(StreamError.connectionClosed)
        inboundBytes?.releaseAll()
        for s in all {
            let ws = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
                s.isReset = true
                var ws = s.takeWaiters()
                if let w = s.spaceWaiter { ws.append(w) }
                s.spaceWaiter = nil
                return ws
            }
            for w in ws { w.resume() }
        }
        for w in waiters { w.resume(returning: nil) }
        await base.close()
        for t in tasks { t.cancel() }
        for c in closers { c.resume() }
    }

    private func sendControl(_ frame: MplexFrame) {
        if !writer.enqueueControl(frame.encoded()) && !isClosed {
            logger.warning("mplex: remote does not read control frames; closing")
            Task { await self.shutdown(reason: MplexError.connectionClosed) }
        }
    }

    private func readLoop() async {
        var decoder = MplexFrameDecoder(maxFrameSize: Swift.min(config.maxFrameSize, MplexFrame.maxMessageSize))
        do {
            while true {
                guard let chunk = try await base.read() else {
                    await shutdown(reason: StreamError.connectionClosed)
                    return
                }
                decoder.feed(chunk)
                while let frame = try decoder.next() {
                    try await handle(frame)
                }
            }
        } catch let error as MplexError {
            logger.warning("mplex protocol error; closing the connection", metadata: ["error": "\(error)"])
            await shutdown(reason: error)
        } catch {
            await shutdown(reason: error)
        }
    }

    private func handle(_ frame: MplexFrame) async throws {
        // A frame the remote sends as initiator concerns a stream it opened (not local).
        let key = MplexStreamKey(id: frame.streamID, local: !frame.sentByInitiator)
        switch frame.flag {
        case .newStream:
            enum Outcome { case accepted(MplexStream, CheckedContinuation<MplexStream?, Never>?), refused(String), ignore }
            let outcome: Outcome = try lock.withLock { () throws -> Outcome in
                if closed { return .ignore }
                guard streams[key] == nil else { throw MplexError.duplicateStream(streamID: frame.streamID) }
                if inboundCount >= config.maxInboundStreams {
                    return .refused("maxInboundStreams (\(config.maxInboundStreams)) reached")
                }
                if acceptQueue.count >= config.acceptBacklog {
                    return .refused("accept backlog (\(config.acceptBacklog)) full")
                }
                let s = MplexStream(key: key, connection: self)
                streams[key] = s
                inboundCount += 1
                if !acceptWaiters.isEmpty { return .accepted(s, acceptWaiters.removeFirst()) }
                acceptQueue.append(s)
                return .accepted(s, nil)
            }
            switch outcome {
            case .accepted(let s, let waiter): waiter?.resume(returning: s)
            case .refused(let reason):
                let (log, count) = lock.withLock { (refusals.record(), refusals.count) }
                if log {
                    logger.info(
                        "mplex: refused inbound stream",
                        metadata: ["stream": "\(frame.streamID)", "reason": "\(reason)", "refused_so_far": "\(count)"])
                }
                sendControl(MplexFrame(streamID: frame.streamID, flag: .resetReceiver))
            case .ignore: break
            }
        case .messageInitiator, .messageReceiver:
            guard !frame.payload.isEmpty else { return }
            guard let s = lock.withLock({ streams[key] }) else { return }
            if try await waitForSpace(s, frame.payload.count) {
                var refusal: (InboundBytesLedger.Refusal, log: Bool, count: Int)?
                let w = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                    if s.isReset || s.remoteEOF || s.readClosed { return nil }
                    if let account = inboundBytes, let why = account.reserve(frame.payload.count) {
                        refusal = (why, budgetRefusals.record(), budgetRefusals.count)
                        return nil
                    }
                    s.chunks.append(frame.payload)
                    s.buffered += frame.payload.count
                    return s.takeReadWaiter()
                }
                w?.resume()
                if let refusal {
                    // Over the pending-bytes budget: this stream is reset; the rest carry on.
                    if refusal.log {
                        logger.warning(
                            "mplex: reset inbound stream over the pending-bytes limit",
                            metadata: ["peer": "\(inboundBytes.map { "\($0.peer)" } ?? "?")", "stream": "\(s.key.id)",
                                       "reason": "\(refusal.0)", "reset_so_far": "\(refusal.count)"])
                    }
                    await reset(s)
                }
            }
        case .closeInitiator, .closeReceiver:
            let w = lock.withLock { () -> CheckedContinuation<Void, Never>? in
                guard let s = streams[key] else { return nil }
                s.remoteEOF = true
                if s.localClosed { forget(s) }
                return s.takeReadWaiter()
            }
            w?.resume()
        case .resetInitiator, .resetReceiver:
            let ws = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
                guard let s = streams[key] else { return [] }
                s.isReset = true
                forget(s)
                return s.takeWaiters()
            }
            for w in ws { w.resume() }
        }
    }

    /// Removes a finished stream from the table (under the lock).
    private func forget(_ s: MplexStream) {
        if streams.removeValue(forKey: s.key) != nil, !s.key.local { inboundCount -= 1 }
    }

    /// Waits until `s` can buffer `count` more bytes. False when the data must be dropped (the
    /// stream is gone, closed for reading, or was reset here because its reader stalled).
    private func waitForSpace(_ s: MplexStream, _ count: Int) async throws -> Bool {
        let limit = config.maxBufferedPerStream
        func check() -> Bool? {
            if s.isReset || s.readClosed || closed { return false }
            if s.buffered == 0 || s.buffered + count <= limit { return true }
            return nil
        }
        if let ok = lock.withLock(check) { return ok }
        let timeout = receiveTimeout
        lock.withLock { s.stallTimedOut = false }
        let timer = Task { [weak self] in
            do { try await Task.sleep(for: timeout) } catch { return }
            let w = self?.lock.withLock { () -> CheckedContinuation<Void, Never>? in
                s.stallTimedOut = true
                defer { s.spaceWaiter = nil }
                return s.spaceWaiter
            }
            w?.resume()
        }
        defer { timer.cancel() }
        while true {
            var timedOut = false
            var buffered = 0
            let verdict = lock.withLock { () -> Bool? in
                if let ok = check() { return ok }
                timedOut = s.stallTimedOut
                buffered = s.buffered
                return nil
            }
            if let verdict { return verdict }
            if timedOut {
                logger.info("mplex: stream reader stalled with a full buffer; resetting it",
                            metadata: ["stream": "\(s.key.id)", "buffered": "\(buffered)"])
                await reset(s)
                return false
            }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = lock.withLock { () -> Bool in
                    if check() != nil || s.stallTimedOut { return true }
                    s.spaceWaiter = c
                    return false
                }
                if ready { c.resume() }
            }
        }
    }

    // MARK: stream operations

    func read(_ s: MplexStream) async throws -> [UInt8]? {
        while true {
            enum Step { case chunk([UInt8], CheckedContinuation<Void, Never>?), eof, reset, wait }
            let step: Step = lock.withLock {
                if let chunk = s.popChunk() {
                    s.buffered -= chunk.count
                    inboundBytes?.release(chunk.count)
                    defer { s.spaceWaiter = nil }
                    return .chunk(chunk, s.spaceWaiter)
                }
                if s.isReset { return .reset }
                if s.remoteEOF { return .eof }
                return .wait
            }
            switch step {
            case .chunk(let chunk, let w):
                w?.resume()
                return chunk
            case .eof: return nil
            case .reset: throw StreamError.reset
            case .wait:
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let ready = lock.withLock { () -> Bool in
                        if s.hasChunks || s.isReset || s.remoteEOF { return true }
                        s.readWaiter = c
                        return false
                    }
                    if ready { c.resume() }
                }
            }
        }
    }

    func write(_ s: MplexStream, _ bytes: [UInt8]) async throws {
        let flag: MplexFrame.Flag = s.key.local ? .messageInitiator : .messageReceiver
        var offset = 0
        repeat {
            try lock.withLock { () throws -> Void in
                if s.isReset { throw StreamError.reset }
                if s.localClosed { throw StreamError.closed }
                if closed { throw StreamError.connectionClosed }
            }
            guard offset < bytes.count else { return }
            // Up to `maxWriteBurst` bytes of frames go to the frame writer at once.
            let burstEnd = Swift.min(bytes.count, offset + Self.maxWriteBurst)
            var frames: [UInt8] = []
            frames.reserveCapacity(burstEnd - offset + 24 * ((burstEnd - offset) / Self.maxSendPayload + 1))
            var o = offset
            while o < burstEnd {
                let n = Swift.min(burstEnd - o, Self.maxSendPayload)
                MplexFrame.append(streamID: s.key.id, flag: flag, payload: bytes[o..<(o + n)], into: &frames)
                o += n
            }
            do { try await writer.write(frames) } catch { throw StreamError.connectionClosed }
            offset = o
        } while offset < bytes.count
    }

    func closeWrite(_ s: MplexStream) async throws {
        let send = try lock.withLock { () throws -> Bool in
            if s.isReset { throw StreamError.reset }
            if s.localClosed { return false }
            s.localClosed = true
            if s.remoteEOF { forget(s) }
            return true
        }
        guard send else { return }
        let frame = MplexFrame(streamID: s.key.id, flag: s.key.local ? .closeInitiator : .closeReceiver)
        do { try await writer.write(frame.encoded()) } catch { throw StreamError.connectionClosed }
    }

    func closeRead(_ s: MplexStream) {
        let w = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            s.readClosed = true
            inboundBytes?.release(s.dropChunks())
            defer { s.spaceWaiter = nil }
            return s.spaceWaiter
        }
        w?.resume()
    }

    func reset(_ s: MplexStream) async {
        let (send, ws) = lock.withLock { () -> (Bool, [CheckedContinuation<Void, Never>]) in
            if s.isReset { return (false, []) }
            s.isReset = true
            inboundBytes?.release(s.dropChunks())
            let wasOpen = streams[s.key] != nil
            forget(s)
            var ws = s.takeWaiters()
            if let w = s.spaceWaiter { ws.append(w) }
            s.spaceWaiter = nil
            return (wasOpen, ws)
        }
        for w in ws { w.resume() }
        if send { sendControl(MplexFrame(streamID: s.key.id, flag: s.key.local ? .resetInitiator : .resetReceiver)) }
    }
}

/// One mplex stream; mutable state guarded by the connection's lock.
final class MplexStream: MuxedStream, @unchecked Sendable {
    let key: MplexStreamKey
    private let connection: MplexConnection
    var chunks = FIFOQueue<[UInt8]>()
    var buffered = 0
    var remoteEOF = false
    var localClosed = false
    var readClosed = false
    var isReset = false
    var stallTimedOut = false
    var readWaiter: CheckedContinuation<Void, Never>?
    var writeWaiter: CheckedContinuation<Void, Never>?
    var spaceWaiter: CheckedContinuation<Void, Never>?

    init(key: MplexStreamKey, connection: MplexConnection) {
        self.key = key
        self.connection = connection
    }

    var streamID: UInt64 { key.id }
    var hasChunks: Bool { !chunks.isEmpty }

    func popChunk() -> [UInt8]? { chunks.popFirst() }

    /// Drops the unread data; returns how many bytes it held.
    @discardableResult
    func dropChunks() -> Int {
        let n = buffered
        chunks.removeAll()
        buffered = 0
        return n
    }

    func takeReadWaiter() -> CheckedContinuation<Void, Never>? {
        defer { readWaiter = nil }
        return readWaiter
    }

    func takeWaiters() -> [CheckedContinuation<Void, Never>] {
        defer {
            readWaiter = nil
            writeWaiter = nil
        }
        return [readWaiter, writeWaiter].compactMap { $0 }
    }

    func read() async throws -> [UInt8]? { try await connection.read(self) }
    func write(_ bytes: [UInt8]) async throws { try await connection.write(self, bytes) }
    func closeWrite() async throws { try await connection.closeWrite(self) }
    func close() async {
        try? await connection.closeWrite(self)
        connection.closeRead(self)
    }
    func reset() async { await connection.reset(self) }
}
