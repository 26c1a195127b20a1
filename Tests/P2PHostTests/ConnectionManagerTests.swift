import P2PCore
import P2PCrypto
import Testing

@testable import P2PHost
import TestSupport

@Suite("ConnectionManager", .onBlockingPool)
struct ConnectionManagerTests {
    let peers = (0..<6).map { _ in PrivateKey.generateEd25519().publicKey.peerID }

    func candidates(_ opened: [Double], streams: [Int]? = nil) -> [ConnectionManager.Candidate] {
        opened.enumerated().map { i, t in
            .init(peer: peers[i], connections: 1, newestOpenedAt: t, activeStreams: streams?[i] ?? 0)
        }
    }

    @Test func nothingBelowHighWater() {
        let cm = ConnectionManager(lowWater: 2, highWater: 4, gracePeriod: 10)
        #expect(cm.peersToTrim(candidates([0, 1, 2, 3]), now: 100).isEmpty)
    }

    @Test func trimsOldestToLowWater() {
        let cm = ConnectionManager(lowWater: 2, highWater: 4, gracePeriod: 10)
        #expect(cm.peersToTrim(candidates([5, 1, 3, 2, 4]), now: 100) == [peers[1], peers[3], peers[2]])
    }

    @Test func keepsNewConnectionsInGrace() {
        let cm = ConnectionManager(lowWater: 1, highWater: 3, gracePeriod: 10)
        // peers 2..4 are younger than 10 s: only 0 and 1 may go.
        #expect(cm.peersToTrim(candidates([1, 2, 95, 96, 97]), now: 100) == [peers[0], peers[1]])
    }

    @Test func protectedPeersStay() {
        var cm = ConnectionManager(lowWater: 2, highWater: 4, gracePeriod: 0)
        cm.protect(peers[0], tag: "bootstrap")
        cm.protect(peers[0], tag: "dht")
        let still = cm.unprotect(peers[0], tag: "dht")
        #expect(still)
        #expect(cm.peersToTrim(candidates([0, 1, 2, 3, 4]), now: 100) == [peers[1], peers[2], peers[3]])
        let stillAfter = cm.unprotect(peers[0], tag: "bootstrap")
        #expect(!stillAfter)
        #expect(cm.peersToTrim(candidates([0, 1, 2, 3, 4]), now: 100) == [peers[0], peers[1], peers[2]])
    }

    @Test func busyPeersGoLast() {
        let cm = ConnectionManager(lowWater: 3, highWater: 4, gracePeriod: 0)
        #expect(cm.peersToTrim(candidates([0, 1, 2, 3, 4], streams: [5, 0, 0, 0, 0]), now: 100) == [peers[1], peers[2]])
    }
}
