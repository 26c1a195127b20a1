import BlockStore
import Foundation
import IPLD
import Multiformats
import UnixFS

/// The outcome of `VersionStore.merge`.
public struct MergeOutcome: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        /// The branch already contained the other side: nothing changed.
        case upToDate = "up-to-date"
        /// The branch moved forward to the other side's commit.
        case fastForward = "fast-forward"
        /// A merge commit with two parents was made.
        case merged
        /// `.fail` strategy with conflicts: nothing changed.
        case conflicts
    }

    public var kind: Kind
    /// The branch head after the merge (unchanged for `.upToDate` and `.conflicts`).
    public var head: CID
    public var base: CID?
    public var conflicts: [MergeConflict]
    public var changes: [TreeChange]
}

extension VersionStore {
    /// Merges `from` into `branch` (default: the repository's default branch): fast-forward when
    /// possible, else a three-way merge of the trees on paths against the merge base, committed
    /// with both heads as parents. With `.fail`, conflicts are returned and nothing changes; the
    /// branch moves by compare-and-swap, so a concurrent commit makes the merge fail, not lose it.
    /// `signer` signs the merge commit (a fast-forward makes no commit, so nothing is signed).
    public func merge(
        _ repo: String, from: RefExpression, into branch: String? = nil, strategy: MergeStrategy,
        message: String? = nil, author: Person, signer: (any CommitSigner)? = nil
    ) throws(VersioningError) -> MergeOutcome {
        let record = try refs.repository(repo)
        let branchName = branch ?? record.defaultBranch
        guard let head = try refs.branch(repo, branchName) else { throw .branchNotFound(repo: repo, branch: branchName) }
        guard let ours = head.target else { throw .emptyBranch(repo: repo, branch: branchName) }
        let theirs = try resolve(repo, from)
        let parents = { (cid: CID) throws(VersioningError) -> [CID] in try self.commit(cid).parents }
        let base = try Merge.mergeBase(ours, theirs, parents: parents)
        if base == theirs {
            return MergeOutcome(kind: .upToDate, head: ours, base: base, conflicts: [], changes: [])
        }
        if base == ours {
            try refs.updateBranch(repo, branchName, expected: ours, new: theirs, message: "merge \(from): fast-forward")
            return MergeOutcome(kind: .fastForward, head: theirs, base: base, conflicts: [], changes: [])
        }
        let oursCommit = try commit(ours)
        let theirsCommit = try commit(theirs)
        let lease = blocks.gcLease()
        defer { lease.release() }
        let sink = BatchingBlockSink(store: blocks)
        let result: MergeResult
        do {
            let baseTree = try base.map { cid throws(VersioningError) in try commit(cid).tree }
                ?? emptyTreeForMerge(sink: sink)
            result = try Merge.mergeTrees(
                base: baseTree, ours: oursCommit.tree, theirs: theirsCommit.tree, strategy: strategy,
                source: blocks, options: importOptions, sink: sink)
            try sink.flush()
        } catch let error as VersioningError {
            throw error
        } catch {
            throw .treeEdit(path: "", reason: "\(error)")
        }
        guard let tree = result.tree else {
            return MergeOutcome(kind: .conflicts, head: ours, base: base, conflicts: result.conflicts, changes: [])
        }
        let now = Date()
        var merged = Commit(
            tree: tree.cid, parents: [ours, theirs], author: author, committer: author,
            time: Int64(now.timeIntervalSince1970.rounded(.down)),
            timezoneOffsetMinutes: TimeZone.current.secondsFromGMT(for: now) / 60,
            message: message ?? "Merge \(from) into \(branchName)", lineage: Lineage())
        if let signer { merged = try merged.signed(by: signer) }
        let block = try merged.block()
        do {
            try blocks.put(block)
        } catch {
            throw .blockStore(operation: "store merge commit", reason: "\(error)")
        }
        try refs.updateBranch(repo, branchName, expected: ours, new: block.cid, message: "merge \(from) (\(strategy))")
        return MergeOutcome(kind: .merged, head: block.cid, base: base, conflicts: result.conflicts, changes: result.applied)
    }

    /// An empty UnixFS directory, for histories without a common ancestor.
    private func emptyTreeForMerge(sink: any BlockSink) throws -> CID {
        let importer = try Importer(options: importOptions, sink: sink, collectEntries: false)
        return try importer.add(tree: .directory(name: "root", children: [])).root.cid
    }
}
