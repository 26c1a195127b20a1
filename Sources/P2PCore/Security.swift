import P2PCrypto

/// A byte stream after a security handshake: encrypted and authenticated, with both identities known.
public protocol SecuredStream: ByteStream {
    /// Our peer ID.
    var localPeer: PeerID { get }
    /// The remote's peer ID, proven by the handshake.
    var remotePeer: PeerID { get }
    /// The remote's public identity key.
    var remotePublicKey: PublicKey { get }
    /// The security protocol that was used (`/noise`, `/tls/1.0.0`).
    var securityProtocol: ProtocolID { get }
}

/// A security protocol (Noise, TLS 1.3) that turns a raw stream into a `SecuredStream`.
/// The protocol was already agreed with multistream-select when these are called.
public protocol SecurityTransport: Sendable {
    /// The multistream-select identifier.
    var protocolID: ProtocolID { get }
    /// Runs the handshake as the dialer. When `remotePeer` is given the remote must prove that
    /// identity, otherwise the handshake fails with `SecurityError.peerIDMismatch`.
    func secureOutbound(_ stream: any ByteStream, remotePeer: PeerID?) async throws -> any SecuredStream
    /// Runs the handshake as the listener; the remote identity is whatever it proves.
    func secureInbound(_ stream: any ByteStream) async throws -> any SecuredStream
}

/// Failures common to security transports.
public enum SecurityError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The remote proved a different identity than the one dialled.
    case peerIDMismatch(expected: PeerID, actual: PeerID)
    /// The handshake broke a rule of the protocol (bad message, bad signature, bad certificate...).
    case handshakeFailed(protocolID: ProtocolID, reason: String)
    /// An encrypted frame failed authentication or was malformed after the handshake.
    case badFrame(protocolID: ProtocolID, reason: String)

    public var description: String {
        switch self {
        case .peerIDMismatch(let expected, let actual):
            return "peer ID mismatch: dialled \(expected) but the remote proved \(actual)"
        case .handshakeFailed(let proto, let reason): return "\(proto) handshake failed: \(reason)"
        case .badFrame(let proto, let reason): return "\(proto): bad frame: \(reason)"
        }
    }
}
