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
            let config = try homeOptions.home.loadConfig()
            BootstrapCommand.report("", config.bootstrap, json: output.json)
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
            var toAdd = try peers.map { peer throws(NodeError) in try BootstrapList.validate(peer) }
            if `default` { toAdd += BootstrapList.defaultPeers }
            let home = homeOptions.home
            var config = try home.loadConfig()
            var list = config.bootstrap
            var added: [String] = []
            for peer in toAdd where !list.contains(peer) {
                list.append(peer)
                added.append(peer)
            }
            config.bootstrap = list
            try home.save(config)
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
            let home = homeOptions.home
            var config = try home.loadConfig()
            let list = config.bootstrap
            let removed: [String]
            if all {
                removed = list
                config.bootstrap = []
            } else {
                // Compare canonical forms so `/ipfs/` and `/p2p/` spellings match.
                let targets = Set(try peers.map { peer throws(NodeError) in try BootstrapList.validate(peer) })
                removed = list.filter { targets.contains((try? BootstrapList.validate($0)) ?? $0) }
                config.bootstrap = list.filter { !removed.contains($0) }
            }
            try home.save(config)
            BootstrapCommand.report("removed ", removed, json: output.json)
        }
    }
}
