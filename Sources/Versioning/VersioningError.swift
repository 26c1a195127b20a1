import Multiformats

/// What went wrong in the versioning layer, naming the repository, ref, object or field.
public enum VersioningError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A commit object is malformed: `field` of the commit `cid` (nil before it is stored).
    case invalidCommit(cid: CID?, field: String, reason: String)
    /// A repository state document is malformed.
    case invalidState(cid: CID?, field: String, reason: String)
    /// A repository, branch or tag name is not allowed (`kind` says which).
    case invalidName(kind: String, name: String, reason: String)
    /// A `REPO@REF[:PATH]` expression could not be parsed.
    case invalidRefSyntax(text: String, reason: String)
    case repositoryExists(repo: String)
    case repositoryNotFound(repo: String)
    case branchExists(repo: String, branch: String)
    case branchNotFound(repo: String, branch: String)
    case tagExists(repo: String, tag: String)
    case tagNotFound(repo: String, tag: String)
    /// The default branch cannot be deleted.
    case cannotDeleteDefaultBranch(repo: String, branch: String)
    /// A compare-and-swap lost: the ref was `actual`, not the `expected` value.
    case refConflict(repo: String, ref: String, expected: CID?, actual: CID?)
    /// REF names no branch, tag or commit of the repository.
    case refNotFound(repo: String, ref: String)
    /// The branch has no commit yet (a new repository).
    case emptyBranch(repo: String, branch: String)
    /// `REF~N` walked past the first commit.
    case noSuchAncestor(ref: String, generations: Int)
    /// A block the operation needs is not in the store.
    case blockMissing(cid: CID)
    /// The CID does not name a dag-cbor commit.
    case notACommit(cid: CID)
    /// The tree equals the parent's and `allowEmpty` was not given.
    case nothingToCommit(repo: String, branch: String)
    /// The directory to commit is missing or not a directory.
    case notADirectory(path: String)
    /// Importing the directory failed.
    case importFailed(path: String, reason: String)
    /// The block store failed during `operation`.
    case blockStore(operation: String, reason: String)
    /// The ref database failed.
    case refStore(path: String, operation: String, code: Int32, message: String)
    /// Editing or reading a tree at `path` failed.
    case treeEdit(path: String, reason: String)
    case remoteExists(repo: String, remote: String)
    case remoteNotFound(repo: String, remote: String)
    /// The feature is not available in this build.
    case unsupported(feature: String)

    public var description: String {
        switch self {
        case let .invalidCommit(cid, field, reason):
            return "invalid commit\(cid.map { " \($0)" } ?? ""): field '\(field)': \(reason)"
        case let .invalidState(cid, field, reason):
            return "invalid repository state\(cid.map { " \($0)" } ?? ""): field '\(field)': \(reason)"
        case let .invalidName(kind, name, reason):
            return "invalid \(kind) name '\(name)': \(reason)"
        case let .invalidRefSyntax(text, reason):
            return "invalid ref '\(text)': \(reason) (expected REPO@REF[:PATH], REF = branch, tag, commit CID or REF~N)"
        case let .repositoryExists(repo): return "repository '\(repo)' already exists"
        case let .repositoryNotFound(repo): return "no repository named '\(repo)' (see 'repo list')"
        case let .branchExists(repo, branch): return "branch '\(branch)' already exists in '\(repo)'"
        case let .branchNotFound(repo, branch): return "no branch '\(branch)' in '\(repo)' (see 'branch list \(repo)')"
        case let .tagExists(repo, tag): return "tag '\(tag)' already exists in '\(repo)'"
        case let .tagNotFound(repo, tag): return "no tag '\(tag)' in '\(repo)' (see 'tag list \(repo)')"
        case let .cannotDeleteDefaultBranch(repo, branch):
            return "cannot delete '\(branch)': it is the default branch of '\(repo)'"
        case let .refConflict(repo, ref, expected, actual):
            return "\(repo)@\(ref) moved concurrently: expected \(expected?.description ?? "none"), found \(actual?.description ?? "none"); retry"
        case let .refNotFound(repo, ref): return "'\(ref)' is not a branch, tag or commit of '\(repo)'"
        case let .emptyBranch(repo, branch): return "branch '\(branch)' of '\(repo)' has no commits yet"
        case let .noSuchAncestor(ref, generations): return "'\(ref)' has fewer than \(generations) first-parent ancestors"
        case let .blockMissing(cid): return "block \(cid) is not in the store"
        case let .notACommit(cid): return "\(cid) is not a commit"
        case let .nothingToCommit(repo, branch):
            return "nothing changed on \(repo)@\(branch) (use --allow-empty to commit anyway)"
        case let .notADirectory(path): return "\(path) is not a directory"
        case let .importFailed(path, reason): return "cannot import \(path): \(reason)"
        case let .blockStore(operation, reason): return "block store failed to \(operation): \(reason)"
        case let .refStore(path, operation, code, message):
            return "ref database \(path): \(operation) failed (SQLite \(code)): \(message)"
        case let .treeEdit(path, reason): return "tree at '\(path)': \(reason)"
        case let .remoteExists(repo, remote): return "remote '\(remote)' already exists in '\(repo)'"
        case let .remoteNotFound(repo, remote): return "no remote '\(remote)' in '\(repo)' (see 'remote list \(repo)')"
        case let .unsupported(feature): return "\(feature) is not supported yet"
        }
    }
}
