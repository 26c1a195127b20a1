import P2PCrypto

/// Limits of one iterative lookup (go-libp2p-kad-dht defaults).
public struct LookupConfig: Sendable, Equatable {
    /// Concurrent requests: the most peers `.waiting` at once (go-libp2p-kad-dht default 10).
    /// Values below 1 count as 1.
    public var alpha = 10
    /// Resiliency: the lookup ends when the beta closest non-failed peers have all answered.
    /// Values below 1 count as 1.
    public var beta = 3
    /// Result size: `result` is the k closest peers that answered.
    public var k = 20
    /// Seconds a request may stay unanswered before `expire` marks its peer unreachable.
    public var requestTimeout: Double = 10
    /// Closer peers taken from one answer: bounds the work and memory one answer can cause
    /// (hostile peers send 10,000). Entries past this many are ignored unread.
    public var maxPeersPerResponse = 20
    /// Bound on peers tracked by one lookup (all states). Past it, a newly heard peer replaces the
    /// farthest peer not yet asked when it is closer, and is dropped otherwise. Values below 1
    /// count as 1.
    public var maxKnownPeers = 2_000
    /// go's runLookupWithFollowup: once the lookup completes (beta condition), the peers among the
    /// k closest not unreachable that never answered are asked too (their answers add no peers),
    /// and `isFinished` waits for them. Off by default (`isFinished` is then exactly the beta/
    /// starvation/stop condition); turn it on where the k closest must all have been reached
    /// (GetClosestPeers before PUT_VALUE / ADD_PROVIDER, GET_VALUE quorum).
    public var followUp = false
    public init() {}
}

/// The iterative Kademlia lookup as a pure state machine (go-libp2p-kad-dht's query.go over
/// qpeerset): every known peer is `.heard`, `.waiting` (asked), `.queried` (answered) or
/// `.unreachable` (failed or timed out). The lookup asks the closest heard peers, at most `alpha`
/// at a time, and ends when the `beta` closest peers that did not fail have all answered
/// (completed), when nobody is left to ask and nothing is pending (starved), or on `stop()`.
///
/// No I/O and no clock: the driver calls `next(now:)` and sends a FIND_NODE (or GET_VALUE, …) to
/// each returned peer, reports every answer with `succeeded` or `failed`, calls `expire(now:)` at
/// `nextDeadline`, and loops until `isFinished`; then it cancels the requests still waiting and
/// reads `closestQueried(k)`.
///
/// ```swift
/// var lookup = Lookup(target: key, seeds: table.nearest(to: key, count: 20), now: clock.now)
/// while !lookup.isFinished {
///     for peer in lookup.next(now: clock.now) { send(peer) }
///     switch await answerOrDeadline(lookup.nextDeadline) {
///     case .answer(let peer, let closer): lookup.succeeded(peer, closer: closer, now: clock.now)
///     case .error(let peer): lookup.failed(peer, now: clock.now)
///     case .deadline: _ = lookup.expire(now: clock.now)
///     }
/// }
/// ```
///
/// Termination is sticky (as go's): once finished, `next` hands out nothing and answers still
/// arriving mark their peer `.queried` but add no peers. Orderings are deterministic: by XOR
/// distance to the target, ties (a SHA-256 collision) by peer ID bytes.
///
/// The beta condition ends the lookup while some of the k closest candidates may not have
/// answered yet: `closestCandidates(k)` is go's result then; with `LookupConfig.followUp` the
/// lookup asks them too before finishing (go's runLookupWithFollowup), and `closestQueried(k)`
/// is the k closest peers that were reached.
public struct Lookup: Sendable {
    public enum PeerState: Sendable, Hashable {
        /// Known, not asked yet.
        case heard
        /// Asked; no answer yet.
        case waiting
        /// Answered.
        case queried
        /// The request failed or timed out.
        case unreachable
    }

    /// Why a lookup finished.
    public enum Termination: Sendable, Equatable {
        /// The `beta` closest peers not unreachable all answered.
        case completed
        /// Nobody left to ask and no request pending, without completing.
        case starved
        /// `stop()` was called.
        case stopped
    }

    struct Record: Sendable {
        var state: PeerState
        let hop: Int
        let referrer: PeerID?
        let distance: KeyWords
        /// When a `.waiting` request times out.
        var deadline: Double?
    }

    struct Slot: Sendable {
        let distance: KeyWords
        let peer: PeerID

        func precedes(_ other: Slot) -> Bool {
            distance != other.distance ? distance < other.distance : PeerID.bytesPrecede(peer, other.peer)
        }
    }

    /// The key looked up.
    public let target: KadKey
    /// The peer running the lookup, never added (nil: the driver filters it out itself).
    public let local: PeerID?
    public let config: LookupConfig
    /// When the lookup started.
    public let startedAt: Double
    /// Requests handed out by `next` so far.
    public private(set) var requestsSent = 0
    /// Why the lookup finished; nil while it runs.
    public private(set) var termination: Termination?

