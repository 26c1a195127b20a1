import BlockStore
import Dispatch
import IPLD
import P2PCore

/// Stores fetched blocks in batches (one transaction, one fsync per batch) on a serial Dispatch
/// queue, so storing overlaps fetching. At most `maxPendingBytes` wait to be written; `add` waits
/// beyond that, which slows the fetch to the disk's pace instead of growing memory.
final class BlockWriter: @unchecked Sendable {
    private let store: any BlockStore
    private let batchBytes: Int
    private let queue = DispatchQueue(label: "jz.bitswap.writer")
    private let budget: AsyncBudget
    private let onStored: @Sendable ([Block]) -> Void
    private let lock = Mutex()
    private var batch: [Block] = []
    private var bytesInBatch = 0
    private var failure: String?

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
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in queue.async { c.resume() } }
        if let failure = lock.withLock({ failure }) { throw .store(failure) }
    }

    private func write(_ blocks: [Block]) {
        let bytes = blocks.reduce(0) { $0 + $1.data.count }
        queue.async { [self] in
            defer { budget.release(bytes) }
            if lock.withLock({ failure != nil }) { return }
            do {
                try store.putMany(blocks)
                onStored(blocks)
            } catch {
                lock.withLock { if failure == nil { failure = "\(error)" } }
            }
        }
    }
}
