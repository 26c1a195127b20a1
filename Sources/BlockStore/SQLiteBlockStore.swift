import BlockingPool
import CSQLite
import Dispatch
import Foundation
import IPLD
import Logging
import Multiformats

/// The node's block store: one SQLite database holding blocks (keyed by multihash) and pins;
/// the bytes of large blocks live in append-only pack files beside it (see `PackDirectory`).
///
/// Thread-safe. Writes go through one connection behind a lock; reads (`get`, `has`, `size`,
/// `verify`) use a small pool of reader connections, so they do not wait for writes in WAL mode.
///
/// **Durability and crash consistency.** Every `putMany`, `delete`, pin change and GC is one
/// SQLite transaction: after a crash (kill -9, or power loss) a transaction is either wholly
/// there or wholly absent. The store trusts the CIDs it is given, so no block whose bytes do not
/// hash to its key can appear, and a recursive pin is only written in the transaction that found
/// its DAG complete; GC never removes a pinned DAG's block (`removeUnpinned` checks pins too;
/// the protocol's raw `delete` does not).
/// With the default `synchronous: .full`, a transaction is on stable storage when the call
/// returns (fsync at each commit); `.normal` in WAL mode may lose the last commits on power loss
/// (never on a process crash) but never corrupts. `SQLITE_FULL` rolls the failed transaction back
/// and is reported as `.diskFull`; nothing committed is lost.
///
/// **Performance.** Blocks go in a rowid table with a unique index on the multihash. Blocks of
/// `Options.packThreshold` bytes or more (file chunks) are appended to a pack file, fsynced, and
/// then recorded as `(pack, offset)` in the row; smaller ones (directories, DAG nodes) stay in
/// the row. Batch writes with `putMany` (one fsync of the pack and one commit per call); two
/// `putMany` calls from different threads overlap (one writes while the other syncs). Reads
/// `pread` packed blocks and copy inline ones straight from SQLite's pages (incremental blob
/// I/O). GC deletes rows, then rewrites or removes packs that are mostly garbage. Journal mode:
/// `.wal` writes every page twice (log, then checkpoint), `.rollback` (`PERSIST` journal) writes
/// new pages once; both are crash-safe, see `Options.JournalMode`.
///
/// Identity-hash CIDs are answered from the CID itself and never stored.
public final class SQLiteBlockStore: PinStore {
    /// How the store is opened.
    public struct Options: Sendable, Equatable {
        /// SQLite journal mode.
        public enum JournalMode: String, Sendable, Equatable {
            /// Write-ahead log: readers never wait for the writer. Every page is written twice
            /// (log, then checkpoint): about 400 MB/s durable for 256 KiB blocks on a disk that
            /// does 750 MB/s.
            case wal
            /// Rollback journal (`PERSIST`): new pages are written once, only pages that already
            /// existed are journaled, so bulk inserts run near disk speed (about 750 MB/s on the
            /// same disk). Readers wait while a commit writes.
            case rollback
        }

        /// When SQLite fsyncs.
        public enum Synchronous: String, Sendable, Equatable {
            /// Fsync at every commit: a returned write survives power loss.
            case full
            /// WAL: fsync only at checkpoints (survives process crashes; the last commits may be
            /// lost on power loss, never corrupting). Rollback: fewer fsyncs of the journal.
            case normal
        }

        public var journalMode: JournalMode
        public var synchronous: Synchronous
        /// Page size of a new store (512 … 65536, a power of two); an existing store keeps its own.
        public var pageSize: Int
        /// Page cache of the writer connection in KiB (readers use 2 MiB each).
        public var cacheKiB: Int
        /// How long to wait for another process's lock before failing with `.busy`.
        public var busyTimeoutMilliseconds: Int32
        /// Reader connections kept open for reuse.
        public var maxIdleReaders: Int
        /// Blocks of this many bytes or more go to pack files; `Int.max` keeps every block in
        /// the database.
        public var packThreshold: Int
        /// A pack is closed for appending (and a new one started) past this many bytes.
        public var packLimit: Int64

        public init(
            journalMode: JournalMode = .wal, synchronous: Synchronous = .full, pageSize: Int = 65536,
            cacheKiB: Int = 32768, busyTimeoutMilliseconds: Int32 = 10_000, maxIdleReaders: Int = 4,
            packThreshold: Int = 32 * 1024, packLimit: Int64 = 256 << 20
        ) {
            self.journalMode = journalMode
            self.synchronous = synchronous
            self.pageSize = pageSize
            self.cacheKiB = cacheKiB
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.maxIdleReaders = maxIdleReaders
            self.packThreshold = max(1, packThreshold)
            self.packLimit = max(1, packLimit)
        }
    }

    /// The schema version this build writes and reads (`PRAGMA user_version`).
    /// Version 2 added pack files (`blocks.pack`, `blocks.pack_offset`); version 1 stores are
    /// upgraded when opened.
    public static let schemaVersion: Int32 = 2
    /// `PRAGMA application_id` of a jz-node block store ("JZBS").
    public static let applicationID: Int32 = 0x4A5A_4253

    /// The database file.
    public let path: String
    public let options: Options
    private let logger: Logger
    private let writer: Locked<WriterState>
    private let idleReaders = Locked<[SQLiteConnection]>([])
    private let coordinator: GCCoordinator
    /// The pack files beside the database.
    let packs: PackDirectory
    let appender: PackAppender

