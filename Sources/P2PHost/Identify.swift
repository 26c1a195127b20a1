import Foundation
import Logging
import Multiformats
import P2PCore
import P2PCrypto
import SwiftProtobuf

/// Why an identify exchange failed.
public enum IdentifyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A message from `peer` is not a valid `Identify` protobuf.
    case malformed(peer: PeerID, reason: String)
    /// `peer` sent a public key that cannot be decoded.
    case badPublicKey(peer: PeerID, reason: String)
    /// `peer` sent the public key of `keyPeer`, another peer.
    case publicKeyMismatch(peer: PeerID, keyPeer: PeerID)
    /// `peer` sent more than `limit` bytes or messages.
    case tooLarge(peer: PeerID, what: String, limit: Int)

    public var description: String {
        switch self {
        case .malformed(let peer, let reason): return "identify from \(peer): malformed message: \(reason)"
        case .badPublicKey(let peer, let reason): return "identify from \(peer): bad public key: \(reason)"
        case .publicKeyMismatch(let peer, let keyPeer):
            return "identify from \(peer): the public key belongs to \(keyPeer)"
        case .tooLarge(let peer, let what, let limit): return "identify from \(peer): \(what) exceeds the limit of \(limit)"
        }
    }
}

/// What a peer told us about itself in identify, after validation.
public struct IdentifyInfo: Sendable, Equatable {
    /// The peer.
    public var peer: PeerID
    /// Its public key (verified to match `peer`), when it sent one.
    public var publicKey: PublicKey?
    /// e.g. `kubo/0.22.0/`.
    public var agentVersion: String?
    /// e.g. `ipfs/0.1.0`.
    public var protocolVersion: String?
    /// The listen addresses to use: from the signed peer record when it is valid, else the unsigned list.
    public var listenAddresses: [Multiaddr]
    /// How the peer sees us (our address on its side of the connection).
    public var observedAddress: Multiaddr?
    /// The protocols the peer supports.
    public var protocols: [ProtocolID]
    /// The validated signed peer record, if one was sent and verified.
    public var signedPeerRecord: PeerRecord?
    /// Why a signed peer record that was sent was rejected (nil when none was sent or it is valid).
    public var signedPeerRecordError: String?

    public init(
        peer: PeerID, publicKey: PublicKey? = nil, agentVersion: String? = nil, protocolVersion: String? = nil,
        listenAddresses: [Multiaddr] = [], observedAddress: Multiaddr? = nil, protocols: [ProtocolID] = [],
        signedPeerRecord: PeerRecord? = nil, signedPeerRecordError: String? = nil
    ) {
        self.peer = peer
        self.publicKey = publicKey
        self.agentVersion = agentVersion
        self.protocolVersion = protocolVersion
        self.listenAddresses = listenAddresses
        self.observedAddress = observedAddress
        self.protocols = protocols
        self.signedPeerRecord = signedPeerRecord
        self.signedPeerRecordError = signedPeerRecordError
    }
}

/// The libp2p identify protocols (`/ipfs/id/1.0.0` and `/ipfs/id/push/1.0.0`, libp2p/specs identify):
/// answers identify requests with our key, addresses, protocols and a signed peer record; asks
/// peers and records their answers in the host's peer store.
public final class IdentifyService: @unchecked Sendable {
    /// Largest total size of the messages of one identify exchange.
    public static let maxTotalSize = 64 * 1024
    /// Largest number of messages of one identify exchange.
    public static let maxMessages = 16
    /// Most listen addresses and protocols taken from a peer.
    public static let maxAddresses = 64
    public static let maxProtocols = 256
    /// Longest protocol ID accepted from a peer.
    public static let maxProtocolLength = 1024
    /// Peer-store metadata keys written by identify.
    public static let agentVersionKey = "AgentVersion"
    public static let protocolVersionKey = "ProtocolVersion"

    private struct LocalRecord {
        var addresses: [Multiaddr]
        var envelope: [UInt8]
        var seq: UInt64
    }

    private let host: any P2PHost
    private let privateKey: PrivateKey
    private let agentVersion: String
    private let protocolVersion: String
    private let logger: Logger
    private let timeout: Duration
    private let lock = Mutex()
    private var localRecord: LocalRecord?  // guarded by `lock`
    private var lastIssuedSeq: UInt64 = 0  // guarded by `lock`: every signing gets a higher seq

    /// - Parameters:
    ///   - privateKey: our identity (signs the peer record; its public key is sent).
    ///   - timeout: limit for a whole exchange (open, write, read).
    public init(
        host: any P2PHost, privateKey: PrivateKey, agentVersion: String, protocolVersion: String = "ipfs/0.1.0",
        logger: Logger, timeout: Duration = .seconds(30)
    ) {
        self.host = host
        self.privateKey = privateKey
        self.agentVersion = agentVersion
        self.protocolVersion = protocolVersion
        self.logger = logger
        self.timeout = timeout
    }

