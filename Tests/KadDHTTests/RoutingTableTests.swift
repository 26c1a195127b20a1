import Multiformats
import P2PCrypto
import Testing

@testable import KadDHT
import TestSupport

private func config(k: Int = 20, cache: Int = 20, diversity: RoutingTable.Diversity? = nil) -> RoutingTable.Config {
    var config = RoutingTable.Config()
    config.bucketSize = k
    config.replacementCacheSize = cache
    config.diversity = diversity
    return config
}

private let publicAddr = addr("/ip4/203.0.113.7/tcp/4001")

@Suite(.onBlockingPool) struct RoutingTableTests {
    // MARK: membership

    @Test func addsUpdatesAndRejectsSelf() {
        var rng = SplitMix(seed: 1)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local)
        let a = randomPeer(&rng)
        #expect(table.count == 0 && table.peers.isEmpty)
        #expect(table.isUsefulNewPeer(a))
        #expect(table.add(a, addresses: [publicAddr], now: 1, queried: false) == .added)
        #expect(table.contains(a) && table.count == 1 && table.peers == [a])
        #expect(!table.isUsefulNewPeer(a), "already present")
        #expect(table.entry(for: a)?.lastUseful == nil, "never answered a query")
        #expect(table.add(a, addresses: [], now: 2, queried: false) == .updated)
        #expect(table.entry(for: a)?.lastSeen == 1, "an unqueried re-add does not make the peer fresher")
        #expect(table.add(a, addresses: [], now: 3, queried: true) == .updated)
        #expect(table.entry(for: a)?.lastUseful == 3 && table.entry(for: a)?.lastSeen == 3)
        #expect(table.count == 1)

