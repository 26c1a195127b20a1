import ArgumentParser
import BlockStore
import Foundation
import JZNode
import Logging
import Multiformats
import UnixFS
import Versioning

/// Opens the node's local data plane (store in the node home).
func openLocalNode(_ options: HomeOptions) throws -> LocalNode {
    try LocalNode(home: options.home, logger: Logger(label: "jz.node"))
}

struct AddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add files or directories to the node (UnixFS), printing their CIDs.",
        discussion: """
            CIDs are identical to Kubo's `ipfs add` for the same options: by default CIDv0,
            sha2-256, 256 KiB chunks, balanced DAG of at most 174 links, dag-pb leaves.
            --cid-version 1 turns raw leaves on (as Kubo). With no path, reads standard input.
            The root is pinned recursively unless --pin=false; --only-hash writes nothing.
            Profiles (IPIP-499): unixfs-v0-2015 (default), unixfs-v1-2025.
            A progress bar is shown on stderr when it is a terminal (-q hides it).
            """
    )

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "Files or directories to add (none: standard input).")
    var paths: [String] = []

    @Flag(name: [.short, .long], help: "Add directories recursively.")
    var recursive = false

    @Flag(name: [.short, .long], help: "Print only CIDs, no progress.")
    var quiet = false

    @Flag(name: [.customShort("Q"), .long], help: "Print only the root CID.")
    var quieter = false

    @Flag(name: [.customShort("n"), .long], help: "Only compute CIDs: write and pin nothing.")
    var onlyHash = false

    @Flag(name: [.short, .customLong("wrap-with-directory")], help: "Wrap the files in a directory.")
    var wrapWithDirectory = false

    @Flag(name: [.customShort("H"), .long], help: "Include files whose names start with a dot.")
    var hidden = false

    @Option(name: .long, help: "Import profile: unixfs-v0-2015 or unixfs-v1-2025.")
    var profile: String?

    @Option(name: .long, help: "CID version (0 or 1; 1 turns raw leaves on).")
    var cidVersion: Int?

    @Flag(inversion: .prefixedNo, help: "Store file data in raw leaves (default: on with CIDv1).")
    var rawLeaves: Bool?

    @Option(name: [.short, .long], help: "Chunker: size-<bytes> or buzhash.")
    var chunker: String?

    @Flag(name: [.short, .long], help: "Use the trickle DAG layout.")
    var trickle = false

    @Option(name: .long, help: "Hash function (sha2-256, sha2-512, sha3-256, blake2b-256, …).")
    var hash: String = "sha2-256"

    @Option(name: .long, help: "Maximum links per file node (Kubo: 174).")
    var maxLinks: Int?

    @Option(name: .long, help: "Pin the added root (true or false).")
    var pin: Bool = true

    @Flag(name: .long, help: "Show the progress bar even when -q is given.")
    var progress = false

    func validate() throws {
        if let profile, ImportOptions.profile(named: profile) == nil {
            throw ValidationError("unknown profile \(profile): use unixfs-v0-2015 or unixfs-v1-2025")
        }
    }

    func importOptions() throws -> ImportOptions {
        guard let function = HashFunction(name: hash) else {
            throw ValidationError("unknown hash function \(hash); `jz-node cid hashes` lists them")
        }
        var options = try ImportOptions.adding(
            profile: profile.flatMap(ImportOptions.profile(named:)), cidVersion: cidVersion, hashFunction: function,
            rawLeaves: rawLeaves)
        if let chunker { options.chunker = try Chunker(parsing: chunker) }
        if trickle { options.layout = .trickle }
        if let maxLinks { options.maxLinks = maxLinks }
        options.wrapWithDirectory = wrapWithDirectory
        options.includeHidden = hidden
        try options.validate()
        return options
    }

    func run() throws {
        let options = try importOptions()
        for path in paths {
            var info = stat()
            guard lstat(path, &info) == 0 else {
                throw ValidationError("\(path): \(String(cString: strerror(errno)))")
            }
            if info.st_mode & S_IFMT == S_IFDIR && !recursive {
                throw ValidationError("\(path) is a directory: use -r to add directories")
            }
        }
        let node = try openLocalNode(homeOptions)
        let showProgress = progress || !(quiet || quieter || output.json)
        var total: Int64?
        if showProgress && !paths.isEmpty && isatty(STDERR_FILENO) == 1 {
            total = try? Importer(options: options, sink: nil).totalSize(of: paths).asInt64
        }
        let bar = ProgressBar(label: "adding", total: total, quiet: !showProgress)
        let printEntry: (ImportedEntry) -> Void = { entry in
            guard !quieter else { return }
            bar.clearLine()
            if output.json {
                printJSON(["Name": .string(entry.path), "Hash": .string(entry.cid.description),
                           "Size": .string(String(entry.size))], indent: nil)
            } else if quiet {
                print(entry.cid)
            } else {
                print("added \(entry.cid) \(entry.path)")
            }
        }
        let results = try node.add(
            { (importer: Importer) throws(ImportError) -> [ImportResult] in
                if paths.isEmpty {
                    return [try importer.add(source: FileDescriptorSource(fd: 0, path: "<stdin>"))]
                }
                if wrapWithDirectory { return [try importer.add(paths: paths)] }
                var results: [ImportResult] = []
                for path in paths { results.append(try importer.add(path: path)) }
                return results
            },
            options: options, onlyHash: onlyHash, pin: pin,
            onProgress: { bar.update(Int64($0.totalBytes)) }, onEntry: printEntry)
        bar.finish()
        // -Q: only the root of what was added (the last one when several paths were given, as Kubo).
        if quieter, let last = results.last { print(last.root.cid) }
        if !onlyHash { DaemonAnnounce.provide(homeOptions, results.map(\.root.cid)) }
    }
}

