import Multiformats
import P2PCore
import P2PCrypto

/// The pure core of a fetch session: which blocks are still wanted, which peer each was asked of,
/// and which to ask next. No I/O; time is passed in (seconds on any monotonic clock).
///
/// Policy: every wanted block is asked of one peer at a time with want-block (+ sendDontHave for
/// 1.2.0 peers), giving each peer at most `window` blocks in flight and choosing the peer with
/// the most free window (ties: round-robin), so several providers share the work. A DONT_HAVE or a
/// dropped peer puts the block back in the queue for another peer; when every peer has said
/// DONT_HAVE the block waits `retryDelay` and everyone is asked again. A peer that answers
/// nothing for `requestTimeout` while it has requests open has them re-asked elsewhere; after
/// `maxTimeouts` such strikes in a row it is dropped.
struct SessionPlanner {
    struct Config: Sendable {
        var window = 32
        var requestTimeout = 10.0
        var retryDelay = 1.0
        var maxTimeouts = 3
        /// A peer is given new requests only once at least this many window slots are free (or
        /// the queue holds fewer), so wants travel in batches rather than one per message.
        var minBatch = 1
        /// When the first block (the root) is asked of one peer, ask every other peer whether it
        /// has it (want-have), to learn early who holds the DAG.
        var broadcastFirstWant = false
        /// DONT_HAVEs in a row after which a peer is asked only when no better peer has room.
        var refusalsBeforeDemotion = 3
        /// Seconds without a new block after which dropped peers still connected are asked again.
        var stallReadmit = 20.0
    }

    struct PeerState {
        var inflight: [Multihash: Double] = [:]
        var blocks = 0
        var bytes = 0
        var dontHaves = 0
        /// DONT_HAVEs since the last block or HAVE: peers that keep refusing are asked last.
        var refusalsInARow = 0
        var strikes = 0
        var lastHeard: Double
        var dropped: String?
        var supportsPresence = true
        /// Round-robin position: the peer given a want last goes to the back (ties are broken by it).
        var order: Int
    }

    struct Want {
        var cid: CID
        var priority: Int32
        /// Peers currently asked.
        var askedOf: Set<PeerID> = []
        /// Peers that said DONT_HAVE (or were dropped) since the last retry.
        var refusedBy: Set<PeerID> = []
        var retryAt: Double = 0
        var queued = false
        /// Every peer ever sent a want for it (block or have): servers keep wants, even refused
        /// ones, until cancelled, so these all get the cancel.
        var notified: Set<PeerID> = []
        /// Peers that answered HAVE: asked first when the want is (re)assigned.
        var haves: Set<PeerID> = []
    }

    let config: Config
    private(set) var peers: [PeerID: PeerState] = [:]
    private(set) var wants: [Multihash: Want] = [:]
    /// Wanted blocks not currently asked of anyone, in discovery order.
    private var queue: [Multihash] = []
    private var queueHead = 0
    private var nextPriority: Int32 = Int32.max
    private var peerCounter = 0
    private var broadcastDone = false

    init(config: Config = Config()) {
        self.config = config
    }

    var isComplete: Bool { wants.isEmpty }
    var activePeers: [PeerID] { peers.filter { $0.value.dropped == nil }.map(\.key) }
    var wantedCIDs: [CID] { wants.values.map(\.cid) }

    /// Adds a peer to ask (no-op if known; a dropped peer stays dropped).
    mutating func addPeer(_ peer: PeerID, supportsPresence: Bool = true, now: Double) {
        guard peers[peer] == nil else { return }
        peerCounter += 1
        peers[peer] = PeerState(lastHeard: now, supportsPresence: supportsPresence, order: peerCounter)
    }

    mutating func setSupportsPresence(_ peer: PeerID, _ value: Bool) {
        peers[peer]?.supportsPresence = value
    }

    /// Adds blocks to fetch (already known to be missing locally).
    ///
    /// They go ahead of the wants already queued, in their own order: the DAG is fetched depth
    /// first (the children of the latest block before its uncles), so the queue holds about one
    /// block's links per level instead of a whole level of a large DAG.
    mutating func want(_ cids: [CID]) {
        var added: [Multihash] = []
        for cid in cids where wants[cid.multihash] == nil {
            wants[cid.multihash] = Want(cid: cid, priority: 0, queued: true)
            added.append(cid.multihash)
        }
        queue.insert(contentsOf: added, at: queueHead)
    }

