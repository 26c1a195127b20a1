import BlockStore
import Multiformats
import P2PCore
import P2PCrypto
import P2PTestSupport
import XCTest

@testable import Bitswap

/// A router that names fixed providers (and records what it was asked).
final class FixedRouter: ContentRouting, @unchecked Sendable {
    private let lock = Mutex()
    private let providers: [PeerInfo]
    private var asked: [CID] = []

    init(_ providers: [PeerInfo]) { self.providers = providers }

    var queries: [CID] { lock.withLock { asked } }

    func findProviders(_ cid: CID, limit: Int) -> AsyncStream<PeerInfo> {
        lock.withLock { asked.append(cid) }
        let (stream, continuation) = AsyncStream<PeerInfo>.makeStream()
        for p in providers.prefix(limit == 0 ? providers.count : limit) { continuation.yield(p) }
        continuation.finish()
        return stream
    }

    func provide(_ cid: CID) async throws {}
}

/// Fetches whose providers come from content routing (the DHT), not from connected peers.
final class ContentRoutingTests: XCTestCase {
    func testAProviderFoundThroughRoutingServesTheFetch() async throws {
        // Streams open on demand: the fetcher reaches the provider it was told about.
        let network = MemoryNetwork(autoConnect: true)
        let dag = try await SharedDAGs.shared.directory()
        let provider = await TestNode.make(on: network, store: try dag.store())
        let host = network.makeHost()
        let store = MemoryBlockStore()
        // Content routing also lists ourselves (we may provide part of the DAG): skipped.
        let router = FixedRouter([PeerInfo(peer: host.localPeer), PeerInfo(peer: provider.peer, addresses: [provider.host.address])])
        let bitswap = Bitswap(host: host, store: store, routing: router, logger: testLogger())
        await bitswap.start()
        XCTAssertTrue(network.connectedPeers(of: host.localPeer).isEmpty)
        let result = try await bitswap.fetch(dag.root, options: FetchOptions(timeout: .seconds(20), peerWait: .seconds(5)))
        XCTAssertTrue(try dag.isComplete(in: store))
        XCTAssertEqual(result.providers.map(\.peer), [provider.peer])
        XCTAssertEqual(router.queries, [dag.root])
        XCTAssertTrue(result.droppedPeers.isEmpty, "\(result.droppedPeers)")
        await bitswap.stop()
    }

    func testRoutingIsNotAskedWhenTheFetchSaysSo() async throws {
        let network = MemoryNetwork(autoConnect: true)
        let dag = try await SharedDAGs.shared.fileV1()
        let provider = await TestNode.make(on: network, store: try dag.store())
        let fetcher = network.makeHost()
        let router = FixedRouter([PeerInfo(peer: provider.peer)])
        let bitswap = Bitswap(host: fetcher, store: MemoryBlockStore(), routing: router, logger: testLogger())
        await bitswap.start()
        var options = FetchOptions(peers: [provider.peer], timeout: .seconds(20))
        options.findProviders = false
        _ = try await bitswap.fetch(dag.root, options: options)
        XCTAssertTrue(router.queries.isEmpty)
        await bitswap.stop()
    }
}
