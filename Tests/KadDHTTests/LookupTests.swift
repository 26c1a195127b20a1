import P2PCrypto
import Testing

@testable import KadDHT
import TestSupport

/// A synthetic Kademlia network: every peer's routing table (k = 20) was offered every other peer
/// in a random order, so each answers FIND_NODE with its table's 20 nearest to the target.
private struct SimNetwork {
    let peers: [PeerID]
    let tables: [PeerID: RoutingTable]

    init(size: Int, seed: UInt64) {
        var rng = SplitMix(seed: seed)
        let peers = randomPeers(size, &rng)
        var tables: [PeerID: RoutingTable] = [:]
        for p in peers {
            var table = RoutingTable(local: p)
            for other in peers.shuffled(using: &rng) where other != p {
                _ = table.add(other, addresses: [], now: 0, queried: false)
            }
            tables[p] = table
        }
        self.peers = peers
        self.tables = tables
    }

    func answer(_ peer: PeerID, target: KadKey) -> [PeerID] {
        tables[peer]?.nearest(to: target, count: 20) ?? []
    }
}

/// How a simulated peer treats a request.
private enum Behaviour { case answer, fail, silent }

/// Drives a lookup on a fake clock: each request is answered (or fails) after a per-peer latency
/// of 10-500 ms, silent peers never answer and time out.
private struct Driver {
    var clock: Double = 0
    var maxWaiting = 0
    var sent: [PeerID] = []
    private var pending: [(at: Double, peer: PeerID, ok: Bool)] = []

    static func latency(_ peer: PeerID) -> Double {
        0.01 + Double(peer.bytes[7]) / 255 * 0.49
    }

    mutating func run(
        _ lookup: inout Lookup, behaviour: (PeerID) -> Behaviour = { _ in .answer }, closer: (PeerID) -> [PeerID]
    ) {
        var steps = 0
        while !lookup.isFinished, steps < 100_000 {
            steps += 1
            for peer in lookup.next(now: clock) {
                sent.append(peer)
                switch behaviour(peer) {
                case .answer: pending.append((clock + Self.latency(peer), peer, true))
                case .fail: pending.append((clock + Self.latency(peer) / 10, peer, false))
                case .silent: break
                }
            }
            maxWaiting = max(maxWaiting, lookup.waitingCount)
            let nextAnswer = pending.indices.min { pending[$0].at < pending[$1].at }
            let deadline = lookup.nextDeadline
            if let i = nextAnswer, deadline.map({ pending[i].at < $0 }) ?? true {
                let event = pending.remove(at: i)
                clock = event.at
                if event.ok {
                    lookup.succeeded(event.peer, closer: closer(event.peer), now: clock)
                } else {
                    lookup.failed(event.peer, now: clock)
                }
            } else if let deadline {
                clock = deadline
                _ = lookup.expire(now: clock)
            } else {
                Issue.record("lookup not finished but nothing to wait for")
                return
            }
        }
    }
}

private func lookupConfig(alpha: Int = 10, beta: Int = 3, k: Int = 20, timeout: Double = 10) -> LookupConfig {
    var config = LookupConfig()
    config.alpha = alpha
    config.beta = beta
    config.k = k
    config.requestTimeout = timeout
    return config
}

/// A lookup of a random target seeded with `count` random peers: the lookup, its seeds nearest
/// first, and the generator for more peers.
private func seededLookup(seed: UInt64, count: Int, config: LookupConfig, now: Double = 0)
    -> (lookup: Lookup, ordered: [PeerID], rng: SplitMix)
{
    var rng = SplitMix(seed: seed)
    let target = KadKey(peer: randomPeer(&rng))
    let seeds = randomPeers(count, &rng)
    let lookup = Lookup(target: target, seeds: seeds, config: config, now: now)
    return (lookup, sortedByDistance(seeds, to: target), rng)
}

@Suite(.onBlockingPool) struct LookupTests {
    // MARK: convergence

