import BlockingPool
import IPLD
import Multiformats

/// An in-memory `PinStore` for tests and scratch work: same semantics as `SQLiteBlockStore`
/// (keyed by multihash, identity CIDs answered inline, pins, GC, verify), nothing on disk.
public final class MemoryBlockStore: PinStore {
    private let state = Locked(MemoryState())
    private let coordinator = GCCoordinator()

    public init() {}

    /// A store holding `blocks`.
    public convenience init(_ blocks: [Block]) {
        self.init()
        putAll(blocks)
    }

    private func putAll(_ blocks: [Block]) {
        state.withLock { state in
            for block in blocks where !block.cid.isIdentity {
                state.insert(block)
            }
        }
    }

    // MARK: BlockStore

    public func put(_ block: Block) throws(BlockStoreError) {
        putAll([block])
    }

    public func putMany(_ blocks: [Block]) throws(BlockStoreError) {
        putAll(blocks)
    }

    public func get(_ cid: CID) throws(BlockStoreError) -> Block? {
        if cid.isIdentity { return Block(cid: cid, data: cid.multihash.digest) }
        return state.withLock { state in
            state.blocks[cid.multihash].map { Block(cid: cid, data: $0.data) }
        }
    }

    public func has(_ cid: CID) throws(BlockStoreError) -> Bool {
        if cid.isIdentity { return true }
        return state.withLock { $0.blocks[cid.multihash] != nil }
    }

    public func size(of cid: CID) throws(BlockStoreError) -> Int? {
        if cid.isIdentity { return cid.multihash.digest.count }
        return state.withLock { $0.blocks[cid.multihash]?.data.count }
    }

    public func delete(_ cid: CID) throws(BlockStoreError) {
        state.withLock { _ = $0.blocks.removeValue(forKey: cid.multihash) }
    }

    public func allMultihashes() throws(BlockStoreError) -> [Multihash] {
        state.withLock { Array($0.blocks.keys) }
    }

    // MARK: PinStore

    public func pin(_ cid: CID, recursive: Bool, name: String?) throws(BlockStoreError) {
        try state.withLock { (state: inout MemoryState) throws(BlockStoreError) in
            let backend = MemoryBackend(state: state)
            try PinLogic.pin(cid, recursive: recursive, name: name, in: backend)
            state = backend.state
        }
    }

    public func unpin(_ cid: CID, recursive: Bool) throws(BlockStoreError) {
        try state.withLock { (state: inout MemoryState) throws(BlockStoreError) in
            let backend = MemoryBackend(state: state)
            try PinLogic.unpin(cid, recursive: recursive, in: backend)
            state = backend.state
        }
    }

    public func pins(type: PinType) throws(BlockStoreError) -> [Pin] {
        try state.withLock { (state: inout MemoryState) throws(BlockStoreError) in
            try PinLogic.pins(type: type, in: MemoryBackend(state: state))
        }
    }

    public func removeUnpinned(_ cid: CID) throws(BlockStoreError) {
        try state.withLock { (state: inout MemoryState) throws(BlockStoreError) in
            if let status = try PinLogic.status(cid, in: MemoryBackend(state: state)) {
                throw .blockIsPinned(cid, status)
            }
            state.blocks[cid.multihash] = nil
        }
    }

    public func pinStatus(_ cid: CID) throws(BlockStoreError) -> PinStatus? {
        try state.withLock { (state: inout MemoryState) throws(BlockStoreError) in
            try PinLogic.status(cid, in: MemoryBackend(state: state))
        }
    }

    @discardableResult
    public func registerGCRootProvider(_ provider: any GCRootProvider) -> GCRootProviderToken {
        coordinator.register(provider)
    }

    public func unregisterGCRootProvider(_ token: GCRootProviderToken) {
        coordinator.unregister(token)
    }

    public func gcLease() -> GCLease {
        coordinator.lease()
    }

