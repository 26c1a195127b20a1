import CSQLite

/// One SQLite connection and its cache of prepared statements.
///
/// Not thread-safe: the owner serialises every use (the block store's writer lock or a reader
/// checked out of its pool; the DHT database's mutex). Opened in multi-thread mode
/// (`SQLITE_OPEN_NOMUTEX`) for that reason. `package` so that JZNode's DHT storage shares this
/// one wrapper rather than writing another; errors are `BlockStoreError`s naming the file.
package final class SQLiteConnection {
    let handle: OpaquePointer
    package let path: String
    private var statements: [String: SQLiteStatement] = [:]

    package init(path: String, busyTimeoutMilliseconds: Int32) throws(BlockStoreError) {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard let db else {
            throw .cannotOpen(path: path, reason: "out of memory")
        }
        guard rc == SQLITE_OK else {
            let message = String(cString: sqlite3_errmsg(db))
            sqlite3_close_v2(db)
            throw .cannotOpen(path: path, reason: message)
        }
        handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    package func setBusyTimeout(milliseconds: Int32) {
        sqlite3_busy_timeout(handle, milliseconds)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement.handle) }
        sqlite3_close_v2(handle)
    }

    /// Maps an SQLite result code to a store error naming the operation.
    package func error(_ rc: Int32, _ operation: String) -> BlockStoreError {
        let message = String(cString: sqlite3_errmsg(handle))
        switch rc & 0xff {
        case SQLITE_FULL: return .diskFull(path: path, operation: operation)
        case SQLITE_CORRUPT, SQLITE_NOTADB: return .corrupt(path: path, operation: operation, message: message)
        case SQLITE_BUSY, SQLITE_LOCKED: return .busy(path: path, operation: operation)
        case SQLITE_READONLY: return .readOnly(path: path, operation: operation)
        case SQLITE_IOERR: return .io(path: path, operation: operation, code: rc, message: message)
        case SQLITE_CANTOPEN: return .cannotOpen(path: path, reason: message)
        default: return .sqlite(path: path, operation: operation, code: rc, message: message)
        }
    }

    /// Runs one or more SQL statements that return no rows.
    /// Operation names are autoclosures: they usually interpolate a CID (a base58/base32 encode),
    /// which is only worth doing when an error actually names it.
    package func execute(_ sql: String, _ operation: @autoclosure () -> String) throws(BlockStoreError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, operation()) }
    }

    /// A cached prepared statement for `sql` (prepared on first use).
    package func statement(_ sql: String) throws(BlockStoreError) -> SQLiteStatement {
        if let cached = statements[sql] { return cached }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, "prepare \(sql)") }
        let statement = SQLiteStatement(handle: stmt, connection: self)
        statements[sql] = statement
        return statement
    }

    /// Reads one integer from a `PRAGMA` or single-value query.
    package func integer(_ sql: String) throws(BlockStoreError) -> Int64 {
        let s = try statement(sql)
        defer { s.reset() }
        guard try s.step(sql) else { return 0 }
        return s.int64(0)
    }

    /// Reads one text value from a `PRAGMA` or single-value query.
    package func text(_ sql: String) throws(BlockStoreError) -> String? {
        let s = try statement(sql)
        defer { s.reset() }
        guard try s.step(sql) else { return nil }
        return s.text(0)
    }

    /// The file's `PRAGMA application_id`, `PRAGMA user_version` and number of schema objects
    /// (all 0 for a new, empty file). A file that is not SQLite (or whose header is damaged)
    /// throws `.notABlockStore` with SQLite's message; callers that open other kinds of database
    /// map it to their own error.
    package func header() throws(BlockStoreError) -> (applicationID: Int64, version: Int64, objects: Int64) {
        do throws(BlockStoreError) {
            return (
                try integer("PRAGMA application_id"), try integer("PRAGMA user_version"),
                try integer("SELECT count(*) FROM sqlite_schema")
            )
        } catch {
            if case let .corrupt(path, _, message) = error { throw .notABlockStore(path: path, reason: message) }
            throw error
        }
    }

    /// Rows inserted, updated or deleted by the last statement (not counting trigger writes).
    package var changes: Int { Int(sqlite3_changes64(handle)) }

    package var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` in a transaction: `BEGIN IMMEDIATE` (write lock taken up front) or `BEGIN`
    /// (deferred, for consistent reads). Commits on success, rolls back on any error.
    package func transaction<R>(
        immediate: Bool = true, _ operation: @autoclosure () -> String, _ body: () throws(BlockStoreError) -> R
    ) throws(BlockStoreError) -> R {
        try execute(immediate ? "BEGIN IMMEDIATE" : "BEGIN", operation())
        do {
            let result = try body()
            try execute("COMMIT", operation())
            return result
        } catch {
            // SQLite may already have rolled back (SQLITE_FULL, IOERR, ...).
            if inTransaction { sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    /// Reads `count` bytes at `offset` of `blocks.data` in row `rowid` straight into a new array.
    /// Returns nil when the row no longer exists.
    func readBlob(
        rowid: Int64, offset: Int, count: Int, _ operation: @autoclosure () -> String
    ) throws(BlockStoreError) -> [UInt8]? {
        var blob: OpaquePointer?
        let rc = sqlite3_blob_open(handle, "main", "blocks", "data", rowid, 0, &blob)
        guard rc == SQLITE_OK, let blob else {
            if let blob { sqlite3_blob_close(blob) }
            if rc == SQLITE_ERROR { return nil }  // "no such rowid"
            throw error(rc, operation())
        }
        defer { sqlite3_blob_close(blob) }
        let total = Int(sqlite3_blob_bytes(blob))
        let length = max(0, min(count, total - offset))
        guard length > 0 else { return [] }
        var readRC = SQLITE_OK
        let bytes = [UInt8](unsafeUninitializedCapacity: length) { buffer, initialized in
            readRC = sqlite3_blob_read(blob, buffer.baseAddress, Int32(length), Int32(offset))
            initialized = readRC == SQLITE_OK ? length : 0
        }
        guard readRC == SQLITE_OK else { throw error(readRC, operation()) }
        return bytes
    }
}

/// A prepared statement owned by a `SQLiteConnection`. Callers `reset()` after use (which also
/// clears bindings, so no borrowed pointer outlives its scope).
package final class SQLiteStatement {
    let handle: OpaquePointer
    unowned let connection: SQLiteConnection

    init(handle: OpaquePointer, connection: SQLiteConnection) {
        self.handle = handle
        self.connection = connection
    }

    /// Binds a copy of `bytes` (for small values such as keys).
    package func bind(_ index: Int32, _ bytes: [UInt8]) throws(BlockStoreError) {
        let rc: Int32
        if bytes.isEmpty {
            rc = sqlite3_bind_zeroblob(handle, index, 0)
        } else {
            rc = bytes.withUnsafeBytes { buffer in
                sqlite3_bind_blob(handle, index, buffer.baseAddress, Int32(buffer.count), sqliteTransient)
            }
        }
        guard rc == SQLITE_OK else { throw connection.error(rc, "bind") }
    }

    /// Binds `buffer` without copying. The caller must step and `reset()` before the buffer dies.
    package func bindNoCopy(_ index: Int32, _ buffer: UnsafeRawBufferPointer) throws(BlockStoreError) {
        let rc: Int32
        if let base = buffer.baseAddress, buffer.count > 0 {
            rc = sqlite3_bind_blob64(handle, index, base, sqlite3_uint64(buffer.count), nil)
        } else {
            rc = sqlite3_bind_zeroblob(handle, index, 0)
        }
        guard rc == SQLITE_OK else { throw connection.error(rc, "bind") }
    }

    package func bind(_ index: Int32, _ value: Int64) throws(BlockStoreError) {
        let rc = sqlite3_bind_int64(handle, index, value)
        guard rc == SQLITE_OK else { throw connection.error(rc, "bind") }
    }

    package func bind(_ index: Int32, _ value: Double) throws(BlockStoreError) {
        let rc = sqlite3_bind_double(handle, index, value)
        guard rc == SQLITE_OK else { throw connection.error(rc, "bind") }
    }

    package func bind(_ index: Int32, _ value: String?) throws(BlockStoreError) {
        let rc: Int32
        if let value {
            rc = sqlite3_bind_text(handle, index, value, -1, sqliteTransient)
        } else {
            rc = sqlite3_bind_null(handle, index)
        }
        guard rc == SQLITE_OK else { throw connection.error(rc, "bind") }
    }

    /// Steps once: true for a row, false when done.
    package func step(_ operation: @autoclosure () -> String) throws(BlockStoreError) -> Bool {
        let rc = sqlite3_step(handle)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc, operation())
        }
    }

    package func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    package func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    package func double(_ column: Int32) -> Double { sqlite3_column_double(handle, column) }

    package func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    package func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(handle, column))
        guard count > 0, let base = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }

    package func text(_ column: Int32) -> String? {
        guard let cString = sqlite3_column_text(handle, column) else { return nil }
        return String(cString: cString)
    }
}

/// `SQLITE_TRANSIENT`: SQLite copies the bound value.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
