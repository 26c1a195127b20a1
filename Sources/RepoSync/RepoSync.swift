import BlockStore
import Foundation
import IPLD
import IPNS
import Logging
import Multiformats
import P2PCore
import Versioning

/// The outcome of `publish`.
public struct PublishReport: Hashable, Sendable {
    public var repository: String
    public var name: IPNSName
    /// The keystore key that signs the repository's records.
    public var key: String
    /// The heads document published and its sequence number.
    public var state: CID
    public var sequence: UInt64
    /// The network already held this state: no new record was needed.
    public var unchanged: Bool
    /// The daemon republishes after every ref change.
    public var auto: Bool
}

/// A remote-tracking ref that moved (nil: absent).
public struct RefUpdate: Hashable, Sendable {
    public var kind: RemoteRef.Kind
    public var name: String
    public var old: CID?
    public var new: CID?
}

/// What happened to a local branch after the remote refs moved.
public struct BranchUpdate: Hashable, Sendable {
    public enum Outcome: String, Hashable, Sendable {
        /// The branch had no commit: it now starts at the remote's head.
        case created
        case fastForward = "fast-forward"
        case upToDate = "up-to-date"
        /// The local branch has commits the remote lacks (and none the other way).
        case ahead
        /// Both sides have commits: reported (or merged with `--merge`).
        case diverged
        case merged
        /// `--merge` found conflicts: nothing changed.
        case conflicts
    }

    public var name: String
    public var outcome: Outcome
    public var old: CID?
    public var new: CID?
}

/// The outcome of `clone` and `pull`.
public struct PullReport: Hashable, Sendable {
    public var repository: String
    public var remote: String
    /// The remote's IPNS name (`k51…`).
    public var name: String
    /// The remote heads document now recorded, and its sequence number.
    public var state: CID?
    public var sequence: UInt64
    /// The name resolved to the state already recorded: nothing was fetched.
    public var upToDate: Bool
    /// The name resolved to an older state than the one recorded (a stale record): ignored.
    public var staleRecord: Bool
    public var refs: [RefUpdate]
    public var branches: [BranchUpdate]
    public var tagsCreated: [String]
    /// Remote tags whose name exists locally on another commit (left alone).
    public var tagConflicts: [String]
    /// New commits brought over.
    public var commits: Int
    public var fetched: FetchCounts
    public var seconds: Double
}

/// Repository sync between sites: `publish` puts a repository's heads document under its own
/// IPNS name; `clone` and `pull` resolve such a name, fetch only the commits and trees not yet
/// local, move a remote-tracking ref only once the whole DAG of its new head is local, then
/// fast-forward (or report, or merge) local branches.
///
/// Networking is behind `RepoNameSystem` and `SyncBlockFetcher`; the ref and block stores are
/// those of `versions`. Blocking calls run on `BlockingExecutor`.
public final class RepoSync: Sendable {
    public let versions: VersionStore
    private let names: any RepoNameSystem
    private let fetcher: any SyncBlockFetcher
    private let logger: Logger
    private let local: LocalDAG

    /// The remote a clone records.
    public static let defaultRemote = "origin"

    public init(versions: VersionStore, names: any RepoNameSystem, fetcher: any SyncBlockFetcher, logger: Logger) {
        self.versions = versions
        self.names = names
        self.fetcher = fetcher
        self.logger = logger
        local = LocalDAG(store: versions.blocks)
    }

    /// The keystore key a repository is published under unless another is chosen.
    public static func defaultKeyName(for repo: String) -> String { "repo-\(repo)" }

    // MARK: - Publish

