import BlockStore
import IPLD
import Logging
import Multiformats
import P2PCore
import P2PCrypto

/// What a fetch is asked to do.
public struct FetchOptions: Sendable {
    /// Peers to ask besides the connected ones (they must be connected or dialable by the host).
    public var peers: [PeerID]
    /// Also ask every connected peer (and peers that connect during the fetch).
    public var includeConnectedPeers: Bool
    /// Give up after this long (nil: never).
    public var timeout: Duration?
    /// How long to wait for a first peer when there is none.
    public var peerWait: Duration
    /// Fetch the whole DAG (true) or only the root block.
    public var recursive: Bool
    /// With `recursive`: follow links at most this many levels below the root (nil: all). Depth 1
    /// is a directory and its entries' first blocks, which is what a listing needs.
    public var maxDepth: Int?

    /// Ask content routing for providers of the root (when the Bitswap instance has a router).
    public var findProviders: Bool
    /// Providers taken from content routing.
    public var providerLimit: Int

    public init(peers: [PeerID] = [], includeConnectedPeers: Bool = true, timeout: Duration? = nil,
                peerWait: Duration = .seconds(10), recursive: Bool = true, maxDepth: Int? = nil,
                findProviders: Bool = true, providerLimit: Int = 10) {
        self.findProviders = findProviders
        self.providerLimit = providerLimit
        self.recursive = recursive
        self.maxDepth = maxDepth
        self.peers = peers
        self.includeConnectedPeers = includeConnectedPeers
        self.timeout = timeout
        self.peerWait = peerWait
    }
}

/// Progress of a fetch, reported as blocks arrive.
public struct FetchProgress: Sendable, Hashable {
    /// Blocks of the DAG known so far (it grows as links are read).
    public var blocksKnown: Int
    /// Blocks stored, fetched or already present.
    public var blocksDone: Int
    public var blocksPresent: Int
    public var bytesFetched: Int
    /// Peers being asked.
    public var peers: Int

    public init(blocksKnown: Int, blocksDone: Int, blocksPresent: Int, bytesFetched: Int, peers: Int) {
        self.blocksKnown = blocksKnown
        self.blocksDone = blocksDone
        self.blocksPresent = blocksPresent
        self.bytesFetched = bytesFetched
        self.peers = peers
    }
}

/// One provider's share of a fetch.
public struct ProviderShare: Sendable, Hashable {
    public var peer: PeerID
    public var blocks: Int
    public var bytes: Int
}

/// How a fetch went.
public struct FetchResult: Sendable {
    public var root: CID
    /// Blocks in the DAG.
    public var blocks: Int
    public var blocksFetched: Int
    /// Blocks that were already stored.
    public var blocksPresent: Int
    public var bytesFetched: Int
    public var seconds: Double
    public var providers: [ProviderShare]
    /// Peers that were dropped, with the reason.
    public var droppedPeers: [(peer: PeerID, reason: String)]
}

