/// A libp2p protocol identifier as negotiated by multistream-select, e.g. `/ipfs/ping/1.0.0`.
public struct ProtocolID: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The identifier text (without the trailing newline multistream-select adds on the wire).
    public let rawValue: String

    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }
    public static func < (lhs: ProtocolID, rhs: ProtocolID) -> Bool { lhs.rawValue < rhs.rawValue }

    // Well-known identifiers.
    public static let multistream: ProtocolID = "/multistream/1.0.0"
    public static let noise: ProtocolID = "/noise"
    public static let tls: ProtocolID = "/tls/1.0.0"
    public static let plaintext: ProtocolID = "/plaintext/2.0.0"
    public static let yamux: ProtocolID = "/yamux/1.0.0"
    public static let mplex: ProtocolID = "/mplex/6.7.0"
    public static let identify: ProtocolID = "/ipfs/id/1.0.0"
    public static let identifyPush: ProtocolID = "/ipfs/id/push/1.0.0"
    public static let ping: ProtocolID = "/ipfs/ping/1.0.0"
}
