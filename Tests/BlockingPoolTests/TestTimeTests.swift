import Testing

@testable import TestSupport

/// The test harness's own deadlines (Sources/TestSupport): the scale and the per-case limit.
@Suite("Test deadlines", .onBlockingPool)
struct TestTimeTests {
    @Test func scaleComesFromTheEnvironmentAndIsAtLeastOne() {
        #expect(TestTime.parseScale(nil) == 1)
        #expect(TestTime.parseScale("10") == 10)
        #expect(TestTime.parseScale("0") == 1)
        #expect(TestTime.parseScale("-3") == 1)
        #expect(TestTime.parseScale("fast") == 1)
    }

    /// A case past its limit gets the issue and is cancelled; one within it gets nothing.
    @Test func aCasePastItsLimitIsReportedAndCancelled() async throws {
        let started = ContinuousClock.now
        try await withKnownIssue {
            try await OnBlockingPool.within(.milliseconds(100)) {
                // Sleeps until cancelled (at most 60 s: the test fails if no cancellation comes).
                try? await Task.sleep(for: .seconds(60))
            }
        } matching: { issue in
            issue.description.contains("Time limit was exceeded")
        }
        #expect(ContinuousClock.now - started < .seconds(30))
        try await OnBlockingPool.within(.seconds(30)) {}
    }

    /// The case's own error still reaches the test.
    @Test func aCaseErrorPassesThrough() async {
        struct Failure: Error {}
        await #expect(throws: Failure.self) {
            try await OnBlockingPool.within(.seconds(30)) { throw Failure() }
        }
    }

    /// A suite or test limit reaches each case: the shortest one applies.
    @Test(.caseTimeLimit(minutes: 1)) func theLimitIsATraitOfTheCase() throws {
        let limits = try #require(Test.current).traits.compactMap { ($0 as? CaseTimeLimit)?.limit }
        #expect(limits == [TestTime.scaled(.seconds(60))])
    }
}
