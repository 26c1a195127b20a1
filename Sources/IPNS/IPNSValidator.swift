import Foundation
import P2PCore

/// The `/ipns/` record validator for the DHT (`RecordValidator`), as boxo's `ipns.Validator`:
/// a key is `/ipns/` + a peer ID's multihash bytes, a value a serialized IPNS record.
///
/// Failures are `RoutingError.invalidRecord` whose reason is the `IPNSNameError` or `IPNSError`
/// description.
public struct IPNSValidator: RecordValidator {
    /// The namespace this validator serves.
    public static let namespace = "ipns"

    private let clock: @Sendable () -> Date

    /// - Parameter clock: the current time, for the validity check (injected by tests).
    public init(clock: @escaping @Sendable () -> Date = { Date() }) {
        self.clock = clock
    }

    /// Parses `value` and validates it for the name in `key` at the clock's time.
    public func validate(key: [UInt8], value: [UInt8]) throws {
        let name = try Self.name(of: key)
        do {
            _ = try IPNSRecord.validate(value, for: name, now: clock())
        } catch {
            throw RoutingError.invalidRecord(key: name.path, reason: error.description)
        }
    }

    /// The index of the best record (`IPNSRecord.best(of:)`); values that do not parse never win.
    /// - Throws: `RoutingError.invalidRecord` when no value parses.
    public func select(key: [UInt8], values: [[UInt8]]) throws -> Int {
        var indices: [Int] = []
        var records: [IPNSRecord] = []
        for (index, value) in values.enumerated() {
            if let record = try? IPNSRecord(bytes: value) {
                indices.append(index)
                records.append(record)
            }
        }
        guard let best = IPNSRecord.best(of: records) else {
            let described = (try? IPNSName(routingKey: key).path) ?? "/ipns/ key (\(key.count) bytes)"
            throw RoutingError.invalidRecord(key: described, reason: "no usable IPNS record among \(values.count)")
        }
        return indices[best]
    }

    private static func name(of key: [UInt8]) throws -> IPNSName {
        do {
            return try IPNSName(routingKey: key)
        } catch {
            throw RoutingError.invalidRecord(key: "/ipns/ key (\(key.count) bytes)", reason: error.description)
        }
    }
}
