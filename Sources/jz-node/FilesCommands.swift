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
        let showProgress = progress || !(quiet || quieter || output.json)
        var total: Int64?
        if showProgress && !paths.isEmpty && isatty(STDERR_FILENO) == 1 {
            total = try? Importer(options: options, sink: nil).totalSize(of: paths).asInt64
        }
        let bar = ProgressBar(label: "adding", total: total, quiet: !showProgress)
        if let api = ThroughDaemon.client(homeOptions) {
            // The daemon's progress documents only where a bar shows them (as Kubo's default).
            try addThroughDaemon(api, bar: bar, showProgress: showProgress && isatty(STDERR_FILENO) == 1)
            return
        }
        let node = try openLocalNode(homeOptions)
        let printEntry: (ImportedEntry) -> Void = { entry in
            guard !quieter else { return }
            printAdded(name: entry.path, cid: entry.cid.description, size: String(entry.size), bar: bar)
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

    /// One `added` line (or its JSON, or the CID alone with -q).
    private func printAdded(name: String, cid: String, size: String, bar: ProgressBar) {
        bar.clearLine()
        if output.json {
            printJSON(["Name": .string(name), "Hash": .string(cid), "Size": .string(size)], indent: nil)
        } else if quiet {
            print(cid)
        } else {
            print("added \(cid) \(name)")
        }
    }

    /// The daemon's `add`: the files are uploaded as Kubo's CLI uploads them (hidden names left
    /// out unless -H), its entries printed as they come, its progress documents drive the bar.
    private func addThroughDaemon(_ api: APIClient, bar: ProgressBar, showProgress: Bool) throws {
        var query: [(String, String)] = [("hash", hash), ThroughDaemon.flag("pin", pin)]
        if let cidVersion { query.append(("cid-version", String(cidVersion))) }
        if let rawLeaves { query.append(ThroughDaemon.flag("raw-leaves", rawLeaves)) }
        if let chunker { query.append(("chunker", chunker)) }
        if trickle { query.append(("trickle", "true")) }
        if let maxLinks { query.append(("max-links", String(maxLinks))) }
        if let profile { query.append(("profile", profile)) }
        if wrapWithDirectory { query.append(("wrap-with-directory", "true")) }
        if onlyHash { query.append(("only-hash", "true")) }
        if quieter { query.append(("quieter", "true")) }
        if showProgress { query.append(("progress", "true")) }
        var parts: [APIUpload.Part] = []
        if paths.isEmpty {
            // Streamed from the pipe or file as it is read, never held whole.
            parts = [.file(name: "", path: "/dev/stdin")]
        } else {
            for path in paths { try Self.uploadParts(path, name: (path as NSString).lastPathComponent, hidden: hidden, into: &parts) }
        }
        // Kubo's progress: Bytes counts within one file; a new name (or fewer bytes) starts the next.
        var done: Int64 = 0
        var last: (name: String, bytes: Int64) = ("", 0)
        try api.stream("add", options: query, upload: APIUpload(parts: parts)) { document, _ in
            try ThroughDaemon.check(document)
            if let hash = document["Hash"]?.stringValue {
                // The daemon names the wrapping folder by its CID, as Kubo; offline it has no name.
                let given = document["Name"]?.stringValue ?? ""
                let name = wrapWithDirectory && given == hash ? "" : given
                if quieter { print(hash) } else { printAdded(name: name, cid: hash, size: document["Size"]?.stringValue ?? "", bar: bar) }
            } else if let bytes = document["Bytes"]?.intValue {
                let name = document["Name"]?.stringValue ?? ""
                if name != last.name || Int64(bytes) < last.bytes { done += last.bytes }
                last = (name, Int64(bytes))
                bar.update(done + last.bytes)
            }
        }
        bar.finish()
    }

    /// The upload parts of `path` named `name`: a file, a symlink, or a folder and (recursively)
    /// its entries; names starting with a dot inside folders only with `hidden`.
    static func uploadParts(_ path: String, name: String, hidden: Bool, into parts: inout [APIUpload.Part]) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { throw ValidationError("\(path): \(String(cString: strerror(errno)))") }
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            let target = try FileManager.default.destinationOfSymbolicLink(atPath: path)
            parts.append(.symlink(name: name, target: target))
        case S_IFDIR:
            parts.append(.directory(name: name))
            for entry in try FileManager.default.contentsOfDirectory(atPath: path).sorted() where hidden || !entry.hasPrefix(".") {
                try uploadParts((path as NSString).appendingPathComponent(entry), name: name + "/" + entry, hidden: hidden, into: &parts)
            }
        case S_IFREG:
            parts.append(.file(name: name, path: path))
        default:
            break  // sockets, devices and pipes are not added (as offline)
        }
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
        let api = ThroughDaemon.client(homeOptions)
        var node: LocalNode?
        for given in paths {
            // Content paths (and /ipns/ names) go to the daemon's `cat`; REPO@REF paths are read here.
            if let api, given.hasPrefix("/ipns/") || (try? ContentPath(given)) != nil {
                var query: [(String, String)] = [("offset", String(offset))]
                if let length { query.append(("length", String(length))) }
                try api.download("cat", arguments: [given], options: query) { try StandardOutput.write($0) }
                continue
            }
            if node == nil { node = try openLocalNode(homeOptions) }
            guard let node else { continue }
            let path = try await resolvingIPNS(homeOptions, given)
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
        if let api = ThroughDaemon.client(homeOptions) {
            try getThroughDaemon(api)
            return
        }
        let node = try openLocalNode(homeOptions)
        let path = try await resolvingIPNS(homeOptions, self.path)
        let contentPath = try parseContentPath(path)
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

    /// The daemon's `get`: a tar, unpacked into the destination as it arrives.
    private func getThroughDaemon(_ api: APIClient) throws {
        // The destination's default name as offline: the last path component, else the root
        // (for /ipns/ names, the name itself, until the daemon has resolved it).
        let fallback = path.hasPrefix("/")
            ? path.split(separator: "/").last.map(String.init) ?? path
            : (try? ContentPath(path))?.components.last ?? path
        let destination = output ?? fallback
        if FileManager.default.fileExists(atPath: destination) {
            throw ValidationError("\(destination) already exists: choose another with -o")
        }
        let bar = ProgressBar(label: "saving", total: nil, quiet: quiet)
        var extractor = TarExtractor(destination: destination)
        var received: Int64 = 0
        try api.download("get", arguments: [path], options: [("output", (destination as NSString).lastPathComponent)]) { bytes in
            try extractor.feed(bytes)
            received += Int64(bytes.count)
            bar.update(received)
        }
        try extractor.finish()
        bar.finish()
        if !quiet { FileHandle.standardError.write(Data("saved \(path) to \(destination)\n".utf8)) }
    }
}