    /// Publishes `repo`'s heads document under the IPNS name of `keyName` (default: the key
    /// recorded for the repository, else `repo-NAME`, created when missing), and announces the
    /// document and the heads as provided. A publish whose sequence would go backwards (the
    /// network holds a newer or different same-numbered record for the name) is refused.
    /// - Parameter auto: record whether the daemon republishes after every ref change (nil: keep).
    public func publish(_ repo: String, keyName: String? = nil, auto: Bool? = nil) async throws -> PublishReport {
        let versions = versions
        let record = try await blocking { () throws(VersioningError) in try versions.refs.repository(repo) }
        let key = keyName ?? record.publishKey ?? Self.defaultKeyName(for: repo)
        let name = try await names.name(ofKey: key, create: true)
        let (stateCID, state) = try await blocking { () throws(VersioningError) in try versions.currentState(repo) }
        let value = "/ipfs/\(stateCID)"
        var unchanged = false
        if let current = try? await names.resolve(name, fresh: true) {
            if current.sequence > state.sequence || (current.sequence == state.sequence && current.value != value) {
                throw SyncError.sequenceBackwards(
                    repo: repo, name: name.string, ours: state.sequence, network: current.sequence, networkValue: current.value)
            }
            unchanged = current.sequence == state.sequence
        }
        // The same state again: the record stands (republishing keeps it alive).
        if !unchanged {
            do {
                try await names.publish(keyName: key, value: value, sequence: state.sequence)
            } catch SyncError.sequenceBackwards(_, _, _, let network, let networkValue) {
                throw SyncError.sequenceBackwards(
                    repo: repo, name: name.string, ours: state.sequence, network: network,
                    networkValue: networkValue.isEmpty ? "a record this node published earlier" : networkValue)
            }
        }
        let isAuto = auto ?? record.publishAuto
        try await blocking { () throws(VersioningError) in
            try versions.refs.setPublishing(repo, key: key, auto: isAuto)
            try versions.refs.recordPublished(repo, cid: stateCID, sequence: state.sequence)
        }
        await fetcher.announce([stateCID] + state.branches.values.sorted() + state.tags.values.sorted())
        logger.info("published \(repo) as \(name.string): state \(stateCID) (sequence \(state.sequence))")
        return PublishReport(
            repository: repo, name: name, key: key, state: stateCID, sequence: state.sequence, unchanged: unchanged, auto: isAuto)
    }

    // MARK: - Clone

    /// Clones the repository published under `nameText` (`k51…`, a peer ID or `/ipns/…`) as
    /// `localName` (default: the name in its heads document): creates the repository with the
    /// remote `origin`, then pulls. With `branch`, that branch becomes the local default branch.
    /// If the fetch stops, the repository and its remote stay: `pull` resumes.
    public func clone(
        _ nameText: String, as localName: String? = nil, branch: String? = nil, options: SyncOptions = SyncOptions(),
        progress: (@Sendable (SyncProgress) -> Void)? = nil
    ) async throws -> PullReport {
        let name = try Self.parseName(nameText)
        progress?(SyncProgress(phase: .resolving, refsDone: 0, refsTotal: 0, commits: 0, blocksFetched: 0, bytesFetched: 0))
        let resolved = try await names.resolve(name, fresh: true)
        let (stateCID, state, stateCounts) = try await fetchState(name: name, value: resolved.value)
        let repo = localName ?? state.name
        let defaultBranch = branch ?? state.defaultBranch
        guard branch == nil || state.branches[defaultBranch] != nil else {
            throw SyncError.branchNotInRemote(branch: defaultBranch, available: state.branches.keys.sorted())
        }
        let versions = versions
        try await blocking { () throws(VersioningError) in
            try RefSyntax.validateRepositoryName(repo)
            try versions.createRepository(repo, defaultBranch: defaultBranch)
            try versions.refs.addRemote(repo, Self.defaultRemote, address: name.path, follow: false)
        }
        do {
            return try await apply(
                repo: repo, remote: Self.defaultRemote, name: name, stateCID: stateCID, state: state, sequence: resolved.sequence,
                fetched: stateCounts, options: options, progress: progress)
        } catch {
            throw SyncError.cloneInterrupted(repo: repo, reason: "\(error)")
        }
    }

    // MARK: - Pull

    /// The remote `pull` uses when none is named: the only one, else `origin`.
    public func defaultRemote(of repo: String) async throws -> String {
        let versions = versions
        let remotes = try await blocking { () throws(VersioningError) in try versions.refs.remotes(repo) }
        if remotes.count == 1 { return remotes[0].name }
        if remotes.contains(where: { $0.name == Self.defaultRemote }) { return Self.defaultRemote }
        if remotes.isEmpty { throw SyncError.noRemote(repo: repo) }
        throw SyncError.ambiguousRemote(repo: repo, remotes: remotes.map(\.name))
    }

