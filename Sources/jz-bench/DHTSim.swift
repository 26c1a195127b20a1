// `jz-bench dht-sim`: KadDHT's real RoutingTable, Lookup and ReprovideSweep over an in-memory
// network of N nodes with a virtual clock. Deterministic for a given --seed.
//
// Model:
// - Node i's peer ID is the sha2-256 multihash of SHA-256(seed ‖ i) (both little-endian UInt64):
//   cheap for 10,000 nodes and reproducible.
// - Every request (FIND_NODE, GET_PROVIDERS, ADD_PROVIDER) takes a round trip drawn uniformly
//   from 10…100 ms; a request to a removed node is never answered and times out after
//   `LookupConfig.requestTimeout` (the Lookup's own `expire`). The asker then removes that peer
//   from its routing table (go-libp2p-kad-dht drops peers it cannot reach).
// - An answering node returns its k nearest peers to the target (the asker excluded), adds the
//   asker to its routing table (DHT servers do), and the asker adds the answering node (queried).
// - Lookups run one after another on one virtual clock; the answers of one lookup are an event
//   queue ordered by arrival time. Answers still in flight when a lookup finishes are dropped.
// - Bootstrap: nodes join one by one, each through one random node already joined, and run a
//   self-lookup (no bucket refresh). Churn removes a fraction of the nodes afterwards, silently.
// - Routing tables store no addresses (`[]`): the diversity filter is off, as on a LAN table.
import Foundation
import KadDHT
import Multiformats
import P2PCrypto

struct SimOptions {
    var nodes = 1_000
    var churn = 0.0
    var lookups = 0
    var provide = 0
    var checkSample = 1_000
    var seed: UInt64 = 1
    /// After the joins, one round of bucket refresh per node (go's refresh manager at start).
    var refresh = false
    var json = false
}

func simUsage() -> Never {
    FileHandle.standardError.write(Data("""
        usage: jz-bench dht-sim --nodes N [--churn FRACTION] [--lookups N] [--provide N] [--check N] [--seed S] [--refresh] [--json]
          --nodes N        network size (2...1000000)
          --churn F        fraction of the nodes removed after bootstrap, before the lookups (0 ≤ F < 1)
          --lookups N      FIND_NODE lookups of random live node IDs from random live nodes
          --provide N      N random CIDs provided by one node, one lookup per CID vs sweep; then checked
          --check N        CIDs checked with a GET_PROVIDERS lookup per method (default 1000; all if fewer)
          --seed S         RNG seed (default 1): same seed, same output (except wall time and RSS)
          --refresh        after the joins, every node refreshes its buckets once (a lookup of a random
                           key per bucket up to the deepest one + 1, at most 15: go's refresh at start)
          --json           one JSON object instead of the table

        """.utf8))
    exit(2)
}

func parseSimOptions(_ args: [String]) -> SimOptions {
    var o = SimOptions()
    var i = 0
    func value() -> String {
        i += 1
        guard i < args.count else { simUsage() }
        return args[i]
    }
    while i < args.count {
        switch args[i] {
        case "--nodes": guard let v = Int(value()), v >= 2, v <= 1_000_000 else { simUsage() }; o.nodes = v
        case "--churn": guard let v = Double(value()), v >= 0, v < 1 else { simUsage() }; o.churn = v
        case "--lookups": guard let v = Int(value()), v >= 0 else { simUsage() }; o.lookups = v
        case "--provide": guard let v = Int(value()), v >= 0 else { simUsage() }; o.provide = v
        case "--check": guard let v = Int(value()), v >= 0 else { simUsage() }; o.checkSample = v
        case "--seed": guard let v = UInt64(value()) else { simUsage() }; o.seed = v
        case "--refresh": o.refresh = true
        case "--json": o.json = true
        case "--help", "-h": simUsage()
        default: simUsage()
        }
        i += 1
    }
    return o
}

/// SplitMix64: small, fast and seedable.
struct SimRNG: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A binary min-heap of answers by (arrival time, send order): the event queue of one lookup.
struct AnswerQueue {
    struct Answer {
        let time: Double
        let sequence: Int
        let responder: Int
    }

