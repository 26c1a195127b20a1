/// Runs `operation`, failing with `StreamError.timeout(what:)` when it takes longer than `duration`.
///
/// On timeout `onTimeout` runs first (close or reset the stream the operation waits on, so it
/// finishes), then the operation is cancelled and awaited; a task group cannot return before its
/// children end, so an operation that ignores both would hold the caller. Once time has run out,
/// the error is the timeout, even when the operation's own error (the reset) arrives first.
///
/// When the calling task is cancelled while the operation still runs, `onTimeout` runs too, for
/// the same reason: a read parked on a stream does not wake for cancellation, only for the reset,
/// and without it the caller would wait forever for a peer that may never answer. The error is
/// then `CancellationError`.
public func withTimeout<T: Sendable>(
    _ duration: Duration, what: String,
    onTimeout: @escaping @Sendable () async -> Void = {},
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let fired = DeadlineFlag()
    let finished = DeadlineFlag()
    let abandoned = DeadlineFlag()
    let c = duration.components
    let timeout = StreamError.timeout(what: what, seconds: Double(c.seconds) + Double(c.attoseconds) / 1e18)
    do {
        return try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask {
                defer { finished.set() }
                return try await operation()
            }
            group.addTask {
                do {
                    try await Task.sleep(for: duration)
                } catch {
                    // Cancelled: either the operation ended (the group cancels this timer on its
                    // way out) or the caller was cancelled and the operation may still be parked.
                    if !finished.isSet {
                        abandoned.set()
                        await onTimeout()
                    }
                    throw error
                }
                fired.set()
                await onTimeout()
                throw timeout
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    } catch {
        if fired.isSet { throw timeout }
        if abandoned.isSet { throw CancellationError() }
        throw error
    }
}

/// Runs `operation` on `stream` with `withTimeout`, resetting the stream when time runs out (or
/// when the calling task is cancelled while `operation` still runs).
public func withStreamDeadline<T: Sendable>(
    _ duration: Duration, what: String, stream: any ByteStream,
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withTimeout(duration, what: what, onTimeout: { await stream.reset() }, operation)
}

/// Set once (a deadline passed, an operation ended).
private final class DeadlineFlag: @unchecked Sendable {
    private let lock = Mutex()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