    /// Resolves the remote's name again (no cache), fetches what is missing and moves refs.
    public func pull(
        _ repo: String, remote remoteName: String? = nil, options: SyncOptions = SyncOptions(),
        progress: (@Sendable (SyncProgress) -> Void)? = nil
    ) async throws -> PullReport {
        let started = ContinuousClock.now
        let remote: String
        if let remoteName { remote = remoteName } else { remote = try await defaultRemote(of: repo) }
        let versions = versions
        let record = try await blocking { () throws(VersioningError) -> RemoteRecord in
            guard let record = try versions.refs.remote(repo, remote) else { throw .remoteNotFound(repo: repo, remote: remote) }
            return record
        }
        let name = try Self.parseName(record.address)
        var effective = options
        if record.lazyData { effective.lazyData = true }
        if record.shallow, effective.depth == nil { effective.depth = 1 }
        progress?(SyncProgress(phase: .resolving, refsDone: 0, refsTotal: 0, commits: 0, blocksFetched: 0, bytesFetched: 0))
        let resolved = try await names.resolve(name, fresh: true)
        if record.stateCID != nil, resolved.sequence < record.stateSequence {
            // A stale record (an old copy on some peer): keep what we have, still update branches.
            logger.warning("pull \(repo): \(name.string) resolved to sequence \(resolved.sequence), older than \(record.stateSequence); ignored")
            var report = try await updateLocal(repo: repo, remote: remote, options: effective)
            report.name = name.string
            report.state = record.stateCID
            report.sequence = record.stateSequence
            report.staleRecord = true
            report.seconds = Self.seconds(since: started)
            return report
        }
        let (stateCID, state, stateCounts) = try await fetchState(name: name, value: resolved.value)
        return try await apply(
            repo: repo, remote: remote, name: name, stateCID: stateCID, state: state, sequence: resolved.sequence,
            fetched: stateCounts, options: effective, progress: progress, started: started)
    }

    // MARK: - Applying a remote state

