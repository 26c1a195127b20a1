import Dispatch
import Foundation
import IPLD
import Multiformats
import P2PCore

/// Verifies received blocks (hashes each into the CID its prefix names it with) in multi-buffer
/// batches shared by all callers.
///
/// Why: without SHA-NI one SHA-256 runs at ~400 MB/s per core, while the multi-buffer kernel
/// (`Sha256.digests`) hashes `Sha256.lanes` messages side by side about five times faster. One
/// bitswap message carries only a few blocks, but many arrive at once from several peers and
/// streams; pooling their blocks lets the kernel fill its lanes.
///
/// How: `verify(_:)` queues a message's blocks by hash function and awaits their results. At most
/// `maxConcurrentBatches` workers run, on Dispatch threads (hashing must not hold the few threads
/// of the Swift concurrency pool; see `BlockingExecutor`). A worker takes up to `batchSize(for:)`
/// queued blocks of the function whose oldest block has waited longest, hashes them together with
/// `Multihash.hash(batch:with:)`, hands out the results and takes the next batch, until the queue
/// is empty. There are no timers: an idle verifier starts on a submission at once with however
/// many blocks it holds, and batches fill up by themselves while every worker is busy. Only
/// sha2-256 (with a kernel, `Sha256.lanes > 0`) is batched; other functions are hashed one block
/// per batch so that they still spread over all cores.
///
/// Bounds: the queue holds the submitted blocks themselves (no copies); callers bound the bytes in
/// flight (`BitswapClient` admits 32 MiB of unverified blocks at a time).
///
/// Results are exactly `CIDPrefix.cid(for:)`'s, and blocks over `BitswapProtocol.maxBlockSize`
/// fail unhashed.
final class BlockVerifier: @unchecked Sendable {
    /// The most batches hashing at once.
    let maxConcurrentBatches: Int
    /// The most sha2-256 blocks hashed in one batch.
    let maxBatch: Int

    private let queue = DispatchQueue(label: "jz.bitswap.verify", qos: .userInitiated, attributes: .concurrent)
    private let lock = Mutex()
    // Everything below is guarded by `lock`.
    /// Blocks waiting to be hashed, by hash function (no empty queues).
    private var pending: [HashFunction: PendingQueue] = [:]
    /// Numbers blocks in arrival order, so the oldest waiting block goes first.
    private var nextSequence: UInt64 = 0
    /// Workers running (each holds a batch or is about to take one).
    private var running = 0
    private var counters = Statistics()

    /// What the verifier has done so far (tests and diagnostics).
    struct Statistics: Sendable, Equatable {
        /// Batches hashed.
        var batches = 0
        /// Blocks hashed in them.
        var blocks = 0
        /// The largest batch.
        var largestBatch = 0
    }

    /// - Parameters:
    ///   - maxConcurrentBatches: the most batches hashing at once (default: one per core).
    ///   - maxBatch: the most sha2-256 blocks per batch (default: the kernel's lane count).
    init(maxConcurrentBatches: Int = ProcessInfo.processInfo.activeProcessorCount, maxBatch: Int = Sha256.lanes) {
        self.maxConcurrentBatches = max(1, maxConcurrentBatches)
        self.maxBatch = max(1, maxBatch)
    }

    var statistics: Statistics { lock.withLock { counters } }

    /// Hashes `blocks` and returns, in order, each block under its CID or why it cannot be
    /// accepted: `.unsupportedBlock` for blocks over `BitswapProtocol.maxBlockSize`, hash functions
    /// this node cannot compute, digest lengths other than the function's and prefixes that name
    /// no valid CID (the errors of `CIDPrefix.cid(for:)`). A block that hashes to another CID than
    /// the sender meant is not detected here; the caller checks who wanted it.
    func verify(_ blocks: [PrefixedBlock]) async -> [Result<Block, BitswapError>] {
        if blocks.isEmpty { return [] }
        return await withCheckedContinuation { (continuation: CheckedContinuation<[Result<Block, BitswapError>], Never>) in
            let submission = Submission(count: blocks.count, continuation: continuation)
            var accepted: [(index: Int, block: PrefixedBlock)] = []
            accepted.reserveCapacity(blocks.count)
            for (index, block) in blocks.enumerated() {
                if let error = Self.rejection(of: block) {
                    submission.results[index] = .failure(error)
                } else {
                    accepted.append((index, block))
                }
            }
            if accepted.isEmpty {
                continuation.resume(returning: submission.results)
                return
            }
            let batches: [[Pending]] = lock.withLock {
                submission.remaining = accepted.count
                for (index, block) in accepted {
                    let item = Pending(block: block, submission: submission, index: index, sequence: nextSequence)
                    nextSequence += 1
                    pending[block.prefix.hashFunction, default: PendingQueue()].append(item)
                }
                var batches: [[Pending]] = []
                while running < maxConcurrentBatches, let batch = takeBatch() {
                    running += 1
                    batches.append(batch)
                }
                return batches
            }
            for batch in batches {
                queue.async { self.work(batch) }
            }
        }
    }