    public func collectGarbage(progress: (@Sendable (GCProgress) -> Void)?) throws(BlockStoreError) -> GCResult {
        try coordinator.collect { (roots: [CID]) throws(BlockStoreError) -> GCResult in
            try state.withLock { (state: inout MemoryState) throws(BlockStoreError) -> GCResult in
                progress?(GCProgress(phase: .marking, done: 0, total: nil))
                let keep = try PinLogic.mark(providerRoots: roots, in: MemoryBackend(state: state))
                progress?(GCProgress(phase: .sweeping, done: state.blocks.count, total: state.blocks.count))
                var removed: [CID] = []
                var bytes = 0
                for (multihash, entry) in state.blocks where !keep.contains(multihash) {
                    state.blocks[multihash] = nil
                    bytes += entry.data.count
                    if let cid = try? CID(version: .v1, codec: entry.codec, multihash: multihash) { removed.append(cid) }
                }
                return GCResult(removed: removed.sorted(), removedBytes: bytes)
            }
        }
    }

    public func verify() throws(BlockStoreError) -> VerifyReport {
        try state.withLock { (state: inout MemoryState) throws(BlockStoreError) -> VerifyReport in
            var bad: [BadBlock] = []
            var bytes = 0
            for (multihash, entry) in state.blocks {
                bytes += entry.data.count
                if let problem = PinLogic.check(
                    key: multihash.bytes, codec: entry.codec, recordedSize: entry.data.count, data: entry.data)
                {
                    bad.append(problem)
                }
            }
            let incomplete = try PinLogic.incompletePins(in: MemoryBackend(state: state))
            return VerifyReport(
                blocksChecked: state.blocks.count, bytesChecked: bytes, badBlocks: bad, incompletePins: incomplete,
                integrityErrors: [])
        }
    }

    public func stat() throws(BlockStoreError) -> StoreStat {
        state.withLock { state in
            StoreStat(
                blockCount: state.blocks.count, totalBytes: state.blocks.values.reduce(0) { $0 + $1.data.count },
                fileBytes: 0, recursivePins: state.pins.values.filter(\.recursive).count,
                directPins: state.pins.values.filter { !$0.recursive }.count)
        }
    }
}

/// The contents of a memory store.
struct MemoryState {
    struct Entry {
        var codec: Multicodec
        var data: [UInt8]
    }

    var blocks: [Multihash: Entry] = [:]
    var pins: [CID: PinRecord] = [:]

    mutating func insert(_ block: Block) {
        if blocks[block.cid.multihash] == nil {
            blocks[block.cid.multihash] = Entry(codec: block.cid.codec, data: block.data)
        }
    }
}

/// `PinBackend` over a copy of the state; the caller writes `state` back on success, so a
/// failed operation changes nothing.
final class MemoryBackend: PinBackend {
    var state: MemoryState

    init(state: MemoryState) {
        self.state = state
    }

    func links(of cid: CID) throws(BlockStoreError) -> [CID]? {
        if cid.isIdentity { return try LinkExtraction.inlineLinks(of: cid) }
        guard let entry = state.blocks[cid.multihash] else { return nil }
        return try LinkExtraction.links(of: cid, data: entry.data)
    }

    func contains(_ cid: CID) throws(BlockStoreError) -> Bool {
        cid.isIdentity || state.blocks[cid.multihash] != nil
    }

    func pinRecord(_ cid: CID) throws(BlockStoreError) -> PinRecord? { state.pins[cid] }

    func setPin(_ cid: CID, _ record: PinRecord) throws(BlockStoreError) { state.pins[cid] = record }

    func removePin(_ cid: CID) throws(BlockStoreError) { state.pins[cid] = nil }

    func pinRecords() throws(BlockStoreError) -> [(cid: CID, record: PinRecord)] {
        state.pins.sorted { $0.key < $1.key }.map { (cid: $0.key, record: $0.value) }
    }
}
