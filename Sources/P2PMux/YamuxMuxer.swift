import Logging
import P2PCore

/// The yamux stream muxer (`/yamux/1.0.0`).
public struct YamuxMuxer: AccountedStreamMuxer {
    public let config: MuxerConfig
    public var protocolID: ProtocolID { .yamux }

    public init(config: MuxerConfig = .init()) { self.config = config }

    /// Starts a yamux session over `stream`: its reading, writing and keep-alive tasks run until
    /// `close()`, a protocol error or the end of `stream`. Data frames are buffered against
    /// `inboundBytes` (when given), and a frame that does not fit gets its stream reset.
    public func makeConnection(
        _ stream: any ByteStream, isInitiator: Bool, logger: Logger, inboundBytes: InboundBytesAccount?
    ) -> any MuxedConnection {
        let connection = YamuxConnection(
            base: stream, isInitiator: isInitiator, config: config, logger: logger, inboundBytes: inboundBytes)
        connection.start()
        return connection
    }
}

/// The async driver around `YamuxSessionStateMachine`.
final class YamuxConnection: MuxedConnection, @unchecked Sendable {
    /// Largest data frame we send (go-yamux's default message size).
    static let maxSendPayload = 64 * 1024
    /// Bytes of data frames one `write` hands to the frame writer at once.
    static let maxWriteBurst = 1024 * 1024

    let base: any ByteStream
    let logger: Logger
    let config: MuxerConfig
    let writer: FrameWriter
    let lock = Mutex()
    private let clock = ContinuousClock()
    private let epoch: ContinuousClock.Instant
    // Guarded by `lock`:
    private var machine: YamuxSessionStateMachine
    private var streams: [UInt32: YamuxStream] = [:]
    private var acceptQueue: [YamuxStream] = []
    private var acceptWaiters: [CheckedContinuation<YamuxStream?, Never>] = []
    private var closeWaiters: [CheckedContinuation<Void, Never>] = []
    private var closed = false
    private var pingOutstanding: (value: UInt32, sentAt: Double)?
    private var nextPingValue: UInt32 = 1
    private var tasks: [Task<Void, Never>] = []
    private var refusals = RefusalCounter()
    private var budgetRefusals = RefusalCounter()
    /// Where buffered data is charged (nil: only the receive windows bound it).
    let inboundBytes: InboundBytesAccount?

    init(base: any ByteStream, isInitiator: Bool, config: MuxerConfig, logger: Logger, inboundBytes: InboundBytesAccount? = nil) {
        self.base = base
        self.inboundBytes = inboundBytes
        self.config = config
        self.logger = logger
        self.writer = FrameWriter(base: base)
        self.machine = YamuxSessionStateMachine(isInitiator: isInitiator, config: config)
        self.epoch = clock.now
    }

    func now() -> Double {
        let c = (clock.now - epoch).components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
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
        let pingTask = Task { [weak self] in
            guard let self else { return }
            await self.keepAliveLoop()
        }
        lock.withLock { tasks = [writeTask, readTask, pingTask] }
    }

    /// The round-trip time measured by the latest ping, in seconds (nil before the first answer).
    var measuredRTT: Double? { lock.withLock { machine.rtt } }

    // MARK: MuxedConnection

    var isClosed: Bool { lock.withLock { closed } }

    func openStream() async throws -> any MuxedStream {
        let (stream, frame) = try lock.withLock { () throws -> (YamuxStream, YamuxFrame) in
            if closed { throw StreamError.connectionClosed }
            let (id, frame) = try machine.openStream()
            let stream = YamuxStream(id: id, connection: self)
            streams[id] = stream
            return (stream, frame)
        }
        try sendControl(frame)
        return stream
    }

    func acceptStream() async throws -> (any MuxedStream)? {
        let stream = await withCheckedContinuation { (c: CheckedContinuation<YamuxStream?, Never>) in
            let ready = lock.withLock { () -> YamuxStream?? in
                if !acceptQueue.isEmpty {
                    machine.acceptDequeued()
                    return .some(acceptQueue.removeFirst())
                }
                if closed { return .some(nil) }
                acceptWaiters.append(c)
                return nil
            }
            if let ready { c.resume(returning: ready) }
        }
        return stream
    }