    /// How many blocks hashed with `function` go in one batch.
    func batchSize(for function: HashFunction) -> Int {
        function == .sha2_256 && Sha256.lanes > 0 ? maxBatch : 1
    }

    // MARK: Workers

    /// Hashes `batch`, then every batch still queued, until none is left.
    private func work(_ first: [Pending]) {
        var batch = first
        while true {
            let results = Self.verify(batch)
            let (finished, next): ([Submission], [Pending]?) = lock.withLock {
                var finished: [Submission] = []
                for (item, result) in zip(batch, results) {
                    item.submission.results[item.index] = result
                    item.submission.remaining -= 1
                    if item.submission.remaining == 0 { finished.append(item.submission) }
                }
                counters.batches += 1
                counters.blocks += batch.count
                counters.largestBatch = max(counters.largestBatch, batch.count)
                let next = takeBatch()
                if next == nil { running -= 1 }
                return (finished, next)
            }
            for submission in finished { submission.continuation.resume(returning: submission.results) }
            guard let next else { return }
            batch = next
        }
    }

    /// Up to `batchSize(for:)` blocks of the function whose oldest waiting block came first.
    /// Call with `lock` held.
    private func takeBatch() -> [Pending]? {
        guard let function = pending.min(by: { $0.value.oldestSequence < $1.value.oldestSequence })?.key,
              var queue = pending.removeValue(forKey: function)
        else { return nil }
        let batch = queue.removeFirst(upTo: batchSize(for: function))
        if !queue.isEmpty { pending[function] = queue }
        return batch
    }

    /// Blocks refused before hashing: too large, or a hash function that cannot be computed.
    private static func rejection(of block: PrefixedBlock) -> BitswapError? {
        guard block.data.count <= BitswapProtocol.maxBlockSize else {
            return .unsupportedBlock(reason: "block of \(block.data.count) bytes exceeds \(BitswapProtocol.maxBlockSize)")
        }
        do throws(BitswapError) {
            try block.prefix.checkVerifiable()
            return nil
        } catch {
            return error
        }
    }

    /// The blocks of `batch` (one hash function) under their CIDs.
    private static func verify(_ batch: [Pending]) -> [Result<Block, BitswapError>] {
        guard let function = batch.first?.block.prefix.hashFunction else { return [] }
        let multihashes: [Multihash]
        do {
            multihashes = try Multihash.hash(batch: batch.map(\.block.data), with: function)
        } catch {
            // Not expected (`rejection(of:)` let only computable functions through); hash one by
            // one so that each block gets `cid(for:)`'s own error.
            return batch.map { item in
                Result { () throws(BitswapError) -> Block in
                    Block(cid: try item.block.prefix.cid(for: item.block.data), data: item.block.data)
                }
            }
        }
        return zip(batch, multihashes).map { item, multihash in
            Result { () throws(BitswapError) -> Block in
                Block(cid: try item.block.prefix.cid(hashed: multihash), data: item.block.data)
            }
        }
    }
}

/// One caller's blocks: their results so far and the caller waiting for all of them. Mutable
/// state is guarded by the verifier's lock.
private final class Submission: @unchecked Sendable {
    var results: [Result<Block, BitswapError>]
    /// Blocks still to hash.
    var remaining = 0
    let continuation: CheckedContinuation<[Result<Block, BitswapError>], Never>

    init(count: Int, continuation: CheckedContinuation<[Result<Block, BitswapError>], Never>) {
        results = Array(repeating: .failure(.unsupportedBlock(reason: "not verified")), count: count)
        self.continuation = continuation
    }
}

/// A queued block and where its result goes.
private struct Pending: Sendable {
    let block: PrefixedBlock
    let submission: Submission
    let index: Int
    let sequence: UInt64
}

/// A FIFO of pending blocks (array and head index: O(1) amortized removal from the front).
private struct PendingQueue {
    private var items: [Pending] = []
    private var head = 0

    var isEmpty: Bool { head == items.count }
    /// The arrival number of the first block (`.max` when empty).
    var oldestSequence: UInt64 { isEmpty ? .max : items[head].sequence }

    mutating func append(_ item: Pending) { items.append(item) }

    mutating func removeFirst(upTo count: Int) -> [Pending] {
        let end = min(items.count, head + count)
        let taken = Array(items[head..<end])
        head = end
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return taken
    }
}