    /// A verified block arrived. Returns the wanted CID and the other peers it was asked of (to
    /// cancel), or nil when this session did not want it (a duplicate).
    mutating func blockReceived(_ multihash: Multihash, bytes: Int, from peer: PeerID, now: Double)
        -> (cid: CID, cancelAt: [PeerID])?
    {
        if var state = peers[peer] {
            state.inflight.removeValue(forKey: multihash)
            state.lastHeard = now
            state.strikes = 0
            state.refusalsInARow = 0
            peers[peer] = state
        }
        guard let want = wants.removeValue(forKey: multihash) else { return nil }
        peers[peer]?.blocks += 1
        peers[peer]?.bytes += bytes
        // Cancel wherever it was asked: open requests, and refusals (servers keep refused wants
        // in their ledger until cancelled).
        var others: [PeerID] = []
        for asked in want.askedOf where asked != peer {
            peers[asked]?.inflight.removeValue(forKey: multihash)
        }
        for notified in want.notified.union(want.refusedBy) where notified != peer && peers[notified]?.dropped == nil {
            others.append(notified)
        }
        return (want.cid, others)
    }

    /// A HAVE or DONT_HAVE arrived.
    mutating func presence(_ multihash: Multihash, kind: BlockPresence.Kind, from peer: PeerID, now: Double) {
        peers[peer]?.lastHeard = now
        if kind == .have {
            peers[peer]?.refusalsInARow = 0
            wants[multihash]?.haves.insert(peer)
        }
        guard kind == .dontHave, var want = wants[multihash] else { return }
        peers[peer]?.inflight.removeValue(forKey: multihash)
        peers[peer]?.dontHaves += 1
        peers[peer]?.refusalsInARow += 1
        want.askedOf.remove(peer)
        want.refusedBy.insert(peer)
        wants[multihash] = want
        requeueIfIdle(multihash)
    }

    /// Content routing says `peer` provides `multihash` (the root): the peer joins, counts as having
    /// said HAVE, and when the want is already out to other peers it is asked of this one too
    /// (the others may be silent for `requestTimeout`). Returns the entries to send it.
    mutating func providerFound(_ peer: PeerID, for multihash: Multihash, now: Double) -> [WantlistEntry] {
        addPeer(peer, now: now)
        guard peers[peer]?.dropped == nil, var want = wants[multihash] else { return [] }
        want.haves.insert(peer)
        defer { wants[multihash] = want }
        guard !want.queued, !want.askedOf.contains(peer), (peers[peer]?.inflight.count ?? 0) < config.window else { return [] }
        want.askedOf.insert(peer)
        want.notified.insert(peer)
        peers[peer]?.inflight[multihash] = now
        return [WantlistEntry(cid: want.cid, priority: want.priority, wantType: .block, sendDontHave: peers[peer]?.supportsPresence ?? true)]
    }

    /// Stops asking `peer`; its open requests go back to the queue. Returns them.
    @discardableResult
    mutating func dropPeer(_ peer: PeerID, reason: String) -> [Multihash] {
        guard var state = peers[peer], state.dropped == nil else { return [] }
        state.dropped = reason
        let open = Array(state.inflight.keys)
        state.inflight.removeAll()
        peers[peer] = state
        for mh in open {
            wants[mh]?.askedOf.remove(peer)
            requeueIfIdle(mh)
        }
        return open
    }

    /// Asks `peer` again after it was dropped for staying silent or for losing its connection
    /// (it came back, or the session has stalled without it): its strikes and refusals are
    /// forgotten. Returns false when the peer is unknown or was not dropped.
    @discardableResult
    mutating func readmitPeer(_ peer: PeerID, now: Double) -> Bool {
        guard var state = peers[peer], state.dropped != nil else { return false }
        state.dropped = nil
        state.strikes = 0
        state.refusalsInARow = 0
        state.lastHeard = now
        peers[peer] = state
        return true
    }

    /// Peers currently dropped.
    var droppedPeers: [PeerID] { peers.filter { $0.value.dropped != nil }.map(\.key) }

    /// Re-asks requests of silent peers and drops peers that stay silent. Returns dropped peers.
    mutating func checkTimeouts(now: Double) -> [PeerID] {
        var dropped: [PeerID] = []
        for (peer, state) in peers where state.dropped == nil && !state.inflight.isEmpty {
            let oldest = state.inflight.values.min() ?? now
            guard now - max(oldest, state.lastHeard) >= config.requestTimeout else { continue }
            var s = state
            s.strikes += 1
            s.lastHeard = now
            peers[peer] = s
            if s.strikes >= config.maxTimeouts {
                dropPeer(peer, reason: "no answer to \(s.inflight.count) request(s) for \(Int(config.requestTimeout * Double(s.strikes))) s")
                dropped.append(peer)
                continue
            }
            // Ask someone else: the requests leave the silent peer's window (its answer, should
            // it still come, is taken as a duplicate).
            for mh in s.inflight.keys {
                guard var want = wants[mh] else { continue }
                want.refusedBy.insert(peer)
                wants[mh] = want
                if want.askedOf.count <= 1 && !want.queued {
                    wants[mh]?.queued = true
                    wants[mh]?.askedOf.remove(peer)
                    peers[peer]?.inflight.removeValue(forKey: mh)
                    queue.append(mh)
                }
            }
        }
        return dropped
    }