    @Test func convergesOnASyntheticNetwork() {
        let network = SimNetwork(size: 300, seed: 21)
        var rng = SplitMix(seed: 22)
        let local = network.peers[0]
        let others = Array(network.peers.dropFirst())
        for round in 0..<12 {
            let target = KadKey(peer: randomPeer(&rng))
            let truth = Array(sortedByDistance(others, to: target).prefix(20))
            let seeds = network.tables[local]?.nearest(to: target, count: 20) ?? []

            // go's defaults: the k best candidates when the beta closest have answered.
            var lookup = Lookup(target: target, seeds: seeds, local: local, now: 0)
            var driver = Driver()
            driver.run(&lookup) { network.answer($0, target: target) }
            #expect(lookup.termination == .completed, "round \(round)")
            #expect(lookup.closestCandidates(20) == truth, "round \(round)")
            #expect(Array(truth.prefix(3)) == lookup.closestQueried(3), "the beta closest answered")
            #expect(driver.maxWaiting <= 10)
            #expect(lookup.requestsSent < 60, "round \(round): \(lookup.requestsSent) requests (about 25 expected)")
            #expect(lookup.state(of: local) == nil, "never asks itself")
            #expect(truth.allSatisfy { (lookup.hops(of: $0) ?? 99) <= 4 })

            // With the follow-up every one of the k closest has answered.
            var config = LookupConfig()
            config.followUp = true
            var withFollowUp = Lookup(target: target, seeds: seeds, local: local, config: config, now: 0)
            var driver2 = Driver()
            driver2.run(&withFollowUp) { network.answer($0, target: target) }
            #expect(withFollowUp.termination == .completed)
            #expect(withFollowUp.closestQueried(20) == truth, "round \(round)")
            #expect(withFollowUp.result == truth)
            #expect(driver2.maxWaiting <= 10)
        }
    }

    @Test func classicTerminationWithBetaEqualToK() {
        let network = SimNetwork(size: 200, seed: 23)
        var rng = SplitMix(seed: 24)
        let local = network.peers[0]
        let target = KadKey(peer: randomPeer(&rng))
        let truth = Array(sortedByDistance(Array(network.peers.dropFirst()), to: target).prefix(20))
        var lookup = Lookup(
            target: target, seeds: network.tables[local]?.nearest(to: target, count: 20) ?? [], local: local,
            config: lookupConfig(beta: 20), now: 0)
        var driver = Driver()
        driver.run(&lookup) { network.answer($0, target: target) }
        #expect(lookup.isFinished && lookup.termination == .completed)
        #expect(lookup.closestQueried(20) == truth)
    }

    @Test func findsAPeerFromOneBadlyPlacedSeed() {
        let network = SimNetwork(size: 200, seed: 25)
        let wanted = network.peers[150]
        let target = KadKey(peer: wanted)
        let seed = sortedByDistance(network.peers, to: target).last ?? wanted  // the farthest peer
        var lookup = Lookup(target: target, seeds: [seed], now: 0)
        var driver = Driver()
        driver.run(&lookup) { network.answer($0, target: target) }
        #expect(lookup.closestQueried(1) == [wanted])
        #expect((lookup.hops(of: wanted) ?? 0) >= 2)
    }

    @Test func isDeterministic() {
        let network = SimNetwork(size: 150, seed: 26)
        var rng = SplitMix(seed: 27)
        let target = KadKey(peer: randomPeer(&rng))
        let seeds = Array(network.peers.prefix(30))
        var a = Lookup(target: target, seeds: seeds, now: 0)
        var b = Lookup(target: target, seeds: seeds.reversed(), now: 0)
        var da = Driver()
        var db = Driver()
        da.run(&a) { network.answer($0, target: target) }
        db.run(&b) { network.answer($0, target: target) }
        #expect(Array(da.sent.prefix(10)) == Array(sortedByDistance(seeds, to: target).prefix(10)), "closest heard first")
        #expect(da.sent == db.sent, "seed order does not matter")
        #expect(a.closestQueried(20) == b.closestQueried(20))
        #expect(a.requestsSent == b.requestsSent)
        #expect(da.clock == db.clock)
    }

