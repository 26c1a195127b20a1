import ArgumentParser
import Foundation
import JZNode

struct SwarmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swarm",
        abstract: "Inspect and change the daemon's peer connections.",
        discussion: "These commands need a running daemon (`jz-node daemon`).",
        subcommands: [SwarmPeersCommand.self, SwarmConnectCommand.self, SwarmDisconnectCommand.self, SwarmAddrsCommand.self]
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
