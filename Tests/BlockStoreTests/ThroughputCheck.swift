import Foundation
import IPLD
import Multiformats
import Testing

@testable import BlockStore

/// Not a timed test: prints put/get throughput of 256 KiB blocks for the lead's notes.
/// Run with `JZ_STORE_BENCH=<MiB>` (e.g. 1024), ideally in release:
/// `JZ_STORE_BENCH=1024 swift test -c release -Xswiftc -enable-testing --filter ThroughputCheck`.
@Suite("Throughput check")
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
        for _ in 0..<batches {
            var blocks: [Block] = []
            for _ in 0..<batch {
                withUnsafeBytes(of: random.next()) { base.replaceSubrange(0..<8, with: $0) }
                blocks.append(try rawBlock(base))
            }
            cids += blocks.map(\.cid)
            let start = Date()
            try store.putMany(blocks)
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
        let reputStart = Date()
        try store.putMany(try cids.prefix(batch).map { cid in try #require(try store.get(cid)) })
        let reput = Date().timeIntervalSince(reputStart)
        print(
            """
            [store throughput] mode=\(mode.rawValue) sync=full \(cids.count) blocks x 256 KiB = \(Int(total)) MB, \
            batches of \(batch):
              putMany \(Int(total / putSeconds)) MB/s (durable), get \(Int(total / getSeconds)) MB/s, \
            has \(Int(Double(min(4096, cids.count)) / hasSeconds)) ops/s, \
            re-put of \(batch) present blocks \(String(format: "%.1f", reput * 1000)) ms
            """)
    }
}
