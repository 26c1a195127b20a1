import IPLD
import Multiformats
import P2PCore
import P2PCrypto
import XCTest

@testable import Bitswap

/// How the planner learns which peers hold the DAG: the first want is also asked as want-have of
/// everyone, peers that keep refusing are asked last, and wants only busy peers can take do not
/// hold up the rest of the queue.
final class SessionPlannerLearningTests: XCTestCase {
    private func peers(_ count: Int) -> [PeerID] {
        (0..<count).map { _ in PeerID(publicKey: PrivateKey.generateEd25519().publicKey) }
    }

    private func cids(_ count: Int) throws -> [CID] {
        try (0..<count).map { try Block(data: Array("learn\($0)".utf8), codec: .raw).cid }
    }

    func testFirstWantIsBroadcastAsWantHave() throws {
        var config = SessionPlanner.Config()
        config.broadcastFirstWant = true
        var planner = SessionPlanner(config: config)
        let p = peers(3)
        for peer in p { planner.addPeer(peer, now: 0) }
        planner.addPeer(try XCTUnwrap(peers(1).first), supportsPresence: false, now: 0)
        let root = try cids(1)
        planner.want(root)
        let plan = planner.plan(now: 0)
        let entries = plan.values.flatMap { $0 }
        XCTAssertEqual(entries.filter { $0.wantType == .block }.count, 1, "one peer is asked for the block")
        let haves = plan.filter { $0.value.contains { $0.wantType == .have } }.map(\.key)
        XCTAssertEqual(haves.count, 2, "the other presence-capable peers are asked want-have")
        XCTAssertTrue(entries.filter { $0.wantType == .have }.allSatisfy(\.sendDontHave))

        // Only the first want is broadcast.
        planner.want(try cids(2).suffix(1).map { $0 })
        let later = planner.plan(now: 0).values.flatMap { $0 }
        XCTAssertTrue(later.allSatisfy { $0.wantType == .block })
    }

    func testPeersThatKeepRefusingAreAskedLast() throws {
        var config = SessionPlanner.Config()
        config.window = 8
        config.refusalsBeforeDemotion = 2
        var planner = SessionPlanner(config: config)
        let p = peers(2)
        let (refuser, holder) = (p[0], p[1])
        planner.addPeer(refuser, now: 0)
        planner.addPeer(holder, now: 0)
        let c = try cids(6)
        planner.want(Array(c.prefix(2)))
        // It says DONT_HAVE to both (say, to the want-have broadcast).
        planner.presence(c[0].multihash, kind: .dontHave, from: refuser, now: 0)
        planner.presence(c[1].multihash, kind: .dontHave, from: refuser, now: 0)
        XCTAssertEqual(planner.peers[refuser]?.refusalsInARow, 2)

        // Every want goes to the holder while it has room, though the refuser's window is emptier.
        planner.want(Array(c.suffix(4)))
        let plan = planner.plan(now: 1)
        XCTAssertEqual(plan[holder]?.count, 6)
        XCTAssertNil(plan[refuser], "a demoted peer gets nothing while a better one has room")

        // A block (or HAVE) from the refuser restores it.
        planner.presence(c[5].multihash, kind: .have, from: refuser, now: 1)
        XCTAssertEqual(planner.peers[refuser]?.refusalsInARow, 0)
    }

    func testWantsOnlyBusyPeersCanTakeDoNotBlockTheQueue() throws {
        var config = SessionPlanner.Config()
        config.window = 1
        var planner = SessionPlanner(config: config)
        let p = peers(2)
        let (a, b) = (p[0], p[1])
        planner.addPeer(a, now: 0)
        planner.addPeer(b, now: 0)
        let c = try cids(3)
        planner.want([c[0]])
        let first = planner.plan(now: 0)
        let askedFirst = try XCTUnwrap(first.first?.key)
        let other = askedFirst == a ? b : a
        // The other peer refuses c[1] in advance: c[1] can only go to the busy peer.
        planner.want([c[1], c[2]])
        planner.presence(c[1].multihash, kind: .dontHave, from: other, now: 0)
        let second = planner.plan(now: 0)
        XCTAssertEqual(second[other]?.map(\.cid), [c[2]], "c[2] skips past c[1], which waits for the busy peer")
        // Once the busy peer delivers, c[1] goes to it, still ahead of anything queued later.
        _ = planner.blockReceived(c[0].multihash, bytes: 1, from: askedFirst, now: 1)
        let third = planner.plan(now: 1)
        XCTAssertEqual(third[askedFirst]?.map(\.cid), [c[1]])
    }

    func testDepthFirstOrderAndPrioritiesFollowSending() throws {
        var config = SessionPlanner.Config()
        config.window = 1
        var planner = SessionPlanner(config: config)
        let peer = try XCTUnwrap(peers(1).first)
        planner.addPeer(peer, now: 0)
        let c = try cids(4)
        let (a, b, a1, a2) = (c[0], c[1], c[2], c[3])
        planner.want([a, b])
        XCTAssertEqual(planner.plan(now: 0)[peer]?.map(\.cid), [a])
        // a's children arrive before b is asked: they go first, in their order.
        _ = planner.blockReceived(a.multihash, bytes: 1, from: peer, now: 1)
        planner.want([a1, a2])
        var order: [CID] = []
        var priorities: [Int32] = []
        for step in 0..<3 {
            let entries = planner.plan(now: Double(2 + step))[peer] ?? []
            order += entries.map(\.cid)
            priorities += entries.map(\.priority)
            for entry in entries { _ = planner.blockReceived(entry.cid.multihash, bytes: 1, from: peer, now: Double(2 + step)) }
        }
        XCTAssertEqual(order, [a1, a2, b])
        XCTAssertEqual(priorities, priorities.sorted(by: >), "priorities fall in sending order")
    }
}
