import Foundation
import Testing

@testable import IPNS
import TestSupport

@Suite(.onBlockingPool) struct IPNSTimestampTests {
    @Test func formatsAsBoxo() throws {
        #expect(IPNSTimestamp(seconds: 0).rfc3339 == "1970-01-01T00:00:00Z")
        #expect(IPNSTimestamp(seconds: 0, nanoseconds: 500_000_000).rfc3339 == "1970-01-01T00:00:00.5Z")
        #expect(IPNSTimestamp(seconds: 1, nanoseconds: 1).rfc3339 == "1970-01-01T00:00:01.000000001Z")
        #expect(IPNSTimestamp(seconds: -1).rfc3339 == "1969-12-31T23:59:59Z")
        #expect(IPNSTimestamp(seconds: 951_782_400).rfc3339 == "2000-02-29T00:00:00Z")
        let text = "2123-08-14T12:17:03.694052Z"
        let parsed = try #require(IPNSTimestamp(rfc3339: text))
        #expect(parsed.nanoseconds == 694_052_000)
        #expect(parsed.rfc3339 == text)
    }

    @Test func parsesOffsetsAndLowercase() throws {
        let utc = try #require(IPNSTimestamp(rfc3339: "2026-12-04T13:00:00Z"))
        #expect(IPNSTimestamp(rfc3339: "2026-12-04T14:00:00+01:00") == utc)
        #expect(IPNSTimestamp(rfc3339: "2026-12-04T08:30:00-04:30") == utc)
        #expect(IPNSTimestamp(rfc3339: "2026-12-04t13:00:00z") == utc)
        #expect(IPNSTimestamp(rfc3339: "2026-12-04T13:00:00.000000000Z") == utc)
    }

    @Test func rejectsMalformedText() {
        for text in [
            "", "2026-12-04", "2026-12-04T13:00:00", "2026-12-04 13:00:00Z", "2026-13-04T13:00:00Z",
            "2026-02-29T13:00:00Z", "2026-12-04T24:00:00Z", "2026-12-04T13:00:00.Z",
            "2026-12-04T13:00:00.1234567891Z", "2026-12-04T13:00:00Z ", "2026-12-04T13:00:00+0100",
        ] {
            #expect(IPNSTimestamp(rfc3339: text) == nil, "\(text)")
        }
    }

    @Test func datesAndDurations() {
        let date = Date(timeIntervalSince1970: 1_796_000_000.25)
        let stamp = IPNSTimestamp(date)
        #expect(stamp == IPNSTimestamp(seconds: 1_796_000_000, nanoseconds: 250_000_000))
        #expect(stamp.adding(.milliseconds(750)) == IPNSTimestamp(seconds: 1_796_000_001))
        #expect(stamp.adding(.milliseconds(-500)) == IPNSTimestamp(seconds: 1_795_999_999, nanoseconds: 750_000_000))
        #expect(IPNSTimestamp(seconds: .max - 1).adding(.seconds(10)) == IPNSTimestamp(seconds: .max))
        #expect(IPNSRecord.nanoseconds(.seconds(-5)) == 0)
        #expect(IPNSRecord.nanoseconds(.seconds(300)) == 300_000_000_000)
    }
}
