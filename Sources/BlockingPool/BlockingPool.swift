import Foundation

/// A fixed set of threads for blocking work: SQLite, fsync, file reads and writes, `flock`.
///
/// Why not the Swift cooperative pool: it has one thread per core (two on a small machine), and
/// the networking code needs them for timers, keep-alives and handshakes; one blocked thread there
/// stalls half the node. Why not a concurrent Dispatch queue: on Linux, Dispatch runs about one
/// thread per core and counts a thread blocked in `fsync` or `flock` as busy, so its real width is
/// unpredictable (two here) and it can also grow without a bound.
///
/// The pool runs at most `threads` jobs at once, in the order they were submitted; the rest wait
/// in a queue (bounded by the callers, each of which waits for its job). A job that must wait for
/// other work of the pool (a batch being written by another job, a fetch whose blocks this pool
/// stores) says so with `waitingForOtherWork`, and the pool starts a stand-in thread for the time
/// of the wait, up to `maxThreads` in all, so such waits never take the whole pool and deadlock it.
/// Jobs submitted by a job of the pool run before the jobs submitted from outside: the waits are
/// for them, and stand-ins must not spend themselves on new outside work that may wait in turn.
public final class BlockingPool: @unchecked Sendable {
    /// What the pool is doing, for `stats` and tests.
    public struct Usage: Sendable, Equatable {
        /// Threads alive (core threads and stand-ins).
        public var threads: Int
        /// Jobs running now.
        public var running: Int
        /// Jobs waiting for a thread.
        public var queued: Int
        /// Jobs waiting for other work of the pool (`waitingForOtherWork`).
        public var waitingForOtherWork: Int
        /// The most jobs that ran at once so far.
        public var peakRunning: Int
        /// Jobs finished so far.
        public var completed: Int
    }

    /// The number of threads that run jobs when no job waits for other work.
    public let threads: Int
    /// The most threads alive at once, stand-ins included.
    public let maxThreads: Int
    private let name: String

    // Everything below is guarded by `condition`.
    private let condition = NSCondition()
    private var queue = FIFOQueue<@Sendable () -> Void>()
    /// Jobs submitted from the pool's own threads, run first.
    private var nested = FIFOQueue<@Sendable () -> Void>()
    private var alive = 0
    private var idle = 0
    private var running = 0
    private var waiting = 0
    private var peakRunning = 0
    private var completed = 0

    /// - Parameters:
    ///   - threads: jobs run at once (at least 1).
    ///   - maxThreads: threads alive at most, stand-ins for waiting jobs included (at least
    ///     `threads`).
    public init(name: String, threads: Int, maxThreads: Int? = nil) {
        self.name = name
        self.threads = max(1, threads)
        self.maxThreads = max(self.threads, maxThreads ?? 4 * self.threads)
    }

    /// The pool's threads by default: `JZ_BLOCKING_THREADS` when set, else 4 per core and at
    /// least 8 (blocking work waits on disks and locks, not on the CPU).
    public static func defaultThreadCount(environment: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        if let text = environment["JZ_BLOCKING_THREADS"], let value = Int(text), value > 0 { return min(value, 1024) }
        return max(8, 4 * ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Runs `job` on one of the pool's threads, in submission order (jobs submitted from the
    /// pool's own threads before those from outside).
    public func submit(_ job: @escaping @Sendable () -> Void) {
        let fromPool = isPoolThread
        condition.lock()
        if fromPool { nested.append(job) } else { queue.append(job) }
        if idle > 0 {
            condition.signal()
        } else if alive < min(maxThreads, threads + waiting) {
            startThread()
        }
        condition.unlock()
    }

    /// Runs `body`, a wait for other work of this pool, such that the wait does not take one of the
    /// pool's threads away from that work: while it lasts, a stand-in thread may run queued jobs.
    /// Called from outside the pool it just runs `body`.
    public func waitingForOtherWork<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        guard isPoolThread else { return try body() }
        condition.lock()
        waiting += 1
        running -= 1
        if queue.count + nested.count > 0 && idle == 0 && alive < min(maxThreads, threads + waiting) {
            startThread()
        }
        condition.unlock()
        defer {
            condition.lock()
            waiting -= 1
            running += 1
            condition.unlock()
        }
        return try body()
    }

    /// Whether the calling thread is one of this pool's.
    public var isPoolThread: Bool {
        (Thread.current.threadDictionary[Self.threadKey] as? ObjectIdentifier) == ObjectIdentifier(self)
    }

    public var usage: Usage {
        condition.lock()
        defer { condition.unlock() }
        return Usage(
            threads: alive, running: running, queued: queue.count + nested.count, waitingForOtherWork: waiting,
            peakRunning: peakRunning, completed: completed)
    }

    private static let threadKey = "jz.blocking-pool"

    /// Called with `condition` held.
    private func startThread() {
        alive += 1
        let thread = Thread { [self] in work() }
        thread.name = "\(name)-\(alive)"
        thread.start()
    }

    private func work() {
        Thread.current.threadDictionary[Self.threadKey] = ObjectIdentifier(self)
        condition.lock()
        while true {
            // Beyond the bound (a wait that had a stand-in is over): this thread leaves, the others
            // take the queue.
            if alive > threads + waiting {
                alive -= 1
                condition.unlock()
                return
            }
            guard let job = nested.popFirst() ?? queue.popFirst() else {
                idle += 1
                condition.wait()
                idle -= 1
                continue
            }
            running += 1
            peakRunning = max(peakRunning, running)
            condition.unlock()
            job()
            condition.lock()
            running -= 1
            completed += 1
        }
    }
}

/// Async code may run on the pool (`withTaskExecutorPreference(pool)`): the one-shot CLI does,
/// so that its blocking work (SQLite, files, calls to the daemon) never holds the cooperative pool.
extension BlockingPool: TaskExecutor {
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        submit { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
