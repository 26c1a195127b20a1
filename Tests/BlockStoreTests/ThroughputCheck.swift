import Foundation
import IPLD
import Multiformats
import Testing

@testable import BlockStore
import TestSupport

/// Not a timed test: prints put/get throughput of 256 KiB blocks for the lead's notes.
/// Run with `JZ_STORE_BENCH=<MiB>` (e.g. 1024), ideally in release:
/// `JZ_STORE_BENCH=1024 swift test -c release -Xswiftc -enable-testing --filter ThroughputCheck`.
@Suite("Throughput check", .onBlockingPool, .serialized)
struct ThroughputCheck {
    static let megabytes = Int(ProcessInfo.processInfo.environment["JZ_STORE_BENCH"] ?? "") ?? 0

    @Test(
        "putMany / get of 256 KiB blocks", .enabled(if: megabytes > 0),
        arguments: [SQLiteBlockStore.Options.JournalMode.wal, .rollback])
    func throughput(mode: SQLiteBlockStore.Options.JournalMode) throws {
        let dir = try TempDir()
        let store = try SQLiteBlockStore(path: dir.path("bench.sqlite"), options: .init(journalMode: mode))
        let blockSize = 262_144
        let batch = 64
        let batches = max(1, Self.megabytes * 4 / batch)
        var random = TestRandom(seed: 99)
        var base = random.bytes(blockSize)
        var cids: [CID] = []
        var putSeconds = 0.0
        var putCPU = 0.0
        for _ in 0..<batches {
            var blocks: [Block] = []
            for _ in 0..<batch {
                withUnsafeBytes(of: random.next()) { base.replaceSubrange(0..<8, with: $0) }
                blocks.append(try rawBlock(base))
            }
            cids += blocks.map(\.cid)
            let start = Date()
            let cpuStart = cpuSeconds()
            try store.putMany(blocks)
            putCPU += cpuSeconds() - cpuStart
            putSeconds += Date().timeIntervalSince(start)
        }
        let total = Double(cids.count * blockSize) / 1e6
        var start = Date()
        var read = 0
        for cid in cids { read += try store.get(cid)?.data.count ?? 0 }
        let getSeconds = Date().timeIntervalSince(start)
        #expect(read == cids.count * blockSize)
        start = Date()
        for cid in cids.prefix(4096) { _ = try store.has(cid) }
        let hasSeconds = Date().timeIntervalSince(start)
        let present = try cids.prefix(batch).map { cid in try #require(try store.get(cid)) }
        let reputStart = Date()
        try store.putMany(present)
        let reput = Date().timeIntervalSince(reputStart)
        // A 256 MiB file DAG of dag-pb leaves (CIDv0, as `add` makes by default): pin walks it
        // reading only each leaf's first bytes; GC marks it; verify re-hashes the whole store.
        var leaves: [CID] = []
        for _ in 0..<16 {
            var blocks: [Block] = []
            for _ in 0..<64 {
                withUnsafeBytes(of: random.next()) { base.replaceSubrange(0..<8, with: $0) }
                blocks.append(try pbBlock(links: [], data: base))
            }
            leaves += blocks.map(\.cid)
            try store.putMany(blocks)
        }
        let root = try pbBlock(links: leaves, data: [0x08, 0x02])
        try store.put(root)
        start = Date()
        try store.pin(root.cid, recursive: true, name: nil)
        let pinSeconds = Date().timeIntervalSince(start)
        start = Date()
        let removed = try store.collectGarbage().removedBytes
        let gcSeconds = Date().timeIntervalSince(start)
        start = Date()
        let report = try store.verify()
        let verifySeconds = Date().timeIntervalSince(start)
        #expect(report.isOK)
        print(
            """
            [store throughput] pin of a 1024 x 256 KiB dag-pb file \(String(format: "%.0f", pinSeconds * 1000)) ms; \
            gc removing \(removed / 1_000_000) MB \(String(format: "%.0f", gcSeconds * 1000)) ms; \
            verify \(Int(Double(report.bytesChecked) / 1e6 / verifySeconds)) MB/s
            """)
        print(
            """
            [store throughput] mode=\(mode.rawValue) sync=full \(cids.count) blocks x 256 KiB = \(Int(total)) MB, \
            batches of \(batch):
              putMany \(Int(total / putSeconds)) MB/s (durable; CPU \(Int(100 * putCPU / putSeconds))% of one core), get \(Int(total / getSeconds)) MB/s, \
            has \(Int(Double(min(4096, cids.count)) / hasSeconds)) ops/s, \
            re-put of \(batch) present blocks \(String(format: "%.1f", reput * 1000)) ms
            """)
    }
}

/// User + system CPU time of this process.
private func cpuSeconds() -> Double {
    var usage = rusage()
    #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
        getrusage(RUSAGE_SELF, &usage)
    #endif
    let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    return user + system
}
