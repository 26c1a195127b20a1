import Foundation

/// What `name inspect` shows of a record, as Kubo's `ipfs name inspect` (`IpnsInspectResult`):
/// the signed fields, the protobuf size, which signatures it carries and, for a name, whether the
/// record is valid for it.
public struct IPNSInspection: Sendable, Equatable {
    /// The outcome of `--verify NAME`.
    public struct Validation: Sendable, Equatable {
        public var valid: Bool
        /// Why it is not valid (empty when valid).
        public var reason: String
        /// The name checked, in its canonical form (`k51…`).
        public var name: String
    }

    public let record: IPNSRecord
    /// Kubo's `SignatureType`: `V1+V2` when the legacy fields are present, else `V2`.
    public let signatureType: String
    /// Whether the record carries its public key (`pubKey`).
    public let hasPublicKey: Bool
    /// Set when a name was given to verify against.
    public let validation: Validation?

    /// Inspects `record`; with `name`, validates it for that name at `now`.
    public init(_ record: IPNSRecord, verifying name: IPNSName? = nil, now: Date = Date()) {
        self.record = record
        signatureType = record.legacy.isPresent ? "V1+V2" : "V2"
        hasPublicKey = record.publicKeyBytes != nil
        validation = name.map { name in
            do {
                try record.validate(for: name, now: now)
                return Validation(valid: true, reason: "", name: name.string)
            } catch {
                return Validation(valid: false, reason: "\(error)", name: name.string)
            }
        }
    }

    /// Kubo's text output (its tab-aligned columns), with a `Public Key:` line added; `dump` adds
    /// the hex dump of the record as Go's `hex.Dump` writes it.
    public func text(dump: Bool) -> String {
        var rows: [(String, String)] = []
        if let value = record.valueString, !value.isEmpty { rows.append(("Value:", Self.goQuoted(value))) }
        rows.append(("Validity Type:", "0"))
        rows.append(("Validity:", Self.goQuoted(record.validity.rfc3339)))
        rows.append(("Sequence:", String(record.sequence)))
        if let ttl = record.ttlNanoseconds { rows.append(("TTL:", Self.goDuration(nanoseconds: ttl))) }
        rows.append(("Protobuf Size:", String(record.bytes.count)))
        rows.append(("Signature Type:", signatureType))
        rows.append(("Public Key:", hasPublicKey ? "present" : "absent (inlined in the name)"))
        var out = Self.aligned(rows, indent: "")
        if let validation {
            out += "\nValidation results:\n"
            var results = [("Valid:", validation.valid ? "true" : "false")]
            if !validation.reason.isEmpty { results.append(("Reason:", validation.reason)) }
            results.append(("Name:", validation.name))
            out += Self.aligned(results, indent: " ")
        } else {
            out += "\nThis record was not verified. Pass '--verify k51...' to verify.\n"
        }
        if dump { out += "\nHex Dump:\n" + Self.hexDump(record.bytes) }
        return out
    }

    /// Rows as Go's tabwriter (padding 1) aligns them.
    private static func aligned(_ rows: [(String, String)], indent: String) -> String {
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { label, value in
            indent + label + String(repeating: " ", count: width - label.count + 1) + value + "\n"
        }.joined()
    }

    /// Go's `%q` for printable text: quotes, with `"` and `\` escaped.
    static func goQuoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    out += String(format: "\\x%02x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Go's `time.Duration.String()` (e.g. `5m0s`, `48h0m0s`, `1.5s`, `300ms`).
    public static func goDuration(nanoseconds value: UInt64) -> String {
        let d = value > UInt64(Int64.max) ? UInt64(Int64.max) : value
        if d == 0 { return "0s" }
        func fraction(_ whole: UInt64, _ rest: UInt64, digits: Int) -> String {
            guard rest > 0 else { return String(whole) }
            var text = String(rest)
            text = String(repeating: "0", count: digits - text.count) + text
            while text.hasSuffix("0") { text.removeLast() }
            return "\(whole).\(text)"
        }
        if d < 1_000 { return "\(d)ns" }
        if d < 1_000_000 { return fraction(d / 1_000, d % 1_000, digits: 3) + "µs" }
        if d < 1_000_000_000 { return fraction(d / 1_000_000, d % 1_000_000, digits: 6) + "ms" }
        let hours = d / 3_600_000_000_000
        let minutes = (d / 60_000_000_000) % 60
        let seconds = fraction((d / 1_000_000_000) % 60, d % 1_000_000_000, digits: 9) + "s"
        if hours > 0 { return "\(hours)h\(minutes)m" + seconds }
        if minutes > 0 { return "\(minutes)m" + seconds }
        return seconds
    }

    /// Go's `encoding/hex.Dump`: offset, 16 bytes in hex (an extra space after the 8th), and the
    /// printable characters between bars.
    public static func hexDump(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var out = ""
        var offset = 0
        while offset < bytes.count {
            let line = bytes[offset..<min(offset + 16, bytes.count)]
            out += String(format: "%08x  ", offset)
            for column in 0..<16 {
                if column < line.count {
                    let byte = line[line.startIndex + column]
                    out.append(digits[Int(byte >> 4)])
                    out.append(digits[Int(byte & 0x0f)])
                    out += " "
                } else {
                    out += "   "
                }
                if column == 7 { out += " " }
                if column == 15 { out += " |" }
            }
            out += String(line.map { $0 < 32 || $0 > 126 ? "." : Character(Unicode.Scalar($0)) }) + "|\n"
            offset += 16
        }
        return out
    }
}
