import BlockStore
import Foundation
import IPLD
import Multiformats
import UnixFS

/// A repository with its branches and tags (`repo show`).
public struct RepositoryInfo: Hashable, Sendable {
    public var record: RepositoryRecord
    public var branches: [RefEntry]
    public var tags: [RefEntry]
}

/// A commit and its CID.
public struct CommitEntry: Hashable, Sendable {
    public var cid: CID
    public var commit: Commit

    public init(cid: CID, commit: Commit) {
        self.cid = cid
        self.commit = commit
    }
}

/// A commit with what it changed against its first parent (`show`).
public struct CommitDetails: Hashable, Sendable {
    public var cid: CID
    public var commit: Commit
    /// Changes from the first parent's tree (from an empty tree for a first commit), by path.
    public var changes: [TreeChange]
}

/// One step of a lineage chain (`lineage REF`).
public struct LineageNode: Hashable, Sendable {
    public var cid: CID
    /// The input's commit, nil when the input is not a stored commit (plain data, or not here).
    public var commit: Commit?
    /// 0 for the commit asked about, 1 for its inputs, and so on.
    public var depth: Int
    /// The node whose lineage lists this one (nil for the start).
    public var inputOf: CID?
}

/// The outcome of `VersionStore.commit`.
public struct CommitResult: Hashable, Sendable {
    public var cid: CID
    public var commit: Commit
    /// The branch head before the commit (nil for a branch's first commit).
    public var previous: CID?
}

/// The versioning facade: repositories, branches, tags, commits, log and heads documents over a
/// `PinStore` (objects) and a `RefStore` (refs). It registers the ref store as a GC root
/// provider for its lifetime, so nothing reachable from a ref is collected.
public final class VersionStore: Sendable {
    public let blocks: any PinStore
    public let refs: RefStore
    /// How directories are imported into trees.
    public let importOptions: ImportOptions

    /// `unixfs-v1-2025` (CIDv1, raw leaves, 1 MiB chunks, HAMT above 256 KiB) with hidden files
    /// included, as `TreeDiff`'s folder comparison hashes them.
    public static let defaultImportOptions: ImportOptions = {
        var options = ImportOptions.unixfsV1_2025
        options.includeHidden = true
        return options
    }()
    private let clock: @Sendable () -> Date
    private let timeZone: TimeZone
    private let token: GCRootProviderToken

    public init(
        blocks: any PinStore, refs: RefStore, importOptions: ImportOptions = VersionStore.defaultImportOptions,
        clock: @escaping @Sendable () -> Date = { Date() }, timeZone: TimeZone = .current
    ) {
        self.blocks = blocks
        self.refs = refs
        self.importOptions = importOptions
        self.clock = clock
        self.timeZone = timeZone
        token = blocks.registerGCRootProvider(refs)
    }

    deinit { blocks.unregisterGCRootProvider(token) }

    // MARK: - Repositories

    /// Creates a repository with an empty default branch.
    @discardableResult
    public func createRepository(_ name: String, defaultBranch: String = "main") throws(VersioningError) -> RepositoryInfo {
        try refs.createRepository(name, defaultBranch: defaultBranch)
        return try repository(name)
    }

    /// Every repository, by name.
    public func repositories() throws(VersioningError) -> [RepositoryRecord] { try refs.repositories() }

    /// A repository with its branches and tags.
    public func repository(_ name: String) throws(VersioningError) -> RepositoryInfo {
        RepositoryInfo(record: try refs.repository(name), branches: try refs.branches(name), tags: try refs.tags(name))
    }

    /// Deletes a repository's refs; its objects become collectable unless referenced elsewhere.
    public func deleteRepository(_ name: String) throws(VersioningError) { try refs.deleteRepository(name) }

    // MARK: - Branches and tags

    /// Creates `name` at `from` (nil: the default branch's head, possibly no commit yet).
    /// - Returns: the commit the branch starts at.
    @discardableResult
    public func createBranch(_ repo: String, _ name: String, from: RefExpression? = nil) throws(VersioningError) -> CID? {
        let target: CID?
        if let from {
            target = try resolve(repo, from)
        } else {
            let record = try refs.repository(repo)
            target = try refs.branch(repo, record.defaultBranch)?.target
        }
        try refs.createBranch(repo, name, target: target, message: "branch: created from \(from?.description ?? "default branch")")
        return target
    }

