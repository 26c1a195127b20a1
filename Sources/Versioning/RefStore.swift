import BlockStore
import CSQLite
import Foundation
import Multiformats

/// A repository's row in the ref database.
public struct RepositoryRecord: Hashable, Sendable {
    public var name: String
    public var defaultBranch: String
    /// Creation time, seconds since the epoch.
    public var created: Int64
    /// The latest heads document written for it, if any.
    public var stateCID: CID?
    /// That document's sequence number (0 before the first).
    public var stateSequence: UInt64
}

/// A branch or tag and the commit it names (nil: a branch with no commit yet).
public struct RefEntry: Hashable, Sendable {
    public var name: String
    public var target: CID?
}

/// One ref change.
public struct ReflogEntry: Hashable, Sendable {
    public var id: Int64
    public var repository: String
    /// `refs/heads/NAME` or `refs/tags/NAME`.
    public var ref: String
    public var old: CID?
    public var new: CID?
    /// Seconds since the epoch.
    public var time: Int64
    public var message: String
}

/// Repositories, branches, tags and the reflog, in their own SQLite file (WAL, synchronous FULL).
///
/// Each change is one transaction, so a crash (kill -9, power loss) leaves every ref at its old
/// or its new value. Branch moves are compare-and-swap (`updateBranch`). Registered with a
/// `PinStore` as a `GCRootProvider`, it keeps every commit a ref or a heads document names
/// (and, through the store's mark phase, everything reachable from them).
///
/// Thread-safe: one connection behind a lock; other processes are serialised by SQLite.
public final class RefStore: GCRootProvider, @unchecked Sendable {
    /// `PRAGMA application_id` of a jz-node ref database ("JZRF").
    public static let applicationID: Int32 = 0x4A5A_5246
    /// The schema version this build writes.
    public static let schemaVersion: Int32 = 1

    public let path: String
    private let db: RefDatabase
    private let lock = NSLock()
    private let clock: @Sendable () -> Int64

    /// Opens or creates the ref database at `path`.
    /// - Parameter clock: seconds since the epoch for reflog entries (injectable for tests).
    public init(
        path: String, clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
    ) throws(VersioningError) {
        self.path = path
        self.clock = clock
        db = try RefDatabase(path: path)
        try db.execute("PRAGMA journal_mode = WAL", "set journal mode")
        try db.execute("PRAGMA synchronous = FULL", "set synchronous")
        try db.execute("PRAGMA foreign_keys = ON", "enable foreign keys")
        let app = try db.integer("PRAGMA application_id")
        let version = try db.integer("PRAGMA user_version")
        if app == 0 && version == 0 {
            try db.transaction("create schema") { () throws(VersioningError) in
                try db.execute(
                    """
                    CREATE TABLE IF NOT EXISTS repos(
                        name TEXT PRIMARY KEY, default_branch TEXT NOT NULL, created INTEGER NOT NULL,
                        state_cid BLOB, state_sequence INTEGER NOT NULL DEFAULT 0);
                    CREATE TABLE IF NOT EXISTS branches(
                        repo TEXT NOT NULL REFERENCES repos(name) ON DELETE CASCADE, name TEXT NOT NULL,
                        target BLOB, PRIMARY KEY(repo, name));
                    CREATE TABLE IF NOT EXISTS tags(
                        repo TEXT NOT NULL REFERENCES repos(name) ON DELETE CASCADE, name TEXT NOT NULL,
                        target BLOB NOT NULL, PRIMARY KEY(repo, name));
                    CREATE TABLE IF NOT EXISTS reflog(
                        id INTEGER PRIMARY KEY AUTOINCREMENT, repo TEXT NOT NULL, ref TEXT NOT NULL,
                        old BLOB, new BLOB, time INTEGER NOT NULL, message TEXT NOT NULL);
                    CREATE INDEX IF NOT EXISTS reflog_repo ON reflog(repo, ref, id);
                    PRAGMA application_id = \(Self.applicationID);
                    PRAGMA user_version = \(Self.schemaVersion);
                    """, "create schema")
            }
        } else if app != Int64(Self.applicationID) {
            throw .refStore(path: path, operation: "open", code: 0, message: "not a jz-node ref database (application_id \(app))")
        } else if version > Int64(Self.schemaVersion) {
            throw .refStore(path: path, operation: "open", code: 0, message: "schema \(version) is newer than this build's \(Self.schemaVersion); upgrade jz-node")
        }
    }

