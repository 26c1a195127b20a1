import ArgumentParser
import Foundation
import JZNode

struct BitswapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bitswap",
        abstract: "Inspect the Bitswap block exchange (through the daemon).",
        subcommands: [BitswapStatCommand.self, BitswapWantlistCommand.self, BitswapLedgerCommand.self])
}

struct BitswapStatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stat",
        abstract: "Show counters: blocks and bytes received and sent, duplicates, the wantlist and partners.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    func run() throws {
        let answer = try requireDaemon(homeOptions).call("bitswap/stat")
        if output.json { return printJSON(answer) }
        func n(_ key: String) -> Int { answer[key]?.intValue ?? 0 }
        let wantlist = answer["Wantlist"]?.arrayValue ?? []
        let peers = answer["Peers"]?.stringArray ?? []
        print("bitswap status")
        print("\tblocks received: \(n("BlocksReceived"))")
        print("\tblocks sent: \(n("BlocksSent"))")
        print("\tdata received: \(n("DataReceived"))")
        print("\tdata sent: \(n("DataSent"))")
        print("\tdup blocks received: \(n("DupBlksReceived"))")
        print("\tdup data received: \(n("DupDataReceived"))")
        print("\tbad blocks received: \(n("BadBlocksReceived"))")
        print("\tmessages received: \(n("MessagesReceived"))")
        print("\twantlist [\(wantlist.count) keys]")
        for key in wantlist { print("\t\t\(key["/"]?.stringValue ?? "")") }
        print("\tpartners [\(peers.count)]")
        for peer in peers { print("\t\t\(peer)") }
    }
}

struct BitswapWantlistCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wantlist",
        abstract: "List the blocks our fetches wait for, or (with --peer) what a peer wants from us.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Option(name: [.short, .long], help: "Show what this peer (ID) wants from us.")
    var peer: String?

    func run() throws {
        let answer = try requireDaemon(homeOptions).call("bitswap/wantlist", options: peer.map { [("peer", $0)] } ?? [])
        if output.json { return printJSON(answer) }
        for key in answer["Keys"]?.arrayValue ?? [] { print(key["/"]?.stringValue ?? "") }
    }
}

struct BitswapLedgerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger",
        abstract: "Show what we exchanged with a peer: bytes sent and received, blocks exchanged.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "The peer ID.")
    var peer: String

    func run() throws {
        let answer = try requireDaemon(homeOptions).call("bitswap/ledger", arguments: [peer])
        if output.json { return printJSON(answer) }
        print("Ledger for \(answer["Peer"]?.stringValue ?? peer)")
        print("Debt ratio:\t\(String(format: "%f", answer["Value"]?.doubleValue ?? 0))")
        print("Exchanges:\t\(answer["Exchanged"]?.intValue ?? 0)")
        print("Bytes sent:\t\(answer["Sent"]?.intValue ?? 0)")
        print("Bytes received:\t\(answer["Recv"]?.intValue ?? 0)")
    }
}
