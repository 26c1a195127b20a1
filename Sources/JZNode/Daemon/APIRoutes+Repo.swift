import Foundation
import Multiformats
import P2PCore
import RepoSync
import Versioning

/// Repository sync: `repo/publish`, `repo/clone`, `repo/pull`.
extension APIRoutes {
    /// Arguments: the repository. Options: `key` (keystore key; default the repository's, else
    /// `repo-NAME`, made when missing), `auto` (republish after every ref change; default: keep).
    func repoPublish(_ request: APIRequest) async throws -> APIResponse {
        guard let repo = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"repository\" is required") }
        let auto: Bool? = request.value("auto").map { $0 == "true" || $0 == "1" || $0.isEmpty }
        let report = try await daemon.sync.engine.publish(repo, keyName: request.value("key"), auto: auto)
        return .json(report.json)
    }

    /// Arguments: the name (`k51…` or `/ipns/…`), then optionally the local repository name.
    /// Options: `branch`, `depth`, `no-checkout-data`. Streams progress (see `streaming`).
    func repoClone(_ request: APIRequest) throws -> APIResponse {
        guard let name = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"name\" is required") }
        let local = request.arguments.dropFirst().first
        let options = try syncOptions(request)
        let branch = request.value("branch")
        let engine = daemon.sync.engine
        return Self.streaming { emit in
            let lease = await BlockingExecutor.run { engine.versions.blocks.gcLease() }
            defer { lease.release() }
            return try await engine.clone(name, as: local, branch: branch, options: options) { emit($0.json) }.json
        }
    }

    /// Arguments: the repository, then optionally the remote (default: the only one, else
    /// `origin`). Options: `merge` (three-way merge diverged branches), `depth`,
    /// `no-checkout-data`, `require-signed` (a key name, peer ID or k51… name: every new commit
    /// must be signed by it, or no ref moves). Streams progress.
    func repoPull(_ request: APIRequest) throws -> APIResponse {
        guard let repo = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"repository\" is required") }
        let remote = request.arguments.dropFirst().first
        let options = try syncOptions(request)
        let engine = daemon.sync.engine
        return Self.streaming { emit in
            let lease = await BlockingExecutor.run { engine.versions.blocks.gcLease() }
            defer { lease.release() }
            return try await engine.pull(repo, remote: remote, options: options) { emit($0.json) }.json
        }
    }

    private func syncOptions(_ request: APIRequest) throws -> SyncOptions {
        var depth: Int?
        if let text = request.value("depth") {
            guard let value = Int(text) else { throw APIError.remote(status: 400, message: "depth must be 1 or more commits") }
            depth = value
        }
        do {
            return try RepoSyncService.options(
                depth: depth, lazyData: request.flag("no-checkout-data"), merge: request.flag("merge"),
                requireSigned: request.value("require-signed"), author: daemon.local.defaultAuthor, keystore: daemon.home.keystore)
        } catch {
            throw APIError.remote(status: 400, message: "\(error)")
        }
    }
}

extension PublishReport {
    /// The `repo/publish` answer.
    public var json: JSONValue {
        [
            "Repository": .string(repository), "Name": .string(name.path), "Key": .string(key),
            "State": .string(state.description), "Sequence": .int(Int64(clamping: sequence)), "Unchanged": .bool(unchanged),
            "Auto": .bool(auto),
        ]
    }
}

extension PullReport {
    /// The `repo/clone` and `repo/pull` result.
    public var json: JSONValue {
        func cid(_ c: CID?) -> JSONValue { c.map { .string($0.description) } ?? .null }
        return [
            "Repository": .string(repository), "Remote": .string(remote), "Name": .string(name),
            "State": cid(state), "Sequence": .int(Int64(clamping: sequence)), "UpToDate": .bool(upToDate),
            "StaleRecord": .bool(staleRecord),
            "Refs": .array(refs.map { ["Kind": .string($0.kind.rawValue), "Name": .string($0.name), "Old": cid($0.old), "New": cid($0.new)] }),
            "Branches": .array(branches.map {
                ["Name": .string($0.name), "Outcome": .string($0.outcome.rawValue), "Old": cid($0.old), "New": cid($0.new)]
            }),
            "TagsCreated": .array(tagsCreated.map { .string($0) }), "TagConflicts": .array(tagConflicts.map { .string($0) }),
            "Commits": .int(Int64(commits)), "BlocksFetched": .int(Int64(fetched.blocksFetched)),
            "BytesFetched": .int(Int64(fetched.bytesFetched)), "BlocksPresent": .int(Int64(fetched.blocksPresent)),
            "Seconds": .double(seconds),
        ]
    }
}

extension SyncProgress {
    /// The `Progress` documents `repo/clone` and `repo/pull` stream.
    public var json: JSONValue {
        [
            "Phase": .string(phase.rawValue), "Ref": ref.map { .string($0) } ?? .null, "RefsDone": .int(Int64(refsDone)),
            "RefsTotal": .int(Int64(refsTotal)), "Commits": .int(Int64(commits)), "BlocksFetched": .int(Int64(blocksFetched)),
            "BytesFetched": .int(Int64(bytesFetched)),
        ]
    }
}
