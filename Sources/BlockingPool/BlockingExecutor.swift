/// Runs blocking work (SQLite, fsync, file I/O, file locks) on the node's one `BlockingPool`, so
/// that it never occupies the Swift cooperative pool, whose few threads the networking code needs
/// for timeouts and keep-alives, nor an event loop.
public enum BlockingExecutor {
    /// The pool: `BlockingPool.defaultThreadCount()` threads (`JZ_BLOCKING_THREADS`).
    public static let pool = BlockingPool(name: "jz-blocking", threads: BlockingPool.defaultThreadCount())

    /// Runs `body` on the pool and returns its result.
    public static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            pool.submit {
                do throws(E) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Runs `body`, a wait (on a semaphore, a condition) for work that itself runs on the pool,
    /// such that the waiting thread is stood in for: see `BlockingPool.waitingForOtherWork`.
    public static func waitingForOtherWork<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        try pool.waitingForOtherWork(body)
    }
}
