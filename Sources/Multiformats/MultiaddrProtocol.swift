/// One protocol of the multiaddr registry (multiformats/multiaddr `protocols.csv`).
///
/// Values are only created by the registry below, so two values are equal exactly when
/// they are the same registry entry. `ipfs` is not an entry of its own: it is a name
/// that `init?(name:)` maps to `.p2p`.
public struct MultiaddrProtocol: Hashable, Sendable, CustomStringConvertible {
    /// How a protocol's value is stored in the binary form.
    public enum Size: Hashable, Sendable {
        /// The protocol takes no value (`/quic-v1`).
        case none
        /// The value has a fixed size, in bits (`ip4` = 32).
        case fixed(bits: Int)
        /// The value is prefixed with its length as a varint (`dns`, `p2p`).
        case variable
    }

    /// The protocol's multicodec code.
    public let code: UInt64
    /// The canonical name, as printed in strings.
    public let name: String
    /// The value size.
    public let size: Size
    /// A path protocol (`unix`) takes the rest of the string as its value and must be last.
    public let isPath: Bool

    private init(_ code: UInt64, _ name: String, _ size: Size, isPath: Bool = false) {
        self.code = code
        self.name = name
        self.size = size
        self.isPath = isPath
    }

    public var description: String { name }

    /// The protocol with this name (`"ipfs"` gives `.p2p`), or nil if unknown.
    public init?(name: some StringProtocol) {
        guard let p = Self.byName[String(name)] else { return nil }
        self = p
    }

    /// The protocol with this code, or nil if unknown.
    public init?(code: UInt64) {
        guard let p = Self.byCode[code] else { return nil }
        self = p
    }

    /// Whether the protocol carries a value.
    public var hasValue: Bool { size != .none }

    // MARK: Registry

    public static let ip4 = Self(0x04, "ip4", .fixed(bits: 32))
    public static let tcp = Self(0x06, "tcp", .fixed(bits: 16))
    public static let dccp = Self(0x21, "dccp", .fixed(bits: 16))
    public static let ip6 = Self(0x29, "ip6", .fixed(bits: 128))
    public static let ip6zone = Self(0x2a, "ip6zone", .variable)
    public static let ipcidr = Self(0x2b, "ipcidr", .fixed(bits: 8))
    public static let dns = Self(0x35, "dns", .variable)
    public static let dns4 = Self(0x36, "dns4", .variable)
    public static let dns6 = Self(0x37, "dns6", .variable)
    public static let dnsaddr = Self(0x38, "dnsaddr", .variable)
    public static let sctp = Self(0x84, "sctp", .fixed(bits: 16))
    public static let udp = Self(0x0111, "udp", .fixed(bits: 16))
    public static let p2pWebRTCStar = Self(0x0113, "p2p-webrtc-star", .none)
    public static let p2pWebRTCDirect = Self(0x0114, "p2p-webrtc-direct", .none)
    public static let p2pStardust = Self(0x0115, "p2p-stardust", .none)
    public static let webRTCDirect = Self(0x0118, "webrtc-direct", .none)
    public static let webRTC = Self(0x0119, "webrtc", .none)
    public static let p2pCircuit = Self(0x0122, "p2p-circuit", .none)
    public static let udt = Self(0x012d, "udt", .none)
    public static let utp = Self(0x012e, "utp", .none)
    public static let unix = Self(0x0190, "unix", .variable, isPath: true)
    /// Peer ID (`/p2p/…`, also parsed from the legacy name `ipfs`).
    public static let p2p = Self(0x01a5, "p2p", .variable)
    public static let https = Self(0x01bb, "https", .none)
    public static let onion = Self(0x01bc, "onion", .fixed(bits: 96))
    public static let onion3 = Self(0x01bd, "onion3", .fixed(bits: 296))
    public static let garlic64 = Self(0x01be, "garlic64", .variable)
    public static let garlic32 = Self(0x01bf, "garlic32", .variable)
    public static let tls = Self(0x01c0, "tls", .none)
    public static let sni = Self(0x01c1, "sni", .variable)
    public static let noise = Self(0x01c6, "noise", .none)
    public static let quic = Self(0x01cc, "quic", .none)
    public static let quicV1 = Self(0x01cd, "quic-v1", .none)
    public static let webTransport = Self(0x01d1, "webtransport", .none)
    public static let certhash = Self(0x01d2, "certhash", .variable)
    public static let ws = Self(0x01dd, "ws", .none)
    public static let wss = Self(0x01de, "wss", .none)
    public static let p2pWebSocketStar = Self(0x01df, "p2p-websocket-star", .none)
    public static let http = Self(0x01e0, "http", .none)
    public static let httpPath = Self(0x01e1, "http-path", .variable)
    public static let memory = Self(0x0309, "memory", .fixed(bits: 64))
    public static let plaintextV2 = Self(0x706c61, "plaintextv2", .none)

    /// Every known protocol.
    public static let all: [MultiaddrProtocol] = [
        .ip4, .tcp, .dccp, .ip6, .ip6zone, .ipcidr, .dns, .dns4, .dns6, .dnsaddr, .sctp, .udp,
        .p2pWebRTCStar, .p2pWebRTCDirect, .p2pStardust, .webRTCDirect, .webRTC, .p2pCircuit,
        .udt, .utp, .unix, .p2p, .https, .onion, .onion3, .garlic64, .garlic32, .tls, .sni,
        .noise, .quic, .quicV1, .webTransport, .certhash, .ws, .wss, .p2pWebSocketStar, .http,
        .httpPath, .memory, .plaintextV2,
    ]

    private static let byCode: [UInt64: MultiaddrProtocol] = {
        var d: [UInt64: MultiaddrProtocol] = [:]
        for p in all { d[p.code] = p }
        return d
    }()

    private static let byName: [String: MultiaddrProtocol] = {
        var d: [String: MultiaddrProtocol] = [:]
        for p in all { d[p.name] = p }
        d["ipfs"] = .p2p
        return d
    }()
}