    // MARK: concurrency and timeouts

    @Test func alphaBoundsTheRequestsInFlight() {
        var (lookup, ordered, _) = seededLookup(seed: 28, count: 50, config: lookupConfig(alpha: 3))
        let first = lookup.next(now: 0)
        #expect(first == Array(ordered.prefix(3)))
        #expect(first.allSatisfy { lookup.state(of: $0) == .waiting })
        #expect(lookup.waitingCount == 3 && lookup.requestsSent == 3)
        #expect(lookup.next(now: 0).isEmpty, "alpha requests already in flight")
        lookup.succeeded(first[1], closer: [], now: 1)
        let second = lookup.next(now: 1)
        #expect(second == [ordered[3]], "one slot freed, the next closest heard")
        #expect(lookup.waitingCount == 3 && lookup.requestsSent == 4)

        var zero = Lookup(target: lookup.target, seeds: ordered, config: lookupConfig(alpha: 0), now: 0)
        #expect(zero.next(now: 0).count == 1, "alpha below 1 counts as 1")
    }

    @Test func silentPeersTimeOut() {
        var (lookup, ordered, _) = seededLookup(seed: 29, count: 4, config: lookupConfig(alpha: 2, timeout: 5), now: 100)
        #expect(lookup.nextDeadline == nil, "nothing waits yet")
        #expect(lookup.next(now: 100) == Array(ordered.prefix(2)))
        #expect(lookup.nextDeadline == 105)
        #expect(lookup.expire(now: 104.9).isEmpty)
        #expect(lookup.expire(now: 105) == Array(ordered.prefix(2)), "both expire, closest first")
        #expect(lookup.state(of: ordered[0]) == .unreachable && lookup.state(of: ordered[1]) == .unreachable)
        #expect(lookup.nextDeadline == nil)
        #expect(!lookup.isFinished)
        #expect(lookup.next(now: 106) == Array(ordered.suffix(2)), "the unreachable are not asked again")
        #expect(lookup.nextDeadline == 111)
        lookup.succeeded(ordered[3], closer: [], now: 107)
        #expect(lookup.nextDeadline == 111)
        #expect(lookup.expire(now: 200) == [ordered[2]])
        #expect(lookup.isFinished && lookup.termination == .completed, "the only reachable peer answered")
        #expect(lookup.closestQueried(20) == [ordered[3]])
    }

    @Test func allSilentStarves() {
        var rng = SplitMix(seed: 30)
        let target = KadKey(peer: randomPeer(&rng))
        let seeds = randomPeers(25, &rng)
        var lookup = Lookup(target: target, seeds: seeds, config: lookupConfig(timeout: 10), now: 0)
        var driver = Driver()
        driver.run(&lookup, behaviour: { _ in .silent }, closer: { _ in [] })
        #expect(lookup.termination == .starved)
        #expect(lookup.closestQueried(20).isEmpty)
        #expect(lookup.requestsSent == 25)
        #expect(driver.clock == 30, "three rounds of ten, each timing out after 10 s")
        #expect(seeds.allSatisfy { lookup.state(of: $0) == .unreachable })
    }

    @Test func unreachablePeersAreSkippedAndStayUnreachable() {
        var (lookup, ordered, _) = seededLookup(seed: 31, count: 5, config: lookupConfig(alpha: 1, beta: 2))
        #expect(lookup.next(now: 0) == [ordered[0]])
        lookup.failed(ordered[0], now: 0.1)
        #expect(lookup.state(of: ordered[0]) == .unreachable)
        #expect(lookup.next(now: 0.1) == [ordered[1]])
        // ordered[1] names the failed peer again: it stays unreachable.
        lookup.succeeded(ordered[1], closer: [ordered[0]], now: 0.2)
        #expect(lookup.state(of: ordered[0]) == .unreachable)
        // A peer known to be undialable is failed without a request.
        lookup.failed(ordered[2], now: 0.2)
        #expect(lookup.next(now: 0.2) == [ordered[3]])
        #expect(lookup.requestsSent == 3)
        lookup.succeeded(ordered[3], closer: [], now: 0.3)
        #expect(lookup.isFinished && lookup.termination == .completed, "beta = 2 closest reachable answered")
        #expect(lookup.closestQueried(5) == [ordered[1], ordered[3]])
        #expect(lookup.closestCandidates(5) == [ordered[1], ordered[3], ordered[4]])
        #expect(lookup.next(now: 1).isEmpty)
    }