    public func branches(_ repo: String) throws(VersioningError) -> [RefEntry] { try refs.branches(repo) }

    public func deleteBranch(_ repo: String, _ name: String) throws(VersioningError) { try refs.deleteBranch(repo, name) }

    /// Tags the commit `ref` names (nil: the default branch's head).
    @discardableResult
    public func createTag(_ repo: String, _ name: String, at ref: RefExpression? = nil) throws(VersioningError) -> CID {
        let target = try resolve(repo, ref)
        try refs.createTag(repo, name, target: target, message: "tag: created at \(ref?.description ?? "default branch")")
        return target
    }

    public func tags(_ repo: String) throws(VersioningError) -> [RefEntry] { try refs.tags(repo) }

    public func deleteTag(_ repo: String, _ name: String) throws(VersioningError) { try refs.deleteTag(repo, name) }

    // MARK: - Commits

    /// Snapshots `directory` as the branch's tree (or, with `subpath`, as that subtree of the
    /// branch's current tree) and moves the branch to the new commit with compare-and-swap.
    ///
    /// Blocks are imported under a GC lease that is held until the branch names them.
    /// - Parameters:
    ///   - branch: nil for the default branch.
    ///   - committer: nil: the author.
    ///   - allowEmpty: commit even when the tree equals the parent's.
    ///   - signer: signs the commit (`Commit.signed(by:)`); nil: unsigned.
    /// - Throws: `.nothingToCommit`, `.refConflict` (the branch moved meanwhile), `.notADirectory`,
    ///   `.importFailed`, `.treeEdit`, `.invalidCommit` on `signature` when signing fails.
    @discardableResult
    public func commit(
        _ repo: String, branch: String? = nil, directory: String, message: String, author: Person,
        committer: Person? = nil, subpath: String? = nil, lineage: Lineage = Lineage(), allowEmpty: Bool = false,
        signer: (any CommitSigner)? = nil
    ) throws(VersioningError) -> CommitResult {
        let record = try refs.repository(repo)
        let branchName = branch ?? record.defaultBranch
        guard let head = try refs.branch(repo, branchName) else { throw .branchNotFound(repo: repo, branch: branchName) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .notADirectory(path: directory)
        }
        let parent = try head.target.map { cid throws(VersioningError) in CommitEntry(cid: cid, commit: try commit(cid)) }

        let lease = blocks.gcLease()
        defer { lease.release() }
        let sink = BatchingBlockSink(store: blocks)
        let imported: ImportedEntry
        do {
            let importer = try Importer(options: importOptions, sink: sink, collectEntries: false)
            imported = try importer.add(path: directory).root
            try sink.flush()
        } catch {
            throw .importFailed(path: directory, reason: error.description)
        }
        var tree = imported.cid
        if let subpath {
            tree = try graft(imported, at: subpath, onto: parent?.commit.tree, sink: sink)
        }
        if let parent, parent.commit.tree == tree, !allowEmpty {
            throw .nothingToCommit(repo: repo, branch: branchName)
        }
        let now = clock()
        var newCommit = Commit(
            tree: tree, parents: parent.map { [$0.cid] } ?? [], author: author, committer: committer ?? author,
            time: Int64(now.timeIntervalSince1970.rounded(.down)),
            timezoneOffsetMinutes: timeZone.secondsFromGMT(for: now) / 60, message: message, lineage: lineage)
        if let signer { newCommit = try newCommit.signed(by: signer) }
        let block = try newCommit.block()
        try put(block)
        let summary = message.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        try refs.updateBranch(
            repo, branchName, expected: head.target, new: block.cid,
            message: "\(parent == nil ? "commit (initial)" : "commit"): \(summary)")
        return CommitResult(cid: block.cid, commit: newCommit, previous: head.target)
    }

    /// Links the imported directory at `subpath` of `base` (nil: an empty tree) with `TreeEditor`.
    private func graft(_ imported: ImportedEntry, at subpath: String, onto base: CID?, sink: BatchingBlockSink) throws(VersioningError) -> CID {
        let path = subpath.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        guard !path.isEmpty else { return imported.cid }
        do {
            let baseTree = try base ?? emptyTree(sink: sink)
            let editor = try TreeEditor(source: blocks, options: importOptions, sink: sink)
            let root = try editor.apply([.set(path: path, cid: imported.cid, tsize: imported.size)], to: baseTree)
            try sink.flush()
            return root.cid
        } catch let error as TreeError {
            throw .treeEdit(path: path, reason: error.description)
        } catch {
            throw .treeEdit(path: path, reason: "\(error)")
        }
    }

