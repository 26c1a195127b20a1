import BlockStore
import KadDHT
import Multiformats
import P2PCore
import P2PCrypto

/// Why the DHT database could not be opened, read or written. Every case names the file.
public enum DHTStorageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file could not be opened or created (missing or unwritable folder, a folder in its place).
    case cannotOpen(path: String, reason: String)
    /// The file is not a jz-node DHT database (not SQLite, damaged, or another application's).
    case notADHTDatabase(path: String, reason: String)
    /// The database was written by a newer jz-node.
    case unsupportedSchema(path: String, found: Int64, supported: Int64)
    /// SQLite reports the file as damaged during `operation`.
    case corrupt(path: String, operation: String, message: String)
    /// Any other failure during `operation` (disk full, read-only, locked, I/O).
    case failed(path: String, operation: String, reason: String)

    /// What to do about a damaged database: it only holds what the network gives back.
    private static let remedy = "stop the daemon and delete it: it holds provider records (peers re-announce them), reprovider progress and the last record of each name this node published (publish them again)"

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "DHT database \(path): cannot open: \(reason)"
        case let .notADHTDatabase(path, reason):
            return "DHT database \(path): not a jz-node DHT database (\(reason)); \(Self.remedy)"
        case let .unsupportedSchema(path, found, supported):
            return "DHT database \(path): schema version \(found) is newer than this build reads (\(supported)); use a newer jz-node"
        case let .corrupt(path, operation, message):
            return "DHT database \(path): damaged (\(operation)): \(message); \(Self.remedy)"
        case let .failed(path, operation, reason):
            return "DHT database \(path): \(operation) failed: \(reason)"
        }
    }

    /// The same failure, said of the DHT database rather than a block store.
    init(_ error: BlockStoreError, path: String) {
        switch error {
        case let .cannotOpen(path, reason): self = .cannotOpen(path: path, reason: reason)
        case let .notABlockStore(path, reason): self = .notADHTDatabase(path: path, reason: reason)
        case let .corrupt(path, operation, message): self = .corrupt(path: path, operation: operation, message: message)
        case let .unsupportedSchema(path, found, supported):
            self = .unsupportedSchema(path: path, found: Int64(found), supported: Int64(supported))
        case let .diskFull(path, operation):
            self = .failed(path: path, operation: operation, reason: "disk full; the transaction was rolled back")
        case let .busy(path, operation):
            self = .failed(path: path, operation: operation, reason: "locked by another process")
        case let .readOnly(path, operation):
            self = .failed(path: path, operation: operation, reason: "the file or its folder is read-only")
        case let .io(path, operation, code, message):
            self = .failed(path: path, operation: operation, reason: "I/O error \(code): \(message)")
        case let .sqlite(path, operation, code, message):
            self = .failed(path: path, operation: operation, reason: "SQLite error \(code): \(message)")
        default:
            self = .failed(path: path, operation: "access", reason: "\(error)")
        }
    }
}

/// The DHT's database, `<home>/dht.sqlite`: provider records (a `ProviderBackend`, so a restarted
/// daemon keeps serving what peers announced), the reprovider's persisted progress, and the IPNS
/// names this node publishes (`PublishedNameStore.swift`).
///
/// WAL mode. Records are indexed by (key, provider) for lookups and replacement, by receive time
/// for the sweep, and by provider for the per-provider bound; the total is kept by triggers in a
/// counter row, so `count()` does not scan. All calls block: make them off the cooperative pool
/// (`BlockingExecutor.run`). One connection, serialised by a mutex.
public final class SQLiteProviderBackend: ProviderBackend {
    /// `PRAGMA application_id` of a jz-node DHT database ("JZDH").
    public static let applicationID: Int32 = 0x4A5A_4448
    /// The schema version this build writes and reads (`PRAGMA user_version`).
    public static let schemaVersion: Int32 = 1

    /// The database file.
    public let path: String
    private let connection: Locked<SQLiteConnection>

    /// Opens (or creates) the DHT database of `home`.
    public convenience init(home: NodeHome) throws(DHTStorageError) {
        try self.init(path: home.dhtDatabasePath)
    }

