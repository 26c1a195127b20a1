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

extension Trait where Self == TimeLimitTrait {
    /// Swift Testing's `.timeLimit(.minutes(minutes))`, times `TestTime.scale`.
    public static func scaledTimeLimit(minutes: Int) -> Self {
        .timeLimit(.minutes(minutes * TestTime.scale))
    }
}