    /// SQLite's default blob limit (SQLITE_MAX_LENGTH).
    private static let maxBlockSize = 1_000_000_000

    /// Opens (or creates) the store at `path` with default options.
    /// - Throws: `.cannotOpen`, `.notABlockStore` (not SQLite, or another application's
    ///   database), `.unsupportedSchema` (written by a newer jz-node), `.corrupt`.
    public convenience init(path: String, logger: Logger = Logger(label: "jz.blockstore")) throws(BlockStoreError) {
        try self.init(path: path, options: Options(), logger: logger)
    }

    /// Opens (or creates) the store at `path`.
    public init(path: String, options: Options, logger: Logger = Logger(label: "jz.blockstore")) throws(BlockStoreError) {
        self.path = path
        self.options = options
        self.logger = logger
        packs = PackDirectory(databasePath: path)
        appender = PackAppender(directory: packs, limit: options.packLimit)
        let connection = try SQLiteConnection(path: path, busyTimeoutMilliseconds: options.busyTimeoutMilliseconds)
        // Leases and collections of every process that opens this store meet in this lock.
        coordinator = try GCCoordinator(lockPath: path + ".gc-lock")
        try Self.prepareSchema(connection, options: options, logger: logger)
        try Self.configureWriter(connection, options: options, logger: logger)
        writer = Locked(WriterState(connection: connection))
        logger.debug(
            "opened block store",
            metadata: ["path": "\(path)", "journal": "\(options.journalMode.rawValue)",
                       "synchronous": "\(options.synchronous.rawValue)"])
    }

    // MARK: Opening

    private static func prepareSchema(
        _ c: SQLiteConnection, options: Options, logger: Logger
    ) throws(BlockStoreError) {
        let (applicationID, version, tables) = try c.header()
        if applicationID == 0 && version == 0 && tables == 0 {
            try create(c, options: options)
            logger.debug("created block store", metadata: ["path": "\(c.path)"])
            return
        }
        try check(path: c.path, applicationID: applicationID, version: version)
        if version < Int64(Self.schemaVersion) { try upgrade(c, logger: logger) }
    }

    /// Version 1 → 2: pack columns (existing blocks stay in their rows).
    private static func upgrade(_ c: SQLiteConnection, logger: Logger) throws(BlockStoreError) {
        try c.transaction("upgrade store schema") { () throws(BlockStoreError) in
            // Another process may have upgraded it meanwhile.
            guard try c.integer("PRAGMA user_version") < Int64(Self.schemaVersion) else { return }
            try c.execute(
                """
                ALTER TABLE blocks ADD COLUMN pack INTEGER;
                ALTER TABLE blocks ADD COLUMN pack_offset INTEGER;
                \(packIndexSQL)
                PRAGMA user_version = \(Self.schemaVersion);
                """, "upgrade store schema")
        }
        logger.info("block store upgraded to schema \(Self.schemaVersion)", metadata: ["path": "\(c.path)"])
    }

    private static let packIndexSQL = "CREATE INDEX blocks_by_pack ON blocks(pack, pack_offset) WHERE pack IS NOT NULL;"

    private static func check(path: String, applicationID: Int64, version: Int64) throws(BlockStoreError) {
        guard applicationID == Int64(Self.applicationID) else {
            let found = String(UInt32(truncatingIfNeeded: applicationID), radix: 16)
            throw .notABlockStore(
                path: path,
                reason: "SQLite application_id is 0x\(found), expected 0x\(String(Self.applicationID, radix: 16))")
        }
        guard version >= 1 else {
            throw .notABlockStore(path: path, reason: "schema version \(version) was never written by jz-node")
        }
        guard version <= Int64(Self.schemaVersion) else {
            throw .unsupportedSchema(path: path, found: Int32(truncatingIfNeeded: version), supported: Self.schemaVersion)
        }
    }

    private static func create(_ c: SQLiteConnection, options: Options) throws(BlockStoreError) {
        // Page size and auto-vacuum must be set before the first table exists.
        try c.execute("PRAGMA page_size = \(options.pageSize)", "create store")
        try c.execute("PRAGMA auto_vacuum = INCREMENTAL", "create store")
        try c.transaction("create store") { () throws(BlockStoreError) in
            // Another process may have created it meanwhile.
            let (applicationID, version, tables) = try c.header()
            if applicationID != 0 || version != 0 || tables != 0 {
                try check(path: c.path, applicationID: applicationID, version: version)
                return
            }
            try c.execute(
                """
                CREATE TABLE blocks (
                    id INTEGER PRIMARY KEY,
                    mh BLOB NOT NULL,
                    codec INTEGER NOT NULL,
                    size INTEGER NOT NULL,
                    data BLOB NOT NULL,
                    pack INTEGER,
                    pack_offset INTEGER
                );
                CREATE UNIQUE INDEX blocks_by_mh ON blocks(mh);
                \(packIndexSQL)
                CREATE TABLE pins (
                    cid BLOB PRIMARY KEY,
                    recursive INTEGER NOT NULL,
                    name TEXT
                ) WITHOUT ROWID;
                PRAGMA application_id = \(Self.applicationID);
                PRAGMA user_version = \(Self.schemaVersion);
                """, "create store")
        }
    }

