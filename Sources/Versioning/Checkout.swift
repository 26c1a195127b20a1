import IPLD
import Multiformats
import UnixFS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Materialises a tree into a local folder and proves it: the folder is re-hashed (nothing stored)
/// and must give back the tree's CID.
public enum Checkout {
    /// Writes the tree (or file, or symlink) `tree` to `folder`, which must be absent or an empty
    /// directory, then verifies it by re-hashing with `options` (the options it was imported with;
    /// hidden files included).
    /// - Returns: the CID the written folder hashes to (equal to `tree` when verified).
    /// - Throws: `TreeError.io` (folder not empty), `.exportFailed`, `.verificationFailed`.
    @discardableResult
    public static func materialize(
        _ tree: CID, source: any BlockSource, to folder: String, options: ImportOptions, verify: Bool = true
    ) throws(TreeError) -> CID {
        if rmdir(folder) != 0 && errno != ENOENT {
            let code = errno
            throw .io(operation: "checkout into", path: folder, reason: code == ENOTEMPTY || code == EEXIST
                ? "folder is not empty" : String(cString: strerror(code)))
        }
        do {
            try Exporter(source: source).get(tree, to: folder)
        } catch {
            throw .exportFailed(error)
        }
        guard verify else { return tree }
        let actual = try hash(folder, options: options)
        guard actual == tree else { throw .verificationFailed(path: folder, expected: tree, actual: actual) }
        return actual
    }

    /// The root CID of a local file or folder hashed with `options` (hidden files included, nothing stored).
    public static func hash(_ path: String, options: ImportOptions) throws(TreeError) -> CID {
        var hashing = options
        hashing.includeHidden = true
        hashing.wrapWithDirectory = false
        do {
            return try Importer(options: hashing, sink: nil, collectEntries: false).add(path: path).root.cid
        } catch {
            throw .importFailed(error)
        }
    }
}

// MARK: - In-place updates

/// How an in-place update (or a fresh checkout) went.
public struct CheckoutOutcome: Sendable {
    /// The record to keep for the next update.
    public var record: CheckoutRecord
    /// Files and symlinks written (those inside a written directory included).
    public var written: Int
    /// Tracked files and symlinks removed.
    public var removed: Int
    /// Local changes overwritten or removed because of `force`.
    public var overwritten: [CheckoutConflict]
}

extension Checkout {
    /// Writes `tree` into the absent or empty `folder`, verifies the whole folder by re-hashing,
    /// and returns the record of what was written (for later in-place updates).
    /// - Parameter folder: the folder's real absolute path (recorded as given).
    public static func fresh(
        _ tree: CID, repository: String, source: any BlockSource, to folder: String, options: ImportOptions
    ) throws(CheckoutError) -> CheckoutOutcome {
        do {
            try materialize(tree, source: source, to: folder, options: options, verify: true)
        } catch {
            throw .tree(error)
        }
        let files = try stamps(tree, at: "", in: folder, source: source)
        return CheckoutOutcome(
            record: CheckoutRecord(folder: folder, repository: repository, tree: tree, files: files),
            written: files.count, removed: 0, overwritten: [])
    }

