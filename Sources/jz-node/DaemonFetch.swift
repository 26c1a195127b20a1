import ArgumentParser
import Foundation
import JZNode
import IPLD
import Multiformats
import UnixFS

/// With a daemon running, `cat`, `get`, `ls` and `dag export` first have the daemon fetch what
/// they need from the network (without pinning), then read the shared store as usual. Without a
/// daemon they read the store alone and report a missing block as an error.
enum DaemonFetch {
    /// The running daemon's API, if any.
    static func daemon(_ options: HomeOptions) -> APIClient? {
        guard let api = APIClient.find(home: options.home), api.isReachable() else { return nil }
        return api
    }

    /// Asks a running daemon to fetch `path` (the whole DAG when `recursive`, else only the blocks
    /// that name it). Does nothing without a daemon or for non-IPFS paths (repository refs).
    static func fetch(_ options: HomeOptions, _ path: String, recursive: Bool, depth: Int? = nil) throws {
        guard let content = try? ContentPath(path), var api = daemon(options) else { return }
        api.timeout = 600
        var failure: String?
        var parameters = [("pin", "false"), ("recursive", recursive ? "true" : "false")]
        if let depth { parameters.append(("depth", String(depth))) }
        try api.stream("fetch", arguments: [content.description], options: parameters) { document, _ in
            if let error = document["Error"]?.stringValue { failure = error }
        }
        if let failure { throw FetchFailure(message: "cannot fetch \(path): \(failure)") }
    }

    /// Runs `body`; when it fails on a missing block and a daemon runs, has the daemon fetch that
    /// block and runs `body` again (for commands that print only once everything is read).
    static func retrying<T>(_ options: HomeOptions, _ body: () throws -> T) throws -> T {
        var fetched = 0
        while true {
            let missing: CID
            let original: any Error
            do {
                return try body()
            } catch let error as ExportError {
                guard case .missingBlock(let cid, _) = error else { throw error }
                (missing, original) = (cid, error)
            } catch let error as IPLDPathError {
                guard case .missingBlock(let cid, _) = error else { throw error }
                (missing, original) = (cid, error)
            }
            guard fetched < 100_000, daemon(options) != nil else { throw original }
            fetched += 1
            try fetch(options, missing.description, recursive: false)
        }
    }
}


/// Tells a running daemon to announce new content to the DHT (`add`, `pin add`, `dag import` and
/// `commit` call it with the roots they stored). Without a daemon it does nothing: the daemon's
/// reprovide cycle announces the content once it runs. A daemon that cannot be reached is not an
/// error for the command that stored the data.
enum DaemonAnnounce {
    static func provide(_ options: HomeOptions, _ cids: [CID]) {
        guard !cids.isEmpty, let api = DaemonFetch.daemon(options) else { return }
        _ = try? api.call("routing/provide", arguments: cids.map(\.description), options: [("queue", "true")])
    }
}
