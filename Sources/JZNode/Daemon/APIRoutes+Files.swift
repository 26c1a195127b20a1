import BlockStore
import Foundation
import Multiformats
import P2PCore
import UnixFS

/// UnixFS over RPC: `add` (multipart files and folders), `cat`, `get` (a tar), `ls`, as Kubo 0.22.
extension APIRoutes {
    /// Kubo's `add` options that change CIDs, read from the query as `AddCommand` reads the CLI's.
    static func importOptions(_ request: APIRequest) throws -> ImportOptions {
        let hashName = request.value("hash") ?? "sha2-256"
        guard let function = HashFunction(name: hashName) else { throw APIError.remote(status: 400, message: "unknown hash function \(hashName)") }
        var cidVersion: Int?
        if let text = request.value("cid-version") {
            guard let value = Int(text), value == 0 || value == 1 else {
                throw APIError.remote(status: 400, message: "cid-version must be 0 or 1, not \(text)")
            }
            cidVersion = value
        }
        let rawLeaves: Bool? = request.value("raw-leaves").map { _ in request.flag("raw-leaves") }
        do {
            var base: ImportOptions?
            if let profile = request.value("profile"), !profile.isEmpty {
                guard let named = ImportOptions.profile(named: profile) else {
                    throw APIError.remote(status: 400, message: "unknown profile \(profile): use unixfs-v0-2015 or unixfs-v1-2025")
                }
                base = named
            }
            var options = try ImportOptions.adding(profile: base, cidVersion: cidVersion, hashFunction: function, rawLeaves: rawLeaves)
            if let chunker = request.value("chunker") { options.chunker = try Chunker(parsing: chunker) }
            if request.flag("trickle") { options.layout = .trickle }
            if let text = request.value("max-links") {
                guard let value = Int(text), value > 0 else { throw APIError.remote(status: 400, message: "max-links must be a positive number") }
                options.maxLinks = value
            }
            options.wrapWithDirectory = request.flag("wrap-with-directory") || request.flag("w")
            // The client chose what to send: hidden files it sent are added.
            options.includeHidden = true
            try options.validate()
            return options
        } catch let error as ImportError {
            throw APIError.remote(status: 400, message: "\(error)")
        }
    }

    /// `add`: files and folders as multipart parts (folders as `application/x-directory` parts,
    /// names percent-encoded with `/`); streams `{"Name","Hash","Size"}` per entry as Kubo.
    /// Options: `cid-version`, `raw-leaves`, `chunker`, `hash`, `trickle`, `max-links`,
    /// `profile`, `wrap-with-directory`, `pin` (default true), `only-hash`, `quiet`, `quieter`,
    /// `silent`.
    func add(_ request: APIRequest) throws -> APIResponse {
        let options = try Self.importOptions(request)
        let upload: UploadedFolder
        do { upload = try request.uploadedFolder() } catch { throw APIError.remote(status: 400, message: "\(error)") }
        guard !upload.entries.isEmpty else { throw APIError.remote(status: 400, message: "add: the request has no files") }
        let pin = request.flag("pin", default: true)
        let onlyHash = request.flag("only-hash") || request.flag("n")
        let quieter = request.flag("quieter") || request.flag("Q")
        let silent = request.flag("silent")
        // Kubo's progress documents: `{"Name","Bytes"}` with the bytes of that file read so far.
        let progress = request.flag("progress") || request.flag("p")
        let local = daemon.local
        let provider = daemon.provider
        let (stream, continuation) = AsyncStream<JSONValue>.makeStream()
        // The server wrote the parts to `upload`'s folder as they arrived (and removes it once
        // this stream has ended): named entries are imported from there, unnamed parts as data.
        let paths = upload.entries.filter { $0.name != nil }.map(\.path)
        let unnamed = upload.entries.filter { $0.name == nil }.map(\.path)
        Task {
            do {
                let results = try await BlockingExecutor.run { () throws -> [ImportResult] in
                    let onProgress: ((ImportProgress) -> Void)? = progress
                        ? { step in continuation.yield(["Name": .string(step.path), "Bytes": .int(Int64(clamping: step.fileBytes))]) }
                        : nil
                    return try local.add(
                        { (importer: Importer) throws(ImportError) -> [ImportResult] in
                            var results: [ImportResult] = []
                            for path in unnamed { results.append(try Self.addUnnamed(path, importer)) }
                            if options.wrapWithDirectory && !paths.isEmpty {
                                results.append(try importer.add(paths: paths))
                            } else {
                                for path in paths { results.append(try importer.add(path: path)) }
                            }
                            return results
                        },
                        options: options, onlyHash: onlyHash, pin: pin,
                        onProgress: onProgress,
                        onEntry: { entry in
                            guard !quieter, !silent else { return }
                            continuation.yield(Self.addEntry(name: entry.path.isEmpty ? entry.cid.description : entry.path, entry: entry))
                        })
                }
                if quieter, !silent, let last = results.last {
                    continuation.yield(Self.addEntry(name: last.root.path.isEmpty ? last.root.cid.description : last.root.path, entry: last.root))
                }
                if !onlyHash, let provider {
                    provider.enqueue(results.map(\.root.cid))
                }
            } catch {
                continuation.yield(APIResponse.errorDocument("\(error)", code: 0))
            }
            continuation.finish()
        }
        return .stream(stream)
    }