    /// Stores an empty directory (as the importer makes it) and returns its CID.
    private func emptyTree(sink: any BlockSink) throws(ImportError) -> CID {
        let importer = try Importer(options: importOptions, sink: sink, collectEntries: false)
        let root = try importer.add(tree: .directory(name: "root", children: [])).root.cid
        try sink.flush()
        return root
    }

    /// The commit `cid` and its changes against its first parent.
    public func show(_ cid: CID) throws(VersioningError) -> CommitDetails {
        let commit = try commit(cid)
        let lease = blocks.gcLease()
        defer { lease.release() }
        do {
            let old: CID
            if let parent = commit.parents.first {
                old = try self.commit(parent).tree
            } else {
                old = try emptyTree(sink: BatchingBlockSink(store: blocks, background: false))
            }
            let changes = try TreeDiff(source: blocks).diff(old: old, new: commit.tree)
            return CommitDetails(cid: cid, commit: commit, changes: changes)
        } catch let error as VersioningError {
            throw error
        } catch {
            throw .treeEdit(path: "", reason: "cannot diff \(cid) against its parent: \(error)")
        }
    }

    /// The chain of inputs behind commit `cid`: breadth first through `lineage.inputs` of every
    /// input that is itself a stored commit, each CID once, up to `maxDepth` levels.
    public func lineage(_ cid: CID, maxDepth: Int = 64) throws(VersioningError) -> [LineageNode] {
        var nodes = [LineageNode(cid: cid, commit: try commit(cid), depth: 0, inputOf: nil)]
        var seen: Set<CID> = [cid]
        var index = 0
        while index < nodes.count {
            let node = nodes[index]
            index += 1
            guard let commit = node.commit, node.depth < maxDepth else { continue }
            for input in commit.lineage.inputs where seen.insert(input).inserted {
                let inputCommit: Commit?
                if input.codec == .dagCBOR, (try? blocks.has(input)) == true {
                    inputCommit = try? self.commit(input)
                } else {
                    inputCommit = nil
                }
                nodes.append(LineageNode(cid: input, commit: inputCommit, depth: node.depth + 1, inputOf: node.cid))
            }
        }
        return nodes
    }

    /// Reads the commit `cid` from the store.
    /// - Throws: `.blockMissing`, `.notACommit`, `.invalidCommit`.
    public func commit(_ cid: CID) throws(VersioningError) -> Commit {
        try Commit(block: try block(cid))
    }

    /// Commits reachable from `ref` (nil: the default branch), newest first by commit time
    /// (ties in discovery order), each once; at most `limit`. With `stopAtMissing`, a parent whose
    /// block is not local ends that line of history (a shallow clone) instead of failing.
    public func log(
        _ repo: String, _ ref: RefExpression? = nil, limit: Int? = nil, stopAtMissing: Bool = false
    ) throws(VersioningError) -> [CommitEntry] {
        let start = try resolve(repo, ref)
        var result: [CommitEntry] = []
        var seen: Set<CID> = [start]
        var frontier = [CommitEntry(cid: start, commit: try commit(start))]
        while !frontier.isEmpty, result.count < (limit ?? Int.max) {
            var best = 0
            for i in frontier.indices.dropFirst() where frontier[i].commit.time > frontier[best].commit.time { best = i }
            let next = frontier.remove(at: best)
            result.append(next)
            for parent in next.commit.parents where seen.insert(parent).inserted {
                do {
                    frontier.append(CommitEntry(cid: parent, commit: try commit(parent)))
                } catch {
                    guard stopAtMissing, case .blockMissing = error else { throw error }
                }
            }
        }
        return result
    }

    // MARK: - Resolving refs

