import Foundation
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