    /// Fetches every ref of `state` that moved, checks its DAG is whole, moves the remote refs,
    /// records the state, then updates local branches and tags.
    private func apply(
        repo: String, remote: String, name: IPNSName, stateCID: CID, state: RepositoryState, sequence: UInt64,
        fetched: FetchCounts, options: SyncOptions, progress: (@Sendable (SyncProgress) -> Void)?,
        started: ContinuousClock.Instant = .now
    ) async throws -> PullReport {
        let versions = versions
        let local = local
        let (record, existing, localHeads) = try await blocking { () throws(VersioningError) in
            let record = try versions.refs.remote(repo, remote)
            let existing = try versions.refs.remoteRefs(repo, remote)
            let heads = try versions.refs.branches(repo).compactMap(\.target) + versions.refs.tags(repo).compactMap(\.target)
            return (record, existing, heads)
        }
        let upToDate = record?.stateCID == stateCID
        var current: [String: CID] = [:]
        for ref in existing { current[Self.key(ref.kind, ref.name)] = ref.target }
        var wanted: [(kind: RemoteRef.Kind, name: String, target: CID)] = []
        // The default branch first, so a clone that stops early has its main line.
        let order = { (name: String) -> (Int, String) in (name == state.defaultBranch ? 0 : 1, name) }
        for (branch, target) in state.branches.sorted(by: { order($0.key) < order($1.key) }) {
            wanted.append((.branch, branch, target))
        }
        for (tag, target) in state.tags.sorted(by: { $0.key < $1.key }) { wanted.append((.tag, tag, target)) }
        let moving = wanted.filter { current[Self.key($0.kind, $0.name)] != $0.target }

        // Commits already whole locally: everything behind the refs we have.
        var known = try await blocking { () throws(SyncError) in try local.ancestors(of: existing.map(\.target) + localHeads) }
        let counts = Locked(fetched)
        var commitsFetched = 0
        var updates: [RefUpdate] = []
        let total = moving.count
        for (index, ref) in moving.enumerated() {
            let label = "\(ref.kind == .branch ? "branch" : "tag") \(ref.name)"
            let report: @Sendable (SyncProgress.Phase, Int) -> Void = { phase, commits in
                let c = counts.withLock { $0 }
                progress?(SyncProgress(
                    phase: phase, ref: label, refsDone: index, refsTotal: total, commits: commits,
                    blocksFetched: c.blocksFetched, bytesFetched: c.bytesFetched))
            }
            let before = commitsFetched
            let newCommits = try await fetchHistory(head: ref.target, known: known, options: options, counts: counts) { n in
                report(.history, before + n)
            }
            commitsFetched += newCommits.count
            let after = commitsFetched
            report(.data, after)
            // Oldest first, each tree against its first parent's (whole by then), so only what
            // changed is fetched and checked.
            let trees = try await blocking { () throws(SyncError) -> [(tree: CID, base: CID?)] in
                try newCommits.reversed().map { entry throws(SyncError) in
                    (entry.commit.tree, try entry.commit.parents.first.flatMap { p throws(SyncError) in try local.commit(p)?.tree })
                }
            }
            for (tree, base) in trees {
                try await fetchTree(tree, base: base, lazyData: options.lazyData, counts: counts) { report(.data, after) }
            }
            report(.verifying, after)
            let lazy = options.lazyData
            if let missing = try await blocking({ () throws(SyncError) -> CID? in
                for (tree, base) in trees {
                    if let first = try local.missing(tree: tree, base: base, lazyData: lazy, limit: 1).first { return first }
                }
                return nil
            }) {
                throw SyncError.incomplete(ref: "\(remote)/\(ref.name)", missing: missing)
            }
            if let check = options.commitCheck {
                for entry in newCommits {
                    if let reason = check(entry.cid, entry.commit) {
                        throw SyncError.rejectedCommit(ref: "\(remote)/\(ref.name)", commit: entry.cid, reason: reason)
                    }
                }
            }
            let old = current[Self.key(ref.kind, ref.name)]
            try await blocking { () throws(VersioningError) in
                try versions.refs.updateRemoteRef(
                    repo, remote: remote, kind: ref.kind, name: ref.name, expected: old, new: ref.target,
                    message: "pull: \(name.string) sequence \(sequence)")
            }
            updates.append(RefUpdate(kind: ref.kind, name: ref.name, old: old, new: ref.target))
            known.formUnion(newCommits.map(\.cid))
            known.insert(ref.target)
        }
        // Refs the remote no longer has.
        let present = Set(wanted.map { Self.key($0.kind, $0.name) })
        for ref in existing where !present.contains(Self.key(ref.kind, ref.name)) {
            try await blocking { () throws(VersioningError) in
                try versions.refs.updateRemoteRef(
                    repo, remote: remote, kind: ref.kind, name: ref.name, expected: ref.target, new: nil,
                    message: "pull: removed at \(name.string) sequence \(sequence)")
            }
            updates.append(RefUpdate(kind: ref.kind, name: ref.name, old: ref.target, new: nil))
        }
        let shallow = options.depth != nil
        let lazy = options.lazyData
        try await blocking { () throws(VersioningError) in
            try versions.refs.recordRemoteState(repo, remote: remote, cid: stateCID, sequence: sequence, shallow: shallow, lazyData: lazy)
        }
        progress?(SyncProgress(
            phase: .refs, refsDone: total, refsTotal: total, commits: commitsFetched,
            blocksFetched: counts.withLock { $0.blocksFetched }, bytesFetched: counts.withLock { $0.bytesFetched }))
        var result = try await updateLocal(repo: repo, remote: remote, options: options)
        if !updates.isEmpty {
            // This site can now serve what it fetched to the next one.
            await fetcher.announce([stateCID] + updates.compactMap(\.new))
        }
        result.name = name.string
        result.state = stateCID
        result.sequence = sequence
        result.upToDate = upToDate && updates.isEmpty
        result.refs = updates
        result.commits = commitsFetched
        result.fetched = counts.withLock { $0 }
        result.seconds = Self.seconds(since: started)
        return result
    }

