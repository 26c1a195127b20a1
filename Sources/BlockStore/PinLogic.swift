import IPLD
import Multiformats

/// A direct or recursive pin as stored.
struct PinRecord: Equatable, Sendable {
    var recursive: Bool
    var name: String?
}

/// What the pin, GC and verify algorithms need from a store. Every call of one algorithm runs
/// inside one transaction (SQLite) or under one lock (memory), so the view is consistent.
protocol PinBackend {
    /// The CIDs `cid` links to, nil when the block is not stored. Identity CIDs are never missing.
    func links(of cid: CID) throws(BlockStoreError) -> [CID]?
    /// Whether the block is stored (identity CIDs always are).
    func contains(_ cid: CID) throws(BlockStoreError) -> Bool
    func pinRecord(_ cid: CID) throws(BlockStoreError) -> PinRecord?
    func setPin(_ cid: CID, _ record: PinRecord) throws(BlockStoreError)
    func removePin(_ cid: CID) throws(BlockStoreError)
    /// Every direct and recursive pin, ordered by CID bytes.
    func pinRecords() throws(BlockStoreError) -> [(cid: CID, record: PinRecord)]
}

/// Link extraction for every codec the IPLD module knows.
enum LinkExtraction {
    static func links(of cid: CID, data: [UInt8]) throws(BlockStoreError) -> [CID] {
        if cid.codec == .raw { return [] }
        do {
            return try IPLDCodecs.links(in: data, codec: cid.codec, cid: cid)
        } catch {
            throw .unreadableLinks(cid: cid, reason: "\(error)")
        }
    }

    /// The links of an identity-hashed CID: its bytes are the digest.
    static func inlineLinks(of cid: CID) throws(BlockStoreError) -> [CID] {
        try links(of: cid, data: cid.multihash.digest)
    }
}

extension CID {
    /// The key walks deduplicate on: codec and multihash (a v0 CID and its v1 form are one block).
    var walkKey: CID { version == .v0 ? toV1() : self }

    var isIdentity: Bool { multihash.code == HashFunction.identity.rawValue }
}

/// Pre-order DAG traversal (links in block order), each block visited once.
struct DAGWalker<Backend: PinBackend> {
    let backend: Backend
    /// Visited blocks (`walkKey`), shared across the walks of one walker.
    private(set) var seen: Set<CID> = []

    init(backend: Backend) {
        self.backend = backend
    }

    /// Walks `root`'s DAG. `onMissing` is called for every block not stored (throw to stop);
    /// `visit` for every stored block and returns false to stop the walk early.
    /// - Returns: false when `visit` stopped the walk.
    @discardableResult
    mutating func walk(
        _ root: CID,
        onMissing: (CID) throws(BlockStoreError) -> Void,
        visit: (CID) throws(BlockStoreError) -> Bool = { _ in true }
    ) throws(BlockStoreError) -> Bool {
        var stack = [root]
        while let cid = stack.popLast() {
            guard seen.insert(cid.walkKey).inserted else { continue }
            guard let links = try backend.links(of: cid) else {
                try onMissing(cid)
                continue
            }
            guard try visit(cid) else { return false }
            stack.append(contentsOf: links.reversed())
        }
        return true
    }
}

/// The pin and GC algorithms, written once for every store.
enum PinLogic {
    static func pin<B: PinBackend>(
        _ cid: CID, recursive: Bool, name: String?, in backend: B
    ) throws(BlockStoreError) {
        let existing = try backend.pinRecord(cid)
        let newName = name ?? existing?.name
        if recursive {
            if let existing, existing.recursive {
                if existing.name != newName { try backend.setPin(cid, PinRecord(recursive: true, name: newName)) }
                return
            }
            var walker = DAGWalker(backend: backend)
            try walker.walk(cid) { (missing: CID) throws(BlockStoreError) in
                throw .incompleteDAG(root: cid, missing: missing)
            }
            try backend.setPin(cid, PinRecord(recursive: true, name: newName))
        } else {
            if let existing, existing.recursive { throw .alreadyPinnedRecursively(cid) }
            guard try backend.contains(cid) else { throw .incompleteDAG(root: cid, missing: cid) }
            if existing != PinRecord(recursive: false, name: newName) {
                try backend.setPin(cid, PinRecord(recursive: false, name: newName))
            }
        }
    }

    /// The pin record of `cid`, or of the same block pinned under its other CID version
    /// (a CIDv0 pin found by its CIDv1 and back).
    private static func record<B: PinBackend>(
        of cid: CID, in backend: B
    ) throws(BlockStoreError) -> (cid: CID, record: PinRecord)? {
        if let record = try backend.pinRecord(cid) { return (cid, record) }
        guard cid.codec == .dagPB else { return nil }
        let key = cid.walkKey
        return try backend.pinRecords().first { $0.cid.walkKey == key }
    }

