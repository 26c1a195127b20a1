/// Where an address can be reached from, by its first IP component (go-multiaddr's `manet`
/// classification): the DHT's LAN table takes peers with loopback or private addresses, its WAN
/// table peers with public ones; the routing table's diversity limits exempt non-public addresses.
public enum AddressScope: String, Sendable, Equatable {
    /// 127.0.0.0/8, ::1.
    case loopback
    /// 10/8, 172.16/12, 192.168/16, 100.64/10 (CGNAT), fc00::/7 (unique local).
    case `private`
    /// 169.254/16, fe80::/10.
    case linkLocal
    /// 0.0.0.0, :: (a wildcard listen address, not dialable).
    case unspecified
    /// Anything else, including DNS names.
    case `public`
    /// No IP or DNS component (e.g. `/p2p/…` alone).
    case unknown

    public var isPublic: Bool { self == .public }
    /// Loopback or private: what a LAN DHT accepts.
    public var isLAN: Bool { self == .loopback || self == .private }
}

extension Multiaddr {
    /// The scope of the address's first component.
    public var scope: AddressScope {
        guard let first = components.first else { return .unknown }
        let v = first.value
        switch first.protocol {
        case .ip4:
            guard v.count == 4 else { return .unknown }
            if v == [0, 0, 0, 0] { return .unspecified }
            if v[0] == 127 { return .loopback }
            if v[0] == 10 || (v[0] == 172 && (16...31).contains(v[1])) || (v[0] == 192 && v[1] == 168)
                || (v[0] == 100 && (64...127).contains(v[1])) {
                return .private
            }
            if v[0] == 169 && v[1] == 254 { return .linkLocal }
            return .public
        case .ip6:
            guard v.count == 16 else { return .unknown }
            if v.allSatisfy({ $0 == 0 }) { return .unspecified }
            if v.prefix(15).allSatisfy({ $0 == 0 }) && v[15] == 1 { return .loopback }
            // IPv4-mapped (::ffff:a.b.c.d): classify the IPv4 part.
            if v.prefix(10).allSatisfy({ $0 == 0 }) && v[10] == 0xff && v[11] == 0xff,
               let mapped = try? Multiaddr("/ip4/\(v[12]).\(v[13]).\(v[14]).\(v[15])") {
                return mapped.scope
            }
            if v[0] & 0xfe == 0xfc { return .private }
            if v[0] == 0xfe && v[1] & 0xc0 == 0x80 { return .linkLocal }
            return .public
        case .dns, .dns4, .dns6, .dnsaddr:
            return .public
        default:
            return .unknown
        }
    }
}
