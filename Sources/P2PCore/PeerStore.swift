import Multiformats
import P2PCrypto

/// What the node knows about other peers. Implementations are thread-safe.
public protocol PeerStore: AnyObject, Sendable {
    /// Adds addresses for `peer`, valid for `ttl` seconds (an existing longer TTL is kept).
    func addAddresses(_ addresses: [Multiaddr], for peer: PeerID, ttl: Double)
    /// Replaces the addresses of `peer` (identify's listen addresses).
    func setAddresses(_ addresses: [Multiaddr], for peer: PeerID, ttl: Double)
    /// Addresses of `peer` that have not expired.
    func addresses(of peer: PeerID) -> [Multiaddr]
    /// Records the public key of `peer` (must match the peer ID; ignored otherwise).
    func setPublicKey(_ key: PublicKey, for peer: PeerID)
    func publicKey(of peer: PeerID) -> PublicKey?
    /// Replaces the protocols `peer` supports.
    func setProtocols(_ protocols: [ProtocolID], for peer: PeerID)
    func protocols(of peer: PeerID) -> [ProtocolID]
    /// Free-form metadata such as `AgentVersion` and `ProtocolVersion`.
    func setMetadata(_ key: String, _ value: String, for peer: PeerID)
    func metadata(_ key: String, of peer: PeerID) -> String?
    /// Every peer with any record.
    func peers() -> [PeerID]
    /// Drops every record of `peer`.
    func remove(_ peer: PeerID)
}

/// Standard TTLs (seconds), as go-libp2p's peerstore.
public enum AddressTTL {
    public static let temporary: Double = 120
    public static let provider: Double = 30 * 60
    public static let recentlyConnected: Double = 30 * 60
    public static let connected: Double = 365 * 24 * 3600
    public static let permanent: Double = .infinity
}
