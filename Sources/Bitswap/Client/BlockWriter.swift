import BlockStore
import Foundation
import IPLD
import P2PCore

/// Stores fetched blocks in batches (one transaction, one fsync per batch) on writer threads of
/// its own, so storing overlaps fetching. Two batches are written at once (the store lets one
/// write while the other waits for its fsync); batches may be stored out of order, and `finish`
/// waits for all. At most `maxPendingBytes` wait to be written; `add` waits beyond that, which
/// slows the fetch to the disk's pace instead of growing memory.
final class BlockWriter: @unchecked Sendable {
    /// Batches written at once.
    static let maxWriters = 2

    private let store: any BlockStore
    private let batchBytes: Int
    private let budget: AsyncBudget
    private let onStored: @Sendable ([Block]) -> Void
    private let lock = Mutex()
    // Guarded by `lock`.
    private var batch: [Block] = []
    private var bytesInBatch = 0
    private var failure: String?
    /// Full batches no writer has taken yet.
    private var queued: [[Block]] = []
    /// Writer threads running.
    private var writers = 0
    /// `finish` calls waiting for the writers to run out of work.
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []

    init(store: any BlockStore, batchBytes: Int = 8 << 20, maxPendingBytes: Int = 32 << 20,
         onStored: @escaping @Sendable ([Block]) -> Void) {
        self.store = store
        self.batchBytes = batchBytes
        self.budget = AsyncBudget(capacity: maxPendingBytes)
        self.onStored = onStored
    }

    /// Queues a verified block.
    func add(_ block: Block) async throws(BitswapError) {
        if let failure = lock.withLock({ failure }) { throw .store(failure) }
        await budget.acquire(block.data.count)
        let full: [Block]? = lock.withLock {
            batch.append(block)
            bytesInBatch += block.data.count
            guard bytesInBatch >= batchBytes else { return nil }
            defer { batch = []; bytesInBatch = 0 }
            return batch
        }
        if let full { write(full) }
    }

    /// Writes what is queued and waits for every write. Throws the first store error.
    func finish() async throws(BitswapError) {
        let rest: [Block] = lock.withLock {
            defer { batch = []; bytesInBatch = 0 }
            return batch
        }
        if !rest.isEmpty { write(rest) }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let idle: Bool = lock.withLock {
                if writers == 0 && queued.isEmpty { return true }
                idleWaiters.append(c)
                return false
            }
            if idle { c.resume() }
        }
        if let failure = lock.withLock({ failure }) { throw .store(failure) }
    }

    /// Queues a full batch and starts a writer thread when fewer than `maxWriters` run. Threads
    /// of their own, not Dispatch: on Linux its pool counts a thread waiting in fsync as busy.
    private func write(_ blocks: [Block]) {
        let start: Bool = lock.withLock {
            queued.append(blocks)
            guard writers < Self.maxWriters else { return false }
            writers += 1
            return true
        }
        if start { Thread.detachNewThread { [self] in drain() } }
    }

    /// A writer thread: stores queued batches until none is left.
    private func drain() {
        while true {
            let next: [Block]? = lock.withLock {
                if !queued.isEmpty { return queued.removeFirst() }
                writers -= 1
                return nil
            }
            guard let blocks = next else { break }
            defer { budget.release(blocks.reduce(0) { $0 + $1.data.count }) }
            if lock.withLock({ failure != nil }) { continue }
            do {
                try store.putMany(blocks)
                onStored(blocks)
            } catch {
                lock.withLock { if failure == nil { failure = "\(error)" } }
            }
        }
        let waiters: [CheckedContinuation<Void, Never>] = lock.withLock {
            guard writers == 0 && queued.isEmpty else { return [] }
            defer { idleWaiters = [] }
            return idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
