import ArgumentParser
import BlockStore
import BlockingPool
import Foundation
import IPLD
import JZNode
import Multiformats

/// Parses a CID argument, as a validation error naming it.
func parseCID(_ string: String) throws -> CID {
    do {
        return try CID(string)
    } catch {
        throw ValidationError("\(string) is not a CID: \(error)")
    }
}

struct BlockCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "block",
        abstract: "Work with raw blocks: get, put, stat, rm.",
        subcommands: [Get.self, Put.self, Stat.self, Remove.self])

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a block's raw bytes to standard output.")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "The block's CID.") var cid: String

        func run() throws {
            let cid = try parseCID(cid)
            if let api = ThroughDaemon.client(homeOptions) {
                try api.download("block/get", arguments: [cid.description]) { try StandardOutput.write($0) }
                return
            }
            let node = try openLocalNode(homeOptions)
            guard let block = try node.store.get(cid) else {
                throw ValidationError("block \(cid) is not in the local store")
            }
            try StandardOutput.write(block.data)
        }
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a block read from files or standard input; prints its CID.",
            discussion: "As Kubo 0.22: CIDv1 with --cid-codec (default raw) and --mhtype (default sha2-256). A dag-pb, dag-cbor or dag-json block must decode with its codec.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Files, one block each (none: standard input).") var files: [String] = []
        @Option(name: .long, help: "Codec of the block (raw, dag-pb, dag-cbor, dag-json).") var cidCodec = "raw"
        @Option(name: .long, help: "Hash function.") var mhtype = "sha2-256"
        @Flag(name: .long, help: "Pin the block (direct pin).") var pin = false

        func run() throws {
            guard let codec = Multicodec(name: cidCodec) else { throw ValidationError("unknown codec \(cidCodec)") }
            guard let function = HashFunction(name: mhtype) else { throw ValidationError("unknown hash \(mhtype)") }
            if let api = ThroughDaemon.client(homeOptions) {
                let parts: [APIUpload.Part] = files.isEmpty
                    ? [.bytes(name: "", Array(FileHandle.standardInput.readDataToEndOfFile()))]
                    : files.map { APIUpload.Part.file(name: ($0 as NSString).lastPathComponent, path: $0) }
                let answer = try api.call(
                    "block/put", options: [("cid-codec", cidCodec), ("mhtype", mhtype), ThroughDaemon.flag("pin", pin)],
                    upload: APIUpload(parts: parts))
                for document in try ThroughDaemon.documents(answer) {
                    report(key: document["Key"]?.stringValue ?? "", size: Int64(document["Size"]?.intValue ?? 0))
                }
                return
            }
            let node = try openLocalNode(homeOptions)
            let inputs: [(String, Data)] = files.isEmpty
                ? [("<stdin>", FileHandle.standardInput.readDataToEndOfFile())]
                : try files.map { ($0, try Data(contentsOf: URL(fileURLWithPath: $0))) }
            for (name, data) in inputs {
                let bytes = Array(data)
                if codec != .raw {
                    do {
                        _ = try IPLDCodecs.decode(bytes, codec: codec)
                    } catch {
                        throw ValidationError("\(name) is not valid \(cidCodec): \(error)")
                    }
                }
                let block = try Block(data: bytes, codec: codec, hash: function, version: .v1)
                try node.store.put(block)
                if pin { try node.store.pin(block.cid, recursive: false, name: nil) }
                report(key: block.cid.description, size: Int64(bytes.count))
            }
        }

        private func report(key: String, size: Int64) {
            if output.json {
                printJSON(["Key": .string(key), "Size": .int(size)], indent: nil)
            } else {
                print(key)
            }
        }
    }

    struct Stat: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a block's CID and size.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "The block's CID.") var cid: String

        func run() throws {
            let cid = try parseCID(cid)
            let size: Int
            if let api = ThroughDaemon.client(homeOptions) {
                size = try api.call("block/stat", arguments: [cid.description])["Size"]?.intValue ?? 0
            } else {
                guard let stored = try openLocalNode(homeOptions).store.size(of: cid) else {
                    throw ValidationError("block \(cid) is not in the local store")
                }
                size = stored
            }
            if output.json {
                printJSON(["Key": .string(cid.description), "Size": .int(Int64(size))])
            } else {
                print("Key: \(cid)\nSize: \(size)")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove blocks from the local store (pinned ones are refused).")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "CIDs of the blocks.") var cids: [String]
        @Flag(name: [.short, .long], help: "Do not fail on blocks that are absent.") var force = false

        func run() throws {
            if let api = ThroughDaemon.client(homeOptions) {
                let parsed = try cids.map { try parseCID($0).description }
                let answer = try api.call("block/rm", arguments: parsed, options: [ThroughDaemon.flag("force", force)])
                for document in try ThroughDaemon.documents(answer) {
                    let hash = document["Hash"]?.stringValue ?? ""
                    if let error = document["Error"]?.stringValue, !error.isEmpty { throw InputError(error) }
                    print("removed \(hash)")
                }
                return
            }
            let node = try openLocalNode(homeOptions)
            for text in cids {
                let cid = try parseCID(text)
                guard try node.store.has(cid) else {
                    if force { continue }
                    throw ValidationError("block \(cid) is not in the local store")
                }
                try node.store.removeUnpinned(cid)  // refuses blocks that a pin keeps
                print("removed \(cid)")
            }
        }
    }
}