    private static func configureWriter(
        _ c: SQLiteConnection, options: Options, logger: Logger
    ) throws(BlockStoreError) {
        let wanted = options.journalMode == .wal ? "wal" : "persist"
        // Leaving WAL needs the only connection to the file: when another process has the store
        // open, keep its mode rather than wait (both modes are crash-safe).
        var mode: String?
        do throws(BlockStoreError) {
            c.setBusyTimeout(milliseconds: 0)
            defer { c.setBusyTimeout(milliseconds: options.busyTimeoutMilliseconds) }
            mode = try c.text("PRAGMA journal_mode = \(wanted)")?.lowercased()
        } catch {
            guard case .busy = error else { throw error }
            mode = try c.text("PRAGMA journal_mode")?.lowercased()
        }
        if mode != wanted {
            logger.warning(
                "block store journal mode not changed: the store is open in another process",
                metadata: ["path": "\(c.path)", "wanted": "\(wanted)", "mode": "\(mode ?? "?")"])
        }
        // The WAL file is reused between checkpoints (64 MiB); a rollback journal is trimmed
        // after big transactions (GC), so it does not keep their size on disk. Some builds
        // (Debian's) default to secure_delete, which zero-fills every freed page: GC of 1 GB
        // would write 1 GB.
        let journalLimit = mode == "wal" ? 64 << 20 : 1 << 20
        try c.execute(
            """
            PRAGMA synchronous = \(options.synchronous == .full ? "FULL" : "NORMAL");
            PRAGMA cache_size = -\(options.cacheKiB);
            PRAGMA journal_size_limit = \(journalLimit);
            PRAGMA secure_delete = OFF;
            """, "configure store")
    }

    private func openReader() throws(BlockStoreError) -> SQLiteConnection {
        let c = try SQLiteConnection(path: path, busyTimeoutMilliseconds: options.busyTimeoutMilliseconds)
        try c.execute("PRAGMA cache_size = -2048; PRAGMA query_only = 1", "open reader")
        return c
    }

    /// Runs `body` on an idle reader connection (opened on demand).
    private func withReader<R>(_ body: (SQLiteConnection) throws(BlockStoreError) -> R) throws(BlockStoreError) -> R {
        let reader: SQLiteConnection
        if let idle = idleReaders.withLock({ $0.popLast() }) {
            reader = idle
        } else {
            reader = try openReader()
        }
        defer {
            let limit = options.maxIdleReaders
            idleReaders.withLock { if $0.count < limit { $0.append(reader) } }
        }
        return try body(reader)
    }

    /// Runs `body` on the writer connection, holding the writer lock.
    func withWriter<R>(_ body: (inout WriterState) throws(BlockStoreError) -> R) throws(BlockStoreError) -> R {
        try writer.withLock(body)
    }

    // MARK: BlockStore

    /// Stores one block in its own transaction (one fsync); prefer `putMany` for many.
    public func put(_ block: Block) throws(BlockStoreError) {
        try putMany([block])
    }

    /// Stores the blocks in one transaction: all or none. Blocks already stored are skipped
    /// without writing their bytes. Large blocks are first appended to this store's pack and
    /// fsynced; the transaction then records where they are.
    public func putMany(_ blocks: [Block]) throws(BlockStoreError) {
        var toStore: [Block] = []
        toStore.reserveCapacity(blocks.count)
        var seen = Set<Multihash>()
        for block in blocks where !block.cid.isIdentity {
            guard block.data.count <= Self.maxBlockSize else {
                throw .blockTooLarge(cid: block.cid, size: block.data.count)
            }
            if seen.insert(block.cid.multihash).inserted { toStore.append(block) }
        }
        guard !toStore.isEmpty else { return }
        // Skip what is stored before writing any bytes (another writer may still add one of
        // them meanwhile: INSERT OR IGNORE keeps the first, the pack copy becomes garbage).
        toStore = try withReader { (c: SQLiteConnection) throws(BlockStoreError) -> [Block] in
            let exists = try c.statement("SELECT 1 FROM blocks WHERE mh = ?")
            var absent: [Block] = []
            for block in toStore {
                defer { exists.reset() }
                try exists.bind(1, block.cid.multihash.bytes)
                if try !exists.step("put \(block.cid)") { absent.append(block) }
            }
            return absent
        }
        guard !toStore.isEmpty else { return }
        let placement = try writeToPack(toStore)
        try writer.withLock { (w: inout WriterState) throws(BlockStoreError) in
            let c = w.connection
            let hook = w.afterInsert
            try c.transaction("put of \(toStore.count) block(s)") { () throws(BlockStoreError) in
                let insert = try c.statement(
                    "INSERT OR IGNORE INTO blocks (mh, codec, size, data, pack, pack_offset) VALUES (?, ?, ?, ?, ?, ?)")
                for (index, block) in toStore.enumerated() {
                    try insert.bind(1, block.cid.multihash.bytes)
                    try insert.bind(2, Int64(bitPattern: block.cid.codec.rawValue))
                    try insert.bind(3, Int64(block.data.count))
                    if let placement, let offset = placement.offsets[index] {
                        defer { insert.reset() }
                        try insert.bind(4, [])
                        try insert.bind(5, placement.pack.id)
                        try insert.bind(6, offset)
                        _ = try insert.step("put \(block.cid)")
                    } else {
                        try block.data.withBytes { (buffer: UnsafeRawBufferPointer) throws(BlockStoreError) in
                            defer { insert.reset() }
                            try insert.bindNoCopy(4, buffer)
                            _ = try insert.step("put \(block.cid)")
                        }
                    }
                    try hook?(index)
                }
            }
        }
        // The pack stays locked (held by `placement`) until its rows are committed.
        withExtendedLifetime(placement) {}
    }