    /// An unnamed part's file added as data (named by its CID, as Kubo's `add` of stdin).
    static func addUnnamed(_ path: String, _ importer: Importer) throws(ImportError) -> ImportResult {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        return try importer.add(source: FileDescriptorSource(fd: fd, path: path))
    }

    static func addEntry(name: String, entry: ImportedEntry) -> JSONValue {
        ["Name": .string(name), "Hash": .string(entry.cid.description), "Size": .string(String(entry.size))]
    }

    /// Resolves a CID, `/ipfs/…` or `/ipns/…` path to a CID in the local store, as the CLI does
    /// with a daemon: what is missing is fetched first (unpinned; `recursive` the whole DAG,
    /// else `depth` levels of links), within `timeout` (default 2 minutes).
    func localContent(_ text: String, _ request: APIRequest, recursive: Bool = true, depth: Int? = nil) async throws -> (CID, ContentPath) {
        var text = text
        if text.hasPrefix("/ipns/") {
            let names = try requireNames()
            do {
                text = try await names.resolvePath(text, recursive: true, useCache: true)
            } catch {
                throw APIError.remote(status: 500, message: "\(text): \(error)")
            }
        }
        let path: ContentPath
        do { path = try ContentPath(text) } catch { throw APIError.remote(status: 400, message: "invalid path \"\(text)\": \(error)") }
        let local = daemon.local
        let timeout = try Self.durationOption(request, "timeout", default: .seconds(120))
        let fetch = FetchRequest(path: path, timeout: timeout, pin: false, recursive: recursive, maxDepth: depth)
        var fetchError: (any Error)?
        do {
            _ = try await ContentFetcher.fetch(fetch, host: daemon.host, bitswap: daemon.bitswap, local: local, logger: daemon.logger)
        } catch {
            fetchError = error
        }
        do {
            return (try await BlockingExecutor.run { () throws(ExportError) -> CID in try local.resolve(path) }, path)
        } catch {
            throw APIError.remote(status: 500, message: "\(text): \(fetchError ?? error)")
        }
    }