    private func locked<R>(_ body: () throws(VersioningError) -> R) throws(VersioningError) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    // MARK: - Repositories

    /// Creates a repository whose default branch exists with no commit.
    public func createRepository(_ name: String, defaultBranch: String) throws(VersioningError) {
        try RefSyntax.validateRepositoryName(name)
        try RefSyntax.validateRefName(defaultBranch, kind: "branch")
        let now = clock()
        try locked { () throws(VersioningError) in
            try db.transaction("create repository \(name)") { () throws(VersioningError) in
                guard try repositoryRow(name) == nil else { throw .repositoryExists(repo: name) }
                try db.run(
                    "INSERT INTO repos(name, default_branch, created) VALUES(?, ?, ?)", [.text(name), .text(defaultBranch), .int(now)],
                    "create repository \(name)")
                try db.run(
                    "INSERT INTO branches(repo, name, target) VALUES(?, ?, NULL)", [.text(name), .text(defaultBranch)],
                    "create branch \(defaultBranch)")
                try log(name, "refs/heads/\(defaultBranch)", nil, nil, now, "repository created")
            }
        }
    }

    /// Every repository, by name.
    public func repositories() throws(VersioningError) -> [RepositoryRecord] {
        try locked { () throws(VersioningError) in
            try db.query(
                "SELECT name, default_branch, created, state_cid, state_sequence FROM repos ORDER BY name", [], "list repositories"
            ) { row throws(VersioningError) in try record(row) }
        }
    }

    /// The repository named `name`.
    /// - Throws: `.repositoryNotFound`.
    public func repository(_ name: String) throws(VersioningError) -> RepositoryRecord {
        try locked { () throws(VersioningError) in try requireRepository(name) }
    }

    /// Deletes a repository with its branches and tags (the reflog records each ref's removal).
    public func deleteRepository(_ name: String) throws(VersioningError) {
        let now = clock()
        try locked { () throws(VersioningError) in
            try db.transaction("delete repository \(name)") { () throws(VersioningError) in
                _ = try requireRepository(name)
                for ref in try refs("branches", name) {
                    try log(name, "refs/heads/\(ref.name)", ref.target, nil, now, "repository deleted")
                }
                for ref in try refs("tags", name) {
                    try log(name, "refs/tags/\(ref.name)", ref.target, nil, now, "repository deleted")
                }
                try db.run("DELETE FROM repos WHERE name = ?", [.text(name)], "delete repository \(name)")
            }
        }
    }

    // MARK: - Branches

    /// The repository's branches, by name.
    public func branches(_ repo: String) throws(VersioningError) -> [RefEntry] {
        try locked { () throws(VersioningError) in
            _ = try requireRepository(repo)
            return try refs("branches", repo)
        }
    }

    /// The branch, or nil when the repository has no such branch.
    public func branch(_ repo: String, _ name: String) throws(VersioningError) -> RefEntry? {
        try locked { () throws(VersioningError) in
            _ = try requireRepository(repo)
            return try ref("branches", repo, name)
        }
    }

    /// Creates a branch at `target` (nil: no commit yet).
    public func createBranch(_ repo: String, _ name: String, target: CID?, message: String) throws(VersioningError) {
        try RefSyntax.validateRefName(name, kind: "branch")
        let now = clock()
        try locked { () throws(VersioningError) in
            try db.transaction("create branch \(name)") { () throws(VersioningError) in
                _ = try requireRepository(repo)
                guard try ref("branches", repo, name) == nil else { throw .branchExists(repo: repo, branch: name) }
                try db.run(
                    "INSERT INTO branches(repo, name, target) VALUES(?, ?, ?)", [.text(repo), .text(name), .cid(target)],
                    "create branch \(name)")
                try log(repo, "refs/heads/\(name)", nil, target, now, message)
            }
        }
    }