    /// Assigns queued wants to peers with free window. Returns the wantlist entries to send.
    mutating func plan(now: Double) -> [PeerID: [WantlistEntry]] {
        var out: [PeerID: [WantlistEntry]] = [:]
        var deferred: [Multihash] = []
        let queued = queue.count - queueHead
        let batch = max(1, min(config.minBatch, queued))
        let candidates = peers.filter { $0.value.dropped == nil }.sorted { $0.value.order < $1.value.order }.map(\.key)
        let ready = Set(candidates.filter { config.window - (peers[$0]?.inflight.count ?? 0) >= batch })
        guard !ready.isEmpty else { return [:] }
        var blocked: [Multihash] = []
        let demoted = Set(candidates.filter { (peers[$0]?.refusalsInARow ?? 0) >= config.refusalsBeforeDemotion })
        while queueHead < queue.count {
            var free = 0
            for peer in ready { free += max(0, config.window - (peers[peer]?.inflight.count ?? 0)) }
            if free == 0 { break }
            let mh = queue[queueHead]
            queueHead += 1
            guard var want = wants[mh], want.queued else { continue }
            if want.retryAt > now {
                deferred.append(mh)
                continue
            }
            var eligible = candidates.filter { !want.refusedBy.contains($0) && !want.askedOf.contains($0) }
            if eligible.isEmpty {
                // Everyone refused: start over after a pause.
                want.refusedBy.removeAll()
                want.retryAt = now + config.retryDelay
                wants[mh] = want
                deferred.append(mh)
                continue
            }
            eligible = eligible.filter { ready.contains($0) && (peers[$0]?.inflight.count ?? 0) < config.window }
            guard let best = eligible.min(by: { a, b in
                // A peer that said it has the block goes first (the first want's want-have
                // broadcast tells who holds the DAG), then peers not demoted for refusing.
                let ha = want.haves.contains(a), hb = want.haves.contains(b)
                if ha != hb { return ha }
                let da = demoted.contains(a), db = demoted.contains(b)
                if da != db { return !da }
                let fa = peers[a]?.inflight.count ?? 0, fb = peers[b]?.inflight.count ?? 0
                return fa != fb ? fa < fb : (peers[a]?.order ?? 0) < (peers[b]?.order ?? 0)
            }) else {
                // Only busy peers can serve it: keep it for later, and look a little further
                // ahead for wants that free peers can take.
                blocked.append(mh)
                if blocked.count >= 64 { break }
                continue
            }
            // Priorities fall in the order wants are sent, so a server answers in that order.
            want.priority = nextPriority
            if nextPriority > 1 { nextPriority -= 1 }
            want.queued = false
            want.askedOf.insert(best)
            want.notified.insert(best)
            wants[mh] = want
            peers[best]?.inflight[mh] = now
            // Round-robin among equals: move the chosen peer to the back.
            peerCounter += 1
            peers[best]?.order = peerCounter
            let presence = peers[best]?.supportsPresence ?? true
            out[best, default: []].append(
                WantlistEntry(cid: want.cid, priority: want.priority, wantType: .block, sendDontHave: presence))
            if config.broadcastFirstWant && !broadcastDone {
                broadcastDone = true
                for other in candidates where other != best && (peers[other]?.supportsPresence ?? false) {
                    wants[mh]?.notified.insert(other)
                    out[other, default: []].append(
                        WantlistEntry(cid: want.cid, priority: want.priority, wantType: .have, sendDontHave: true))
                }
            }
        }
        if !blocked.isEmpty {
            // Blocked wants go back to the front, in their order.
            queue = blocked + queue[queueHead...]
            queueHead = 0
        }
        compactQueue()
        queue.append(contentsOf: deferred)
        return out
    }

    /// The soonest time a deferred want becomes askable again (to schedule a wake-up).
    var nextRetry: Double? {
        wants.values.filter { $0.queued && $0.retryAt > 0 }.map(\.retryAt).min()
    }

    private mutating func requeueIfIdle(_ mh: Multihash) {
        guard var want = wants[mh], want.askedOf.isEmpty, !want.queued else { return }
        want.queued = true
        wants[mh] = want
        queue.append(mh)
    }

    private mutating func compactQueue() {
        if queueHead > 1024 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
    }
}
