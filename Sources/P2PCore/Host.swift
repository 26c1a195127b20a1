import Multiformats
import P2PCrypto

/// Which side opened a connection or stream.
public enum Direction: String, Sendable, Codable {
    case inbound, outbound
}

/// What a protocol handler gets for each inbound stream.
public struct IncomingStream: Sendable {
    /// The stream, already negotiated to `protocolID` (negotiation bytes are consumed).
    public let stream: any ByteStream
    /// The protocol that was agreed.
    public let protocolID: ProtocolID
    /// The remote peer.
    public let remotePeer: PeerID
    /// The remote's address of the connection the stream belongs to.
    public let remoteAddress: Multiaddr

    public init(stream: any ByteStream, protocolID: ProtocolID, remotePeer: PeerID, remoteAddress: Multiaddr) {
        self.stream = stream
        self.protocolID = protocolID
        self.remotePeer = remotePeer
        self.remoteAddress = remoteAddress
    }
}

/// Handles one inbound stream; the handler owns the stream and must close or reset it.
public typealias StreamHandler = @Sendable (IncomingStream) async -> Void

/// Facts about one live connection.
public struct ConnectionInfo: Sendable, Hashable {
    public let remotePeer: PeerID
    public let remoteAddress: Multiaddr
    public let localAddress: Multiaddr
    public let direction: Direction
    public let security: ProtocolID
    public let muxer: ProtocolID
    /// When the connection was established, in seconds since 1970.
    public let openedAt: Double

    public init(
        remotePeer: PeerID, remoteAddress: Multiaddr, localAddress: Multiaddr, direction: Direction,
        security: ProtocolID, muxer: ProtocolID, openedAt: Double
    ) {
        self.remotePeer = remotePeer
        self.remoteAddress = remoteAddress
        self.localAddress = localAddress
        self.direction = direction
        self.security = security
        self.muxer = muxer
        self.openedAt = openedAt
    }
}

/// What happens on a host, as protocol modules see it (go-libp2p's event bus, reduced).
public enum HostEvent: Sendable {
    /// A connection opened (one event per connection; a peer may have several).
    case connected(ConnectionInfo)
    /// Identify finished for `peer`: the protocols it speaks and the addresses it listens on
    /// (also sent again when the peer pushes a change).
    case identified(peer: PeerID, protocols: [ProtocolID], listenAddresses: [Multiaddr])
    /// A connection closed (the peer may still have others: see `P2PHost.connections()`).
    case disconnected(ConnectionInfo)
}

/// The host seen by protocol modules (identify, ping, Bitswap, the DHT): open streams to peers,
/// handle inbound streams, look peers up. Protocol modules depend on this, never on a concrete host,
/// so they can be tested over in-memory connections.
public protocol P2PHost: AnyObject, Sendable {
    /// Our identity.
    var localPeer: PeerID { get }
    /// The peer store (addresses, keys, protocols, agent versions).
    var peerStore: any PeerStore { get }
    /// Addresses we listen on (after binding, with real ports).
    func listenAddresses() async -> [Multiaddr]
    /// Registers the handler for inbound streams of `protocolID` (replacing an existing one).
    func setHandler(_ protocolID: ProtocolID, _ handler: @escaping StreamHandler) async
    /// Removes a handler.
    func removeHandler(_ protocolID: ProtocolID) async
    /// The protocols we handle.
    func supportedProtocols() async -> [ProtocolID]
    /// Opens a stream to `peer` (dialling its known addresses when not connected) and negotiates
    /// the first of `protocols` the peer supports.
    func newStream(to peer: PeerID, protocols: [ProtocolID]) async throws -> (stream: any ByteStream, protocolID: ProtocolID)
    /// Dials `address` (it may end in `/p2p/<id>`, which is then verified) unless already connected.
    @discardableResult
    func connect(_ address: Multiaddr) async throws -> PeerID
    /// Closes every connection to `peer`.
    func disconnect(_ peer: PeerID) async
    /// Live connections.
    func connections() async -> [ConnectionInfo]
    /// Registers a callback for host events (called outside the host's locks; keep it quick).
    func addEventObserver(_ observer: @escaping @Sendable (HostEvent) -> Void) async
    /// Publishes an event to every observer: services on the host (identify) announce what they learn.
    func emit(_ event: HostEvent) async
}