    /// Moves a branch from `expected` to `new` atomically (compare-and-swap).
    /// - Throws: `.refConflict` when the branch is not at `expected`; `.branchNotFound`.
    public func updateBranch(_ repo: String, _ name: String, expected: CID?, new: CID, message: String) throws(VersioningError) {
        let now = clock()
        try locked { () throws(VersioningError) in
            try db.transaction("update branch \(name)") { () throws(VersioningError) in
                _ = try requireRepository(repo)
                guard let current = try ref("branches", repo, name) else { throw .branchNotFound(repo: repo, branch: name) }
                guard current.target == expected else {
                    throw .refConflict(repo: repo, ref: name, expected: expected, actual: current.target)
                }
                try db.run(
                    "UPDATE branches SET target = ? WHERE repo = ? AND name = ?", [.cid(new), .text(repo), .text(name)],
                    "update branch \(name)")
                try log(repo, "refs/heads/\(name)", expected, new, now, message)
            }
        }
    }

    /// Deletes a branch (not the default branch).
    public func deleteBranch(_ repo: String, _ name: String) throws(VersioningError) {
        let now = clock()
        try locked { () throws(VersioningError) in
            try db.transaction("delete branch \(name)") { () throws(VersioningError) in
                let record = try requireRepository(repo)
                guard record.defaultBranch != name else { throw .cannotDeleteDefaultBranch(repo: repo, branch: name) }
                guard let current = try ref("branches", repo, name) else { throw .branchNotFound(repo: repo, branch: name) }
                try db.run("DELETE FROM branches WHERE repo = ? AND name = ?", [.text(repo), .text(name)], "delete branch \(name)")
                try log(repo, "refs/heads/\(name)", current.target, nil, now, "branch deleted")
            }
        }
    }

    // MARK: - Tags

    /// The repository's tags, by name.
    public func tags(_ repo: String) throws(VersioningError) -> [RefEntry] {
        try locked { () throws(VersioningError) in
            _ = try requireRepository(repo)
            return try refs("tags", repo)
        }
    }

    /// The tag's commit, or nil when there is no such tag.
    public func tag(_ repo: String, _ name: String) throws(VersioningError) -> CID? {
        try locked { () throws(VersioningError) in
            _ = try requireRepository(repo)
            return try ref("tags", repo, name)?.target
        }
    }

    /// Creates a tag; tags never move (delete and re-create to change one).
    public func createTag(_ repo: String, _ name: String, target: CID, message: String) throws(VersioningError) {
        try RefSyntax.validateRefName(name, kind: "tag")
        let now = clock()
        try locked { () throws(VersioningError) in
            try db.transaction("create tag \(name)") { () throws(VersioningError) in
                _ = try requireRepository(repo)
                guard try ref("tags", repo, name) == nil else { throw .tagExists(repo: repo, tag: name) }
                try db.run(
                    "INSERT INTO tags(repo, name, target) VALUES(?, ?, ?)", [.text(repo), .text(name), .cid(target)],
                    "create tag \(name)")
                try log(repo, "refs/tags/\(name)", nil, target, now, message)
            }
        }
    }

    /// Deletes a tag.
    public func deleteTag(_ repo: String, _ name: String) throws(VersioningError) {
        let now = clock()
        try locked { () throws(VersioningError) in
            try db.transaction("delete tag \(name)") { () throws(VersioningError) in
                _ = try requireRepository(repo)
                guard let current = try ref("tags", repo, name) else { throw .tagNotFound(repo: repo, tag: name) }
                try db.run("DELETE FROM tags WHERE repo = ? AND name = ?", [.text(repo), .text(name)], "delete tag \(name)")
                try log(repo, "refs/tags/\(name)", current.target, nil, now, "tag deleted")
            }
        }
    }

    // MARK: - State documents and reflog

