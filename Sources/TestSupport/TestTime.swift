import Foundation
import Testing

/// Test deadlines, stretched when the code under test runs slower than normal.
///
/// Under ThreadSanitizer or AddressSanitizer the code runs 5 to 15 times slower, so a deadline
/// sized for a normal build (a suite's one-minute limit, a muxer test's 20 s) fails tests that are
/// correct. `JZ_TEST_TIME_SCALE` (default 1, `scripts/sanitize.sh` sets 10) multiplies every test
/// deadline taken from here. It stretches only the tests' own deadlines, never the product's
/// timers a test checks (a ping timeout, a stall reset): those tests configure their timers
/// themselves.
public enum TestTime {
    /// `JZ_TEST_TIME_SCALE`, a whole number ≥ 1; 1 when unset or not a number.
    public static let scale: Int = parseScale(ProcessInfo.processInfo.environment["JZ_TEST_TIME_SCALE"])

    static func parseScale(_ text: String?) -> Int {
        guard let text, let value = Int(text), value >= 1 else { return 1 }
        return value
    }

    /// `duration` times `scale`.
    public static func scaled(_ duration: Duration) -> Duration { duration * scale }
}

/// A time limit for each test case of a suite (or for one test) that runs `.onBlockingPool`,
/// counted from the moment the case passes the test gate, times `TestTime.scale`.
///
/// Swift Testing's own `.timeLimit` starts when the case starts, before the gate: with hundreds
/// of cases queued behind a few slow ones (10 minutes under a sanitizer), a case that takes a
/// second failed its one-minute limit while it waited. When the limit passes, the case gets an
/// issue ("Time limit was exceeded") and is cancelled, as with `.timeLimit`. The innermost (the
/// shortest) limit applies.
public struct CaseTimeLimit: SuiteTrait, TestTrait {
    public let limit: Duration
    public var isRecursive: Bool { true }

    public func prepare(for test: Test) async throws {
        guard test.traits.contains(where: { $0 is OnBlockingPool }) else {
            throw TestSetupError("\(test.name): .caseTimeLimit is enforced by .onBlockingPool, which the test lacks")
        }
    }
}

extension Trait where Self == CaseTimeLimit {
    /// See `CaseTimeLimit`.
    public static func caseTimeLimit(minutes: Int) -> Self {
        CaseTimeLimit(limit: TestTime.scaled(.seconds(60 * minutes)))
    }
}

/// A test declared with traits that cannot work together.
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