    /// Installs the handlers for `/ipfs/id/1.0.0` and `/ipfs/id/push/1.0.0`. The host then keeps
    /// this service alive until `unregister()`.
    public func register() async {
        await host.setHandler(.identify) { [self] incoming in await handle(incoming) }
        await host.setHandler(.identifyPush) { [self] incoming in await handle(incoming) }
    }

    /// Removes both handlers.
    public func unregister() async {
        await host.removeHandler(.identify)
        await host.removeHandler(.identifyPush)
    }

    // MARK: Inbound

    /// Serves one inbound stream: answers `/ipfs/id/1.0.0`, applies `/ipfs/id/push/1.0.0`.
    /// Closes or resets the stream.
    public func handle(_ incoming: IncomingStream) async {
        let stream = incoming.stream
        let peer = incoming.remotePeer
        if incoming.protocolID == .identifyPush {
            do {
                let info = try await withStreamDeadline(timeout, what: "identify push from \(peer)", stream: stream) {
                    [self] in
                    try await receive(from: stream, peer: peer)
                }
                await apply(info, push: true)
                await stream.close()
            } catch {
                logger.info("identify: rejected push", metadata: ["peer": "\(peer)", "error": "\(error)"])
                await stream.reset()
            }
            return
        }
        do {
            let message = try await makeMessage(observed: incoming.remoteAddress)
            try await withStreamDeadline(timeout, what: "identify answer to \(peer)", stream: stream) {
                try await stream.writeLengthPrefixed(message)
                try await stream.closeWrite()
            }
            await stream.close()
        } catch {
            logger.debug("identify: answering failed", metadata: ["peer": "\(peer)", "error": "\(error)"])
            await stream.reset()
        }
    }

    // MARK: Outbound

    /// Asks `peer` to identify itself, validates the answer and records it in the host's peer store.
    public func identify(_ peer: PeerID) async throws -> IdentifyInfo {
        let host = self.host
        let (stream, _) = try await withTimeout(timeout, what: "opening an identify stream to \(peer)") {
            try await host.newStream(to: peer, protocols: [.identify])
        }
        let info: IdentifyInfo
        do {
            info = try await withStreamDeadline(timeout, what: "identify \(peer)", stream: stream) { [self] in
                try await stream.closeWrite()
                return try await receive(from: stream, peer: peer)
            }
        } catch {
            await stream.reset()
            throw error
        }
        await stream.close()
        await apply(info, push: false)
        logger.debug(
            "identify: identified peer",
            metadata: [
                "peer": "\(peer)", "agent": "\(info.agentVersion ?? "")",
                "protocols": "\(info.protocols.count)", "addresses": "\(info.listenAddresses.count)",
                "signedRecord": "\(info.signedPeerRecord != nil)",
            ])
        return info
    }

    /// Sends our current identify information to `peer` over `/ipfs/id/push/1.0.0`.
    public func push(to peer: PeerID) async throws {
        let host = self.host
        let observed = await host.connections().first { $0.remotePeer == peer }?.remoteAddress
        let message = try await makeMessage(observed: observed)
        let (stream, _) = try await withTimeout(timeout, what: "opening an identify push stream to \(peer)") {
            try await host.newStream(to: peer, protocols: [.identifyPush])
        }
        do {
            try await withStreamDeadline(timeout, what: "identify push to \(peer)", stream: stream) {
                try await stream.writeLengthPrefixed(message)
                try await stream.closeWrite()
            }
        } catch {
            await stream.reset()
            throw error
        }
        await stream.close()
    }

    /// Lowers the TTL of `peer`'s addresses to `AddressTTL.recentlyConnected` (identify stores them
    /// with `AddressTTL.connected`); call when the last connection to `peer` closes.
    public func peerDisconnected(_ peer: PeerID) {
        let store = host.peerStore
        let addresses = store.addresses(of: peer)
        if !addresses.isEmpty { store.setAddresses(addresses, for: peer, ttl: AddressTTL.recentlyConnected) }
    }

    // MARK: Messages

    /// Our identify message (one message: Kubo and py-libp2p accept a signed record inline).
    func makeMessage(observed: Multiaddr?) async throws -> [UInt8] {
        let addresses = await host.listenAddresses()
        var pb = Identify_Pb_Identify()
        pb.protocolVersion = protocolVersion
        pb.agentVersion = agentVersion
        pb.publicKey = Data(privateKey.publicKey.protobufBytes)
        pb.listenAddrs = addresses.map { Data($0.bytes) }
        if let observed { pb.observedAddr = Data(observed.bytes) }
        pb.protocols = await host.supportedProtocols().map(\.rawValue)
        if let envelope = try signedRecord(for: addresses) { pb.signedPeerRecord = Data(envelope) }
        return try pb.serializedBytes()
    }

