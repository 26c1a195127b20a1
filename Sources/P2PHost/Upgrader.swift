import Logging
import P2PCore
import P2PCrypto
import P2PMux
import P2PSecurity

/// A connection after the upgrade: secured, multiplexed, with the remote's identity proven.
public struct UpgradedConnection: Sendable {
    /// The multiplexed session.
    public let connection: any MuxedConnection
    /// The remote's proven peer ID.
    public let remotePeer: PeerID
    /// The remote's identity key.
    public let remotePublicKey: PublicKey
    /// The security protocol agreed (`/noise`, `/tls/1.0.0`).
    public let security: ProtocolID
    /// The muxer agreed (`/yamux/1.0.0`, `/mplex/6.7.0`).
    public let muxer: ProtocolID
}

/// Failures of the connection upgrade.
public enum UpgradeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No security transport or no muxer is configured.
    case notConfigured(String)
    /// multistream-select agreed on a protocol we have no implementation of (cannot normally happen).
    case unknownProtocol(ProtocolID)

    public var description: String {
        switch self {
        case .notConfigured(let what): return "upgrader: no \(what) configured"
        case .unknownProtocol(let p): return "upgrader: no implementation of \(p)"
        }
    }
}

/// Upgrades a raw connection: multistream-select the security protocol (ordered preference),
/// run its handshake (verifying the dialled peer ID), multistream-select the muxer over the secured
/// stream, and start the muxer.
public struct Upgrader: Sendable {
    /// Security transports in order of preference.
    public let security: [any SecurityTransport]
    /// Muxers in order of preference.
    public let muxers: [any StreamMuxer]
    /// A private network's key: the raw connection is protected with it first.
    public let privateNetwork: PreSharedKey?
    /// The whole upgrade must finish within this time.
    public let timeout: Duration
    /// What muxers that support it (`AccountedStreamMuxer`) charge their buffered data to.
    public let inboundBytes: InboundBytesBudget?
    private let logger: Logger

    public init(
        security: [any SecurityTransport], muxers: [any StreamMuxer], privateNetwork: PreSharedKey? = nil,
        timeout: Duration = .seconds(15), inboundBytes: InboundBytesBudget? = nil, logger: Logger
    ) {
        self.inboundBytes = inboundBytes
        self.security = security
        self.muxers = muxers
        self.privateNetwork = privateNetwork
        self.timeout = timeout
        self.logger = logger
    }

    /// Upgrades as the dialer; `remotePeer` (from a `/p2p/` suffix) must be proven by the handshake.
    public func upgradeOutbound(_ raw: any ByteStream, remotePeer: PeerID?) async throws -> UpgradedConnection {
        try await upgrade(raw, outbound: true, remotePeer: remotePeer)
    }

    /// Upgrades as the listener.
    public func upgradeInbound(_ raw: any ByteStream) async throws -> UpgradedConnection {
        try await upgrade(raw, outbound: false, remotePeer: nil)
    }

    private func upgrade(_ connection: any ByteStream, outbound: Bool, remotePeer: PeerID?) async throws -> UpgradedConnection {
        let raw: any ByteStream = privateNetwork.map { PrivateNetworkStream(base: connection, key: $0) } ?? connection
        guard !security.isEmpty else { throw UpgradeError.notConfigured("security transport") }
        guard !muxers.isEmpty else { throw UpgradeError.notConfigured("stream muxer") }
        let security = self.security
        let muxers = self.muxers
        let logger = self.logger
        let budget = inboundBytes
        let secured: any SecuredStream = try await withTimeout(
            timeout, what: "connection upgrade", onTimeout: { await raw.reset() }
        ) {
            let ids = security.map(\.protocolID)
            let (proto, stream) = outbound
                ? try await Multistream.negotiateOutbound(raw, protocols: ids)
                : try await Multistream.negotiateInbound(raw, supported: ids)
            guard let transport = security.first(where: { $0.protocolID == proto }) else {
                throw UpgradeError.unknownProtocol(proto)
            }
            return outbound
                ? try await transport.secureOutbound(stream, remotePeer: remotePeer)
                : try await transport.secureInbound(stream)
        }
        do {
            let (muxerID, muxStream) = try await withTimeout(
                timeout, what: "muxer negotiation", onTimeout: { await secured.reset() }
            ) {
                let ids = muxers.map(\.protocolID)
                return outbound
                    ? try await Multistream.negotiateOutbound(secured, protocols: ids)
                    : try await Multistream.negotiateInbound(secured, supported: ids)
            }
            guard let muxer = muxers.first(where: { $0.protocolID == muxerID }) else {
                throw UpgradeError.unknownProtocol(muxerID)
            }
            var connLogger = logger
            connLogger[metadataKey: "peer"] = "\(secured.remotePeer)"
            let connection: any MuxedConnection
            if let budget, let accounted = muxer as? any AccountedStreamMuxer {
                connection = accounted.makeConnection(
                    muxStream, isInitiator: outbound, logger: connLogger, inboundBytes: budget.account(for: secured.remotePeer))
            } else {
                connection = muxer.makeConnection(muxStream, isInitiator: outbound, logger: connLogger)
            }
            return UpgradedConnection(
                connection: connection, remotePeer: secured.remotePeer, remotePublicKey: secured.remotePublicKey,
                security: secured.securityProtocol, muxer: muxerID)
        } catch {
            await secured.reset()
            throw error
        }
    }
}
