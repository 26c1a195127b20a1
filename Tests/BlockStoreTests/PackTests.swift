import Foundation
import IPLD
import Multiformats
import Testing

@testable import BlockStore
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

private func packFiles(_ store: SQLiteBlockStore) -> [String] {
    store.packs.packIDs().map(store.packs.file)
}

private func packBytes(_ store: SQLiteBlockStore) -> Int {
    packFiles(store).reduce(0) { total, file in
        total + (((try? FileManager.default.attributesOfItem(atPath: file)[.size]) as? Int) ?? 0)
    }
}

@Suite("SQLite block store: pack files", .onBlockingPool)
struct PackTests {
    @Test("large blocks go to a pack, small ones stay in the database; both read back after reopen")
    func placement() throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        var random = TestRandom(seed: 41)
        let large = try (0..<5).map { _ in try rawBlock(random.bytes(262_144)) }
        let small = try (0..<5).map { _ in try rawBlock(random.bytes(1_000)) }
        do {
            let store = try SQLiteBlockStore(path: path)
            try store.putMany(large + small)
            #expect(packFiles(store).count == 1)
            #expect(packBytes(store) == 5 * 262_144)
            // Putting them again writes nothing.
            try store.putMany(large + small)
            #expect(packBytes(store) == 5 * 262_144)
            let stat = try store.stat()
            #expect(stat.blockCount == 10)
            #expect(stat.fileBytes >= stat.totalBytes)
        }
        let store = try SQLiteBlockStore(path: path)
        for block in large + small { #expect(try store.get(block.cid) == block) }
        #expect(try store.verify().isOK)
        // A block repeated within one batch is stored once.
        let repeated = try rawBlock(random.bytes(100_000))
        try store.putMany([repeated, repeated])
        #expect(packBytes(store) == 5 * 262_144 + 100_000)
    }

