import ArgumentParser
import JZNode

struct BootstrapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap",
        abstract: "Show or edit the list of bootstrap peers.",
        discussion: """
            Bootstrap peers are dialled at start-up to join the network. Each entry is a
            multiaddr ending in /p2p/<peer ID>. The defaults (bootstrap.peers) are the
            public IPFS bootstrap nodes.
            """,
        subcommands: [List.self, Add.self, Remove.self],
        defaultSubcommand: List.self
    )

    static func report(_ verb: String, _ peers: [String], json: Bool) {
        if json {
            printJSON(["Peers": .array(peers.map { .string($0) })])
        } else {
            for peer in peers { print("\(verb)\(peer)") }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the bootstrap peers.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            if let api = ThroughDaemon.client(homeOptions) {
                BootstrapCommand.report("", try api.call("bootstrap/list")["Peers"]?.stringArray ?? [], json: output.json)
                return
            }
            BootstrapCommand.report("", try homeOptions.home.loadConfig().bootstrap, json: output.json)
        }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add peers to the bootstrap list.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption

        @Argument(help: "Multiaddrs ending in /p2p/<peer ID>.")
        var peers: [String] = []

        @Flag(name: .long, help: "Add the default bootstrap peers.")
        var `default` = false

        func validate() throws {
            if peers.isEmpty && !`default` { throw ValidationError("give peers to add, or --default") }
        }

        func run() throws {
            let added: [String]
            if let api = ThroughDaemon.client(homeOptions) {
                let answer = try api.call("bootstrap/add", arguments: peers, options: [ThroughDaemon.flag("default", `default`)])
                added = answer["Peers"]?.stringArray ?? []
            } else {
                added = try homeOptions.home.addBootstrapPeers(peers, defaults: `default`)
            }
            BootstrapCommand.report("added ", added, json: output.json)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove peers from the bootstrap list.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption

        @Argument(help: "Multiaddrs to remove.")
        var peers: [String] = []

        @Flag(name: .long, help: "Remove every bootstrap peer.")
        var all = false

        func validate() throws {
            if peers.isEmpty && !all { throw ValidationError("give peers to remove, or --all") }
        }

        func run() throws {
            let removed: [String]
            if let api = ThroughDaemon.client(homeOptions) {
                let answer = try api.call("bootstrap/rm", arguments: peers, options: [ThroughDaemon.flag("all", all)])
                removed = answer["Peers"]?.stringArray ?? []
            } else {
                removed = try homeOptions.home.removeBootstrapPeers(peers, all: all)
            }
            BootstrapCommand.report("removed ", removed, json: output.json)
        }
    }
}
