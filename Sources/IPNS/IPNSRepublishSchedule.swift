/// When a node republishes the names it publishes (Kubo's republisher, plus a margin before
/// expiry): every `period`, and before a record's EOL (within a quarter of its lifetime, at most
/// one hour of it); a record published offline goes to the network as soon as it can. Pure: time
/// is a parameter (seconds since 1970), so tests drive it without a clock.
public struct IPNSRepublishSchedule: Sendable, Equatable {
    /// `Ipns.RepublishPeriod` in seconds (Kubo: 4 h); 0 or less: only before expiry.
    public var period: Double
    /// After a failed attempt, wait this long before the next (seconds).
    public var retryInterval: Double
    /// Never republish one record more often than this (seconds), however short its lifetime.
    public var minimumInterval: Double

    /// Kubo's default `Ipns.RepublishPeriod`: 4 hours.
    public static let defaultPeriod: Double = 4 * 3600
    /// The largest margin before EOL: one hour.
    public static let maxExpiryMargin: Double = 3600

    public init(period: Double = defaultPeriod, retryInterval: Double = 60, minimumInterval: Double = 1) {
        self.period = period
        self.retryInterval = retryInterval
        self.minimumInterval = minimumInterval
    }

    /// One published name as the schedule sees it.
    public struct Entry: Sendable, Equatable {
        /// When the current record was made.
        public var published: Double
        /// Its validity EOL.
        public var eol: Double
        /// The lifetime it was published with (a republished record gets the same).
        public var lifetime: Double
        /// Whether the record has reached the network (false: published with `--allow-offline`).
        public var online: Bool
        /// When an attempt last failed, if it did.
        public var lastFailure: Double?

        public init(published: Double, eol: Double, lifetime: Double, online: Bool, lastFailure: Double? = nil) {
            self.published = published
            self.eol = eol
            self.lifetime = lifetime
            self.online = online
            self.lastFailure = lastFailure
        }
    }

    /// What to do with an entry now.
    public enum Action: Sendable, Equatable {
        /// Nothing yet.
        case wait
        /// Put the current record on the network as it is (published offline, still fresh).
        case put
        /// Make a new record: same value, sequence + 1, a fresh EOL with the same lifetime; put it.
        case republish
    }

    /// How long before EOL a record is renewed: a quarter of its lifetime, at most an hour.
    public func expiryMargin(lifetime: Double) -> Double {
        min(max(0, lifetime) / 4, Self.maxExpiryMargin)
    }

    /// When the record must be renewed (periodically or before expiry).
    func renewal(_ entry: Entry) -> Double {
        var due = entry.eol - expiryMargin(lifetime: entry.lifetime)
        if period > 0 { due = min(due, entry.published + period) }
        return max(due, entry.published + minimumInterval)
    }

    /// When `entry` next needs attention.
    public func nextTime(_ entry: Entry) -> Double {
        var due = entry.online ? renewal(entry) : entry.published
        if let failure = entry.lastFailure { due = max(due, failure + retryInterval) }
        return due
    }

    /// What to do with `entry` at `now`.
    public func action(_ entry: Entry, now: Double) -> Action {
        guard now >= nextTime(entry) else { return .wait }
        if !entry.online && now < renewal(entry) { return .put }
        return .republish
    }

    /// The earliest time any of `entries` needs attention (nil: none).
    public func nextWake(_ entries: [Entry]) -> Double? {
        entries.map(nextTime).min()
    }
}