    /// The commit that `ref` names in `repo`: a branch, else a tag, else a remote-tracking branch
    /// (`origin/main`), else a commit CID, then
    /// `~N` first parents back. Nil `ref`: the default branch.
    /// - Throws: `.refNotFound`, `.emptyBranch`, `.noSuchAncestor`.
    public func resolve(_ repo: String, _ ref: RefExpression?) throws(VersioningError) -> CID {
        let record = try refs.repository(repo)
        let expression = ref ?? RefExpression(base: record.defaultBranch)
        var cid: CID
        if let branch = try refs.branch(repo, expression.base) {
            guard let target = branch.target else { throw .emptyBranch(repo: repo, branch: branch.name) }
            cid = target
        } else if let tag = try refs.tag(repo, expression.base) {
            cid = tag
        } else if let target = try remoteBranch(repo, expression.base) {
            cid = target
        } else if let parsed = try? CID(expression.base) {
            _ = try commit(parsed)
            cid = parsed
        } else {
            throw .refNotFound(repo: repo, ref: expression.base)
        }
        for _ in 0..<expression.generations {
            guard let parent = try commit(cid).parents.first else {
                throw .noSuchAncestor(ref: expression.description, generations: expression.generations)
            }
            cid = parent
        }
        return cid
    }

    /// The commit of the remote-tracking branch `REMOTE/BRANCH` (`origin/main`), if any.
    private func remoteBranch(_ repo: String, _ name: String) throws(VersioningError) -> CID? {
        guard let slash = name.firstIndex(of: "/") else { return nil }
        let remote = String(name[..<slash])
        guard (try? RefSyntax.validateRemoteName(remote)) != nil, try refs.remote(repo, remote) != nil else { return nil }
        return try refs.remoteBranch(repo, remote: remote, branch: String(name[name.index(after: slash)...]))
    }

    /// The commit a `REPO@REF[:PATH]` names (its path is ignored; see `resolveTree`).
    public func resolve(_ spec: RefSpec) throws(VersioningError) -> CID {
        try resolve(spec.repository, spec.ref)
    }

    /// The UnixFS node a `REPO@REF[:PATH]` names: the commit's tree, or the entry at PATH in it.
    public func resolveTree(_ spec: RefSpec) throws(VersioningError) -> CID {
        let tree = try commit(try resolve(spec)).tree
        guard let path = spec.path else { return tree }
        do {
            return try Exporter(source: blocks).resolve(tree, components: path.split(separator: "/").map(String.init))
        } catch {
            throw .treeEdit(path: path, reason: error.description)
        }
    }

    // MARK: - Heads documents

    /// The repository's heads document, written as a dag-cbor block when the refs changed since
    /// the last one (sequence + 1, linking the previous); the same document otherwise.
    public func currentState(_ repo: String) throws(VersioningError) -> (cid: CID, state: RepositoryState) {
        let lease = blocks.gcLease()
        defer { lease.release() }
        var attempts = 0
        while true {
            attempts += 1
            let record = try refs.repository(repo)
            var state = RepositoryState(name: repo, defaultBranch: record.defaultBranch)
            for branch in try refs.branches(repo) {
                if let target = branch.target { state.branches[branch.name] = target }
            }
            for tag in try refs.tags(repo) {
                if let target = tag.target { state.tags[tag.name] = target }
            }
            if let last = record.stateCID {
                let previous = try RepositoryState(block: try block(last))
                if previous.defaultBranch == state.defaultBranch, previous.branches == state.branches, previous.tags == state.tags {
                    return (last, previous)
                }
                state.sequence = previous.sequence + 1
                state.previous = last
            } else {
                state.sequence = 1
            }
            let block = try state.block()
            try put(block)
            do {
                try refs.recordState(repo, cid: block.cid, sequence: state.sequence, expectedPrevious: record.stateCID)
                return (block.cid, state)
            } catch let error {
                if case .refConflict = error, attempts < 5 { continue }
                throw error
            }
        }
    }

    // MARK: - Blocks

    private func block(_ cid: CID) throws(VersioningError) -> Block {
        let found: Block?
        do {
            found = try blocks.get(cid)
        } catch {
            throw .blockStore(operation: "read \(cid)", reason: "\(error)")
        }
        guard let found else { throw .blockMissing(cid: cid) }
        return found
    }

    private func put(_ block: Block) throws(VersioningError) {
        do {
            try blocks.put(block)
        } catch {
            throw .blockStore(operation: "write \(block.cid)", reason: "\(error)")
        }
    }
}
