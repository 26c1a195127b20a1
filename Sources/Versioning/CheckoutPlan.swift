import Multiformats
import UnixFS

/// Why an in-place checkout failed, naming the folder or path at fault.
public enum CheckoutError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Resolving the ref failed.
    case versioning(VersioningError)
    /// Diffing, exporting or hashing a tree failed.
    case tree(TreeError)
    /// The checkout record at `path` cannot be read.
    case malformedRecord(path: String, reason: String)
    /// `folder` is not empty and holds no checkout of `repository` that this node recorded.
    case notACheckout(folder: String, repository: String, reason: String)
    /// Local changes the update would overwrite or remove; nothing was changed.
    case conflicts(folder: String, [CheckoutConflict])
    /// A file-system operation failed.
    case io(operation: String, path: String, reason: String)

    public var description: String {
        switch self {
        case let .versioning(error): return "\(error)"
        case let .tree(error): return "\(error)"
        case let .malformedRecord(path, reason): return "checkout record \(path): \(reason)"
        case let .notACheckout(folder, repository, reason):
            return "\(folder) is not empty and is not a checkout of '\(repository)' (\(reason)); "
                + "check out into an empty or absent folder"
        case let .conflicts(folder, conflicts):
            let forceable = conflicts.allSatisfy(\.forceable)
            return "\(folder): \(conflicts.count) local change(s) in the way, nothing was changed"
                + (forceable ? " (--force overwrites them)" : "") + ":\n"
                + conflicts.map { "  \($0.path): \($0.reason.rawValue)" }.joined(separator: "\n")
        case let .io(operation, path, reason): return "\(operation) \(path): \(reason)"
        }
    }
}

/// A path whose local content the update would overwrite or remove.
public struct CheckoutConflict: Hashable, Sendable {
    public enum Reason: String, Hashable, Sendable {
        /// A tracked file or symlink changed since the last checkout.
        case modified = "modified since the last checkout"
        /// An untracked file or symlink stands where the new tree puts an entry.
        case untracked = "untracked file in the way"
        /// A directory that the update must replace or create holds untracked files (never forced:
        /// untracked files are never removed).
        case untrackedDirectory = "directory with untracked files in the way"
    }

    public let path: String
    public let reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    /// Whether `--force` may overwrite it.
    public var forceable: Bool { reason != .untrackedDirectory }
}

/// What the planner needs to know about the working folder; paths are "/"-separated and relative
/// to it ("" is the folder). `Checkout` reads a real folder; tests pass a dictionary.
public protocol CheckoutFolderView {
    /// `lstat` of `path`; nil when nothing is there.
    func stat(_ path: String) throws(CheckoutError) -> LocalStat?
    /// The CID of the file or symlink at `path`, hashed as the tree was imported.
    func contentCID(_ path: String) throws(CheckoutError) -> CID
    /// Every file and symlink under the directory `path` (recursively), as folder-relative paths.
    func files(under path: String) throws(CheckoutError) -> [String]
}

/// One action of an in-place update.
public enum CheckoutStep: Hashable, Sendable {
    /// Remove the tracked file or symlink.
    case remove(String)
    /// Remove the directory and its subdirectories that are empty (deepest first); ones that still
    /// hold untracked files stay.
    case removeDirectories(String)
    /// Write the entry (file, symlink or whole directory) beside `path` and rename it over.
    case write(String, cid: CID, kind: TreeEntryKind)
    /// The path already holds the new content: only record it.
    case keep(String, cid: CID)
}

/// The actions that take a folder from its recorded checkout to a new tree.
public struct CheckoutPlan: Hashable, Sendable {
    /// Removals first, then directory removals (deepest first), then writes and keeps by path.
    public var steps: [CheckoutStep]
    /// Local changes that `force` overwrites (empty unless forced: otherwise the plan is refused).
    public var overwritten: [CheckoutConflict]
    /// Record entries to drop: these paths, and every path under those that were directories.
    public var forgetFiles: Set<String>
    public var forgetDirectories: Set<String>

    public var writes: [CheckoutStep] { steps.filter { if case .write = $0 { return true } else { return false } } }
    public var removals: [String] { steps.compactMap { if case let .remove(p) = $0 { return p } else { return nil } } }
}

/// What a path of the working folder holds, as the planner classifies it.
enum LocalContent { case absent, directory, holds(CID) }

