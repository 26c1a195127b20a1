import Foundation
import Multiformats
import P2PCore
import Versioning

/// The versioning commands (`VersioningCommands`) served on the daemon's `LocalNode`: each runs
/// on the blocking pool; a commit's and a merge's new blocks are announced; a checkout of a
/// history-only clone first fetches the tree's data from the network.
extension APIRoutes {
    func versioning(_ request: APIRequest) async throws -> APIResponse {
        let local = daemon.local
        if request.command == "checkout" { try await fetchLazyCheckoutData(request) }
        let answer = try await BlockingExecutor.run { () throws(APIError) -> JSONValue in
            try VersioningCommands.run(local, request)
        }
        if let provider = daemon.provider {
            let roots: [String?]
            switch request.command {
            case "commit": roots = [answer["Cid"]?.stringValue, answer["Tree"]?.stringValue]
            case "merge" where answer["Result"]?.stringValue == "merged": roots = [answer["Head"]?.stringValue]
            default: roots = []
            }
            let cids = roots.compactMap { $0.flatMap { try? CID($0) } }
            if !cids.isEmpty { provider.enqueue(cids) }
        }
        return .json(answer)
    }

    /// For a repository cloned with `no-checkout-data`, fetches the tree `checkout` writes
    /// (without pinning) before the handler reads it. Anything unparsable is left to the handler.
    private func fetchLazyCheckoutData(_ request: APIRequest) async throws {
        let versions = daemon.local.versionStore()
        guard let text = request.arguments.first, let spec = try? RefSyntax.parse(text) else { return }
        let tree = await BlockingExecutor.run { () -> CID? in
            guard let remotes = try? versions.refs.remotes(spec.repository), remotes.contains(where: \.lazyData) else { return nil }
            return try? versions.resolveTree(spec)
        }
        guard let tree else { return }
        _ = try await ContentFetcher.fetch(
            FetchRequest(path: ContentPath(root: tree), pin: false), host: daemon.host, bitswap: daemon.bitswap,
            local: daemon.local, logger: daemon.logger)
    }
}
