import Foundation
import IPLD
import Multiformats
import Testing

@testable import BlockStore
import TestSupport

@Suite("SQLite block store: files, schema, limits", .onBlockingPool)
struct SQLiteBlockStoreTests {
    @Test("blocks and pins persist across reopen", arguments: [SQLiteBlockStore.Options.JournalMode.wal, .rollback])
    func persistence(mode: SQLiteBlockStore.Options.JournalMode) throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        let (root, blocks) = try fileDAG(leafCount: 3, leafSize: 300_000)
        do {
            let store = try SQLiteBlockStore(path: path, options: .init(journalMode: mode))
            try store.putMany(blocks)
            try store.pin(root.cid, recursive: true, name: "kept")
        }
        let other: SQLiteBlockStore.Options.JournalMode = mode == .wal ? .rollback : .wal
        do {
            let reopened = try SQLiteBlockStore(path: path, options: .init(journalMode: mode))
            for block in blocks { #expect(try reopened.get(block.cid) == block) }
            #expect(try reopened.pins(type: .recursive) == [Pin(cid: root.cid, kind: .recursive, name: "kept")])
            let stat = try reopened.stat()
            #expect(stat.blockCount == 4)
            #expect(stat.fileBytes >= stat.totalBytes)
            // Opened meanwhile with the other mode (as a second process would): it opens at once.
            let started = Date()
            let second = try SQLiteBlockStore(path: path, options: .init(journalMode: other))
            #expect(try second.get(root.cid) == root)
            #expect(Date().timeIntervalSince(started) < 2)
        }
        // Alone, the store switches to the requested mode.
        let switched = try SQLiteBlockStore(path: path, options: .init(journalMode: other))
        let current = try switched.withWriter { (w: inout WriterState) throws(BlockStoreError) in
            try w.connection.text("PRAGMA journal_mode")
        }
        #expect(current == (other == .wal ? "wal" : "persist"))
        #expect(try switched.get(root.cid) == root)
    }

    @Test("the default init(path:logger:) creates a WAL store with the schema version")
    func defaults() throws {
        let dir = try TempDir()
        let store = try SQLiteBlockStore(path: dir.path("s.sqlite"))
        let (mode, version, pageSize) = try store.withWriter { (w: inout WriterState) throws(BlockStoreError) in
            (try w.connection.text("PRAGMA journal_mode"), try w.connection.integer("PRAGMA user_version"),
             try w.connection.integer("PRAGMA page_size"))
        }
        #expect(mode == "wal")
        #expect(version == Int64(SQLiteBlockStore.schemaVersion))
        #expect(pageSize == 65536)
    }

    @Test("a file that is not SQLite is refused")
    func notSQLite() throws {
        let dir = try TempDir()
        let path = dir.path("text.sqlite")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try SQLiteBlockStore(path: path)
        } throws: { error in
            guard case let .notABlockStore(p, _) = error as? BlockStoreError else { return false }
            return p == path
        }
    }

    @Test("another application's SQLite database is refused, not modified")
    func foreignDatabase() throws {
        let dir = try TempDir()
        let path = dir.path("other.sqlite")
        do {
            let c = try SQLiteConnection(path: path, busyTimeoutMilliseconds: 100)
            try c.execute("CREATE TABLE t (x); PRAGMA application_id = 42", "setup")
        }
        #expect {
            _ = try SQLiteBlockStore(path: path)
        } throws: { error in
            guard case let .notABlockStore(_, reason) = error as? BlockStoreError else { return false }
            return reason.contains("0x2a")
        }
        let c = try SQLiteConnection(path: path, busyTimeoutMilliseconds: 100)
        #expect(try c.integer("SELECT count(*) FROM sqlite_schema") == 1)
    }

    @Test("a store written by a newer schema is refused with both versions named")
    func newerSchema() throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        do {
            let store = try SQLiteBlockStore(path: path)
            try store.withWriter { (w: inout WriterState) throws(BlockStoreError) in
                try w.connection.execute("PRAGMA user_version = 99", "test")
            }
        }
        #expect(throws: BlockStoreError.unsupportedSchema(path: path, found: 99, supported: SQLiteBlockStore.schemaVersion)) {
            _ = try SQLiteBlockStore(path: path)
        }
    }

    @Test("a missing folder is a clear open error")
    func missingFolder() throws {
        let dir = try TempDir()
        let path = dir.path("no/such/folder/store.sqlite")
        #expect {
            _ = try SQLiteBlockStore(path: path)
        } throws: { error in
            guard case let .cannotOpen(p, _) = error as? BlockStoreError else { return false }
            return p == path
        }
    }

    @Test("disk full: a clear error, the batch rolled back, committed data intact, store usable",
          arguments: [SQLiteBlockStore.Options.JournalMode.wal, .rollback])
    func diskFull(mode: SQLiteBlockStore.Options.JournalMode) throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        // Blocks kept in the database, which SQLite's page limit fills.
        let store = try SQLiteBlockStore(path: path, options: .init(journalMode: mode, packThreshold: .max))
        var random = TestRandom(seed: 5)
        let committed = try (0..<4).map { _ in try rawBlock(random.bytes(262_144)) }
        try store.putMany(committed)
        try store.pin(committed[0].cid, recursive: true, name: nil)
        // Simulate a full disk: the database may grow by only a few pages.
        try store.withWriter { (w: inout WriterState) throws(BlockStoreError) in
            let pages = try w.connection.integer("PRAGMA page_count")
            _ = try w.connection.integer("PRAGMA max_page_count = \(pages + 6)")
        }
        let batch = try (0..<8).map { _ in try rawBlock(random.bytes(262_144)) }
        #expect {
            try store.putMany(batch)
        } throws: { error in
            guard case let .diskFull(p, operation) = error as? BlockStoreError else { return false }
            return p == path && operation.hasPrefix("put")
        }
        for block in batch { #expect(try store.has(block.cid) == false) }
        for block in committed { #expect(try store.get(block.cid) == block) }
        #expect(try store.verify().isOK)
        // Space freed (limit lifted): the same batch goes in.
        try store.withWriter { (w: inout WriterState) throws(BlockStoreError) in
            _ = try w.connection.integer("PRAGMA max_page_count = 1073741823")
        }
        try store.putMany(batch)
        #expect(try store.stat().blockCount == 12)
        #expect(try store.pinStatus(committed[0].cid) == .recursive(name: nil))
    }

    @Test("GC returns freed pages to the file system (the rollback journal is trimmed to 1 MiB)")
    func gcShrinksFile() throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        let store = try SQLiteBlockStore(path: path, options: .init(journalMode: .rollback))
        var random = TestRandom(seed: 6)
        let blocks = try (0..<32).map { _ in try rawBlock(random.bytes(262_144)) }
        try store.putMany(blocks)
        let before = try store.stat().fileBytes
        #expect(try store.collectGarbage().removed.count == 32)
        let after = try store.stat()
        #expect(after.blockCount == 0)
        #expect(after.fileBytes < before / 4)
    }
}
