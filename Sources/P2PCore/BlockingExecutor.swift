import Dispatch

/// Runs blocking work (SQLite, hashing) on Dispatch threads so that it never occupies the Swift
/// concurrency pool, whose few threads the networking code needs for timeouts and keep-alives.
public enum BlockingExecutor {
    private static let queue = DispatchQueue(label: "jz.blocking", qos: .userInitiated, attributes: .concurrent)

    /// Runs `body` on a Dispatch thread and returns its result.
    public static func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.async {
                do throws(E) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Runs `body(i)` for every `i` in `0..<count` on all cores and returns the results in order.
    public static func map<T: Sendable>(count: Int, _ body: @escaping @Sendable (Int) -> T) async -> [T] {
        if count == 0 { return [] }
        return await withCheckedContinuation { continuation in
            queue.async {
                let results = UnsafeResults<T>(count: count)
                DispatchQueue.concurrentPerform(iterations: count) { i in results.set(i, body(i)) }
                continuation.resume(returning: results.values())
            }
        }
    }
}

/// Slots written by distinct `concurrentPerform` iterations (each index once), read after all end.
private final class UnsafeResults<T>: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<T?>
    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }
    deinit {
        _ = slots.deinitialize()
        slots.deallocate()
    }
    func set(_ index: Int, _ value: T) { slots[index] = value }
    func values() -> [T] { slots.compactMap { $0 } }
}
