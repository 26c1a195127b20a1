/// A FIFO async mutex: at most one holder at a time; waiters resume in arrival order. Used to keep
/// one writer per stream (actor methods are re-entrant across `await`, so an actor alone cannot).
public final class AsyncGate: @unchecked Sendable {
    private let lock = Mutex()
    private var held = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init() {}

    public func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = lock.withLock {
                if held {
                    waiters.append(continuation)
                    return false
                }
                held = true
                return true
            }
            if resumeNow { continuation.resume() }
        }
    }

    public func release() {
        let next: CheckedContinuation<Void, Never>? = lock.withLock {
            if waiters.isEmpty {
                held = false
                return nil
            }
            return waiters.removeFirst()
        }
        next?.resume()
    }

    /// Runs `body` holding the gate.
    public func withGate<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        defer { release() }
        return try await body()
    }
}

/// An async counting semaphore over a budget of units (bytes, blocks): `acquire(n)` waits until
/// `n` units are free. A request larger than the whole budget is let through alone.
public final class AsyncBudget: @unchecked Sendable {
    private let lock = Mutex()
    private let capacity: Int
    private var used = 0
    private var waiters: [(units: Int, continuation: CheckedContinuation<Void, Never>)] = []

    public init(capacity: Int) {
        self.capacity = capacity
    }

    public func acquire(_ units: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = lock.withLock {
                if waiters.isEmpty && (used + units <= capacity || used == 0) {
                    used += units
                    return true
                }
                waiters.append((units, continuation))
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    public func release(_ units: Int) {
        let ready: [CheckedContinuation<Void, Never>] = lock.withLock {
            used -= units
            var out: [CheckedContinuation<Void, Never>] = []
            while let first = waiters.first, used + first.units <= capacity || used == 0 {
                used += first.units
                out.append(first.continuation)
                waiters.removeFirst()
            }
            return out
        }
        for c in ready { c.resume() }
    }
}
