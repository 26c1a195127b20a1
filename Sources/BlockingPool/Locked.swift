import Foundation

/// A value behind a lock, shareable between threads, tasks and escaping closures; the one lock
/// type of the project for synchronous critical sections (never held across `await`).
///
/// Used instead of `Synchronization.Mutex`: ThreadSanitizer does not see that mutex's futex on
/// Linux and reports every access under a contended one as a race, while it sees `NSLock` (a
/// pthread mutex). Unlike `Synchronization.Mutex` it does not require the value to be `sending`:
/// a non-`Sendable` value (an SQLite connection) may live behind it, as long as no reference to it
/// leaves `withLock`.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the value, under the lock.
    public func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
