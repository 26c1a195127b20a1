import ArgumentParser
import Foundation
import JZNode
import P2PSecurity

struct SwarmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swarm",
        abstract: "Inspect and change the daemon's peer connections.",
        discussion: "These commands need a running daemon (`jz-node daemon`), except `swarm key`.",
        subcommands: [SwarmPeersCommand.self, SwarmConnectCommand.self, SwarmDisconnectCommand.self, SwarmAddrsCommand.self, SwarmResourcesCommand.self, SwarmKeyCommand.self]
    )
}

struct SwarmPeersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peers", abstract: "List connected peers (address/p2p/peer per line).")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Flag(name: [.short, .long], help: "Also show muxer, security, direction and the peer's agent.")
    var verbose = false

    func run() throws {
        let answer = try requireDaemon(homeOptions).call("swarm/peers", options: verbose ? [("verbose", "true")] : [])
        if output.json { return printJSON(answer) }
        for peer in answer["Peers"]?.arrayValue ?? [] {
            let addr = peer["Addr"]?.stringValue ?? ""
            let id = peer["Peer"]?.stringValue ?? ""
            if verbose {
                let muxer = peer["Muxer"]?.stringValue ?? ""
                let security = peer["Security"]?.stringValue ?? ""
                let direction = peer["Direction"] == .int(1) ? "inbound" : "outbound"
                let agent = peer["Identify"]?["AgentVersion"]?.stringValue ?? ""
                print("\(addr)/p2p/\(id)  \(direction)  \(security)  \(muxer)  \(agent)")
            } else {
                print("\(addr)/p2p/\(id)")
            }
        }
    }
}

struct SwarmConnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect", abstract: "Connect to peers: MADDR must end in /p2p/<peer ID>, which is verified.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "Addresses such as /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…")
    var addresses: [String]

    func run() throws {
        let answer = try requireDaemon(homeOptions).call("swarm/connect", arguments: addresses)
        if output.json { return printJSON(answer) }
        for line in answer["Strings"]?.stringArray ?? [] { print(line) }
    }
}

struct SwarmDisconnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disconnect", abstract: "Close the connections to peers (by /…/p2p/ID address or peer ID).")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "Peer IDs or multiaddrs ending in /p2p/<peer ID>.")
    var peers: [String]

    func run() throws {
        let answer = try requireDaemon(homeOptions).call("swarm/disconnect", arguments: peers)
        if output.json { return printJSON(answer) }
        for line in answer["Strings"]?.stringArray ?? [] { print(line) }
    }
}

struct SwarmAddrsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "addrs", abstract: "Addresses of this node.", subcommands: [SwarmAddrsLocalCommand.self])
}

struct SwarmAddrsLocalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "local", abstract: "The addresses the daemon listens on.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Flag(name: .long, help: "Append /p2p/<our peer ID>.")
    var id = false

    func run() throws {
        let answer = try requireDaemon(homeOptions).call("swarm/addrs/local", options: id ? [("id", "true")] : [])
        if output.json { return printJSON(answer) }
        for line in answer["Strings"]?.stringArray ?? [] { print(line) }
    }
}

struct PingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ping",
        abstract: "Measure round trips to a peer with /ipfs/ping/1.0.0 (through the daemon).",
        discussion: "PEER is a peer ID (known to the daemon) or a multiaddr ending in /p2p/<peer ID>.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "Peer ID or multiaddr.")
    var peer: String
    @Option(name: [.customShort("n"), .customLong("count")], help: "Number of pings.")
    var count: Int = 10

    func run() throws {
        guard count > 0 else { throw ValidationError("--count must be at least 1") }
        var answers = 0
        try requireDaemon(homeOptions).stream("ping", arguments: [peer], options: [("count", String(count))]) { document, _ in
            if output.json {
                print(document.serialized(indent: nil))
            } else {
                let text = document["Text"]?.stringValue ?? ""
                if text.isEmpty, case .int(let ns)? = document["Time"] {
                    print("Pong received: time=\(String(format: "%.2f", Double(ns) / 1e6)) ms")
                } else {
                    print(text)
                }
            }
            if document["Text"]?.stringValue == "", document["Success"] == .bool(true) { answers += 1 }
            fflush(nil)
        }
        if answers == 0 { throw ExitCode.failure }
    }
}

struct SwarmKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Private networks: make or inspect the swarm key (<home>/swarm.key).",
        discussion: """
            A node whose home holds a swarm.key (libp2p PSK v1, the file Kubo reads from
            $IPFS_PATH/swarm.key) protects every connection with it, before security
            negotiation: only peers with the same key can connect, in either direction. Copy
            the same file into every node of the network, Kubo or jz-node, and restart them.
            LIBP2P_FORCE_PNET=1 makes a node refuse to start without a key.
            """,
        subcommands: [Gen.self, Show.self])

    struct Gen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new random swarm key; print it (as ipfs-swarm-key-gen) or write it to the home.")
        @OptionGroup var homeOptions: HomeOptions
        @Flag(name: .long, help: "Write <home>/swarm.key instead of printing the key.")
        var write = false
        @Flag(name: .long, help: "With --write, replace an existing swarm.key.")
        var force = false

        func run() throws {
            let key = PreSharedKey.generate()
            guard write else { return print(key.fileText, terminator: "") }
            let path = homeOptions.home.swarmKeyPath
            guard force || !FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("\(path) exists: replacing it moves this node to another network (use --force)")
            }
            guard homeOptions.home.isInitialized else { throw NodeError.notInitialized(path: homeOptions.home.path) }
            guard FileManager.default.createFile(
                atPath: path, contents: Data(key.fileText.utf8), attributes: [.posixPermissions: 0o600])
            else { throw NodeError.io(path: path, reason: "cannot write the swarm key") }
            print("wrote \(path) (fingerprint \(key.fingerprintHex)); restart the daemon to use it")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show whether this node is in a private network, and the key's fingerprint (not the key).")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            let key = try homeOptions.home.loadSwarmKey(environment: [:])
            if output.json {
                return printJSON([
                    "Path": .string(homeOptions.home.swarmKeyPath),
                    "Fingerprint": key.map { .string($0.fingerprintHex) } ?? .null,
                ])
            }
            guard let key else { return print("public network: no \(homeOptions.home.swarmKeyPath)") }
            print("private network, swarm key fingerprint \(key.fingerprintHex)")
        }
    }
}