    @Test("links of packed dag-pb nodes are read for pins and GC")
    func packedDAG() throws {
        let dir = try TempDir()
        let store = try SQLiteBlockStore(path: dir.path("store.sqlite"), options: .init(packThreshold: 512))
        let (root, blocks) = try fileDAG(leafCount: 40, leafSize: 2_000, seed: 42)
        #expect(root.data.count >= 512, "the root should be packed too")
        try store.putMany(blocks)
        try store.pin(root.cid, recursive: true, name: nil)
        #expect(try store.pinStatus(blocks[3].cid) == .indirect(through: root.cid))
        #expect(try store.collectGarbage().removed.isEmpty)
        for block in blocks { #expect(try store.get(block.cid) == block) }
    }

    @Test("GC removes empty packs and rewrites mostly-garbage ones; live blocks survive")
    func compaction() throws {
        let dir = try TempDir()
        let store = try SQLiteBlockStore(path: dir.path("store.sqlite"), options: .init(packLimit: 4 << 20))
        var random = TestRandom(seed: 43)
        // Pack 1: all garbage. Pack 2: 3 of 10 blocks live. (4 MiB limit: 16 blocks per pack.)
        let doomed = try (0..<16).map { _ in try rawBlock(random.bytes(262_144)) }
        try store.putMany(doomed)
        let mixed = try (0..<10).map { _ in try rawBlock(random.bytes(262_144)) }
        try store.putMany(mixed)
        #expect(packFiles(store).count == 2)
        for block in mixed.prefix(3) { try store.pin(block.cid, recursive: false, name: nil) }
        let result = try store.collectGarbage()
        #expect(result.removed.count == 16 + 7)
        #expect(packBytes(store) == 3 * 262_144)
        #expect(packFiles(store).count == 1)
        for block in mixed.prefix(3) { #expect(try store.get(block.cid) == block) }
        #expect(try store.verify().isOK)
        // New writes go to a new pack and GC leaves live packs alone.
        try store.putMany([try rawBlock(random.bytes(262_144))])
        #expect(try store.collectGarbage().removed.count == 1)
        #expect(packBytes(store) == 3 * 262_144)
    }

    @Test("GC merges small packs once 8 or more have gathered (one per short-lived writer)")
    func smallPacksMerge() throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        var random = TestRandom(seed: 47)
        var blocks: [Block] = []
        for round in 0..<9 {
            // Each instance is a short-lived writer with a pack of its own.
            let writer = try SQLiteBlockStore(path: path)
            let block = try rawBlock(random.bytes(100_000))
            try writer.putMany([block])
            try writer.pin(block.cid, recursive: false, name: nil)
            blocks.append(block)
            #expect(packFiles(writer).count == round + 1)
        }
        let store = try SQLiteBlockStore(path: path)
        #expect(try store.collectGarbage().removed.isEmpty)
        #expect(packFiles(store).count == 1)
        #expect(packBytes(store) == 9 * 100_000)
        for block in blocks { #expect(try store.get(block.cid) == block) }
        #expect(try store.verify().isOK)
        // Fewer than 8 small packs are left as they are.
        try SQLiteBlockStore(path: path).putMany([try rawBlock(random.bytes(100_000))])
        _ = try store.collectGarbage()
        #expect(packFiles(store).count == 1)
    }

    @Test("GC in a second store instance leaves the first one's open pack alone")
    func lockedPacksAreSkipped() throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        let writer = try SQLiteBlockStore(path: path)
        let collector = try SQLiteBlockStore(path: path)
        var random = TestRandom(seed: 44)
        let blocks = try (0..<4).map { _ in try rawBlock(random.bytes(262_144)) }
        try writer.putMany(blocks)
        let lease = writer.gcLease()
        lease.release()
        // The blocks are unpinned, so GC deletes their rows, but the writer still appends to its
        // pack: the file stays until the writer lets go of it.
        #expect(try collector.collectGarbage().removed.count == 4)
        #expect(packFiles(collector).count == 1)
        let later = try rawBlock(random.bytes(262_144))
        try writer.putMany([later])
        #expect(try collector.get(later.cid) == later)
        try writer.pin(later.cid, recursive: false, name: nil)
        // The writer's own GC seals its pack and compacts it.
        #expect(try writer.collectGarbage().removed.isEmpty)
        #expect(packBytes(writer) == 262_144)
        #expect(try collector.get(later.cid) == later)
    }

    @Test("two threads putting at once: one writes while the other syncs; everything is stored")
    func concurrentPuts() async throws {
        let dir = try TempDir()
        let store = try SQLiteBlockStore(path: dir.path("store.sqlite"))
        let batches: [[Block]] = try (0..<8).map { b in
            var random = TestRandom(seed: 100 + UInt64(b))
            return try (0..<8).map { _ in try rawBlock(random.bytes(65_536 + b)) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for batch in batches {
                group.addTask { try store.putMany(batch) }
            }
            try await group.waitForAll()
        }
        #expect(try store.stat().blockCount == 64)
        #expect(packBytes(store) == batches.joined().reduce(0) { $0 + $1.data.count })
        for block in batches.joined() { #expect(try store.get(block.cid) == block) }
        #expect(try store.verify().isOK)
    }

    @Test("disk full while writing a pack: a clear error naming the pack folder, nothing stored")
    func packDiskFull() throws {
        let dir = try TempDir()
        let store = try SQLiteBlockStore(path: dir.path("store.sqlite"))
        var random = TestRandom(seed: 45)
        let kept = try rawBlock(random.bytes(262_144))
        try store.putMany([kept])
        let packFolder = store.packs.path
        store.appender.beforeWrite = { (_: Int) throws(BlockStoreError) in
            throw .diskFull(path: packFolder, operation: "put")
        }
        let batch = try (0..<4).map { _ in try rawBlock(random.bytes(262_144)) }
        #expect(throws: BlockStoreError.diskFull(path: packFolder, operation: "put")) { try store.putMany(batch) }
        for block in batch { #expect(try store.has(block.cid) == false) }
        store.appender.beforeWrite = nil
        try store.putMany(batch)
        #expect(try store.stat().blockCount == 5)
        #expect(try store.get(kept.cid) == kept)
    }

    @Test("a schema-1 store (blocks in rows) is upgraded in place and keeps its blocks")
    func upgradeFromVersion1() throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        var random = TestRandom(seed: 46)
        let old = try rawBlock(random.bytes(100_000))
        // What jz-node wrote before pack files.
        let c = try SQLiteConnection(path: path, busyTimeoutMilliseconds: 1000)
        try c.execute(
            """
            PRAGMA page_size = 65536;
            CREATE TABLE blocks (id INTEGER PRIMARY KEY, mh BLOB NOT NULL, codec INTEGER NOT NULL,
                                 size INTEGER NOT NULL, data BLOB NOT NULL);
            CREATE UNIQUE INDEX blocks_by_mh ON blocks(mh);
            CREATE TABLE pins (cid BLOB PRIMARY KEY, recursive INTEGER NOT NULL, name TEXT) WITHOUT ROWID;
            PRAGMA application_id = \(SQLiteBlockStore.applicationID);
            PRAGMA user_version = 1;
            """, "make v1")
        let insert = try c.statement("INSERT INTO blocks (mh, codec, size, data) VALUES (?, ?, ?, ?)")
        try insert.bind(1, old.cid.multihash.bytes)
        try insert.bind(2, Int64(old.cid.codec.rawValue))
        try insert.bind(3, Int64(old.data.count))
        try insert.bind(4, old.data)
        _ = try insert.step("insert")
        insert.reset()
        let store = try SQLiteBlockStore(path: path)
        let version = try store.withWriter { (w: inout WriterState) throws(BlockStoreError) in
            try w.connection.integer("PRAGMA user_version")
        }
        #expect(version == 2)
        #expect(try store.get(old.cid) == old)
        let new = try rawBlock(random.bytes(100_000))
        try store.putMany([new])
        #expect(try store.get(new.cid) == new)
        #expect(packBytes(store) == 100_000)
        #expect(try store.verify().isOK)
    }
}
