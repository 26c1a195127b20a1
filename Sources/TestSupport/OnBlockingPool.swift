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
/// 200 ms timer fire seconds late. So at most `TestGate.defaultWidth()` test functions run at once,
/// the cases of a parameterized one together (Swift Testing's own
/// `--experimental-maximum-parallelization-width` deadlocks on parameterized tests here). The
/// gate is taken around the whole test function, not around each case: Swift Testing counts a
/// case's `.timeLimit` from before the case's own scope, so a case queued there for minutes was
/// cancelled before it ran. Every suite carries the trait, the networking ones (`P2P*Tests`)
/// included, and `scripts/test.sh` runs them all in one `swift test` call.
public struct OnBlockingPool: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    /// One scope per test function (the gate) and one per test case: the case's body, and
    /// whatever it awaits, prefers the pool.
    public func scopeProvider(for test: Test, testCase: Test.Case?) -> OnBlockingPool? {
        testCase == nil && test.isSuite ? nil : self
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        guard testCase != nil else {
            await TestGate.shared.acquire(1)
            defer { TestGate.shared.release(1) }
            return try await function()
        }
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
        try await withTaskExecutorPreference(BlockingExecutor.pool) {
            try await function()
        }
    }
}

extension Trait where Self == OnBlockingPool {
    /// See `OnBlockingPool`.
    public static var onBlockingPool: Self { OnBlockingPool() }
}

/// At most `defaultWidth()` test functions at once (an `AsyncBudget` of one unit per function, waited
/// for without holding a thread). Each test function enters once (the gate never nests: suites and
/// cases do not take it), so it cannot deadlock.
enum TestGate {
    static let shared = AsyncBudget(capacity: defaultWidth())

    /// How long one test case may run: `JZ_TEST_TIME_LIMIT` seconds, default 300.
    static let timeLimit: Duration = {
        if let text = ProcessInfo.processInfo.environment["JZ_TEST_TIME_LIMIT"], let value = Int(text), value > 0 {
            return .seconds(value)
        }
        return .seconds(300)
    }()

    /// `JZ_TEST_PARALLELISM`, else twice the cores and at least 4.
    static func defaultWidth() -> Int {
        if let text = ProcessInfo.processInfo.environment["JZ_TEST_PARALLELISM"], let value = Int(text), value > 0 {
            return value
        }
        return max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
    }
}