    func close() async {
        let proceed = lock.withLock { () -> Bool in
            if closed { return false }
            machine.goAway()
            return true
        }
        guard proceed else { return }
        _ = writer.enqueueControl(YamuxFrameEncoder.encode(.goAway(.normal)))
        writer.finish()
        let writeTask = lock.withLock { tasks.first }
        // Give the go-away a moment to leave; a stuck base stream must not hold close().
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

    // MARK: internals

    /// Queues a control frame; a remote that does not read them is a protocol error.
    func sendControl(_ frame: YamuxFrame) throws {
        guard writer.enqueueControl(YamuxFrameEncoder.encode(frame)) else {
            if isClosed { throw StreamError.connectionClosed }
            let error = YamuxError.tooManyPendingFrames(limit: 16_384)
            Task { await self.protocolError(error) }
            throw StreamError.connectionClosed
        }
    }

    /// Ends the connection: every stream is reset, waiters are woken, the base stream is closed.
    func shutdown(reason: (any Error)?) async {
        let (allStreams, waiters, closers, tasks) = lock.withLock {
            () -> ([YamuxStream], [CheckedContinuation<YamuxStream?, Never>], [CheckedContinuation<Void, Never>], [Task<Void, Never>])? in
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
        } ?? ([], [], [], [])
        guard !tasks.isEmpty || !allStreams.isEmpty || !waiters.isEmpty || !closers.isEmpty else {
            return
        }
        if let reason {
            logger.debug("yamux connection ended", metadata: ["reason": "\(reason)"])
        }
        writer.fail(StreamError.connectionClosed)
        inboundBytes?.releaseAll()
        for s in allStreams { s.connectionEnded() }
        for w in waiters { w.resume(returning: nil) }
        await base.close()
        for t in tasks { t.cancel() }
        for c in closers { c.resume() }
    }

    func protocolError(_ error: YamuxError) async {
        logger.warning("yamux protocol error; closing the connection", metadata: ["error": "\(error)"])
        lock.withLock { machine.goAway() }
        _ = writer.enqueueControl(YamuxFrameEncoder.encode(.goAway(.protocolError)))
        writer.finish()
        let writeTask = lock.withLock { tasks.first }
        let flushed = Task { await writeTask?.value }
        let timer = Task {
            try? await Task.sleep(for: .milliseconds(500))
            flushed.cancel()
        }
        await flushed.value
        timer.cancel()
        await shutdown(reason: error)
    }

    private func readLoop() async {
        var decoder = YamuxFrameDecoder(maxFrameSize: config.maxFrameSize)
        do {
            while true {
                guard let chunk = try await base.read() else {
                    await shutdown(reason: StreamError.connectionClosed)
                    return
                }
                decoder.feed(chunk)
                while let frame = try decoder.next() {
                    try handle(frame)
                }
            }
        } catch let error as YamuxError {
            await protocolError(error)
        } catch {
            await shutdown(reason: error)
        }
    }

    private func handle(_ frame: YamuxFrame) throws {
        let t = now()
        var wake: [CheckedContinuation<Void, Never>] = []
        var acceptWake: (CheckedContinuation<YamuxStream?, Never>, YamuxStream)?
        var toSend: [YamuxFrame] = []
        try lock.withLock { () throws -> Void in
            if closed { return }
            let actions = try machine.receive(frame, now: t)
            for action in actions {
                switch action {
                case .send(let f): toSend.append(f)
                case .newInboundStream(let id):
                    let s = YamuxStream(id: UInt32(id), connection: self)
                    streams[id] = s
                    if !acceptWaiters.isEmpty {
                        machine.acceptDequeued()
                        acceptWake = (acceptWaiters.removeFirst(), s)
                    } else {
                        acceptQueue.append(s)
                    }
                case .data(let id, let payload):
                    guard let s = streams[id] else { break }
                    if s.readClosed {
                        if let f = machine.consumed(streamID: id, count: payload.count, now: t) { toSend.append(f) }
                    } else if let account = inboundBytes, let refusal = account.reserve(payload.count) {
                        // Over the pending-bytes budget: this stream is reset; the peer's other
                        // streams and the other peers carry on.
                        s.isReset = true
                        account.release(s.dropChunks())
                        streams.removeValue(forKey: id)
                        if let f = machine.reset(streamID: id) { toSend.append(f) }
                        wake.append(contentsOf: s.takeWaiters())
                        if budgetRefusals.record() {
                            logger.warning(
                                "yamux: reset inbound stream over the pending-bytes limit",
                                metadata: ["peer": "\(account.peer)", "stream": "\(id)", "reason": "\(refusal)",
                                           "reset_so_far": "\(budgetRefusals.count)"])
                        }
                    } else {
                        s.chunks.append(payload)
                        if let w = s.takeReadWaiter() { wake.append(w) }
                    }
                case .remoteClosed(let id):
                    if let s = streams[id] {
                        s.remoteEOF = true
                        if let w = s.takeReadWaiter() { wake.append(w) }
                    }
                case .reset(let id):
                    if let s = streams.removeValue(forKey: id) {
                        s.isReset = true
                        wake.append(contentsOf: s.takeWaiters())
                    }
                case .sendWindowOpened(let id):
                    if let w = streams[id]?.takeWriteWaiter() { wake.append(w) }
                case .pong(let value):
                    if let p = pingOutstanding, p.value == value {
                        machine.rtt = t - p.sentAt
                        pingOutstanding = nil
                    }
                case .remoteGoAway(let code):
                    logger.debug("yamux: remote sent go-away", metadata: ["code": "\(code)"])
                case .refused(let id, let reason):
                    if refusals.record() {
                        logger.info(
                            "yamux: refused inbound stream",
                            metadata: ["stream": "\(id)", "reason": "\(reason)", "refused_so_far": "\(refusals.count)"])
                    }
                }
            }
            if frame.type == .data || frame.type == .windowUpdate {
                let id = frame.streamID
                if machine.streams[id] == nil, let s = streams[id], s.remoteEOF || s.isReset {
                    streams.removeValue(forKey: id)
                }
            }
        }
        for w in wake { w.resume() }
        if let (c, s) = acceptWake { c.resume(returning: s) }
        for f in toSend { try sendControl(f) }
    }

    private func keepAliveLoop() async {
        sendPing()
        guard let interval = config.keepAliveInterval else { return }
        let c = interval.components
        let seconds = Double(c.seconds) + Double(c.attoseconds) / 1e18
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            if isClosed { return }
            let stale = lock.withLock { () -> Bool in
                guard let p = pingOutstanding else { return false }
                return now() - p.sentAt >= seconds
            }
            if stale {
                await protocolError(.keepAliveTimeout(seconds: seconds))
                return
            }
            sendPing()
        }
    }