    private var heap: [Answer] = []
    private var sequence = 0

    var first: Answer? { heap.first }

    mutating func push(time: Double, responder: Int) {
        heap.append(Answer(time: time, sequence: sequence, responder: responder))
        sequence += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.precedes(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Answer? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < heap.count, Self.precedes(heap[left], heap[smallest]) { smallest = left }
            if right < heap.count, Self.precedes(heap[right], heap[smallest]) { smallest = right }
            guard smallest != parent else { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }

    private static func precedes(_ a: Answer, _ b: Answer) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }
}

/// The simulated network: one routing table per node, a liveness flag, a virtual clock.
struct SimNetwork {
    let ids: [PeerID]
    let index: [PeerID: Int]
    var tables: [RoutingTable]
    var alive: [Bool]
    /// Virtual seconds.
    var clock = 0.0
    var rng: SimRNG
    let k = 20

    init(nodes: Int, seed: UInt64) {
        // SHA-256(seed ‖ i) as a sha2-256 peer-ID multihash, hashed in batches.
        func littleEndian(_ value: UInt64) -> [UInt8] {
            (0..<8).map { (byte: Int) -> UInt8 in UInt8(truncatingIfNeeded: value >> UInt64(8 * byte)) }
        }
        let seedBytes = littleEndian(seed)
        let inputs: [[UInt8]] = (0..<nodes).map { seedBytes + littleEndian(UInt64($0)) }
        var ids: [PeerID] = []
        ids.reserveCapacity(nodes)
        for digest in Sha256.digests(of: inputs) {
            // A 32-byte sha2-256 multihash is always a valid peer ID.
            guard let multihash = try? Multihash(function: .sha2_256, digest: digest),
                let peer = try? PeerID(multihash: multihash)
            else { preconditionFailure("a sha2-256 digest was refused as a peer ID") }
            ids.append(peer)
        }
        self.ids = ids
        var index: [PeerID: Int] = [:]
        index.reserveCapacity(nodes)
        for (i, id) in ids.enumerated() { index[id] = i }
        self.index = index
        tables = ids.map { RoutingTable(local: $0) }
        alive = [Bool](repeating: true, count: nodes)
        rng = SimRNG(state: seed ^ 0x6A09_E667_F3BC_C908)
    }

    /// One request's round trip: 10…100 ms.
    mutating func latency() -> Double { 0.010 + 0.090 * Double.random(in: 0..<1, using: &rng) }

    /// A random live node other than `except`.
    mutating func randomLiveNode(except: Int? = nil) -> Int {
        while true {
            let i = Int.random(in: 0..<ids.count, using: &rng)
            if alive[i], i != except { return i }
        }
    }

    /// How a lookup went.
    struct LookupRun {
        var lookup: Lookup
        /// Requests sent (answered, timed out or cut short by the end of the lookup).
        var messages: Int
        /// Requests sent to removed nodes (never answered).
        var unanswered: Int
        /// Virtual seconds from start to end.
        var duration: Double
    }