/// Unpacks a ustar stream (as the daemon's `get` writes it: PAX `path`/`linkpath` records for long
/// names) into `destination`: the archive's top entry becomes `destination` itself. Entries that
/// would leave it are refused; stored modes and mtimes are applied.
struct TarExtractor {
    let destination: String
    private var buffer: [UInt8] = []
    /// The file being written and the bytes of it still to come (then its padding).
    private var file: (handle: FileHandle, left: UInt64, padding: Int, path: String, mtime: Int64)?
    private var pax: [String: String] = [:]
    private var ended = false
    /// Folders to date once their contents are written (deepest first).
    private var folderTimes: [(String, Int64)] = []

    init(destination: String) { self.destination = destination }

    struct Failure: Error, CustomStringConvertible {
        let message: String
        var description: String { "get: \(message)" }
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) throws {
        buffer.append(contentsOf: bytes)
        var offset = 0
        defer { buffer.removeFirst(offset) }
        while !ended {
            if var current = file {
                if current.left > 0 {
                    let n = min(Int(clamping: current.left), buffer.count - offset)
                    if n == 0 { return }
                    try current.handle.write(contentsOf: buffer[offset..<offset + n])
                    offset += n
                    current.left -= UInt64(n)
                    file = current
                    continue
                }
                guard buffer.count - offset >= current.padding else { return }
                offset += current.padding
                try current.handle.close()
                setTime(current.path, current.mtime)
                file = nil
                continue
            }
            guard buffer.count - offset >= 512 else { return }
            let header = Array(buffer[offset..<offset + 512])
            if header.allSatisfy({ $0 == 0 }) {
                ended = true
                offset = buffer.count
                return
            }
            let size = Self.octal(header[124..<136])
            let padded = Int((size + 511) / 512 * 512)
            let type = header[156]
            if type == UInt8(ascii: "x") || type == UInt8(ascii: "g") {
                guard buffer.count - offset >= 512 + padded else { return }
                pax = Self.paxRecords(Array(buffer[offset + 512..<offset + 512 + Int(size)]))
                offset += 512 + padded
                continue
            }
            offset += 512
            let name = pax["path"] ?? Self.string(header[0..<100])
            let link = pax["linkpath"] ?? Self.string(header[157..<257])
            pax = [:]
            let mode = mode_t(Self.octal(header[100..<108]) & 0o7777)
            let mtime = Int64(Self.octal(header[136..<148]))
            let target = try path(for: name)
            switch type {
            case UInt8(ascii: "5"):
                try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
                chmod(target, mode)
                folderTimes.insert((target, mtime), at: 0)
            case UInt8(ascii: "2"):
                try FileManager.default.createSymbolicLink(atPath: target, withDestinationPath: link)
            case UInt8(ascii: "0"), 0:
                guard FileManager.default.createFile(atPath: target, contents: nil, attributes: [.posixPermissions: Int(mode)]),
                    let handle = FileHandle(forWritingAtPath: target)
                else { throw Failure(message: "cannot create \(target)") }
                file = (handle, size, padded - Int(size), target, mtime)
            default:
                throw Failure(message: "unexpected tar entry type \(type) for \(name)")
            }
        }
        offset = buffer.count
    }

