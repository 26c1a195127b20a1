import BlockingPool
import P2PCore
import Foundation
import Testing

/// Runs each test of a suite on the blocking pool (`BlockingExecutor.pool`) instead of the Swift
/// cooperative pool, as the CLI runs its commands.
///
/// Swift Testing runs tests in parallel on the cooperative pool, which has one thread per core
/// (two on a small machine). A synchronous test that hashes, imports or waits for a subprocess
/// holds one of them for its whole length, and two such tests stop every timer, keep-alive and
/// handshake of the networking tests running beside them. On the pool they hold a pool thread
/// instead. And Swift Testing starts every test at once: on two cores, hundreds of tests make a
/// 200 ms timer fire seconds late. So at most `TestGate.defaultWidth()` test cases run at once (Swift
/// Testing's own `--experimental-maximum-parallelization-width` deadlocks on parameterized tests
/// here). The networking suites (`P2P*Tests`) do not carry it yet: `scripts/test.sh` runs them
/// alone first (one of them once hung when everything ran together on the pool).
public struct OnBlockingPool: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    /// One scope per test case: the case's body, and whatever it awaits, prefers the pool.
    public func scopeProvider(for test: Test, testCase: Test.Case?) -> OnBlockingPool? {
        testCase == nil ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        await TestGate.shared.acquire(1)
        defer { TestGate.shared.release(1) }
        // A case that hangs (and ignores cancellation) would hold the whole run until CI gives up:
        // past `TestGate.timeLimit` it stops the run, naming the case.
        let name = test.name
        let watchdog = Task.detached {
            try await Task.sleep(for: TestGate.timeLimit)
            FileHandle.standardError.write(Data(
                "error: test \(name) ran longer than \(TestGate.timeLimit) (JZ_TEST_TIME_LIMIT): stopping the run\n".utf8))
            exit(1)
        }
        defer { watchdog.cancel() }
        let limit = test.traits.compactMap { ($0 as? CaseTimeLimit)?.limit }.min()
        try await withTaskExecutorPreference(BlockingExecutor.pool) {
            if let limit {
                // The case ends inside `within` (a task group waits for its children).
                try await withoutActuallyEscaping(function) { try await Self.within(limit, $0) }
            } else {
                try await function()
            }
        }
    }

    /// Runs `function`; past `limit` it records "Time limit was exceeded" and cancels it (then
    /// waits for it to end, as a task group does).
    static func within(_ limit: Duration, _ function: @escaping @Sendable () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await function() }
            group.addTask {
                try await Task.sleep(for: limit)
                Issue.record("Time limit was exceeded: \(limit) after the case started (.caseTimeLimit, JZ_TEST_TIME_SCALE \(TestTime.scale))")
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

extension Trait where Self == OnBlockingPool {
    /// See `OnBlockingPool`.
    public static var onBlockingPool: Self { OnBlockingPool() }
}

/// At most `defaultWidth()` test cases at once (an `AsyncBudget` of one unit per case, waited for without
/// holding a thread). Each test case enters once (the gate never nests), so it cannot deadlock.
enum TestGate {
    static let shared = AsyncBudget(capacity: defaultWidth())

    /// How long one test case may run: `JZ_TEST_TIME_LIMIT` seconds, default 300 times
    /// `TestTime.scale`.
    static let timeLimit: Duration = {
        if let text = ProcessInfo.processInfo.environment["JZ_TEST_TIME_LIMIT"], let value = Int(text), value > 0 {
            return .seconds(value)
        }
        return TestTime.scaled(.seconds(300))
    }()

    /// `JZ_TEST_PARALLELISM`, else twice the cores and at least 4.
    static func defaultWidth() -> Int {
        if let text = ProcessInfo.processInfo.environment["JZ_TEST_PARALLELISM"], let value = Int(text), value > 0 {
            return value
        }
        return max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
    }
}
