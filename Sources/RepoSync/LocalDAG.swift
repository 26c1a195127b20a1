import BlockStore
import IPLD
import Multiformats
import UnixFS
import Versioning

/// What the local store holds of a commit's tree: the check made before a remote-tracking ref
/// moves ("the whole DAG of its new head is local"), and the frontier a history-only fetch asks
/// for next. Reads the store only; blocking (SQLite), so callers run it on the blocking pool.
struct LocalDAG: Sendable {
    let store: any BlockStore

    /// Blocks of the tree `root` that are missing locally and whose parents are present (the
    /// fetch frontier), at most `limit`. With `lazyData`, only directories (and HAMT shards) and
    /// the root blocks of large files count: file data may be absent (a history-only clone), and
    /// raw blocks are never needed. `base` is a tree known to be whole locally (the parent
    /// commit's): entries whose CID equals the entry of the same name in it are not walked, so
    /// the check costs what changed, not the size of the tree.
    /// - Throws: `SyncError.undecodable` for a present block that cannot be read as what it claims.
    func missing(tree root: CID, base: CID? = nil, lazyData: Bool, limit: Int = 256) throws(SyncError) -> [CID] {
        var missing: [CID] = []
        var stack: [(cid: CID, base: CID?)] = [(root, base)]
        var seen: Set<CID> = []
        while let (cid, base) = stack.popLast(), missing.count < limit {
            guard cid != base, seen.insert(cid).inserted, cid.multihash.function != .identity else { continue }
            if cid.codec == .raw {
                if !lazyData, try !has(cid) { missing.append(cid) }
                continue
            }
            guard let block = try get(cid) else {
                missing.append(cid)
                continue
            }
            if cid.codec == .dagPB {
                let node = try Self.unixfs(block)
                if node.isDirectory {
                    let baseEntries = try base.flatMap { b throws(SyncError) in try entries(b) } ?? [:]
                    for link in node.links.reversed() { stack.append((link.hash, link.name.flatMap { baseEntries[$0] })) }
                    continue
                }
                // A file's root block is enough to list it; its chunks are data.
                if lazyData { continue }
            }
            do {
                stack.append(contentsOf: try IPLDCodecs.links(in: block).reversed().map { ($0, nil) })
            } catch {
                throw .undecodable(cid: cid, reason: "\(error)")
            }
        }
        return missing
    }

    /// The entries of a local UnixFS directory or HAMT shard block, by link name (nil: not a
    /// directory, or not local).
    func entries(_ cid: CID) throws(SyncError) -> [String: CID]? {
        guard cid.codec == .dagPB, let block = try get(cid) else { return nil }
        let node = try Self.unixfs(block)
        guard node.isDirectory else { return nil }
        var out: [String: CID] = [:]
        for link in node.links { out[link.name ?? ""] = link.hash }
        return out
    }

    /// A dag-pb block's links and whether it is a directory (or HAMT shard).
    static func unixfs(_ block: Block) throws(SyncError) -> (links: [PBLink], isDirectory: Bool) {
        do {
            let node = try PBNode(decoding: block.data)
            let kind = try UnixFSData(decoding: node.data ?? []).type
            return (node.links, kind == .directory || kind == .hamtShard)
        } catch {
            throw .undecodable(cid: block.cid, reason: "not a UnixFS node: \(error)")
        }
    }

    /// The commit `cid` if its block is local.
    func commit(_ cid: CID) throws(SyncError) -> Commit? {
        guard let block = try get(cid) else { return nil }
        do {
            return try Commit(block: block)
        } catch {
            throw .versioning(error)
        }
    }

    /// Every commit reachable from `heads` whose block is local (a shallow history ends where
    /// blocks are missing).
    func ancestors(of heads: [CID]) throws(SyncError) -> Set<CID> {
        var seen: Set<CID> = []
        var stack = heads
        while let cid = stack.popLast() {
            guard !seen.contains(cid), let commit = try commit(cid) else { continue }
            seen.insert(cid)
            stack.append(contentsOf: commit.parents)
        }
        return seen
    }

    private func has(_ cid: CID) throws(SyncError) -> Bool {
        do { return try store.has(cid) } catch { throw .blockStore(operation: "check \(cid)", reason: "\(error)") }
    }

    private func get(_ cid: CID) throws(SyncError) -> Block? {
        do { return try store.get(cid) } catch { throw .blockStore(operation: "read \(cid)", reason: "\(error)") }
    }
}