    /// Records `cid` as the repository's latest heads document if the current one is still
    /// `expectedPrevious` (compare-and-swap).
    public func recordState(_ repo: String, cid: CID, sequence: UInt64, expectedPrevious: CID?) throws(VersioningError) {
        try locked { () throws(VersioningError) in
            try db.transaction("record state of \(repo)") { () throws(VersioningError) in
                let record = try requireRepository(repo)
                guard record.stateCID == expectedPrevious else {
                    throw .refConflict(repo: repo, ref: "state", expected: expectedPrevious, actual: record.stateCID)
                }
                guard let seq = Int64(exactly: sequence) else {
                    throw .invalidState(cid: cid, field: "sequence", reason: "\(sequence) exceeds the database's range")
                }
                try db.run(
                    "UPDATE repos SET state_cid = ?, state_sequence = ? WHERE name = ?", [.cid(cid), .int(seq), .text(repo)],
                    "record state of \(repo)")
            }
        }
    }

    /// Ref changes, newest first; `ref` filters on `refs/heads/NAME` / `refs/tags/NAME`.
    public func reflog(_ repo: String, ref: String? = nil, limit: Int? = nil) throws(VersioningError) -> [ReflogEntry] {
        try locked { () throws(VersioningError) in
            var sql = "SELECT id, repo, ref, old, new, time, message FROM reflog WHERE repo = ?"
            var args: [SQLValue] = [.text(repo)]
            if let ref {
                sql += " AND ref = ?"
                args.append(.text(ref))
            }
            sql += " ORDER BY id DESC"
            if let limit { sql += " LIMIT \(max(0, limit))" }
            return try db.query(sql, args, "read reflog") { row throws(VersioningError) in
                ReflogEntry(
                    id: row.int(0), repository: row.text(1), ref: row.text(2), old: try row.cid(3), new: try row.cid(4),
                    time: row.int(5), message: row.text(6))
            }
        }
    }

    /// Every commit a branch or tag names and every repository's latest heads document.
    public func gcRoots() throws -> [CID] {
        try locked { () throws(VersioningError) in
            var roots = Set<CID>()
            for sql in [
                "SELECT target FROM branches WHERE target IS NOT NULL", "SELECT target FROM tags",
                "SELECT state_cid FROM repos WHERE state_cid IS NOT NULL",
            ] {
                for cid in try db.query(sql, [], "list GC roots", { row throws(VersioningError) in try row.cid(0) }) {
                    if let cid { roots.insert(cid) }
                }
            }
            return roots.sorted()
        }
    }

    // MARK: - Helpers (lock held)

    private func record(_ row: RefDatabase.Row) throws(VersioningError) -> RepositoryRecord {
        let seq = row.int(4)
        return RepositoryRecord(
            name: row.text(0), defaultBranch: row.text(1), created: row.int(2), stateCID: try row.cid(3),
            stateSequence: UInt64(clamping: seq))
    }

    private func repositoryRow(_ name: String) throws(VersioningError) -> RepositoryRecord? {
        try db.query(
            "SELECT name, default_branch, created, state_cid, state_sequence FROM repos WHERE name = ?", [.text(name)],
            "read repository \(name)"
        ) { row throws(VersioningError) in try record(row) }.first
    }

    private func requireRepository(_ name: String) throws(VersioningError) -> RepositoryRecord {
        guard let record = try repositoryRow(name) else { throw .repositoryNotFound(repo: name) }
        return record
    }

    private func refs(_ table: String, _ repo: String) throws(VersioningError) -> [RefEntry] {
        try db.query("SELECT name, target FROM \(table) WHERE repo = ? ORDER BY name", [.text(repo)], "list \(table)") {
            row throws(VersioningError) in RefEntry(name: row.text(0), target: try row.cid(1))
        }
    }

    private func ref(_ table: String, _ repo: String, _ name: String) throws(VersioningError) -> RefEntry? {
        try db.query(
            "SELECT name, target FROM \(table) WHERE repo = ? AND name = ?", [.text(repo), .text(name)], "read \(table)"
        ) { row throws(VersioningError) in RefEntry(name: row.text(0), target: try row.cid(1)) }.first
    }

    private func log(_ repo: String, _ ref: String, _ old: CID?, _ new: CID?, _ time: Int64, _ message: String) throws(VersioningError) {
        try db.run(
            "INSERT INTO reflog(repo, ref, old, new, time, message) VALUES(?, ?, ?, ?, ?, ?)",
            [.text(repo), .text(ref), .cid(old), .cid(new), .int(time), .text(message)], "append reflog")
    }
}

