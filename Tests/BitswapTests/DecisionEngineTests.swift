import IPLD
import Multiformats
import P2PCore
import P2PCrypto
import XCTest

@testable import Bitswap

private func peerID() -> PeerID { PeerID(publicKey: PrivateKey.generateEd25519().publicKey) }

private func cids(_ count: Int, tag: String = "c") throws -> [CID] {
    try (0..<count).map { try Block(data: Array("\(tag)\($0)".utf8), codec: .raw).cid }
}

final class DecisionEngineTests: XCTestCase {
    /// A cancel that arrives while a batch is being built (its blocks read from the store) removes
    /// the want, and what was built for it is dropped before the message is sent.
    func testACancelDuringTheBuildDropsWhatWasBuiltForIt() throws {
        var engine = DecisionEngine()
        let peer = peerID()
        let blocks = try (0..<2).map { try Block(data: Array("b\($0)".utf8), codec: .raw) }
        let entries = blocks.map { WantlistEntry(cid: $0.cid, wantType: .block) }
        engine.receive(entries, full: false, from: peer, supportsPresence: true)
        XCTAssertEqual(engine.nextBatch(for: peer, max: 10).count, 2)
        // The batch is being built; the peer cancels the second want meanwhile.
        engine.receive([.cancel(blocks[1].cid)], full: false, from: peer, supportsPresence: true)
        var built = BitswapServer.BuiltMessage()
        for block in blocks {
            built.message.blocks.append(PrefixedBlock(block))
            built.blockCIDs.append(block.cid)
            built.served.append(block.cid)
        }
        built.message.presences = [BlockPresence(cid: blocks[1].cid, kind: .have)]
        built.keepOnly(engine.stillWanted(entries.map(\.cid), by: peer))
        XCTAssertEqual(built.message.blocks, [PrefixedBlock(blocks[0])])
        XCTAssertEqual(built.blockCIDs, [blocks[0].cid])
        XCTAssertEqual(built.message.presences, [])
        engine.complete(peer: peer, served: built.served, waiting: [], requeue: [])
        XCTAssertEqual(engine.wantlist(of: peer), [])
    }

    func testWantHaveAndWantBlockAreKept() throws {
        var engine = DecisionEngine()
        let peer = peerID()
        let c = try cids(2)
        let entries = [
            WantlistEntry(cid: c[0], priority: 1, wantType: .have, sendDontHave: true),
            WantlistEntry(cid: c[1], priority: 1, wantType: .block),
        ]
        XCTAssertEqual(engine.receive(entries, full: false, from: peer, supportsPresence: true), 0)
        XCTAssertTrue(engine.hasReadyWork(peer))
        XCTAssertEqual(engine.wantlist(of: peer), entries)
        XCTAssertEqual(engine.nextBatch(for: peer, max: 10), entries)
        XCTAssertFalse(engine.hasReadyWork(peer), "taken entries are in progress")
        XCTAssertEqual(engine.nextBatch(for: peer, max: 10), [])
    }

    func testOldPeersWantBlocksWithoutDontHave() throws {
        var engine = DecisionEngine()
        let peer = peerID()
        let c = try cids(1)
        engine.receive([WantlistEntry(cid: c[0], wantType: .have, sendDontHave: true)], full: false, from: peer,
                       supportsPresence: false)
        XCTAssertEqual(engine.wantlist(of: peer), [WantlistEntry(cid: c[0], wantType: .block, sendDontHave: false)])
    }

    func testWantBlockUpgradesWantHaveButNotTheReverse() throws {
        var engine = DecisionEngine()
        let peer = peerID()
        let c = try cids(2)
        engine.receive([WantlistEntry(cid: c[0], wantType: .have), WantlistEntry(cid: c[1], wantType: .block)],
                       full: false, from: peer, supportsPresence: true)
        engine.receive([WantlistEntry(cid: c[0], priority: 5, wantType: .block),
                        WantlistEntry(cid: c[1], priority: 5, wantType: .have)],
                       full: false, from: peer, supportsPresence: true)
        let list = engine.wantlist(of: peer)
        XCTAssertEqual(list.count, 2)
        XCTAssertEqual(Set(list.map(\.wantType)), [.block])
        XCTAssertEqual(Set(list.map(\.priority)), [5])
    }

    func testCancelRemoves() throws {
        var engine = DecisionEngine()
        let peer = peerID()
        let c = try cids(3)
        engine.receive(c.map { WantlistEntry(cid: $0) }, full: false, from: peer, supportsPresence: true)
        engine.receive([.cancel(c[1])], full: false, from: peer, supportsPresence: true)
        XCTAssertEqual(engine.wantlist(of: peer).map(\.cid), [c[0], c[2]])
        engine.receive([.cancel(c[0]), .cancel(c[2])], full: false, from: peer, supportsPresence: true)
        XCTAssertEqual(engine.wantlist(of: peer), [])
        XCTAssertFalse(engine.hasReadyWork(peer))
    }

