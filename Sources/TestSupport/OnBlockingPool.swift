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
/// here). The long wait is for the test function, not for its cases: Swift Testing counts a case's
/// `.timeLimit` from before the case's own scope, so a case that queued there behind the whole run
/// was cancelled before it ran. A function waits (outside any time limit) until it is one of
/// `defaultWidth()` admitted ones; its cases then wait only for the cases of those. Every suite
/// carries the trait, the networking ones (`P2P*Tests`) included, and `scripts/test.sh` runs them
/// all in one `swift test` call.
public struct OnBlockingPool: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    /// One scope per test function (its admission) and one per test case: the case's body, and
    /// whatever it awaits, prefers the pool.
    public func scopeProvider(for test: Test, testCase: Test.Case?) -> OnBlockingPool? {
        testCase == nil && test.isSuite ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        guard testCase != nil else {
            await TestGate.functions.acquire(1)
            defer { TestGate.functions.release(1) }
            return try await function()
        }
        await TestGate.cases.acquire(1)
        defer { TestGate.cases.release(1) }
        // A case that hangs (and ignores cancellation) would hold the whole run until CI gives up:
        // past `TestGate.timeLimit` it stops the run, naming the case.
        let name = "\(test.id)"
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

/// At most `defaultWidth()` test functions admitted and `defaultWidth()` cases running at once (two
/// `AsyncBudget`s of one unit per function or case, waited for without holding a thread). A case
/// takes a case unit only inside its admitted function and gives it back when its body ends, and
/// suites take neither, so it cannot deadlock.
enum TestGate {
    static let functions = AsyncBudget(capacity: defaultWidth())
    static let cases = AsyncBudget(capacity: defaultWidth())

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
