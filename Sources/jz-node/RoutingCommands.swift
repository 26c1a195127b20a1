import ArgumentParser
import Foundation
import JZNode

// `routing`, `dht` and `stats`: the DHT through the daemon, with Kubo's names. `--json` prints
// the daemon's documents one per line (ndjson), as Kubo's `--enc=json`.

struct RoutingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "routing",
        abstract: "Find providers and peers, announce content, get and put records (the DHT, through the daemon).",
        discussion: """
            The daemon keeps two Kademlia DHTs, as Kubo does: a LAN one (/ipfs/lan/kad/1.0.0, peers on \
            loopback and private addresses) and a WAN one (/ipfs/kad/1.0.0, public peers). Config \
            Routing.Type chooses how the node takes part: auto (default: it answers queries once it \
            has an address others can dial), dhtclient, dhtserver or none.
            """,
        subcommands: [
            RoutingFindProvsCommand.self, RoutingFindPeerCommand.self, RoutingProvideCommand.self,
            RoutingGetCommand.self, RoutingPutCommand.self, RoutingReprovideCommand.self,
        ])
}

/// Prints one routing answer line: peers as `ID` (or `ID addr…` with addresses), or the JSON line.
private func printEvents(_ api: APIClient, _ command: String, arguments: [String], options: [(String, String)] = [],
                         json: Bool, each: (JSONValue) -> Void) throws {
    var failure: String?
    try api.stream(command, arguments: arguments, options: options) { document, _ in
        if json {
            printJSON(document, indent: nil)
        } else {
            each(document)
        }
        if let type = document["Type"]?.intValue, type == 3, let extra = document["Extra"]?.stringValue {
            failure = extra
        }
    }
    if let failure { throw RoutingFailure(message: failure) }
}

struct RoutingFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

struct RoutingFindProvsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "findprovs",
        abstract: "Find peers that provide a CID (one peer ID per line, as found).")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "The CID (or /ipfs/CID).")
    var cid: String

    @Option(name: [.customShort("n"), .customLong("num-providers")], help: "Stop after this many providers.")
    var count = 20

    func run() throws {
        guard count > 0 else { throw ValidationError("--num-providers must be greater than 0") }
        var api = try requireDaemon(homeOptions)
        api.timeout = 120
        try printEvents(api, "routing/findprovs", arguments: [cid], options: [("num-providers", String(count))], json: output.json) { doc in
            for response in doc["Responses"]?.arrayValue ?? [] {
                print(response["ID"]?.stringValue ?? "")
            }
        }
    }
}

struct RoutingFindPeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "findpeer",
        abstract: "Find the addresses of a peer (one per line).")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "The peer ID.")
    var peer: String

    func run() throws {
        var api = try requireDaemon(homeOptions)
        api.timeout = 120
        let answer = try api.call("routing/findpeer", arguments: [peer])
        let response = answer["Responses"]?.arrayValue?.first ?? .null
        if output.json { return printJSON(response, indent: nil) }
        for address in response["Addrs"]?.stringArray ?? [] { print(address) }
    }
}

struct RoutingProvideCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provide",
        abstract: "Announce to the DHT that this node provides CIDs (they must be stored here).",
        discussion: """
            Each CID is announced to the 20 peers closest to it in each DHT table; one line per CID \
            tells how many peers were sent the record. The daemon also announces what add, pin add, \
            dag import, fetch and commit store, and reprovides everything every Reprovider.Interval \
            (default 22h) per Reprovider.Strategy (all, pinned or roots).
            """)

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "CIDs to announce.")
    var cids: [String]

    @Flag(name: [.short, .long], help: "Announce every block of each DAG, not only the root.")
    var recursive = false

    func run() throws {
        guard !cids.isEmpty else { throw ValidationError("give at least one CID") }
        var api = try requireDaemon(homeOptions)
        api.timeout = 600
        var failed = 0
        var failures: [String] = []
        try api.stream("routing/provide", arguments: cids, options: [("recursive", recursive ? "true" : "false")]) { doc, _ in
            if output.json { printJSON(doc, indent: nil) }
            let cid = doc["ID"]?.stringValue ?? ""
            if doc["Type"]?.intValue == 3 {
                failed += 1
                failures.append("\(cid): \(doc["Extra"]?.stringValue ?? "failed")")
            } else if !output.json {
                print("\(cid) announced to \(doc["Peers"]?.intValue ?? 0) peers")
            }
        }
        if failed > 0 { throw RoutingFailure(message: "cannot announce " + failures.joined(separator: "; ")) }
    }
}