    /// Appends the large blocks of `blocks` to the pack and makes them durable. Returns the pack
    /// and each large block's offset (by index in `blocks`), or nil when all are small.
    private func writeToPack(_ blocks: [Block]) throws(BlockStoreError) -> (pack: PackHandle, offsets: [Int: Int64])? {
        let threshold = options.packThreshold
        let total = blocks.reduce(0) { $0 + ($1.data.count >= threshold ? $1.data.count : 0) }
        guard total > 0 else { return nil }
        let (pack, start) = try appender.reserve(total)
        var offsets: [Int: Int64] = [:]
        var position = start
        for (index, block) in blocks.enumerated() where block.data.count >= threshold {
            try block.data.withBytes { (buffer: UnsafeRawBufferPointer) throws(BlockStoreError) in
                try pack.write(buffer, at: position, "put \(block.cid)")
            }
            offsets[index] = position
            position += Int64(block.data.count)
        }
        try pack.sync()
        return (pack, offsets)
    }

    /// Where a row's bytes are: in the row (`pack` NULL) or in a pack file.
    struct Location {
        var rowid: Int64
        var size: Int
        var pack: Int64?
        var offset: Int64

        static let columns = "id, size, pack, pack_offset"

        /// Reads the four `columns` starting at `column`.
        init(_ s: SQLiteStatement, from column: Int32 = 0) {
            rowid = s.int64(column)
            size = Int(s.int64(column + 1))
            pack = s.isNull(column + 2) ? nil : s.int64(column + 2)
            offset = s.int64(column + 3)
        }

        /// Reads `count` bytes at `offset` within the block: nil when the row or its pack file
        /// is gone (deleted, or just moved by another process's GC).
        func read(
            offset start: Int, count: Int, connection c: SQLiteConnection, packs: PackDirectory,
            _ operation: @autoclosure () -> String
        ) throws(BlockStoreError) -> [UInt8]? {
            guard let pack else {
                return try c.readBlob(rowid: rowid, offset: start, count: count, operation())
            }
            let length = max(0, min(count, size - start))
            return try packs.read(pack: pack, offset: offset + Int64(start), count: length, operation())
        }
    }

    public func get(_ cid: CID) throws(BlockStoreError) -> Block? {
        if cid.isIdentity { return Block(cid: cid, data: cid.multihash.digest) }
        let key = cid.multihash.bytes
        let packs = self.packs
        // A second look when the pack vanished between the lookup and the read: another
        // process's GC moved the block to a new pack.
        for attempt in 0..<2 {
            let found = try withReader { (c: SQLiteConnection) throws(BlockStoreError) -> (exists: Bool, data: [UInt8]?) in
                let s = try c.statement("SELECT \(Location.columns) FROM blocks WHERE mh = ?")
                defer { s.reset() }
                try s.bind(1, key)
                guard try s.step("get \(cid)") else { return (false, nil) }
                // The statement stays active, so an inline blob is read in the same read transaction.
                let location = Location(s)
                let data = try location.read(offset: 0, count: location.size, connection: c, packs: packs, "get \(cid)")
                // An inline blob that is gone means the row was deleted meanwhile.
                return (data != nil || location.pack != nil, data)
            }
            guard found.exists else { return nil }
            if let data = found.data { return Block(cid: cid, data: data) }
            if attempt == 1 {
                throw .corrupt(path: packs.path, operation: "get \(cid)", message: "the block's pack file is missing")
            }
        }
        return nil
    }

    public func has(_ cid: CID) throws(BlockStoreError) -> Bool {
        if cid.isIdentity { return true }
        let key = cid.multihash.bytes
        return try withReader { (c: SQLiteConnection) throws(BlockStoreError) -> Bool in
            let s = try c.statement("SELECT 1 FROM blocks WHERE mh = ?")
            defer { s.reset() }
            try s.bind(1, key)
            return try s.step("has \(cid)")
        }
    }

    public func size(of cid: CID) throws(BlockStoreError) -> Int? {
        if cid.isIdentity { return cid.multihash.digest.count }
        let key = cid.multihash.bytes
        return try withReader { (c: SQLiteConnection) throws(BlockStoreError) -> Int? in
            let s = try c.statement("SELECT size FROM blocks WHERE mh = ?")
            defer { s.reset() }
            try s.bind(1, key)
            guard try s.step("size of \(cid)") else { return nil }
            return Int(s.int64(0))
        }
    }

    public func delete(_ cid: CID) throws(BlockStoreError) {
        if cid.isIdentity { return }
        let key = cid.multihash.bytes
        try writer.withLock { (w: inout WriterState) throws(BlockStoreError) in
            let s = try w.connection.statement("DELETE FROM blocks WHERE mh = ?")
            defer { s.reset() }
            try s.bind(1, key)
            _ = try s.step("delete \(cid)")
        }
    }

