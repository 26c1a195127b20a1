import Logging
import Multiformats
import P2PCore
import P2PCrypto
import P2PSecurity

/// Everything a `LibP2PHost` needs.
public struct HostConfig: Sendable {
    /// Resource limits.
    public struct Limits: Sendable {
        /// Established inbound connections at once; more are refused.
        public var maxInboundConnections: Int = 256
        /// Established inbound connections from one peer at once; more are closed.
        public var maxInboundConnectionsPerPeer: Int = 8
        /// Inbound streams being handled at once per peer; more are reset.
        public var maxStreamsPerPeer: Int = 512
        /// Inbound streams being handled at once per protocol (all peers); more are reset.
        public var maxStreamsPerProtocol: Int = 1024
        /// Inbound streams being handled at once on the whole node; more are reset.
        public var maxStreams: Int = 8192
        /// Bytes received and not yet read by the node (muxer receive buffers), all peers
        /// together; a frame that does not fit gets its stream reset. 0: no bound.
        public var maxPendingInboundBytes: Int = 128 << 20
        /// The same bound per peer (all its connections together). 0: no bound.
        public var maxPendingInboundBytesPerPeer: Int = 32 << 20
        /// Inbound connections in their handshake (not yet authenticated) at once; when a new
        /// one arrives beyond it, the one waiting longest is dropped.
        public var maxInboundPending: Int = 64
        /// The whole inbound handshake (security and muxer negotiation) must finish within this.
        public var inboundHandshakeTimeout: Duration = .seconds(5)
        public init() {}
    }

    /// Connection manager water marks.
    public struct ConnManager: Sendable {
        /// Trim down to this many connections...
        public var lowWater: Int = 160
        /// ...when there are more than this many.
        public var highWater: Int = 192
        /// Connections younger than this are never trimmed.
        public var gracePeriod: Duration = .seconds(20)
        public init() {}
        public init(lowWater: Int, highWater: Int, gracePeriod: Duration) {
            self.lowWater = lowWater
            self.highWater = highWater
            self.gracePeriod = gracePeriod
        }
    }

    /// Our identity key.
    public var identity: PrivateKey
    /// Addresses to listen on (`/ip4|ip6/…/tcp/PORT`; port 0 picks a free port).
    public var listenAddresses: [Multiaddr]
    /// Security transports in order of preference.
    public var security: [any SecurityTransport]
    /// Muxers in order of preference.
    public var muxers: [any StreamMuxer]
    /// Settings the muxers were created with (kept for reference by callers).
    public var muxerConfig: MuxerConfig = .init()
    public var limits: Limits = .init()
    /// A private network's key: every connection is protected with it before anything else
    /// (libp2p PSK v1); peers without it cannot connect. Nil: the public network.
    public var privateNetwork: PreSharedKey?
    public var connManager: ConnManager = .init()
    /// TCP connect timeout.
    public var dialTimeout: Duration = .seconds(10)
    /// Upgrade (security + muxer) and per-stream protocol negotiation timeout.
    public var negotiationTimeout: Duration = .seconds(15)
    /// First backoff after a failed dial to a peer; doubles per failure up to 5 minutes.
    public var dialBackoff: Duration = .seconds(5)
    public var logger: Logger
    public var peerStore: any PeerStore

    public init(
        identity: PrivateKey, listenAddresses: [Multiaddr], security: [any SecurityTransport],
        muxers: [any StreamMuxer], logger: Logger, peerStore: any PeerStore
    ) {
        self.identity = identity
        self.listenAddresses = listenAddresses
        self.security = security
        self.muxers = muxers
        self.logger = logger
        self.peerStore = peerStore
    }
}
