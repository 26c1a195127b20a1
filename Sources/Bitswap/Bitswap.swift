import BlockStore
import IPLD
import Synchronization
import Logging
import Multiformats
import P2PCore
import P2PCrypto

/// Bitswap 1.2.0 (with 1.1.0, 1.0.0 and `/ipfs/bitswap` fallbacks) over any `P2PHost`: a server
/// that answers other peers' wants from the block store, and a client that fetches whole DAGs
/// from many peers at once, hashing every block before it is stored.
///
/// The owner tells it about connections (`peerConnected` / `peerDisconnected`) and about blocks
/// added locally (`blocksAdded`), so peers waiting for them are served.
public final class Bitswap: Sendable {
    /// Tuning knobs; the defaults suit a node on a LAN or the internet.
    public struct Config: Sendable {
        /// Blocks asked of one peer at a time.
        public var window = 32
        /// Silence after which a peer's open requests are asked of others.
        public var requestTimeout: Duration = .seconds(10)
        /// Silent periods in a row after which a peer is dropped from a fetch.
        public var maxTimeouts = 3
        /// Wants are sent to a peer in batches of at least this many (when that many are queued).
        public var wantBatch = 8
        /// Time without a new block after which a fetch asks its dropped, still connected peers
        /// again (peers dropped for silence while a link was down).
        public var stallReadmit: Duration = .seconds(20)
        /// Largest message the server builds (bytes of blocks).
        public var targetMessageBytes = 2 << 20
        /// Wantlist entries the server keeps per peer; more are ignored (boxo keeps 1024, its
        /// `MaxQueuedWantlistEntiresPerPeer`; more here so clients with long wantlists do not stall).
        public var maxWantlistEntriesPerPeer = 4096
        /// Wantlist entries the server keeps for all peers together (0: no bound).
        public var maxWantlistEntries = 262_144

        public init() {}
    }

    private let network: BitswapNetwork
    private let client: BitswapClient
    private let server: BitswapServer
    private let ledgers = Ledgers()
    private let store: any BlockStore
    private let config: Config
    private let logger: Logger
    private let lastSessionID = Atomic<Int>(0)
    private let routing: (any ContentRouting)?

    /// `routing` (the DHT) finds providers of each fetch's root; nil: only connected and given peers.
    public init(
        host: any P2PHost, store: any BlockStore, routing: (any ContentRouting)? = nil, logger: Logger,
        config: Config = Config()
    ) {
        self.routing = routing
        self.store = store
        self.config = config
        self.logger = logger
        network = BitswapNetwork(host: host, logger: logger)
        let server = BitswapServer(
            store: store, network: network, ledgers: ledgers, logger: logger,
            targetMessageBytes: config.targetMessageBytes,
            maxWantsPerPeer: config.maxWantlistEntriesPerPeer, maxWants: config.maxWantlistEntries)
        self.server = server
        // Blocks our fetches store may be what other peers wait for.
        client = BitswapClient(network: network, ledgers: ledgers, logger: logger) { blocks in
            server.blocksAdded(blocks.map(\.cid))
        }
    }

    /// Registers the protocol handlers.
    public func start() async {
        await network.start { [client, server] message, peer, protocolID in
            server.received(message, from: peer, protocolID: protocolID)
            await client.received(message, from: peer)
        } misbehaved: { [client] peer, reason in
            await client.offence(by: peer, reason: reason)
        }
    }

    /// Removes the handlers and closes streams; running fetches fail with `.stopped`.
    public func stop() async {
        server.stop()
        await client.stopAll()
        await network.stop()
    }

    public func peerConnected(_ peer: PeerID) {
        client.peerConnected(peer)
    }

    public func peerDisconnected(_ peer: PeerID) async {
        server.peerDisconnected(peer)
        client.peerDisconnected(peer)
        await network.peerDisconnected(peer)
    }

    /// Blocks were added to the store by something else (add, import): serve waiting peers.
    public func blocksAdded(_ cids: [CID]) {
        server.blocksAdded(cids)
    }

    /// Fetches every block of the DAG under `root` that the store lacks, and stores it.
    /// The caller pins (and holds off GC meanwhile, see `PinStore.gcLease`). Cancelling the
    /// calling task fails the fetch with `.cancelled` (blocks already verified are kept).
    public func fetch(
        _ root: CID, options: FetchOptions = FetchOptions(),
        progress: (@Sendable (FetchProgress) -> Void)? = nil
    ) async throws(BitswapError) -> FetchResult {
        let id = lastSessionID.add(1, ordering: .relaxed).newValue
        var planner = SessionPlanner.Config()
        planner.window = config.window
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        planner.requestTimeout = seconds(config.requestTimeout)
        planner.maxTimeouts = config.maxTimeouts
        planner.stallReadmit = seconds(config.stallReadmit)
        planner.minBatch = config.wantBatch
        planner.broadcastFirstWant = true
        let session = FetchSession(
            id: id, root: root, client: client, store: store, options: options, config: planner,
            routing: routing, logger: logger, progress: progress)
        client.register(session)
        // Cancelling the calling task ends the fetch (`.cancelled`).
        let outcome: Result<FetchResult, BitswapError> = await withTaskCancellationHandler {
            do throws(BitswapError) {
                return .success(try await session.run())
            } catch {
                return .failure(error)
            }
        } onCancel: {
            Task { await session.cancel() }
        }
        return try outcome.get()
    }

    /// Node-wide counters.
    public func stats() -> BitswapStats { ledgers.stats() }

    /// The server's wantlist entries against `Config.maxWantlistEntries(PerPeer)`, with refusals.
    public func resourceReport() -> ResourceReport { server.resourceReport() }

    /// Blocks our fetches are waiting for.
    public func wantlist() -> [CID] { client.wantlist() }

    /// What `peer` has asked us for and not yet received.
    public func wantlist(of peer: PeerID) -> [WantlistEntry] { server.wantlist(of: peer) }

    /// Peers some running fetch has dropped (tests wait on it).
    func droppedPeers() async -> Set<PeerID> { await client.droppedPeers() }

    /// What we exchanged with `peer`.
    public func ledger(for peer: PeerID) -> LedgerEntry { ledgers.ledger(for: peer) }
}
