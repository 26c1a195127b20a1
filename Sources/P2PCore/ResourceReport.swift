import P2PCrypto

/// One resource's use against its limit, and how many times the limit refused something.
public struct ResourceUse: Sendable, Equatable {
    public var used: Int
    /// The bound (0: none).
    public var limit: Int
    /// What the limit refused so far (connections, streams, records, entries, frames).
    public var refused: Int

    public init(used: Int, limit: Int, refused: Int = 0) {
        self.used = used
        self.limit = limit
        self.refused = refused
    }
}

/// Use against limits by scope, in the spirit of go-libp2p's resource manager: the whole node
/// (`system`), each protocol, each peer. Every service reports its own resources; reports merge.
/// Resource names are the JSON names the node prints (`StreamsInbound`, `PendingInboundBytes`, …).
public struct ResourceReport: Sendable, Equatable {
    public var system: [String: ResourceUse] = [:]
    public var protocols: [String: [String: ResourceUse]] = [:]
    public var peers: [PeerID: [String: ResourceUse]] = [:]

    public init() {}

    /// Adds `other`'s entries (a resource both name is taken from `other`).
    public mutating func merge(_ other: ResourceReport) {
        system.merge(other.system) { _, new in new }
        for (name, resources) in other.protocols { protocols[name, default: [:]].merge(resources) { _, new in new } }
        for (peer, resources) in other.peers { peers[peer, default: [:]].merge(resources) { _, new in new } }
    }
}

/// Refusals of one limit: in total and per peer. The per-peer table is bounded (`maxPeers`):
/// once full, refusals of further peers count only in the total, so a flood of peer IDs cannot
/// grow it.
public struct RefusalTally: Sendable, Equatable {
    public private(set) var total = 0
    public private(set) var byPeer: [PeerID: Int] = [:]
    public let maxPeers: Int

    public init(maxPeers: Int = 1024) { self.maxPeers = maxPeers }

    /// Records one refusal of `peer` (nil: not attributable to a peer); returns the total, which
    /// callers use to log the 1st, 2nd, 4th… refusal only.
    @discardableResult
    public mutating func record(_ peer: PeerID?) -> Int {
        total += 1
        if let peer, byPeer[peer] != nil || byPeer.count < maxPeers { byPeer[peer, default: 0] += 1 }
        return total
    }

    /// Whether the `count`-th refusal should be logged (powers of two: a flood costs log2(n) lines).
    public static func shouldLog(_ count: Int) -> Bool { count > 0 && count & (count - 1) == 0 }

    /// Refusals of `peer`.
    public func count(of peer: PeerID) -> Int { byPeer[peer, default: 0] }
}
