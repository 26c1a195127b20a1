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
    /// raw blocks are never needed.
    /// - Throws: `SyncError.undecodable` for a present block that cannot be read as what it claims.
    func missing(tree root: CID, lazyData: Bool, limit: Int = 256) throws(SyncError) -> [CID] {
        var missing: [CID] = []
        var stack = [root]
        var seen: Set<CID> = []
        while let cid = stack.popLast(), missing.count < limit {
            guard seen.insert(cid).inserted, cid.multihash.function != .identity else { continue }
            if cid.codec == .raw {
                if !lazyData, try !has(cid) { missing.append(cid) }
                continue
            }
            guard let block = try get(cid) else {
                missing.append(cid)
                continue
            }
            if cid.codec == .dagPB && lazyData {
                let node: PBNode
                let kind: UnixFSData.DataType
                do {
                    node = try PBNode(decoding: block.data)
                    kind = try UnixFSData(decoding: node.data ?? []).type
                } catch {
                    throw .undecodable(cid: cid, reason: "not a UnixFS node: \(error)")
                }
                // A file's root block is enough to list it; its chunks are data.
                guard kind == .directory || kind == .hamtShard else { continue }
                stack.append(contentsOf: node.links.map(\.hash).reversed())
                continue
            }
            do {
                stack.append(contentsOf: try IPLDCodecs.links(in: block).reversed())
            } catch {
                throw .undecodable(cid: cid, reason: "\(error)")
            }
        }
        return missing
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