    mutating func finish() throws {
        if let file {
            try? file.handle.close()
            throw Failure(message: "the archive ended inside \(file.path)")
        }
        // The answer may end without the trailer; an empty answer wrote nothing.
        guard ended || FileManager.default.fileExists(atPath: destination) else { throw Failure(message: "the daemon sent no entries") }
        for (folder, mtime) in folderTimes { setTime(folder, mtime) }
    }

    /// `destination` for the top entry, `destination/rest` below it.
    private func path(for name: String) throws -> String {
        let components = name.split(separator: "/").map(String.init)
        guard !components.isEmpty, !components.contains(where: { $0 == ".." || $0 == "." }) else {
            throw Failure(message: "refusing the tar entry \"\(name)\"")
        }
        return components.dropFirst().reduce(destination) { ($0 as NSString).appendingPathComponent($1) }
    }

    /// Applies a stored mtime (0: none stored).
    private func setTime(_ path: String, _ mtime: Int64) {
        guard mtime > 0 else { return }
        try? FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: TimeInterval(mtime))], ofItemAtPath: path)
    }

    private static func octal(_ field: ArraySlice<UInt8>) -> UInt64 {
        var value: UInt64 = 0
        for byte in field {
            guard byte >= 0x30 && byte <= 0x37 else {
                if value > 0 || (byte != 0x20 && byte != 0) { break }
                continue
            }
            value = value * 8 + UInt64(byte - 0x30)
        }
        return value
    }

    private static func string(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// `<length> <key>=<value>\n` records.
    private static func paxRecords(_ bytes: [UInt8]) -> [String: String] {
        var records: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            let record = line[line.index(after: space)...]
            guard let equals = record.firstIndex(of: "=") else { continue }
            records[String(record[..<equals])] = String(record[record.index(after: equals)...])
        }
        return records
    }
}