struct RoutingGetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Get the best record for a key (/pk/<peer ID> or /ipns/<name>); prints its bytes.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "The key, e.g. /pk/12D3KooW…")
    var key: String

    func run() throws {
        var api = try requireDaemon(homeOptions)
        api.timeout = 120
        let answer = try api.call("routing/get", arguments: [key])
        if output.json { return printJSON(answer, indent: nil) }
        let bytes = Data(base64Encoded: answer["Extra"]?.stringValue ?? "") ?? Data()
        FileHandle.standardOutput.write(bytes)
    }
}

struct RoutingPutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Put a record (the bytes of FILE) under a key on the closest DHT peers.",
        discussion: "Records must pass their namespace's validator: /pk/ keys take the public key of the peer ID they name.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "The key, e.g. /pk/12D3KooW…")
    var key: String

    @Argument(help: "A file holding the record's bytes.")
    var file: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read \(file)")
        }
        var api = try requireDaemon(homeOptions)
        api.timeout = 120
        let answer = try api.call("routing/put", arguments: [key], body: [UInt8](data))
        if output.json { return printJSON(answer, indent: nil) }
        print(answer["ID"]?.stringValue ?? "")
    }
}

struct RoutingReprovideCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reprovide",
        abstract: "Start a reprovide cycle now (announce everything Reprovider.Strategy covers).")

    @OptionGroup var homeOptions: HomeOptions

    func run() throws {
        _ = try requireDaemon(homeOptions).call("routing/reprovide")
    }
}

struct DHTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dht",
        abstract: "Query the DHT directly (through the daemon).",
        subcommands: [DHTQueryCommand.self])
}

struct DHTQueryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Find the peers closest to a peer ID in the DHT (one per line, closest first).")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "The peer ID whose neighbourhood to look up.")
    var peer: String

    func run() throws {
        var api = try requireDaemon(homeOptions)
        api.timeout = 120
        try printEvents(api, "dht/query", arguments: [peer], json: output.json) { doc in
            print(doc["ID"]?.stringValue ?? "")
        }
    }
}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Node statistics (through the daemon).",
        subcommands: [StatsDHTCommand.self, StatsProvideCommand.self])
}

struct StatsDHTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dht",
        abstract: "The DHT routing tables: mode, buckets and peers of the LAN and WAN tables.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    func run() throws {
        let answer = try requireDaemon(homeOptions).call("stats/dht")
        if output.json { return printJSON(answer) }
        for table in answer.arrayValue ?? [] {
            let name = table["Name"]?.stringValue ?? "?"
            print("DHT \(name) (\(table["Protocol"]?.stringValue ?? ""), \(table["Mode"]?.stringValue ?? "") mode): \(table["PeerCount"]?.intValue ?? 0) peers")
            print("  Bucket  Peers  Cached")
            for bucket in table["Buckets"]?.arrayValue ?? [] {
                let index = bucket["Index"]?.intValue ?? 0
                print(String(format: "  %6d  %5d  %6d", index, bucket["Peers"]?.intValue ?? 0, bucket["Cached"]?.intValue ?? 0))
            }
            for peer in table["Peers"]?.arrayValue ?? [] {
                let connected = peer["Connected"]?.boolValue == true ? "connected" : "not connected"
                print("  \(peer["ID"]?.stringValue ?? "")  \(connected)  \(peer["AgentVersion"]?.stringValue ?? "")")
            }
        }
    }
}

struct StatsProvideCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provide",
        abstract: "Announcements: totals, the queue, and the last reprovide cycle.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    func run() throws {
        let answer = try requireDaemon(homeOptions).call("stats/provide")
        if output.json { return printJSON(answer) }
        print("TotalProvides:          \(answer["TotalProvides"]?.intValue ?? 0)")
        print("FailedProvides:         \(answer["FailedProvides"]?.intValue ?? 0)")
        print("Queued:                 \(answer["Queued"]?.intValue ?? 0)")
        print("Strategy:               \(answer["Strategy"]?.stringValue ?? "")")
        print("ReprovideRunning:       \(answer["ReprovideRunning"]?.boolValue ?? false)")
        if let d = answer["LastReprovideDuration"]?.doubleValue {
            print(String(format: "LastReprovideDuration:  %.1fs", d))
        }
        print("LastReprovideBatchSize: \(answer["LastReprovideBatchSize"]?.intValue ?? 0)")
        print("LastReprovideLookups:   \(answer["LastReprovideLookups"]?.intValue ?? 0)")
    }
}
