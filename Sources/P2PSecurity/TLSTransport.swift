import COpenSSL
import Logging
import P2PCore
import P2PCrypto

/// libp2p's TLS 1.3 security transport (`/tls/1.0.0`, libp2p/specs tls/tls.md) over OpenSSL's libssl.
///
/// Each connection gets a fresh ECDSA P-256 key and a self-signed certificate carrying the identity
/// key's signature (the libp2p public key extension). Both sides present and verify certificates
/// (no CA: one certificate, valid now, valid self-signature, valid extension); ALPN is `libp2p`.
/// The remote peer ID is derived from the identity key in the remote's certificate.
public struct TLSTransport: SecurityTransport {
    /// `/tls/1.0.0`.
    public var protocolID: ProtocolID { TLSCertificate.protocolID }

    private let identity: PrivateKey
    private let logger: Logger

    /// A transport proving `identity`; handshake results are logged at debug level to `logger`.
    public init(identity: PrivateKey, logger: Logger) {
        self.identity = identity
        self.logger = logger
    }

    /// Runs the handshake as the TLS client. With `remotePeer` set, a certificate proving another
    /// identity aborts the handshake with `SecurityError.peerIDMismatch`.
    public func secureOutbound(_ stream: any ByteStream, remotePeer: PeerID?) async throws -> any SecuredStream {
        try await handshake(stream, isServer: false, expectedPeer: remotePeer)
    }

    /// Runs the handshake as the TLS server (requiring the client's certificate).
    public func secureInbound(_ stream: any ByteStream) async throws -> any SecuredStream {
        try await handshake(stream, isServer: true, expectedPeer: nil)
    }

    private func handshake(_ stream: any ByteStream, isServer: Bool, expectedPeer: PeerID?) async throws -> TLSSecuredStream {
        let role = isServer ? "inbound" : "outbound"
        do {
            let session = try TLSSession(identity: identity, isServer: isServer, expectedPeer: expectedPeer, base: stream, logger: logger)
            let remoteKey = try await session.handshake()
            let remotePeer = PeerID(publicKey: remoteKey)
            logger.debug("TLS handshake done", metadata: ["direction": "\(role)", "peer": "\(remotePeer)"])
            return TLSSecuredStream(
                session: session, localPeer: PeerID(publicKey: identity.publicKey), remotePeer: remotePeer,
                remotePublicKey: remoteKey)
        } catch {
            logger.debug(
                "TLS handshake failed",
                metadata: ["direction": "\(role)", "expected": "\(expectedPeer.map { "\($0)" } ?? "any")", "error": "\(error)"])
            await stream.reset()
            throw error
        }
    }
}

/// A stream secured by `TLSTransport`: plaintext in, TLS records out.
final class TLSSecuredStream: SecuredStream, @unchecked Sendable {
    let localPeer: PeerID
    let remotePeer: PeerID
    let remotePublicKey: PublicKey
    var securityProtocol: ProtocolID { TLSCertificate.protocolID }
    private let session: TLSSession

    init(session: TLSSession, localPeer: PeerID, remotePeer: PeerID, remotePublicKey: PublicKey) {
        self.session = session
        self.localPeer = localPeer
        self.remotePeer = remotePeer
        self.remotePublicKey = remotePublicKey
    }

    func read() async throws -> [UInt8]? { try await session.read() }
    func write(_ bytes: [UInt8]) async throws { try await session.write(bytes) }
    func closeWrite() async throws { try await session.closeWrite() }
    func close() async { await session.close() }
    func reset() async { await session.reset() }
}