    /// The envelope of our peer record for `addresses`, re-signed with a higher seq when they change.
    private func signedRecord(for addresses: [Multiaddr]) throws -> [UInt8]? {
        if let cached = lock.withLock({ localRecord }), cached.addresses == addresses { return cached.envelope }
        // The seq is taken in one locked step: two signings at once (different address sets)
        // never share a seq, so the newer record always wins at the remote.
        let seq = lock.withLock { () -> UInt64 in
            let seq = max(PeerRecord.timestampSeq(), max(localRecord?.seq ?? 0, lastIssuedSeq) + 1)
            lastIssuedSeq = seq
            return seq
        }
        let record = PeerRecord(peerID: PeerID(publicKey: privateKey.publicKey), seq: seq, addresses: addresses)
        let envelope = try SignedEnvelope.seal(record, key: privateKey).bytes
        lock.withLock {
            if (localRecord?.seq ?? 0) < seq { localRecord = LocalRecord(addresses: addresses, envelope: envelope, seq: seq) }
        }
        return envelope
    }

    /// Reads identify messages until EOF (bounded), merges them and validates the result.
    func receive(from stream: any ByteStream, peer: PeerID) async throws -> IdentifyInfo {
        let reader = StreamReader(stream)
        var merged = Identify_Pb_Identify()
        var total = 0
        var count = 0
        while let message = try await reader.readLengthPrefixed(
            maxLength: Self.maxTotalSize - total, what: "identify message from \(peer)")
        {
            count += 1
            total += message.count
            guard count <= Self.maxMessages else {
                throw IdentifyError.tooLarge(peer: peer, what: "message count", limit: Self.maxMessages)
            }
            do {
                try merged.merge(serializedBytes: message)
            } catch {
                throw IdentifyError.malformed(peer: peer, reason: "\(error)")
            }
        }
        return try validate(merged, from: peer)
    }

    /// Checks the key against the peer ID and the signed record; keeps only well-formed addresses and protocols.
    func validate(_ pb: Identify_Pb_Identify, from peer: PeerID) throws(IdentifyError) -> IdentifyInfo {
        var info = IdentifyInfo(peer: peer)
        if pb.hasPublicKey {
            let key: PublicKey
            do {
                key = try PublicKey(protobuf: Array(pb.publicKey))
            } catch {
                throw .badPublicKey(peer: peer, reason: error.description)
            }
            guard peer.matches(key) else { throw .publicKeyMismatch(peer: peer, keyPeer: PeerID(publicKey: key)) }
            info.publicKey = key
        }
        if pb.hasAgentVersion { info.agentVersion = pb.agentVersion }
        if pb.hasProtocolVersion { info.protocolVersion = pb.protocolVersion }
        info.listenAddresses = pb.listenAddrs.prefix(Self.maxAddresses).compactMap { try? Multiaddr(bytes: Array($0)) }
        if pb.hasObservedAddr, !pb.observedAddr.isEmpty {
            info.observedAddress = try? Multiaddr(bytes: Array(pb.observedAddr))
        }
        info.protocols = Array(
            pb.protocols.lazy.filter { !$0.isEmpty && $0.utf8.count <= Self.maxProtocolLength }
                .prefix(Self.maxProtocols).map { ProtocolID($0) })
        if pb.hasSignedPeerRecord {
            var rejection: String?
            do {
                let record = try PeerRecord.open(envelope: Array(pb.signedPeerRecord)).record
                if record.peerID == peer {
                    info.signedPeerRecord = record
                    info.listenAddresses = record.addresses
                } else {
                    rejection = "the record is signed by \(record.peerID)"
                }
            } catch {
                rejection = "\(error)"
            }
            if let rejection {
                info.signedPeerRecordError = rejection
                logger.warning(
                    "identify: ignoring an invalid signed peer record",
                    metadata: ["peer": "\(peer)", "error": "\(rejection)"])
            }
        }
        return info
    }

    /// Records `info` in the host's peer store. A push only replaces what it carries.
    /// Records what `info` says in the peer store, then tells the host's observers (the DHT learns
    /// from `.identified` which peers speak Kademlia).
    private func apply(_ info: IdentifyInfo, push: Bool) async {
        let store = host.peerStore
        let peer = info.peer
        if let key = info.publicKey { store.setPublicKey(key, for: peer) }
        if !push || !info.listenAddresses.isEmpty {
            store.setAddresses(info.listenAddresses, for: peer, ttl: AddressTTL.connected)
        }
        if !push || !info.protocols.isEmpty { store.setProtocols(info.protocols, for: peer) }
        if let agent = info.agentVersion { store.setMetadata(Self.agentVersionKey, agent, for: peer) }
        if let version = info.protocolVersion { store.setMetadata(Self.protocolVersionKey, version, for: peer) }
        await host.emit(.identified(
            peer: peer, protocols: store.protocols(of: peer), listenAddresses: store.addresses(of: peer)))
    }
}
