import Multiformats
import P2PCrypto
import Testing

@testable import KadDHT
import TestSupport

/// `count` random sha2-256 multihashes.
private func randomMultihashes(_ count: Int, seed: UInt64) -> [[UInt8]] {
    var rng = SplitMix(seed: seed)
    return (0..<count).map { _ in [0x12, 0x20] + (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) } }
}

/// A key placed at a chosen keyspace point: `top` are its first bytes, the rest `fill`.
private func placedKey(_ top: [UInt8], fill: UInt8 = 0, tag: UInt8 = 0) -> ReprovideSweep.Key {
    let digest = top + [UInt8](repeating: fill, count: 32 - top.count)
    return ReprovideSweep.Key(multihash: [0x12, 0x20, tag] + digest.prefix(31), kadKey: KadKey(digest: digest))
}

/// `count` sha2-256 peer IDs from a seed.
private func peers(_ count: Int, seed: UInt64) -> [PeerID] {
    var rng = SplitMix(seed: seed)
    return randomPeers(count, &rng)
}

@Suite(.onBlockingPool) struct ReprovideSweepTests {
    @Test func regionsPartitionTheKeysInKeyspaceOrder() {
        let multihashes = randomMultihashes(5_000, seed: 1)
        let sweep = ReprovideSweep(multihashes: multihashes + multihashes.prefix(100), networkSize: 10_000)
        #expect(sweep.prefixLength == 9)  // 10,000 / 20 = 500 -> 2^9 regions of ~19.5 peers
        // Every key exactly once (the 100 duplicates dropped), each in the region of its prefix.
        let all = sweep.regions.flatMap(\.keys)
        #expect(all.count == 5_000)
        #expect(Set(all.map(\.multihash)) == Set(multihashes))
        for region in sweep.regions {
            #expect(!region.keys.isEmpty)
            #expect(region.prefixLength == 9)
            #expect(region.keys.allSatisfy { region.contains($0.kadKey) })
            #expect(region.keys.map(\.kadKey) == region.keys.map(\.kadKey).sorted())
            #expect(region.contains(region.target))
            #expect(region.keys.allSatisfy { $0.kadKey == KadKey(key: $0.multihash) })
        }
        // Ascending, distinct prefixes; with 5,000 keys over 512 regions none is empty.
        #expect(sweep.regions.map(\.prefix) == Array(0..<512))
        #expect(sweep.regions.map(\.position) == sweep.regions.map(\.position).sorted())
    }

    @Test func emptyRegionsAreSkipped() {
        let keys = [placedKey([0x00]), placedKey([0x80], tag: 1), placedKey([0x81], tag: 2), placedKey([0xff], tag: 3)]
        let sweep = ReprovideSweep(keys: keys, prefixLength: 4)
        #expect(sweep.regions.map(\.prefix) == [0, 8, 15])
        #expect(sweep.regions.map(\.keys.count) == [1, 2, 1])
        // The target is the middle of the region: prefix, then a 1 bit.
        #expect(sweep.regions[1].target.bytes[0] == 0b1000_1000)
        #expect(sweep.regions[1].target.bytes.dropFirst().allSatisfy { $0 == 0 })
    }

    @Test func noKeysNoRegions() {
        let sweep = ReprovideSweep(multihashes: [], networkSize: 10_000)
        #expect(sweep.regions.isEmpty)
        #expect(sweep.regions(from: .start(at: 0)).isEmpty)
    }

    @Test func oneKeyOneRegion() {
        let multihash = randomMultihashes(1, seed: 2)[0]
        let sweep = ReprovideSweep(multihashes: [multihash], networkSize: 1_000_000)
        #expect(sweep.prefixLength == 16)
        #expect(sweep.regions.count == 1)
        let region = sweep.regions[0]
        #expect(region.keys.map(\.multihash) == [multihash])
        #expect(region.prefix == ReprovideSweep.prefix(of: KadKey(key: multihash), length: 16))
        #expect(region.target.commonPrefixLength(with: KadKey(key: multihash)) >= 16)
    }

    @Test func allKeysInOneRegion() {
        let keys = (0..<50).map { placedKey([0x5a, 0xc3, UInt8($0)], fill: UInt8($0), tag: UInt8($0)) }
        let sweep = ReprovideSweep(keys: keys.shuffled(), prefixLength: 16)
        #expect(sweep.regions.count == 1)
        #expect(sweep.regions[0].prefix == 0x5ac3)
        #expect(sweep.regions[0].keys == keys)
    }

    @Test func aNetworkOfOneNodeIsOneRegionOfEverything() {
        #expect(ReprovideSweep.prefixLength(networkSize: 1) == 0)
        #expect(ReprovideSweep.prefixLength(networkSize: 0) == 0)
        #expect(ReprovideSweep.prefixLength(networkSize: .nan) == 0)
        let sweep = ReprovideSweep(multihashes: randomMultihashes(300, seed: 3), networkSize: 1)
        #expect(sweep.regions.count == 1)
        #expect(sweep.regions[0].prefixLength == 0)
        #expect(sweep.regions[0].keys.count == 300)
        #expect(sweep.regions[0].target.bytes[0] == 0x80)
        #expect(sweep.regions[0].position == 0)
    }

    @Test func prefixLengthKeepsRegionsAtMostKPeers() {
        #expect(ReprovideSweep.prefixLength(networkSize: 20) == 0)
        #expect(ReprovideSweep.prefixLength(networkSize: 21) == 1)
        #expect(ReprovideSweep.prefixLength(networkSize: 40) == 1)
        #expect(ReprovideSweep.prefixLength(networkSize: 1_000) == 6)  // 50 -> 64 regions of ~15.6
        #expect(ReprovideSweep.prefixLength(networkSize: 10_000) == 9)
        #expect(ReprovideSweep.prefixLength(networkSize: 10_000, replication: 10) == 10)
        #expect(ReprovideSweep.prefixLength(networkSize: 1e30) == ReprovideSweep.maxPrefixLength)
    }

