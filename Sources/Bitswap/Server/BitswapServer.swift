import BlockStore
import IPLD
import Logging
import Multiformats
import P2PCore
import P2PCrypto

/// Answers other peers' wantlists from our block store.
///
/// Each peer with ready wants gets one serving task that sends messages of at most
/// `targetMessageBytes` of blocks, one after another (so a peer's stream stays busy without
/// queuing its whole wantlist in memory); all tasks together hold at most `maxBytesInFlight` of
/// built, unsent messages, which keeps peers fair and memory bounded.
final class BitswapServer: @unchecked Sendable {
    private let store: any BlockStore
    private let network: BitswapNetwork
    private let ledgers: Ledgers
    private let logger: Logger
    private let targetMessageBytes: Int
    private let budget: AsyncBudget
    private let lock = Mutex()
    private var engine: DecisionEngine
    private var active: Set<PeerID> = []
    private var stopped = false

    init(store: any BlockStore, network: BitswapNetwork, ledgers: Ledgers, logger: Logger,
         targetMessageBytes: Int = 2 << 20, maxBytesInFlight: Int = 32 << 20,
         maxWantsPerPeer: Int = 4096, maxWants: Int = 0) {
        self.engine = DecisionEngine(maxWantsPerPeer: maxWantsPerPeer, maxWants: maxWants)
        self.store = store
        self.network = network
        self.ledgers = ledgers
        self.logger = logger
        self.targetMessageBytes = targetMessageBytes
        self.budget = AsyncBudget(capacity: maxBytesInFlight)
    }

    /// Applies the wantlist part of a received message.
    func received(_ message: BitswapMessage, from peer: PeerID, protocolID: ProtocolID) {
        guard !message.wantlist.isEmpty || message.fullWantlist else { return }
        let start: Bool = lock.withLock {
            guard !stopped else { return false }
            let dropped = engine.receive(
                message.wantlist, full: message.fullWantlist, from: peer,
                supportsPresence: BitswapProtocol.supportsPresence(protocolID),
                usesPayload: BitswapProtocol.usesPayload(protocolID))
            if dropped > 0 {
                let refused = engine.peerRefusals.total + engine.systemRefusals.total
                if RefusalTally.shouldLog(refused) || RefusalTally.shouldLog(engine.peerRefusals.count(of: peer) + engine.systemRefusals.count(of: peer)) {
                    logger.warning("bitswap: ignored wantlist entries over the limit", metadata: [
                        "peer": "\(peer)", "ignored": "\(dropped)",
                        "reason": "MaxWantlistEntriesPerPeer \(engine.maxWantsPerPeer), MaxWantlistEntries \(engine.maxWants)",
                    ])
                }
            }
            return activate(peer)
        }
        if start { spawnServer(for: peer) }
    }

    /// Blocks were added to the store (e.g. fetched): serve peers that were waiting for them.
    func blocksAdded(_ cids: [CID]) {
        guard !cids.isEmpty else { return }
        let woken: [PeerID] = lock.withLock {
            guard !stopped, !engine.peers.isEmpty else { return [] }
            return engine.blocksAdded(Set(cids.map(\.multihash))).filter { activate($0) }
        }
        for peer in woken { spawnServer(for: peer) }
    }

    func peerDisconnected(_ peer: PeerID) {
        lock.withLock { engine.removePeer(peer) }
    }

    /// What `peer` wants from us.
    func wantlist(of peer: PeerID) -> [WantlistEntry] {
        lock.withLock { engine.wantlist(of: peer) }
    }

    func stop() {
        lock.withLock {
            stopped = true
            engine = DecisionEngine(maxWantsPerPeer: engine.maxWantsPerPeer, maxWants: engine.maxWants)
        }
    }

    /// Wantlist entries kept against their limits.
    func resourceReport() -> ResourceReport { lock.withLock { engine.resourceReport } }

    /// Marks `peer` active when it has ready work and no serving task; call with the lock held.
    private func activate(_ peer: PeerID) -> Bool {
        guard !active.contains(peer), engine.hasReadyWork(peer) else { return false }
        active.insert(peer)
        return true
    }

    private func spawnServer(for peer: PeerID) {
        Task { await self.serve(peer) }
    }

    /// Sends `peer` messages until its ready wants run out. The next message is read from the
    /// store while the current one is being sent.
    private func serve(_ peer: PeerID) async {
        var next: Task<BuiltMessage?, Never>? = Task { await self.buildNext(for: peer) }
        while let current = next {
            guard let built = await current.value else { return }
            next = Task { await self.buildNext(for: peer) }
            guard !built.message.isEmpty else {
                budget.release(targetMessageBytes)
                continue
            }
            do {
                try await network.send(built.message, to: peer)
                ledgers.recordSent(to: peer, blocks: built.message.blocks.count, bytes: built.message.blockBytes)
                budget.release(targetMessageBytes)
            } catch {
                budget.release(targetMessageBytes)
                logger.debug("bitswap: dropping \(peer)'s wants: \(error)")
                lock.withLock { engine.removePeer(peer) }
                // The peer stays marked active (ours) only while the next build holds a message:
                // one that found nothing ready unmarked it itself, and a wantlist received since
                // may have started another serving task, whose mark is not ours to remove. Wants
                // received while we waited (not served: the peer was active) get a new task.
                guard await next?.value != nil else { return }
                budget.release(targetMessageBytes)
                let restart: Bool = lock.withLock {
                    active.remove(peer)
                    return !stopped && activate(peer)
                }
                if restart { spawnServer(for: peer) }
                return
            }
        }
    }