    func testFullWantlistReplacesButKeepsEntriesBeingServed() throws {
        var engine = DecisionEngine()
        let peer = peerID()
        let c = try cids(4)
        engine.receive([WantlistEntry(cid: c[0], priority: 9), WantlistEntry(cid: c[1]), WantlistEntry(cid: c[2])],
                       full: false, from: peer, supportsPresence: true)
        XCTAssertEqual(engine.nextBatch(for: peer, max: 1).map(\.cid), [c[0]])
        engine.receive([WantlistEntry(cid: c[3])], full: true, from: peer, supportsPresence: true)
        XCTAssertEqual(Set(engine.wantlist(of: peer).map(\.cid)), [c[0], c[3]])
        // An empty full wantlist clears everything not in progress.
        engine.complete(peer: peer, served: [c[0]], waiting: [], requeue: [])
        engine.receive([], full: true, from: peer, supportsPresence: true)
        XCTAssertEqual(engine.wantlist(of: peer), [])
    }

    func testPerPeerLimit() throws {
        var engine = DecisionEngine(maxWantsPerPeer: 3)
        let peer = peerID(), other = peerID()
        let c = try cids(5)
        XCTAssertEqual(engine.receive(c.map { WantlistEntry(cid: $0) }, full: false, from: peer, supportsPresence: true), 2)
        XCTAssertEqual(engine.wantlist(of: peer).map(\.cid), Array(c.prefix(3)))
        // Re-wanting a kept entry is not dropped; the limit is per peer.
        XCTAssertEqual(engine.receive([WantlistEntry(cid: c[0])], full: false, from: peer, supportsPresence: true), 0)
        XCTAssertEqual(engine.receive(c.map { WantlistEntry(cid: $0) }, full: false, from: other, supportsPresence: true), 2)
    }

    func testPriorityOrderThenArrivalOrder() throws {
        var engine = DecisionEngine()
        let peer = peerID()
        let c = try cids(5)
        engine.receive([
            WantlistEntry(cid: c[0], priority: 1), WantlistEntry(cid: c[1], priority: 5),
            WantlistEntry(cid: c[2], priority: 3), WantlistEntry(cid: c[3], priority: 5),
            WantlistEntry(cid: c[4], priority: 1),
        ], full: false, from: peer, supportsPresence: true)
        XCTAssertEqual(engine.wantlist(of: peer).map(\.cid), [c[1], c[3], c[2], c[0], c[4]])
        XCTAssertEqual(engine.nextBatch(for: peer, max: 2).map(\.cid), [c[1], c[3]])
        XCTAssertEqual(engine.nextBatch(for: peer, max: 2).map(\.cid), [c[2], c[0]])
        XCTAssertEqual(engine.nextBatch(for: peer, max: 2).map(\.cid), [c[4]])
    }

    func testCompleteServedWaitingAndRequeued() throws {
        var engine = DecisionEngine()
        let peer = peerID()
        let c = try cids(3)
        engine.receive(c.map { WantlistEntry(cid: $0) }, full: false, from: peer, supportsPresence: true)
        XCTAssertEqual(engine.nextBatch(for: peer, max: 10).count, 3)
        engine.complete(peer: peer, served: [c[0]], waiting: [c[1]], requeue: [c[2]])
        XCTAssertEqual(Set(engine.wantlist(of: peer).map(\.cid)), [c[1], c[2]])
        XCTAssertEqual(engine.nextBatch(for: peer, max: 10).map(\.cid), [c[2]], "requeued entries are ready again")
        engine.complete(peer: peer, served: [c[2]], waiting: [], requeue: [])
        XCTAssertFalse(engine.hasReadyWork(peer), "a waiting entry is not ready")
        XCTAssertNotNil(engine.peers[peer])
    }

    func testWaitingEntriesWokenByBlocksAdded() throws {
        var engine = DecisionEngine()
        let a = peerID(), b = peerID()
        let c = try cids(3)
        engine.receive([WantlistEntry(cid: c[0]), WantlistEntry(cid: c[1])], full: false, from: a, supportsPresence: true)
        engine.receive([WantlistEntry(cid: c[2])], full: false, from: b, supportsPresence: true)
        _ = engine.nextBatch(for: a, max: 10)
        _ = engine.nextBatch(for: b, max: 10)
        engine.complete(peer: a, served: [], waiting: [c[0], c[1]], requeue: [])
        engine.complete(peer: b, served: [], waiting: [c[2]], requeue: [])
        XCTAssertFalse(engine.hasReadyWork(a))
        XCTAssertFalse(engine.hasReadyWork(b))
        // The block may arrive under another CID version: matching is by multihash.
        let dagPB = try CID(version: .v1, codec: .dagPB, multihash: c[1].multihash)
        XCTAssertEqual(engine.blocksAdded([dagPB.multihash]), [a])
        XCTAssertEqual(engine.nextBatch(for: a, max: 10).map(\.cid), [c[1]])
        XCTAssertFalse(engine.hasReadyWork(b))
        XCTAssertEqual(engine.blocksAdded([try cids(1, tag: "unrelated")[0].multihash]), [])
    }

