import BlockStore
import BlockingPool
import Dispatch
import Foundation
import IPLD

/// Where the importer sends the blocks it makes, in creation order (every child before its
/// parent). Used from one thread at a time.
public protocol BlockSink: AnyObject {
    /// Takes one block; may buffer it.
    func put(_ block: Block) throws(ImportError)
    /// Returns once every block put so far is stored (or throws the first failure).
    func flush() throws(ImportError)
}

/// A sink that writes to a `BlockStore` in batches (one `putMany` transaction per batch), on
/// the blocking pool (`BlockingExecutor.pool`) so that storing (and its fsync) overlaps hashing; at most `maxInFlight`
/// batches are being written at once (so one can write while another waits for its fsync)
/// while the next fills, which bounds memory to about `(maxInFlight + 1) × maxBytes`. Batches
/// may commit out of order; `flush` waits for all of them.
///
/// A failure is reported by the next `put` or by `flush`; batches already committed stay stored
/// (the importer's blocks are content-addressed, so a retry simply re-puts them).
public final class BatchingBlockSink: BlockSink {
    private let store: any BlockStore
    private let maxBlocks: Int
    private let maxBytes: Int
    private let background: Bool
    private let maxInFlight: Int
    private var batch: [Block] = []
    private var batchBytes = 0
    /// One permit per batch that may be in flight.
    private let idle: DispatchSemaphore
    private let state = SinkState()

    /// - Parameters:
    ///   - maxBlocks: blocks per `putMany` (Kubo batches 128 nodes).
    ///   - maxBytes: bytes per `putMany`.
    ///   - background: write batches on a background thread (false: synchronously in `put`).
    ///   - maxInFlight: batches being written at once in the background.
    public init(
        store: any BlockStore, maxBlocks: Int = 128, maxBytes: Int = 16 << 20, background: Bool = true,
        maxInFlight: Int = 2
    ) {
        self.store = store
        self.maxBlocks = max(1, maxBlocks)
        self.maxBytes = max(1, maxBytes)
        self.background = background
        self.maxInFlight = max(1, maxInFlight)
        self.idle = DispatchSemaphore(value: self.maxInFlight)
    }

    deinit {
        // Never leave a write running past our lifetime.
        waitForWrites()
    }

    private func waitForWrites() {
        BlockingExecutor.waitingForOtherWork {
            for _ in 0..<maxInFlight { idle.wait() }
        }
        for _ in 0..<maxInFlight { idle.signal() }
    }

    public func put(_ block: Block) throws(ImportError) {
        batch.append(block)
        batchBytes += block.data.count
        if batch.count >= maxBlocks || batchBytes >= maxBytes {
            try dispatchBatch()
        }
    }

    public func flush() throws(ImportError) {
        try dispatchBatch()
        waitForWrites()
        if let error = state.failure.withLock({ $0 }) { throw error }
    }

    private func dispatchBatch() throws(ImportError) {
        guard !batch.isEmpty else { return }
        let blocks = batch
        batch = []
        batchBytes = 0
        BlockingExecutor.waitingForOtherWork { self.idle.wait() }
        if let error = state.failure.withLock({ $0 }) {
            idle.signal()
            throw error
        }
        if !background {
            defer { idle.signal() }
            do {
                try store.putMany(blocks)
            } catch {
                let wrapped = ImportError.store(reason: "\(error)")
                state.failure.withLock { $0 = wrapped }
                throw wrapped
            }
            return
        }
        let store = self.store
        let idle = self.idle
        let state = self.state
        // The importer usually runs on the pool itself: its waits for these writes above let a
        // stand-in thread take them when every thread of the pool is busy.
        BlockingExecutor.pool.submit {
            do {
                try store.putMany(blocks)
            } catch {
                let wrapped = ImportError.store(reason: "\(error)")
                state.failure.withLock { $0 = $0 ?? wrapped }
            }
            idle.signal()
        }
    }
}

/// The first failure of a background batch.
private final class SinkState: Sendable {
    let failure = Locked<ImportError?>(nil)
}

/// A sink that collects blocks in memory (tests, small imports).
public final class CollectingBlockSink: BlockSink {
    /// Every block put, in order.
    public private(set) var blocks: [Block] = []

    public init() {}

    public func put(_ block: Block) throws(ImportError) { blocks.append(block) }
    public func flush() throws(ImportError) {}
}
