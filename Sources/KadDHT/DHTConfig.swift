import Multiformats
import P2PCore

/// Whether a DHT answers other peers (server: advertises and serves the protocol) or only asks
/// (client: neither advertises nor answers, as the IPFS DHT spec requires).
public enum DHTMode: String, Sendable, Equatable {
    case client, server
}

/// Which peers a DHT instance works with: Kubo's dual DHT keeps a LAN table (loopback and private
/// addresses, `/ipfs/lan/kad/1.0.0`) and a WAN table (public addresses, `/ipfs/kad/1.0.0`).
public enum DHTScope: String, Sendable, Equatable {
    case lan, wan

    /// Whether `address` belongs to this scope (peers are admitted, and addresses passed on, by it).
    public func accepts(_ address: Multiaddr) -> Bool {
        switch self {
        case .lan: return address.scope.isLAN
        case .wan: return address.scope.isPublic
        }
    }

    /// The protocol ID of this scope's DHT.
    public var protocolID: ProtocolID {
        switch self {
        case .lan: return DHTProtocol.lan
        case .wan: return DHTProtocol.wan
        }
    }
}

/// Protocol IDs and wire limits (go-libp2p-kad-dht's defaults).
public enum DHTProtocol {
    /// The public IPFS DHT.
    public static let wan: ProtocolID = "/ipfs/kad/1.0.0"
    /// Kubo's LAN DHT (same wire format).
    public static let lan: ProtocolID = "/ipfs/lan/kad/1.0.0"
    /// Largest message read or written (go-libp2p's `network.MessageSizeMax`).
    public static let maxMessageBytes = 4 << 20
}

/// Settings of one DHT instance; the defaults are go-libp2p-kad-dht's.
public struct DHTConfig: Sendable {
    public var scope: DHTScope
    public var mode: DHTMode
    public var protocolID: ProtocolID
    public var table = RoutingTable.Config()
    public var lookup = LookupConfig()
    /// Largest message read from a peer.
    public var maxMessageBytes = DHTProtocol.maxMessageBytes
    /// Time for one request: opening the stream, writing, reading the answer.
    public var requestTimeout: Duration = .seconds(10)
    /// An inbound stream with no message for this long is closed (go: 1 minute).
    public var streamIdleTimeout: Duration = .seconds(60)
    /// Routing-table refresh period (go: 10 minutes).
    public var refreshInterval: Double = 600
    /// Peers not heard from for this long are checked (a FIND_NODE) at the next refresh.
    public var livenessInterval: Double = 600
    /// Admission checks (a FIND_NODE to a newly identified peer) running at once; more are dropped.
    public var maxConcurrentChecks = 64
    /// Providers returned by one GET_PROVIDERS answer.
    public var providersPerAnswer = 100
    /// Requests one peer may send per second on average, and in a burst; more are refused (the
    /// stream is reset), so a flood from one peer cannot take the server from the others.
    public var inboundRequestsPerSecond: Double = 500
    public var inboundRequestBurst: Double = 2_000
    /// Records a GET_VALUE search collects before it settles (go: 16 of the 20 closest).
    public var valueQuorum = 16
    /// A GET_VALUE search settles as soon as this many peers returned the same best record (our
    /// own copy counts): resolution need not wait for 16 answers as Kubo's does.
    public var valueAgreement = 3

    public init(scope: DHTScope, mode: DHTMode) {
        self.scope = scope
        self.mode = mode
        self.protocolID = scope.protocolID
        if scope == .wan { table.diversity = RoutingTable.Diversity() }
    }
}
