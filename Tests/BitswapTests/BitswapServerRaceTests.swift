import BlockStore
import Dispatch
import Foundation
import IPLD
import Multiformats
import P2PCore
import P2PCrypto
import TestSupport
import XCTest

@testable import Bitswap
import P2PTestSupport

/// A store whose `size(of:)` records each CID asked for and holds one CID's call until `open()`
/// (so a test can stop a serving task in the middle of building a message).
private final class SizeGatedStore: BlockStore {
    private let base = MemoryBlockStore()
    private let gated: CID
    private let release = DispatchSemaphore(value: 0)
    private let log = Locked<[CID]>([])

    init(blocks: [Block], gated: CID) throws {
        try base.putMany(blocks)
        self.gated = gated
    }

    func open() { release.signal() }
    func wasAsked(for cid: CID) -> Bool { log.withLock { $0.contains(cid) } }

    func size(of cid: CID) throws -> Int? {
        log.withLock { $0.append(cid) }
        if cid == gated { release.wait() }
        return try base.size(of: cid)
    }

    func put(_ block: Block) throws { try base.put(block) }
    func putMany(_ blocks: [Block]) throws { try base.putMany(blocks) }
    func get(_ cid: CID) throws -> Block? { try base.get(cid) }
    func has(_ cid: CID) throws -> Bool { try base.has(cid) }
    func delete(_ cid: CID) throws { try base.delete(cid) }
    func allMultihashes() throws -> [Multihash] { try base.allMultihashes() }
}

final class BitswapServerRaceTests: XCTestCase {
    /// A failed send drops the peer's wants, then waits for the message being built meanwhile.
    /// A wantlist the peer sends in that wait finds the peer still marked as served, so no serving
    /// task starts for it; the failed task must start one when it lets go of the peer (before
    /// the fix its wants waited, unserved, until the peer's next message).
    func testWantsReceivedWhileAFailedSendWindsDownAreServed() async throws {
        let blocks = try (0..<3).map { try rawBlock(size: 64, seed: UInt64($0) + 1) }
        let (first, second, late) = (blocks[0].cid, blocks[1].cid, blocks[2].cid)
        let store = try SizeGatedStore(blocks: blocks, gated: second)
        defer { store.open() }
        let memory = MemoryNetwork()
        let host = memory.makeHost()
        let remote = memory.makeHost()
        await remote.setHandler(BitswapProtocol.v120) { incoming in
            while (try? await incoming.stream.read()) != nil {}
        }
        await memory.connect(host, remote)
        // The message with `first` stays in its write until the test cuts the connection.
        host.stallWrites(after: 0)
        let peer = remote.localPeer
        // One block per message: `second` is built while the message with `first` is sent.
        let server = BitswapServer(
            store: store, network: BitswapNetwork(host: host, logger: testLogger()), ledgers: Ledgers(),
            logger: testLogger(), targetMessageBytes: 1)
        defer { server.stop() }
        let limit = Double(10 * TestTime.scale)

        server.received(BitswapMessage(wantlist: [WantlistEntry(cid: first), WantlistEntry(cid: second)]),
                        from: peer, protocolID: BitswapProtocol.v120)
        try await waitUntil("the next message (with the second block) is being built", seconds: limit) {
            store.wasAsked(for: second)
        }
        // The send fails (the stream is reset, and the peer cannot be reached again).
        await memory.disconnect(host, remote)
        try await waitUntil("the failed send drops the peer's wants", seconds: limit) {
            server.wantlist(of: peer).isEmpty
        }
        server.received(BitswapMessage(wantlist: [WantlistEntry(cid: late)]), from: peer, protocolID: BitswapProtocol.v120)
        XCTAssertEqual(server.wantlist(of: peer).map { $0.cid }, [late])
        store.open()
        try await waitUntil("a serving task looks up the block wanted during the wind-down", seconds: limit) {
            store.wasAsked(for: late)
        }
    }
}
