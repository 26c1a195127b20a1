import Multiformats

/// The network a peer's address belongs to, for routing-table diversity limits (go-libp2p-kbucket's
/// `peerdiversity`): the /16 prefix of an IPv4 address, the /32 prefix of an IPv6 address (go
/// groups IPv6 by ASN and falls back to /32 when it has none; we always use /32). An attacker who
/// controls one such network can then fill only a few routing-table slots.
public struct IPGroup: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// True for an IPv6 group.
    public let isIPv6: Bool
    /// The prefix bytes: 2 for IPv4 (/16), 4 for IPv6 (/32).
    public let prefix: [UInt8]

    /// The group of an address's IP: the first component must be `/ip4` or `/ip6` (a relayed
    /// address `/ip4/…/p2p-circuit` counts as the relay's). nil when the address has no IP
    /// (`/dns…`, `/unix`, malformed values) or when the IP is exempt: loopback, unspecified,
    /// private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) or link-local (169.254/16,
    /// fe80::/10). IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are grouped as IPv4.
    public init?(_ address: Multiaddr) {
        guard let first = address.components.first else { return nil }
        let ip = first.value
        if first.protocol == .ip4, ip.count == 4 {
            self.init(ipv4: ip)
        } else if first.protocol == .ip6, ip.count == 16 {
            if ip[0..<10].allSatisfy({ $0 == 0 }) && ip[10] == 0xff && ip[11] == 0xff {
                self.init(ipv4: Array(ip[12..<16]))
                return
            }
            if Self.isExemptIPv6(ip) { return nil }
            self.init(isIPv6: true, prefix: Array(ip[0..<4]))
        } else {
            return nil
        }
    }

    private init?(ipv4 ip: [UInt8]) {
        if Self.isExemptIPv4(ip) { return nil }
        self.init(isIPv6: false, prefix: Array(ip[0..<2]))
    }

    private init(isIPv6: Bool, prefix: [UInt8]) {
        self.isIPv6 = isIPv6
        self.prefix = prefix
    }

    /// The distinct groups of `addresses`, sorted (exempt and IP-less addresses contribute none).
    public static func groups(of addresses: [Multiaddr]) -> [IPGroup] {
        Set(addresses.compactMap { IPGroup($0) }).sorted()
    }

    static func isExemptIPv4(_ ip: [UInt8]) -> Bool {
        let a = ip[0]
        let b = ip[1]
        return a == 0  // "this network", unspecified
            || a == 127  // loopback
            || a == 10  // private
            || (a == 172 && b & 0xf0 == 16)  // private 172.16/12
            || (a == 192 && b == 168)  // private
            || (a == 169 && b == 254)  // link-local
            || (a == 100 && b & 0xc0 == 64)  // shared address space (carrier NAT) 100.64/10
    }

    static func isExemptIPv6(_ ip: [UInt8]) -> Bool {
        if ip[0..<15].allSatisfy({ $0 == 0 }) && (ip[15] == 0 || ip[15] == 1) { return true }  // :: and ::1
        if ip[0] & 0xfe == 0xfc { return true }  // unique local fc00::/7
        if ip[0] == 0xfe && ip[1] & 0xc0 == 0x80 { return true }  // link-local fe80::/10
        return false
    }

    public static func < (lhs: IPGroup, rhs: IPGroup) -> Bool {
        if lhs.isIPv6 != rhs.isIPv6 { return !lhs.isIPv6 }
        return lhs.prefix.lexicographicallyPrecedes(rhs.prefix)
    }

    /// `203.0.0.0/16` or `2001:db8::/32`.
    public var description: String {
        if isIPv6 {
            let hi = UInt16(prefix[0]) << 8 | UInt16(prefix[1])
            let lo = UInt16(prefix[2]) << 8 | UInt16(prefix[3])
            return "\(String(hi, radix: 16)):\(String(lo, radix: 16))::/32"
        }
        return "\(prefix[0]).\(prefix[1]).0.0/16"
    }
}

/// How many routing-table peers each IP group has, per bucket and in the whole table
/// (go-libp2p-kad-dht's `rtPeerIPGroupFilter`). Pure bookkeeping: the table asks `rejection` before
/// it inserts a peer and calls `insert`/`remove` as its membership changes.
struct DiversityCounts: Sendable, Equatable {
    let limits: RoutingTable.Diversity
    private(set) var total: [IPGroup: Int] = [:]
    private(set) var perBucket: [Int: [IPGroup: Int]] = [:]

    init(limits: RoutingTable.Diversity) {
        self.limits = limits
    }

    /// Why a peer in `groups` may not join bucket `bucket`, or nil when every group has room.
    func rejection(groups: [IPGroup], bucket: Int) -> String? {
        for group in groups {
            let inTable = total[group, default: 0]
            if inTable >= limits.maxPerGroupTotal {
                return "IP group \(group) already has \(inTable) peers in the table (max \(limits.maxPerGroupTotal))"
            }
            let inBucket = perBucket[bucket]?[group] ?? 0
            if inBucket >= limits.maxPerGroupPerBucket {
                return "IP group \(group) already has \(inBucket) peers in bucket \(bucket) (max \(limits.maxPerGroupPerBucket))"
            }
        }
        return nil
    }

    mutating func insert(groups: [IPGroup], bucket: Int) {
        for group in groups {
            total[group, default: 0] += 1
            perBucket[bucket, default: [:]][group, default: 0] += 1
        }
    }

    mutating func remove(groups: [IPGroup], bucket: Int) {
        for group in groups {
            if let n = total[group] { total[group] = n > 1 ? n - 1 : nil }
            if var counts = perBucket[bucket] {
                if let n = counts[group] { counts[group] = n > 1 ? n - 1 : nil }
                perBucket[bucket] = counts.isEmpty ? nil : counts
            }
        }
    }
}
