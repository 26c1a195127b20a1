import IPLD
import Multiformats
import UnixFS

/// How a three-way merge treats a path both sides changed differently.
public enum MergeStrategy: String, Hashable, Sendable, CaseIterable {
    /// List the conflicts and produce nothing.
    case fail
    /// Keep our side at every conflicting path.
    case ours
    /// Take their side at every conflicting path.
    case theirs
}

/// A path both sides changed differently (or one side changed a path the other changed inside of).
public struct MergeConflict: Hashable, Sendable {
    public let path: String
    /// The entry at `path` in the merge base, ours and theirs (nil: absent).
    public let base: CID?
    public let ours: CID?
    public let theirs: CID?

    public init(path: String, base: CID?, ours: CID?, theirs: CID?) {
        self.path = path
        self.base = base
        self.ours = ours
        self.theirs = theirs
    }
}

/// The outcome of a three-way tree merge.
public struct MergeResult: Sendable {
    /// The merged tree; nil when the strategy is `.fail` and there are conflicts.
    public let tree: TreeRoot?
    /// Every conflict found (resolved by the strategy unless it is `.fail`).
    public let conflicts: [MergeConflict]
    /// Their changes applied on top of ours.
    public let applied: [TreeChange]
}

/// Merge base search and three-way merge of UnixFS trees on paths.
public enum Merge {
    /// The merge base of commits `a` and `b`: the first commit reached from `b`, breadth first, that
    /// is also an ancestor of `a` (commits count as their own ancestors); nil when they share no
    /// history. `parents` returns a commit's parents.
    public static func mergeBase<E: Error>(
        _ a: CID, _ b: CID, parents: (CID) throws(E) -> [CID]
    ) throws(E) -> CID? {
        var ancestors: Set<CID> = [a]
        var queue = [a]
        var head = 0
        while head < queue.count {
            let commit = queue[head]
            head += 1
            for parent in try parents(commit) where ancestors.insert(parent).inserted { queue.append(parent) }
        }
        var seen: Set<CID> = [b]
        queue = [b]
        head = 0
        while head < queue.count {
            let commit = queue[head]
            head += 1
            if ancestors.contains(commit) { return commit }
            for parent in try parents(commit) where seen.insert(parent).inserted { queue.append(parent) }
        }
        return nil
    }

    /// Merges tree `theirs` into tree `ours` against their common `base`: every path their side
    /// changed and ours did not is applied to ours (with `TreeEditor`, writing the new directories
    /// to `sink`); a path both changed to different results — or where one side changed an
    /// ancestor or descendant of the other's change — is a conflict, settled by `strategy`.
    /// With `.fail` and conflicts nothing is written.
    /// - Parameter options: the import options the trees were made with.
    public static func mergeTrees(
        base: CID, ours: CID, theirs: CID, strategy: MergeStrategy, source: any BlockSource,
        options: ImportOptions, sink: (any BlockSink)?
    ) throws(TreeError) -> MergeResult {
        let reader = TreeReader(source: source)
        if ours == theirs || base == theirs {
            return MergeResult(tree: try root(ours, reader), conflicts: [], applied: [])
        }
        let differ = TreeDiff(source: source)
        let theirChanges = try differ.diff(old: base, new: theirs)
        if base == ours {
            return MergeResult(tree: try root(theirs, reader), conflicts: [], applied: theirChanges)
        }
        let ourChanges = try differ.diff(old: base, new: ours)
        var ourPaths: [String: TreeChange] = [:]
        var ourAncestors: Set<String> = []
        for change in ourChanges {
            ourPaths[change.path] = change
            for prefix in prefixes(change.path) { ourAncestors.insert(prefix) }
        }
        var edits: [TreeEdit] = []
        var applied: [TreeChange] = []
        var conflicts: [MergeConflict] = []
        for change in theirChanges {
            if let mine = ourPaths[change.path] {
                if mine.newCID == change.newCID { continue }
                conflicts.append(MergeConflict(path: change.path, base: change.oldCID, ours: mine.newCID, theirs: change.newCID))
                if strategy == .theirs {
                    edits.append(edit(change.path, to: change.newCID.map { ($0, change.newTsize ?? 0) }))
                }
                continue
            }
            let ancestor = prefixes(change.path).first { ourPaths[$0] != nil }
            if ancestor != nil || ourAncestors.contains(change.path) {
                let mine = try lookup(change.path, in: ours, reader)
                conflicts.append(MergeConflict(path: change.path, base: change.oldCID, ours: mine?.cid, theirs: change.newCID))
                guard strategy == .theirs else { continue }
                if let ancestor {
                    // Their whole subtree at the ancestor ours changed.
                    let value = try lookup(ancestor, in: theirs, reader)
                    let present = try lookup(ancestor, in: ours, reader)
                    if value != nil || present != nil {
                        edits.append(edit(ancestor, to: value.map { ($0.cid, $0.tsize ?? 0) }))
                    }
                } else if change.newCID != nil || mine != nil {
                    edits.append(edit(change.path, to: change.newCID.map { ($0, change.newTsize ?? 0) }))
                }
                continue
            }
            applied.append(change)
            edits.append(edit(change.path, to: change.newCID.map { ($0, change.newTsize ?? 0) }))
        }
        if strategy == .fail && !conflicts.isEmpty {
            return MergeResult(tree: nil, conflicts: conflicts, applied: [])
        }
        let editor = try TreeEditor(source: source, options: options, sink: sink)
        let tree = try editor.apply(edits, to: ours)
        return MergeResult(tree: tree, conflicts: conflicts, applied: applied)
    }

    private static func edit(_ path: String, to value: (CID, UInt64)?) -> TreeEdit {
        if let value { return .set(path: path, cid: value.0, tsize: value.1) }
        return .remove(path: path)
    }

    /// Proper ancestors of a path: "a/b/c" → ["a", "a/b"].
    static func prefixes(_ path: String) -> [String] {
        var out: [String] = []
        var current = ""
        let parts = path.split(separator: "/")
        for part in parts.dropLast() {
            current = treeJoin(current, String(part))
            out.append(current)
        }
        return out
    }

    private static func root(_ cid: CID, _ reader: TreeReader) throws(TreeError) -> TreeRoot {
        let node = try reader.node(cid, path: "")
        let size = node.links.reduce(UInt64(node.blockSize)) { $0 &+ ($1.tsize ?? 0) }
        return TreeRoot(cid: cid, size: size)
    }

    /// The link at `path` in the tree `root`, nil when absent (or below a file).
    static func lookup(_ path: String, in root: CID, _ reader: TreeReader) throws(TreeError) -> TreeLink? {
        var current = TreeLink(cid: root, tsize: nil)
        var walked = ""
        for name in try TreeEditor.components(path) {
            let node = try reader.node(current.cid, path: walked)
            guard node.kind == .directory else { return nil }
            guard let next = try reader.entries(node, path: walked)[name] else { return nil }
            current = next
            walked = treeJoin(walked, name)
        }
        return current
    }
}
