import Multiformats

/// A block store that also keeps pins, collects garbage and checks itself.
///
/// Pins live beside the blocks and change atomically with them: a recursive pin exists only
/// while its whole DAG is stored, and GC never removes a block reachable from a pin or from a
/// registered `GCRootProvider`.
public protocol PinStore: BlockStore {
    /// Pins `cid`. Recursive: refuses (`.incompleteDAG`, naming the first missing block) unless
    /// every block of the DAG is stored; upgrades an existing direct pin. Direct: the block
    /// itself must be stored; refuses if already pinned recursively. Re-pinning keeps the old
    /// name unless a new one is given.
    func pin(_ cid: CID, recursive: Bool, name: String?) throws(BlockStoreError)
    /// Removes the direct or recursive pin on `cid` (with `recursive: false`, only a direct one).
    /// A dag-pb pin made with the other CID version (v0/v1) of the same block is found too.
    /// - Throws: `.notPinned`, `.pinnedRecursively`.
    func unpin(_ cid: CID, recursive: Bool) throws(BlockStoreError)
    /// Pins of one type (indirect: blocks reachable from recursive pins, computed). For `.all`
    /// each CID appears once, as recursive, else direct, else indirect.
    func pins(type: PinType) throws(BlockStoreError) -> [Pin]
    /// Deletes the block unless it is pinned in any way (`ipfs block rm`); no-op if absent.
    /// - Throws: `.blockIsPinned` naming how.
    func removeUnpinned(_ cid: CID) throws(BlockStoreError)
    /// How `cid` is pinned, or nil (dag-pb: a pin under the other CID version counts).
    func pinStatus(_ cid: CID) throws(BlockStoreError) -> PinStatus?
    /// Adds a source of GC roots (e.g. versioning refs); its roots are kept with their DAGs.
    @discardableResult
    func registerGCRootProvider(_ provider: any GCRootProvider) -> GCRootProviderToken
    func unregisterGCRootProvider(_ token: GCRootProviderToken)
    /// Holds off GC until the lease is released: take one before writing blocks that a pin
    /// or a ref will only name afterwards (Kubo's GC lock). GC waits for all leases; a new lease
    /// waits while GC runs. Never call `collectGarbage` while holding a lease (it would wait
    /// for itself).
    func gcLease() -> GCLease
    /// Mark-and-sweep: removes every block not reachable from a pin or a provider root.
    /// `progress` (if any) is called during the sweep with the blocks examined so far and the
    /// number to examine, so a caller can draw a progress bar.
    func collectGarbage(progress: (@Sendable (GCProgress) -> Void)?) throws(BlockStoreError) -> GCResult
    /// Re-hashes every block and checks that every recursive pin's DAG is complete.
    func verify() throws(BlockStoreError) -> VerifyReport
    /// Counts and sizes.
    func stat() throws(BlockStoreError) -> StoreStat
}

extension PinStore {
    /// Pins `cid` recursively (the default, as `ipfs pin add`).
    public func pin(_ cid: CID, name: String? = nil) throws(BlockStoreError) {
        try pin(cid, recursive: true, name: name)
    }

    /// Removes a direct or recursive pin.
    public func unpin(_ cid: CID) throws(BlockStoreError) {
        try unpin(cid, recursive: true)
    }

    /// Whether `cid` is pinned in any way.
    public func isPinned(_ cid: CID) throws(BlockStoreError) -> Bool {
        try pinStatus(cid) != nil
    }
}

/// Which pins to list.
public enum PinType: String, Sendable, CaseIterable {
    case direct, recursive, indirect, all
}

/// A pin as listed by `pins(type:)`.
public struct Pin: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case direct, recursive, indirect
    }

    public var cid: CID
    public var kind: Kind
    /// The user's name for a direct or recursive pin; nil for indirect ones.
    public var name: String?

    public init(cid: CID, kind: Kind, name: String? = nil) {
        self.cid = cid
        self.kind = kind
        self.name = name
    }
}

/// How a CID is pinned.
public enum PinStatus: Hashable, Sendable {
    case direct(name: String?)
    case recursive(name: String?)
    /// Reachable from the recursive pin `through`.
    case indirect(through: CID)
}

/// Something outside the pin set whose DAGs GC must keep (versioning refs register one).
/// The roots' DAGs are kept as far as they are stored; missing blocks are not an error.
public protocol GCRootProvider: Sendable {
    func gcRoots() throws -> [CID]
}