    private func sendPing() {
        let value = lock.withLock { () -> UInt32? in
            if closed || pingOutstanding != nil { return nil }
            let v = nextPingValue
            nextPingValue &+= 1
            pingOutstanding = (v, now())
            return v
        }
        if let value { try? sendControl(.ping(flags: .syn, value: value)) }
    }

    // MARK: stream operations (called by YamuxStream)

    func read(_ s: YamuxStream) async throws -> [UInt8]? {
        while true {
            enum Step { case chunk([UInt8], YamuxFrame?), eof, reset, wait }
            let step: Step = lock.withLock {
                if let chunk = s.popChunk() {
                    inboundBytes?.release(chunk.count)
                    let update = machine.consumed(streamID: s.id, count: chunk.count, now: now())
                    return .chunk(chunk, update)
                }
                if s.isReset { return .reset }
                if s.remoteEOF { return .eof }
                return .wait
            }
            switch step {
            case .chunk(let chunk, let update):
                if let update { try? sendControl(update) }
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

    /// Writes `bytes` as data frames of at most `maxSendPayload`, as the send window allows.
    /// Up to `maxWriteBurst` bytes of frames are handed to the frame writer at once (one base
    /// write instead of one per frame: fewer task switches and syscalls for large writes).
    func write(_ s: YamuxStream, _ bytes: [UInt8]) async throws {
        var offset = 0
        repeat {
            enum Step { case send([Int]), wait, failure(StreamError) }
            let remaining = bytes.count - offset
            let step: Step = lock.withLock {
                if s.isReset { return .failure(.reset) }
                if s.localClosed { return .failure(.closed) }
                if closed { return .failure(.connectionClosed) }
                guard remaining > 0 else { return .send([]) }
                var sizes: [Int] = []
                var reserved = 0
                while reserved < remaining && reserved < Self.maxWriteBurst {
                    let want = Swift.min(remaining - reserved, Self.maxSendPayload)
                    guard let n = machine.reserveSend(streamID: s.id, max: want) else {
                        return sizes.isEmpty ? .failure(.reset) : .send(sizes)
                    }
                    if n == 0 { break }
                    sizes.append(n)
                    reserved += n
                }
                return sizes.isEmpty ? .wait : .send(sizes)
            }
            switch step {
            case .failure(let error): throw error
            case .send(let sizes):
                if sizes.isEmpty { return }
                let total = sizes.reduce(0, +)
                var frames: [UInt8] = []
                frames.reserveCapacity(total + sizes.count * YamuxFrame.headerSize)
                var o = offset
                for n in sizes {
                    YamuxFrameEncoder.appendData(streamID: s.id, payload: bytes[o..<(o + n)], into: &frames)
                    o += n
                }
                do { try await writer.write(frames) } catch { throw StreamError.connectionClosed }
                offset = o
            case .wait:
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let ready = lock.withLock { () -> Bool in
                        if s.isReset || closed || (machine.streams[s.id]?.sendWindow ?? 1) > 0 { return true }
                        s.writeWaiter = c
                        return false
                    }
                    if ready { c.resume() }
                }
            }
        } while offset < bytes.count
    }

    func closeWrite(_ s: YamuxStream) async throws {
        let frame = try lock.withLock { () throws -> YamuxFrame? in
            if s.isReset { throw StreamError.reset }
            if s.localClosed { return nil }
            s.localClosed = true
            let f = machine.closeWrite(streamID: s.id)
            if machine.streams[s.id] == nil && s.remoteEOF { streams.removeValue(forKey: s.id) }
            return f
        }
        if let frame {
            do { try await writer.write(YamuxFrameEncoder.encode(frame)) } catch { throw StreamError.connectionClosed }
        }
    }

    func closeRead(_ s: YamuxStream) {
        var update: YamuxFrame?
        lock.withLock {
            s.readClosed = true
            let dropped = s.dropChunks()
            inboundBytes?.release(dropped)
            if dropped > 0 { update = machine.consumed(streamID: s.id, count: dropped, now: now()) }
        }
        if let update { try? sendControl(update) }
    }

    func reset(_ s: YamuxStream) {
        let (frame, waiters) = lock.withLock { () -> (YamuxFrame?, [CheckedContinuation<Void, Never>]) in
            if s.isReset { return (nil, []) }
            s.isReset = true
            inboundBytes?.release(s.dropChunks())
            streams.removeValue(forKey: s.id)
            return (machine.reset(streamID: s.id), s.takeWaiters())
        }
        for w in waiters { w.resume() }
        if let frame { try? sendControl(frame) }
    }
}

/// One yamux stream. Its mutable state is guarded by the connection's lock.
final class YamuxStream: MuxedStream, @unchecked Sendable {
    let id: UInt32
    private let connection: YamuxConnection
    var chunks = FIFOQueue<[UInt8]>()
    var remoteEOF = false
    var localClosed = false
    var readClosed = false
    var isReset = false
    var readWaiter: CheckedContinuation<Void, Never>?
    var writeWaiter: CheckedContinuation<Void, Never>?

    init(id: UInt32, connection: YamuxConnection) {
        self.id = id
        self.connection = connection
    }

    var streamID: UInt64 { UInt64(id) }

    var hasChunks: Bool { !chunks.isEmpty }

    func popChunk() -> [UInt8]? { chunks.popFirst() }

    @discardableResult
    func dropChunks() -> Int {
        let n = chunks.remaining.reduce(0) { $0 + $1.count }
        chunks.removeAll()
        return n
    }

    func takeReadWaiter() -> CheckedContinuation<Void, Never>? {
        defer { readWaiter = nil }
        return readWaiter
    }

    func takeWriteWaiter() -> CheckedContinuation<Void, Never>? {
        defer { writeWaiter = nil }
        return writeWaiter
    }

    func takeWaiters() -> [CheckedContinuation<Void, Never>] {
        [takeReadWaiter(), takeWriteWaiter()].compactMap { $0 }
    }

    /// Called (under no lock) when the connection ends.
    func connectionEnded() {
        let waiters = connection.lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            isReset = true
            return takeWaiters()
        }
        for w in waiters { w.resume() }
    }

    func read() async throws -> [UInt8]? { try await connection.read(self) }
    func write(_ bytes: [UInt8]) async throws { try await connection.write(self, bytes) }
    func closeWrite() async throws { try await connection.closeWrite(self) }
    func close() async {
        try? await connection.closeWrite(self)
        connection.closeRead(self)
    }
    func reset() async { connection.reset(self) }
}