    @Test func failuresMoveTheBetaWindow() {
        let network = SimNetwork(size: 120, seed: 32)
        var rng = SplitMix(seed: 33)
        let target = KadKey(peer: randomPeer(&rng))
        let truth = sortedByDistance(network.peers, to: target)
        let dead = Set(truth.prefix(4))  // the four closest peers are down
        var lookup = Lookup(target: target, seeds: Array(network.peers.suffix(20)), now: 0)
        var driver = Driver()
        driver.run(&lookup, behaviour: { dead.contains($0) ? .fail : .answer }) { network.answer($0, target: target) }
        #expect(lookup.termination == .completed)
        #expect(lookup.closestQueried(3) == Array(truth.dropFirst(4).prefix(3)))
        #expect(dead.allSatisfy { lookup.state(of: $0) == .unreachable })
    }

    // MARK: termination

    @Test func betaClosestAnsweredEndsTheLookup() {
        var (lookup, ordered, rng) = seededLookup(seed: 34, count: 5, config: lookupConfig(alpha: 5, beta: 3))
        #expect(lookup.next(now: 0).count == 5)
        lookup.succeeded(ordered[4], closer: [], now: 1)
        lookup.succeeded(ordered[0], closer: [], now: 1)
        lookup.succeeded(ordered[1], closer: [], now: 1)
        #expect(!lookup.isFinished, "ordered[2] is among the beta closest and has not answered")
        lookup.succeeded(ordered[2], closer: [], now: 2)
        #expect(lookup.isFinished && lookup.termination == .completed)
        #expect(lookup.waitingCount == 1, "ordered[3] is still waiting: the driver cancels it")
        #expect(lookup.next(now: 2).isEmpty)
        // Its late answer is recorded, but names no new peers.
        let newcomer = randomPeer(&rng)
        lookup.succeeded(ordered[3], closer: [newcomer], now: 3)
        #expect(lookup.state(of: ordered[3]) == .queried)
        #expect(lookup.state(of: newcomer) == nil)
        #expect(lookup.closestQueried(3) == Array(ordered.prefix(3)))
    }

    @Test func aCloserPeerHeardDelaysTheEnd() {
        var rng = SplitMix(seed: 35)
        let target = KadKey(peer: randomPeer(&rng))
        let all = sortedByDistance(randomPeers(4, &rng), to: target)
        // Seed with the two farthest; the first to answer names the closest.
        var lookup = Lookup(target: target, seeds: [all[2], all[3]], config: lookupConfig(beta: 2), now: 0)
        #expect(lookup.next(now: 0).count == 2)
        lookup.succeeded(all[2], closer: [all[0]], now: 1)
        #expect(lookup.state(of: all[0]) == .heard && lookup.hops(of: all[0]) == 2)
        lookup.succeeded(all[3], closer: [], now: 1)
        #expect(!lookup.isFinished, "all[0] is closer and not asked yet")
        #expect(lookup.next(now: 1) == [all[0]])
        lookup.succeeded(all[0], closer: [all[1]], now: 2)
        #expect(!lookup.isFinished, "all[1] joins the beta closest")
        #expect(lookup.next(now: 2) == [all[1]])
        #expect(lookup.hops(of: all[1]) == 3 && lookup.referrer(of: all[1]) == all[0])
        lookup.succeeded(all[1], closer: [], now: 3)
        #expect(lookup.isFinished)
        #expect(lookup.closestQueried(2) == [all[0], all[1]])
    }