    /// Runs one lookup of `target` from `origin` to its end, seeded with the origin's k nearest
    /// peers. After each answer, `onAnswer(responder, closer, lookup)` may return true to stop
    /// the lookup (the thing looked for was found).
    mutating func runLookup(
        from origin: Int, target: KadKey, config: LookupConfig,
        onAnswer: (_ responder: Int, _ closer: [PeerID], _ lookup: Lookup) -> Bool = { _, _, _ in false }
    ) -> LookupRun {
        let asker = ids[origin]
        let start = clock
        var lookup = Lookup(
            target: target, seeds: tables[origin].nearest(to: target, count: k), local: asker, config: config, now: clock)
        var queue = AnswerQueue()
        var unanswered = 0
        while !lookup.isFinished {
            for peer in lookup.next(now: clock) {
                guard let j = index[peer] else {
                    lookup.failed(peer, now: clock)  // not a node of this network (cannot happen)
                    continue
                }
                let rtt = latency()
                if alive[j] { queue.push(time: clock + rtt, responder: j) } else { unanswered += 1 }
            }
            let deadline = lookup.nextDeadline ?? .infinity
            if let answer = queue.first, answer.time <= deadline {
                _ = queue.pop()
                clock = answer.time
                let j = answer.responder
                let closer = tables[j].nearest(to: target, count: k, excluding: [asker])
                _ = tables[j].add(asker, addresses: [], now: clock, queried: false)
                _ = tables[origin].add(ids[j], addresses: [], now: clock, queried: true)
                lookup.succeeded(ids[j], closer: closer, now: clock)
                if onAnswer(j, closer, lookup) { lookup.stop() }
            } else if deadline.isFinite {
                clock = deadline
                for peer in lookup.expire(now: clock) { tables[origin].remove(peer) }
            } else {
                break  // nothing in flight and nothing to ask: Lookup reports starvation itself
            }
        }
        return LookupRun(lookup: lookup, messages: lookup.requestsSent, unanswered: unanswered, duration: clock - start)
    }

    /// Sends one request that needs no answer beyond success (ADD_PROVIDER): advances the clock by
    /// a round trip (or the timeout for a removed node); returns whether the node is alive.
    mutating func send(to j: Int, timeout: Double) -> Bool {
        let rtt = latency()
        clock += alive[j] ? rtt : timeout
        return alive[j]
    }
}

// MARK: - Report

struct Distribution: Encodable {
    var min: Double
    var median: Double
    var mean: Double
    var p99: Double
    var max: Double

    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        min = s[0]
        median = s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        mean = s.reduce(0, +) / Double(s.count)
        p99 = s[Swift.max(0, Int((0.99 * Double(s.count)).rounded(.up)) - 1)]
        max = s[s.count - 1]
    }
}

struct BootstrapReport: Encodable {
    var joins: Int
    var messages: Int
    var messagesPerJoin: Double
    /// Bucket-refresh lookups after the joins (`--refresh`).
    var refreshLookups: Int
    var refreshMessages: Int
    var tableSize: Distribution?
    var virtualSeconds: Double
}

struct LookupReport: Encodable {
    var lookups: Int
    var found: Int
    var foundInOwnTable: Int
    var successRate: Double
    /// Hop at which the target was first named (0: in the asker's own table; seeds answer at hop 1).
    var hops: Distribution?
    var messagesPerLookup: Distribution?
    /// Requests sent to removed nodes (unanswered: they time out, or are dropped when the lookup ends first).
    var unansweredPerLookup: Double
    var virtualMilliseconds: Distribution?
}

struct ProvideMethodReport: Encodable {
    var lookups = 0
    var findNodeMessages = 0
    var addProviderMessages = 0
    /// ADD_PROVIDER messages that reached a live node (records stored).
    var recordsStored = 0
    var checked = 0
    var found = 0
    var successRate = 0.0
    var getMessagesPerCheck = 0.0
    /// Of the checked CIDs' records: mean holders among the CID's true k closest live nodes (brute force).
    var holdersAmongTrueClosest = 0.0
    var wallSeconds = 0.0
}

struct ProvideReport: Encodable {
    var cids: Int
    var provider: String
    var networkEstimate: Double
    var prefixLength: Int
    var regions: Int
    var keysPerRegion: Distribution?
    /// Regions done before the simulated daemon restart (resumed from SweepProgress bytes).
    var resumedAfterRegions: Int
    var perCID: ProvideMethodReport
    var sweep: ProvideMethodReport
    /// sweep lookups / per-CID lookups.
    var lookupRatio: Double
}

struct SimReport: Encodable {
    var nodes: Int
    var seed: UInt64
    var churn: Double
    var removed: Int
    var bootstrap: BootstrapReport
    var lookups: LookupReport?
    var provide: ProvideReport?
    var wallSeconds: Double
    var peakRSSMiB: Double?
}

/// Peak resident set size (VmHWM of /proc/self/status) in MiB; nil where there is no procfs.
func peakRSSMiB() -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, let kb = Double(fields[1]) else { return nil }
        return kb / 1024
    }
    return nil
}

