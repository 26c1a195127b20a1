import P2PCore
import P2PCrypto

/// The connection manager's pure policy: which peers to disconnect when there are too many
/// connections. No I/O; time is a parameter.
public struct ConnectionManager: Sendable {
    /// One peer's connections as the policy sees them.
    public struct Candidate: Sendable, Equatable {
        public let peer: PeerID
        /// Connections to the peer.
        public let connections: Int
        /// When the newest connection to the peer opened (seconds since 1970).
        public let newestOpenedAt: Double
        /// Inbound streams being handled now.
        public let activeStreams: Int
        public init(peer: PeerID, connections: Int, newestOpenedAt: Double, activeStreams: Int) {
            self.peer = peer
            self.connections = connections
            self.newestOpenedAt = newestOpenedAt
            self.activeStreams = activeStreams
        }
    }

    public let lowWater: Int
    public let highWater: Int
    /// Seconds during which a new connection is kept whatever the count.
    public let gracePeriod: Double
    private var protections: [PeerID: Set<String>] = [:]

    public init(lowWater: Int, highWater: Int, gracePeriod: Double) {
        self.lowWater = max(0, lowWater)
        self.highWater = max(self.lowWater, highWater)
        self.gracePeriod = gracePeriod
    }

    /// Protects `peer` from trimming under `tag` (several tags may protect one peer).
    public mutating func protect(_ peer: PeerID, tag: String) {
        protections[peer, default: []].insert(tag)
    }

    /// Removes one protection; returns whether the peer is still protected.
    @discardableResult
    public mutating func unprotect(_ peer: PeerID, tag: String) -> Bool {
        protections[peer]?.remove(tag)
        if protections[peer]?.isEmpty ?? false { protections[peer] = nil }
        return protections[peer] != nil
    }

    public func isProtected(_ peer: PeerID) -> Bool { protections[peer] != nil }

    /// Peers to disconnect: nothing unless the connection count is above `highWater`; then, down to
    /// `lowWater`, unprotected peers outside the grace period, idlest (fewest active streams) and
    /// then oldest first.
    public func peersToTrim(_ candidates: [Candidate], now: Double) -> [PeerID] {
        let total = candidates.reduce(0) { $0 + $1.connections }
        guard total > highWater else { return [] }
        let trimmable = candidates
            .filter { !isProtected($0.peer) && now - $0.newestOpenedAt >= gracePeriod }
            .sorted {
                if $0.activeStreams != $1.activeStreams { return $0.activeStreams < $1.activeStreams }
                return $0.newestOpenedAt < $1.newestOpenedAt
            }
        var remaining = total
        var result: [PeerID] = []
        for c in trimmable where remaining > lowWater {
            result.append(c.peer)
            remaining -= c.connections
        }
        return result
    }
}