    @Test func networkSizeEstimateFromNearestPeers() throws {
        for (n, seed) in [(1_000, UInt64(4)), (10_000, 5)] {
            let keys = peers(n, seed: seed).map(KadKey.init(peer:))
            let tops = keys.map { ReprovideSweep.prefix(of: $0, length: 64) }
            var estimates: [Double] = []
            for (center, top) in zip(keys, tops).prefix(25) {
                // The 20 nearest others by the first 64 bits of the distance (exact enough here).
                let nearest = zip(keys, tops).filter { $0.0 != center }
                    .sorted { $0.1 ^ top < $1.1 ^ top }.prefix(20).map(\.0)
                estimates.append(try #require(ReprovideSweep.estimateNetworkSize(around: center, nearest: nearest)))
            }
            let median = estimates.sorted()[estimates.count / 2]
            #expect(median > Double(n) * 0.7 && median < Double(n) * 1.4, "n=\(n) median estimate \(median)")
        }
        #expect(ReprovideSweep.estimateNetworkSize(around: KadKey(key: [1]), nearest: []) == nil)
    }

    @Test func assignGivesEachKeyItsKClosestPeers() throws {
        let candidates = peers(60, seed: 7)
        let sweep = ReprovideSweep(multihashes: randomMultihashes(40, seed: 8), networkSize: 1, replication: 20)
        let region = try #require(sweep.regions.first)
        let assigned = sweep.assign(region, peers: candidates + candidates.prefix(10).reversed())
        #expect(assigned.map(\.key) == region.keys)
        for (key, chosen) in assigned {
            let expected = candidates.sorted { key.kadKey.isCloser(KadKey(peer: $0), than: KadKey(peer: $1)) }.prefix(20)
            #expect(chosen == Array(expected))
        }
        // Fewer peers than k: all of them; none: nothing.
        #expect(sweep.assign(region, peers: Array(candidates.prefix(3))).allSatisfy { $0.peers.count == 3 })
        #expect(sweep.assign(region, peers: []).allSatisfy { $0.peers.isEmpty })
    }

    @Test func resumeContinuesAfterTheLastRegionDone() throws {
        let sweep = ReprovideSweep(keys: randomMultihashes(200, seed: 9).map(ReprovideSweep.Key.init(multihash:)), prefixLength: 8)
        var progress = SweepProgress.start(at: 1_700_000_000.5)
        #expect(sweep.regions(from: progress).count == sweep.regions.count)
        // Do the first 40 regions, "crash", decode the persisted bytes and resume.
        for region in sweep.regions.prefix(40) { progress = progress.advanced(past: region) }
        let restored = try SweepProgress(bytes: progress.bytes)
        #expect(restored == progress)
        #expect(restored.cycleStart == 1_700_000_000.5)
        #expect(Array(sweep.regions(from: restored)) == Array(sweep.regions.dropFirst(40)))
        // Every region done: the cycle is complete and nothing remains.
        for region in sweep.regions(from: restored) { progress = progress.advanced(past: region) }
        #expect(sweep.regions(from: progress).isEmpty)
        #expect(progress.completed().isComplete)
        #expect(sweep.regions(from: progress.completed()).isEmpty)
        #expect(!SweepProgress.start(at: 0).isComplete)
    }

    @Test func resumeAcrossAChangedEstimateSkipsNoKey() {
        let multihashes = randomMultihashes(2_000, seed: 10)
        let before = ReprovideSweep(multihashes: multihashes, networkSize: 10_000)  // 9 bits
        var progress = SweepProgress.start(at: 0)
        for region in before.regions.prefix(100) { progress = progress.advanced(past: region) }
        let done = Set(before.regions.prefix(100).flatMap(\.keys))
        for size in [100.0, 2_000, 10_000, 1_000_000] {
            let after = ReprovideSweep(multihashes: multihashes, networkSize: size)
            let remaining = Set(after.regions(from: progress).flatMap(\.keys))
            // Nothing lost: every key is done or still to do. Finer regions redo nothing.
            #expect(done.union(remaining).count == 2_000, "size \(size)")
            if after.prefixLength >= before.prefixLength { #expect(done.isDisjoint(with: remaining)) }
        }
    }

    @Test func progressBytesAreCheckedFieldByField() {
        let good = SweepProgress.start(at: 12.25).bytes
        #expect(good.count == SweepProgress.encodedLength)
        #expect(throws: SweepProgressError.wrongLength(17)) { try SweepProgress(bytes: Array(good.dropLast())) }
        var bad = good
        bad[0] = 9
        #expect(throws: SweepProgressError.unknownVersion(9)) { try SweepProgress(bytes: bad) }
        bad = good
        for i in 1...8 { bad[i] = Double.nan.bitPattern.bigEndianByte(i - 1) }
        #expect(throws: SweepProgressError.invalidCycleStart) { try SweepProgress(bytes: bad) }
        bad = good
        bad[9] = 31
        #expect(throws: SweepProgressError.prefixLengthOutOfRange(31)) { try SweepProgress(bytes: bad) }
        bad = good
        bad[9] = 2
        bad[17] = 5
        #expect(throws: SweepProgressError.positionOutOfRange(nextPrefix: 5, prefixLength: 2)) { try SweepProgress(bytes: bad) }
        bad[17] = 4
        #expect((try? SweepProgress(bytes: bad))?.isComplete == true)
    }
}

extension UInt64 {
    /// Byte `i` (0: most significant).
    fileprivate func bigEndianByte(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: self >> UInt64(56 - 8 * i)) }
}
