import ArgumentParser
import BlockStore
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
            let node = try openLocalNode(homeOptions)
            if try !node.store.has(cid) { try DaemonFetch.fetch(homeOptions, cid.description, recursive: false) }
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
                if output.json {
                    printJSON(["Key": .string(block.cid.description), "Size": .int(Int64(bytes.count))], indent: nil)
                } else {
                    print(block.cid)
                }
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
            let node = try openLocalNode(homeOptions)
            if try !node.store.has(cid) { try DaemonFetch.fetch(homeOptions, cid.description, recursive: false) }
            guard let size = try node.store.size(of: cid) else {
                throw ValidationError("block \(cid) is not in the local store")
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
            let pins = try openLocalNode(homeOptions).store.pins(type: kind)
            if output.json {
                var keys: [String: JSONValue] = [:]
                for pin in pins {
                    var entry: [String: JSONValue] = ["Type": .string(pin.kind.rawValue)]
                    if let name = pin.name { entry["Name"] = .string(name) }
                    keys[pin.cid.description] = .object(entry)
                }
                printJSON(["Keys": .object(keys)])
            } else {
                for pin in pins {
                    print("\(pin.cid) \(pin.kind.rawValue)" + (pin.name.map { " \($0)" } ?? ""))
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
            let node = try openLocalNode(homeOptions)
            let bar = GCProgressBars()
            let quiet = quiet || output.json
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
            if output.json {
                printJSON(["Removed": .array(result.removed.map { .string($0.description) }),
                           "RemovedBytes": .int(Int64(result.removedBytes))])
                return
            }
            if !quiet { for cid in result.removed { print("removed \(cid)") } }
            FileHandle.standardError.write(Data(
                "removed \(result.removed.count) blocks (\(ProgressBar.bytes(Int64(result.removedBytes))))\n".utf8))
        }
    }

    struct Stat: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Block count, sizes and pins of the local store.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            let node = try openLocalNode(homeOptions)
            let stat = try node.store.stat()
            let storageMax = node.config.value(at: "Datastore.StorageMax")?.stringValue ?? ""
            if output.json {
                printJSON([
                    "NumObjects": .int(Int64(stat.blockCount)), "RepoSize": .int(Int64(stat.fileBytes)),
                    "BlockBytes": .int(Int64(stat.totalBytes)), "StorageMax": .string(storageMax),
                    "RecursivePins": .int(Int64(stat.recursivePins)), "DirectPins": .int(Int64(stat.directPins)),
                    "RepoPath": .string(node.store.path),
                ])
            } else {
                print("NumObjects: \(stat.blockCount)")
                print("BlockBytes: \(stat.totalBytes) (\(ProgressBar.bytes(Int64(stat.totalBytes))))")
                print("RepoSize:   \(stat.fileBytes) (\(ProgressBar.bytes(Int64(stat.fileBytes))))")
                print("StorageMax: \(storageMax)")
                print("Pins:       \(stat.recursivePins) recursive, \(stat.directPins) direct")
                print("RepoPath:   \(node.store.path)")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash every block and check every recursive pin's DAG; fails if anything is wrong.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            let report = try openLocalNode(homeOptions).store.verify()
            if output.json {
                printJSON([
                    "BlocksChecked": .int(Int64(report.blocksChecked)), "BytesChecked": .int(Int64(report.bytesChecked)),
                    "BadBlocks": .array(report.badBlocks.map { .string($0.description) }),
                    "IncompletePins": .array(report.incompletePins.map {
                        .string("\($0.root): missing \($0.missing) (\($0.reason))")
                    }),
                    "IntegrityErrors": .array(report.integrityErrors.map { .string($0) }),
                    "OK": .bool(report.isOK),
                ])
            } else {
                for bad in report.badBlocks { printError("bad block \(bad)") }
                for pin in report.incompletePins { printError("incomplete pin \(pin.root): missing \(pin.missing) (\(pin.reason))") }
                for error in report.integrityErrors { printError("integrity: \(error)") }
                print("verified \(report.blocksChecked) blocks (\(ProgressBar.bytes(Int64(report.bytesChecked))))"
                      + (report.isOK ? ": all good" : ": PROBLEMS FOUND"))
            }
            if !report.isOK { throw ExitCode.failure }
        }
    }
}

/// The progress bar of the current GC phase (the store reports from its own thread).
final class GCProgressBars: @unchecked Sendable {
    private let lock = NSLock()
    private var phase: GCProgress.Phase?
    private var bar: ProgressBar?

    func get(_ phase: GCProgress.Phase, make: () -> ProgressBar) -> ProgressBar {
        lock.lock()
        defer { lock.unlock() }
        if let bar, self.phase == phase { return bar }
        bar?.finish()
        let new = make()
        self.phase = phase
        bar = new
        return new
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        bar?.finish()
        bar = nil
    }
}
