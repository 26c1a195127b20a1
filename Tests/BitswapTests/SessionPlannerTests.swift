import IPLD
import Multiformats
import P2PCore
import P2PCrypto
import XCTest

@testable import Bitswap

private func peerIDs(_ count: Int) -> [PeerID] {
    (0..<count).map { _ in PeerID(publicKey: PrivateKey.generateEd25519().publicKey) }
}

private func cids(_ count: Int, tag: String = "p") throws -> [CID] {
    try (0..<count).map { try Block(data: Array("\(tag)\($0)".utf8), codec: .raw).cid }
}

private func config(
    window: Int = 32, timeout: Double = 10, retry: Double = 1, strikes: Int = 3, minBatch: Int = 1
) -> SessionPlanner.Config {
    var config = SessionPlanner.Config()
    config.minBatch = minBatch
    config.window = window
    config.requestTimeout = timeout
    config.retryDelay = retry
    config.maxTimeouts = strikes
    return config
}

/// Which peer each CID was asked of.
private func assignments(_ plan: [PeerID: [WantlistEntry]]) -> [CID: PeerID] {
    var out: [CID: PeerID] = [:]
    for (peer, entries) in plan {
        for entry in entries { out[entry.cid] = peer }
    }
    return out
}

final class SessionPlannerTests: XCTestCase {
    func testSpreadsWantsOverPeersByFreeWindow() throws {
        var planner = SessionPlanner(config: config(window: 4))
        let peers = peerIDs(3)
        for peer in peers { planner.addPeer(peer, now: 0) }
        let c = try cids(13)
        planner.want(Array(c.prefix(3)))
        let first = planner.plan(now: 0)
        XCTAssertEqual(Set(first.keys), Set(peers), "three wants go to three peers")
        XCTAssertEqual(first.values.map(\.count), [1, 1, 1])

        planner.want(Array(c.dropFirst(3)))
        let second = planner.plan(now: 0)
        XCTAssertEqual(second.values.map(\.count).sorted(), [3, 3, 3], "every window fills up")
        for peer in peers { XCTAssertEqual(planner.peers[peer]?.inflight.count, 4) }
        let asked = Set(assignments(first).keys).union(assignments(second).keys)
        XCTAssertEqual(asked.count, 12)
        XCTAssertFalse(asked.contains(c[12]), "the 13th waits for a free slot")

        // A block from one peer frees a slot there: the 13th goes to it.
        let someCID = try XCTUnwrap(first.first?.value.first?.cid)
        let giver = try XCTUnwrap(first.first?.key)
        let received = planner.blockReceived(someCID.multihash, bytes: 10, from: giver, now: 1)
        XCTAssertEqual(received?.cid, someCID)
        XCTAssertEqual(received?.cancelAt, [])
        let third = planner.plan(now: 1)
        XCTAssertEqual(assignments(third), [c[12]: giver])
        XCTAssertEqual(planner.peers[giver]?.blocks, 1)
        XCTAssertEqual(planner.peers[giver]?.bytes, 10)
    }

    func testEntriesAreWantBlocksWithDontHaveForPresencePeers() throws {
        var planner = SessionPlanner(config: config())
        let peers = peerIDs(1)
        planner.addPeer(peers[0], supportsPresence: false, now: 0)
        let c = try cids(2)
        planner.want(c)
        let entries = try XCTUnwrap(planner.plan(now: 0)[peers[0]])
        XCTAssertEqual(entries.map(\.cid), c)
        XCTAssertEqual(entries.map(\.wantType), [.block, .block])
        XCTAssertEqual(entries.map(\.sendDontHave), [false, false])
        XCTAssertGreaterThan(entries[0].priority, entries[1].priority, "earlier-discovered blocks come first")

        var other = SessionPlanner(config: config())
        other.addPeer(peers[0], now: 0)
        other.want(c)
        XCTAssertEqual(other.plan(now: 0)[peers[0]]?.map(\.sendDontHave), [true, true])
    }