struct PinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin",
        abstract: "Keep content from garbage collection: add, rm, ls.",
        subcommands: [Add.self, Remove.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pin objects (recursively by default: the whole DAG must be stored).")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "CIDs or /ipfs/ paths.") var paths: [String]
        @Option(name: [.short, .long], help: "Pin the whole DAG (true) or only the block (false).") var recursive = true
        @Option(name: .long, help: "A name for the pin.") var name: String?

        func run() throws {
            if let api = ThroughDaemon.client(homeOptions) {
                var query = [ThroughDaemon.flag("recursive", recursive)]
                if let name { query.append(("name", name)) }
                let paths = try self.paths.map { try parseContentPath($0).description }
                let pins = try ThroughDaemon.documents(try api.call("pin/add", arguments: paths, options: query))
                    .flatMap { $0["Pins"]?.arrayValue ?? [] }
                if output.json {
                    printJSON(["Pins": .array(pins)])
                } else {
                    for pin in pins { print("pinned \(pin.stringValue ?? "") \(recursive ? "recursively" : "directly")") }
                }
                return
            }
            let node = try openLocalNode(homeOptions)
            var pinned: [JSONValue] = []
            var cids: [CID] = []
            for path in paths {
                let cid = try node.resolve(try parseContentPath(path))
                try node.store.pin(cid, recursive: recursive, name: name)
                pinned.append(.string(cid.description))
                cids.append(cid)
                if !output.json { print("pinned \(cid) \(recursive ? "recursively" : "directly")") }
            }
            if output.json { printJSON(["Pins": .array(pinned)]) }
            DaemonAnnounce.provide(homeOptions, cids)
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove pins.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "CIDs or /ipfs/ paths.") var paths: [String]

        func run() throws {
            if let api = ThroughDaemon.client(homeOptions) {
                let paths = try self.paths.map { try parseContentPath($0).description }
                let pins = try api.call("pin/rm", arguments: paths)["Pins"]?.arrayValue ?? []
                if output.json {
                    printJSON(["Pins": .array(pins)])
                } else {
                    for pin in pins { print("unpinned \(pin.stringValue ?? "")") }
                }
                return
            }
            let node = try openLocalNode(homeOptions)
            var unpinned: [JSONValue] = []
            for path in paths {
                let cid = try node.resolve(try parseContentPath(path))
                try node.store.unpin(cid, recursive: true)
                unpinned.append(.string(cid.description))
                if !output.json { print("unpinned \(cid)") }
            }
            if output.json { printJSON(["Pins": .array(unpinned)]) }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List pins: `<cid> <type> [name]`.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Option(name: [.short, .long], help: "direct, recursive, indirect or all.") var type = "all"

        func run() throws {
            guard let kind = PinType(rawValue: type) else {
                throw ValidationError("unknown pin type \(type): use direct, recursive, indirect or all")
            }
            // (cid, type, name) in the store's order; through the daemon, Kubo's `pin ls --stream`.
            let pins: [(cid: String, type: String, name: String?)]
            if let api = ThroughDaemon.client(homeOptions) {
                let answer = try api.call("pin/ls", options: [("type", type), ("stream", "true")])
                pins = try ThroughDaemon.documents(answer).map {
                    ($0["Cid"]?.stringValue ?? "", $0["Type"]?.stringValue ?? "", $0["Name"]?.stringValue)
                }
            } else {
                pins = try openLocalNode(homeOptions).store.pins(type: kind).map { ($0.cid.description, $0.kind.rawValue, $0.name) }
            }
            if output.json {
                var keys: [String: JSONValue] = [:]
                for pin in pins {
                    var entry: [String: JSONValue] = ["Type": .string(pin.type)]
                    if let name = pin.name { entry["Name"] = .string(name) }
                    keys[pin.cid] = .object(entry)
                }
                printJSON(["Keys": .object(keys)])
            } else {
                for pin in pins {
                    print("\(pin.cid) \(pin.type)" + (pin.name.map { " \($0)" } ?? ""))
                }
            }
        }
    }
}

