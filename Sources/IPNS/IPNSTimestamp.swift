import Foundation

/// A point in time with nanosecond precision, as IPNS validity (EOL) fields carry it: RFC 3339 text
/// in UTC, written the way boxo writes it (Go's `time.RFC3339Nano`: fractional seconds with trailing
/// zeros dropped, none at all for a whole second, `Z` for UTC), e.g. `2123-08-14T12:17:03.694052Z`.
public struct IPNSTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Whole seconds since 1970-01-01T00:00:00Z (negative before).
    public let seconds: Int64
    /// Nanoseconds past `seconds`, 0 ..< 1_000_000_000.
    public let nanoseconds: UInt32

    /// - Precondition: `nanoseconds` < 1_000_000_000.
    public init(seconds: Int64, nanoseconds: UInt32 = 0) {
        precondition(nanoseconds < 1_000_000_000, "nanoseconds out of range")
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// `date` rounded to the microsecond (a `Date` holds no more precision than that today).
    public init(_ date: Date) {
        let interval = date.timeIntervalSince1970
        var whole = interval.rounded(.down)
        var micros = ((interval - whole) * 1_000_000).rounded()
        if micros >= 1_000_000 {
            whole += 1
            micros -= 1_000_000
        }
        self.init(seconds: Int64(whole), nanoseconds: UInt32(micros) * 1000)
    }

    /// This instant as a `Date` (sub-microsecond precision may be lost).
    public var date: Date {
        Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9)
    }

    /// This instant moved by `duration` (saturating at the representable range).
    public func adding(_ duration: Duration) -> IPNSTimestamp {
        let (s, atto) = duration.components
        var nanos = Int64(nanoseconds) + atto / 1_000_000_000
        var secs = seconds.addingReportingOverflow(s)
        if secs.overflow { return s > 0 ? IPNSTimestamp(seconds: .max) : IPNSTimestamp(seconds: .min) }
        if nanos >= 1_000_000_000 {
            nanos -= 1_000_000_000
            secs = secs.partialValue.addingReportingOverflow(1)
        } else if nanos < 0 {
            nanos += 1_000_000_000
            secs = secs.partialValue.subtractingReportingOverflow(1)
        }
        if secs.overflow { return s > 0 ? IPNSTimestamp(seconds: .max) : IPNSTimestamp(seconds: .min) }
        return IPNSTimestamp(seconds: secs.partialValue, nanoseconds: UInt32(nanos))
    }

    public static func < (lhs: IPNSTimestamp, rhs: IPNSTimestamp) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }

    // MARK: RFC 3339

    /// Parses RFC 3339 text as Go's `time.Parse(time.RFC3339Nano, …)` accepts it: `YYYY-MM-DDTHH:MM:SS`,
    /// an optional fraction of 1–9 digits, then `Z` or a `±HH:MM` offset. Returns nil for anything else.
    public init?(rfc3339 text: String) {
        let b = Array(text.utf8)
        var i = 0
        func digits(_ count: Int) -> Int? {
            guard i + count <= b.count else { return nil }
            var v = 0
            for k in i..<(i + count) {
                guard b[k] >= 0x30, b[k] <= 0x39 else { return nil }
                v = v * 10 + Int(b[k] - 0x30)
            }
            i += count
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(0x2d), let month = digits(2), expect(0x2d), let day = digits(2),
            i < b.count, b[i] == 0x54 || b[i] == 0x74
        else { return nil }
        i += 1
        guard let hour = digits(2), expect(0x3a), let minute = digits(2), expect(0x3a), let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
            hour < 24, minute < 60, second < 60
        else { return nil }
        var nanos = 0
        if i < b.count, b[i] == 0x2e {
            i += 1
            var count = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                guard count < 9 else { return nil }
                nanos = nanos * 10 + Int(b[i] - 0x30)
                count += 1
                i += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<9 { nanos *= 10 }
        }
        var offset = 0
        guard i < b.count else { return nil }
        if b[i] == 0x5a || b[i] == 0x7a {
            i += 1
        } else if b[i] == 0x2b || b[i] == 0x2d {
            let sign = b[i] == 0x2d ? -1 : 1
            i += 1
            guard let oh = digits(2), expect(0x3a), let om = digits(2), oh < 24, om < 60 else { return nil }
            offset = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        let secs = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offset)
        self.init(seconds: secs, nanoseconds: UInt32(nanos))
    }

    /// The RFC 3339 text in UTC, as boxo writes it (Go's `RFC3339Nano` after `UTC()`). Years outside
    /// 0…9999 are written with as many digits as they need (Go fails on them instead).
    public var rfc3339: String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = Self.civilFromDays(days)
        func pad(_ v: Int64, _ width: Int) -> String {
            let s = String(v)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        var text = "\(pad(year, 4))-\(pad(Int64(month), 2))-\(pad(Int64(day), 2))T"
        text += "\(pad(Int64(secondOfDay / 3600), 2)):\(pad(Int64(secondOfDay / 60 % 60), 2)):"
        text += pad(Int64(secondOfDay % 60), 2)
        if nanoseconds != 0 {
            var fraction = pad(Int64(nanoseconds), 9)
            while fraction.hasSuffix("0") { fraction.removeLast() }
            text += "." + fraction
        }
        return text + "Z"
    }

    public var description: String { rfc3339 }

    private static func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day number (H. Hinnant's `civil_from_days`).
    private static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