    func testDuplicateWantsAndUnwantedBlocks() throws {
        var planner = SessionPlanner(config: config())
        let peers = peerIDs(1)
        planner.addPeer(peers[0], now: 0)
        let c = try cids(2)
        planner.want([c[0]])
        planner.want([c[0]])
        XCTAssertEqual(planner.plan(now: 0)[peers[0]]?.count, 1)
        XCTAssertNil(planner.blockReceived(c[1].multihash, bytes: 1, from: peers[0], now: 0))
        XCTAssertNotNil(planner.blockReceived(c[0].multihash, bytes: 1, from: peers[0], now: 0))
        XCTAssertTrue(planner.isComplete)
        XCTAssertNil(planner.blockReceived(c[0].multihash, bytes: 1, from: peers[0], now: 0), "a duplicate")
    }

    func testDontHaveRequeuesToAnotherPeer() throws {
        var planner = SessionPlanner(config: config())
        let peers = peerIDs(2)
        for peer in peers { planner.addPeer(peer, now: 0) }
        let c = try cids(1)
        planner.want(c)
        let first = try XCTUnwrap(assignments(planner.plan(now: 0))[c[0]])
        let second = peers.first { $0 != first }!
        planner.presence(c[0].multihash, kind: .dontHave, from: first, now: 0.1)
        XCTAssertEqual(planner.peers[first]?.inflight.count, 0)
        XCTAssertEqual(planner.peers[first]?.dontHaves, 1)
        XCTAssertEqual(assignments(planner.plan(now: 0.1)), [c[0]: second])
        // A HAVE changes nothing but the peer's liveness.
        planner.presence(c[0].multihash, kind: .have, from: second, now: 0.2)
        XCTAssertEqual(planner.peers[second]?.inflight.count, 1)
        XCTAssertEqual(planner.plan(now: 0.2), [:])
    }

    /// After a DONT_HAVE the want goes to a peer that said HAVE, not to the next one in turn.
    func testPeersThatSaidHaveAreAskedFirst() throws {
        var planner = SessionPlanner(config: config())
        let peers = peerIDs(5)
        for peer in peers { planner.addPeer(peer, now: 0) }
        let c = try cids(1)
        planner.want(c)
        let first = try XCTUnwrap(assignments(planner.plan(now: 0))[c[0]])
        let holder = try XCTUnwrap(peers.last { $0 != first })
        planner.presence(c[0].multihash, kind: .have, from: holder, now: 0.05)
        planner.presence(c[0].multihash, kind: .dontHave, from: first, now: 0.1)
        XCTAssertEqual(assignments(planner.plan(now: 0.1)), [c[0]: holder])
    }

    /// A provider found while the root is out to a silent peer is asked at once, not after the
    /// silent peer's timeout; the block's arrival cancels it at the other.
    func testAProviderFoundIsAskedForAWantAlreadyOut() throws {
        var planner = SessionPlanner(config: config())
        let silent = peerIDs(1)[0]
        planner.addPeer(silent, now: 0)
        let c = try cids(1)
        planner.want(c)
        XCTAssertEqual(assignments(planner.plan(now: 0)), [c[0]: silent])
        let provider = peerIDs(1)[0]
        let entries = planner.providerFound(provider, for: c[0].multihash, now: 0.3)
        XCTAssertEqual(entries.map(\.cid), [c[0]])
        XCTAssertEqual(entries.first?.wantType, .block)
        XCTAssertEqual(planner.providerFound(provider, for: c[0].multihash, now: 0.4), [])
        let (_, cancelAt) = try XCTUnwrap(planner.blockReceived(c[0].multihash, bytes: 10, from: provider, now: 0.5))
        XCTAssertEqual(cancelAt, [silent])
        XCTAssertTrue(planner.isComplete)
    }