// MARK: - Phases

/// Every node joins through one random earlier node and runs a self-lookup.
/// With `refresh`, every node then refreshes each of its buckets once, in node order.
func simBootstrap(_ net: inout SimNetwork, config: LookupConfig, refresh: Bool) -> BootstrapReport {
    let start = net.clock
    var messages = 0
    for i in 1..<net.ids.count {
        let via = Int.random(in: 0..<i, using: &net.rng)
        _ = net.tables[i].add(net.ids[via], addresses: [], now: net.clock, queried: false)
        let run = net.runLookup(from: i, target: KadKey(peer: net.ids[i]), config: config)
        messages += run.messages
    }
    var refreshLookups = 0, refreshMessages = 0
    if refresh {
        for i in net.ids.indices {
            let local = net.tables[i].localKey
            for cpl in net.tables[i].bucketsNeedingRefresh(now: net.clock, interval: .infinity) {
                // The lookup needs only the keyspace point, not a preimage (RoutingTable.randomKey
                // hashes ~2^(cpl+1) candidates for one): local's first cpl bits, the next one
                // flipped, the rest random.
                let target = randomKey(sharing: cpl, with: local, using: &net.rng)
                let run = net.runLookup(from: i, target: target, config: config)
                net.tables[i].markRefreshed(bucket: cpl, now: net.clock)
                refreshLookups += 1
                refreshMessages += run.messages
            }
        }
    }
    let joins = net.ids.count - 1
    return BootstrapReport(
        joins: joins, messages: messages, messagesPerJoin: Double(messages) / Double(max(joins, 1)),
        refreshLookups: refreshLookups, refreshMessages: refreshMessages,
        tableSize: Distribution(net.tables.map { Double($0.count) }), virtualSeconds: net.clock - start)
}

/// The first 64 bits of a keyspace point.
func topWord(_ key: KadKey) -> UInt64 { key.bytes.prefix(8).reduce(0) { $0 << 8 | UInt64($1) } }

/// A random keyspace point sharing exactly `cpl` (< 256) leading bits with `key`.
func randomKey(sharing cpl: Int, with key: KadKey, using rng: inout SimRNG) -> KadKey {
    var bytes = key.bytes
    for i in (cpl / 8)..<32 {
        // Bits before the flipped one keep `key`'s value; the flipped bit and the rest are redrawn.
        let keep: UInt8 = i == cpl / 8 ? ~(0xFF >> UInt8(cpl % 8)) : 0
        bytes[i] = (bytes[i] & keep) | (UInt8.random(in: 0...255, using: &rng) & ~keep)
    }
    let bit: UInt8 = 0x80 >> UInt8(cpl % 8)
    bytes[cpl / 8] = (bytes[cpl / 8] & ~bit) | (~key.bytes[cpl / 8] & bit)
    return KadKey(digest: bytes)
}

/// Removes `fraction` of the nodes (chosen at random); returns how many.
func simChurn(_ net: inout SimNetwork, fraction: Double) -> Int {
    let count = Int((fraction * Double(net.ids.count)).rounded())
    var order = Array(net.ids.indices)
    order.shuffle(using: &net.rng)
    for i in order.prefix(count) { net.alive[i] = false }
    return count
}

/// FIND_NODE lookups of random live node IDs from random live nodes; stops when the target is named.
func simLookups(_ net: inout SimNetwork, count: Int, config: LookupConfig) -> LookupReport {
    var found = 0, local = 0, unanswered = 0
    var hops: [Double] = [], messages: [Double] = [], durations: [Double] = []
    let ids = net.ids
    for _ in 0..<count {
        let origin = net.randomLiveNode()
        let target = net.randomLiveNode(except: origin)
        let targetID = net.ids[target]
        if net.tables[origin].contains(targetID) {
            found += 1
            local += 1
            hops.append(0)
            messages.append(0)
            durations.append(0)
            continue
        }
        var hop: Int?
        let run = net.runLookup(from: origin, target: KadKey(peer: targetID), config: config) { responder, closer, lookup in
            guard closer.contains(targetID) else { return false }
            hop = lookup.hops(of: ids[responder])
            return true
        }
        if let hop {
            found += 1
            hops.append(Double(hop))
        }
        messages.append(Double(run.messages))
        durations.append(run.duration * 1000)
        unanswered += run.unanswered
    }
    return LookupReport(
        lookups: count, found: found, foundInOwnTable: local, successRate: Double(found) / Double(max(count, 1)),
        hops: Distribution(hops), messagesPerLookup: Distribution(messages),
        unansweredPerLookup: Double(unanswered) / Double(max(count, 1)), virtualMilliseconds: Distribution(durations))
}