/// Identifies a registered root provider.
public struct GCRootProviderToken: Hashable, Sendable {
    let id: Int
}

/// What GC removed.
extension PinStore {
    /// Mark-and-sweep without progress reports.
    public func collectGarbage() throws(BlockStoreError) -> GCResult {
        try collectGarbage(progress: nil)
    }
}

/// How far a garbage collection has got.
public struct GCProgress: Hashable, Sendable {
    /// `marking` while reachable blocks are found, `sweeping` while unreachable ones are removed.
    public enum Phase: String, Sendable { case marking, sweeping }
    public var phase: Phase
    /// Blocks examined in this phase.
    public var done: Int
    /// Blocks to examine in this phase, when known.
    public var total: Int?

    public init(phase: Phase, done: Int, total: Int?) {
        self.phase = phase
        self.done = done
        self.total = total
    }
}

public struct GCResult: Hashable, Sendable {
    /// The removed blocks, as CIDv1 with the codec they were first stored under.
    public var removed: [CID]
    /// Total size of the removed blocks.
    public var removedBytes: Int

    public init(removed: [CID], removedBytes: Int) {
        self.removed = removed
        self.removedBytes = removedBytes
    }
}

/// A block that failed verification.
public struct BadBlock: Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable, CustomStringConvertible {
        /// The bytes do not hash to the key.
        case hashMismatch
        /// The key's hash function cannot be computed here, so the bytes are unchecked.
        case unsupportedHash(HashFunction)
        /// The stored key is not a valid multihash.
        case invalidKey(String)
        /// The recorded size disagrees with the stored bytes.
        case sizeMismatch(recorded: Int, actual: Int)

        public var description: String {
            switch self {
            case .hashMismatch: return "bytes do not hash to the key"
            case let .unsupportedHash(function): return "hash function \(function) cannot be verified"
            case let .invalidKey(reason): return "invalid key: \(reason)"
            case let .sizeMismatch(recorded, actual): return "recorded size \(recorded) but \(actual) bytes stored"
            }
        }
    }

    /// The stored key (multihash bytes).
    public var key: [UInt8]
    /// The block's CID (v1, stored codec), nil when the key is not a valid multihash.
    public var cid: CID?
    public var reason: Reason

    public init(key: [UInt8], cid: CID?, reason: Reason) {
        self.key = key
        self.cid = cid
        self.reason = reason
    }

    public var description: String {
        "\(cid.map { "\($0)" } ?? "key 0x\(Hex.encode(key))"): \(reason)"
    }
}

/// A recursive pin whose DAG is not complete.
public struct IncompletePin: Hashable, Sendable {
    public var root: CID
    /// The first missing block (pre-order), or the block whose links could not be read.
    public var missing: CID
    public var reason: String

    public init(root: CID, missing: CID, reason: String) {
        self.root = root
        self.missing = missing
        self.reason = reason
    }
}

/// The result of `verify()`.
public struct VerifyReport: Hashable, Sendable {
    public var blocksChecked: Int
    public var bytesChecked: Int
    public var badBlocks: [BadBlock]
    public var incompletePins: [IncompletePin]
    /// Problems SQLite's own structure check found (empty when fine, and for memory stores).
    public var integrityErrors: [String]

    /// True when nothing is wrong.
    public var isOK: Bool { badBlocks.isEmpty && incompletePins.isEmpty && integrityErrors.isEmpty }

    public init(
        blocksChecked: Int, bytesChecked: Int, badBlocks: [BadBlock], incompletePins: [IncompletePin],
        integrityErrors: [String]
    ) {
        self.blocksChecked = blocksChecked
        self.bytesChecked = bytesChecked
        self.badBlocks = badBlocks
        self.incompletePins = incompletePins
        self.integrityErrors = integrityErrors
    }
}

/// Counts and sizes of a store.
public struct StoreStat: Hashable, Sendable {
    public var blockCount: Int
    /// Sum of the stored block sizes.
    public var totalBytes: Int
    /// Bytes on disk (database and journal files); 0 for memory stores.
    public var fileBytes: Int
    public var recursivePins: Int
    public var directPins: Int

    public init(blockCount: Int, totalBytes: Int, fileBytes: Int, recursivePins: Int, directPins: Int) {
        self.blockCount = blockCount
        self.totalBytes = totalBytes
        self.fileBytes = fileBytes
        self.recursivePins = recursivePins
        self.directPins = directPins
    }
}