    @Test func stopEndsAtOnce() {
        var (lookup, ordered, rng) = seededLookup(seed: 36, count: 10, config: lookupConfig(alpha: 2))
        let asked = lookup.next(now: 0)
        lookup.stop()
        #expect(lookup.isFinished && lookup.termination == .stopped)
        #expect(lookup.next(now: 0).isEmpty)
        lookup.succeeded(asked[0], closer: randomPeers(5, &rng), now: 1)
        #expect(lookup.closestQueried(5) == [asked[0]])
        #expect(lookup.knownPeerCount == 10, "answers after stop add no peers")
        lookup.stop()
        #expect(lookup.termination == .stopped)

        var other = Lookup(target: lookup.target, seeds: ordered, now: 0)
        other.stop()
        #expect(other.next(now: 0).isEmpty && other.requestsSent == 0)
    }

    @Test func noSeedsIsFinishedAtOnce() {
        var rng = SplitMix(seed: 37)
        let local = randomPeer(&rng)
        let target = KadKey(peer: randomPeer(&rng))
        var empty = Lookup(target: target, seeds: [], now: 0)
        #expect(empty.isFinished && empty.termination == .starved)
        #expect(empty.next(now: 0).isEmpty && empty.nextDeadline == nil)
        let onlySelf = Lookup(target: target, seeds: [local, local], local: local, now: 0)
        #expect(onlySelf.isFinished && onlySelf.knownPeerCount == 0)
    }

    @Test func followUpAsksTheUnansweredAmongTheKClosest() {
        var rng = SplitMix(seed: 38)
        let target = KadKey(peer: randomPeer(&rng))
        let all = sortedByDistance(randomPeers(6, &rng), to: target)
        var config = lookupConfig(alpha: 1, beta: 1, k: 3)
        config.followUp = true
        var lookup = Lookup(target: target, seeds: [all[0], all[1], all[2], all[5]], config: config, now: 0)
        #expect(lookup.next(now: 0) == [all[0]])
        lookup.succeeded(all[0], closer: [all[3]], now: 1)
        #expect(!lookup.isFinished && lookup.isFollowingUp, "beta = 1 closest answered: follow-up")
        #expect(lookup.next(now: 1) == [all[1]], "alpha still bounds the follow-up")
        lookup.succeeded(all[1], closer: [all[4]], now: 2)
        #expect(lookup.state(of: all[4]) == nil, "follow-up answers add no peers")
        #expect(lookup.next(now: 2) == [all[2]])
        lookup.failed(all[2], now: 3)
        #expect(lookup.isFinished && lookup.termination == .completed, "all[3] was not among the k closest when the follow-up began")
        #expect(lookup.closestQueried(3) == [all[0], all[1]])
        #expect(lookup.state(of: all[3]) == .heard && lookup.state(of: all[5]) == .heard)

        var stopped = Lookup(target: target, seeds: [all[0], all[1]], config: config, now: 0)
        _ = stopped.next(now: 0)
        stopped.succeeded(all[0], closer: [], now: 1)
        #expect(stopped.isFollowingUp)
        stopped.stop()
        #expect(stopped.isFinished && !stopped.isFollowingUp && stopped.termination == .stopped)
    }

    // MARK: hostile and malformed answers

    @Test func aHugeAnswerIsCapped() {
        var rng = SplitMix(seed: 39)
        let target = KadKey(peer: randomPeer(&rng))
        let seed = randomPeer(&rng)
        var lookup = Lookup(target: target, seeds: [seed], now: 0)
        _ = lookup.next(now: 0)
        let flood = randomPeers(10_000, &rng)
        lookup.succeeded(seed, closer: flood, now: 1)
        #expect(lookup.knownPeerCount == 21, "the seed and the first 20 entries")
        #expect(flood.prefix(20).allSatisfy { lookup.state(of: $0) == .heard })
        #expect(lookup.state(of: flood[20]) == nil)
        #expect(lookup.next(now: 1).count == 10)
    }

