import Testing

@testable import IPNS
import TestSupport

@Suite(.onBlockingPool) struct IPNSRepublishScheduleTests {
    let schedule = IPNSRepublishSchedule(period: 4 * 3600, retryInterval: 60, minimumInterval: 1)
    let day = 24.0 * 3600

    @Test func republishesEveryPeriod() {
        let entry = IPNSRepublishSchedule.Entry(published: 1000, eol: 1000 + 2 * day, lifetime: 2 * day, online: true)
        #expect(schedule.nextTime(entry) == 1000 + 4 * 3600)
        #expect(schedule.action(entry, now: 1000 + 4 * 3600 - 1) == .wait)
        #expect(schedule.action(entry, now: 1000 + 4 * 3600) == .republish)
    }

    @Test func republishesBeforeExpiry() {
        // 2 h lifetime: a quarter (30 min) before EOL comes before the 4 h period.
        let short = IPNSRepublishSchedule.Entry(published: 0, eol: 7200, lifetime: 7200, online: true)
        #expect(schedule.expiryMargin(lifetime: 7200) == 1800)
        #expect(schedule.nextTime(short) == 5400)
        #expect(schedule.action(short, now: 5399) == .wait)
        #expect(schedule.action(short, now: 5400) == .republish)
        // 6 h lifetime with no period: the margin is capped at one hour.
        let noPeriod = IPNSRepublishSchedule(period: 0)
        let long = IPNSRepublishSchedule.Entry(published: 0, eol: 6 * 3600, lifetime: 6 * 3600, online: true)
        #expect(noPeriod.nextTime(long) == 5 * 3600)
        // A tiny lifetime is never republished more often than the minimum interval.
        let tiny = IPNSRepublishSchedule.Entry(published: 100, eol: 100.2, lifetime: 0.2, online: true)
        #expect(schedule.nextTime(tiny) == 101)
    }

    @Test func offlineRecordsGoOutAtOnceThenFollowTheSchedule() {
        var entry = IPNSRepublishSchedule.Entry(published: 500, eol: 500 + 2 * day, lifetime: 2 * day, online: false)
        #expect(schedule.action(entry, now: 500) == .put)
        // It failed (no peers): retried after the retry interval, as a put while still fresh.
        entry.lastFailure = 600
        #expect(schedule.action(entry, now: 659) == .wait)
        #expect(schedule.action(entry, now: 660) == .put)
        // Still offline when renewal is due: a new record is made.
        #expect(schedule.action(entry, now: 500 + 4 * 3600) == .republish)
        entry.online = true
        entry.lastFailure = nil
        #expect(schedule.action(entry, now: 700) == .wait)
    }

    @Test func nextWakeIsTheEarliest() {
        let a = IPNSRepublishSchedule.Entry(published: 0, eol: 2 * day, lifetime: 2 * day, online: true)
        let b = IPNSRepublishSchedule.Entry(published: 100, eol: 2 * day, lifetime: 2 * day, online: false, lastFailure: 200)
        #expect(schedule.nextWake([a, b]) == 260)
        #expect(schedule.nextWake([]) == nil)
    }
}
