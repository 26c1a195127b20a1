import Multiformats
import P2PCore
import P2PCrypto

/// The server's pure bookkeeping: what each peer wants and what is ready to be served. No I/O;
/// `BitswapServer` looks the blocks up and sends.
///
/// Entries are served by priority (highest first), then in arrival order. An entry we cannot
/// serve yet (block absent, no DONT_HAVE asked) waits until `blocksAdded` names its block.
struct DecisionEngine {
    struct Want {
        var entry: WantlistEntry
        var seq: UInt64
        /// Taken by a batch being served.
        var inProgress = false
        /// Waiting for the block to arrive in our store.
        var waiting = false
    }

    struct PeerWants {
        var wants: [CID: Want] = [:]
        var supportsPresence = true
        /// Whether the peer's protocol carries block prefixes (1.1.0+); 1.0.0 peers can only be
        /// sent blocks that CIDv0 names.
        var usesPayload = true
    }

    /// Wants kept per peer; more are ignored (as Go's `MaxQueuedWantlistEntriesPerPeer`).
    let maxWantsPerPeer: Int
    /// Wants kept for all peers together (0: no bound); more are ignored.
    let maxWants: Int
    private(set) var peers: [PeerID: PeerWants] = [:]
    /// Wants kept, all peers together.
    private(set) var totalWants = 0
    /// Entries ignored for the per-peer bound, and for the total bound.
    private(set) var peerRefusals = RefusalTally()
    private(set) var systemRefusals = RefusalTally()
    private var seq: UInt64 = 0

    init(maxWantsPerPeer: Int = 4096, maxWants: Int = 0) {
        self.maxWantsPerPeer = maxWantsPerPeer
        self.maxWants = maxWants
    }

    /// Replaces `peer`'s state (nil: forget it), keeping `totalWants` in step.
    private mutating func set(_ peer: PeerID, _ state: PeerWants?) {
        totalWants += (state?.wants.count ?? 0) - (peers[peer]?.wants.count ?? 0)
        peers[peer] = state
    }

    /// The resource name in reports.
    static let resource = "WantlistEntries"

    /// Wants kept against the bounds, for the node and per peer (peers with wants or refusals).
    var resourceReport: ResourceReport {
        var report = ResourceReport()
        report.system[Self.resource] = ResourceUse(used: totalWants, limit: maxWants, refused: systemRefusals.total)
        for peer in Set(peers.keys).union(peerRefusals.byPeer.keys).union(systemRefusals.byPeer.keys) {
            report.peers[peer] = [Self.resource: ResourceUse(
                used: peers[peer]?.wants.count ?? 0, limit: maxWantsPerPeer,
                refused: peerRefusals.count(of: peer) + systemRefusals.count(of: peer))]
        }
        return report
    }

    /// Applies a received wantlist. Returns how many entries were dropped for the per-peer limit.
    @discardableResult
    mutating func receive(
        _ entries: [WantlistEntry], full: Bool, from peer: PeerID, supportsPresence: Bool, usesPayload: Bool = true
    ) -> Int {
        var state = peers[peer] ?? PeerWants()
        state.supportsPresence = supportsPresence
        state.usesPayload = usesPayload
        if full {
            state.wants = state.wants.filter { $0.value.inProgress }
        }
        var dropped = 0
        let others = totalWants - (peers[peer]?.wants.count ?? 0)
        for var entry in entries {
            if entry.cancel {
                state.wants.removeValue(forKey: entry.cid)
                continue
            }
            if !supportsPresence {
                entry.wantType = .block
                entry.sendDontHave = false
            }
            if var existing = state.wants[entry.cid] {
                // A want-block upgrades a want-have; a repeated want re-arms a waiting entry.
                if existing.entry.wantType == .have || entry.wantType == .block {
                    existing.entry.wantType = entry.wantType
                }
                existing.entry.priority = entry.priority
                existing.entry.sendDontHave = entry.sendDontHave
                // Asked again: answer again (a DONT_HAVE, or the block if it arrived meanwhile).
                existing.waiting = false
                state.wants[entry.cid] = existing
                continue
            }
            guard state.wants.count < maxWantsPerPeer else {
                peerRefusals.record(peer)
                dropped += 1
                continue
            }
            guard maxWants <= 0 || others + state.wants.count < maxWants else {
                systemRefusals.record(peer)
                dropped += 1
                continue
            }
            seq += 1
            state.wants[entry.cid] = Want(entry: entry, seq: seq)
        }
        set(peer, state)
        return dropped
    }

    /// Whether `peer` can be sent blocks only as bare CIDv0 bytes (bitswap 1.0.0).
    func needsBareBlocks(_ peer: PeerID) -> Bool { !(peers[peer]?.usesPayload ?? true) }

    /// Whether `peer` has entries ready to serve.
    func hasReadyWork(_ peer: PeerID) -> Bool {
        peers[peer]?.wants.values.contains { !$0.inProgress && !$0.waiting } ?? false
    }

    /// Takes up to `max` ready entries of `peer`, best first, and marks them in progress.
    mutating func nextBatch(for peer: PeerID, max: Int) -> [WantlistEntry] {
        guard var state = peers[peer] else { return [] }
        let ready = state.wants.values.filter { !$0.inProgress && !$0.waiting }
            .sorted { $0.entry.priority != $1.entry.priority ? $0.entry.priority > $1.entry.priority : $0.seq < $1.seq }
            .prefix(max)
        for want in ready { state.wants[want.entry.cid]?.inProgress = true }
        set(peer, state)
        return ready.map(\.entry)
    }

    /// Which of `cids` `peer` still wants (a cancel removes a want, even one whose batch is
    /// being built).
    func stillWanted(_ cids: [CID], by peer: PeerID) -> Set<CID> {
        guard let state = peers[peer] else { return [] }
        return Set(cids.filter { state.wants[$0] != nil })
    }

    /// Reports how a batch went: `served` entries are done, `waiting` ones wait for their block,
    /// `requeue` ones (did not fit the message) are ready again.
    mutating func complete(peer: PeerID, served: [CID], waiting: [CID], requeue: [CID]) {
        guard var state = peers[peer] else { return }
        for cid in served { state.wants.removeValue(forKey: cid) }
        for cid in waiting where state.wants[cid] != nil {
            state.wants[cid]?.inProgress = false
            state.wants[cid]?.waiting = true
        }
        for cid in requeue where state.wants[cid] != nil { state.wants[cid]?.inProgress = false }
        set(peer, state.wants.isEmpty ? nil : state)
    }

    /// New blocks arrived in the store: entries waiting for them become ready. Returns the peers
    /// that now have work.
    mutating func blocksAdded(_ multihashes: Set<Multihash>) -> [PeerID] {
        var woken: [PeerID] = []
        for (peer, var state) in peers {
            var changed = false
            for (cid, want) in state.wants where want.waiting && multihashes.contains(cid.multihash) {
                state.wants[cid]?.waiting = false
                changed = true
            }
            if changed {
                set(peer, state)
                woken.append(peer)
            }
        }
        return woken
    }

    /// The entries `peer` wants, best first.
    func wantlist(of peer: PeerID) -> [WantlistEntry] {
        guard let state = peers[peer] else { return [] }
        return state.wants.values
            .sorted { $0.entry.priority != $1.entry.priority ? $0.entry.priority > $1.entry.priority : $0.seq < $1.seq }
            .map(\.entry)
    }

    mutating func removePeer(_ peer: PeerID) {
        set(peer, nil)
    }
}
