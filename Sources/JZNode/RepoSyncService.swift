import Bitswap
import Foundation
import IPNS
import KadDHT
import Logging
import Multiformats
import P2PCore
import P2PCrypto
import RepoSync
import Versioning

/// IPNS names for repository sync through the node's `NameService` (records in the DHT, what
/// it publishes kept in `<home>/dht.sqlite` and republished by the daemon), keys in the keystore.
struct ServiceRepoNames: RepoNameSystem {
    let names: NameService?
    let keystore: Keystore

    private func service() throws -> NameService {
        guard let names else { throw NodeError.network("routing is off (Routing.Type none): names cannot be resolved or published") }
        return names
    }

    func resolve(_ name: IPNSName, fresh: Bool) async throws -> (value: String, sequence: UInt64) {
        let record = try await service().resolve(name, useCache: !fresh)
        guard let value = record.valueString else { throw NameServiceError.valueNotAPath(name: name.string) }
        return (value, record.sequence)
    }

    func name(ofKey keyName: String, create: Bool) async throws -> IPNSName {
        let keystore = keystore
        let key = try await BlockingExecutor.run { () throws(KeystoreError) -> NamedKey in
            if keystore.contains(keyName) || keyName == Keystore.selfName || !create { return try keystore.key(named: keyName) }
            return try keystore.generate(name: keyName)
        }
        return IPNSName(publicKey: key.privateKey.publicKey)
    }

    func publish(keyName: String, value: String, sequence: UInt64) async throws {
        do {
            // A site often publishes before anyone connects: the record is then kept and served
            // locally, and put on the network by the republisher once peers are there.
            _ = try await service().publish(keyName: keyName, value: value, sequence: sequence, allowOffline: true)
        } catch NameServiceError.sequenceNotNewer(let name, let asked, let current) {
            throw SyncError.sequenceBackwards(repo: "", name: name, ours: asked, network: current, networkValue: "")
        }
    }
}

/// Blocks for repository sync over Bitswap (providers found through the DHT), announced
/// through the provider service.
struct BitswapSyncFetcher: SyncBlockFetcher {
    let bitswap: Bitswap
    let provider: ProviderService?
    /// The longest a single fetch may take.
    var timeout: Duration = .seconds(600)

    func fetch(_ root: CID, recursive: Bool, progress: @escaping @Sendable (FetchCounts) -> Void) async throws -> FetchCounts {
        let options = FetchOptions(peers: [], timeout: recursive ? timeout : min(timeout, .seconds(120)), recursive: recursive)
        let result = try await bitswap.fetch(root, options: options) { live in
            progress(FetchCounts(blocksFetched: live.blocksDone - live.blocksPresent, bytesFetched: live.bytesFetched, blocksPresent: live.blocksPresent))
        }
        return FetchCounts(blocksFetched: result.blocksFetched, bytesFetched: result.bytesFetched, blocksPresent: result.blocksPresent)
    }

    func announce(_ cids: [CID]) async { provider?.enqueue(cids) }
}

/// The daemon's repository sync: the `RepoSync` engine over the node's DHT, keystore and
/// Bitswap, plus the two background duties: republishing `--auto` repositories after every ref
/// change and pulling followed remotes when their names resolve to a new record.
public final class RepoSyncService: Sendable {
    public let engine: RepoSync
    private let local: LocalNode
    private let logger: Logger

    init(local: LocalNode, names: NameService?, bitswap: Bitswap, provider: ProviderService?, keystore: Keystore, logger: Logger) {
        self.local = local
        self.logger = logger
        engine = RepoSync(
            versions: local.versionStore(), names: ServiceRepoNames(names: names, keystore: keystore),
            fetcher: BitswapSyncFetcher(bitswap: bitswap, provider: provider), logger: logger)
    }

    /// The options of a clone or pull as the CLI and the RPC API take them.
    /// - Parameter requireSigned: a key name, peer ID or k51… name: every new commit must be
    ///   signed by it.
    public static func options(
        depth: Int?, lazyData: Bool, merge: Bool, requireSigned: String?, author: Person, keystore: Keystore
    ) throws -> SyncOptions {
        var options = SyncOptions(depth: depth, lazyData: lazyData, merge: merge, mergeAuthor: author)
        if let depth, depth < 1 { throw NodeError.invalidArgument("depth must be 1 or more commits") }
        if let requireSigned {
            let allowed: PeerID
            do {
                allowed = try CommitSigning.parseSigner(requireSigned, keystore: keystore)
            } catch {
                throw NodeError.invalidArgument("require-signed \(requireSigned): \(error)")
            }
            options.commitCheck = { cid, commit in
                do {
                    try CommitSigning.requireSigned(commits: [(cid: cid, commit: commit)], by: allowed)
                    return nil
                } catch {
                    return "\(error)"
                }
            }
        }
        return options
    }

    /// Republishes `--auto` repositories whose refs changed, checking the ref database every
    /// `interval` (any process's commit, branch or tag change bumps its reflog). A publish that
    /// failed is tried again after `retry`.
    func runAutoPublisher(interval: Duration = .seconds(2), retry: Duration = .seconds(60)) async {
        let refs = local.refs
        var lastSeen: Int64 = -1
        var retryAt: ContinuousClock.Instant?
        var published: [String: CID] = [:]
        while !Task.isCancelled {
            let high = (try? await BlockingExecutor.run { () throws(VersioningError) in try refs.reflogHighWater() }) ?? lastSeen
            if high != lastSeen || retryAt.map({ ContinuousClock.now >= $0 }) == true {
                lastSeen = high
                retryAt = nil
                let repos = (try? await BlockingExecutor.run { () throws(VersioningError) in try refs.autoPublished() }) ?? []
                for repo in repos {
                    let heads = (try? await BlockingExecutor.run { () throws(VersioningError) in
                        try self.engine.versions.currentState(repo.name).cid
                    })
                    guard let heads, heads != repo.publishedCID, heads != published[repo.name] else { continue }
                    do {
                        let report = try await engine.publish(repo.name)
                        published[repo.name] = report.state
                    } catch {
                        logger.warning("auto-publish \(repo.name): \(error); trying again in \(retry)")
                        retryAt = ContinuousClock.now + retry
                    }
                }
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Pulls every followed remote whose name resolves to a new record, every `interval`.
    func runFollower(interval: Duration) async {
        let refs = local.refs
        let author = local.defaultAuthor
        while !Task.isCancelled {
            let remotes = (try? await BlockingExecutor.run { () throws(VersioningError) in try refs.followedRemotes() }) ?? []
            for remote in remotes where !Task.isCancelled {
                do {
                    let report = try await engine.pull(
                        remote.repository, remote: remote.name, options: SyncOptions(mergeAuthor: author))
                    if !report.upToDate && !report.staleRecord {
                        logger.info("follow \(remote.repository) \(remote.name): \(report.refs.count) refs moved, \(report.commits) commits")
                    }
                } catch {
                    logger.warning("follow \(remote.repository) \(remote.name): \(error)")
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
