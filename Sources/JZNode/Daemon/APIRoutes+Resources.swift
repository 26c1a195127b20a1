import Foundation
import P2PCore
import P2PCrypto

/// `swarm/resources` (Kubo 0.22's `ipfs swarm resources`, in jz-node's own shape): use against
/// limits for the node, per protocol and for the top peers, with refusals per limit.
extension APIRoutes {
    /// Options: `peers` (how many peers to list, most refused and fullest first; default 20, 0: all).
    func swarmResources(_ request: APIRequest) async throws -> APIResponse {
        var top = 20
        if let text = request.value("peers") {
            guard let n = Int(text), n >= 0 else {
                throw APIError.remote(status: 400, message: "peers must be a non-negative integer, not \(text)")
            }
            top = n
        }
        let report = try await daemon.services.resourceReport()
        return .json(Self.resourcesJSON(report, topPeers: top))
    }

    /// The JSON of a report: `System` and `Protocols` map resource names to
    /// `{"Used", "Limit", "Refused"}` (Limit 0: none); `Peers` lists `{"Peer", "Resources"}`, the
    /// peers with refusals first, then by the fullest resource; `PeersOmitted` counts the rest.
    static func resourcesJSON(_ report: ResourceReport, topPeers: Int) -> JSONValue {
        func uses(_ resources: [String: ResourceUse]) -> JSONValue {
            .object(resources.mapValues { use in
                ["Used": .int(Int64(use.used)), "Limit": .int(Int64(use.limit)), "Refused": .int(Int64(use.refused))]
            })
        }
        func refused(_ r: [String: ResourceUse]) -> Int { r.values.reduce(0) { $0 + $1.refused } }
        func fullest(_ r: [String: ResourceUse]) -> Double {
            r.values.map { $0.limit > 0 ? Double($0.used) / Double($0.limit) : 0 }.max() ?? 0
        }
        let ranked = report.peers.sorted { a, b in
            let (ra, rb) = (refused(a.value), refused(b.value))
            if ra != rb { return ra > rb }
            let (fa, fb) = (fullest(a.value), fullest(b.value))
            if fa != fb { return fa > fb }
            return a.key.description < b.key.description
        }
        let shown = topPeers == 0 ? ranked[...] : ranked.prefix(topPeers)
        return [
            "System": uses(report.system),
            "Protocols": .object(report.protocols.mapValues(uses)),
            "Peers": .array(shown.map { ["Peer": .string($0.key.description), "Resources": uses($0.value)] }),
            "PeersOmitted": .int(Int64(ranked.count - shown.count)),
        ]
    }
}