    /// Brings `folder`, which holds the checkout `record`, to `tree` in place: diffs the two trees
    /// (by CID, descending only into changed directories), plans with `CheckoutPlanner` (conflicts
    /// refuse the whole update, nothing changed, unless `force`), then removes and writes only the
    /// changed paths. Each entry is exported beside its path under a hidden temporary name,
    /// verified by re-hashing against its CID, and renamed over the old one, so an interrupted
    /// update leaves each path old or new. Untracked files are never removed.
    public static func update(
        _ folder: String, record: CheckoutRecord, to tree: CID, source: any BlockSource, options: ImportOptions,
        force: Bool
    ) throws(CheckoutError) -> CheckoutOutcome {
        let changes: [TreeChange]
        do {
            changes = try TreeDiff(source: source, expandDirectories: false).diff(old: record.tree, new: tree)
        } catch {
            throw .tree(error)
        }
        let view = LocalFolder(root: folder, options: options)
        let plan = try CheckoutPlanner.plan(
            changes: changes, record: record, folder: view, force: force, folderName: folder)
        var written: [String: CheckoutStamp] = [:]
        var writtenCount = 0
        for step in plan.steps {
            switch step {
            case let .remove(path):
                let full = view.full(path)
                if unlink(full) != 0 && errno != ENOENT { throw ioError("remove", full) }
            case let .removeDirectories(path):
                try removeEmptyDirectories(view.full(path))
            case let .keep(path, cid):
                if let stat = try view.stat(path) {
                    written[path] = CheckoutStamp(
                        kind: stat.kind, size: stat.size, mtimeNanos: stat.mtimeNanos, inode: stat.inode, cid: cid)
                }
            case let .write(path, cid, kind):
                try writeEntry(cid, kind: kind, at: view.full(path), source: source, options: options)
                let stamps = try stamps(cid, at: path, in: folder, source: source)
                writtenCount += stamps.count
                written.merge(stamps) { $1 }
            }
        }
        let files = CheckoutPlanner.files(after: plan, record: record, written: written)
        return CheckoutOutcome(
            record: CheckoutRecord(folder: record.folder, repository: record.repository, tree: tree, files: files),
            written: writtenCount, removed: plan.removals.count, overwritten: plan.overwritten)
    }

    /// Exports `cid` to a hidden temporary name beside `full`, verifies it, and renames it over `full`.
    static func writeEntry(
        _ cid: CID, kind: TreeEntryKind, at full: String, source: any BlockSource, options: ImportOptions
    ) throws(CheckoutError) {
        let parent = full.lastIndex(of: "/").map { String(full[..<$0]) } ?? "."
        try makeDirectories(parent)
        // One entry is written at a time, so one name per process suffices (a long entry name
        // could not take a prefix); a leftover from a crashed run is untracked and never read.
        let temp = parent + "/.jz-checkout-\(getpid())"
        removeTree(temp)
        do {
            try Exporter(source: source).get(cid, to: temp)
            let actual = try hash(temp, options: options)
            guard actual == cid else { throw TreeError.verificationFailed(path: full, expected: cid, actual: actual) }
        } catch let error as ExportError {
            removeTree(temp)
            throw .tree(.exportFailed(error))
        } catch let error as TreeError {
            removeTree(temp)
            throw .tree(error)
        } catch {
            removeTree(temp)
            throw .io(operation: "export", path: full, reason: "\(error)")
        }
        if let existing = try lstatPath(full) {
            // rename() replaces a file with a file, or an empty directory with a directory; a
            // kind change needs the old entry gone first (it was planned empty, or tracked).
            if existing.kind == .directory && kind != .directory {
                if rmdir(full) != 0 { removeTree(temp); throw ioError("rmdir", full) }
            } else if existing.kind != .directory && kind == .directory {
                if unlink(full) != 0 { removeTree(temp); throw ioError("remove", full) }
            }
        }
        guard rename(temp, full) == 0 else {
            let error = ioError("rename \(temp) to", full)
            removeTree(temp)
            throw error
        }
    }

    /// Stamps (lstat + CID) of every file and symlink of the tree `cid`, written at the
    /// folder-relative `path` of `folder`.
    static func stamps(
        _ cid: CID, at path: String, in folder: String, source: any BlockSource
    ) throws(CheckoutError) -> [String: CheckoutStamp] {
        var out: [String: CheckoutStamp] = [:]
        let reader = TreeReader(source: source)
        func visit(_ cid: CID, _ path: String) throws(CheckoutError) {
            let kind: TreeEntryKind
            var node: TreeNode?
            if cid.codec == .raw {
                kind = .file
            } else {
                do {
                    node = try reader.node(cid, path: path)
                } catch {
                    throw .tree(error)
                }
                kind = node?.kind ?? .file
            }
            if kind == .directory, let node {
                let entries: [String: TreeLink]
                do {
                    entries = try reader.entries(node, path: path)
                } catch {
                    throw .tree(error)
                }
                for (name, link) in entries { try visit(link.cid, treeJoin(path, name)) }
                return
            }
            let full = path.isEmpty ? folder : folder + "/" + path
            guard let stat = try lstatPath(full) else { throw .io(operation: "lstat", path: full, reason: "missing after checkout") }
            out[path] = CheckoutStamp(kind: kind, size: stat.size, mtimeNanos: stat.mtimeNanos, inode: stat.inode, cid: cid)
        }
        try visit(cid, path)
        return out
    }

