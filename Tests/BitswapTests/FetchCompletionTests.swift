import BlockStore
import Dispatch
import IPLD
import Multiformats
import P2PCore
import XCTest

@testable import Bitswap
import P2PTestSupport

/// A store whose writes wait until `open()` (on the writer's threads, never on the concurrency
/// pool): it lets the fetch's write budget fill up.
final class GatedStore: BlockStore, @unchecked Sendable {
    let base = MemoryBlockStore()
    private let lock = Mutex()
    private var isOpen = false
    private let gate = DispatchSemaphore(value: 0)

    func open() {
        lock.withLock { isOpen = true }
        // Releases every writer already waiting (BlockWriter runs up to `maxWriters` at once).
        for _ in 0..<BlockWriter.maxWriters { gate.signal() }
    }

    func put(_ block: Block) throws { try putMany([block]) }
    func putMany(_ blocks: [Block]) throws {
        if !lock.withLock({ isOpen }) { gate.wait() }
        try base.putMany(blocks)
    }
    func get(_ cid: CID) throws -> Block? { try base.get(cid) }
    func has(_ cid: CID) throws -> Bool { try base.has(cid) }
    func size(of cid: CID) throws -> Int? { try base.size(of: cid) }
    func delete(_ cid: CID) throws { try base.delete(cid) }
    func allMultihashes() throws -> [Multihash] { try base.allMultihashes() }
    func block(for cid: CID) throws -> Block? { try base.get(cid) }
}

final class FetchCompletionTests: XCTestCase {
    /// A fetch must not report success before every block it received is stored. Here the store
    /// is slow, so the writer's 32 MiB budget fills and the last blocks wait in `BlockWriter.add`
    /// when the session sees its wantlist empty.
    func testFetchReturnsOnlyOnceEveryBlockIsStored() async throws {
        let network = MemoryNetwork()
        let dag = try await importRandomFile(size: 40 << 20, seed: 60, kind: .v1RawLeaves, chunkSize: 1 << 20)
        XCTAssertEqual(dag.blocks.count, 41)
        // One 1 MiB block per message, so that every block reaches the session on its own.
        var config = Bitswap.Config()
        config.targetMessageBytes = 1 << 20
        let provider = await TestNode.make(on: network, store: try dag.store(), config: config)
        let slow = GatedStore()
        let fetcherHost = network.makeHost()
        let fetcher = Bitswap(host: fetcherHost, store: slow, logger: testLogger())
        await fetcher.start()
        await network.connect(provider.host, fetcherHost)
        fetcher.peerConnected(provider.peer)

        let fetch = Task {
            try await fetcher.fetch(dag.root, options: FetchOptions(peers: [provider.peer], timeout: .seconds(20)))
        }
        try await waitUntil("every block to be sent", seconds: 15) {
            provider.bitswap.stats().blocksSent == dag.blocks.count
        }
        try await waitUntil("every block to be received", seconds: 15) {
            fetcher.stats().blocksReceived == dag.blocks.count
        }
        // Let the session tick (every 250 ms) with its wantlist empty, then let the store write.
        try await Task.sleep(for: .milliseconds(600))
        slow.open()
        let result = try await fetch.value
        XCTAssertEqual(result.blocksFetched, dag.blocks.count)
        let stored = try slow.base.allMultihashes().count
        XCTAssertEqual(stored, dag.blocks.count, "the fetch returned with \(dag.blocks.count - stored) blocks unstored")
        try await waitUntil("late writes", seconds: 1) { try slow.base.allMultihashes().count == dag.blocks.count }
    }
}