    /// Fast-forwards local branches to their remote-tracking branches where they have not
    /// diverged (a branch with no commit starts there), merges diverged ones with `options.merge`,
    /// and creates local tags for new remote tags.
    private func updateLocal(repo: String, remote: String, options: SyncOptions) async throws -> PullReport {
        let versions = versions
        let (branches, remoteRefs, tags) = try await blocking { () throws(VersioningError) in
            (try versions.refs.branches(repo), try versions.refs.remoteRefs(repo, remote), try versions.refs.tags(repo))
        }
        var remoteBranches: [String: CID] = [:]
        var remoteTags: [String: CID] = [:]
        for ref in remoteRefs {
            if ref.kind == .branch { remoteBranches[ref.name] = ref.target } else { remoteTags[ref.name] = ref.target }
        }
        var outcomes: [BranchUpdate] = []
        for branch in branches {
            guard let theirs = remoteBranches[branch.name] else { continue }
            let outcome = try await blocking { () throws(VersioningError) -> BranchUpdate in
                guard let ours = branch.target else {
                    try versions.refs.updateBranch(repo, branch.name, expected: nil, new: theirs, message: "pull: from \(remote)/\(branch.name)")
                    return BranchUpdate(name: branch.name, outcome: .created, old: nil, new: theirs)
                }
                if ours == theirs { return BranchUpdate(name: branch.name, outcome: .upToDate, old: ours, new: ours) }
                let base = try? Merge.mergeBase(ours, theirs) { (cid: CID) throws(VersioningError) -> [CID] in
                    try versions.commit(cid).parents
                }
                if base == ours {
                    try versions.refs.updateBranch(
                        repo, branch.name, expected: ours, new: theirs, message: "pull: fast-forward to \(remote)/\(branch.name)")
                    return BranchUpdate(name: branch.name, outcome: .fastForward, old: ours, new: theirs)
                }
                if base == theirs { return BranchUpdate(name: branch.name, outcome: .ahead, old: ours, new: ours) }
                guard options.merge, let author = options.mergeAuthor else {
                    return BranchUpdate(name: branch.name, outcome: .diverged, old: ours, new: ours)
                }
                let merged = try versions.merge(
                    repo, from: RefExpression(base: "\(remote)/\(branch.name)"), into: branch.name, strategy: .fail,
                    message: "Merge \(remote)/\(branch.name) into \(branch.name)", author: author)
                switch merged.kind {
                case .conflicts: return BranchUpdate(name: branch.name, outcome: .conflicts, old: ours, new: ours)
                case .upToDate: return BranchUpdate(name: branch.name, outcome: .ahead, old: ours, new: ours)
                case .fastForward: return BranchUpdate(name: branch.name, outcome: .fastForward, old: ours, new: merged.head)
                case .merged: return BranchUpdate(name: branch.name, outcome: .merged, old: ours, new: merged.head)
                }
            }
            outcomes.append(outcome)
        }
        var created: [String] = []
        var conflicts: [String] = []
        let localTags = Dictionary(tags.compactMap { t in t.target.map { (t.name, $0) } }, uniquingKeysWith: { a, _ in a })
        for (tag, target) in remoteTags.sorted(by: { $0.key < $1.key }) {
            if let mine = localTags[tag] {
                if mine != target { conflicts.append(tag) }
                continue
            }
            try await blocking { () throws(VersioningError) in
                try versions.refs.createTag(repo, tag, target: target, message: "pull: tag from \(remote)")
            }
            created.append(tag)
        }
        return PullReport(
            repository: repo, remote: remote, name: "", state: nil, sequence: 0, upToDate: false, staleRecord: false, refs: [],
            branches: outcomes, tagsCreated: created, tagConflicts: conflicts, commits: 0, fetched: FetchCounts(), seconds: 0)
    }

    // MARK: - Fetching

    /// The heads document a name's record points at, fetched and decoded.
    private func fetchState(name: IPNSName, value: String) async throws -> (CID, RepositoryState, FetchCounts) {
        guard value.hasPrefix("/ipfs/"), let cid = try? CID(String(value.dropFirst("/ipfs/".count))) else {
            throw SyncError.notARepository(name: name.string, value: value, reason: "not an /ipfs/CID path")
        }
        let counts = try await fetcher.fetch(cid, recursive: false) { _ in }
        let versions = versions
        let block = try await blocking { () throws(SyncError) -> Block? in
            do { return try versions.blocks.get(cid) } catch { throw .blockStore(operation: "read \(cid)", reason: "\(error)") }
        }
        guard let block else { throw SyncError.incomplete(ref: "heads document", missing: cid) }
        do {
            return (cid, try RepositoryState(block: block), counts)
        } catch {
            throw SyncError.notARepository(name: name.string, value: value, reason: error.description)
        }
    }