    /// Every stored multihash. Keys that are not valid multihashes (damage) are skipped and
    /// logged; `verify()` reports them.
    public func allMultihashes() throws(BlockStoreError) -> [Multihash] {
        try withReader { (c: SQLiteConnection) throws(BlockStoreError) -> [Multihash] in
            let s = try c.statement("SELECT mh FROM blocks")
            defer { s.reset() }
            var result: [Multihash] = []
            while try s.step("list blocks") {
                let key = s.blob(0)
                do {
                    result.append(try Multihash(bytes: key))
                } catch {
                    logger.warning("block store key is not a multihash", metadata: ["key": "\(Hex.encode(key))"])
                }
            }
            return result
        }
    }

    // MARK: Pins

    public func pin(_ cid: CID, recursive: Bool, name: String?) throws(BlockStoreError) {
        try writer.withLock { (w: inout WriterState) throws(BlockStoreError) in
            let c = w.connection
            try c.transaction("pin \(cid)") { () throws(BlockStoreError) in
                try PinLogic.pin(cid, recursive: recursive, name: name, in: SQLiteBackend(connection: c, packs: packs))
            }
        }
    }

    public func unpin(_ cid: CID, recursive: Bool) throws(BlockStoreError) {
        try writer.withLock { (w: inout WriterState) throws(BlockStoreError) in
            let c = w.connection
            try c.transaction("unpin \(cid)") { () throws(BlockStoreError) in
                try PinLogic.unpin(cid, recursive: recursive, in: SQLiteBackend(connection: c, packs: packs))
            }
        }
    }

    public func pins(type: PinType) throws(BlockStoreError) -> [Pin] {
        try writer.withLock { (w: inout WriterState) throws(BlockStoreError) -> [Pin] in
            let c = w.connection
            return try c.transaction(immediate: false, "list pins") { () throws(BlockStoreError) -> [Pin] in
                try PinLogic.pins(type: type, in: SQLiteBackend(connection: c, packs: packs))
            }
        }
    }

    public func removeUnpinned(_ cid: CID) throws(BlockStoreError) {
        if cid.isIdentity { return }
        try writer.withLock { (w: inout WriterState) throws(BlockStoreError) in
            let c = w.connection
            try c.transaction("remove \(cid)") { () throws(BlockStoreError) in
                if let status = try PinLogic.status(cid, in: SQLiteBackend(connection: c, packs: packs)) {
                    throw .blockIsPinned(cid, status)
                }
                let s = try c.statement("DELETE FROM blocks WHERE mh = ?")
                defer { s.reset() }
                try s.bind(1, cid.multihash.bytes)
                _ = try s.step("remove \(cid)")
            }
        }
    }

    public func pinStatus(_ cid: CID) throws(BlockStoreError) -> PinStatus? {
        try writer.withLock { (w: inout WriterState) throws(BlockStoreError) -> PinStatus? in
            let c = w.connection
            return try c.transaction(immediate: false, "pin status of \(cid)") { () throws(BlockStoreError) -> PinStatus? in
                try PinLogic.status(cid, in: SQLiteBackend(connection: c, packs: packs))
            }
        }
    }

    // MARK: GC

    @discardableResult
    public func registerGCRootProvider(_ provider: any GCRootProvider) -> GCRootProviderToken {
        coordinator.register(provider)
    }

    public func unregisterGCRootProvider(_ token: GCRootProviderToken) {
        coordinator.unregister(token)
    }

    public func gcLease() -> GCLease {
        coordinator.lease()
    }

    /// Mark-and-sweep in one transaction: recursive pins (whose DAGs must be complete: GC stops
    /// with `.incompleteDAG` rather than guess), direct pins and provider roots are kept, every
    /// other block is deleted; then free pages are returned to the file system.
    public func collectGarbage(progress: (@Sendable (GCProgress) -> Void)?) throws(BlockStoreError) -> GCResult {
        try coordinator.collect { (roots: [CID]) throws(BlockStoreError) -> GCResult in
            try writer.withLock { (w: inout WriterState) throws(BlockStoreError) -> GCResult in
                let c = w.connection
                let result = try c.transaction("gc") { () throws(BlockStoreError) -> GCResult in
                    progress?(GCProgress(phase: .marking, done: 0, total: nil))
                    let keep = try PinLogic.mark(providerRoots: roots, in: SQLiteBackend(connection: c, packs: packs))
                    return try sweep(c, keeping: keep, progress: progress)
                }
                do {
                    try c.execute("PRAGMA incremental_vacuum", "gc: free pages")
                } catch {
                    logger.warning("block store: could not release free pages", metadata: ["error": "\(error)"])
                }
                // This instance's own pack too, once the writes in flight let go of it.
                appender.seal()
                try compactPacks(c)
                logger.debug(
                    "gc", metadata: ["removed": "\(result.removed.count)", "bytes": "\(result.removedBytes)"])
                return result
            }
        }
    }

