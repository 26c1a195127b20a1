import ArgumentParser
import Foundation
import JZNode
import Multiformats

/// The running daemon, for the commands that still read the store themselves while it runs
/// (the versioning commands' lazy data): `fetch` has it bring what they need first.
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
}

/// As Kubo's CLI: with a daemon running, `add`, `cat`, `get`, `ls`, `pin`, `block`, `dag`, `key`
/// (but `export`, which Kubo runs locally too), `config`, `bootstrap` and `store` are sent to its
/// RPC API with the same arguments, and the answer is printed as the offline command prints;
/// without a daemon they work on the node home.
enum ThroughDaemon {
    /// The daemon's client with room for long transfers, or nil when no daemon runs.
    static func client(_ options: HomeOptions) -> APIClient? {
        guard var api = DaemonFetch.daemon(options) else { return nil }
        api.timeout = 3600
        return api
    }

    /// The documents of an answer (a streamed answer is an array); Kubo's error document, sent
    /// inside a stream after the status line, is thrown.
    static func documents(_ answer: JSONValue) throws -> [JSONValue] {
        let documents: [JSONValue] = if case .array(let items) = answer { items } else if answer == .null { [] } else { [answer] }
        for document in documents { try check(document) }
        return documents
    }

    /// Throws Kubo's error document (`{"Message","Code","Type":"error"}`).
    static func check(_ document: JSONValue) throws {
        if document["Type"]?.stringValue == "error" {
            throw APIError.remote(status: 500, message: document["Message"]?.stringValue ?? "the daemon reported an error")
        }
    }

    /// `--flag` as a query option (`true`/`false`).
    static func flag(_ name: String, _ value: Bool) -> (String, String) { (name, value ? "true" : "false") }
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