private extension UInt64 {
    var asInt64: Int64 { Int64(clamping: self) }
}

/// Resolves a content path (`CID`, `/ipfs/CID/a/b`) or a versioned path (`REPO@REF[:PATH]`) to a CID.
func resolveContent(_ node: LocalNode, _ text: String) throws -> CID {
    if let path = try? ContentPath(text) { return try node.resolve(path) }
    guard let spec = try? RefSyntax.parse(text) else {
        throw ValidationError("\(text) is neither a CID, an /ipfs/ path, nor REPO@REF[:PATH]")
    }
    return try node.versionStore().resolveTree(spec)
}

/// Parses a content path argument (one `Error:` line when it is not one).
func parseContentPath(_ string: String) throws -> ContentPath {
    do {
        return try ContentPath(string)
    } catch {
        throw InputError("\(error)")
    }
}

struct CatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
        abstract: "Write the contents of files to standard output.",
        discussion: "Paths are CIDs, /ipfs/<cid>/path/through/directories (basic and HAMT) or /ipns/<name>/path.")

    @OptionGroup var homeOptions: HomeOptions

    @Argument(help: "Files to print.")
    var paths: [String]

    @Option(name: [.short, .long], help: "Byte offset to start at.")
    var offset: UInt64 = 0

    @Option(name: [.short, .long], help: "Maximum number of bytes to print.")
    var length: UInt64?

    func run() async throws {
        let node = try openLocalNode(homeOptions)
        for given in paths {
            let path = try await resolvingIPNS(homeOptions, given)
            try DaemonFetch.fetch(homeOptions, path, recursive: true)
            if (try? ContentPath(path)) == nil, let spec = try? RefSyntax.parse(path) {
                // A file of a history-only clone: its data is fetched now.
                let versions = node.versionStore()
                try await fetchLazyData(homeOptions, versions, repo: spec.repository, tree: try versions.resolveTree(spec))
            }
            let cid = try resolveContent(node, path)
            var reader = try node.exporter.reader(cid, offset: offset, length: length)
            while let chunk = try reader.next() {
                try StandardOutput.write(chunk)
            }
        }
    }
}

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Save files or directories to the local file system.",
        discussion: "Directories (basic and HAMT), files and symlinks are written; mode and mtime are applied where stored.")

    @OptionGroup var homeOptions: HomeOptions

    @Argument(help: "The CID, /ipfs/ or /ipns/ path to save.")
    var path: String

    @Option(name: [.short, .long], help: "Where to write (default: the CID or last path name, in the current folder).")
    var output: String?

    @Flag(name: [.short, .long], help: "No progress bar.")
    var quiet = false

    func run() async throws {
        let node = try openLocalNode(homeOptions)
        let path = try await resolvingIPNS(homeOptions, self.path)
        let contentPath = try parseContentPath(path)
        try DaemonFetch.fetch(homeOptions, path, recursive: true)
        let cid = try node.resolve(contentPath)
        let destination = output ?? contentPath.components.last ?? contentPath.root.description
        if FileManager.default.fileExists(atPath: destination) {
            throw ValidationError("\(destination) already exists: choose another with -o")
        }
        let info = try node.exporter.stat(cid)
        let bar = ProgressBar(label: "saving", total: Int64(clamping: info.size), quiet: quiet)
        try node.exporter.get(cid, to: destination) { bar.update(Int64(clamping: $0)) }
        bar.finish()
        if !quiet { FileHandle.standardError.write(Data("saved \(cid) to \(destination)\n".utf8)) }
    }
}

struct LsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the entries of UnixFS directories (basic and HAMT).",
        discussion: "Prints `<cid> <size> <name>` per entry, directories with a trailing slash; -l adds the type and mode.")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "Directories to list (CIDs, /ipfs/ or /ipns/ paths).")
    var paths: [String]

    @Flag(name: .short, help: "Long listing: type, mode and mtime.")
    var long = false

    func run() async throws {
        let node = try openLocalNode(homeOptions)
        var objects: [JSONValue] = []
        for given in paths {
            let path = try await resolvingIPNS(homeOptions, given)
            // A listing needs the directory and its entries' first blocks: one fetch of depth 1
            // brings them (deeper HAMT shards, if any, come one by one below).
            try DaemonFetch.fetch(homeOptions, path, recursive: true, depth: 1)
            let (cid, entries) = try DaemonFetch.retrying(homeOptions) {
                let cid = try resolveContent(node, path)
                return (cid, try node.exporter.entries(cid, resolveTypes: true))
            }
            if paths.count > 1 && !output.json { print("\(given):") }
            var links: [JSONValue] = []
            for entry in entries {
                let kind = entry.info?.kind.rawValue ?? "unknown"
                let size = entry.info?.size ?? entry.tsize ?? 0
                let isDirectory = entry.info?.kind == .directory
                if output.json {
                    links.append(["Name": .string(entry.name), "Hash": .string(entry.cid.description),
                                  "Size": .int(Int64(clamping: size)), "Type": .string(kind)])
                } else if long {
                    let mode = entry.info?.mode.map { String($0, radix: 8) } ?? "-"
                    let mtime = entry.info?.mtime.map { String($0.seconds) } ?? "-"
                    print("\(kind)\t\(mode)\t\(mtime)\t\(entry.cid)\t\(size)\t\(entry.name)\(isDirectory ? "/" : "")")
                } else {
                    print("\(entry.cid) \(size) \(entry.name)\(isDirectory ? "/" : "")")
                }
            }
            if output.json {
                objects.append(["Hash": .string(cid.description), "Links": .array(links)])
            } else if paths.count > 1 {
                print()
            }
        }
        if output.json { printJSON(["Objects": .array(objects)]) }
    }
}