    /// `lstat(2)`; nil when nothing is at `path`.
    public static func lstatPath(_ path: String) throws(CheckoutError) -> LocalStat? {
        let status: FileSystem.Status
        do {
            status = try FileSystem.status(path, follow: false)
        } catch {
            if case let .io(_, _, code) = error, code == ENOENT || code == ENOTDIR { return nil }
            throw .io(operation: "lstat", path: path, reason: "\(error)")
        }
        let kind: TreeEntryKind = status.kind == .directory ? .directory : status.kind == .symlink ? .symlink : .file
        return LocalStat(
            kind: kind, size: status.size,
            mtimeNanos: status.mtime.seconds * 1_000_000_000 + Int64(status.mtime.nanoseconds ?? 0), inode: status.inode)
    }

    static func ioError(_ operation: String, _ path: String) -> CheckoutError {
        .io(operation: operation, path: path, reason: String(cString: strerror(errno)))
    }

    /// `mkdir -p`.
    static func makeDirectories(_ path: String) throws(CheckoutError) {
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return }
        guard errno == ENOENT, let slash = path.lastIndex(of: "/"), slash > path.startIndex else {
            throw ioError("mkdir", path)
        }
        try makeDirectories(String(path[..<slash]))
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw ioError("mkdir", path) }
    }

    /// Names in a directory (without "." and ".."); empty when it cannot be read.
    static func names(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// Whether `path` is a directory with no entries.
    public static func isEmptyDirectory(_ path: String) -> Bool {
        guard let dir = opendir(path) else { return false }
        closedir(dir)
        return names(in: path).isEmpty
    }

    /// Removes the empty directories at and under `path`, deepest first; non-empty ones stay.
    static func removeEmptyDirectories(_ path: String) throws(CheckoutError) {
        guard let stat = try lstatPath(path), stat.kind == .directory else { return }
        for name in names(in: path) { try removeEmptyDirectories(path + "/" + name) }
        if rmdir(path) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT { throw ioError("rmdir", path) }
    }

    /// Removes a temporary entry this code wrote (file, symlink or directory tree); errors ignored.
    static func removeTree(_ path: String) {
        guard let stat = try? lstatPath(path) else { return }
        if stat.kind == .directory {
            for name in names(in: path) { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// A real working folder, as `CheckoutPlanner` sees it.
struct LocalFolder: CheckoutFolderView {
    let root: String
    let options: ImportOptions

    func full(_ path: String) -> String { path.isEmpty ? root : root + "/" + path }

    func stat(_ path: String) throws(CheckoutError) -> LocalStat? { try Checkout.lstatPath(full(path)) }

    func contentCID(_ path: String) throws(CheckoutError) -> CID {
        do {
            return try Checkout.hash(full(path), options: options)
        } catch {
            throw .tree(error)
        }
    }

    func files(under path: String) throws(CheckoutError) -> [String] {
        var out: [String] = []
        func walk(_ relative: String) throws(CheckoutError) {
            for name in Checkout.names(in: full(relative)) {
                let child = relative.isEmpty ? name : relative + "/" + name
                guard let stat = try Checkout.lstatPath(full(child)) else { continue }
                if stat.kind == .directory { try walk(child) } else { out.append(child) }
            }
        }
        try walk(path)
        return out
    }
}
