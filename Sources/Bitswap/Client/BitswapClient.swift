import BlockStore
import IPLD
import Logging
import Multiformats
import P2PCore
import P2PCrypto

/// The requesting side: routes received blocks and presences to the sessions that want them,
/// after hashing every block (`BlockVerifier`: multi-buffer batches across messages, on all cores,
/// off the concurrency pool).
final class BitswapClient: @unchecked Sendable {
    private let network: BitswapNetwork
    private let ledgers: Ledgers
    private let logger: Logger
    private let lock = Mutex()
    /// The CID (as first asked) and the sessions interested, for each wanted multihash.
    private var interest: [Multihash: (cid: CID, sessions: [Int])] = [:]
    private var sessions: [Int: FetchSession] = [:]
    /// Blocks we had wanted lately (late duplicates of these are not an offence).
    private var recent = RecentSet(capacity: 65_536)
    /// Peers that sent bad blocks, and until when their blocks are ignored.
    private var offenders: [PeerID: ContinuousClock.Instant] = [:]
    /// How long blocks from a peer that sent a bad one are ignored.
    static let offenderQuarantine: Duration = .seconds(600)
    /// Bytes of received, not yet verified blocks.
    private let verifyBudget = AsyncBudget(capacity: 32 << 20)
    /// Hashes received blocks, batching those of concurrent messages.
    private let verifier = BlockVerifier()
    /// Told about every batch of blocks a fetch stored.
    private let onStored: @Sendable ([Block]) -> Void

    init(network: BitswapNetwork, ledgers: Ledgers, logger: Logger, onStored: @escaping @Sendable ([Block]) -> Void = { _ in }) {
        self.network = network
        self.ledgers = ledgers
        self.logger = logger
        self.onStored = onStored
    }

    /// Our own peer ID (content routing lists us when we provide part of a DAG).
    var localPeer: PeerID { network.host.localPeer }

    // MARK: Sessions

    func register(_ session: FetchSession) {
        lock.withLock { sessions[session.id] = session }
    }

    func unregister(_ session: FetchSession) {
        lock.withLock {
            sessions.removeValue(forKey: session.id)
            for (mh, entry) in interest where entry.sessions.contains(session.id) {
                let rest = entry.sessions.filter { $0 != session.id }
                interest[mh] = rest.isEmpty ? nil : (entry.cid, rest)
                recent.insert(mh)
            }
        }
    }

    func registerInterest(_ cids: [CID], session: FetchSession) {
        lock.withLock {
            for cid in cids {
                var entry = interest[cid.multihash] ?? (cid, [])
                if !entry.sessions.contains(session.id) { entry.sessions.append(session.id) }
                interest[cid.multihash] = entry
            }
        }
    }

    func unregisterInterest(_ multihashes: [Multihash], session: FetchSession) {
        lock.withLock {
            for mh in multihashes {
                guard let entry = interest[mh] else { continue }
                let rest = entry.sessions.filter { $0 != session.id }
                interest[mh] = rest.isEmpty ? nil : (entry.cid, rest)
                recent.insert(mh)
            }
        }
    }

    /// Fails every running fetch with `.stopped`.
    func stopAll() async {
        for session in lock.withLock({ Array(sessions.values) }) { await session.stop() }
    }

    /// Every block some session wants.
    func wantlist() -> [CID] { lock.withLock { interest.values.map(\.cid).sorted() } }

    /// Whether `peer` sent a bad block lately (its blocks are ignored until the quarantine ends).
    func isQuarantined(_ peer: PeerID) -> Bool {
        lock.withLock { offenders[peer].map { ContinuousClock.now < $0 } ?? false }
    }

    /// Peers some running fetch has dropped (for the tests).
    func droppedPeers() async -> Set<PeerID> {
        var out: Set<PeerID> = []
        for session in lock.withLock({ Array(sessions.values) }) { out.formUnion(await session.droppedPeers) }
        return out
    }

    func connectedPeers() async -> [PeerID] {
        Array(Set(await network.host.connections().map(\.remotePeer)))
    }

    func peerConnected(_ peer: PeerID) {
        for session in lock.withLock({ Array(sessions.values) }) {
            Task { await session.peerConnected(peer) }
        }
    }

