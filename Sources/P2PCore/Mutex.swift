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

/// A value behind a lock, shareable between tasks and closures (a `Synchronization.Mutex` cannot
/// be captured by an escaping closure; this class can).
public final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    public init(_ value: Value) { self.value = value }

    /// Runs `body` with the value, under the lock (never across `await`).
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
