import Multiformats

/// Why a block store, pin or GC operation failed. Every case names the file or CID involved.
public enum BlockStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The database file could not be opened or created.
    case cannotOpen(path: String, reason: String)
    /// The file exists but is not a jz-node block store (not SQLite, or another application's database).
    case notABlockStore(path: String, reason: String)
    /// The store was written by a newer (or unknown) schema version.
    case unsupportedSchema(path: String, found: Int32, supported: Int32)
    /// SQLite reports the file as damaged (`SQLITE_CORRUPT` / `SQLITE_NOTADB`) during `operation`.
    case corrupt(path: String, operation: String, message: String)
    /// The disk (or the configured size limit) is full; the failed transaction was rolled back and
    /// everything committed before it is intact.
    case diskFull(path: String, operation: String)
    /// Another process holds a lock on the store for longer than the busy timeout.
    case busy(path: String, operation: String)
    /// The file or its folder is read-only.
    case readOnly(path: String, operation: String)
    /// An I/O error from the operating system.
    case io(path: String, operation: String, code: Int32, message: String)
    /// Any other SQLite failure.
    case sqlite(path: String, operation: String, code: Int32, message: String)
    /// A block is too large to be stored (SQLite's blob limit).
    case blockTooLarge(cid: CID, size: Int)
    /// A recursive pin was refused (or a pinned DAG found broken): `missing` is the first block
    /// of `root`'s DAG (pre-order, links in block order) that is not in the store.
    case incompleteDAG(root: CID, missing: CID)
    /// The links of a block could not be read (its bytes do not decode as its codec, or the
    /// codec is one this node cannot traverse).
    case unreadableLinks(cid: CID, reason: String)
    /// `pin(_:recursive: false)` on a CID already pinned recursively.
    case alreadyPinnedRecursively(CID)
    /// `unpin(_:recursive: false)` on a CID pinned recursively.
    case pinnedRecursively(CID)
    /// `unpin` of a CID that has no direct or recursive pin (it may still be pinned indirectly).
    case notPinned(CID)
    /// `removeUnpinned` of a pinned block.
    case blockIsPinned(CID, PinStatus)
    /// A registered GC root provider failed; nothing was deleted.
    case rootProviderFailed(reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "block store \(path): cannot open: \(reason)"
        case let .notABlockStore(path, reason):
            return "block store \(path): not a jz-node block store: \(reason)"
        case let .unsupportedSchema(path, found, supported):
            return "block store \(path): schema version \(found) is not supported (this build reads version \(supported)); use a newer jz-node"
        case let .corrupt(path, operation, message):
            return "block store \(path): database is corrupt (\(operation)): \(message)"
        case let .diskFull(path, operation):
            return "block store \(path): disk full during \(operation); the transaction was rolled back, committed data is intact"
        case let .busy(path, operation):
            return "block store \(path): locked by another process during \(operation)"
        case let .readOnly(path, operation):
            return "block store \(path): read-only during \(operation)"
        case let .io(path, operation, code, message):
            return "block store \(path): I/O error \(code) during \(operation): \(message)"
        case let .sqlite(path, operation, code, message):
            return "block store \(path): SQLite error \(code) during \(operation): \(message)"
        case let .blockTooLarge(cid, size):
            return "block \(cid): \(size) bytes is too large to store"
        case let .incompleteDAG(root, missing):
            if root == missing { return "block \(root) is not in the store" }
            return "DAG of \(root) is incomplete: block \(missing) is not in the store"
        case let .unreadableLinks(cid, reason):
            return "block \(cid): cannot read its links: \(reason)"
        case let .alreadyPinnedRecursively(cid):
            return "\(cid) is already pinned recursively"
        case let .pinnedRecursively(cid):
            return "\(cid) is pinned recursively; unpin it recursively"
        case let .notPinned(cid):
            return "\(cid) is not pinned directly or recursively"
        case let .blockIsPinned(cid, status):
            switch status {
            case .direct: return "\(cid) is pinned directly; unpin it first"
            case .recursive: return "\(cid) is pinned recursively; unpin it first"
            case let .indirect(root): return "\(cid) is pinned indirectly through \(root)"
            }
        case let .rootProviderFailed(reason):
            return "GC root provider failed: \(reason); nothing was collected"
        }
    }
}
