import ArgumentParser
import Foundation
import JZNode

struct NameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "name",
        abstract: "Publish and resolve IPNS names (signed records in the DHT, through the daemon).",
        discussion: """
            A name is the peer ID of a key (`self`, the node's identity, or one made with `jz-node key gen`), \
            printed as k51…. A record says which path the name points to; it is signed, carries a \
            sequence number (a newer record has a higher one) and expires after its lifetime.
            """,
        subcommands: [NamePublishCommand.self, NameResolveCommand.self])
}

struct NamePublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Point a name at a path: sign a record and put it on the closest DHT peers.",
        discussion: """
            The sequence number continues from the best record the network holds for the name; a \
            --sequence that would not replace it is refused. Records of RSA keys are published with \
            the key under /pk/, as Kubo does.

            Example:
              jz-node name publish /ipfs/bafy... --key dataset --lifetime 24h
            """)

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "The path: /ipfs/CID[/…], a CID, or /ipns/NAME.")
    var path: String

    @Option(name: [.short, .long], help: "The key whose name to publish (see `jz-node key list`).")
    var key = "self"

    @Option(name: .long, help: "How long the record is valid (Go duration).")
    var lifetime = "48h"

    @Option(name: .long, help: "How long resolvers may cache the record (Go duration).")
    var ttl = "5m"

    @Option(name: .long, help: "The sequence number (default: one more than the network's).")
    var sequence: UInt64?

    func run() throws {
        var api = try requireDaemon(homeOptions)
        api.timeout = 180
        var options = [("key", key), ("lifetime", lifetime), ("ttl", ttl)]
        if let sequence { options.append(("sequence", String(sequence))) }
        let answer = try api.call("name/publish", arguments: [path], options: options)
        if output.json { return printJSON(answer) }
        print("Published to \(answer["Name"]?.stringValue ?? ""): \(answer["Value"]?.stringValue ?? "")")
    }
}

struct NameResolveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Print the path a name points to (the best valid record found in the DHT).")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "The name: k51…, a peer ID, or /ipns/NAME[/path].")
    var name: String

    @Flag(name: [.short, .long], inversion: .prefixedNo, help: "Follow names that point to names.")
    var recursive = true

    func run() throws {
        var api = try requireDaemon(homeOptions)
        api.timeout = 180
        let answer = try api.call("name/resolve", arguments: [name], options: [("recursive", recursive ? "true" : "false")])
        if output.json { return printJSON(answer) }
        print(answer["Path"]?.stringValue ?? "")
    }
}