        guard case .rejected = table.add(local, addresses: [], now: 1, queried: true) else {
            Issue.record("the local peer must be rejected")
            return
        }
        #expect(!table.isUsefulNewPeer(local))
        #expect(!table.contains(local) && table.count == 1)
    }

    @Test func peersLandInTheBucketOfTheirCommonPrefixLength() {
        var rng = SplitMix(seed: 2)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(k: 20))
        let peers = randomPeers(1_000, &rng)
        for p in peers { _ = table.add(p, addresses: [], now: 0, queried: false) }
        let localKey = KadKey(peer: local)
        for p in table.peers {
            #expect(table.bucketIndex(of: p) == localKey.commonPrefixLength(with: KadKey(peer: p)))
        }
        let infos = table.buckets()
        #expect(infos.map(\.index) == Array(0..<infos.count))
        #expect(infos.allSatisfy { $0.peers <= 20 && $0.cached <= 20 })
        #expect(infos.reduce(0) { $0 + $1.peers } == table.count)
        #expect(infos[0].peers == 20 && infos[0].cached == 20, "half the network shares no prefix: bucket 0 is full")
        #expect(infos.allSatisfy { $0.lastRefreshed == -.infinity })
        #expect(Set(table.peers).count == table.count)
        #expect(table.bucketIndex(of: local) == 256)
    }

    @Test func fullBucketFillsTheReplacementCacheFreshestFirst() {
        var rng = SplitMix(seed: 3)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(k: 2, cache: 2))
        let b0 = (0..<5).map { _ in peer(inBucket: 0, of: local, &rng) }
        #expect(table.add(b0[0], addresses: [], now: 0, queried: false) == .added)
        #expect(table.add(b0[1], addresses: [], now: 1, queried: false) == .added)
        #expect(!table.isUsefulNewPeer(b0[2]), "bucket 0 is full")
        #expect(table.isUsefulNewPeer(peer(inBucket: 1, of: local, &rng)), "bucket 1 has room")
        #expect(table.add(b0[2], addresses: [], now: 2, queried: false) == .cached)
        #expect(table.add(b0[3], addresses: [], now: 3, queried: false) == .cached)
        #expect(table.add(b0[4], addresses: [], now: 4, queried: false) == .cached, "the stalest candidate (b0[2]) makes room")
        #expect(table.count == 2 && !table.contains(b0[2]))
        #expect(table.buckets() == [RoutingTable.BucketInfo(index: 0, peers: 2, cached: 2, lastRefreshed: -.infinity)])

        // b0[3] is seen again: now the freshest candidate.
        table.markAlive(b0[3], now: 5)
        #expect(table.remove(b0[0]) == b0[3])
        #expect(table.contains(b0[3]) && table.count == 2)
        #expect(table.entry(for: b0[3])?.lastUseful == 5, "markAlive on a candidate counts as an answer")
        #expect(table.remove(b0[1]) == b0[4])
        #expect(table.remove(b0[3]) == nil, "the cache is empty now")
        #expect(table.peers == [b0[4]])
        #expect(table.buckets().first?.cached == 0)
    }

    @Test func reAddingACandidateRefreshesIt() {
        var rng = SplitMix(seed: 4)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(k: 1, cache: 3))
        let b0 = (0..<4).map { _ in peer(inBucket: 0, of: local, &rng) }
        _ = table.add(b0[0], addresses: [], now: 0, queried: false)
        for (i, p) in b0.dropFirst().enumerated() { #expect(table.add(p, addresses: [], now: Double(i + 1), queried: false) == .cached) }
        #expect(table.add(b0[1], addresses: [], now: 10, queried: false) == .cached)
        #expect(table.buckets().first?.cached == 3, "no duplicate candidate")
        #expect(table.remove(b0[0]) == b0[1])
    }

    @Test func noCacheMeansAFullBucketRejects() {
        var rng = SplitMix(seed: 5)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(k: 1, cache: 0))
        let a = peer(inBucket: 2, of: local, &rng)
        let b = peer(inBucket: 2, of: local, &rng)
        #expect(table.add(a, addresses: [], now: 0, queried: false) == .added)
        guard case .rejected(let reason) = table.add(b, addresses: [], now: 0, queried: false) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(reason.contains("bucket 2"))
        #expect(table.remove(a) == nil)
        #expect(table.count == 0)
        #expect(table.buckets().isEmpty, "an empty bucket is not kept")
    }

    @Test func removingUnknownPeersAndCandidates() {
        var rng = SplitMix(seed: 6)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(k: 1, cache: 2))
        let a = peer(inBucket: 0, of: local, &rng)
        let b = peer(inBucket: 0, of: local, &rng)
        #expect(table.remove(a) == nil, "unknown")
        _ = table.add(a, addresses: [], now: 0, queried: false)
        #expect(table.add(b, addresses: [], now: 0, queried: false) == .cached)
        #expect(table.remove(b) == nil, "removing a candidate promotes nothing")
        #expect(table.buckets().first?.cached == 0)
        #expect(table.remove(a) == nil, "b is gone from the cache too")
        #expect(table.count == 0)
        table.markAlive(a, now: 1)  // unknown: no-op
        #expect(table.count == 0)
    }

    // MARK: nearest

    @Test func nearestMatchesBruteForce() {
        var rng = SplitMix(seed: 7)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(k: 1_000))
        let peers = randomPeers(300, &rng)
        for p in peers { #expect(table.add(p, addresses: [], now: 0, queried: false) == .added) }
        for _ in 0..<10 {
            let target = KadKey(peer: randomPeer(&rng))
            let expected = sortedByDistance(peers, to: target)
            #expect(table.nearest(to: target, count: 20) == Array(expected.prefix(20)))
            let excluded = Set(expected.prefix(3))
            #expect(table.nearest(to: target, count: 5, excluding: excluded) == Array(expected.dropFirst(3).prefix(5)))
        }
        let target = KadKey(peer: peers[17])
        #expect(table.nearest(to: target, count: 1) == [peers[17]], "a member is nearest to its own key")
        #expect(table.nearest(to: target, count: 0).isEmpty)
        #expect(table.nearest(to: target, count: -1).isEmpty)
        #expect(table.nearest(to: target, count: 10_000).count == 300)
        #expect(RoutingTable(local: local).nearest(to: target, count: 5).isEmpty)
    }

    // MARK: diversity

    @Test func diversityLimitsPerBucketAndPerTable() {
        var rng = SplitMix(seed: 8)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(diversity: .init()))
        let sameNet = (1...6).map { addr("/ip4/203.0.\($0).1/tcp/4001") }  // one /16
        let b0 = (0..<3).map { _ in peer(inBucket: 0, of: local, &rng) }
        #expect(table.add(b0[0], addresses: [sameNet[0]], now: 0, queried: false) == .added)
        #expect(table.add(b0[1], addresses: [sameNet[1]], now: 0, queried: false) == .added)
        guard case .rejected(let perBucket) = table.add(b0[2], addresses: [sameNet[2]], now: 0, queried: false) else {
            Issue.record("a third peer of 203.0/16 in bucket 0 must be rejected")
            return
        }
        #expect(perBucket.contains("203.0.0.0/16") && perBucket.contains("bucket 0"))
        // Another /16 in the same bucket is fine.
        #expect(table.add(b0[2], addresses: [addr("/ip4/198.51.100.1/tcp/1")], now: 0, queried: false) == .added)

        let b1 = (0..<2).map { _ in peer(inBucket: 1, of: local, &rng) }
        #expect(table.add(b1[0], addresses: [sameNet[3]], now: 0, queried: false) == .added)
        guard case .rejected(let total) = table.add(b1[1], addresses: [sameNet[4]], now: 0, queried: false) else {
            Issue.record("a fourth peer of 203.0/16 in the table must be rejected")
            return
        }
        #expect(total.contains("in the table"))
        // Removing one frees a slot.
        table.remove(b0[0])
        #expect(table.add(b1[1], addresses: [sameNet[4]], now: 0, queried: false) == .added)
        #expect(table.count == 4)
    }

    @Test func everyGroupOfAPeerMustHaveRoom() {
        var rng = SplitMix(seed: 9)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(diversity: .init()))
        let b3 = (0..<3).map { _ in peer(inBucket: 3, of: local, &rng) }
        _ = table.add(b3[0], addresses: [addr("/ip4/1.2.3.4/tcp/1")], now: 0, queried: false)
        _ = table.add(b3[1], addresses: [addr("/ip4/1.2.9.9/tcp/1")], now: 0, queried: false)
        let multi = [addr("/ip4/8.8.8.8/tcp/1"), addr("/ip4/1.2.200.1/udp/1/quic-v1")]
        guard case .rejected = table.add(b3[2], addresses: multi, now: 0, queried: false) else {
            Issue.record("one full group is enough to reject")
            return
        }
        // Two addresses in one group count once.
        let twice = [addr("/ip4/9.9.9.9/tcp/1"), addr("/ip4/9.9.9.9/udp/1/quic-v1")]
        let b4 = (0..<2).map { _ in peer(inBucket: 4, of: local, &rng) }
        #expect(table.add(b4[0], addresses: twice, now: 0, queried: false) == .added)
        #expect(table.add(b4[1], addresses: [addr("/ip4/9.9.1.1/tcp/1")], now: 0, queried: false) == .added)
    }

    @Test func exemptAndIPlessAddressesAreNeverLimited() {
        var rng = SplitMix(seed: 10)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(k: 100, diversity: .init()))
        let exempt = [
            "/ip4/127.0.0.1/tcp/1", "/ip4/10.1.2.3/tcp/1", "/ip4/192.168.1.5/tcp/1", "/ip4/172.16.0.1/tcp/1",
            "/ip4/172.31.255.1/tcp/1", "/ip4/169.254.1.1/tcp/1", "/ip4/100.64.0.1/tcp/1", "/ip6/::1/tcp/1",
            "/ip6/fe80::1/tcp/1", "/ip6/fd00::1/tcp/1", "/dns4/example.com/tcp/1", "/ip6/::ffff:10.0.0.1/tcp/1",
        ]
        for a in exempt {
            for _ in 0..<4 {
                let p = peer(inBucket: 0, of: local, &rng)
                #expect(table.add(p, addresses: [addr(a)], now: 0, queried: false) == .added, "\(a)")
            }
        }
        for _ in 0..<4 {
            #expect(table.add(peer(inBucket: 1, of: local, &rng), addresses: [], now: 0, queried: false) == .added)
        }
        #expect(table.count == exempt.count * 4 + 4)
    }

    @Test func lanTableHasNoDiversityLimit() {
        var rng = SplitMix(seed: 11)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local)
        for _ in 0..<10 {
            #expect(table.add(peer(inBucket: 0, of: local, &rng), addresses: [publicAddr], now: 0, queried: false) == .added)
        }
    }

    @Test func ipv6IsGroupedBy32AndMappedIPv4AsIPv4() {
        var rng = SplitMix(seed: 12)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(diversity: .init()))
        let b0 = (0..<4).map { _ in peer(inBucket: 0, of: local, &rng) }
        #expect(table.add(b0[0], addresses: [addr("/ip6/2001:db8:1::1/tcp/1")], now: 0, queried: false) == .added)
        #expect(table.add(b0[1], addresses: [addr("/ip6/2001:db8:ffff::2/tcp/1")], now: 0, queried: false) == .added)
        guard case .rejected = table.add(b0[2], addresses: [addr("/ip6/2001:db8::3/tcp/1")], now: 0, queried: false) else {
            Issue.record("third peer of 2001:db8::/32 in one bucket")
            return
        }
        #expect(table.add(b0[2], addresses: [addr("/ip6/2001:db9::3/tcp/1")], now: 0, queried: false) == .added)

        #expect(IPGroup(addr("/ip6/::ffff:203.0.113.9/tcp/1")) == IPGroup(addr("/ip4/203.0.7.7/tcp/1")))
        #expect(IPGroup(addr("/ip6/2001:db8:1::1/tcp/1"))?.description == "2001:db8::/32")
        #expect(IPGroup(addr("/ip4/203.0.113.9/tcp/1"))?.description == "203.0.0.0/16")
        #expect(IPGroup(addr("/ip4/1.2.3.4/tcp/1/p2p-circuit")) == IPGroup(addr("/ip4/1.2.0.0/tcp/9")), "relayed: the relay's group")
        #expect(IPGroup(addr("/ip4/172.32.0.1/tcp/1")) != nil, "172.32/16 is outside 172.16/12")
        #expect(IPGroup(addr("/ip4/100.128.0.1/tcp/1")) != nil, "100.128/16 is outside 100.64/10")
        #expect(IPGroup(addr("/ip4/0.1.2.3/tcp/1")) == nil)
        #expect(IPGroup(addr("/ip6/::/tcp/1")) == nil)
        #expect(IPGroup(addr("/unix/tmp/sock")) == nil)
        #expect(IPGroup(Multiaddr([])) == nil)
        #expect(IPGroup.groups(of: [addr("/ip4/9.9.9.9/tcp/1"), addr("/ip4/9.9.1.1/udp/1"), addr("/ip4/10.0.0.1/tcp/1")]).count == 1)
    }

    @Test func promotionRechecksDiversity() {
        var rng = SplitMix(seed: 13)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local, config: config(k: 2, diversity: .init()))
        let x = [addr("/ip4/45.1.0.1/tcp/1"), addr("/ip4/45.1.0.2/tcp/1"), addr("/ip4/45.1.0.3/tcp/1"), addr("/ip4/45.1.0.4/tcp/1")]
        let y = addr("/ip4/46.1.0.1/tcp/1")
        let b0 = (0..<4).map { _ in peer(inBucket: 0, of: local, &rng) }
        #expect(table.add(b0[0], addresses: [x[0]], now: 0, queried: false) == .added)
        #expect(table.add(b0[1], addresses: [y], now: 0, queried: false) == .added)
        #expect(table.add(b0[2], addresses: [addr("/ip4/47.1.0.1/tcp/1")], now: 1, queried: false) == .cached)
        #expect(table.add(b0[3], addresses: [x[1]], now: 2, queried: false) == .cached, "45.1/16 has 1 peer in bucket 0: room")
        // Two more 45.1/16 peers elsewhere fill the table-wide limit of 3.
        #expect(table.add(peer(inBucket: 1, of: local, &rng), addresses: [x[2]], now: 0, queried: false) == .added)
        #expect(table.add(peer(inBucket: 2, of: local, &rng), addresses: [x[3]], now: 0, queried: false) == .added)
        // b0[3] is the freshest candidate but its group is full now: it is dropped, b0[2] takes the place.
        #expect(table.remove(b0[1]) == b0[2])
        #expect(!table.contains(b0[3]))
        #expect(table.buckets().first?.cached == 0)
    }

    // MARK: liveness and refresh

    @Test func stalePeersNeedAChecksStalestFirst() {
        var rng = SplitMix(seed: 14)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local)
        let p = randomPeers(3, &rng)
        _ = table.add(p[0], addresses: [], now: 0, queried: false)
        _ = table.add(p[1], addresses: [], now: 10, queried: true)
        _ = table.add(p[2], addresses: [], now: 20, queried: false)
        #expect(table.peersNeedingCheck(now: 25, staleAfter: 30).isEmpty)
        #expect(table.peersNeedingCheck(now: 30, staleAfter: 30) == [p[0]])
        #expect(table.peersNeedingCheck(now: 45, staleAfter: 30) == [p[0], p[1]])
        table.markAlive(p[0], now: 44)
        #expect(table.peersNeedingCheck(now: 45, staleAfter: 30) == [p[1]])
        #expect(table.peersNeedingCheck(now: 100, staleAfter: 30) == [p[1], p[2], p[0]])
        table.markAlive(p[1], now: 40)  // an out-of-order report does not move it back
        #expect(table.entry(for: p[1])?.lastSeen == 40)
        table.markAlive(p[1], now: 30)
        #expect(table.entry(for: p[1])?.lastSeen == 40)
        #expect(table.entry(for: p[1])?.addedAt == 10)
        #expect(RoutingTable(local: local).peersNeedingCheck(now: 100, staleAfter: 1).isEmpty)
    }

    @Test func bucketsNeedingRefreshUpToDeepestPlusOne() {
        var rng = SplitMix(seed: 15)
        let local = randomPeer(&rng)
        var table = RoutingTable(local: local)
        #expect(table.bucketsNeedingRefresh(now: 0, interval: 600) == [0], "an empty table refreshes bucket 0")
        _ = table.add(peer(inBucket: 3, of: local, &rng), addresses: [], now: 0, queried: false)
        #expect(table.bucketsNeedingRefresh(now: 0, interval: 600) == [0, 1, 2, 3, 4], "never refreshed: all due")
        table.markRefreshed(bucket: 2, now: 100)
        table.markRefreshed(bucket: 4, now: 150)
        #expect(table.bucketsNeedingRefresh(now: 200, interval: 600) == [0, 1, 3])
        #expect(table.bucketsNeedingRefresh(now: 700, interval: 600) == [0, 1, 2, 3])
        #expect(table.bucketsNeedingRefresh(now: 750, interval: 600) == [0, 1, 2, 3, 4])
        let never = -Double.infinity
        let expected: [Double] = [never, never, 100, never, 150]
        #expect(table.buckets().map(\.lastRefreshed) == expected)

        table.markRefreshed(bucket: -1, now: 1)
        table.markRefreshed(bucket: 256, now: 1)
        #expect(table.buckets().count == 5, "out-of-range indexes are ignored")

        // Refreshed buckets are capped at 15, however deep the table goes.
        _ = table.add(peer(inBucket: 15, of: local, &rng), addresses: [], now: 0, queried: false)
        #expect(table.bucketsNeedingRefresh(now: 750, interval: 600) == Array(0...15))
    }

    @Test func randomKeyLandsInTheRequestedBucket() throws {
        var rng = SplitMix(seed: 16)
        let local = KadKey(peer: randomPeer(&rng))
        for cpl in [0, 1, 2, 7, 12, 15] {
            let key = RoutingTable.randomKey(commonPrefixLength: cpl, with: local, using: &rng)
            #expect(key.count == 34 && key[0] == 0x12 && key[1] == 0x20)
            #expect(KadKey(key: key).commonPrefixLength(with: local) == cpl)
            let peer = try PeerID(bytes: key)
            #expect(KadKey(peer: peer) == KadKey(key: key), "the key is a peer ID: FIND_NODE lands in the bucket")
        }
        let clampedHigh = RoutingTable.randomKey(commonPrefixLength: 200, with: local, using: &rng)
        #expect(KadKey(key: clampedHigh).commonPrefixLength(with: local) == 15)
        let clampedLow = RoutingTable.randomKey(commonPrefixLength: -5, with: local, using: &rng)
        #expect(KadKey(key: clampedLow).commonPrefixLength(with: local) == 0)

        var r1 = SplitMix(seed: 99)
        var r2 = SplitMix(seed: 99)
        #expect(
            RoutingTable.randomKey(commonPrefixLength: 9, with: local, using: &r1)
                == RoutingTable.randomKey(commonPrefixLength: 9, with: local, using: &r2), "deterministic for a given generator")
    }
}
