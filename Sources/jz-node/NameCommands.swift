import ArgumentParser
import Foundation
import IPNS
import JZNode
import Logging

struct NameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "name",
        abstract: "Publish, resolve and inspect IPNS names (signed records in the DHT).",
        discussion: """
            A name is the peer ID of a key (`self`, the node's identity, or one made with `jz-node key gen`), \
            printed as k51…. A record says which path the name points to; it is signed, carries a \
            sequence number (a newer record has a higher one) and expires after its lifetime. The \
            daemon republishes the names it published every Ipns.RepublishPeriod (4h) and before \
            they expire.
            """,
        subcommands: [NamePublishCommand.self, NameResolveCommand.self, NameInspectCommand.self])
}

struct NamePublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Point a name at a path: sign a record and put it on the closest DHT peers.",
        discussion: """
            The sequence number continues from the best record known for the name (this node's, \
            and the network's when online); a --sequence that would not replace it is refused. \
            Records of RSA keys are published with the key under /pk/, as Kubo does.

            With no DHT peer (or no daemon), publishing is refused unless --allow-offline: the \
            record is then signed and kept in the node home only; the daemon serves it and puts it \
            on the network once it has peers.

            Examples:
              jz-node name publish /ipfs/bafy... --key dataset --lifetime 24h
              jz-node name publish --allow-offline /ipfs/bafy...     # no daemon needed
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

    @Option(name: .long, help: "The sequence number (default: one more than the best known).")
    var sequence: UInt64?

    @Flag(name: .long, help: "With no DHT peer or no daemon, store the record locally (put on the network later).")
    var allowOffline = false

    func run() async throws {
        let answer: JSONValue
        if var api = DaemonFetch.daemon(homeOptions) {
            api.timeout = 180
            var options = [("key", key), ("lifetime", lifetime), ("ttl", ttl)]
            if let sequence { options.append(("sequence", String(sequence))) }
            if allowOffline { options.append(("allow-offline", "true")) }
            answer = try api.call("name/publish", arguments: [path], options: options)
        } else {
            guard allowOffline else {
                throw InputError(
                    "no daemon runs for \(homeOptions.home.path): start it (`jz-node daemon`) to publish to the network, or pass --allow-offline to sign and store the record locally")
            }
            func duration(_ option: String, _ text: String) throws -> Duration {
                guard let seconds = NetworkSettings.parseDuration(text), seconds > 0 else {
                    throw InputError("--\(option) \(text): give a duration such as 48h, 30m or 90s")
                }
                return .milliseconds(Int64(seconds * 1000))
            }
            let value: String
            do { value = try NameService.publishPath(path) } catch { throw InputError("\(error)") }
            let names = try NameService(offlineHome: homeOptions.home, logger: Logger(label: "jz.name"))
            let (name, record) = try await names.publish(
                keyName: key, value: value, sequence: sequence, lifetime: try duration("lifetime", lifetime),
                ttl: try duration("ttl", ttl), allowOffline: true)
            answer = ["Name": .string(name.string), "Value": .string(value), "Sequence": .int(Int64(bitPattern: record.sequence))]
        }
        if output.json { return printJSON(answer) }
        print("Published to \(answer["Name"]?.stringValue ?? ""): \(answer["Value"]?.stringValue ?? "")")
    }
}

struct NameResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Print the path a name points to (the best valid record found in the DHT).",
        discussion: """
            The daemon answers as soon as its DHT search has converged on the best record, keeps \
            searching in the background, corrects peers holding older records, and caches the \
            record for its TTL. With no daemon, only the records this node published are known.
            """)

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "The name: k51…, a peer ID, or /ipns/NAME[/path].")
    var name: String

    @Flag(name: [.short, .long], inversion: .prefixedNo, help: "Follow names that point to names.")
    var recursive = true

    @Flag(name: [.short, .customLong("nocache")], help: "Ask the network even when a cached record is fresh.")
    var noCache = false

    func run() async throws {
        let path = try await resolveNamePath(homeOptions, name, recursive: recursive, noCache: noCache)
        if output.json { return printJSON(["Path": .string(path)]) }
        print(path)
    }
}

/// Resolves `/ipns/NAME[/rest]` (or a bare name) through the daemon's `name/resolve`, or with no
/// daemon from the records this node published.
func resolveNamePath(_ options: HomeOptions, _ text: String, recursive: Bool = true, noCache: Bool = false) async throws -> String {
    if var api = DaemonFetch.daemon(options) {
        api.timeout = 180
        let answer = try api.call(
            "name/resolve", arguments: [text],
            options: [("recursive", recursive ? "true" : "false"), ("nocache", noCache ? "true" : "false")])
        guard let path = answer["Path"]?.stringValue else { throw InputError("the daemon answered no Path for \(text)") }
        return path
    }
    let names = try NameService(offlineHome: options.home, logger: Logger(label: "jz.name"))
    do {
        return try await names.resolvePath(text, recursive: recursive, useCache: false)
    } catch let error as NameServiceError {
        throw InputError("\(error)")
    }
}

/// `text` as an /ipfs/ path: `/ipns/NAME[/rest]` resolved (see `resolveNamePath`), anything else
/// unchanged (for `cat`, `ls`, `get`, `fetch`).
func resolvingIPNS(_ options: HomeOptions, _ text: String) async throws -> String {
    guard ContentPath.ipnsParts(text) != nil else { return text }
    return try await resolveNamePath(options, text)
}

struct NameInspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print the fields of an IPNS record file (as Kubo's `ipfs name inspect`); no daemon needed.",
        discussion: """
            Shows the value, validity type and EOL, sequence, TTL, protobuf size, signature type \
            (V1+V2 or V2) and whether the record carries its public key; --verify NAME checks it \
            is a valid, unexpired record of NAME. --json uses Kubo's field names (plus HasPublicKey).

            Example:
              jz-node routing get /ipns/k51... > rec.bin && jz-node name inspect --verify k51... rec.bin
            """)

    @OptionGroup var output: JSONOption

    @Argument(help: "The record file (a serialized IpnsEntry), or - for standard input.")
    var recordFile: String

    @Option(name: .long, help: "The name (k51… or peer ID) to validate the record against.")
    var verify: String?

    @Flag(name: .customLong("no-dump"), help: "Leave out the hex dump.")
    var noDump = false

    func run() throws {
        let bytes: [UInt8]
        if recordFile == "-" {
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else {
            guard let data = FileManager.default.contents(atPath: recordFile) else {
                throw InputError("cannot read \(recordFile): no such file, or not readable")
            }
            bytes = Array(data)
        }
        let record: IPNSRecord
        do { record = try IPNSRecord(bytes: bytes) } catch { throw InputError("\(recordFile): \(error)") }
        var name: IPNSName?
        if let verify {
            do { name = try IPNSName(verify) } catch { throw InputError("--verify \(verify): \(error)") }
        }
        let inspection = IPNSInspection(record, verifying: name)
        guard output.json else {
            print(inspection.text(dump: !noDump), terminator: "")
            return
        }
        var entry: [String: JSONValue] = [
            "ValidityType": .int(0), "Validity": .string(record.validity.rfc3339),
            "Sequence": .int(Int64(bitPattern: record.sequence)), "Value": .string(record.valueString ?? ""),
        ]
        entry["TTL"] = record.ttlNanoseconds.map { .int(Int64(clamping: $0)) } ?? .null
        let validation: JSONValue = inspection.validation.map {
            ["Valid": .bool($0.valid), "Reason": .string($0.reason), "Name": .string($0.name)]
        } ?? .null
        printJSON(
            [
                "Entry": .object(entry), "PbSize": .int(Int64(record.bytes.count)),
                "SignatureType": .string(inspection.signatureType),
                "HexDump": .string(noDump ? "" : IPNSInspection.hexDump(record.bytes)),
                "Validation": validation, "HasPublicKey": .bool(inspection.hasPublicKey),
            ],
            keyOrder: ["Entry", "Value", "ValidityType", "Validity", "Sequence", "TTL", "PbSize", "SignatureType", "HexDump", "Validation", "Valid", "Reason", "Name", "HasPublicKey"])
    }
}