/// Fetches one DAG: walks it from the root (blocks already stored are read, not asked for),
/// asks peers for the missing blocks through a `SessionPlanner`, verifies and stores what comes.
actor FetchSession {
    nonisolated let id: Int
    let root: CID
    private let client: BitswapClient
    private let store: any BlockStore
    private let writer: BlockWriter
    private let logger: Logger
    private let options: FetchOptions
    private let progress: (@Sendable (FetchProgress) -> Void)?
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private var planner: SessionPlanner
    private var known = 0
    /// Every block of the DAG met so far (a block linked twice is fetched and counted once).
    private let seen = SeenSet()
    /// Where to look for providers of the root (the DHT), if anywhere.
    private let routing: (any ContentRouting)?
    /// How deep links are followed (nil: the whole DAG; 0: the root only).
    private var depthLimit: Int? { options.recursive ? options.maxDepth : 0 }
    /// Depth below the root of each wanted block (kept only when `depthLimit` is set).
    private var depths: [Multihash: Int] = [:]
    private var present = 0
    private var fetched = 0
    private var bytesFetched = 0
    private var pendingDiscoveries = 0
    /// Blocks handed to the writer whose `add` has not returned yet.
    private var pendingWrites = 0
    private var failure: BitswapError?
    private var finished = false
    private var waiter: CheckedContinuation<Void, Never>?
    private var noPeersSince: ContinuousClock.Instant?
    /// When (`now`) the last block arrived, or dropped peers were last asked again.
    private var lastProgress = 0.0

    init(id: Int, root: CID, client: BitswapClient, store: any BlockStore, options: FetchOptions,
         config: SessionPlanner.Config, routing: (any ContentRouting)? = nil, logger: Logger,
         progress: (@Sendable (FetchProgress) -> Void)?) {
        self.id = id
        self.routing = options.findProviders ? routing : nil
        self.root = root
        self.client = client
        self.store = store
        self.options = options
        self.logger = logger
        self.progress = progress
        self.planner = SessionPlanner(config: config)
        self.started = ContinuousClock.now
        self.writer = BlockWriter(store: store) { [weak client] blocks in client?.stored(blocks) }
    }

    private var now: Double {
        let d = clock.now - started
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Runs the fetch to the end.
    func run() async throws(BitswapError) -> FetchResult {
        for peer in options.peers { addPeer(peer) }
        if options.includeConnectedPeers {
            for peer in await client.connectedPeers() { addPeer(peer) }
        }
        known = 1
        _ = seen.insert(root.multihash)
        discover([root], depth: 0)
        let ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                await self?.tick()
            }
        }
        defer { ticker.cancel() }
        // Providers are looked for at once, beside asking the connected peers (Kubo waits a second
        // first); each one found joins the session (the host dials it by the addresses the lookup
        // learnt, or through peer routing).
        let providerSearch = routing.map { routing in
            Task { [weak self, root, limit = options.providerLimit] in
                for await provider in routing.findProviders(root, limit: limit) {
                    guard let self else { return }
                    await self.providerFound(provider.peer)
                }
            }
        }
        defer { providerSearch?.cancel() }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            if finished { c.resume() } else { waiter = c }
        }
        client.unregister(self)
        if let failure {
            cancelAll()
            // Keep what was verified, so a later fetch resumes from it.
            try? await writer.finish()
            throw failure
        }
        try await writer.finish()
        return FetchResult(
            root: root, blocks: known, blocksFetched: fetched, blocksPresent: present, bytesFetched: bytesFetched,
            seconds: now,
            providers: planner.peers.compactMap { peer, state in
                state.blocks > 0 ? ProviderShare(peer: peer, blocks: state.blocks, bytes: state.bytes) : nil
            }.sorted { $0.blocks > $1.blocks },
            droppedPeers: planner.peers.compactMap { peer, state in state.dropped.map { (peer, $0) } })
    }

    // MARK: Events (from the client)

    /// A verified block this session wanted (the client routes by multihash).
    func deliver(_ block: Block, from peer: PeerID) async {
        guard !finished else { return }
        guard let (cid, cancelAt) = planner.blockReceived(block.cid.multihash, bytes: block.data.count, from: peer, now: now) else {
            return
        }
        let stored = Block(cid: cid, data: block.data)
        lastProgress = now
        fetched += 1
        bytesFetched += block.data.count
        for other in cancelAt { client.send(BitswapMessage(wantlist: [.cancel(cid)]), to: other, session: self) }
        let depth = depthLimit == nil ? 0 : (depths.removeValue(forKey: cid.multihash) ?? 0)
        let follow = depthLimit.map { depth < $0 } ?? true
        let links: [CID]
        do {
            links = cid.codec == .raw || !follow ? [] : try IPLDCodecs.links(in: stored)
        } catch {
            fail(.badDAG(cid: cid, reason: "\(error)"))
            return
        }
        if !links.isEmpty {
            let fresh = links.filter { seen.insert($0.multihash) }
            if !fresh.isEmpty {
                known += fresh.count
                discover(fresh, depth: depth + 1)
            }
        }
        pendingWrites += 1
        do {
            try await writer.add(stored)
        } catch {
            pendingWrites -= 1
            fail(error)
            return
        }
        pendingWrites -= 1
        client.unregisterInterest([cid.multihash], session: self)
        report()
        dispatch()
    }

    func presence(_ presence: BlockPresence, from peer: PeerID) {
        guard !finished else { return }
        planner.presence(presence.cid.multihash, kind: presence.kind, from: peer, now: now)
        dispatch()
    }

    /// A peer sent a block that hashes to nothing anyone asked for.
    func badBlock(from peer: PeerID, reason: String) {
        guard !finished, planner.peers[peer] != nil else { return }
        logger.warning("bitswap: dropping \(peer) from the fetch of \(root): \(reason)")
        planner.dropPeer(peer, reason: reason)
        dispatch()
    }

    /// Bitswap was stopped: the fetch fails with `.stopped`.
    func stop() {
        fail(.stopped)
    }

    /// The caller's task was cancelled: the fetch fails with `.cancelled`.
    func cancel() {
        fail(.cancelled)
    }

    /// Content routing named `peer` as a provider of the root.
    func providerFound(_ peer: PeerID) {
        guard !finished, planner.peers[peer] == nil, peer != client.localPeer else { return }
        logger.debug("bitswap: provider \(peer) of \(root) joins the fetch")
        addPeer(peer)
        let entries = planner.providerFound(peer, for: root.multihash, now: now)
        if !entries.isEmpty { client.send(BitswapMessage(wantlist: entries), to: peer, session: self) }
        dispatch()
    }

    /// A peer connected: it joins the session, and a peer dropped earlier for silence or a lost
    /// connection (a link that failed and came back) is asked again, unless it sent bad blocks.
    func peerConnected(_ peer: PeerID) {
        guard !finished else { return }
        if planner.peers[peer]?.dropped != nil {
            readmit([peer], why: "connected again")
        } else if options.includeConnectedPeers {
            addPeer(peer)
        }
        dispatch()
    }

    var droppedPeers: [PeerID] { planner.droppedPeers }

    /// Asks dropped `peers` again, except those quarantined for bad blocks.
    private func readmit(_ peers: [PeerID], why: String) {
        for peer in peers where !client.isQuarantined(peer) && planner.readmitPeer(peer, now: now) {
            logger.info("bitswap: asking \(peer) again in the fetch of \(root): \(why)")
        }
    }

    /// The session made no progress for `stallReadmit`: dropped peers that are still connected
    /// are asked again (a peer dropped for silence while its link was down never reconnects,
    /// so without this it would never be asked again and the fetch would wait forever).
    private func readmitConnected(_ connected: Set<PeerID>) {
        guard !finished else { return }
        readmit(planner.droppedPeers.filter { connected.contains($0) },
                why: "no block for \(Int(planner.config.stallReadmit)) s")
        dispatch()
    }

    /// Adds a peer to ask; one that sent bad blocks lately is listed as dropped instead.
    private func addPeer(_ peer: PeerID) {
        planner.addPeer(peer, now: now)
        if client.isQuarantined(peer) {
            planner.dropPeer(peer, reason: "sent a bad block in the last \(BitswapClient.offenderQuarantine), ignored until then")
        }
    }

    func peerFailed(_ peer: PeerID, reason: String) {
        guard !finished, planner.peers[peer]?.dropped == nil else { return }
        logger.info("bitswap: dropping \(peer) from the fetch of \(root): \(reason)")
        planner.dropPeer(peer, reason: reason)
        dispatch()
    }

    // MARK: Internals

    private func tick() {
        guard !finished else { return }
        if let timeout = options.timeout, clock.now - started >= timeout {
            let c = timeout.components
            fail(.timeout(what: "fetch of \(root) (\(fetched + present) of \(known) blocks)",
                          seconds: Double(c.seconds) + Double(c.attoseconds) / 1e18))
            return
        }
        for peer in planner.checkTimeouts(now: now) {
            logger.info("bitswap: dropping \(peer) from the fetch of \(root): no answers")
        }
        if now - lastProgress >= planner.config.stallReadmit && !planner.droppedPeers.isEmpty {
            lastProgress = now
            Task { [weak self, client] in
                let connected = Set(await client.connectedPeers())
                await self?.readmitConnected(connected)
            }
        }
        if planner.activePeers.isEmpty && !planner.isComplete {
            let since = noPeersSince ?? clock.now
            noPeersSince = since
            if clock.now - since >= options.peerWait {
                fail(.noProviders(root))
                return
            }
        } else {
            noPeersSince = nil
        }
        dispatch()
    }

    /// Classifies `cids` (all at `depth` below the root) off the concurrency pool: stored ones
    /// are walked (their links read, down to the depth limit), missing ones are wanted.
    private func discover(_ cids: [CID], depth: Int) {
        pendingDiscoveries += 1
        let store = self.store
        let limit = depthLimit
        let seen = self.seen
        Task {
            let outcome: Result<Discovery, BitswapError> = await BlockingExecutor.run {
                () -> Result<Discovery, BitswapError> in
                var found = Discovery()
                var stack = cids.reversed().map { ($0, depth) }
                while let (cid, d) = stack.popLast() {
                    let follow = limit.map { d < $0 } ?? true
                    do {
                        let identity = cid.multihash.code == HashFunction.identity.rawValue
                        if identity || cid.codec == .raw {
                            if try identity || store.has(cid) { found.present += 1 } else { found.missing.append((cid, d)) }
                            if identity, cid.codec != .raw, follow {
                                let links = try IPLDCodecs.links(in: cid.multihash.digest, codec: cid.codec, cid: cid)
                                    .filter { seen.insert($0.multihash) }
                                found.extra += links.count
                                stack.append(contentsOf: links.reversed().map { ($0, d + 1) })
                            }
                            continue
                        }
                        guard let block = try store.get(cid) else {
                            found.missing.append((cid, d))
                            continue
                        }
                        found.present += 1
                        guard follow else { continue }
                        let links = try IPLDCodecs.links(in: block).filter { seen.insert($0.multihash) }
                        found.extra += links.count
                        stack.append(contentsOf: links.reversed().map { ($0, d + 1) })
                    } catch let error as BlockStoreError {
                        return .failure(.store("\(error)"))
                    } catch {
                        return .failure(.badDAG(cid: cid, reason: "\(error)"))
                    }
                }
                return .success(found)
            }
            self.discovered(outcome)
        }
    }

    /// What a store walk found: blocks to fetch (with their depth), blocks present, links met.
    private struct Discovery: Sendable {
        var missing: [(cid: CID, depth: Int)] = []
        var present = 0
        var extra = 0
    }

    private func discovered(_ outcome: Result<Discovery, BitswapError>) {
        pendingDiscoveries -= 1
        guard !finished else { return }
        switch outcome {
        case .failure(let error):
            fail(error)
        case .success(let found):
            present += found.present
            known += found.extra
            if !found.missing.isEmpty {
                let missing = found.missing.map(\.cid)
                if depthLimit != nil {
                    for (cid, depth) in found.missing { depths[cid.multihash] = depth }
                }
                client.registerInterest(missing, session: self)
                planner.want(missing)
            }
            report()
            dispatch()
        }
    }

    /// Sends the planner's next requests, or finishes.
    private func dispatch() {
        guard !finished else { return }
        if planner.isComplete && pendingDiscoveries == 0 && pendingWrites == 0 {
            finish()
            return
        }
        let requests = planner.plan(now: now)
        for (peer, entries) in requests {
            client.send(BitswapMessage(wantlist: entries), to: peer, session: self)
        }
    }

    private func report() {
        progress?(FetchProgress(
            blocksKnown: known, blocksDone: fetched + present, blocksPresent: present, bytesFetched: bytesFetched,
            peers: planner.activePeers.count))
    }

    private func fail(_ error: BitswapError) {
        guard !finished else { return }
        failure = error
        finish()
    }

    private func finish() {
        finished = true
        waiter?.resume()
        waiter = nil
    }

    /// Cancels every want wherever it was asked (after a failure).
    private func cancelAll() {
        var byPeer: [PeerID: [WantlistEntry]] = [:]
        for want in planner.wants.values {
            for peer in want.notified.union(want.refusedBy) where planner.peers[peer]?.dropped == nil {
                byPeer[peer, default: []].append(.cancel(want.cid))
            }
        }
        for (peer, entries) in byPeer { client.send(BitswapMessage(wantlist: entries), to: peer, session: nil) }
    }
}

/// The multihashes a session has met, shared with its store walks (which run off the actor).
final class SeenSet: Sendable {
    private let members = Locked<Set<Multihash>>([])

    /// Adds `mh`; true when it was not there yet.
    func insert(_ mh: Multihash) -> Bool {
        members.withLock { $0.insert(mh).inserted }
    }
}
