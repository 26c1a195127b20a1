import Foundation
import JZNode

/// Runs one node command the way Kubo's CLI does: through the daemon's RPC API when a daemon
/// runs on the node home (`POST /api/v0/<command>` with `arguments` as `arg` and `options` as
/// query parameters), else in-process with `local` on the node home opened directly. Either
/// way the answer is the same JSON document, so one renderer prints both.
/// - Parameter timeout: seconds the daemon may take (default: the client's).
func nodeCall(
    _ home: HomeOptions, _ command: String, arguments: [String] = [], options: [(String, String)] = [],
    timeout: Double? = nil, local: (LocalNode, APIRequest) throws -> JSONValue
) throws -> JSONValue {
    if var client = DaemonFetch.daemon(home) {
        if let timeout { client.timeout = timeout }
        return try client.call(command, arguments: arguments, options: options)
    }
    let node = try openLocalNode(home)
    return try local(node, APIRequest(command: command, parameters: arguments.map { ("arg", $0) } + options))
}
