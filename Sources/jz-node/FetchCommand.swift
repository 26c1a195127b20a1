import ArgumentParser
import Bitswap
import Foundation
import JZNode
import Logging
import Multiformats

struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Fetch a whole DAG from IPFS peers over Bitswap, verify every block, store and pin it.",
        discussion: """
            Asks the --peer peers, the connected peers and (without --peer) the
            bootstrap peers, and looks up providers of the root in the DHT at once
            (Routing.Type none turns that off). Every block is hashed against its CID before it is
            stored; a peer that sends a bad block is dropped. Blocks already in the
            store are not asked for, so an interrupted fetch resumes where it
            stopped. dag-pb, raw and dag-cbor links are followed.

            With a daemon running, the daemon fetches (and announces what it pinned);
            otherwise a short-lived node does (it listens nowhere: peers answer over
            the connections it opens; it is a DHT client).

            Examples:
              jz-node fetch QmHash -o file.bin \\
                --peer /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...
              jz-node fetch /ipfs/bafy.../dir/file.txt --timeout 5m --json
              jz-node fetch /ipns/k51.../data.csv
            """)

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "The CID, /ipfs/ path, or /ipns/ path (resolved first) to fetch.")
    var path: String

    @Option(name: .long, help: ArgumentHelp("A peer to ask (multiaddr ending in /p2p/<peer ID>); repeatable.", valueName: "maddr"))
    var peer: [String] = []

    @Option(name: [.short, .customLong("output")], help: "Also write the content here (file or directory, as `get -o`).")
    var outputPath: String?

    @Option(name: .long, help: ArgumentHelp("Give up after this long: seconds, or a duration such as 90s, 5m, 1h.", valueName: "duration"))
    var timeout: String?

    @Flag(name: .customLong("no-pin"), help: "Do not pin the fetched DAG (it can then be garbage-collected).")
    var noPin = false

    @Flag(name: [.short, .long], help: "No progress bar.")
    var quiet = false

    func run() async throws {
        let contentPath = try parseContentPath(try await resolvingIPNS(homeOptions, path))
        var peers: [Multiaddr] = []
        for text in peer {
            let address: Multiaddr
            do { address = try Multiaddr(text) } catch { throw InputError("--peer \(text): \(error)") }
            guard address.value(for: .p2p) != nil else {
                throw InputError("--peer \(text): the address must end in /p2p/<peer ID>")
            }
            peers.append(address)
        }
        let duration = try timeout.map(parseDuration)
        if let outputPath, FileManager.default.fileExists(atPath: outputPath) {
            throw InputError("\(outputPath) already exists: choose another with -o")
        }
        let home = homeOptions.home
        let view = FetchProgressView(quiet: quiet || output.json)
        let report: JSONValue
        if let api = DaemonFetch.daemon(homeOptions) {
            report = try fetchThroughDaemon(api, contentPath, peers: peers, timeout: duration, view: view)
        } else {
            let node = try FetchNode(home: home, logger: Logger(label: "jz.fetch"))
            let request = FetchRequest(path: contentPath, peers: peers, timeout: duration, pin: !noPin)
            report = try await node.fetch(request) { view.update($0) }.json
        }
        view.finish()
        var json = report
        if let outputPath {
            guard let root = report["Root"]?.stringValue, let cid = try? CID(root) else {
                throw FetchFailure(message: "the fetch did not report its root CID")
            }
            let node = try openLocalNode(homeOptions)
            try node.exporter.get(cid, to: outputPath) { _ in }
            json = json.setting("Output", .string(outputPath))
        } else {
            json = json.setting("Output", .null)
        }
        if output.json {
            printJSON(json, keyOrder: ["Root", "Blocks", "BlocksFetched", "BlocksPresent", "BytesFetched", "Seconds"])
            return
        }
        let fetched = json["BlocksFetched"]?.intValue ?? 0
        let present = json["BlocksPresent"]?.intValue ?? 0
        let bytes = json["BytesFetched"]?.intValue ?? 0
        let seconds = json["Seconds"]?.doubleValue ?? 0
        let providers = json["Providers"]?.arrayValue?.count ?? 0
        var line = "fetched \(json["Root"]?.stringValue ?? path): \(fetched) block(s), \(ProgressBar.bytes(Int64(bytes)))"
            + " in \(String(format: "%.1f", seconds)) s from \(providers) peer(s)"
        if present > 0 { line += "; \(present) block(s) were already here" }
        if json["Pinned"] == .bool(true) { line += "; pinned" }
        print(line)
        for dropped in json["DroppedPeers"]?.arrayValue ?? [] {
            printError("dropped \(dropped["Peer"]?.stringValue ?? "?"): \(dropped["Reason"]?.stringValue ?? "")")
        }
        if let outputPath { print("saved to \(outputPath)") }
    }

    private func fetchThroughDaemon(
        _ api: APIClient, _ contentPath: ContentPath, peers: [Multiaddr], timeout: Duration?, view: FetchProgressView
    ) throws -> JSONValue {
        var options: [(String, String)] = peers.map { ("peer", $0.description) }
        options.append(("pin", noPin ? "false" : "true"))
        if let timeout {
            let c = timeout.components
            options.append(("timeout", String(Double(c.seconds) + Double(c.attoseconds) / 1e18)))
        }
        var result: JSONValue?
        var failure: String?
        var client = api
        client.timeout = 600
        try client.stream("fetch", arguments: [contentPath.description], options: options) { document, _ in
            if let progress = document["Progress"].flatMap(FetchProgress.init(json:)) { view.update(progress) }
            if let value = document["Result"] { result = value }
            if let error = document["Error"]?.stringValue { failure = error }
        }
        if let failure { throw FetchFailure(message: failure) }
        guard let result else { throw FetchFailure(message: "the daemon ended the fetch without a result") }
        return result
    }
}

/// A fetch that failed in the daemon (its message is shown as is).
struct FetchFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Parses `90`, `90s`, `1.5m`, `2h`, `500ms` into a duration.
func parseDuration(_ text: String) throws -> Duration {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    var number = text
    var scale = 1.0
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        number = String(text.dropLast(suffix.count))
        scale = factor
        break
    }
    guard let value = Double(number), value > 0, value.isFinite else {
        throw InputError("--timeout \(text) is not a duration: use seconds or a number with ms, s, m or h")
    }
    return .milliseconds(Int64(value * scale * 1000))
}

/// The fetch progress line on stderr: blocks, bytes, rate and peers (only on a terminal).
final class FetchProgressView: @unchecked Sendable {
    private let enabled: Bool
    private let lock = NSLock()
    private let start = Date()
    private var lastDraw: TimeInterval = 0
    private var last: FetchProgress?

    init(quiet: Bool) {
        enabled = !quiet && isatty(STDERR_FILENO) == 1
    }

    func update(_ progress: FetchProgress) {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        last = progress
        let now = Date().timeIntervalSince(start)
        guard now - lastDraw >= 0.1 else { return }
        lastDraw = now
        draw(progress, elapsed: now)
    }

    func finish() {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        if let last { draw(last, elapsed: Date().timeIntervalSince(start)) }
        FileHandle.standardError.write(Data("\n".utf8))
    }

    private func draw(_ p: FetchProgress, elapsed: TimeInterval) {
        let rate = elapsed > 0 ? Double(p.bytesFetched) / elapsed : 0
        let line = "\rfetching \(p.blocksDone)/\(p.blocksKnown) blocks  \(ProgressBar.bytes(Int64(p.bytesFetched)))"
            + "  \(ProgressBar.bytes(Int64(rate)))/s  \(p.peers) peer(s)\u{1b}[K"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
