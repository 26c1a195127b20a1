import Foundation
import Multiformats
import Versioning

/// What `WorkingFolders.updateCheckout` did.
public struct CheckoutReport: Sendable {
    /// The folder's real absolute path.
    public var folder: String
    /// The tree the folder now holds.
    public var tree: CID
    /// The tree it held before (nil for a fresh checkout).
    public var previous: CID?
    /// Files and symlinks written, removed, and left as they were.
    public var written: Int
    public var removed: Int
    public var unchanged: Int
    /// Local changes overwritten because of `force` (a refused update throws
    /// `CheckoutError.conflicts` instead).
    public var conflicts: [CheckoutConflict]
    public var seconds: Double
}

/// Working folders checked out from this node's repositories, updated in place.
///
/// Each checkout is recorded outside the folder (the folder must keep hashing to its tree), in
/// `<home>/checkouts/<sha256 of the folder's real path>`: repository, tree CID, and every file's
/// size, mtime, inode and CID (`CheckoutRecord`, binary, written atomically by temp + rename).
public struct WorkingFolders: Sendable {
    public let home: NodeHome
    public let versions: VersionStore

    public init(home: NodeHome, versions: VersionStore) {
        self.home = home
        self.versions = versions
    }

    /// Where records live.
    public var directory: String { (home.path as NSString).appendingPathComponent("checkouts") }

    /// Checks `repo@ref[:path]` out into `folder`. An absent or empty folder gets a fresh checkout,
    /// verified by re-hashing it whole (and recorded, so the next checkout there is in place). A folder holding this node's last checkout of `repo` is
    /// updated in place: only the paths whose CIDs differ are written (each verified) or removed.
    /// Local changes to those paths refuse the whole update, changing nothing, unless `force`;
    /// untracked files are never removed. Any other non-empty folder is refused.
    /// - Throws: `CheckoutError` (`.versioning` when the ref does not resolve).
    public func updateCheckout(
        repo: String, ref: RefExpression?, path: String? = nil, folder: String, force: Bool = false
    ) throws(CheckoutError) -> CheckoutReport {
        let start = DispatchTime.now()
        let tree: CID
        do {
            tree = try versions.resolveTree(RefSpec(repository: repo, ref: ref, path: path))
        } catch {
            throw .versioning(error)
        }
        let absolute = Self.realPath(folder)
        let existing = try record(for: absolute)
        let outcome: CheckoutOutcome
        var previous: CID?
        let present = try Checkout.lstatPath(absolute) != nil && !Checkout.isEmptyDirectory(absolute)
        if let existing, existing.repository == repo, present {
            previous = existing.tree
            outcome = try Checkout.update(
                absolute, record: existing, to: tree, source: versions.blocks, options: versions.importOptions,
                force: force)
        } else {
            if present {
                throw .notACheckout(
                    folder: absolute, repository: repo,
                    reason: existing.map { "its last checkout is of '\($0.repository)'" } ?? "no checkout recorded")
            }
            outcome = try Checkout.fresh(
                tree, repository: repo, source: versions.blocks, to: absolute, options: versions.importOptions)
        }
        try save(outcome.record)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return CheckoutReport(
            folder: absolute, tree: tree, previous: previous, written: outcome.written, removed: outcome.removed,
            unchanged: max(0, outcome.record.files.count - outcome.written), conflicts: outcome.overwritten,
            seconds: seconds)
    }

    /// The record of the last checkout into `folder` (a real absolute path), if any.
    public func record(for folder: String) throws(CheckoutError) -> CheckoutRecord? {
        let file = recordPath(folder)
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        let record = try CheckoutRecord(decoding: [UInt8](data), source: file)
        return record.folder == folder ? record : nil
    }

    /// Writes the record atomically (temporary file + rename).
    public func save(_ record: CheckoutRecord) throws(CheckoutError) {
        let file = recordPath(record.folder)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(record.encoded()).write(to: URL(fileURLWithPath: file), options: .atomic)
        } catch {
            throw .io(operation: "write checkout record", path: file, reason: "\(error)")
        }
    }

    func recordPath(_ folder: String) -> String {
        let key = Sha256.digest(Array(folder.utf8)).map { String(format: "%02x", $0) }.joined()
        return (directory as NSString).appendingPathComponent(key)
    }

    /// The real absolute path of `folder`; for an absent folder, its parent's real path + its name.
    public static func realPath(_ folder: String) -> String {
        let absolute = folder.hasPrefix("/") ? folder : FileManager.default.currentDirectoryPath + "/" + folder
        if let resolved = realpath(absolute, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        let standard = (absolute as NSString).standardizingPath
        let parent = (standard as NSString).deletingLastPathComponent
        guard parent != standard, let resolved = realpath(parent, nil) else { return standard }
        defer { free(resolved) }
        return (String(cString: resolved) as NSString).appendingPathComponent((standard as NSString).lastPathComponent)
    }
}
