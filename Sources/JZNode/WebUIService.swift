import Foundation
import Gateway
import NIOHTTP1
import Versioning
import WebUI

extension NodeDaemon {
    /// What the repository web page (`/webui/` on the gateway port) reads: this node's
    /// repositories, its connected peers and commit signatures checked with `CommitSigning`.
    public func webUIContext() -> WebUIContext {
        let host = host
        return WebUIContext(
            versions: local.versionStore(),
            peers: {
                await host.connections().map { "\($0.remotePeer) \($0.remoteAddress)" }.sorted()
            },
            signature: { commit in
                let verification = CommitSigning.verify(commit)
                switch verification {
                case .unsigned: return nil
                case .good: return "Good signature by \(verification.signerName ?? "?")"
                case .bad(_, let reason): return "BAD signature by \(verification.signerName ?? "an unreadable key"): \(reason)"
                }
            })
    }
}

/// The web page on the gateway port: `GET`/`HEAD /webui/…` answered by `WebUI`, everything else
/// left to the gateway.
enum WebUIRoute {
    static func route(_ context: WebUIContext) -> GatewayServer.Route {
        { method, uri, _ in
            guard uri == "/webui" || uri.hasPrefix("/webui/") || uri.hasPrefix("/webui?") else { return nil }
            guard method == .GET || method == .HEAD else {
                return GatewayResponse(status: 405, headers: [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")], body: .bytes(Array("405 - Method Not Allowed\n".utf8)))
            }
            let components = URLComponents(string: uri)
            var query: [String: String] = [:]
            for item in components?.queryItems ?? [] { query[item.name] = item.value ?? "" }
            let page = await WebUI.render(path: components?.percentEncodedPath ?? uri, query: query, context: context)
            return GatewayResponse(
                status: page.status,
                headers: [
                    ("Content-Type", page.contentType), ("Content-Length", String(page.body.count)), ("Cache-Control", "no-cache"),
                    // Server-rendered, no scripts: forbid any that a file name or preview might smuggle in.
                    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'unsafe-inline'; script-src 'none'"),
                    ("X-Content-Type-Options", "nosniff"),
                ],
                body: .bytes(page.body))
        }
    }
}
