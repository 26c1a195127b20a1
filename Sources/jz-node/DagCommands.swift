import ArgumentParser
import BlockStore
import Foundation
import IPLD
import JZNode
import Multiformats
import UnixFS

struct DagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dag",
        abstract: "Work with IPLD DAGs: export, import, get, put, stat, resolve.",
        subcommands: [Export.self, Import.self, Get.self, Put.self, Stat.self, Resolve.self])

    /// Splits `<cid>/a/b` (or `/ipfs/<cid>/a/b`) into the root CID and an IPLD path.
    static func splitPath(_ string: String) throws -> (CID, IPLDPath) {
        let path = try parseContentPath(string)
        return (path.root, IPLDPath(segments: path.components))
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the DAG under a root as a CARv1 to standard output (depth-first, as Kubo).")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "The root CID.") var cid: String

        func run() throws {
            if isatty(STDOUT_FILENO) == 1 {
                throw ValidationError("refusing to write a CAR to a terminal: redirect it, e.g. `> dag.car`")
            }
            let root = try parseCID(cid)
            if let api = ThroughDaemon.client(homeOptions) {
                try api.download("dag/export", arguments: [root.description]) { try StandardOutput.write($0) }
                return
            }
            let node = try openLocalNode(homeOptions)
            var writer = CarWriter(fileDescriptor: STDOUT_FILENO, roots: [root])
            try DAGExport.write(root: root, source: node.store, to: &writer)
            try writer.finish()
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import CAR files (v1 and v2); every block is verified, roots are pinned.",
            discussion: "A block whose bytes do not match its CID stops the import with an error naming it; blocks already committed stay stored (unpinned).")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "CAR files.") var files: [String]
        @Option(name: .long, help: "Pin the roots named in the CAR headers (true or false).") var pinRoots = true
        @Flag(name: [.short, .long], help: "No progress bar.") var quiet = false

        func run() throws {
            if let api = ThroughDaemon.client(homeOptions) {
                let parts = files.map { APIUpload.Part.file(name: ($0 as NSString).lastPathComponent, path: $0) }
                let answer = try api.call(
                    "dag/import", options: [ThroughDaemon.flag("pin-roots", pinRoots), ("stats", "true")],
                    upload: APIUpload(parts: parts))
                var pinned: [JSONValue] = []
                var stats: JSONValue = ["BlockCount": 0, "BlockBytesCount": 0]
                for document in try ThroughDaemon.documents(answer) {
                    if let root = document["Root"], let cid = root["Cid"]?["/"]?.stringValue {
                        pinned.append(["Cid": .string(cid), "PinErrorMsg": root["PinErrorMsg"] ?? ""])
                    }
                    if let value = document["Stats"] { stats = value }
                }
                report(pinned: pinned, blocks: Int64(stats["BlockCount"]?.intValue ?? 0), bytes: Int64(stats["BlockBytesCount"]?.intValue ?? 0))
                return
            }
            let node = try openLocalNode(homeOptions)
            let lease = node.store.gcLease()
            defer { lease.release() }
            var roots: [CID] = []
            var blocks = 0
            var bytes: Int64 = 0
            // Stores batches on writer threads (two at once) while the next ones are read and
            // verified.
            let sink = BatchingBlockSink(store: node.store)
            for file in files {
                let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value
                let bar = ProgressBar(label: "importing \(file)", total: size, quiet: quiet || output.json)
                var reader = try CarReader(path: file)
                roots += reader.roots
                while true {
                    let batch: [Block]
                    do {
                        batch = try reader.nextBatch()
                    } catch {
                        // The blocks verified before the bad one are stored, as the help says.
                        try? sink.flush()
                        throw error
                    }
                    if batch.isEmpty { break }
                    for block in batch { try sink.put(block) }
                    blocks += batch.count
                    bytes += batch.reduce(0) { $0 + Int64($1.data.count) }
                    bar.update(Int64(reader.offset))
                }
                try sink.flush()
                bar.finish()
            }
            var pinned: [JSONValue] = []
            if pinRoots {
                for root in roots {
                    try node.store.pin(root, recursive: true, name: nil)
                    pinned.append(["Cid": .string(root.description), "PinErrorMsg": ""])
                }
            }
            report(pinned: pinned, blocks: Int64(blocks), bytes: bytes)
        }

        private func report(pinned: [JSONValue], blocks: Int64, bytes: Int64) {
            if output.json {
                printJSON(["Roots": .array(pinned), "Stats": ["BlockCount": .int(blocks), "BlockBytesCount": .int(bytes)]])
                return
            }
            for root in pinned { print("pinned root \(root["Cid"]?.stringValue ?? "") success") }
            if !quiet { FileHandle.standardError.write(Data("imported \(blocks) blocks (\(ProgressBar.bytes(bytes)))\n".utf8)) }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the IPLD value at a path, encoded with --output-codec (default dag-json).")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "<cid>[/path/inside]") var path: String
        @Option(name: .long, help: "dag-json, dag-cbor or dag-pb.") var outputCodec = "dag-json"

        func run() throws {
            guard let codec = Multicodec(name: outputCodec) else { throw ValidationError("unknown codec \(outputCodec)") }
            let (root, ipldPath) = try DagCommand.splitPath(path)
            if let api = ThroughDaemon.client(homeOptions) {
                try api.download("dag/get", arguments: [path], options: [("output-codec", outputCodec)]) { try StandardOutput.write($0) }
            } else {
                let node = try openLocalNode(homeOptions)
                let value = try IPLDResolver(source: node.store).get(root, path: ipldPath)
                try StandardOutput.write(try IPLDCodecs.encode(value, codec: codec))
            }
            if codec == .dagJSON && isatty(STDOUT_FILENO) == 1 { print() }
        }
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store a value read as --input-codec (default dag-json) encoded as --store-codec (default dag-cbor).")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "File to read (none: standard input).") var file: String?
        @Option(name: .long, help: "Codec to store with.") var storeCodec = "dag-cbor"
        @Option(name: .long, help: "Codec of the input.") var inputCodec = "dag-json"
        @Option(name: .long, help: "Hash function.") var hash = "sha2-256"
        @Flag(name: .long, help: "Pin the new block recursively (its links must be stored).") var pin = false

        func run() throws {
            guard let store = Multicodec(name: storeCodec), let input = Multicodec(name: inputCodec) else {
                throw ValidationError("unknown codec: \(storeCodec) or \(inputCodec)")
            }
            guard HashFunction(name: hash) != nil else { throw ValidationError("unknown hash \(hash)") }
            if let api = ThroughDaemon.client(homeOptions) {
                let part = file.map { APIUpload.Part.file(name: ($0 as NSString).lastPathComponent, path: $0) }
                    ?? .bytes(name: "", Array(FileHandle.standardInput.readDataToEndOfFile()))
                let answer = try api.call(
                    "dag/put", options: [("store-codec", storeCodec), ("input-codec", inputCodec), ("hash", hash), ThroughDaemon.flag("pin", pin)],
                    upload: APIUpload(parts: [part]))
                for document in try ThroughDaemon.documents(answer) { print(document["Cid"]?["/"]?.stringValue ?? "") }
                return
            }
            guard let function = HashFunction(name: hash) else { throw ValidationError("unknown hash \(hash)") }
            let data = try file.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
                ?? FileHandle.standardInput.readDataToEndOfFile()
            let value = try IPLDCodecs.decode(Array(data), codec: input)
            let block = try Block(data: try IPLDCodecs.encode(value, codec: store), codec: store, hash: function)
            let node = try openLocalNode(homeOptions)
            try node.store.put(block)
            if pin { try node.store.pin(block.cid, recursive: true, name: nil) }
            print(block.cid)
        }
    }

    struct Stat: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count the blocks and bytes of a DAG.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Root CIDs.") var cids: [String]

        func run() throws {
            let roots = try cids.map(parseCID)
            var results: [JSONValue] = []
            if let api = ThroughDaemon.client(homeOptions) {
                // One call for all roots, as Kubo (its per-DAG stats are these).
                results = try api.call("dag/stat", arguments: roots.map(\.description), options: [("progress", "false")])["DagStats"]?.arrayValue ?? []
            } else {
                let node = try openLocalNode(homeOptions)
                for root in roots {
                    var walker = DAGExport.blocks(root: root, source: node.store)
                    var count = 0
                    var size = 0
                    while let block = try walker.next() {
                        count += 1
                        size += block.data.count
                    }
                    results.append(["Cid": .string(root.description), "Size": .int(Int64(size)), "NumBlocks": .int(Int64(count))])
                }
            }
            if output.json {
                printJSON(["DagStats": .array(results)])
            } else {
                for result in results {
                    print("\(result["Cid"]?.stringValue ?? "")\tSize: \(result["Size"]?.intValue ?? 0), NumBlocks: \(result["NumBlocks"]?.intValue ?? 0)")
                }
            }
        }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resolve a path to the last block it reaches, and the rest of the path inside it.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "<cid>/path") var path: String

        func run() throws {
            let (root, ipldPath) = try DagCommand.splitPath(path)
            let answer: JSONValue
            if let api = ThroughDaemon.client(homeOptions) {
                answer = try api.call("dag/resolve", arguments: [path])
            } else {
                let resolution = try IPLDResolver(source: try openLocalNode(homeOptions).store).resolve(root, path: ipldPath)
                answer = ["Cid": ["/": .string(resolution.cid.description)], "RemPath": .string(resolution.remainder.description)]
            }
            if output.json {
                printJSON(answer)
            } else {
                let cid = answer["Cid"]?["/"]?.stringValue ?? ""
                let rest = answer["RemPath"]?.stringValue ?? ""
                print(rest.isEmpty ? cid : "\(cid)/\(rest)")
            }
        }
    }
}