    private let targetWords: KeyWords
    private let alpha: Int
    private let beta: Int
    private let maxKnownPeers: Int
    private var records: [PeerID: Record] = [:]
    /// Every tracked peer, closest to the target first.
    private var order: [Slot] = []
    /// Peers `.waiting` (at most alpha).
    private var waiting: Set<PeerID> = []
    private var heardCount = 0
    /// During the follow-up phase: the peers it asks (at most k), and how the main phase ended.
    private var followUpPeers: Set<PeerID>?
    private var mainOutcome: Termination = .completed

    /// Starts a lookup of `target` from `seeds` (usually the routing table's nearest peers; they
    /// are hop 1). Duplicate seeds are ignored; with no seeds the lookup is finished (starved) at once.
    public init(target: KadKey, seeds: [PeerID], config: LookupConfig = LookupConfig(), now: Double) {
        self.init(target: target, seeds: seeds, local: nil, config: config, now: now)
    }

    /// As `init(target:seeds:config:now:)`, also skipping `local` (ourselves) wherever it appears
    /// among the seeds or in answers.
    public init(target: KadKey, seeds: [PeerID], local: PeerID?, config: LookupConfig = LookupConfig(), now: Double) {
        self.target = target
        self.local = local
        self.config = config
        self.startedAt = now
        self.targetWords = KeyWords(target)
        self.alpha = max(1, config.alpha)
        self.beta = max(1, config.beta)
        self.maxKnownPeers = max(1, config.maxKnownPeers)
        for seed in seeds where seed != local {
            insertHeard(seed, hop: 1, referrer: nil)
        }
        checkTermination()
    }

    // MARK: - Driving

    /// Peers to send a request to now (closest heard first, so that at most alpha are waiting);
    /// they become `.waiting`, timing out at `now + requestTimeout`. Empty once finished.
    public mutating func next(now: Double) -> [PeerID] {
        checkTermination()
        guard termination == nil else { return [] }
        var slots = alpha - waiting.count
        guard slots > 0, heardCount > 0 else { return [] }
        var out: [PeerID] = []
        for slot in order where slots > 0 {
            guard var record = records[slot.peer], record.state == .heard else { continue }
            if let followUpPeers, !followUpPeers.contains(slot.peer) { continue }
            record.state = .waiting
            record.deadline = now + config.requestTimeout
            records[slot.peer] = record
            waiting.insert(slot.peer)
            heardCount -= 1
            slots -= 1
            out.append(slot.peer)
        }
        requestsSent += out.count
        return out
    }

    /// `peer` answered, naming `closer` peers: only the first `maxPeersPerResponse` entries are
    /// read; ourselves, `peer` itself and peers already known are skipped, the others become
    /// `.heard` with hop `hops(of: peer) + 1`.
    ///
    /// Accepted from a `.waiting` peer, and late from an `.unreachable` one (it timed out, then
    /// answered after all); ignored from a peer never asked (unknown or `.heard`) or one that
    /// already answered. After termination the peer is marked `.queried` but `closer` is ignored.
    public mutating func succeeded(_ peer: PeerID, closer: [PeerID], now: Double) {
        guard var record = records[peer], record.state == .waiting || record.state == .unreachable else { return }
        record.state = .queried
        record.deadline = nil
        records[peer] = record
        waiting.remove(peer)
        guard termination == nil, followUpPeers == nil else {
            checkTermination()
            return
        }
        for next in closer.prefix(max(0, config.maxPeersPerResponse)) where next != peer && next != local {
            insertHeard(next, hop: record.hop + 1, referrer: peer)
        }
        checkTermination()
    }

    /// The request to `peer` failed (dial error, stream reset, malformed answer): it becomes
    /// `.unreachable` and is not asked again. A `.heard` peer may be failed without a request (the
    /// driver knows it cannot be dialled). Ignored for unknown peers and peers that answered.
    public mutating func failed(_ peer: PeerID, now: Double) {
        guard var record = records[peer], record.state == .waiting || record.state == .heard else { return }
        if record.state == .heard { heardCount -= 1 }
        record.state = .unreachable
        record.deadline = nil
        records[peer] = record
        waiting.remove(peer)
        checkTermination()
    }

    /// Waiting peers past requestTimeout (deadline ≤ `now`) become `.unreachable`; returns them,
    /// closest first (the driver cancels their requests).
    public mutating func expire(now: Double) -> [PeerID] {
        var expired: [Slot] = []
        for peer in waiting {
            guard var record = records[peer], let deadline = record.deadline, deadline <= now else { continue }
            record.state = .unreachable
            record.deadline = nil
            records[peer] = record
            expired.append(Slot(distance: record.distance, peer: peer))
        }
        guard !expired.isEmpty else { return [] }
        for slot in expired { waiting.remove(slot.peer) }
        checkTermination()
        return expired.sorted { $0.precedes($1) }.map(\.peer)
    }

