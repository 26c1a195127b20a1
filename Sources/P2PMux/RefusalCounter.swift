/// Counts the inbound streams a connection refused and says which refusals to log: the 1st, 2nd,
/// 4th, 8th… so a stream flood costs log2(n) log lines, not n.
struct RefusalCounter: Sendable {
    /// Refusals so far.
    private(set) var count = 0

    /// Records one refusal; true when this one should be logged.
    mutating func record() -> Bool {
        count += 1
        return count & (count - 1) == 0
    }
}
