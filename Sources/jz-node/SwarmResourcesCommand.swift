import ArgumentParser
import Foundation
import JZNode

struct SwarmResourcesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resources",
        abstract: "Show use against the resource limits (Swarm.ResourceMgr.*), with refusals per limit.",
        discussion: """
            One line per scope and resource: the node (system), each protocol, and the top \
            peers (those refused most, then the fullest). A limit of - means none.

            Refused counts what the limit turned away since the daemon started: connections, \
            streams (reset), stream data over the pending-bytes budget (stream reset), DHT \
            records and provider records (not stored), Bitswap wantlist entries (ignored).
            """)

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Option(name: .long, help: "Peers to list (0: all).")
    var peers = 20

    func run() throws {
        guard peers >= 0 else { throw ValidationError("--peers must be 0 or more") }
        let answer = try requireDaemon(homeOptions).call("swarm/resources", options: [("peers", String(peers))])
        if output.json { return printJSON(answer) }
        var rows: [[String]] = [["SCOPE", "RESOURCE", "USED", "LIMIT", "REFUSED"]]
        func add(_ scope: String, _ resources: JSONValue?) {
            guard case .object(let members)? = resources else { return }
            for (name, use) in members.sorted(by: { $0.key < $1.key }) {
                let limit = use["Limit"]?.intValue ?? 0
                rows.append([
                    scope, name, String(use["Used"]?.intValue ?? 0), limit == 0 ? "-" : String(limit),
                    String(use["Refused"]?.intValue ?? 0),
                ])
            }
        }
        add("system", answer["System"])
        if case .object(let protocols)? = answer["Protocols"] {
            for (name, resources) in protocols.sorted(by: { $0.key < $1.key }) { add("protocol \(name)", resources) }
        }
        for peer in answer["Peers"]?.arrayValue ?? [] {
            add("peer \(peer["Peer"]?.stringValue ?? "?")", peer["Resources"])
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces))
        }
        if let omitted = answer["PeersOmitted"]?.intValue, omitted > 0 {
            print("(\(omitted) more peers; --peers 0 lists all)")
        }
    }
}