    func peerDisconnected(_ peer: PeerID) {
        for session in lock.withLock({ Array(sessions.values) }) {
            Task { await session.peerFailed(peer, reason: "disconnected") }
        }
    }

    /// Blocks a session stored.
    func stored(_ blocks: [Block]) { onStored(blocks) }

    /// Sends in the background; a failure drops the peer from `session`.
    func send(_ message: BitswapMessage, to peer: PeerID, session: FetchSession?) {
        Task {
            do {
                try await network.send(message, to: peer)
            } catch {
                await session?.peerFailed(peer, reason: "\(error)")
            }
        }
    }

    // MARK: Received messages

    /// Handles the blocks and presences of a message. Returns once the blocks are queued for
    /// hashing (so the stream reader can go on), waiting while too many bytes are unverified.
    func received(_ message: BitswapMessage, from peer: PeerID) async {
        ledgers.recordMessage()
        if !message.presences.isEmpty {
            let targets: [(BlockPresence, [FetchSession])] = lock.withLock {
                message.presences.map { p in (p, (interest[p.cid.multihash]?.sessions ?? []).compactMap { sessions[$0] }) }
            }
            for (presence, list) in targets {
                for session in list { await session.presence(presence, from: peer) }
            }
        }
        guard !message.blocks.isEmpty else { return }
        // Hashing is the expensive part: blocks nobody can want (no fetch runs) and blocks from
        // a peer caught sending bad ones lately are counted and dropped unhashed.
        let (idle, banned): (Bool, Bool) = lock.withLock {
            (sessions.isEmpty, offenders[peer].map { ContinuousClock.now < $0 } ?? false)
        }
        if idle || banned {
            for block in message.blocks {
                ledgers.recordReceived(from: peer, bytes: block.data.count, duplicate: true)
            }
            return
        }
        // Each block costs at least 64 bytes of the budget, so a peer sending empty blocks
        // cannot start unboundedly many verifications.
        let bytes = message.blockBytes + 64 * message.blocks.count
        await verifyBudget.acquire(bytes)
        Task {
            defer { verifyBudget.release(bytes) }
            await process(message.blocks, from: peer)
        }
    }

    private func process(_ blocks: [PrefixedBlock], from peer: PeerID) async {
        let verified = await verifier.verify(blocks)
        for result in verified {
            switch result {
            case .failure(let error):
                await offence(by: peer, reason: "\(error)")
            case .success(let block):
                let (targets, wasRecent): ([FetchSession], Bool) = lock.withLock {
                    ((interest[block.cid.multihash]?.sessions ?? []).compactMap { sessions[$0] }, recent.contains(block.cid.multihash))
                }
                if targets.isEmpty {
                    ledgers.recordReceived(from: peer, bytes: block.data.count, duplicate: true)
                    if !wasRecent {
                        await offence(by: peer, reason: "sent block \(block.cid) that nobody asked for (corrupt or unrequested data)")
                    }
                    continue
                }
                ledgers.recordReceived(from: peer, bytes: block.data.count, duplicate: false)
                for session in targets { await session.deliver(block, from: peer) }
            }
        }
    }

    /// Drops `peer` from every running fetch.
    func offence(by peer: PeerID, reason: String) async {
        ledgers.recordBadBlock()
        lock.withLock {
            if offenders.count >= 4096 { offenders = offenders.filter { ContinuousClock.now < $0.value } }
            offenders[peer] = ContinuousClock.now + Self.offenderQuarantine
        }
        logger.warning("bitswap: bad block from \(peer): \(reason)")
        for session in lock.withLock({ Array(sessions.values) }) {
            await session.badBlock(from: peer, reason: reason)
        }
    }
}

/// A bounded set that forgets its oldest members.
struct RecentSet {
    let capacity: Int
    private var members: Set<Multihash> = []
    private var order: [Multihash] = []
    private var head = 0

    init(capacity: Int) { self.capacity = capacity }

    func contains(_ mh: Multihash) -> Bool { members.contains(mh) }

    mutating func insert(_ mh: Multihash) {
        guard members.insert(mh).inserted else { return }
        order.append(mh)
        if members.count > capacity {
            members.remove(order[head])
            head += 1
            if head > capacity {
                order.removeFirst(head)
                head = 0
            }
        }
    }
}
