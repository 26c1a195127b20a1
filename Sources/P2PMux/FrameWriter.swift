import P2PCore

/// Serialises every write to a muxer's base stream in one task, so frames are never interleaved.
///
/// Control frames (window updates, ACK, RST, pong) are queued without waiting, so the frame-reading
/// task never blocks on the network; the queue is bounded (`maxControlFrames`). Data frames are
/// queued by their writers, who wait until their frame is written (backpressure). Entries go out in
/// FIFO order, several per base write when small.
final class FrameWriter: @unchecked Sendable {
    private struct Entry {
        var bytes: [UInt8]
        var waiter: CheckedContinuation<Void, any Error>?
    }

    private let base: any ByteStream
    private let lock = Mutex()
    private var queue: [Entry] = []
    private var head = 0
    private var controlCount = 0
    private var wakeup: CheckedContinuation<Void, Never>?
    private var failure: (any Error)?
    private var finishing = false
    private let maxControlFrames: Int
    private let maxBatch: Int

    init(base: any ByteStream, maxControlFrames: Int = 16_384, maxBatch: Int = 256 * 1024) {
        self.base = base
        self.maxControlFrames = maxControlFrames
        self.maxBatch = maxBatch
    }

    /// Queues a control frame; false when the writer has ended or the queue is full.
    func enqueueControl(_ bytes: [UInt8]) -> Bool {
        let (ok, w) = lock.withLock { () -> (Bool, CheckedContinuation<Void, Never>?) in
            guard failure == nil, !finishing, controlCount < maxControlFrames else { return (false, nil) }
            queue.append(Entry(bytes: bytes, waiter: nil))
            controlCount += 1
            defer { wakeup = nil }
            return (true, wakeup)
        }
        w?.resume()
        return ok
    }

    /// Queues bytes and waits until they have been written to the base stream.
    func write(_ bytes: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            let result = lock.withLock { () -> Result<CheckedContinuation<Void, Never>?, any Error> in
                if let failure { return .failure(failure) }
                if finishing { return .failure(StreamError.connectionClosed) }
                queue.append(Entry(bytes: bytes, waiter: c))
                defer { wakeup = nil }
                return .success(wakeup)
            }
            switch result {
            case .failure(let error): c.resume(throwing: error)
            case .success(let w): w?.resume()
            }
        }
    }

    /// Stops accepting entries; `run()` returns after writing what is queued.
    func finish() {
        let w = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            finishing = true
            defer { wakeup = nil }
            return wakeup
        }
        w?.resume()
    }

    /// Fails every queued and later write with `error`; `run()` returns.
    func fail(_ error: any Error) {
        let (pending, w) = lock.withLock { () -> ([Entry], CheckedContinuation<Void, Never>?) in
            if failure == nil { failure = error }
            let pending = Array(queue[head...])
            queue = []
            head = 0
            controlCount = 0
            defer { wakeup = nil }
            return (pending, wakeup)
        }
        w?.resume()
        for entry in pending { entry.waiter?.resume(throwing: error) }
    }

    /// The writing loop; returns when finished or failed.
    func run() async {
        while true {
            enum Step { case batch([Entry]), done, wait }
            let step: Step = lock.withLock {
                if failure != nil { return .done }
                if head == queue.count { return finishing ? .done : .wait }
                var batch: [Entry] = []
                var size = 0
                while head < queue.count && (batch.isEmpty || size + queue[head].bytes.count <= maxBatch) {
                    let e = queue[head]
                    size += e.bytes.count
                    if e.waiter == nil { controlCount -= 1 }
                    batch.append(e)
                    head += 1
                }
                if head == queue.count {
                    queue.removeAll(keepingCapacity: true)
                    head = 0
                } else if head > 1024 && head > queue.count / 2 {
                    queue.removeFirst(head)
                    head = 0
                }
                return .batch(batch)
            }
            switch step {
            case .done: return
            case .wait:
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let ready = lock.withLock { () -> Bool in
                        if failure != nil || finishing || head < queue.count { return true }
                        wakeup = c
                        return false
                    }
                    if ready { c.resume() }
                }
            case .batch(let batch):
                let bytes: [UInt8]
                if batch.count == 1 {
                    bytes = batch[0].bytes
                } else {
                    var joined: [UInt8] = []
                    joined.reserveCapacity(batch.reduce(0) { $0 + $1.bytes.count })
                    for e in batch { joined.append(contentsOf: e.bytes) }
                    bytes = joined
                }
                do {
                    try await base.write(bytes)
                    for e in batch { e.waiter?.resume() }
                } catch {
                    for e in batch { e.waiter?.resume(throwing: error) }
                    fail(error)
                    return
                }
            }
        }
    }
}