    /// `cat`: the bytes of a file. Options: `offset`, `length`.
    func cat(_ request: APIRequest) async throws -> APIResponse {
        guard let target = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"ipfs-path\" is required") }
        let offset = try Self.unsigned(request, "offset") ?? 0
        let length = try Self.unsigned(request, "length")
        let (cid, _) = try await localContent(target, request)
        let exporter = daemon.local.exporter
        let box: ReaderBox
        do {
            // Reads the file's root block (and, for an offset, the blocks down to it).
            box = try await BlockingExecutor.run { () throws(ExportError) in
                ReaderBox(try exporter.reader(cid, offset: offset, length: length))
            }
        } catch {
            throw APIError.remote(status: 500, message: "\(target): \(error)")
        }
        // Pulled chunk by chunk as the connection takes them.
        let stream = AsyncThrowingStream<[UInt8], any Error>(unfolding: {
            try await BlockingExecutor.run { () throws -> [UInt8]? in try box.next() }
        })
        return .bytes(stream, contentType: "text/plain")
    }

    static func unsigned(_ request: APIRequest, _ name: String) throws -> UInt64? {
        guard let text = request.value(name) else { return nil }
        guard let value = Int64(text) else { throw APIError.remote(status: 400, message: "\(name) must be a number, not \(text)") }
        return value < 0 ? nil : UInt64(value)
    }

    /// `ls`: Kubo's `{"Objects":[{"Hash","Links":[{"Name","Hash","Size","Type","Target"}]}]}`
    /// (Type: 1 directory, 2 file, 4 symlink).
    func ls(_ request: APIRequest) async throws -> APIResponse {
        guard !request.arguments.isEmpty else { throw APIError.remote(status: 400, message: "argument \"ipfs-path\" is required") }
        let resolveType = request.flag("resolve-type", default: true)
        let long = request.flag("long") || request.flag("l")
        var objects: [JSONValue] = []
        for target in request.arguments {
            // The directory and its entries' first blocks (as the CLI's `ls`).
            let (cid, _) = try await localContent(target, request, recursive: true, depth: 1)
            let entries: [DirectoryEntry]
            do {
                let exporter = daemon.local.exporter
                // A file lists as an object with no links (as Kubo).
                entries = try await BlockingExecutor.run { () throws(ExportError) in
                    try exporter.stat(cid).kind == .directory ? try exporter.entries(cid, resolveTypes: resolveType) : []
                }
            } catch {
                throw APIError.remote(status: 500, message: "\(target): \(error)")
            }
            let links: [JSONValue] = entries.map { entry in
                let type: Int64 = switch entry.info?.kind {
                case .directory: 1
                case .file: 2
                case .symlink: 4
                case nil: 0
                }
                // Files their size (symlinks their target's length), directories 0; the link's
                // Tsize when the type was not resolved.
                let size = entry.info.map { $0.kind == .directory ? 0 : $0.size } ?? entry.tsize ?? 0
                var link: [String: JSONValue] = [
                    "Name": .string(entry.name), "Hash": .string(entry.cid.description),
                    "Size": .int(Int64(clamping: size)),
                    "Type": .int(type), "Target": .string(entry.info?.symlinkTarget ?? ""),
                ]
                // Kubo's `--long`: the stored mode and mtime (UnixFS 1.5), when there are.
                if long, let info = entry.info {
                    if let mode = info.mode { link["Mode"] = .int(Int64(mode)) }
                    if let mtime = info.mtime { link["ModTime"] = .string(Self.rfc3339(mtime)) }
                }
                return .object(link)
            }
            objects.append(["Hash": .string(target), "Links": .array(links)])
        }
        return .json(["Objects": .array(objects)])
    }

    /// `2024-01-02T03:04:05Z` (with nanoseconds when stored), as Go marshals a `time.Time`.
    static func rfc3339(_ time: UnixFSTime) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        let text = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(time.seconds)))
        guard let nanos = time.nanoseconds, nanos > 0 else { return text }
        var fraction = String(format: "%09u", nanos)
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return String(text.dropLast()) + "." + fraction + "Z"
    }

    /// `get`: a tar of the file or folder, named after the last path component (or the CID).
    func get(_ request: APIRequest) async throws -> APIResponse {
        guard let target = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"ipfs-path\" is required") }
        if request.flag("compress") { throw APIError.remote(status: 400, message: "get: compress is not supported") }
        let (cid, path) = try await localContent(target, request)
        let name = request.value("output").flatMap { $0.isEmpty ? nil : ($0 as NSString).lastPathComponent }
            ?? path.components.last ?? cid.description
        let tar = TarStream(exporter: daemon.local.exporter, root: cid, name: name)
        // Pulled as the connection takes it: a big file is never held in memory.
        let stream = AsyncThrowingStream<[UInt8], any Error>(unfolding: {
            try await BlockingExecutor.run { () throws -> [UInt8]? in try tar.next() }
        })
        return .bytes(stream, contentType: "application/x-tar")
    }
}

/// A UnixFS file or folder as a tar, produced chunk by chunk (headers, file data as the reader
/// yields it, padding, the trailer); one task pulls it at a time.
final class TarStream: @unchecked Sendable {
    private let exporter: Exporter
    /// Entries still to write, next first.
    private var pending: [(cid: CID, name: String)]
    private var reader: FileReader?
    private var written: UInt64 = 0
    private var finished = false

    init(exporter: Exporter, root: CID, name: String) {
        self.exporter = exporter
        pending = [(root, name)]
    }

    /// The next bytes of the archive; nil at its end.
    func next() throws -> [UInt8]? {
        if var current = reader {
            if let chunk = try current.next() {
                reader = current
                written += UInt64(chunk.count)
                return Array(chunk)
            }
            reader = nil
            let padding = TarWriter.padding(written)
            if !padding.isEmpty { return padding }
        }
        guard !pending.isEmpty else {
            if finished { return nil }
            finished = true
            return TarWriter.trailer
        }
        let (cid, name) = pending.removeFirst()
        let info = try exporter.stat(cid)
        let mtime = info.mtime.map { Int64($0.seconds) } ?? 0
        switch info.kind {
        case .directory:
            let children = try exporter.entries(cid).map { (cid: $0.cid, name: name + "/" + $0.name) }
            pending.insert(contentsOf: children, at: 0)
            return TarWriter.header(name: name, kind: .directory, size: 0, mode: info.mode, mtime: mtime)
        case .symlink:
            return TarWriter.header(name: name, kind: .symlink(target: info.symlinkTarget ?? ""), size: 0, mode: info.mode, mtime: mtime)
        case .file:
            reader = try exporter.reader(cid)
            written = 0
            return TarWriter.header(name: name, kind: .file, size: info.size, mode: info.mode, mtime: mtime)
        }
    }
}

/// Hands a file reader to the blocking executor one chunk at a time (one task uses it).
final class ReaderBox: @unchecked Sendable {
    var reader: FileReader
    init(_ reader: FileReader) { self.reader = reader }
    func next() throws -> [UInt8]? { try reader.next().map(Array.init) }
}