/// Provides `count` random CIDs from one node, one lookup per CID and by sweep, then checks a
/// sample of them with GET_PROVIDERS lookups from other random nodes.
func simProvide(_ net: inout SimNetwork, count: Int, checkSample: Int, config: LookupConfig) -> ProvideReport {
    let provider = net.randomLiveNode()
    let multihashes: [[UInt8]] = (0..<count).map { _ in
        var bytes: [UInt8] = [0x12, 0x20]
        for _ in 0..<4 {
            let word = net.rng.next()
            for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return bytes
    }
    let kadKeys = Sha256.digests(of: multihashes).map(KadKey.init(digest:))
    var cidOf: [KadKey: Int] = [:]
    cidOf.reserveCapacity(count)
    for (i, key) in kadKeys.enumerated() { cidOf[key] = i }
    // ADD_PROVIDER and GET_PROVIDERS want the k closest peers reached: follow up (go does).
    var provideConfig = config
    provideConfig.followUp = true
    let timeout = config.requestTimeout

    /// ADD_PROVIDER of `cid` to `peers`: the live ones store the record (in `holders`).
    func addProvider(_ cid: Int, to peers: [PeerID], report: inout ProvideMethodReport, holders: inout [[Int32]]) {
        for peer in peers {
            guard let j = net.index[peer] else { continue }
            report.addProviderMessages += 1
            if net.send(to: j, timeout: timeout) {
                holders[cid].append(Int32(j))
                report.recordsStored += 1
            }
        }
    }

    // (a) One lookup per CID, then ADD_PROVIDER to its k closest peers that answered.
    var perCID = ProvideMethodReport()
    var holdersPerCID = [[Int32]](repeating: [], count: count)
    var wall = now()
    for (cid, key) in kadKeys.enumerated() {
        let run = net.runLookup(from: provider, target: key, config: provideConfig)
        perCID.lookups += 1
        perCID.findNodeMessages += run.messages
        addProvider(cid, to: run.lookup.closestQueried(net.k), report: &perCID, holders: &holdersPerCID)
    }
    perCID.wallSeconds = now() - wall

    // (b) Sweep: one lookup per keyspace region; each key to its k closest among the peers found.
    var sweepReport = ProvideMethodReport()
    var holdersSweep = [[Int32]](repeating: [], count: count)
    wall = now()
    let keys = zip(multihashes, kadKeys).map { ReprovideSweep.Key(multihash: $0, kadKey: $1) }
    func plan(_ net: SimNetwork) -> (estimate: Double, sweep: ReprovideSweep) {
        let table = net.tables[provider]
        let nearest = table.nearest(to: table.localKey, count: net.k).map(KadKey.init(peer:))
        let estimate = ReprovideSweep.estimateNetworkSize(around: table.localKey, nearest: nearest) ?? 1
        return (estimate, ReprovideSweep(keys: keys, networkSize: estimate, replication: net.k))
    }
    var (estimate, sweep) = plan(net)
    let firstPlan = sweep
    var progress = SweepProgress.start(at: net.clock)
    var resumedAfter = 0
    var done = 0
    var restarted = false
    while true {
        let remaining = sweep.regions(from: progress)
        guard let region = remaining.first else { break }
        let run = net.runLookup(from: provider, target: region.target, config: provideConfig)
        sweepReport.lookups += 1
        sweepReport.findNodeMessages += run.messages
        let found = run.lookup.closest(Int.max, in: [.heard, .waiting, .queried])
        for (key, peers) in sweep.assign(region, peers: found) {
            guard let cid = cidOf[key.kadKey] else { continue }
            addProvider(cid, to: peers, report: &sweepReport, holders: &holdersSweep)
        }
        progress = progress.advanced(past: region)
        done += 1
        // Halfway, the daemon "restarts": it keeps only the persisted bytes and plans again.
        if !restarted, done == max(1, firstPlan.regions.count / 2) {
            restarted = true
            resumedAfter = done
            guard let restored = try? SweepProgress(bytes: progress.bytes) else {
                preconditionFailure("SweepProgress did not decode its own bytes")
            }
            progress = restored
            (estimate, sweep) = plan(net)
        }
    }
    sweepReport.wallSeconds = now() - wall

    // Check: GET_PROVIDERS lookups (stopping at the first holder) from another random node.
    var sample = Array(0..<count)
    sample.shuffle(using: &net.rng)
    let checked = Array(sample.prefix(min(checkSample, count)))
    // Placement quality: the true k closest live nodes of a key, by brute force over the first
    // 64 bits of the distance (a tie there needs a 64-bit collision).
    let nodeTops = net.ids.map { topWord(KadKey(peer: $0)) }
    func trueClosest(_ cid: Int) -> Set<Int32> {
        let target = topWord(kadKeys[cid])
        let live = net.ids.indices.filter { net.alive[$0] }
        return Set(live.sorted { nodeTops[$0] ^ target < nodeTops[$1] ^ target }.prefix(net.k).map { Int32($0) })
    }
    /// One GET_PROVIDERS lookup for `cid` from `origin`, stopping at the first holder.
    func check(_ cid: Int, from origin: Int, closest: Set<Int32>, holders: [[Int32]], into report: inout ProvideMethodReport) {
        report.checked += 1
        report.holdersAmongTrueClosest += Double(holders[cid].filter(closest.contains).count)
        if holders[cid].contains(Int32(origin)) {
            report.found += 1
            return
        }
        var hit = false
        let run = net.runLookup(from: origin, target: kadKeys[cid], config: config) { responder, _, _ in
            hit = holders[cid].contains(Int32(responder))
            return hit
        }
        report.getMessagesPerCheck += Double(run.messages)
        if hit { report.found += 1 }
    }
    // Both methods from the same origin; which goes first alternates, since every lookup warms
    // the origin's routing table for the next.
    for (n, cid) in checked.enumerated() {
        let origin = net.randomLiveNode(except: provider)
        let closest = trueClosest(cid)
        if n % 2 == 0 {
            check(cid, from: origin, closest: closest, holders: holdersPerCID, into: &perCID)
            check(cid, from: origin, closest: closest, holders: holdersSweep, into: &sweepReport)
        } else {
            check(cid, from: origin, closest: closest, holders: holdersSweep, into: &sweepReport)
            check(cid, from: origin, closest: closest, holders: holdersPerCID, into: &perCID)
        }
    }
    func average(_ r: inout ProvideMethodReport) {
        let n = Double(max(r.checked, 1))
        r.successRate = Double(r.found) / n
        r.getMessagesPerCheck /= n
        r.holdersAmongTrueClosest /= n
    }
    average(&perCID)
    average(&sweepReport)

    return ProvideReport(
        cids: count, provider: net.ids[provider].description, networkEstimate: estimate,
        prefixLength: firstPlan.prefixLength, regions: firstPlan.regions.count,
        keysPerRegion: Distribution(firstPlan.regions.map { Double($0.keys.count) }),
        resumedAfterRegions: resumedAfter, perCID: perCID, sweep: sweepReport,
        lookupRatio: Double(sweepReport.lookups) / Double(max(perCID.lookups, 1)))
}

// MARK: - Driver

/// Runs `jz-bench dht-sim` and prints the report. Returns false when a target was missed
/// (lookup success below 99.5%).
func runDHTSim(_ args: [String]) -> Bool {
    let options = parseSimOptions(args)
    let wallStart = now()
    let config = LookupConfig()
    var net = SimNetwork(nodes: options.nodes, seed: options.seed)
    let bootstrap = simBootstrap(&net, config: config, refresh: options.refresh)
    let removed = options.churn > 0 ? simChurn(&net, fraction: options.churn) : 0
    let lookups = options.lookups > 0 ? simLookups(&net, count: options.lookups, config: config) : nil
    let provide = options.provide > 0
        ? simProvide(&net, count: options.provide, checkSample: options.checkSample, config: config) : nil
    let report = SimReport(
        nodes: options.nodes, seed: options.seed, churn: options.churn, removed: removed, bootstrap: bootstrap,
        lookups: lookups, provide: provide, wallSeconds: now() - wallStart, peakRSSMiB: peakRSSMiB())
    if options.json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let data = try? encoder.encode(report) { print(String(decoding: data, as: UTF8.self)) }
    } else {
        printSimTable(report)
    }
    return (lookups?.successRate ?? 1) >= 0.995
}