    private func sweep(
        _ c: SQLiteConnection, keeping keep: Set<Multihash>, progress: (@Sendable (GCProgress) -> Void)?
    ) throws(BlockStoreError) -> GCResult {
        var total: Int?
        if progress != nil {
            let count = try c.statement("SELECT count(*) FROM blocks")
            defer { count.reset() }
            if try count.step("gc: count") { total = Int(count.int64(0)) }
        }
        let scan = try c.statement("SELECT id, mh, codec, size FROM blocks")
        var doomed: [(id: Int64, cid: CID, size: Int)] = []
        var examined = 0
        do {
            defer { scan.reset() }
            while try scan.step("gc: scan") {
                examined += 1
                if let progress, examined % 4096 == 0 {
                    progress(GCProgress(phase: .sweeping, done: examined, total: total))
                }
                let key = scan.blob(1)
                guard let multihash = try? Multihash(bytes: key) else {
                    logger.warning("gc: skipping a block whose key is not a multihash", metadata: ["key": "\(Hex.encode(key))"])
                    continue
                }
                if keep.contains(multihash) { continue }
                let codec = Multicodec(rawValue: UInt64(bitPattern: scan.int64(2)))
                guard
                    let cid = (try? CID(version: .v1, codec: codec, multihash: multihash))
                        ?? (try? CID(version: .v1, codec: .raw, multihash: multihash))
                else { continue }
                doomed.append((scan.int64(0), cid, Int(scan.int64(3))))
            }
        }
        let remove = try c.statement("DELETE FROM blocks WHERE id = ?")
        var bytes = 0
        for entry in doomed {
            defer { remove.reset() }
            try remove.bind(1, entry.id)
            _ = try remove.step("gc: delete \(entry.cid)")
            bytes += entry.size
        }
        progress?(GCProgress(phase: .sweeping, done: examined, total: total))
        return GCResult(removed: doomed.map(\.cid), removedBytes: bytes)
    }

    /// Removes packs with no live block and rewrites packs that are mostly garbage (deleted
    /// blocks, bytes of transactions that never committed) into a new pack; once 8 or more small
    /// packs (under 1/16 of `packLimit`, left by short-lived writers such as one CLI `add` each)
    /// have gathered, they are merged too. Packs that a store instance may still append to are
    /// locked by it and left alone. Runs under the writer lock.
    private func compactPacks(_ c: SQLiteConnection) throws(BlockStoreError) {
        for stale in packs.staleTemporaryFiles() { unlink(stale) }
        var target: PackHandle?
        var targetEnd: Int64 = 0
        var removed = 0
        var rewritten = 0
        let ids = packs.packIDs()
        let small = options.packLimit / 16
        let mergeSmall = ids.filter { id in
            let size = (try? FileManager.default.attributesOfItem(atPath: packs.file(id))[.size]) as? Int
            return Int64(size ?? Int.max) < small
        }.count >= 8
        for id in ids {
            guard let pack = packs.lockIfUnused(id) else { continue }
            // Counted after taking the lock: nobody can add rows for this pack any more.
            let live = try c.statement("SELECT count(*), coalesce(sum(size), 0) FROM blocks WHERE pack = ?")
            let liveBytes: Int64
            do {
                defer { live.reset() }
                try live.bind(1, id)
                _ = try live.step("gc: pack \(PackDirectory.name(id))")
                liveBytes = live.int64(1)
            }
            let size = try pack.size()
            if liveBytes == 0 {
                unlink(pack.path)
                removed += 1
                continue
            }
            guard liveBytes * 2 <= size || (mergeSmall && size < small) else { continue }
            if target == nil || targetEnd >= options.packLimit {
                target = try packs.create()
                targetEnd = 0
            }
            guard let destination = target else { continue }
            targetEnd = try movePack(pack, to: destination, at: targetEnd, c)
            unlink(pack.path)
            rewritten += 1
        }
        if removed + rewritten > 0 {
            logger.debug("gc: packs compacted", metadata: ["removed": "\(removed)", "rewritten": "\(rewritten)"])
        }
    }

    /// Copies the live blocks of `pack` to `destination` from `start` on, makes them durable,
    /// then points their rows at the copies in one transaction. Returns the new end.
    private func movePack(_ pack: PackHandle, to destination: PackHandle, at start: Int64, _ c: SQLiteConnection) throws(BlockStoreError) -> Int64 {
        let rows = try c.statement("SELECT id, size, pack_offset FROM blocks WHERE pack = ? ORDER BY pack_offset")
        var moves: [(rowid: Int64, offset: Int64)] = []
        var end = start
        do {
            defer { rows.reset() }
            try rows.bind(1, pack.id)
            while try rows.step("gc: read pack \(PackDirectory.name(pack.id))") {
                let size = Int(rows.int64(1))
                let bytes = try pack.read(offset: rows.int64(2), count: size, "gc: read pack")
                try bytes.withBytes { (buffer: UnsafeRawBufferPointer) throws(BlockStoreError) in
                    try destination.write(buffer, at: end, "gc: rewrite pack")
                }
                moves.append((rows.int64(0), end))
                end += Int64(size)
            }
        }
        try destination.sync()
        try c.transaction("gc: move blocks of pack \(PackDirectory.name(pack.id))") { () throws(BlockStoreError) in
            let update = try c.statement("UPDATE blocks SET pack = ?, pack_offset = ? WHERE id = ? AND pack = ?")
            for move in moves {
                defer { update.reset() }
                try update.bind(1, destination.id)
                try update.bind(2, move.offset)
                try update.bind(3, move.rowid)
                try update.bind(4, pack.id)
                _ = try update.step("gc: move block")
            }
        }
        return end
    }

    // MARK: Verify and stat