struct LsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List the entries of UnixFS directories (basic and HAMT).",
        discussion: "Prints `<cid> <size> <name>` per entry, directories with a trailing slash; -l adds the type, mode and mtime; a file lists nothing (as Kubo).")

    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption

    @Argument(help: "Directories to list (CIDs, /ipfs/ or /ipns/ paths).")
    var paths: [String]

    @Flag(name: .short, help: "Long listing: type, mode and mtime.")
    var long = false

    /// One entry as both paths know it.
    private struct Entry {
        var name: String
        var cid: String
        var kind: String
        var size: UInt64
        var mode: UInt32?
        var mtime: Int64?
    }

    func run() async throws {
        let api = ThroughDaemon.client(homeOptions)
        let node = try api == nil ? openLocalNode(homeOptions) : nil
        var objects: [JSONValue] = []
        for given in paths {
            let entries: [Entry]
            if let api, given.hasPrefix("/ipns/") || (try? ContentPath(given)) != nil {
                entries = try listThroughDaemon(api, given)
            } else {
                let node = try node ?? openLocalNode(homeOptions)
                let path = try await resolvingIPNS(homeOptions, given)
                let cid = try resolveContent(node, path)
                // A file lists as nothing (as Kubo's `ls`, and the daemon's).
                let isDirectory = try node.exporter.stat(cid).kind == .directory
                entries = try (isDirectory ? node.exporter.entries(cid, resolveTypes: true) : []).map { entry in
                    Entry(
                        name: entry.name, cid: entry.cid.description, kind: entry.info?.kind.rawValue ?? "unknown",
                        size: entry.info.map { $0.kind == .directory ? 0 : $0.size } ?? entry.tsize ?? 0,
                        mode: entry.info?.mode, mtime: entry.info?.mtime?.seconds)
                }
            }
            if paths.count > 1 && !output.json { print("\(given):") }
            var links: [JSONValue] = []
            for entry in entries {
                let isDirectory = entry.kind == "directory"
                if output.json {
                    links.append(["Name": .string(entry.name), "Hash": .string(entry.cid),
                                  "Size": .int(Int64(clamping: entry.size)), "Type": .string(entry.kind)])
                } else if long {
                    let mode = entry.mode.map { String($0, radix: 8) } ?? "-"
                    let mtime = entry.mtime.map { String($0) } ?? "-"
                    print("\(entry.kind)\t\(mode)\t\(mtime)\t\(entry.cid)\t\(entry.size)\t\(entry.name)\(isDirectory ? "/" : "")")
                } else {
                    print("\(entry.cid) \(entry.size) \(entry.name)\(isDirectory ? "/" : "")")
                }
            }
            if output.json {
                // The path as given, as Kubo's `ls` answers.
                objects.append(["Hash": .string(given), "Links": .array(links)])
            } else if paths.count > 1 {
                print()
            }
        }
        if output.json { printJSON(["Objects": .array(objects)]) }
    }

    /// The daemon's `ls` (Kubo's Type numbers: 1 directory, 2 file, 4 symlink).
    private func listThroughDaemon(_ api: APIClient, _ path: String) throws -> [Entry] {
        let answer = try api.call("ls", arguments: [path], options: [("resolve-type", "true"), ("long", "true")])
        let object = answer["Objects"]?.arrayValue?.first
        return (object?["Links"]?.arrayValue ?? []).map { link in
            let kind = switch link["Type"]?.intValue ?? 0 {
            case 1: "directory"
            case 2: "file"
            case 4: "symlink"
            default: "unknown"
            }
            // ModTime is RFC 3339: the whole seconds before any fraction.
            let mtime = link["ModTime"]?.stringValue.flatMap { text -> Int64? in
                let formatter = ISO8601DateFormatter()
                let whole = text.split(separator: ".").first.map { $0.hasSuffix("Z") ? String($0) : String($0) + "Z" } ?? text
                return formatter.date(from: whole).map { Int64($0.timeIntervalSince1970) }
            }
            return Entry(
                name: link["Name"]?.stringValue ?? "", cid: link["Hash"]?.stringValue ?? "", kind: kind,
                size: UInt64(max(0, link["Size"]?.intValue ?? 0)), mode: link["Mode"]?.intValue.map { UInt32(truncatingIfNeeded: $0) },
                mtime: mtime)
        }
    }
}
