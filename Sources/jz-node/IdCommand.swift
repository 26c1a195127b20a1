import ArgumentParser
import JZNode
import Multiformats

struct IdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "id",
        abstract: "Show this node's identity: peer ID, public key, addresses, agent version.",
        discussion: """
            Prints the same fields as Kubo's `ipfs id`. Without a running daemon, Addresses are
            the configured swarm addresses with /p2p/<peer ID> appended, and Protocols is null.
            --format takes a template with <id>, <pubkey>, <addrs> (one per line) and <aver>.
            """
    )

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Option(name: [.short, .long], help: "Template for the output, e.g. '<id>'.")
    var format: String?

    @Option(name: .customLong("peerid-base"), help: "Encoding of the printed peer ID: b58mh or base36/base32 (CIDv1).")
    var peerIDBase: String = "b58mh"

    func run() throws {
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
        if let format {
            let text = format
                .replacingOccurrences(of: "<id>", with: id)
                .replacingOccurrences(of: "<pubkey>", with: identity.publicKeyBase64)
                .replacingOccurrences(of: "<aver>", with: JZNodeInfo.agentVersion)
                .replacingOccurrences(of: "<addrs>", with: addresses.joined(separator: "\n"))
                .replacingOccurrences(of: "\\n", with: "\n")
                .replacingOccurrences(of: "\\t", with: "\t")
            print(text, terminator: "")
            return
        }
        let value: JSONValue = [
            "ID": .string(id),
            "PublicKey": .string(identity.publicKeyBase64),
            "Addresses": addresses.isEmpty ? .null : .array(addresses.map { .string($0) }),
            "AgentVersion": .string(JZNodeInfo.agentVersion),
            "Protocols": .null,
        ]
        // Kubo prints `ipfs id` as tab-indented JSON; --json gives the same document.
        printJSON(value, indent: "\t", keyOrder: ["ID", "PublicKey", "Addresses", "AgentVersion", "Protocols"])
    }
}