    /// The commits behind `head` that are not in `known`, fetched (commit blocks only), newest
    /// first; with `options.depth`, at most that many generations from the head.
    private func fetchHistory(
        head: CID, known: Set<CID>, options: SyncOptions, counts: Locked<FetchCounts>, progress: @escaping @Sendable (Int) -> Void
    ) async throws -> [CommitEntry] {
        var result: [CommitEntry] = []
        var queue: [(cid: CID, generation: Int)] = [(head, 0)]
        var seen: Set<CID> = []
        let local = local
        var index = 0
        while index < queue.count {
            let (cid, generation) = queue[index]
            index += 1
            guard !known.contains(cid), seen.insert(cid).inserted else { continue }
            if let depth = options.depth, generation >= max(depth, 1) { continue }
            var commit = try await blocking { () throws(SyncError) in try local.commit(cid) }
            if commit == nil {
                let fetched = try await fetcher.fetch(cid, recursive: false) { _ in }
                counts.withLock { $0 = $0 + fetched }
                commit = try await blocking { () throws(SyncError) in try local.commit(cid) }
            }
            guard let commit else { throw SyncError.incomplete(ref: "commit", missing: cid) }
            result.append(CommitEntry(cid: cid, commit: commit))
            progress(result.count)
            for parent in commit.parents { queue.append((parent, generation + 1)) }
        }
        return result
    }

    /// Fetches the tree `tree` given `base`, a tree whole in the local store (the parent
    /// commit's; nil: none): directories are compared entry by entry (by name, HAMT shards
    /// alike) and only entries whose CID differs are fetched, so a pull costs what changed, not
    /// the size of the tree. Without a base the whole DAG is fetched (one Bitswap fetch, itself
    /// parallel). With `lazyData`, only directories and large files' root blocks are fetched.
    private func fetchTree(
        _ tree: CID, base: CID?, lazyData: Bool, counts: Locked<FetchCounts>, progress: @escaping @Sendable () -> Void
    ) async throws {
        guard tree != base else { return }
        let local = local
        if tree.codec == .raw {
            if !lazyData { try await ensure(tree, counts: counts) }
            return
        }
        if let base {
            try await ensure(tree, counts: counts)
            let pairs = try await blocking { () throws(SyncError) -> [(CID, CID?)]? in
                guard let new = try local.entries(tree), let old = try local.entries(base) else { return nil }
                return new.compactMap { name, cid in old[name] == cid ? nil : (cid, old[name]) }
            }
            if let pairs {
                progress()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    var next = 0
                    func startOne() {
                        guard next < pairs.count else { return }
                        let (child, childBase) = pairs[next]
                        next += 1
                        group.addTask {
                            try await self.fetchTree(child, base: childBase, lazyData: lazyData, counts: counts, progress: progress)
                        }
                    }
                    for _ in 0..<8 { startOne() }
                    while try await group.next() != nil { startOne() }
                }
                return
            }
        }
        if !lazyData {
            let done = try await fetcher.fetch(tree, recursive: true) { _ in progress() }
            counts.withLock { $0 = $0 + done }
            progress()
            return
        }
        // History only: the missing directories, level by level.
        for _ in 0..<10_000 {
            let frontier = try await blocking { () throws(SyncError) in try local.missing(tree: tree, lazyData: true, limit: 64) }
            if frontier.isEmpty { return }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for cid in frontier { group.addTask { try await self.ensure(cid, counts: counts) } }
                try await group.waitForAll()
            }
            progress()
        }
    }

    /// Fetches the single block `cid` unless it is local.
    private func ensure(_ cid: CID, counts: Locked<FetchCounts>) async throws {
        let store = versions.blocks
        let present = try await blocking { () throws(SyncError) -> Bool in
            do { return try store.has(cid) } catch { throw .blockStore(operation: "check \(cid)", reason: "\(error)") }
        }
        if present { return }
        let done = try await fetcher.fetch(cid, recursive: false) { _ in }
        counts.withLock { $0 = $0 + done }
    }

    // MARK: - Helpers

    /// Parses `k51…`, a peer ID or `/ipns/NAME`.
    public static func parseName(_ text: String) throws(SyncError) -> IPNSName {
        do { return try IPNSName(text) } catch { throw .invalidName(text, reason: "\(error)") }
    }

    private static func key(_ kind: RemoteRef.Kind, _ name: String) -> String { "\(kind.rawValue):\(name)" }

    private static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Runs blocking store work on the blocking pool, mapping errors to `SyncError`.
    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws(VersioningError) -> T) async throws(SyncError) -> T {
        do {
            return try await BlockingExecutor.run(body)
        } catch {
            throw .versioning(error)
        }
    }

    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws(SyncError) -> T) async throws(SyncError) -> T {
        try await BlockingExecutor.run(body)
    }
}
