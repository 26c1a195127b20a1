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
    /// The keystore key whose IPNS name the repository is published under (nil: never published).
    public var publishKey: String? = nil
    /// Republish after every ref change (`repo publish --auto`).
    public var publishAuto: Bool = false
    /// The heads document last published, and its sequence number (0: never).
    public var publishedCID: CID? = nil
    public var publishedSequence: UInt64 = 0
}

/// A source of a repository: another site's published name (`remote add`).
public struct RemoteRecord: Hashable, Sendable {
    public var repository: String
    public var name: String
    /// What is resolved to find the remote's heads document: `/ipns/k51…`.
    public var address: String
    /// The daemon pulls when the name resolves to a new record.
    public var follow: Bool
    /// Creation time, seconds since the epoch.
    public var created: Int64
    /// The remote's heads document whose refs are recorded (nil before the first fetch).
    public var stateCID: CID?
    public var stateSequence: UInt64
    /// When the remote refs last moved, seconds since the epoch.
    public var fetched: Int64?
    /// The history was fetched only to a depth (`clone --depth`): older commits are not local.
    public var shallow: Bool
    /// Only commits and directories were fetched (`clone --no-checkout-data`): file data is
    /// fetched when a checkout or `cat` needs it.
    public var lazyData: Bool
}

/// A remote-tracking ref: where a remote's branch or tag pointed when last fetched.
public struct RemoteRef: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable { case branch, tag }
    public var kind: Kind
    public var name: String
    public var target: CID
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
    public static let schemaVersion: Int32 = 2

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
                    PRAGMA user_version = 1;
                    """, "create schema")
            }
        } else if app != Int64(Self.applicationID) {
            throw .refStore(path: path, operation: "open", code: 0, message: "not a jz-node ref database (application_id \(app))")
        } else if version > Int64(Self.schemaVersion) {
            throw .refStore(path: path, operation: "open", code: 0, message: "schema \(version) is newer than this build's \(Self.schemaVersion); upgrade jz-node")
        }
        try migrate()
    }

    /// Brings a schema 1 database to schema 2 (remotes, remote-tracking refs, publishing
    /// settings), in one transaction; another process migrating at the same time waits and
    /// then finds nothing to do.
    private func migrate() throws(VersioningError) {
        guard try db.integer("PRAGMA user_version") < 2 else { return }
        try db.transaction("upgrade the ref database to schema 2") { () throws(VersioningError) in
            guard try db.integer("PRAGMA user_version") < 2 else { return }
            try db.execute(
                """
                ALTER TABLE repos ADD COLUMN publish_key TEXT;
                ALTER TABLE repos ADD COLUMN publish_auto INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE repos ADD COLUMN published_cid BLOB;
                ALTER TABLE repos ADD COLUMN published_sequence INTEGER NOT NULL DEFAULT 0;
                CREATE TABLE remotes(
                    repo TEXT NOT NULL REFERENCES repos(name) ON DELETE CASCADE, name TEXT NOT NULL,
                    address TEXT NOT NULL, follow INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,
                    state_cid BLOB, state_sequence INTEGER NOT NULL DEFAULT 0, fetched INTEGER,
                    partial INTEGER NOT NULL DEFAULT 0, PRIMARY KEY(repo, name));
                CREATE TABLE remote_refs(
                    repo TEXT NOT NULL, remote TEXT NOT NULL, kind TEXT NOT NULL CHECK(kind IN ('branch', 'tag')),
                    name TEXT NOT NULL, target BLOB NOT NULL, PRIMARY KEY(repo, remote, kind, name),
                    FOREIGN KEY(repo, remote) REFERENCES remotes(repo, name) ON DELETE CASCADE);
                PRAGMA user_version = 2;
                """, "upgrade the ref database to schema 2")
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
                "SELECT \(Self.repoColumns) FROM repos ORDER BY name", [], "list repositories"
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

    // MARK: - Publishing

    /// Records the key a repository is published under and whether the daemon republishes it
    /// after every ref change.
    public func setPublishing(_ repo: String, key: String, auto: Bool) throws(VersioningError) {
        try locked { () throws(VersioningError) in
            try db.transaction("set publishing of \(repo)") { () throws(VersioningError) in
                _ = try requireRepository(repo)
                try db.run(
                    "UPDATE repos SET publish_key = ?, publish_auto = ? WHERE name = ?", [.text(key), .int(auto ? 1 : 0), .text(repo)],
                    "set publishing of \(repo)")
            }
        }
    }

    /// Records the heads document just published for `repo`.
    public func recordPublished(_ repo: String, cid: CID, sequence: UInt64) throws(VersioningError) {
        try locked { () throws(VersioningError) in
            guard let seq = Int64(exactly: sequence) else {
                throw .invalidState(cid: cid, field: "sequence", reason: "\(sequence) exceeds the database's range")
            }
            try db.transaction("record publication of \(repo)") { () throws(VersioningError) in
                _ = try requireRepository(repo)
                try db.run(
                    "UPDATE repos SET published_cid = ?, published_sequence = ? WHERE name = ?", [.cid(cid), .int(seq), .text(repo)],
                    "record publication of \(repo)")
            }
        }
    }

    /// The id of the newest reflog entry (0 when empty): it grows with every ref change, in any
    /// process, so a watcher compares it to decide whether to look again.
    public func reflogHighWater() throws(VersioningError) -> Int64 {
        try locked { () throws(VersioningError) in try db.integer("SELECT COALESCE(MAX(id), 0) FROM reflog") }
    }

    // MARK: - Remotes

    /// Adds a remote: another site's published repository, `address` being `/ipns/NAME`.
    public func addRemote(_ repo: String, _ name: String, address: String, follow: Bool) throws(VersioningError) {
        try RefSyntax.validateRemoteName(name)
        let now = clock()
        try locked { () throws(VersioningError) in
            try db.transaction("add remote \(name)") { () throws(VersioningError) in
                _ = try requireRepository(repo)
                guard try remoteRow(repo, name) == nil else { throw .remoteExists(repo: repo, remote: name) }
                try db.run(
                    "INSERT INTO remotes(repo, name, address, follow, created) VALUES(?, ?, ?, ?, ?)",
                    [.text(repo), .text(name), .text(address), .int(follow ? 1 : 0), .int(now)], "add remote \(name)")
            }
        }
    }

    /// The repository's remotes, by name.
    public func remotes(_ repo: String) throws(VersioningError) -> [RemoteRecord] {
        try locked { () throws(VersioningError) in
            _ = try requireRepository(repo)
            return try db.query(
                "SELECT \(Self.remoteColumns) FROM remotes WHERE repo = ? ORDER BY name", [.text(repo)], "list remotes"
            ) { row throws(VersioningError) in try remoteRecord(row) }
        }
    }

    /// The remote, or nil.
    public func remote(_ repo: String, _ name: String) throws(VersioningError) -> RemoteRecord? {
        try locked { () throws(VersioningError) in
            _ = try requireRepository(repo)
            return try remoteRow(repo, name)
        }
    }

    /// Every remote the daemon follows, in every repository.
    public func followedRemotes() throws(VersioningError) -> [RemoteRecord] {
        try locked { () throws(VersioningError) in
            try db.query(
                "SELECT \(Self.remoteColumns) FROM remotes WHERE follow != 0 ORDER BY repo, name", [], "list followed remotes"
            ) { row throws(VersioningError) in try remoteRecord(row) }
        }
    }

    /// Every repository published with `--auto`.
    public func autoPublished() throws(VersioningError) -> [RepositoryRecord] {
        try locked { () throws(VersioningError) in
            try db.query(
                "SELECT \(Self.repoColumns) FROM repos WHERE publish_auto != 0 ORDER BY name", [], "list auto-published repositories"
            ) { row throws(VersioningError) in try record(row) }
        }
    }

    /// Turns following on or off.
    public func setFollow(_ repo: String, _ name: String, follow: Bool) throws(VersioningError) {
        try locked { () throws(VersioningError) in
            try db.transaction("set follow of \(name)") { () throws(VersioningError) in
                _ = try requireRemote(repo, name)
                try db.run(
                    "UPDATE remotes SET follow = ? WHERE repo = ? AND name = ?", [.int(follow ? 1 : 0), .text(repo), .text(name)],
                    "set follow of \(name)")
            }
        }
    }

    /// Removes a remote and its remote-tracking refs (the reflog records each removal).
    public func removeRemote(_ repo: String, _ name: String) throws(VersioningError) {
        let now = clock()
        try locked { () throws(VersioningError) in
            try db.transaction("remove remote \(name)") { () throws(VersioningError) in
                _ = try requireRemote(repo, name)
                for ref in try remoteRefRows(repo, name) {
                    try log(repo, Self.remoteRefName(name, ref.kind, ref.name), ref.target, nil, now, "remote removed")
                }
                try db.run("DELETE FROM remotes WHERE repo = ? AND name = ?", [.text(repo), .text(name)], "remove remote \(name)")
            }
        }
    }

    /// The remote's tracking refs, branches then tags, by name.
    public func remoteRefs(_ repo: String, _ remote: String) throws(VersioningError) -> [RemoteRef] {
        try locked { () throws(VersioningError) in
            _ = try requireRemote(repo, remote)
            return try remoteRefRows(repo, remote)
        }
    }

    /// The commit `remote/name` (a remote-tracking branch) points at, or nil.
    public func remoteBranch(_ repo: String, remote: String, branch: String) throws(VersioningError) -> CID? {
        try locked { () throws(VersioningError) in
            try db.query(
                "SELECT target FROM remote_refs WHERE repo = ? AND remote = ? AND kind = 'branch' AND name = ?",
                [.text(repo), .text(remote), .text(branch)], "read remote branch"
            ) { row throws(VersioningError) in try row.cid(0) }.first ?? nil
        }
    }

    /// Moves one remote-tracking ref from `expected` to `new` (nil: removes it), compare-and-swap.
    /// Callers move a ref only once the whole DAG of `new` is local.
    public func updateRemoteRef(
        _ repo: String, remote: String, kind: RemoteRef.Kind, name: String, expected: CID?, new: CID?, message: String
    ) throws(VersioningError) {
        let now = clock()
        try locked { () throws(VersioningError) in
            try db.transaction("update \(remote)/\(name)") { () throws(VersioningError) in
                _ = try requireRemote(repo, remote)
                let current = try db.query(
                    "SELECT target FROM remote_refs WHERE repo = ? AND remote = ? AND kind = ? AND name = ?",
                    [.text(repo), .text(remote), .text(kind.rawValue), .text(name)], "read \(remote)/\(name)"
                ) { row throws(VersioningError) in try row.cid(0) }.first ?? nil
                let refName = Self.remoteRefName(remote, kind, name)
                guard current == expected else { throw .refConflict(repo: repo, ref: refName, expected: expected, actual: current) }
                guard current != new else { return }
                if let new {
                    try db.run(
                        "INSERT OR REPLACE INTO remote_refs(repo, remote, kind, name, target) VALUES(?, ?, ?, ?, ?)",
                        [.text(repo), .text(remote), .text(kind.rawValue), .text(name), .cid(new)], "update \(refName)")
                } else {
                    try db.run(
                        "DELETE FROM remote_refs WHERE repo = ? AND remote = ? AND kind = ? AND name = ?",
                        [.text(repo), .text(remote), .text(kind.rawValue), .text(name)], "delete \(refName)")
                }
                try log(repo, refName, current, new, now, message)
            }
        }
    }

    /// Records the remote heads document whose refs are now all recorded (and whether the
    /// history behind them is shallow, or its file data left to fetch later).
    public func recordRemoteState(
        _ repo: String, remote: String, cid: CID, sequence: UInt64, shallow: Bool, lazyData: Bool
    ) throws(VersioningError) {
        let now = clock()
        try locked { () throws(VersioningError) in
            guard let seq = Int64(exactly: sequence) else {
                throw .invalidState(cid: cid, field: "sequence", reason: "\(sequence) exceeds the database's range")
            }
            try db.transaction("record state of \(remote)") { () throws(VersioningError) in
                _ = try requireRemote(repo, remote)
                try db.run(
                    "UPDATE remotes SET state_cid = ?, state_sequence = ?, fetched = ?, partial = ? WHERE repo = ? AND name = ?",
                    [.cid(cid), .int(seq), .int(now), .int((shallow ? 1 : 0) | (lazyData ? 2 : 0)), .text(repo), .text(remote)], "record state of \(remote)")
            }
        }
    }

    /// `refs/remotes/REMOTE/NAME` for branches, `refs/remote-tags/REMOTE/NAME` for tags (reflog names).
    public static func remoteRefName(_ remote: String, _ kind: RemoteRef.Kind, _ name: String) -> String {
        kind == .branch ? "refs/remotes/\(remote)/\(name)" : "refs/remote-tags/\(remote)/\(name)"
    }

    private func remoteRefRows(_ repo: String, _ remote: String) throws(VersioningError) -> [RemoteRef] {
        try db.query(
            "SELECT kind, name, target FROM remote_refs WHERE repo = ? AND remote = ? ORDER BY kind, name",
            [.text(repo), .text(remote)], "list remote refs"
        ) { row throws(VersioningError) in
            guard let kind = RemoteRef.Kind(rawValue: row.text(0)), let target = try row.cid(2) else {
                throw .refStore(path: path, operation: "list remote refs", code: 0, message: "corrupt row for \(row.text(1))")
            }
            return RemoteRef(kind: kind, name: row.text(1), target: target)
        }
    }

    /// Every commit a branch or tag names and every repository's latest heads document.
    public func gcRoots() throws -> [CID] {
        try locked { () throws(VersioningError) in
            var roots = Set<CID>()
            for sql in [
                "SELECT target FROM branches WHERE target IS NOT NULL", "SELECT target FROM tags",
                "SELECT state_cid FROM repos WHERE state_cid IS NOT NULL",
                "SELECT published_cid FROM repos WHERE published_cid IS NOT NULL",
                "SELECT target FROM remote_refs", "SELECT state_cid FROM remotes WHERE state_cid IS NOT NULL",
            ] {
                for cid in try db.query(sql, [], "list GC roots", { row throws(VersioningError) in try row.cid(0) }) {
                    if let cid { roots.insert(cid) }
                }
            }
            return roots.sorted()
        }
    }

    // MARK: - Helpers (lock held)

    private static let repoColumns =
        "name, default_branch, created, state_cid, state_sequence, publish_key, publish_auto, published_cid, published_sequence"

    private func record(_ row: RefDatabase.Row) throws(VersioningError) -> RepositoryRecord {
        RepositoryRecord(
            name: row.text(0), defaultBranch: row.text(1), created: row.int(2), stateCID: try row.cid(3),
            stateSequence: UInt64(clamping: row.int(4)), publishKey: row.optionalText(5), publishAuto: row.int(6) != 0,
            publishedCID: try row.cid(7), publishedSequence: UInt64(clamping: row.int(8)))
    }

    private static let remoteColumns =
        "repo, name, address, follow, created, state_cid, state_sequence, fetched, partial"

    private func remoteRecord(_ row: RefDatabase.Row) throws(VersioningError) -> RemoteRecord {
        RemoteRecord(
            repository: row.text(0), name: row.text(1), address: row.text(2), follow: row.int(3) != 0, created: row.int(4),
            stateCID: try row.cid(5), stateSequence: UInt64(clamping: row.int(6)), fetched: row.optionalInt(7),
            shallow: row.int(8) & 1 != 0, lazyData: row.int(8) & 2 != 0)
    }

    private func remoteRow(_ repo: String, _ name: String) throws(VersioningError) -> RemoteRecord? {
        try db.query(
            "SELECT \(Self.remoteColumns) FROM remotes WHERE repo = ? AND name = ?", [.text(repo), .text(name)],
            "read remote \(name)"
        ) { row throws(VersioningError) in try remoteRecord(row) }.first
    }

    private func requireRemote(_ repo: String, _ name: String) throws(VersioningError) -> RemoteRecord {
        guard let record = try remoteRow(repo, name) else { throw .remoteNotFound(repo: repo, remote: name) }
        return record
    }

    private func repositoryRow(_ name: String) throws(VersioningError) -> RepositoryRecord? {
        try db.query(
            "SELECT \(Self.repoColumns) FROM repos WHERE name = ?", [.text(name)],
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

        func optionalInt(_ column: Int32) -> Int64? {
            sqlite3_column_type(statement, column) == SQLITE_NULL ? nil : sqlite3_column_int64(statement, column)
        }

        func optionalText(_ column: Int32) -> String? {
            sqlite3_column_type(statement, column) == SQLITE_NULL ? nil : text(column)
        }

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
