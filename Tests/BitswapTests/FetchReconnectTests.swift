import BlockStore
import IPLD
import Multiformats
import P2PCore
import P2PCrypto
import XCTest

@testable import Bitswap
import P2PTestSupport

/// A fetch whose only provider was dropped while its link was down asks it again once it is
/// back, on reconnection or, still connected, after a stall (issue 15: sites that fail and
/// heal). Before, a dropped peer stayed dropped for the life of the fetch: with another peer
/// answering DONT_HAVE the fetch waited forever and a followed remote never converged.
final class FetchReconnectTests: XCTestCase {
    private let network = MemoryNetwork()

    func testPlannerReadmitsADroppedPeer() throws {
        var planner = SessionPlanner()
        let peer = PeerID(publicKey: PrivateKey.generateEd25519().publicKey)
        planner.addPeer(peer, now: 0)
        let cid = try Block(data: Array("readmit".utf8), codec: .raw).cid
        planner.want([cid])
        XCTAssertEqual(planner.plan(now: 0)[peer]?.map(\.cid), [cid])
        planner.dropPeer(peer, reason: "disconnected")
        XCTAssertTrue(planner.plan(now: 1).isEmpty, "a dropped peer is not asked")
        XCTAssertEqual(planner.droppedPeers, [peer])
        XCTAssertTrue(planner.readmitPeer(peer, now: 2))
        XCTAssertFalse(planner.readmitPeer(peer, now: 2), "only a dropped peer is readmitted")
        XCTAssertEqual(planner.plan(now: 2)[peer]?.map(\.cid), [cid], "asked again")
        XCTAssertTrue(planner.droppedPeers.isEmpty)
    }

    /// The provider answers two messages, stalls, and its connection drops; an empty peer keeps
    /// answering DONT_HAVE. The provider connects again: the fetch asks it and completes.
    func testProviderDroppedWithItsLinkIsAskedAgainWhenItReconnects() async throws {
        var config = Bitswap.Config()
        config.window = 8
        config.stallReadmit = .seconds(600)  // only the reconnection can bring it back
        let (fetcher, provider, fetch, dag) = try await startStalledFetch(config: config)
        await network.disconnect(provider.host, fetcher.host)
        try await waitUntil("the fetch to drop the provider", seconds: 10) {
            await fetcher.bitswap.droppedPeers().contains(provider.peer)
        }
        provider.host.resumeWrites()
        await network.connect(provider.host, fetcher.host)
        let result = try await fetch.value
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertEqual(result.blocksFetched, dag.blocks.count)
        XCTAssertGreaterThan(result.provider(provider.peer)?.blocks ?? 0, 2, "the provider served after it came back")
    }

    /// The provider stays connected but goes silent until the fetch drops it ("no answers", as
    /// when a link is down without the connection closing); then it answers again. After
    /// `stallReadmit` without a block the fetch asks it again and completes.
    func testSilentProviderStillConnectedIsAskedAgainAfterAStall() async throws {
        var config = Bitswap.Config()
        config.window = 8
        config.requestTimeout = .milliseconds(300)
        config.maxTimeouts = 2
        // Counted from the last block: the provider is out from its drop (two timeouts after the
        // last block) until then, a window of over 2 s for the wait below to see.
        config.stallReadmit = .seconds(3)
        let (fetcher, provider, fetch, dag) = try await startStalledFetch(config: config)
        try await waitUntil("the fetch to drop the silent provider", seconds: 10) {
            await fetcher.bitswap.droppedPeers().contains(provider.peer)
        }
        provider.host.resumeWrites()
        let result = try await fetch.value
        XCTAssertTrue(try dag.isComplete(in: fetcher.store))
        XCTAssertEqual(result.blocksFetched, dag.blocks.count)
        XCTAssertGreaterThan(result.provider(provider.peer)?.blocks ?? 0, 2, "the provider served after the stall")
    }

    /// A fetcher, the only provider of a DAG (stalled after two messages, with requests open) and
    /// an empty peer, all connected; the fetch runs in a task.
    private func startStalledFetch(config: Bitswap.Config) async throws
        -> (TestNode, TestNode, Task<FetchResult, any Error>, TestDAG)
    {
        let dag = try await SharedDAGs.shared.manyBlocksV0()
        let fetcher = await TestNode.make(on: network, config: config)
        let provider = await TestNode.make(on: network, store: try dag.store())
        let empty = await TestNode.make(on: network)
        for node in [provider, empty] { await network.connect(node.host, fetcher.host) }
        provider.host.stallWrites(after: 2)
        let options = FetchOptions(peers: [provider.peer, empty.peer], timeout: .seconds(30), peerWait: .seconds(5))
        let fetch = Task { [fetcher] in try await fetcher.bitswap.fetch(dag.root, options: options) }
        try await waitUntil("the provider to send blocks and stall", seconds: 10) {
            fetcher.bitswap.ledger(for: provider.peer).blocksReceived > 0 && provider.host.stalledWriteCount > 0
        }
        return (fetcher, provider, fetch, dag)
    }
}