    /// Re-hashes every block (on all cores), checks every recursive pin's DAG, and runs SQLite's
    /// structural check (`PRAGMA quick_check`). Reads in short transactions, so writers proceed.
    public func verify() throws(BlockStoreError) -> VerifyReport {
        var checked = 0
        var bytes = 0
        var bad: [BadBlock] = []
        var lastID: Int64 = Int64.min
        while true {
            let chunk = try readChunk(after: lastID)
            guard let last = chunk.last else { break }
            lastID = last.id
            checked += chunk.count
            bytes += chunk.reduce(0) { $0 + $1.data.count }
            bad += Self.check(chunk)
        }
        let packs = self.packs
        let incomplete = try writer.withLock { (w: inout WriterState) throws(BlockStoreError) -> [IncompletePin] in
            let c = w.connection
            return try c.transaction(immediate: false, "verify pins") { () throws(BlockStoreError) -> [IncompletePin] in
                try PinLogic.incompletePins(in: SQLiteBackend(connection: c, packs: packs))
            }
        }
        let integrity = try withReader { (c: SQLiteConnection) throws(BlockStoreError) -> [String] in
            let s = try c.statement("PRAGMA quick_check(100)")
            defer { s.reset() }
            var messages: [String] = []
            while try s.step("verify structure") {
                if let message = s.text(0), message != "ok" { messages.append(message) }
            }
            return messages
        }
        return VerifyReport(
            blocksChecked: checked, bytesChecked: bytes, badBlocks: bad, incompletePins: incomplete,
            integrityErrors: integrity)
    }

    private struct StoredRow {
        var id: Int64
        var key: [UInt8]
        var codec: Multicodec
        var size: Int
        var data: [UInt8]
        var location: Location
        /// The pack file was missing when the row was read.
        var packMissing = false
    }

    /// Up to 64 blocks (and at most about 32 MiB) after rowid `after`, read in one transaction.
    private func readChunk(after: Int64) throws(BlockStoreError) -> [StoredRow] {
        let packs = self.packs
        var rows = try withReader { (c: SQLiteConnection) throws(BlockStoreError) -> [StoredRow] in
            try c.transaction(immediate: false, "verify") { () throws(BlockStoreError) -> [StoredRow] in
                let s = try c.statement(
                    "SELECT \(Location.columns), mh, codec FROM blocks WHERE id > ? ORDER BY id LIMIT 64")
                var rows: [StoredRow] = []
                do {
                    defer { s.reset() }
                    try s.bind(1, after)
                    var total = 0
                    while total < 32 << 20, try s.step("verify") {
                        let location = Location(s)
                        total += location.size
                        rows.append(
                            StoredRow(
                                id: location.rowid, key: s.blob(4), codec: Multicodec(rawValue: UInt64(bitPattern: s.int64(5))),
                                size: location.size, data: [], location: location))
                    }
                }
                for index in rows.indices {
                    let location = rows[index].location
                    if location.pack == nil {
                        // Read the whole stored value, whatever the recorded size says.
                        rows[index].data = try c.readBlob(rowid: location.rowid, offset: 0, count: Int.max, "verify") ?? []
                        continue
                    }
                    rows[index].data = try Self.readPacked(location, connection: c, packs: packs) ?? []
                    rows[index].packMissing = rows[index].data.isEmpty && location.size > 0
                }
                return rows
            }
        }
        // A pack file gone since this snapshot may have been compacted by another process's GC
        // meanwhile: look those rows up again (rows deleted meanwhile are not checked).
        for index in rows.indices.reversed() where rows[index].packMissing {
            let fresh = try withReader { (c: SQLiteConnection) throws(BlockStoreError) -> (exists: Bool, data: [UInt8]) in
                let s = try c.statement("SELECT \(Location.columns) FROM blocks WHERE id = ?")
                defer { s.reset() }
                try s.bind(1, rows[index].id)
                guard try s.step("verify") else { return (false, []) }
                return (true, try Self.readPacked(Location(s), connection: c, packs: packs) ?? [])
            }
            if fresh.exists { rows[index].data = fresh.data } else { rows.remove(at: index) }
        }
        return rows
    }

    /// A packed block's bytes for `verify`: nil when the pack file is missing; a pack too short
    /// for the block gives the bytes it has (fewer than recorded, reported as such).
    private static func readPacked(
        _ location: Location, connection c: SQLiteConnection, packs: PackDirectory
    ) throws(BlockStoreError) -> [UInt8]? {
        do throws(BlockStoreError) {
            return try location.read(offset: 0, count: location.size, connection: c, packs: packs, "verify")
        } catch {
            guard case .corrupt = error else { throw error }
            return []
        }
    }

    /// The bad rows of `rows`. Rows whose bytes verify are hashed once, all together
    /// (`Multihash.verifyAll`: on all cores, SHA2-256 in multi-buffer batches); the rest are
    /// examined one by one to say what is wrong.
    private static func check(_ rows: [StoredRow]) -> [BadBlock] {
        let candidates: [(row: Int, multihash: Multihash)] = rows.indices.compactMap { index in
            let row = rows[index]
            guard row.data.count == row.size, let multihash = try? Multihash(bytes: row.key),
                  multihash.function.isSupported
            else { return nil }
            return (index, multihash)
        }
        let verified = Multihash.verifyAll(candidates.map { ($0.multihash, rows[$0.row].data) })
        var good = Set<Int>()
        for (candidate, ok) in zip(candidates, verified) where ok { good.insert(candidate.row) }
        return rows.indices.filter { !good.contains($0) }.compactMap { index in
            let row = rows[index]
            return PinLogic.check(key: row.key, codec: row.codec, recordedSize: row.size, data: row.data)
        }
    }

