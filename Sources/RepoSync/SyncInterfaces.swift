import IPNS
import Multiformats
import Versioning

/// Names: resolving another site's IPNS name and publishing ours. `JZNode` implements it over the
/// DHT and the keystore; tests over memory.
public protocol RepoNameSystem: Sendable {
    /// The value (`/ipfs/CID`) and sequence number of the best valid record for `name`;
    /// `fresh` skips any cache. Throws when no record is found.
    func resolve(_ name: IPNSName, fresh: Bool) async throws -> (value: String, sequence: UInt64)
    /// The name of the keystore key `keyName`; with `create`, the key is made (Ed25519) when missing.
    func name(ofKey keyName: String, create: Bool) async throws -> IPNSName
    /// Signs a record `value` with `sequence` by key `keyName` and puts it where resolvers look.
    /// The engine has already checked that `sequence` does not go backwards.
    func publish(keyName: String, value: String, sequence: UInt64) async throws
}

/// Blocks from the network into the local store (Bitswap, providers from the DHT).
public protocol SyncBlockFetcher: Sendable {
    /// Fetches `root` (only that block unless `recursive`); blocks already local are not asked for.
    /// Every block is verified against its CID before it is stored.
    func fetch(_ root: CID, recursive: Bool, progress: @escaping @Sendable (FetchCounts) -> Void) async throws -> FetchCounts
    /// Tells the network this node now provides `cids` (so other sites can clone from it).
    func announce(_ cids: [CID]) async
}

/// Blocks and bytes a fetch moved.
public struct FetchCounts: Hashable, Sendable {
    public var blocksFetched: Int
    public var bytesFetched: Int
    public var blocksPresent: Int

    public init(blocksFetched: Int = 0, bytesFetched: Int = 0, blocksPresent: Int = 0) {
        self.blocksFetched = blocksFetched
        self.bytesFetched = bytesFetched
        self.blocksPresent = blocksPresent
    }

    public static func + (a: FetchCounts, b: FetchCounts) -> FetchCounts {
        FetchCounts(
            blocksFetched: a.blocksFetched + b.blocksFetched, bytesFetched: a.bytesFetched + b.bytesFetched,
            blocksPresent: a.blocksPresent + b.blocksPresent)
    }
}

/// Where a clone or pull is, for progress bars.
public struct SyncProgress: Hashable, Sendable {
    public enum Phase: String, Hashable, Sendable {
        case resolving, history, data, verifying, refs
    }

    public var phase: Phase
    /// The ref being brought over (`branch main`, `tag v1`), if any.
    public var ref: String?
    /// Refs done and to do.
    public var refsDone: Int
    public var refsTotal: Int
    /// Commits found new so far.
    public var commits: Int
    public var blocksFetched: Int
    public var bytesFetched: Int
}

/// A signature policy for `pull --require-signed`: nil when `commit` is accepted, else why not.
public typealias CommitCheck = @Sendable (_ cid: CID, _ commit: Commit) -> String?

/// How much of the history and data a clone or pull brings.
public struct SyncOptions: Sendable {
    /// Commits per branch, counted from the head (nil: all).
    public var depth: Int?
    /// Fetch commits and directories only; file data is fetched when needed.
    public var lazyData: Bool
    /// Every new commit must pass this check or the ref does not move.
    public var commitCheck: CommitCheck?
    /// Run the three-way merge for local branches that diverged from the remote's.
    public var merge: Bool
    /// The author of merge commits.
    public var mergeAuthor: Person?

    public init(
        depth: Int? = nil, lazyData: Bool = false, commitCheck: CommitCheck? = nil, merge: Bool = false,
        mergeAuthor: Person? = nil
    ) {
        self.depth = depth
        self.lazyData = lazyData
        self.commitCheck = commitCheck
        self.merge = merge
        self.mergeAuthor = mergeAuthor
    }
}

/// What went wrong while syncing, naming the repository, remote, ref or block.
public enum SyncError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidName(String, reason: String)
    /// The name's record does not point at an `/ipfs/` heads document.
    case notARepository(name: String, value: String, reason: String)
    /// The network holds a newer (or different same-numbered) record than this repository's state.
    case sequenceBackwards(repo: String, name: String, ours: UInt64, network: UInt64, networkValue: String)
    case noRemote(repo: String)
    case ambiguousRemote(repo: String, remotes: [String])
    case branchNotInRemote(branch: String, available: [String])
    /// A block of `ref`'s DAG is still missing after the fetch.
    case incomplete(ref: String, missing: CID)
    /// A new commit failed the `--require-signed` policy.
    case rejectedCommit(ref: String, commit: CID, reason: String)
    /// A half-done clone: the repository exists with its remote; `pull` resumes it.
    case cloneInterrupted(repo: String, reason: String)
    /// A local block that cannot be decoded as what links to it says.
    case undecodable(cid: CID, reason: String)
    case blockStore(operation: String, reason: String)
    case versioning(VersioningError)

    public var description: String {
        switch self {
        case let .invalidName(name, reason): return "\(name) is not an IPNS name: \(reason)"
        case let .notARepository(name, value, reason):
            return "\(name) points at \(value), which is not a repository's heads document: \(reason)"
        case let .sequenceBackwards(repo, name, ours, network, value):
            return """
                refusing to publish \(repo): the network's record for \(name) has sequence \(network) (\(value)), \
                and this repository's state is only at \(ours); publishing would go backwards. Another node \
                publishes with this key, or the repository was re-created: pull from that site first, or \
                publish under a new key (publish --key NAME)
                """
        case let .noRemote(repo): return "\(repo) has no remote (add one with 'remote add \(repo) NAME /ipns/k51…')"
        case let .ambiguousRemote(repo, remotes):
            return "\(repo) has several remotes (\(remotes.joined(separator: ", "))): name the one to pull"
        case let .branchNotInRemote(branch, available):
            return "the remote has no branch '\(branch)' (it has: \(available.joined(separator: ", ")))"
        case let .incomplete(ref, missing):
            return "\(ref): block \(missing) is still missing after the fetch; the ref was not moved (pull again to resume)"
        case let .rejectedCommit(ref, commit, reason):
            return reason.contains(commit.description)
                ? "\(ref) refused: \(reason); the ref was not moved"
                : "\(ref) refused: commit \(commit): \(reason); the ref was not moved"
        case let .cloneInterrupted(repo, reason):
            return "clone into '\(repo)' stopped: \(reason). The repository and its remote 'origin' exist: run 'jz-node pull \(repo)' to resume"
        case let .undecodable(cid, reason): return "block \(cid) cannot be read: \(reason)"
        case let .blockStore(operation, reason): return "block store failed to \(operation): \(reason)"
        case let .versioning(error): return error.description
        }
    }
}