/// Pure planning of an in-place checkout: from the tree diff (old tree = the recorded checkout),
/// the record's stamps and what the folder holds now, which paths to write, keep or remove, and
/// which local changes are in the way.
///
/// Rules: a tracked path is unchanged locally when its `lstat` (kind, size, mtime, inode) equals
/// the record, or else when its re-hash equals the recorded CID; a path already holding the new
/// content is kept. A local change to a path the update touches is a conflict; so is an untracked
/// file where the new tree adds an entry. Conflicts refuse the whole update (nothing changes)
/// unless `force`, which overwrites them — except directories holding untracked files, which are
/// refused even then. Untracked files are never removed; a locally deleted file is written again.
public enum CheckoutPlanner {
    public static func plan(
        changes: [TreeChange], record: CheckoutRecord, folder view: some CheckoutFolderView, force: Bool,
        folderName: String = "folder"
    ) throws(CheckoutError) -> CheckoutPlan {
        var removes: [String] = []
        var directories: [String] = []
        var writes: [CheckoutStep] = []
        var conflicts: [CheckoutConflict] = []
        var forgetFiles: Set<String> = []
        var forgetDirectories: Set<String> = []

        func inspect(_ path: String) throws(CheckoutError) -> LocalContent {
            guard let current = try view.stat(path) else { return .absent }
            if current.kind == .directory { return .directory }
            if let stamp = record.files[path], stamp.stat == current { return .holds(stamp.cid) }
            return .holds(try view.contentCID(path))
        }

        /// Removes the tracked file or symlink `path` that held `old`; returns whether the path
        /// already holds `new` (then it is kept, not removed).
        func removeTracked(_ path: String, old: CID, new: CID?) throws(CheckoutError) -> Bool {
            switch try inspect(path) {
            case .absent: return false
            case .directory:
                conflicts.append(CheckoutConflict(path: path, reason: .untrackedDirectory))
                return false
            case let .holds(cid):
                if let new, cid == new { return true }
                if cid != old { conflicts.append(CheckoutConflict(path: path, reason: .modified)) }
                removes.append(path)
                return false
            }
        }

        /// Removes every tracked file under the directory `path`; returns the untracked files left.
        func clearDirectory(_ path: String) throws(CheckoutError) -> [String] {
            let prefix = path.isEmpty ? "" : path + "/"
            for (file, stamp) in record.files where file.hasPrefix(prefix) {
                _ = try removeTracked(file, old: stamp.cid, new: nil)
            }
            guard let current = try view.stat(path) else { return [] }
            guard current.kind == .directory else {
                conflicts.append(CheckoutConflict(path: path, reason: .modified))
                return []
            }
            directories.append(path)
            return try view.files(under: path).filter { record.files[$0] == nil }
        }

        for change in changes {
            let path = change.path
            forgetFiles.insert(path)
            if change.oldKind == .directory { forgetDirectories.insert(path) }
            switch (change.oldKind, change.newKind, change.newCID) {
            case (.directory?, nil, _):
                _ = try clearDirectory(path)
            case (.directory?, let kind?, let cid?):
                if !(try clearDirectory(path)).isEmpty {
                    conflicts.append(CheckoutConflict(path: path, reason: .untrackedDirectory))
                }
                writes.append(.write(path, cid: cid, kind: kind))
            case (_?, nil, _):
                _ = try removeTracked(path, old: record.files[path]?.cid ?? change.oldCID ?? record.tree, new: nil)
            case (_?, let kind?, let cid?):
                let old = record.files[path]?.cid ?? change.oldCID ?? record.tree
                switch try inspect(path) {
                case .absent:
                    writes.append(.write(path, cid: cid, kind: kind))
                case .directory:
                    conflicts.append(CheckoutConflict(path: path, reason: .untrackedDirectory))
                case let .holds(current):
                    if current == cid && kind != .directory {
                        writes.append(.keep(path, cid: cid))
                    } else {
                        if current != old { conflicts.append(CheckoutConflict(path: path, reason: .modified)) }
                        writes.append(.write(path, cid: cid, kind: kind))
                    }
                }
            case (nil, let kind?, let cid?):
                switch try inspect(path) {
                case .absent:
                    writes.append(.write(path, cid: cid, kind: kind))
                case .directory:
                    if try view.files(under: path).isEmpty {
                        directories.append(path)
                        writes.append(.write(path, cid: cid, kind: kind))
                    } else {
                        conflicts.append(CheckoutConflict(path: path, reason: .untrackedDirectory))
                    }
                case let .holds(current):
                    if current == cid && kind != .directory {
                        writes.append(.keep(path, cid: cid))
                    } else {
                        conflicts.append(CheckoutConflict(path: path, reason: .untracked))
                        writes.append(.write(path, cid: cid, kind: kind))
                    }
                }
            default:
                continue
            }
        }

        conflicts.sort { $0.path < $1.path }
        if !conflicts.isEmpty && (!force || !conflicts.allSatisfy(\.forceable)) {
            throw .conflicts(folder: folderName, force ? conflicts.filter { !$0.forceable } : conflicts)
        }
        func key(_ step: CheckoutStep) -> String {
            switch step {
            case let .write(p, _, _), let .keep(p, _), let .remove(p), let .removeDirectories(p): return p
            }
        }
        let steps = removes.sorted().map(CheckoutStep.remove)
            + directories.sorted(by: >).map(CheckoutStep.removeDirectories)
            + writes.sorted { key($0) < key($1) }
        return CheckoutPlan(
            steps: steps, overwritten: conflicts, forgetFiles: forgetFiles, forgetDirectories: forgetDirectories)
    }

    /// The record's files after the plan: forgotten paths dropped, `written` stamps added.
    public static func files(
        after plan: CheckoutPlan, record: CheckoutRecord, written: [String: CheckoutStamp]
    ) -> [String: CheckoutStamp] {
        var files = record.files
        for path in plan.forgetFiles { files[path] = nil }
        if !plan.forgetDirectories.isEmpty {
            files = files.filter { entry in
                var path = Substring(entry.key)
                while let slash = path.lastIndex(of: "/") {
                    path = path[..<slash]
                    if plan.forgetDirectories.contains(String(path)) { return false }
                }
                return !plan.forgetDirectories.contains("")
            }
        }
        files.merge(written) { $1 }
        return files
    }
}
