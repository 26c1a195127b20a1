extension IPNSRecord {
    /// Orders two records as boxo's `compare`: the higher `sequence` is better; at equal sequence,
    /// the later validity EOL. (boxo first prefers a record with `signatureV2`; every parsed record
    /// has one.) Returns 1 when `self` is better, -1 when `other` is, 0 when neither.
    public func compare(_ other: IPNSRecord) -> Int {
        if sequence != other.sequence { return sequence > other.sequence ? 1 : -1 }
        if validity != other.validity { return validity > other.validity ? 1 : -1 }
        return 0
    }

    /// The index of the best of `records` as boxo's `selectRecord`: by `compare`, ties broken by the
    /// larger serialized bytes, the first of equal ones kept. Nil for an empty list.
    public static func best(of records: [IPNSRecord]) -> Int? {
        guard !records.isEmpty else { return nil }
        var best = 0
        for index in records.indices.dropFirst() {
            var order = records[best].compare(records[index])
            if order == 0 { order = compareBytes(records[best].bytes, records[index].bytes) }
            if order < 0 { best = index }
        }
        return best
    }

    /// Go's `bytes.Compare`.
    private static func compareBytes(_ a: [UInt8], _ b: [UInt8]) -> Int {
        if a.lexicographicallyPrecedes(b) { return -1 }
        return a == b ? 0 : 1
    }
}