struct StoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Upkeep of the local block store: gc, stat, verify.",
        discussion: "(`repo` names a versioned repository in jz-node; the storage upkeep Kubo does with `ipfs repo` is here.)",
        subcommands: [GC.self, Stat.self, Verify.self])

    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc", abstract: "Remove every block not reachable from a pin or a versioning ref.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Flag(name: [.short, .long], help: "Print only the summary (and no progress bar).") var quiet = false

        func run() throws {
            let quiet = quiet || output.json
            let report: JSONValue
            if let api = ThroughDaemon.client(homeOptions) {
                report = try api.call("store/gc")
            } else {
                report = StoreReport.gc(try collect(quiet: quiet))
            }
            if output.json {
                printJSON(report)
                return
            }
            let removed = report["Removed"]?.stringArray ?? []
            if !quiet { for cid in removed { print("removed \(cid)") } }
            FileHandle.standardError.write(Data(
                "removed \(removed.count) blocks (\(ProgressBar.bytes(Int64(report["RemovedBytes"]?.intValue ?? 0))))\n".utf8))
        }

        private func collect(quiet: Bool) throws -> GCResult {
            let node = try openLocalNode(homeOptions)
            let bar = GCProgressBars()
            let result = try node.store.collectGarbage { progress in
                // The sweep reports blocks examined out of the store's count (marking has no count yet).
                guard progress.phase == .sweeping else { return }
                let current = bar.get(progress.phase) {
                    ProgressBar(
                        label: "gc: sweeping", total: progress.total.map(Int64.init), quiet: quiet,
                        format: ProgressBar.count("blocks"))
                }
                current.update(Int64(progress.done))
            }
            bar.finish()
            return result
        }
    }

    struct Stat: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Block count, sizes and pins of the local store.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            let stat: JSONValue
            if let api = ThroughDaemon.client(homeOptions) {
                stat = try api.call("store/stat")
            } else {
                let node = try openLocalNode(homeOptions)
                stat = StoreReport.stat(try node.store.stat(), config: node.config, path: node.store.path)
            }
            if output.json {
                printJSON(stat)
                return
            }
            func number(_ key: String) -> Int { stat[key]?.intValue ?? 0 }
            print("NumObjects: \(number("NumObjects"))")
            print("BlockBytes: \(number("BlockBytes")) (\(ProgressBar.bytes(Int64(number("BlockBytes")))))")
            print("RepoSize:   \(number("RepoSize")) (\(ProgressBar.bytes(Int64(number("RepoSize")))))")
            print("StorageMax: \(stat["StorageMax"]?.stringValue ?? "")")
            print("Pins:       \(number("RecursivePins")) recursive, \(number("DirectPins")) direct")
            print("RepoPath:   \(stat["RepoPath"]?.stringValue ?? "")")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash every block and check every recursive pin's DAG; fails if anything is wrong.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            let report: JSONValue
            if let api = ThroughDaemon.client(homeOptions) {
                report = try api.call("store/verify")
            } else {
                report = StoreReport.verify(try openLocalNode(homeOptions).store.verify())
            }
            let isOK = report["OK"]?.boolValue ?? false
            if output.json {
                printJSON(report)
            } else {
                for bad in report["BadBlocks"]?.stringArray ?? [] { printError("bad block \(bad)") }
                for pin in report["IncompletePins"]?.stringArray ?? [] { printError("incomplete pin \(pin)") }
                for error in report["IntegrityErrors"]?.stringArray ?? [] { printError("integrity: \(error)") }
                let bytes = Int64(report["BytesChecked"]?.intValue ?? 0)
                print("verified \(report["BlocksChecked"]?.intValue ?? 0) blocks (\(ProgressBar.bytes(bytes)))"
                      + (isOK ? ": all good" : ": PROBLEMS FOUND"))
            }
            if !isOK { throw ExitCode.failure }
        }
    }
}

/// The progress bar of the current GC phase (the store reports from its own thread).
final class GCProgressBars: Sendable {
    private let current = Locked<(phase: GCProgress.Phase?, bar: ProgressBar?)>((nil, nil))

    func get(_ phase: GCProgress.Phase, make: () -> ProgressBar) -> ProgressBar {
        current.withLock { current in
            if let bar = current.bar, current.phase == phase { return bar }
            current.bar?.finish()
            let new = make()
            current = (phase, new)
            return new
        }
    }

    func finish() {
        current.withLock { current in
            current.bar?.finish()
            current.bar = nil
        }
    }
}