    static func unpin<B: PinBackend>(_ cid: CID, recursive: Bool, in backend: B) throws(BlockStoreError) {
        guard let found = try record(of: cid, in: backend) else { throw .notPinned(cid) }
        if found.record.recursive && !recursive { throw .pinnedRecursively(cid) }
        try backend.removePin(found.cid)
    }

    static func pins<B: PinBackend>(type: PinType, in backend: B) throws(BlockStoreError) -> [Pin] {
        let records = try backend.pinRecords()
        var result: [Pin] = []
        if type == .recursive || type == .all {
            result += records.filter { $0.record.recursive }.map { Pin(cid: $0.cid, kind: .recursive, name: $0.record.name) }
        }
        if type == .direct || type == .all {
            result += records.filter { !$0.record.recursive }.map { Pin(cid: $0.cid, kind: .direct, name: $0.record.name) }
        }
        if type == .indirect || type == .all {
            // Roots (and, for .all, direct pins) are listed under their own kind, not again.
            var listed = Set(records.filter { $0.record.recursive || type == .all }.map { $0.cid.walkKey })
            var walker = DAGWalker(backend: backend)
            for (root, record) in records where record.recursive {
                try walker.walk(root) { _ in } visit: { cid in
                    if listed.insert(cid.walkKey).inserted { result.append(Pin(cid: cid, kind: .indirect)) }
                    return true
                }
            }
        }
        return result
    }

    static func status<B: PinBackend>(_ cid: CID, in backend: B) throws(BlockStoreError) -> PinStatus? {
        if let found = try record(of: cid, in: backend) {
            return found.record.recursive ? .recursive(name: found.record.name) : .direct(name: found.record.name)
        }
        let target = cid.walkKey
        var walker = DAGWalker(backend: backend)
        for (root, record) in try backend.pinRecords() where record.recursive {
            var found = false
            try walker.walk(root) { _ in } visit: { visited in
                found = visited.walkKey == target
                return !found
            }
            if found { return .indirect(through: root) }
        }
        return nil
    }

    /// The multihashes GC keeps: recursive pins' DAGs (must be complete), direct pins, and the
    /// stored part of the provider roots' DAGs.
    static func mark<B: PinBackend>(providerRoots: [CID], in backend: B) throws(BlockStoreError) -> Set<Multihash> {
        var walker = DAGWalker(backend: backend)
        var keep: Set<Multihash> = []
        for (cid, record) in try backend.pinRecords() {
            if record.recursive {
                try walker.walk(cid) { (missing: CID) throws(BlockStoreError) in
                    throw .incompleteDAG(root: cid, missing: missing)
                }
            } else {
                keep.insert(cid.multihash)
            }
        }
        for root in providerRoots {
            try walker.walk(root) { _ in }
        }
        for cid in walker.seen { keep.insert(cid.multihash) }
        return keep
    }

    /// Recursive pins whose DAG is incomplete or unreadable.
    static func incompletePins<B: PinBackend>(in backend: B) throws(BlockStoreError) -> [IncompletePin] {
        var problems: [IncompletePin] = []
        for (root, record) in try backend.pinRecords() where record.recursive {
            // A fresh walker per pin so every pin's first missing block is reported.
            var walker = DAGWalker(backend: backend)
            do throws(BlockStoreError) {
                try walker.walk(root) { (missing: CID) throws(BlockStoreError) in
                    throw .incompleteDAG(root: root, missing: missing)
                }
            } catch {
                switch error {
                case let .incompleteDAG(_, missing):
                    problems.append(IncompletePin(root: root, missing: missing, reason: "block not in the store"))
                case let .unreadableLinks(cid, reason):
                    problems.append(IncompletePin(root: root, missing: cid, reason: "cannot read links: \(reason)"))
                default:
                    throw error
                }
            }
        }
        return problems
    }

    /// Checks one block's bytes against its key.
    static func check(key: [UInt8], codec: Multicodec, recordedSize: Int, data: [UInt8]) -> BadBlock? {
        let multihash: Multihash
        do {
            multihash = try Multihash(bytes: key)
        } catch {
            return BadBlock(key: key, cid: nil, reason: .invalidKey("\(error)"))
        }
        let cid = try? CID(version: .v1, codec: codec, multihash: multihash)
        if recordedSize != data.count {
            return BadBlock(key: key, cid: cid, reason: .sizeMismatch(recorded: recordedSize, actual: data.count))
        }
        guard multihash.function.isSupported else {
            return BadBlock(key: key, cid: cid, reason: .unsupportedHash(multihash.function))
        }
        guard multihash.verifies(data) else {
            return BadBlock(key: key, cid: cid, reason: .hashMismatch)
        }
        return nil
    }
}
