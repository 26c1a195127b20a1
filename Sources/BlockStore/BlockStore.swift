import IPLD
import Multiformats

/// A store of blocks keyed by multihash: a CIDv0 and a CIDv1 (any codec) of the same bytes share
/// storage. Implementations are thread-safe. `get` returns the block under the CID asked for.
public protocol BlockStore: BlockSource {
    /// Stores a block (no-op if present). The store trusts the CID: verify before putting
    /// anything that came from outside (`Block(verifying:data:)`).
    func put(_ block: Block) throws
    /// Stores many blocks in one transaction: all or none are stored.
    func putMany(_ blocks: [Block]) throws
    /// The bytes stored under the CID's multihash, or nil.
    func get(_ cid: CID) throws -> Block?
    func has(_ cid: CID) throws -> Bool
    /// Size in bytes of the stored block, or nil if absent.
    func size(of cid: CID) throws -> Int?
    /// Removes the block (no-op if absent). Pins are not checked here: see `PinStore`/GC.
    func delete(_ cid: CID) throws
    /// Every stored multihash (for GC and verify); order unspecified.
    func allMultihashes() throws -> [Multihash]
}

extension BlockStore {
    public func block(for cid: CID) throws -> Block? { try get(cid) }
}
