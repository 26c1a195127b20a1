// Text codecs used by multiaddr values: IP addresses, decimal numbers, the RFC 4648
// alphabets of onion/garlic addresses and URL query escaping. Internal; semantics follow
// go-multiaddr (Go's net, strconv, encoding/base32, encoding/base64 and net/url).

enum MultiaddrCodecs {
    // MARK: Decimal

    /// Go `strconv.ParseUint(s, 10, bits)`: ASCII digits only (leading zeros allowed), no sign.
    static func parseDecimal(_ s: some StringProtocol, max: UInt64) -> UInt64? {
        var value: UInt64 = 0
        var any = false
        for c in s.utf8 {
            guard c >= 0x30, c <= 0x39 else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(UInt64(c - 0x30))
            guard !o1, !o2, a <= max else { return nil }
            value = a
            any = true
        }
        return any ? value : nil
    }

    // MARK: IP addresses

    /// Strict dotted-quad IPv4 (four decimal fields 0-255, no leading zeros), like Go.
    static func parseIPv4(_ s: some StringProtocol) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(4)
        var field = 0
        var digits = 0
        var leadingZero = false
        for c in s.utf8 {
            if c == UInt8(ascii: ".") {
                guard digits > 0, out.count < 3 else { return nil }
                out.append(UInt8(field))
                field = 0
                digits = 0
                continue
            }
            guard c >= 0x30, c <= 0x39 else { return nil }
            if digits == 0 { leadingZero = c == 0x30 } else if leadingZero { return nil }
            field = field * 10 + Int(c - 0x30)
            digits += 1
            guard field <= 255, digits <= 3 else { return nil }
        }
        guard digits > 0, out.count == 3 else { return nil }
        out.append(UInt8(field))
        return out
    }

    /// IPv6 text (RFC 4291 forms, optional trailing dotted IPv4), as Go's `netip.ParseAddr`
    /// without zones. A plain IPv4 address gives its IPv4-mapped form (Go's `ParseIP(s).To16()`).
    static func parseIPv6(_ s: some StringProtocol) -> [UInt8]? {
        let chars = Array(s.utf8)
        if !chars.contains(UInt8(ascii: ":")) {
            guard let v4 = parseIPv4(s) else { return nil }
            return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + v4
        }
        var ip = [UInt8](repeating: 0, count: 16)
        var i = 0  // bytes written
        var ellipsis = -1
        var p = 0
        let n = chars.count
        if n >= 2, chars[0] == UInt8(ascii: ":"), chars[1] == UInt8(ascii: ":") {
            ellipsis = 0
            p = 2
            if p == n { return ip }
        }
        while i < 16 {
            var off = p
            var acc = 0
            while off < n, let d = Hex.nibble(chars[off]) {
                acc = acc << 4 | Int(d)
                off += 1
                if off - p > 4 { return nil }
            }
            if off == p { return nil }  // no digits
            if off < n, chars[off] == UInt8(ascii: ".") {
                // Embedded IPv4 in the last 32 bits.
                if ellipsis < 0 && i != 12 { return nil }
                if i + 4 > 16 { return nil }
                guard let v4 = parseIPv4(String(decoding: chars[p...], as: UTF8.self)) else { return nil }
                ip[i] = v4[0]; ip[i + 1] = v4[1]; ip[i + 2] = v4[2]; ip[i + 3] = v4[3]
                i += 4
                p = n
                break
            }
            ip[i] = UInt8(acc >> 8)
            ip[i + 1] = UInt8(acc & 0xff)
            i += 2
            p = off
            if p == n { break }
            guard chars[p] == UInt8(ascii: ":") else { return nil }
            p += 1
            if p == n { return nil }  // trailing single colon
            if chars[p] == UInt8(ascii: ":") {
                if ellipsis >= 0 { return nil }  // second "::"
                ellipsis = i
                p += 1
                if p == n { break }
            }
        }
        if p != n { return nil }  // too many fields
        if i < 16 {
            guard ellipsis >= 0 else { return nil }
            let shift = 16 - i
            var j = i - 1
            while j >= ellipsis {
                ip[j + shift] = ip[j]
                j -= 1
            }
            for k in ellipsis..<(ellipsis + shift) { ip[k] = 0 }
        } else if ellipsis >= 0 {
            return nil  // "::" must stand for at least one group
        }
        return ip
    }

    static func formatIPv4(_ b: some Collection<UInt8>) -> String {
        b.map { String($0) }.joined(separator: ".")
    }

    /// RFC 5952 text as Go prints it; IPv4-mapped addresses print as `::ffff:a.b.c.d`
    /// (go-multiaddr's `ip6BtS`).
    static func formatIPv6(_ b: [UInt8]) -> String {
        precondition(b.count == 16)
        if b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xff, b[11] == 0xff {
            return "::ffff:" + formatIPv4(b[12..<16])
        }
        // Longest run of zero groups (first wins), only if at least two groups long.
        var e0 = -1
        var e1 = -1
        var i = 0
        while i < 16 {
            var j = i
            while j < 16, b[j] == 0, b[j + 1] == 0 { j += 2 }
            if j > i, j - i > e1 - e0 {
                e0 = i
                e1 = j
                i = j
            }
            i += 2
        }
        if e1 - e0 <= 2 {
            e0 = -1
            e1 = -1
        }
        var out = ""
        i = 0
        while i < 16 {
            if i == e0 {
                out += "::"
                i = e1
                if i >= 16 { break }
            } else if i > 0 {
                out += ":"
            }
            out += String(UInt16(b[i]) << 8 | UInt16(b[i + 1]), radix: 16)
            i += 2
        }
        return out
    }

    // MARK: RFC 4648 alphabets

    static let base32Lower = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
    /// I2P's base64 alphabet (`-` and `~` instead of `+` and `/`).
    static let i2pBase64 = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-~".utf8)

    /// Decodes unpadded RFC 4648 text in `alphabet` (5 or 6 bits a character). Dangling
    /// bits are ignored (as Go's non-strict decoders do); impossible lengths are rejected.
    static func decodeRFC4648(_ chars: [UInt8], alphabet: [UInt8], bits: Int) -> [UInt8]? {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = Int8(i) }
        let rem = chars.count * bits % 8
        // A final group whose leftover bits fill a whole character cannot happen.
        guard rem < bits else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count * bits / 8)
        var buffer: UInt32 = 0
        var count = 0
        for c in chars {
            let v = table[Int(c)]
            guard v >= 0 else { return nil }
            buffer = buffer << UInt32(bits) | UInt32(v)
            count += bits
            if count >= 8 {
                count -= 8
                out.append(UInt8(truncatingIfNeeded: buffer >> UInt32(count)))
            }
            buffer &= (1 << UInt32(count)) - 1
        }
        return out
    }

    /// Unpadded RFC 4648 encoding in `alphabet`.
    static func encodeRFC4648(_ bytes: [UInt8], alphabet: [UInt8], bits: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 8 + bits - 1) / bits)
        var buffer: UInt32 = 0
        var count = 0
        let mask = UInt32(1 << bits - 1)
        for b in bytes {
            buffer = buffer << 8 | UInt32(b)
            count += 8
            while count >= bits {
                count -= bits
                out.append(alphabet[Int(buffer >> UInt32(count) & mask)])
            }
            buffer &= (1 << UInt32(count)) - 1
        }
        if count > 0 {
            out.append(alphabet[Int(buffer << UInt32(bits - count) & mask)])
        }
        return out
    }

    /// Go's `base64.NewEncoding(i2p alphabet)` (padded) decoding: length a multiple of 4,
    /// at most two `=` at the end.
    static func decodeGarlic64(_ s: some StringProtocol) -> [UInt8]? {
        var chars = Array(s.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var pad = 0
        while pad < 2, chars.last == UInt8(ascii: "=") {
            chars.removeLast()
            pad += 1
        }
        return decodeRFC4648(chars, alphabet: i2pBase64, bits: 6)
    }

    static func encodeGarlic64(_ bytes: [UInt8]) -> String {
        var out = encodeRFC4648(bytes, alphabet: i2pBase64, bits: 6)
        while out.count % 4 != 0 { out.append(UInt8(ascii: "=")) }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: URL query escaping (Go net/url QueryEscape / QueryUnescape)

    static func queryUnescape(_ s: some StringProtocol) -> [UInt8]? {
        let chars = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(chars.count)
        var i = 0
        while i < chars.count {
            switch chars[i] {
            case UInt8(ascii: "%"):
                guard i + 2 < chars.count, let hi = Hex.nibble(chars[i + 1]), let lo = Hex.nibble(chars[i + 2])
                else { return nil }
                out.append(hi << 4 | lo)
                i += 3
            case UInt8(ascii: "+"):
                out.append(UInt8(ascii: " "))
                i += 1
            default:
                out.append(chars[i])
                i += 1
            }
        }
        return out
    }

    static func queryEscape(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for b in bytes {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: " "):
                out.append(UInt8(ascii: "+"))
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Multihash structure

    /// Splits a multihash (code varint, length varint, digest) and checks the digest
    /// length; nil when malformed. The code is not checked against a registry (go-multihash
    /// `Decode` does not either).
    static func multihashParts(_ bytes: [UInt8]) -> (code: UInt64, digestLength: Int)? {
        var reader = ByteReader(bytes)
        guard let code = try? reader.readVarint(), let length = try? reader.readVarint(),
            length == UInt64(reader.remainingCount)
        else { return nil }
        return (code, Int(length))
    }
}