    func testAllRefusedWaitsRetryDelayThenRetries() throws {
        var planner = SessionPlanner(config: config(retry: 1))
        let peers = peerIDs(2)
        for peer in peers { planner.addPeer(peer, now: 0) }
        let c = try cids(1)
        planner.want(c)
        var now = 0.0
        for _ in 0..<2 {
            let asked = try XCTUnwrap(assignments(planner.plan(now: now))[c[0]])
            planner.presence(c[0].multihash, kind: .dontHave, from: asked, now: now)
        }
        now = 0.5
        XCTAssertEqual(planner.plan(now: now), [:], "everyone refused: wait")
        XCTAssertEqual(planner.nextRetry, 1.5)
        XCTAssertEqual(planner.plan(now: 1.0), [:])
        XCTAssertEqual(planner.plan(now: 1.49), [:])
        let retried = planner.plan(now: 1.5)
        XCTAssertEqual(retried.values.flatMap { $0 }.map(\.cid), [c[0]], "asked again after retryDelay")
        XCTAssertFalse(planner.isComplete)
        XCTAssertEqual(planner.activePeers.count, 2, "refusing is no offence")
    }

    func testDropPeerRequeuesItsInflight() throws {
        var planner = SessionPlanner(config: config(window: 2))
        let peers = peerIDs(2)
        for peer in peers { planner.addPeer(peer, now: 0) }
        let c = try cids(4)
        planner.want(c)
        let plan = planner.plan(now: 0)
        XCTAssertEqual(plan.values.map(\.count), [2, 2])
        let victim = peers[0], survivor = peers[1]
        let victimCIDs = Set(plan[victim]!.map(\.cid))
        XCTAssertEqual(Set(planner.dropPeer(victim, reason: "gone")), Set(victimCIDs.map(\.multihash)))
        XCTAssertEqual(planner.peers[victim]?.dropped, "gone")
        XCTAssertEqual(planner.activePeers, [survivor])
        XCTAssertEqual(planner.dropPeer(victim, reason: "again"), [], "dropping twice is a no-op")
        XCTAssertEqual(planner.plan(now: 0), [:], "the survivor's window is full")
        for entry in plan[survivor]! {
            _ = planner.blockReceived(entry.cid.multihash, bytes: 1, from: survivor, now: 0.1)
        }
        XCTAssertEqual(Set(planner.plan(now: 0.1)[survivor]?.map(\.cid) ?? []), victimCIDs)
        planner.addPeer(victim, now: 0.2)
        XCTAssertNotNil(planner.peers[victim]?.dropped, "a dropped peer stays dropped")
    }

    func testTimeoutReasksAnotherPeer() throws {
        var planner = SessionPlanner(config: config(timeout: 10))
        let peers = peerIDs(2)
        for peer in peers { planner.addPeer(peer, now: 0) }
        let c = try cids(1)
        planner.want(c)
        let silent = try XCTUnwrap(assignments(planner.plan(now: 0))[c[0]])
        let other = peers.first { $0 != silent }!
        XCTAssertEqual(planner.checkTimeouts(now: 9.9), [])
        XCTAssertEqual(planner.plan(now: 9.9), [:])
        XCTAssertEqual(planner.checkTimeouts(now: 10), [])
        XCTAssertEqual(planner.peers[silent]?.strikes, 1)
        XCTAssertEqual(assignments(planner.plan(now: 10)), [c[0]: other])
        // The silent peer may still answer: the block is taken and the other peer gets a cancel.
        let received = planner.blockReceived(c[0].multihash, bytes: 5, from: silent, now: 11)
        XCTAssertEqual(received?.cid, c[0])
        XCTAssertEqual(received?.cancelAt, [other])
        XCTAssertEqual(planner.peers[silent]?.strikes, 0, "an answer clears the strikes")
        XCTAssertTrue(planner.isComplete)
    }

    func testAnswersKeepAPeerAlive() throws {
        var planner = SessionPlanner(config: config(timeout: 10))
        let peers = peerIDs(1)
        planner.addPeer(peers[0], now: 0)
        let c = try cids(2)
        planner.want(c)
        _ = planner.plan(now: 0)
        planner.presence(c[0].multihash, kind: .have, from: peers[0], now: 8)
        XCTAssertEqual(planner.checkTimeouts(now: 12), [])
        XCTAssertEqual(planner.peers[peers[0]]?.strikes, 0, "heard from 4 s ago")
        _ = planner.blockReceived(c[0].multihash, bytes: 1, from: peers[0], now: 15)
        XCTAssertEqual(planner.checkTimeouts(now: 24), [])
        XCTAssertEqual(planner.peers[peers[0]]?.strikes, 0)
    }