    /// Takes the next batch of `peer`'s ready wants and builds its message; nil (and the peer
    /// marked inactive) when nothing is ready.
    private func buildNext(for peer: PeerID) async -> BuiltMessage? {
        while true {
            let (batch, bare): ([WantlistEntry], Bool) = lock.withLock {
                let batch = stopped ? [] : engine.nextBatch(for: peer, max: 256)
                if batch.isEmpty { active.remove(peer) }
                return (batch, engine.needsBareBlocks(peer))
            }
            if batch.isEmpty { return nil }
            await budget.acquire(targetMessageBytes)
            do {
                var built = try await buildMessage(for: batch, bareBlocksOnly: bare)
                lock.withLock {
                    // A cancel that came while the store was read (the blocks may have arrived
                    // meanwhile too) removed its want: what was built for it is not sent.
                    built.keepOnly(engine.stillWanted(batch.map(\.cid), by: peer))
                    engine.complete(peer: peer, served: built.served, waiting: built.waiting, requeue: built.requeue)
                }
                return built
            } catch {
                budget.release(targetMessageBytes)
                logger.error("bitswap: cannot read blocks for \(peer): \(error)")
                lock.withLock {
                    engine.complete(peer: peer, served: [], waiting: batch.map(\.cid), requeue: [])
                }
            }
        }
    }

    struct BuiltMessage: Sendable {
        var message = BitswapMessage()
        /// The CID of each of `message.blocks`, in order.
        var blockCIDs: [CID] = []
        var served: [CID] = []
        var waiting: [CID] = []
        var requeue: [CID] = []

        /// Drops the blocks and presences of CIDs not in `wanted`.
        mutating func keepOnly(_ wanted: Set<CID>) {
            guard blockCIDs.contains(where: { !wanted.contains($0) })
                    || message.presences.contains(where: { !wanted.contains($0.cid) }) else { return }
            let kept = zip(blockCIDs, message.blocks).filter { wanted.contains($0.0) }
            blockCIDs = kept.map(\.0)
            message.blocks = kept.map(\.1)
            message.presences.removeAll { !wanted.contains($0.cid) }
        }
    }

    /// Reads the blocks for `batch` (off the concurrency pool) and builds one message. For a 1.0.0
    /// peer (`bareBlocksOnly`), a block CIDv0 cannot name (not dag-pb + sha2-256) is not sendable:
    /// the want waits, as if we lacked the block.
    private func buildMessage(for batch: [WantlistEntry], bareBlocksOnly: Bool) async throws -> BuiltMessage {
        let store = self.store
        let target = targetMessageBytes
        return try await BlockingExecutor.run { () throws -> BuiltMessage in
            var out = BuiltMessage()
            var bytes = 0
            for (index, entry) in batch.enumerated() {
                if bytes >= target {
                    out.requeue.append(contentsOf: batch[index...].map(\.cid))
                    break
                }
                guard let size = try store.size(of: entry.cid) else {
                    // The want stays in the ledger (as Go's engine): the block is sent if it
                    // arrives before the peer cancels.
                    if entry.sendDontHave {
                        out.message.presences.append(BlockPresence(cid: entry.cid, kind: .dontHave))
                    }
                    out.waiting.append(entry.cid)
                    continue
                }
                switch entry.wantType {
                case .block:
                    if size > BitswapProtocol.maxBlockSize {
                        out.served.append(entry.cid)  // never sendable; forget it
                        continue
                    }
                    if bytes > 0 && bytes + size > target {
                        out.requeue.append(entry.cid)
                        continue
                    }
                    guard let block = try store.get(entry.cid) else {
                        out.waiting.append(entry.cid)
                        continue
                    }
                    var prefixed = PrefixedBlock(block)
                    if bareBlocksOnly {
                        let v0 = CIDPrefix.v0
                        guard prefixed.prefix.codec == v0.codec, prefixed.prefix.hashFunction == v0.hashFunction,
                              prefixed.prefix.digestLength == v0.digestLength else {
                            out.waiting.append(entry.cid)
                            continue
                        }
                        prefixed.prefix = v0
                    }
                    out.message.blocks.append(prefixed)
                    out.blockCIDs.append(entry.cid)
                    bytes += block.data.count
                    out.served.append(entry.cid)
                case .have:
                    if size <= BitswapProtocol.maxInlineBlockSize, let block = try store.get(entry.cid) {
                        out.message.blocks.append(PrefixedBlock(block))
                        out.blockCIDs.append(entry.cid)
                        bytes += block.data.count
                    } else {
                        out.message.presences.append(BlockPresence(cid: entry.cid, kind: .have))
                    }
                    out.served.append(entry.cid)
                }
            }
            return out
        }
    }
}
