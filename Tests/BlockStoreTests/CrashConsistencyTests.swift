import Foundation
import IPLD
import Multiformats
import Testing

@testable import BlockStore
import TestSupport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Copies the store's files as they are on disk right now: what a kill -9 at this instant
/// leaves behind (the OS keeps every completed write). The WAL index (-shm) is not copied; it
/// is rebuilt from the WAL, as after a reboot.
private func snapshot(_ path: String, to destination: String) throws {
    let fm = FileManager.default
    for suffix in ["", "-wal", "-journal", "-packs"] where fm.fileExists(atPath: path + suffix) {
        try fm.copyItem(atPath: path + suffix, toPath: destination + suffix)
    }
}

/// The bytes of every pack file of the store at `path`, by file path.
private func packFiles(_ path: String) throws -> [String] {
    let folder = path + "-packs"
    return try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".pack") }.map { folder + "/" + $0 }
}

private func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? Int) ?? 0
}

@Suite("Crash consistency and corruption", .onBlockingPool)
struct CrashConsistencyTests {
    static let modes: [SQLiteBlockStore.Options.JournalMode] = [.wal, .rollback]

    @Test("an interrupted putMany leaves nothing of its batch", arguments: modes)
    func interruptedPutMany(mode: SQLiteBlockStore.Options.JournalMode) throws {
        let dir = try TempDir()
        let store = try SQLiteBlockStore(path: dir.path("store.sqlite"), options: .init(journalMode: mode))
        var random = TestRandom(seed: 21)
        let first = try (0..<5).map { _ in try rawBlock(random.bytes(70_000)) }
        try store.putMany(first)
        let second = try (0..<10).map { _ in try rawBlock(random.bytes(70_000)) }
        try store.withWriter { (w: inout WriterState) throws(BlockStoreError) in
            w.afterInsert = { (index: Int) throws(BlockStoreError) in
                if index == 6 { throw .io(path: "test", operation: "injected failure", code: 10, message: "EIO") }
            }
        }
        #expect(throws: BlockStoreError.io(path: "test", operation: "injected failure", code: 10, message: "EIO")) {
            try store.putMany(second)
        }
        try store.withWriter { (w: inout WriterState) throws(BlockStoreError) in w.afterInsert = nil }
        #expect(Set(try store.allMultihashes()) == Set(first.map(\.cid.multihash)))
        try store.putMany(second)
        #expect(try store.stat().blockCount == 15)
    }

    @Test("kill -9 in the middle of a putMany: a snapshot of the files recovers to the last commit",
          arguments: modes)
    func crashSnapshots(mode: SQLiteBlockStore.Options.JournalMode) throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        // A tiny page cache makes SQLite spill uncommitted pages to the files mid-transaction,
        // so the snapshots really contain a transaction in flight (blocks kept in the database).
        let store = try SQLiteBlockStore(path: path, options: .init(journalMode: mode, cacheKiB: 256, packThreshold: .max))
        var random = TestRandom(seed: 22)
        let (root, committed) = try fileDAG(leafCount: 6, leafSize: 262_144, seed: 23)
        try store.putMany(committed)
        try store.pin(root.cid, recursive: true, name: nil)
        let committedSize = fileSize(path) + fileSize(path + "-wal")
        let batch = try (0..<16).map { _ in try rawBlock(random.bytes(262_144)) }
        let cuts = [0, 5, 11, 15]
        try store.withWriter { (w: inout WriterState) throws(BlockStoreError) in
            w.afterInsert = { (index: Int) throws(BlockStoreError) in
                guard cuts.contains(index) else { return }
                do {
                    try snapshot(path, to: dir.path("cut-\(index).sqlite"))
                } catch {
                    throw .io(path: path, operation: "snapshot", code: 0, message: "\(error)")
                }
            }
        }
        try store.putMany(batch)
        var spilled = false
        for cut in cuts {
            let copy = dir.path("cut-\(cut).sqlite")
            spilled = spilled || fileSize(copy) + fileSize(copy + "-wal") > committedSize + 262_144
            let recovered = try SQLiteBlockStore(path: copy, options: .init(journalMode: mode))
            #expect(Set(try recovered.allMultihashes()) == Set(committed.map(\.cid.multihash)), "cut \(cut)")
            let report = try recovered.verify()
            #expect(report.isOK, "cut \(cut): \(report)")
            #expect(try recovered.pins(type: .recursive).map(\.cid) == [root.cid])
            // The recovered store takes the interrupted batch again.
            try recovered.putMany(batch)
            #expect(try recovered.stat().blockCount == committed.count + batch.count)
        }
        #expect(spilled, "no snapshot caught uncommitted pages on disk; the test did not exercise recovery")
    }

    @Test("kill -9 after the pack write, before the commit: the snapshot has the bytes but not the rows",
          arguments: modes)
    func crashBetweenPackAndCommit(mode: SQLiteBlockStore.Options.JournalMode) throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        let store = try SQLiteBlockStore(path: path, options: .init(journalMode: mode))
        let (root, committed) = try fileDAG(leafCount: 6, leafSize: 262_144, seed: 31)
        try store.putMany(committed)
        try store.pin(root.cid, recursive: true, name: nil)
        var random = TestRandom(seed: 32)
        let batch = try (0..<8).map { _ in try rawBlock(random.bytes(262_144)) }
        try store.withWriter { (w: inout WriterState) throws(BlockStoreError) in
            w.afterInsert = { (index: Int) throws(BlockStoreError) in
                guard index == 0 else { return }
                do {
                    try snapshot(path, to: dir.path("cut.sqlite"))
                } catch {
                    throw .io(path: path, operation: "snapshot", code: 0, message: "\(error)")
                }
            }
        }
        try store.putMany(batch)
        let copy = dir.path("cut.sqlite")
        let packBytes = try packFiles(copy).reduce(0) { $0 + fileSize($1) }
        #expect(packBytes >= 14 * 262_144, "the snapshot should hold the batch's bytes in the pack: \(packBytes)")
        let recovered = try SQLiteBlockStore(path: copy, options: .init(journalMode: mode))
        #expect(Set(try recovered.allMultihashes()) == Set(committed.map(\.cid.multihash)))
        #expect(try recovered.verify().isOK)
        // The orphaned bytes are garbage: GC rewrites the pack with only the live blocks.
        #expect(try recovered.collectGarbage().removed.isEmpty)
        let after = try packFiles(copy).reduce(0) { $0 + fileSize($1) }
        #expect(after < packBytes && after >= 6 * 262_144, "pack bytes \(packBytes) -> \(after)")
        for block in committed { #expect(try recovered.get(block.cid) == block) }
        #expect(try recovered.verify().isOK)
        try recovered.putMany(batch)
        #expect(try recovered.stat().blockCount == committed.count + batch.count)
    }

    @Test("a damaged or missing pack file: verify names its blocks, get says which file", arguments: modes)
    func damagedPack(mode: SQLiteBlockStore.Options.JournalMode) throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        var random = TestRandom(seed: 33)
        let blocks = try (0..<4).map { _ in try rawBlock(random.bytes(100_000)) }
        let small = try rawBlock(random.bytes(100))
        let store = try SQLiteBlockStore(path: path, options: .init(journalMode: mode))
        try store.putMany(blocks + [small])
        let pack = try #require(try packFiles(path).first)
        // Truncated in the middle of block 2: blocks 2 and 3 are short.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: pack))
        try handle.truncate(atOffset: 250_000)
        try handle.close()
        var report = try store.verify()
        #expect(Set(report.badBlocks.map(\.cid)) == [blocks[2].cid, blocks[3].cid])
        #expect(report.badBlocks.allSatisfy { if case .sizeMismatch(100_000, 0) = $0.reason { true } else { false } })
        #expect(try store.get(blocks[0].cid) == blocks[0])
        #expect(throws: BlockStoreError.self) { try store.get(blocks[3].cid) }
        // Gone: every packed block is reported, the inline one is fine.
        try FileManager.default.removeItem(atPath: pack)
        report = try store.verify()
        #expect(report.blocksChecked == 5)
        #expect(Set(report.badBlocks.map(\.cid)) == Set(blocks.map(\.cid)))
        #expect(try store.get(small.cid) == small)
        do {
            _ = try store.get(blocks[0].cid)
            Issue.record("a block whose pack is gone was returned")
        } catch {
            #expect("\(error)".contains("pack"))
        }
    }

    @Test("verify finds blocks corrupted behind the store's back (raw SQL)", arguments: modes)
    func corruptedRows(mode: SQLiteBlockStore.Options.JournalMode) throws {
        let dir = try TempDir()
        let store = try SQLiteBlockStore(
            path: dir.path("store.sqlite"), options: .init(journalMode: mode, packThreshold: .max))
        var random = TestRandom(seed: 24)
        let blocks = try (0..<6).map { _ in try rawBlock(random.bytes(100_000)) }
        let unsupported = try CID(version: .v1, codec: .raw, multihash: Multihash(code: 0x1e, digest: [UInt8](repeating: 7, count: 32)))
        try store.putMany(blocks + [Block(cid: unsupported, data: [1, 2, 3])])
        #expect(try store.verify().badBlocks == [BadBlock(key: unsupported.multihash.bytes, cid: unsupported, reason: .unsupportedHash(HashFunction(rawValue: 0x1e)))])
        func key(_ block: Block) -> String { "X'\(Hex.encode(block.cid.multihash.bytes))'" }
        try store.withWriter { (w: inout WriterState) throws(BlockStoreError) in
            let c = w.connection
            // Same length, one byte flipped.
            var flipped = blocks[1].data
            flipped[50_000] ^= 0x01
            try c.execute("UPDATE blocks SET data = X'\(Hex.encode(flipped))' WHERE mh = \(key(blocks[1]))", "corrupt")
            // Truncated bytes (recorded size no longer matches).
            try c.execute("UPDATE blocks SET data = substr(data, 1, 10) WHERE mh = \(key(blocks[2]))", "corrupt")
            // A key that is not a multihash.
            try c.execute("UPDATE blocks SET mh = X'FFFF' WHERE mh = \(key(blocks[3]))", "corrupt")
        }
        let report = try store.verify()
        #expect(report.blocksChecked == 7)
        #expect(report.integrityErrors.isEmpty)
        let byKey = Dictionary(uniqueKeysWithValues: report.badBlocks.map { ($0.key, $0) })
        #expect(byKey[blocks[1].cid.multihash.bytes] == BadBlock(key: blocks[1].cid.multihash.bytes, cid: blocks[1].cid, reason: .hashMismatch))
        #expect(byKey[blocks[2].cid.multihash.bytes]?.reason == .sizeMismatch(recorded: 100_000, actual: 10))
        #expect(byKey[blocks[2].cid.multihash.bytes]?.cid == blocks[2].cid)
        guard case .invalidKey = byKey[[0xff, 0xff]]?.reason else {
            Issue.record("invalid key not reported: \(report.badBlocks)")
            return
        }
        #expect(report.badBlocks.count == 4)
        #expect("\(byKey[blocks[1].cid.multihash.bytes].map { "\($0)" } ?? "")".contains(blocks[1].cid.description))
    }

    @Test("bit rot in the file: verify names the block", arguments: modes, [false, true])
    func bitRotOnDisk(mode: SQLiteBlockStore.Options.JournalMode, packed: Bool) throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        var random = TestRandom(seed: 25)
        let blocks = try (0..<4).map { _ in try rawBlock(random.bytes(262_144)) }
        let options = SQLiteBlockStore.Options(journalMode: mode, packThreshold: packed ? 32 * 1024 : .max)
        do {
            let store = try SQLiteBlockStore(path: path, options: options)
            try store.putMany(blocks)
        }
        // Closed: everything is checkpointed into the main file. Flip one byte of block 2
        // where it is on disk (the database, or the pack).
        let holder = packed ? try #require(try packFiles(path).first) : path
        var file = try [UInt8](Data(contentsOf: URL(fileURLWithPath: holder)))
        let needle = Array(blocks[2].data[100_000..<100_064])
        let offset = try #require(firstIndex(of: needle, in: file), "block bytes not found in the file")
        file[offset + 10] ^= 0x80
        try Data(file).write(to: URL(fileURLWithPath: holder))
        let store = try SQLiteBlockStore(path: path, options: options)
        let report = try store.verify()
        #expect(report.badBlocks == [BadBlock(key: blocks[2].cid.multihash.bytes, cid: blocks[2].cid, reason: .hashMismatch)])
        #expect(try store.get(blocks[1].cid) == blocks[1])
    }

    @Test("a damaged header or truncated file is refused or reported, never silently accepted", arguments: modes)
    func damagedFile(mode: SQLiteBlockStore.Options.JournalMode) throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        var random = TestRandom(seed: 26)
        let blocks = try (0..<8).map { _ in try rawBlock(random.bytes(262_144)) }
        do {
            let store = try SQLiteBlockStore(path: path, options: .init(journalMode: mode, packThreshold: .max))
            try store.putMany(blocks)
        }
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        // Header magic overwritten.
        var header = original
        header.replaceSubrange(0..<16, with: Data(repeating: 0x58, count: 16))
        try header.write(to: URL(fileURLWithPath: path))
        #expect {
            _ = try SQLiteBlockStore(path: path, options: .init(journalMode: mode))
        } throws: { error in
            if case .notABlockStore = error as? BlockStoreError { return true }
            return false
        }
        // Truncated in the middle of the block data.
        try original.prefix(original.count / 2).write(to: URL(fileURLWithPath: path))
        do throws(BlockStoreError) {
            let store = try SQLiteBlockStore(path: path, options: .init(journalMode: mode))
            let report = try store.verify()
            #expect(!report.isOK)
        } catch {
            switch error {
            case .corrupt, .notABlockStore: break
            default: Issue.record("unexpected error \(error)")
            }
        }
    }

    /// Real kill -9: a child process (this test binary, running `crashChild`) writes and pins
    /// DAGs in a loop; the parent kills it at random moments and checks the store each time.
    @Test("kill -9 of a writing process at random moments leaves a consistent store",
          .enabled(if: CrashChild.executable != nil && CrashChild.role == nil), arguments: modes)
    func killNine(mode: SQLiteBlockStore.Options.JournalMode) throws {
        let dir = try TempDir()
        let path = dir.path("store.sqlite")
        let executable = try #require(CrashChild.executable)
        var random = TestRandom(seed: UInt64(UInt32(truncatingIfNeeded: getpid())))
        var pinnedCounts: [Int] = []
        for round in 0..<6 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["--testing-library", "swift-testing", "--filter", "crashChild"]
            var environment = ProcessInfo.processInfo.environment
            environment[CrashChild.pathVariable] = path
            environment[CrashChild.modeVariable] = mode.rawValue
            environment[CrashChild.seedVariable] = "\(round + 1)"
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Wait until this child has committed a pin (slow machines, sanitizers), then kill it
            // at a random moment of its work.
            let started = Date()
            while CrashChild.progress(path) <= round && Date().timeIntervalSince(started) < 60 && process.isRunning {
                usleep(5_000)
            }
            #expect(CrashChild.progress(path) == round + 1, "round \(round): the child made no progress")
            usleep(UInt32(random.next() % 400_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "round \(round): the child exited by itself")

            let store = try SQLiteBlockStore(path: path, options: .init(journalMode: mode))
            let report = try store.verify()
            #expect(report.isOK, "round \(round): \(report)")
            pinnedCounts.append(try store.pins(type: .recursive).count)
        }
        #expect(pinnedCounts.last ?? 0 > 0, "the child never committed a pin: \(pinnedCounts)")
    }

    @Test("crash child (runs only as the kill -9 test's child process)", .enabled(if: CrashChild.role != nil))
    func crashChild() throws {
        let environment = ProcessInfo.processInfo.environment
        let path = try #require(environment[CrashChild.pathVariable])
        let mode = SQLiteBlockStore.Options.JournalMode(rawValue: environment[CrashChild.modeVariable] ?? "") ?? .wal
        let store = try SQLiteBlockStore(path: path, options: .init(journalMode: mode))
        let seed = Int(environment[CrashChild.seedVariable] ?? "") ?? 1
        var random = TestRandom(seed: UInt64(seed))
        var reported = false
        let deadline = Date().addingTimeInterval(30)  // never outlive a dead parent for long
        var roots: [CID] = []
        while Date() < deadline {
            let (root, blocks) = try fileDAG(leafCount: 12, leafSize: 262_144, seed: random.next())
            let lease = store.gcLease()
            try store.putMany(Array(blocks.dropFirst(6)))
            try store.putMany(Array(blocks.prefix(6)))
            try store.pin(root.cid, recursive: true, name: "r\(roots.count)")
            lease.release()
            if !reported {
                // Tell the parent this round committed something.
                reported = true
                try Data("\(seed)".utf8).write(to: URL(fileURLWithPath: path + ".progress"), options: .atomic)
            }
            roots.append(root.cid)
            if roots.count % 3 == 0 {
                try store.unpin(roots.removeFirst())
                _ = try store.collectGarbage()
            }
        }
    }
}

/// Environment of the kill -9 child process.
enum CrashChild {
    static let pathVariable = "JZ_STORE_CRASH_CHILD_PATH"
    static let modeVariable = "JZ_STORE_CRASH_CHILD_MODE"
    static let seedVariable = "JZ_STORE_CRASH_CHILD_SEED"

    /// Set in the child only.
    static var role: String? { ProcessInfo.processInfo.environment[pathVariable] }

    /// The last round (seed) that reported a committed pin, 0 before any.
    static func progress(_ path: String) -> Int {
        guard let data = FileManager.default.contents(atPath: path + ".progress") else { return 0 }
        return Int(String(decoding: data, as: UTF8.self)) ?? 0
    }

    /// This test binary, when it can be re-run as a child.
    static var executable: String? {
        guard let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"),
            FileManager.default.isExecutableFile(atPath: path)
        else { return nil }
        return path
    }
}

private func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
    let first = needle[0]
    var index = 0
    while index <= haystack.count - needle.count {
        if haystack[index] == first && haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        index += 1
    }
    return nil
}