    /// The earliest time a waiting request times out (nil when none waits): the driver sleeps until then or an answer.
    public var nextDeadline: Double? {
        waiting.compactMap { records[$0]?.deadline }.min()
    }

    /// True when the beta closest peers not .unreachable are all .queried, or nothing is .heard
    /// and nothing .waiting, or stop() was called (with `followUp`: and the follow-up is over).
    /// Sticky: see `termination`.
    public var isFinished: Bool { termination != nil }

    /// True between the completion of the main phase and the end of the follow-up (`followUp`).
    public var isFollowingUp: Bool { termination == nil && followUpPeers != nil }

    /// Ends the lookup now (the caller found what it wanted); `termination` becomes `.stopped`.
    public mutating func stop() {
        if termination == nil { termination = .stopped }
    }

    // MARK: - Reading

    /// The n closest peers that answered, closest first (the lookup's result).
    public func closestQueried(_ n: Int) -> [PeerID] {
        closest(n, in: [.queried])
    }

    /// `closestQueried(config.k)`.
    public var result: [PeerID] { closestQueried(config.k) }

    /// The n closest peers not `.unreachable`, closest first: go's lookup result (`lookupRes.peers`:
    /// the best candidates, answered or not).
    public func closestCandidates(_ n: Int) -> [PeerID] {
        closest(n, in: [.heard, .waiting, .queried])
    }

    /// The n closest tracked peers in any of `states`, closest first (go: GetClosestNInStates).
    public func closest(_ n: Int, in states: Set<PeerState>) -> [PeerID] {
        guard n > 0 else { return [] }
        var out: [PeerID] = []
        for slot in order {
            guard let state = records[slot.peer]?.state, states.contains(state) else { continue }
            out.append(slot.peer)
            if out.count == n { break }
        }
        return out
    }

    public func state(of peer: PeerID) -> PeerState? { records[peer]?.state }

    /// Hop count: seeds are hop 1; a peer first heard from P has hop(P)+1.
    public func hops(of peer: PeerID) -> Int? { records[peer]?.hop }

    /// The peer whose answer first named `peer` (nil for seeds and unknown peers).
    public func referrer(of peer: PeerID) -> PeerID? { records[peer]?.referrer }

    /// Peers tracked (every state); at most `maxKnownPeers`.
    public var knownPeerCount: Int { records.count }

    /// Requests awaiting an answer (at most alpha).
    public var waitingCount: Int { waiting.count }

    // MARK: - Internals

    private mutating func insertHeard(_ peer: PeerID, hop: Int, referrer: PeerID?) {
        guard records[peer] == nil else { return }
        let slot = Slot(distance: KeyWords(KadKey(peer: peer)).distance(to: targetWords), peer: peer)
        if records.count >= maxKnownPeers {
            // Make room by forgetting the farthest peer not asked yet, if the new one is closer.
            guard let victim = order.lastIndex(where: { records[$0.peer]?.state == .heard }),
                slot.precedes(order[victim])
            else { return }
            records[order[victim].peer] = nil
            order.remove(at: victim)
            heardCount -= 1
        }
        // Binary search for the insertion point.
        var low = 0
        var high = order.count
        while low < high {
            let mid = (low + high) / 2
            if order[mid].precedes(slot) { low = mid + 1 } else { high = mid }
        }
        order.insert(slot, at: low)
        records[peer] = Record(state: .heard, hop: hop, referrer: referrer, distance: slot.distance, deadline: nil)
        heardCount += 1
    }

    /// Latches `termination` when an end condition holds (go's isLookupTermination, then
    /// isStarvationTermination), or starts the follow-up phase.
    private mutating func checkTermination() {
        guard termination == nil else { return }
        if let followUpPeers {
            let pending = followUpPeers.contains { peer in
                let state = records[peer]?.state
                return state == .heard || state == .waiting
            }
            if !pending { termination = mainOutcome }
            return
        }
        var seen = 0
        var allQueried = true
        for slot in order where seen < beta {
            guard let state = records[slot.peer]?.state, state != .unreachable else { continue }
            seen += 1
            if state != .queried {
                allQueried = false
                break
            }
        }
        let outcome: Termination
        if seen > 0 && allQueried {
            outcome = .completed
        } else if heardCount == 0 && waiting.isEmpty {
            outcome = .starved
        } else {
            return
        }
        if config.followUp && outcome == .completed {
            let unasked = closestCandidates(config.k).filter { records[$0]?.state != .queried }
            if !unasked.isEmpty {
                followUpPeers = Set(unasked)
                mainOutcome = outcome
                return
            }
        }
        termination = outcome
    }
}
