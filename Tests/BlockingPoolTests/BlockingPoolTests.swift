import Dispatch
import Foundation
import Testing

@testable import BlockingPool
import TestSupport

/// Counts what a set of jobs did, from any thread.
private final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var order: [Int] = []
    func append(_ value: Int) {
        lock.lock()
        order.append(value)
        lock.unlock()
    }
    var values: [Int] {
        lock.lock()
        defer { lock.unlock() }
        return order
    }
}

private enum Failure: Error, Equatable { case expected(Int) }

@Suite("Blocking pool", .onBlockingPool)
struct BlockingPoolTests {
    @Test func runsAtMostItsThreadCountAtOnceAndQueuesTheRest() {
        let pool = BlockingPool(name: "test-bound", threads: 3)
        let started = DispatchSemaphore(value: 0)
        let gate = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        for _ in 0..<10 {
            pool.submit {
                started.signal()
                gate.wait()
                finished.signal()
            }
        }
        for _ in 0..<3 { #expect(started.wait(timeout: .now() + 10) == .success) }
        let busy = pool.usage
        #expect(busy.running == 3)
        #expect(busy.queued == 7)
        #expect(busy.threads == 3)
        for _ in 0..<10 { gate.signal() }
        for _ in 0..<10 { #expect(finished.wait(timeout: .now() + 10) == .success) }
        #expect(pool.usage.peakRunning == 3)
    }

    @Test func runsJobsInTheOrderTheyCame() {
        let pool = BlockingPool(name: "test-fifo", threads: 1)
        let tally = Tally()
        let done = DispatchSemaphore(value: 0)
        for i in 0..<200 {
            pool.submit {
                tally.append(i)
                if i == 199 { done.signal() }
            }
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(tally.values == Array(0..<200))
    }

    /// Every thread runs a job that waits for another job of the pool: with the waits declared,
    /// stand-ins run the inner jobs; the pool never grows past `maxThreads`.
    @Test func declaredWaitsForOtherJobsDoNotDeadlock() {
        let pool = BlockingPool(name: "test-nested", threads: 2, maxThreads: 4)
        let outerDone = DispatchSemaphore(value: 0)
        let inners = Tally()
        for outer in 0..<6 {
            pool.submit {
                let inner = DispatchSemaphore(value: 0)
                pool.submit {
                    inners.append(outer)
                    inner.signal()
                }
                let waited = pool.waitingForOtherWork { inner.wait(timeout: .now() + 10) }
                if waited == .success { outerDone.signal() }
            }
        }
        for _ in 0..<6 { #expect(outerDone.wait(timeout: .now() + 20) == .success) }
        #expect(Set(inners.values) == Set(0..<6))
        #expect(pool.usage.threads <= 4)
    }

    /// The same without declaring the wait: both threads wait for jobs queued behind them, so the
    /// inner jobs start only once an outer wait gives up. This is what the declaration prevents.
    @Test func undeclaredWaitsForOtherJobsStallThePool() {
        let pool = BlockingPool(name: "test-stall", threads: 2, maxThreads: 4)
        let results = Tally()
        let done = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let bothStarted = DispatchSemaphore(value: 0)
        for _ in 0..<2 {
            pool.submit {
                started.signal()
                bothStarted.wait()
                let inner = DispatchSemaphore(value: 0)
                pool.submit { inner.signal() }
                results.append(inner.wait(timeout: .now() + 0.3) == .success ? 1 : 0)
                done.signal()
            }
        }
        for _ in 0..<2 { #expect(started.wait(timeout: .now() + 10) == .success) }
        bothStarted.signal()
        bothStarted.signal()
        for _ in 0..<2 { #expect(done.wait(timeout: .now() + 10) == .success) }
        #expect(results.values.first == 0)  // the first outer gave up; its thread then ran the inner jobs
    }

    @Test func waitingOutsideThePoolJustRuns() {
        let pool = BlockingPool(name: "test-outside", threads: 1)
        #expect(!pool.isPoolThread)
        #expect(pool.waitingForOtherWork { 42 } == 42)
        #expect(pool.usage.waitingForOtherWork == 0)
    }

    @Test func executorRunsOnThePoolAndPassesResultsAndErrors() async {
        let onPool = await BlockingExecutor.run { BlockingExecutor.pool.isPoolThread }
        #expect(onPool)
        let value = await BlockingExecutor.run { 6 * 7 }
        #expect(value == 42)
        await #expect(throws: Failure.expected(7)) {
            try await BlockingExecutor.run { () throws(Failure) -> Int in throw .expected(7) }
        }
    }

    @Test func threadCountComesFromTheEnvironmentOrTheCores() {
        #expect(BlockingPool.defaultThreadCount(environment: ["JZ_BLOCKING_THREADS": "5"]) == 5)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #expect(BlockingPool.defaultThreadCount(environment: [:]) == max(8, 4 * cores))
        #expect(BlockingPool.defaultThreadCount(environment: ["JZ_BLOCKING_THREADS": "zero"]) == max(8, 4 * cores))
        #expect(BlockingPool.defaultThreadCount(environment: ["JZ_BLOCKING_THREADS": "-3"]) == max(8, 4 * cores))
    }
}