    /// Opens (or creates) the DHT database at `path`.
    /// - Throws: `.cannotOpen`, `.notADHTDatabase` (not SQLite, damaged, or another
    ///   application's database), `.unsupportedSchema`, `.failed`.
    public init(path: String, busyTimeoutMilliseconds: Int32 = 5_000) throws(DHTStorageError) {
        self.path = path
        do throws(BlockStoreError) {
            let c = try SQLiteConnection(path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            try Self.prepareSchema(c)
            // Added after schema 1 (older databases get it here; older builds ignore it).
            try c.execute(Self.publishedNamesSQL, "create the published-names table")
            // WAL: readers do not block the writer; NORMAL: no fsync per record (a lost tail of
            // records after a power cut is re-announced by their providers).
            _ = try c.text("PRAGMA journal_mode = WAL")
            try c.execute("PRAGMA synchronous = NORMAL; PRAGMA secure_delete = OFF", "configure")
            connection = Locked(c)
        } catch {
            throw DHTStorageError(error, path: path)
        }
    }

    // MARK: ProviderBackend

    public func put(key: [UInt8], record: ProviderRecord) throws(DHTStorageError) {
        let addresses = ProviderAddressCoding.encode(record.addresses)
        try run { c throws(BlockStoreError) in
            let s = try c.statement(
                """
                INSERT INTO providers(key, provider, addresses, received) VALUES (?1, ?2, ?3, ?4)
                ON CONFLICT(key, provider) DO UPDATE SET addresses = excluded.addresses, received = excluded.received
                """)
            defer { s.reset() }
            try s.bind(1, key)
            try s.bind(2, record.provider.bytes)
            try s.bind(3, addresses)
            try s.bind(4, record.received)
            _ = try s.step("put provider record")
        }
    }

    /// Rows whose provider or addresses do not decode (damaged outside SQLite) are skipped; they
    /// expire like any other.
    public func get(key: [UInt8], now: Double, validity: Double, limit: Int) throws(DHTStorageError) -> [ProviderRecord] {
        guard limit > 0 else { return [] }
        return try run { c throws(BlockStoreError) in
            let s = try c.statement(
                """
                SELECT provider, addresses, received FROM providers
                WHERE key = ?1 AND received >= ?2 ORDER BY received DESC LIMIT ?3
                """)
            defer { s.reset() }
            try s.bind(1, key)
            try s.bind(2, now - validity)
            try s.bind(3, Int64(limit))
            var records: [ProviderRecord] = []
            while try s.step("get provider records") {
                guard let peer = try? PeerID(bytes: s.blob(0)),
                    let addresses = ProviderAddressCoding.decode(s.blob(1))
                else { continue }
                records.append(ProviderRecord(provider: peer, addresses: addresses, received: s.double(2)))
            }
            return records
        }
    }

    public func removeExpired(before: Double) throws(DHTStorageError) -> Int {
        try run { c throws(BlockStoreError) in
            let s = try c.statement("DELETE FROM providers WHERE received < ?1")
            defer { s.reset() }
            try s.bind(1, before)
            _ = try s.step("remove expired provider records")
            return c.changes
        }
    }

    public func count() throws(DHTStorageError) -> Int {
        try run { c throws(BlockStoreError) in
            Int(try c.integer("SELECT value FROM counters WHERE name = 'providers'"))
        }
    }

    public func countByProvider(_ peer: PeerID) throws(DHTStorageError) -> Int {
        try run { c throws(BlockStoreError) in
            let s = try c.statement("SELECT count(*) FROM providers WHERE provider = ?1")
            defer { s.reset() }
            try s.bind(1, peer.bytes)
            guard try s.step("count provider records") else { return 0 }
            return Int(s.int64(0))
        }
    }

    // MARK: Reprovider state

    /// The reprovider's progress as last saved, or nil if never saved.
    public func loadReprovideState() throws(DHTStorageError) -> [UInt8]? {
        try run { c throws(BlockStoreError) in
            let s = try c.statement("SELECT value FROM state WHERE name = 'reprovide'")
            defer { s.reset() }
            guard try s.step("load reprovide state") else { return nil }
            return s.blob(0)
        }
    }

    /// Replaces the reprovider's saved progress with `bytes`.
    public func saveReprovideState(_ bytes: [UInt8]) throws(DHTStorageError) {
        try run { c throws(BlockStoreError) in
            let s = try c.statement(
                """
                INSERT INTO state(name, value) VALUES ('reprovide', ?1)
                ON CONFLICT(name) DO UPDATE SET value = excluded.value
                """)
            defer { s.reset() }
            try s.bind(1, bytes)
            _ = try s.step("save reprovide state")
        }
    }

    // MARK: Internals

    /// Runs `body` on the connection, with the lock held.
    func run<T: Sendable>(
        _ body: (SQLiteConnection) throws(BlockStoreError) -> T
    ) throws(DHTStorageError) -> T {
        do {
            return try connection.withLock { (c: inout SQLiteConnection) throws(BlockStoreError) -> T in try body(c) }
        } catch {
            throw DHTStorageError(error, path: path)
        }
    }

    private static func prepareSchema(_ c: SQLiteConnection) throws(BlockStoreError) {
        // Read the header once outside the transaction: `BEGIN` on a file that is not SQLite fails
        // with a bare "damaged", where `header()` says "not a database".
        _ = try c.header()
        try c.transaction("create schema") { () throws(BlockStoreError) in
            // Another process may have created it meanwhile: read again under the write lock.
            let (applicationID, version, tables) = try c.header()
            if applicationID == 0 && version == 0 && tables == 0 {
                try c.execute(schemaSQL, "create schema")
                return
            }
            guard applicationID == Int64(Self.applicationID) else {
                let found = String(UInt32(truncatingIfNeeded: applicationID), radix: 16)
                throw .notABlockStore(
                    path: c.path,
                    reason: "SQLite application_id is 0x\(found), expected 0x\(String(Self.applicationID, radix: 16))")
            }
            guard version <= Int64(Self.schemaVersion) else {
                throw .unsupportedSchema(
                    path: c.path, found: Int32(truncatingIfNeeded: version), supported: Self.schemaVersion)
            }
        }
    }

    private static let schemaSQL = """
        CREATE TABLE providers (
            id INTEGER PRIMARY KEY,
            key BLOB NOT NULL,
            provider BLOB NOT NULL,
            addresses BLOB NOT NULL,
            received REAL NOT NULL
        );
        CREATE UNIQUE INDEX providers_by_key ON providers(key, provider);
        CREATE INDEX providers_by_received ON providers(received);
        CREATE INDEX providers_by_provider ON providers(provider);
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO counters(name, value) VALUES ('providers', 0);
        CREATE TRIGGER providers_inserted AFTER INSERT ON providers BEGIN
            UPDATE counters SET value = value + 1 WHERE name = 'providers';
        END;
        CREATE TRIGGER providers_deleted AFTER DELETE ON providers BEGIN
            UPDATE counters SET value = value - 1 WHERE name = 'providers';
        END;
        CREATE TABLE state (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
        PRAGMA application_id = \(applicationID);
        PRAGMA user_version = \(schemaVersion);
        """
}
