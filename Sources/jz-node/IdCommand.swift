import ArgumentParser
import JZNode
import Multiformats

struct IdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "id",
        abstract: "Show this node's identity: peer ID, public key, addresses, agent version.",
        discussion: """
            Prints the same fields as Kubo's `ipfs id`. With a running daemon, Addresses are the
            addresses it listens on and Protocols the protocols it serves; with PEER, the daemon
            asks that peer with identify (/ipfs/id/1.0.0) and prints what it says (verified: its
            public key must match its peer ID). Without a daemon, Addresses are the configured swarm
            addresses with /p2p/<peer ID> appended, and Protocols is null.
            --format takes a template with <id>, <pubkey>, <addrs> (one per line) and <aver>.
            """
    )

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "A peer ID or /…/p2p/<peer ID> multiaddr to identify (needs a running daemon).")
    var peer: String?

    @Option(name: [.short, .long], help: "Template for the output, e.g. '<id>'.")
    var format: String?

    @Option(name: .customLong("peerid-base"), help: "Encoding of the printed peer ID: b58mh or base36/base32 (CIDv1).")
    var peerIDBase: String = "b58mh"

    func run() throws {
        if let client = APIClient.find(home: homeOptions.home) {
            let answer = try client.call("id", arguments: peer.map { [$0] } ?? [])
            return try render(answer)
        }
        if peer != nil { throw APIError.noDaemon(home: homeOptions.home.path) }
        let (config, identity) = try homeOptions.home.loadIdentity()
        let id: String
        if peerIDBase == "b58mh" {
            id = identity.peerID.description
        } else {
            guard let base = Multibase(name: peerIDBase) else {
                throw ValidationError("unknown --peerid-base \(peerIDBase); use b58mh or a multibase name such as base36")
            }
            id = identity.peerID.cidString(base: base)
        }
        let addresses = config.swarmAddresses.map { "\($0)/p2p/\(identity.peerID)" }
        let value: JSONValue = [
            "ID": .string(id),
            "PublicKey": .string(identity.publicKeyBase64),
            "Addresses": addresses.isEmpty ? .null : .array(addresses.map { .string($0) }),
            "AgentVersion": .string(JZNodeInfo.agentVersion),
            "Protocols": .null,
        ]
        try render(value)
    }

    /// Prints an identity document (Kubo's `ipfs id` shape) as JSON or through --format.
    func render(_ value: JSONValue) throws {
        if let format {
            let id = value["ID"]?.stringValue ?? ""
            let addresses = value["Addresses"]?.stringArray ?? []
            let text = format
                .replacingOccurrences(of: "<id>", with: id)
                .replacingOccurrences(of: "<pubkey>", with: value["PublicKey"]?.stringValue ?? "")
                .replacingOccurrences(of: "<aver>", with: value["AgentVersion"]?.stringValue ?? "")
                .replacingOccurrences(of: "<addrs>", with: addresses.joined(separator: "\n"))
                .replacingOccurrences(of: "\\n", with: "\n")
                .replacingOccurrences(of: "\\t", with: "\t")
            print(text, terminator: "")
            return
        }
        // Kubo prints `ipfs id` as tab-indented JSON; --json gives the same document.
        printJSON(value, indent: "\t", keyOrder: ["ID", "PublicKey", "Addresses", "AgentVersion", "ProtocolVersion", "Protocols"])
    }
}