func printSimTable(_ r: SimReport) {
    func f(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }
    func dist(_ d: Distribution?, _ digits: Int = 1) -> String {
        guard let d else { return "-" }
        return "median \(f(d.median, digits))  p99 \(f(d.p99, digits))  mean \(f(d.mean, digits))  min \(f(d.min, digits))  max \(f(d.max, digits))"
    }
    func row(_ name: String, _ value: String) { print(pad(name, 34) + value) }
    row("nodes", "\(r.nodes) (seed \(r.seed))")
    row("bootstrap joins", "\(r.bootstrap.joins), \(f(r.bootstrap.messagesPerJoin)) requests per join")
    if r.bootstrap.refreshLookups > 0 {
        row("bucket refresh", "\(r.bootstrap.refreshLookups) lookups, \(r.bootstrap.refreshMessages) requests")
    }
    row("routing table size", dist(r.bootstrap.tableSize, 0))
    if r.churn > 0 { row("churn", "\(r.removed) nodes removed (\(f(r.churn * 100))%)") }
    if let l = r.lookups {
        row("lookups", "\(l.lookups): \(l.found) found (\(f(l.successRate * 100, 2))%), \(l.foundInOwnTable) in the asker's own table")
        row("hops (first named)", dist(l.hops))
        row("requests per lookup", dist(l.messagesPerLookup))
        row("requests to removed nodes", "\(f(l.unansweredPerLookup, 2)) per lookup")
        row("virtual ms per lookup", dist(l.virtualMilliseconds, 0))
    }
    if let p = r.provide {
        row("provide", "\(p.cids) CIDs from \(p.provider)")
        row("network estimate", "\(f(p.networkEstimate, 0)) -> prefix \(p.prefixLength) bits, \(p.regions) regions with keys")
        row("keys per region", dist(p.keysPerRegion))
        row("sweep restart", "resumed from SweepProgress bytes after \(p.resumedAfterRegions) regions")
        print(pad("", 34) + lpad("lookups", 10) + lpad("FIND_NODE", 12) + lpad("ADD_PROV", 10) + lpad("stored", 10)
            + lpad("GET ok", 12) + lpad("GET msgs", 10) + lpad("in true k", 11) + lpad("wall s", 9))
        for (name, m) in [("  one lookup per CID", p.perCID), ("  sweep", p.sweep)] {
            print(pad(name, 34) + lpad("\(m.lookups)", 10) + lpad("\(m.findNodeMessages)", 12)
                + lpad("\(m.addProviderMessages)", 10) + lpad("\(m.recordsStored)", 10)
                + lpad("\(m.found)/\(m.checked)", 12) + lpad(f(m.getMessagesPerCheck), 10)
                + lpad(f(m.holdersAmongTrueClosest), 11) + lpad(f(m.wallSeconds), 9))
        }
        row("sweep / per-CID lookups", "\(f(p.lookupRatio * 100, 2))%")
    }
    row("wall time", "\(f(r.wallSeconds, 2)) s")
    row("peak RSS", r.peakRSSMiB.map { "\(f($0)) MiB" } ?? "-")
}
