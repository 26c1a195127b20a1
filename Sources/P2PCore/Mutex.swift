import Foundation

/// A small lock for synchronous critical sections (never held across `await`).
public final class Mutex: @unchecked Sendable {
    private let lock = NSLock()
    public init() {}
    /// Runs `body` with the lock held.

    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