    func testServedPeerIsForgottenAndRemovePeer() throws {
        var engine = DecisionEngine()
        let a = peerID(), b = peerID()
        let c = try cids(1)
        engine.receive([WantlistEntry(cid: c[0])], full: false, from: a, supportsPresence: true)
        engine.receive([WantlistEntry(cid: c[0])], full: false, from: b, supportsPresence: true)
        _ = engine.nextBatch(for: a, max: 1)
        engine.complete(peer: a, served: [c[0]], waiting: [], requeue: [])
        XCTAssertNil(engine.peers[a])
        engine.removePeer(b)
        XCTAssertNil(engine.peers[b])
        XCTAssertEqual(engine.wantlist(of: b), [])
    }

    /// The engine documents that "a repeated want re-arms a waiting entry". A peer that first asked
    /// want-have without sendDontHave (Kubo's broadcast) and then sends want-block with sendDontHave
    /// should get an answer (DONT_HAVE) instead of waiting forever.
    func testRepeatedWantRearmsAWaitingEntry() throws {
        var engine = DecisionEngine()
        let peer = peerID()
        let c = try cids(1)
        engine.receive([WantlistEntry(cid: c[0], wantType: .have, sendDontHave: false)], full: false, from: peer,
                       supportsPresence: true)
        _ = engine.nextBatch(for: peer, max: 10)
        engine.complete(peer: peer, served: [], waiting: [c[0]], requeue: [])
        XCTAssertFalse(engine.hasReadyWork(peer))
        engine.receive([WantlistEntry(cid: c[0], wantType: .block, sendDontHave: true)], full: false, from: peer,
                       supportsPresence: true)
        XCTAssertTrue(engine.hasReadyWork(peer), "the repeated want (now with sendDontHave) should be looked at again")
        XCTAssertEqual(engine.nextBatch(for: peer, max: 10),
                       [WantlistEntry(cid: c[0], wantType: .block, sendDontHave: true)])
    }
}

/// Wantlist entries as a resource: a peer over its bound has its excess wants ignored (counted),
/// while another peer's wants are kept; the total bound holds across peers.
final class DecisionEngineLimitTests: XCTestCase {
    func testPeerOverItsBoundIsIgnoredWhileAnotherIsServed() throws {
        var engine = DecisionEngine(maxWantsPerPeer: 6, maxWants: 10)
        let (hostile, other) = (peerID(), peerID())
        let wants = try cids(8, tag: "h").map { WantlistEntry(cid: $0, wantType: .block) }
        XCTAssertEqual(engine.receive(wants, full: false, from: hostile, supportsPresence: true), 2)
        XCTAssertEqual(engine.wantlist(of: hostile).count, 6)
        // Another peer is still served, up to the total bound (10 - 6 = 4 of its 5).
        let others = try cids(5, tag: "o").map { WantlistEntry(cid: $0, wantType: .block) }
        XCTAssertEqual(engine.receive(others, full: false, from: other, supportsPresence: true), 1)
        XCTAssertEqual(engine.wantlist(of: other).count, 4)
        XCTAssertEqual(engine.totalWants, 10)
        let report = engine.resourceReport
        XCTAssertEqual(report.system["WantlistEntries"], ResourceUse(used: 10, limit: 10, refused: 1))
        XCTAssertEqual(report.peers[hostile]?["WantlistEntries"], ResourceUse(used: 6, limit: 6, refused: 2))
        XCTAssertEqual(report.peers[other]?["WantlistEntries"], ResourceUse(used: 4, limit: 6, refused: 1))
        // Serving and forgetting keep the total in step: room comes back.
        let batch = engine.nextBatch(for: hostile, max: 3)
        engine.complete(peer: hostile, served: batch.map(\.cid), waiting: [], requeue: [])
        XCTAssertEqual(engine.totalWants, 7)
        engine.removePeer(other)
        XCTAssertEqual(engine.totalWants, 3)
        XCTAssertEqual(engine.receive(Array(others.prefix(2)), full: false, from: other, supportsPresence: true), 0)
        XCTAssertEqual(engine.totalWants, 5)
        // A full wantlist replaces the peer's entries in the total too.
        engine.receive([], full: true, from: hostile, supportsPresence: true)
        XCTAssertEqual(engine.totalWants, 2)
    }
}