    func testSilentPeerIsEventuallyDropped() throws {
        var planner = SessionPlanner(config: config(timeout: 10, retry: 1, strikes: 3))
        let peers = peerIDs(1)
        let silent = peers[0]
        planner.addPeer(silent, now: 0)
        let c = try cids(1)
        planner.want(c)
        var now = 0.0
        var dropped: [PeerID] = []
        var rounds = 0
        while dropped.isEmpty && rounds < 100 {
            rounds += 1
            _ = planner.plan(now: now)
            now += 1
            dropped = planner.checkTimeouts(now: now)
        }
        XCTAssertEqual(dropped, [silent])
        XCTAssertLessThanOrEqual(now, 40, "three silent periods of 10 s (plus retry pauses)")
        XCTAssertGreaterThanOrEqual(now, 30)
        XCTAssertNotNil(planner.peers[silent]?.dropped)
        XCTAssertEqual(planner.activePeers, [])
        XCTAssertFalse(planner.isComplete)
        XCTAssertEqual(planner.plan(now: now + 100), [:], "no peer left to ask")
    }

    func testWantsTravelInBatches() throws {
        var planner = SessionPlanner(config: config(window: 8, minBatch: 4))
        let peers = peerIDs(1)
        planner.addPeer(peers[0], now: 0)
        let c = try cids(20)
        planner.want(c)
        XCTAssertEqual(planner.plan(now: 0)[peers[0]]?.count, 8)
        for cid in c.prefix(3) { _ = planner.blockReceived(cid.multihash, bytes: 1, from: peers[0], now: 1) }
        XCTAssertEqual(planner.plan(now: 1), [:], "3 free slots: less than a batch of 4")
        _ = planner.blockReceived(c[3].multihash, bytes: 1, from: peers[0], now: 1)
        XCTAssertEqual(planner.plan(now: 1)[peers[0]]?.map(\.cid), Array(c[8..<12]))
        // With fewer wants queued than a batch, they go out at once.
        for cid in c[4..<12] { _ = planner.blockReceived(cid.multihash, bytes: 1, from: peers[0], now: 2) }
        XCTAssertEqual(planner.plan(now: 2)[peers[0]]?.map(\.cid), Array(c[12..<20]))
        for cid in c[12..<19] { _ = planner.blockReceived(cid.multihash, bytes: 1, from: peers[0], now: 3) }
        planner.want(try cids(2, tag: "late"))
        XCTAssertEqual(planner.plan(now: 3)[peers[0]]?.count, 2, "2 queued, 7 free: no need to wait")
    }

    func testRefusersGetCancelsWhenTheBlockArrives() throws {
        var planner = SessionPlanner(config: config())
        let peers = peerIDs(3)
        for peer in peers { planner.addPeer(peer, now: 0) }
        let c = try cids(1)
        planner.want(c)
        let first = try XCTUnwrap(assignments(planner.plan(now: 0))[c[0]])
        planner.presence(c[0].multihash, kind: .dontHave, from: first, now: 0)
        let second = try XCTUnwrap(assignments(planner.plan(now: 0))[c[0]])
        XCTAssertNotEqual(first, second)
        let received = try XCTUnwrap(planner.blockReceived(c[0].multihash, bytes: 1, from: second, now: 1))
        XCTAssertEqual(received.cancelAt, [first], "the refuser keeps the want until cancelled")
    }

    func testWantedCIDsAndCompletion() throws {
        var planner = SessionPlanner(config: config())
        XCTAssertTrue(planner.isComplete)
        let c = try cids(3)
        planner.want(c)
        XCTAssertEqual(Set(planner.wantedCIDs), Set(c))
        XCTAssertEqual(planner.plan(now: 0), [:], "no peers")
        let peers = peerIDs(1)
        planner.addPeer(peers[0], now: 0)
        XCTAssertEqual(planner.plan(now: 0)[peers[0]]?.map(\.cid), c, "queued wants go out once a peer comes")
        for cid in c { _ = planner.blockReceived(cid.multihash, bytes: 1, from: peers[0], now: 1) }
        XCTAssertTrue(planner.isComplete)
    }
}