    public func stat() throws(BlockStoreError) -> StoreStat {
        var stat = try withReader { (c: SQLiteConnection) throws(BlockStoreError) -> StoreStat in
            try c.transaction(immediate: false, "stat") { () throws(BlockStoreError) -> StoreStat in
                let blocks = try c.statement("SELECT count(*), coalesce(sum(size), 0) FROM blocks")
                defer { blocks.reset() }
                _ = try blocks.step("stat")
                let pins = try c.statement("SELECT coalesce(sum(recursive), 0), count(*) FROM pins")
                defer { pins.reset() }
                _ = try pins.step("stat")
                return StoreStat(
                    blockCount: Int(blocks.int64(0)), totalBytes: Int(blocks.int64(1)), fileBytes: 0,
                    recursivePins: Int(pins.int64(0)), directPins: Int(pins.int64(1) - pins.int64(0)))
            }
        }
        let packFiles = packs.packIDs().map(packs.file)
        stat.fileBytes = ([path, path + "-wal", path + "-journal"] + packFiles).reduce(0) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
            return total + (size ?? 0)
        }
        return stat
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` keeping the typed error.
    fileprivate func withBytes<R>(
        _ body: (UnsafeRawBufferPointer) throws(BlockStoreError) -> R
    ) throws(BlockStoreError) -> R {
        let result = withUnsafeBytes { buffer in
            Result { () throws(BlockStoreError) -> R in try body(buffer) }
        }
        return try result.get()
    }
}

/// The writer connection and test hooks, guarded by the writer lock.
struct WriterState {
    let connection: SQLiteConnection
    /// Called after each row `putMany` inserts (tests: crash snapshots, injected failures).
    var afterInsert: ((Int) throws(BlockStoreError) -> Void)?

    init(connection: SQLiteConnection) {
        self.connection = connection
    }
}

/// `PinBackend` over the writer connection, inside a transaction.
struct SQLiteBackend: PinBackend {
    let connection: SQLiteConnection
    let packs: PackDirectory

    func links(of cid: CID) throws(BlockStoreError) -> [CID]? {
        if cid.isIdentity { return try LinkExtraction.inlineLinks(of: cid) }
        let s = try connection.statement("SELECT \(SQLiteBlockStore.Location.columns) FROM blocks WHERE mh = ?")
        let row: SQLiteBlockStore.Location?
        do {
            defer { s.reset() }
            try s.bind(1, cid.multihash.bytes)
            row = try s.step("read links of \(cid)") ? SQLiteBlockStore.Location(s) : nil
        }
        guard let row else { return nil }
        if cid.codec == .raw { return [] }
        let c = connection
        let packs = self.packs
        let read = { (offset: Int, count: Int) throws(BlockStoreError) -> [UInt8] in
            try row.read(offset: offset, count: count, connection: c, packs: packs, "read links of \(cid)") ?? []
        }
        if cid.codec == .dagPB {
            var scan = DagPBLinkScan(size: row.size, read: read)
            return try scan.links(of: cid)
        }
        return try LinkExtraction.links(of: cid, data: read(0, row.size))
    }

    func contains(_ cid: CID) throws(BlockStoreError) -> Bool {
        if cid.isIdentity { return true }
        let s = try connection.statement("SELECT 1 FROM blocks WHERE mh = ?")
        defer { s.reset() }
        try s.bind(1, cid.multihash.bytes)
        return try s.step("has \(cid)")
    }

    func pinRecord(_ cid: CID) throws(BlockStoreError) -> PinRecord? {
        let s = try connection.statement("SELECT recursive, name FROM pins WHERE cid = ?")
        defer { s.reset() }
        try s.bind(1, cid.bytes)
        guard try s.step("read pin \(cid)") else { return nil }
        return PinRecord(recursive: s.int64(0) != 0, name: s.text(1))
    }

    func setPin(_ cid: CID, _ record: PinRecord) throws(BlockStoreError) {
        let s = try connection.statement(
            """
            INSERT INTO pins (cid, recursive, name) VALUES (?, ?, ?)
            ON CONFLICT (cid) DO UPDATE SET recursive = excluded.recursive, name = excluded.name
            """)
        defer { s.reset() }
        try s.bind(1, cid.bytes)
        try s.bind(2, Int64(record.recursive ? 1 : 0))
        try s.bind(3, record.name)
        _ = try s.step("pin \(cid)")
    }

    func removePin(_ cid: CID) throws(BlockStoreError) {
        let s = try connection.statement("DELETE FROM pins WHERE cid = ?")
        defer { s.reset() }
        try s.bind(1, cid.bytes)
        _ = try s.step("unpin \(cid)")
    }

    func pinRecords() throws(BlockStoreError) -> [(cid: CID, record: PinRecord)] {
        let s = try connection.statement("SELECT cid, recursive, name FROM pins ORDER BY cid")
        defer { s.reset() }
        var records: [(cid: CID, record: PinRecord)] = []
        while try s.step("list pins") {
            let key = s.blob(0)
            let cid: CID
            do {
                cid = try CID(bytes: key)
            } catch {
                throw .corrupt(
                    path: connection.path, operation: "list pins", message: "pin key 0x\(Hex.encode(key)) is not a CID: \(error)")
            }
            records.append((cid, PinRecord(recursive: s.int64(1) != 0, name: s.text(2))))
        }
        return records
    }
}