    @Test func knownPeersAreBoundedKeepingTheClosest() {
        var rng = SplitMix(seed: 40)
        let target = KadKey(peer: randomPeer(&rng))
        let pool = sortedByDistance(randomPeers(40, &rng), to: target)
        var config = lookupConfig(alpha: 1)
        config.maxKnownPeers = 5
        config.maxPeersPerResponse = 40
        // Seeds: five far peers; the farthest one is asked.
        var lookup = Lookup(target: target, seeds: Array(pool.suffix(6)), config: config, now: 0)
        #expect(lookup.knownPeerCount == 5, "six seeds, five kept: the closest five")
        #expect(lookup.state(of: pool[39]) == nil)
        let asked = lookup.next(now: 0)
        #expect(asked == [pool[34]])
        // It names everyone: only closer peers displace heard ones; the asked one stays.
        lookup.succeeded(pool[34], closer: pool.reversed(), now: 1)
        #expect(lookup.knownPeerCount == 5)
        #expect(lookup.state(of: pool[34]) == .queried)
        #expect(lookup.closest(5, in: [.heard]) == Array(pool.prefix(4)))
        #expect(lookup.next(now: 1) == [pool[0]])
    }

    @Test func selfSenderDuplicatesAndUnsolicitedAnswersAreIgnored() {
        var rng = SplitMix(seed: 41)
        let local = randomPeer(&rng)
        let target = KadKey(peer: randomPeer(&rng))
        let seeds = randomPeers(3, &rng)
        let stranger = randomPeer(&rng)
        let x = randomPeer(&rng)
        var lookup = Lookup(target: target, seeds: seeds + [seeds[0], local], local: local, config: lookupConfig(alpha: 1), now: 0)
        #expect(lookup.knownPeerCount == 3)
        #expect(seeds.allSatisfy { lookup.hops(of: $0) == 1 && lookup.referrer(of: $0) == nil })
        let asked = lookup.next(now: 0)
        let notAsked = seeds.filter { $0 != asked[0] }
        // Answers from a stranger or a peer never asked change nothing.
        lookup.succeeded(stranger, closer: [x], now: 1)
        lookup.succeeded(notAsked[0], closer: [x], now: 1)
        #expect(lookup.state(of: x) == nil && lookup.state(of: stranger) == nil)
        #expect(lookup.state(of: notAsked[0]) == .heard)
        lookup.failed(stranger, now: 1)
        #expect(lookup.state(of: stranger) == nil)

        lookup.succeeded(asked[0], closer: [local, asked[0], x, x, seeds[1]], now: 1)
        #expect(lookup.state(of: local) == nil)
        #expect(lookup.knownPeerCount == 4, "x once; the sender, ourselves and known seeds skipped")
        #expect(lookup.hops(of: x) == 2 && lookup.hops(of: seeds[1]) == 1, "a known peer keeps its first hop")
        // A second answer from the same peer is ignored; so is a failure after the answer.
        let y = randomPeer(&rng)
        lookup.succeeded(asked[0], closer: [y], now: 2)
        lookup.failed(asked[0], now: 2)
        #expect(lookup.state(of: y) == nil && lookup.state(of: asked[0]) == .queried)
    }

    @Test func aLateAnswerAfterATimeoutCounts() {
        var rng = SplitMix(seed: 42)
        let target = KadKey(peer: randomPeer(&rng))
        let seeds = randomPeers(3, &rng)
        var lookup = Lookup(target: target, seeds: seeds, config: lookupConfig(alpha: 1, timeout: 1), now: 0)
        let slow = lookup.next(now: 0)[0]
        #expect(lookup.expire(now: 1) == [slow])
        let x = randomPeer(&rng)
        lookup.succeeded(slow, closer: [x], now: 1.5)
        #expect(lookup.state(of: slow) == .queried && lookup.state(of: x) == .heard)
        #expect(lookup.closestQueried(3) == [slow])
    }
}
