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

/// IPNS names for repository sync: records in the DHT, keys in the node's keystore.
struct DHTRepoNames: RepoNameSystem {
    let dht: DualDHT?
    let keystore: Keystore

    private func requireDHT() throws -> DualDHT {
        guard let dht else { throw NodeError.network("routing is off (Routing.Type none): names cannot be resolved or published") }
        return dht
    }

    func resolve(_ name: IPNSName, fresh: Bool) async throws -> (value: String, sequence: UInt64) {
        let dht = try requireDHT()
        let bytes = try await withTimeout(.seconds(60), what: "resolving \(name.string)") {
            try await dht.getValue(name.routingKey)
        }
        let record = try IPNSRecord(bytes: bytes)
        guard let value = record.valueString else {
            throw NodeError.invalidArgument("the record of \(name.string) holds no text path")
        }
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
        let dht = try requireDHT()
        let keystore = keystore
        let key = try await BlockingExecutor.run { () throws(KeystoreError) in try keystore.key(named: keyName).privateKey }
        // A site often publishes before anyone connects: the record is kept and served locally,
        // and put on the network when peers are there (the next publish or republish).
        try await NamePublishing.put(dht: dht, key: key, value: value, sequence: sequence, allowOffline: true)
    }
}

/// Putting a signed IPNS record (and, for keys too large to inline, the `/pk/` record) on the
/// closest DHT peers; shared by `name publish` and repository publishing.
enum NamePublishing {
    static let defaultLifetime: Duration = .seconds(48 * 3600)
    static let defaultTTL: Duration = .seconds(300)

    /// - Parameter allowOffline: with no DHT peer reachable, keep the record locally (served to
    ///   GET_VALUE) instead of failing.
    @discardableResult
    static func put(
        dht: DualDHT, key: PrivateKey, value: String, sequence: UInt64, lifetime: Duration = defaultLifetime,
        ttl: Duration = defaultTTL, allowOffline: Bool = false
    ) async throws -> IPNSRecord {
        let name = IPNSName(publicKey: key.publicKey)
        let record = try IPNSRecord.create(value: value, sequence: sequence, lifetime: lifetime, ttl: ttl, key: key)
        try dht.storeLocal(name.routingKey, record.bytes)
        do {
            try await withTimeout(.seconds(60), what: "publishing \(name.string)") {
                try await dht.putValue(name.routingKey, record.bytes)
            }
        } catch RoutingError.unavailable(let reason) where allowOffline {
            _ = reason
        }
        // Keys that do not fit in the peer ID (RSA) are published too, as Kubo does.
        if PeerID(publicKey: key.publicKey).multihash.function != .identity {
            try? await dht.putValue(Array("/pk/".utf8) + name.peer.bytes, key.publicKey.protobufBytes)
        }
        return record
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

    init(local: LocalNode, dht: DualDHT?, bitswap: Bitswap, provider: ProviderService?, keystore: Keystore, logger: Logger) {
        self.local = local
        self.logger = logger
        engine = RepoSync(
            versions: local.versionStore(), names: DHTRepoNames(dht: dht, keystore: keystore),
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
    /// `interval` (any process's commit, branch or tag change bumps its reflog).
    func runAutoPublisher(interval: Duration = .seconds(2)) async {
        let refs = local.refs
        var lastSeen: Int64 = -1
        var published: [String: CID] = [:]
        while !Task.isCancelled {
            let high = (try? await BlockingExecutor.run { () throws(VersioningError) in try refs.reflogHighWater() }) ?? lastSeen
            if high != lastSeen {
                lastSeen = high
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
                        logger.warning("auto-publish \(repo.name): \(error)")
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