/// A value bound to an SQL parameter.
enum SQLValue {
    case text(String)
    case int(Int64)
    case blob([UInt8])
    case null

    static func cid(_ cid: CID?) -> SQLValue { cid.map { .blob($0.bytes) } ?? .null }
}

private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A minimal SQLite connection for the ref database. Not thread-safe: `RefStore` locks.
final class RefDatabase {
    let handle: OpaquePointer
    let path: String

    init(path: String) throws(VersioningError) {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard let db else { throw .refStore(path: path, operation: "open", code: rc, message: "out of memory") }
        guard rc == SQLITE_OK else {
            let message = String(cString: sqlite3_errmsg(db))
            sqlite3_close_v2(db)
            throw .refStore(path: path, operation: "open", code: rc, message: message)
        }
        handle = db
        self.path = path
        sqlite3_busy_timeout(db, 10_000)
    }

    deinit { sqlite3_close_v2(handle) }

    func error(_ rc: Int32, _ operation: String) -> VersioningError {
        .refStore(path: path, operation: operation, code: rc, message: String(cString: sqlite3_errmsg(handle)))
    }

    func execute(_ sql: String, _ operation: String) throws(VersioningError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, operation) }
    }

    func integer(_ sql: String) throws(VersioningError) -> Int64 {
        try query(sql, [], sql) { row in row.int(0) }.first ?? 0
    }

    /// `BEGIN IMMEDIATE` … `COMMIT`, rolled back on any error.
    func transaction<R>(_ operation: String, _ body: () throws(VersioningError) -> R) throws(VersioningError) -> R {
        try execute("BEGIN IMMEDIATE", operation)
        do {
            let result = try body()
            try execute("COMMIT", operation)
            return result
        } catch {
            if sqlite3_get_autocommit(handle) == 0 { sqlite3_exec(handle, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    func run(_ sql: String, _ args: [SQLValue], _ operation: String) throws(VersioningError) {
        _ = try query(sql, args, operation) { _ in () }
    }

    /// A row being read; valid only inside the `query` callback.
    struct Row {
        let statement: OpaquePointer
        let database: RefDatabase

        func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

        func text(_ column: Int32) -> String {
            guard let p = sqlite3_column_text(statement, column) else { return "" }
            return String(cString: p)
        }

        func cid(_ column: Int32) throws(VersioningError) -> CID? {
            guard sqlite3_column_type(statement, column) != SQLITE_NULL else { return nil }
            let count = Int(sqlite3_column_bytes(statement, column))
            guard count > 0, let base = sqlite3_column_blob(statement, column) else {
                throw .refStore(path: database.path, operation: "read CID", code: 0, message: "empty CID in column \(column)")
            }
            let bytes = [UInt8](UnsafeRawBufferPointer(start: base, count: count))
            do {
                return try CID(bytes: bytes)
            } catch {
                throw .refStore(path: database.path, operation: "read CID", code: 0, message: "corrupt CID: \(error)")
            }
        }
    }

    func query<R>(_ sql: String, _ args: [SQLValue], _ operation: String, _ body: (Row) throws(VersioningError) -> R) throws(VersioningError) -> [R] {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, "\(operation) (prepare)") }
        defer { sqlite3_finalize(stmt) }
        for (i, arg) in args.enumerated() {
            let index = Int32(i + 1)
            let brc: Int32
            switch arg {
            case let .text(s): brc = sqlite3_bind_text(stmt, index, s, -1, sqliteTransient)
            case let .int(v): brc = sqlite3_bind_int64(stmt, index, v)
            case let .blob(b):
                brc = b.withUnsafeBytes { sqlite3_bind_blob(stmt, index, $0.baseAddress, Int32($0.count), sqliteTransient) }
            case .null: brc = sqlite3_bind_null(stmt, index)
            }
            guard brc == SQLITE_OK else { throw error(brc, "\(operation) (bind)") }
        }
        var results: [R] = []
        while true {
            let step = sqlite3_step(stmt)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else { throw error(step, operation) }
            results.append(try body(Row(statement: stmt, database: self)))
        }
        return results
    }
}
