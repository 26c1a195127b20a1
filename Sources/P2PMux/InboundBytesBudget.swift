import Logging
import P2PCore
import P2PCrypto

/// The pure bookkeeping of bytes received from peers and not yet read by the node (muxer receive
/// buffers), against a per-peer and a node-wide bound. No I/O, no clock.
public struct InboundBytesLedger: Sendable, Equatable {
    /// Why bytes were refused.
    public enum Refusal: Sendable, Equatable, CustomStringConvertible {
        /// The peer already has `used` bytes pending; `limit` is the per-peer bound.
        case peer(used: Int, limit: Int)
        /// The node already has `used` bytes pending; `limit` is the node-wide bound.
        case system(used: Int, limit: Int)

        public var description: String {
            switch self {
            case let .peer(used, limit): return "peer has \(used) pending inbound bytes (MaxPendingBytesPerPeer \(limit))"
            case let .system(used, limit): return "node has \(used) pending inbound bytes (MaxPendingBytes \(limit))"
            }
        }
    }

    /// Node-wide bound in bytes (0: none).
    public let systemLimit: Int
    /// Per-peer bound in bytes (0: none).
    public let peerLimit: Int
    public private(set) var systemUsed = 0
    public private(set) var byPeer: [PeerID: Int] = [:]
    public private(set) var peerRefusals = RefusalTally()
    public private(set) var systemRefusals = RefusalTally()

    public init(systemLimit: Int, peerLimit: Int) {
        self.systemLimit = systemLimit
        self.peerLimit = peerLimit
    }

    /// Takes `count` bytes for `peer`; nil when they fit, else why not (nothing is taken then).
    public mutating func reserve(_ count: Int, for peer: PeerID) -> Refusal? {
        guard count > 0 else { return nil }
        let peerUsed = byPeer[peer, default: 0]
        if peerLimit > 0, peerUsed + count > peerLimit {
            peerRefusals.record(peer)
            return .peer(used: peerUsed, limit: peerLimit)
        }
        if systemLimit > 0, systemUsed + count > systemLimit {
            systemRefusals.record(peer)
            return .system(used: systemUsed, limit: systemLimit)
        }
        byPeer[peer] = peerUsed + count
        systemUsed += count
        return nil
    }

    /// Gives back `count` bytes of `peer` (read by the node, or dropped).
    public mutating func release(_ count: Int, for peer: PeerID) {
        guard count > 0, let used = byPeer[peer] else { return }
        let taken = Swift.min(count, used)
        byPeer[peer] = used - taken > 0 ? used - taken : nil
        systemUsed -= taken
    }

    /// Use against the limits, as `PendingInboundBytes` of the system and of each peer that has
    /// bytes pending or was refused.
    public var report: ResourceReport {
        var report = ResourceReport()
        report.system[Self.resource] = ResourceUse(used: systemUsed, limit: systemLimit, refused: systemRefusals.total)
        let peers = Set(byPeer.keys).union(peerRefusals.byPeer.keys).union(systemRefusals.byPeer.keys)
        for peer in peers {
            report.peers[peer] = [Self.resource: ResourceUse(
                used: byPeer[peer, default: 0], limit: peerLimit,
                refused: peerRefusals.count(of: peer) + systemRefusals.count(of: peer))]
        }
        return report
    }

    /// The resource name in reports.
    public static let resource = "PendingInboundBytes"
}

/// The node's budget of pending inbound bytes, shared by every connection's muxer. Each muxed
/// connection takes an `InboundBytesAccount` for its peer; a frame whose bytes do not fit gets its
/// stream reset (the peer's other streams and the other peers carry on).
public final class InboundBytesBudget: Sendable {
    private let ledger: Locked<InboundBytesLedger>

    /// Limits in bytes (0: none).
    public init(systemLimit: Int, peerLimit: Int) {
        ledger = Locked(InboundBytesLedger(systemLimit: systemLimit, peerLimit: peerLimit))
    }

    /// An account for one connection to `peer`.
    public func account(for peer: PeerID) -> InboundBytesAccount { InboundBytesAccount(budget: self, peer: peer) }

    func reserve(_ count: Int, for peer: PeerID) -> InboundBytesLedger.Refusal? {
        ledger.withLock { $0.reserve(count, for: peer) }
    }

    func release(_ count: Int, for peer: PeerID) {
        ledger.withLock { $0.release(count, for: peer) }
    }

    /// The current state (for reports and tests).
    public var snapshot: InboundBytesLedger { ledger.withLock { $0 } }
}

/// One connection's share of an `InboundBytesBudget`. The connection keeps what it holds and
/// gives it all back when it ends (`releaseAll`).
public final class InboundBytesAccount: Sendable {
    public let peer: PeerID
    private let budget: InboundBytesBudget
    private let held = Locked(0)

    init(budget: InboundBytesBudget, peer: PeerID) {
        self.budget = budget
        self.peer = peer
    }

    /// Takes `count` bytes; nil when they fit, else why not.
    public func reserve(_ count: Int) -> InboundBytesLedger.Refusal? {
        if let refusal = budget.reserve(count, for: peer) { return refusal }
        held.withLock { $0 += count }
        return nil
    }

    /// Gives back `count` bytes.
    public func release(_ count: Int) {
        guard count > 0 else { return }
        let n = held.withLock { held -> Int in
            let n = Swift.min(held, count)
            held -= n
            return n
        }
        budget.release(n, for: peer)
    }

    /// Gives back everything this connection holds (it ended).
    public func releaseAll() {
        let n = held.withLock { held -> Int in
            defer { held = 0 }
            return held
        }
        budget.release(n, for: peer)
    }

    /// Bytes this connection holds.
    public var holding: Int { held.withLock { $0 } }
}

/// A muxer whose connections charge what they buffer to an `InboundBytesAccount`.
public protocol AccountedStreamMuxer: StreamMuxer {
    /// As `makeConnection(_:isInitiator:logger:)`, buffering against `inboundBytes`.
    func makeConnection(
        _ stream: any ByteStream, isInitiator: Bool, logger: Logger, inboundBytes: InboundBytesAccount?
    ) -> any MuxedConnection
}

extension AccountedStreamMuxer {
    /// Without an account: nothing is charged.
    public func makeConnection(_ stream: any ByteStream, isInitiator: Bool, logger: Logger) -> any MuxedConnection {
        makeConnection(stream, isInitiator: isInitiator, logger: logger, inboundBytes: nil)
    }
}
