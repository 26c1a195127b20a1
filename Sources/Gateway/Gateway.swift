import BlockStore
import Foundation
import IPLD
import Logging
import Multiformats
import NIOCore
import NIOHTTP1
import P2PCore
import UnixFS

/// An IPFS HTTP gateway over a block store: the trustless formats (`application/vnd.ipld.raw`,
/// `application/vnd.ipld.car`, `application/vnd.ipfs.ipns-record`) and the path gateway (files
/// with Range, directory listings and `index.html`), for `/ipfs/CID[/path]` and
/// `/ipns/NAME[/path]`.
///
/// Blocks the store lacks are asked of `fetcher` (unless `config.noFetch`) within
/// `config.retrievalTimeout`. `handle` answers one request; `GatewayServer` serves HTTP.
public final class Gateway: Sendable {
    let store: any BlockStore
    let fetcher: (any GatewayBlockFetcher)?
    let names: (any GatewayNameResolver)?
    public let config: GatewayConfig
    let logger: Logger
    /// `/ipfs/` paths resolved before (immutable: the same path always names the same CIDs), so
    /// a repeated path is not walked again through its directories; bounded, emptied when full.
    private let resolvedPaths = Locked<[ResolvedPathKey: [CID]]>([:])
    static let resolvedPathLimit = 4096

    /// `Cache-Control` of immutable `/ipfs/` answers.
    public static let immutableCacheControl = "public, max-age=29030400, immutable"
    /// Bytes per streamed body chunk.
    static let chunkSize = 1 << 20

    public init(
        store: any BlockStore, fetcher: (any GatewayBlockFetcher)?, names: (any GatewayNameResolver)?,
        config: GatewayConfig, logger: Logger
    ) {
        self.store = store
        self.fetcher = fetcher
        self.names = names
        self.config = config
        self.logger = logger
    }

    /// Answers one request (`method` GET or HEAD; others get 405).
    public func handle(method: HTTPMethod, uri: String, headers: HTTPHeaders) async -> GatewayResponse {
        do {
            return try await answer(method: method, uri: uri, headers: headers)
        } catch {
            return GatewayResponse.text(error.status, error.message)
        }
    }

    // MARK: - Request

    private func answer(method: HTTPMethod, uri: String, headers: HTTPHeaders) async throws(GatewayFailure) -> GatewayResponse {
        guard method == .GET || method == .HEAD else {
            return .text(405, "405 method not allowed: use GET or HEAD", headers: [("Allow", "GET, HEAD")])
        }
        guard let components = URLComponents(string: uri) else { throw GatewayFailure(400, "invalid URL \(uri)") }
        let path = components.path
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] where query[item.name] == nil { query[item.name] = item.value ?? "" }
        let accept = headers.first(name: "accept")
        let format: GatewayFormat
        switch GatewayFormat.choose(formatParameter: query["format"], accept: accept) {
        case .success(let f): format = f
        case .failure(let error): throw GatewayFailure(400, error.description)
        }
        var contentPath = path
        var immutable = true
        if let (name, rest) = ContentPathParts.ipns(path) {
            guard let names else { throw GatewayFailure(501, "IPNS is not available on this node") }
            if format == .ipnsRecord {
                guard rest.isEmpty || rest == "/" else {
                    throw GatewayFailure(400, "an IPNS record is asked for /ipns/NAME, without a path")
                }
                return try await ipnsRecord(name: name, names: names, headers: headers)
            }
            do {
                contentPath = try await names.resolve("/ipns/\(name)\(rest)")
            } catch {
                throw GatewayFailure(404, "cannot resolve /ipns/\(name): \(error)")
            }
            immutable = false
        } else if !path.hasPrefix("/ipfs/") {
            throw GatewayFailure(404, "404 page not found: serve /ipfs/CID[/path] or /ipns/NAME[/path]")
        }
        if format == .ipnsRecord { throw GatewayFailure(400, "application/vnd.ipfs.ipns-record is served for /ipns/NAME only") }
        let parts = contentPath.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard parts.count >= 2, parts[0] == "ipfs" else { throw GatewayFailure(400, "\(contentPath) is not an /ipfs/CID path") }
        let root: CID
        do { root = try CID(parts[1]) } catch { throw GatewayFailure(400, "invalid CID \(parts[1]): \(error)") }
        if format == .deserialized && !config.deserializedResponses {
            throw GatewayFailure(406, "deserialized responses are disabled on this gateway (Gateway.DeserializedResponses): ask for application/vnd.ipld.raw or application/vnd.ipld.car")
        }
        // A v0 CID has one text form (base58, slow to encode): the URL's.
        let request = Request(
            method: method, path: path, query: query, headers: headers, accept: accept, immutable: immutable,
            deadline: .now + config.retrievalTimeout, rootText: root.version == .v0 ? parts[1] : root.description)
        let resolved = try await resolve(
            root: root, components: Array(parts.dropFirst(2)), request, prefetch: format == .deserialized)
        switch format {
        case .raw: return try await rawBlock(resolved, request)
        case .car: return try await car(resolved, request)
        case .deserialized: return try await deserialized(resolved, request)
        case .ipnsRecord: throw GatewayFailure(400, "application/vnd.ipfs.ipns-record is served for /ipns/NAME only")
        }
    }

    struct Request: Sendable {
        let method: HTTPMethod
        /// The URL path as asked (`X-Ipfs-Path`).
        let path: String
        let query: [String: String]
        let headers: HTTPHeaders
        let accept: String?
        let immutable: Bool
        let deadline: ContinuousClock.Instant
        /// The root CID as text.
        var rootText: String? = nil
    }

    struct Resolved: Sendable {
        let terminal: CID
        /// The root and the CID of each path component (`X-Ipfs-Roots`).
        let roots: [CID]
        /// Blocks read while resolving, in order.
        let pathBlocks: [Block]
        let components: [String]
        /// The terminal's block, read while resolving (nil for an identity CID or when not read).
        var terminalBlock: Block? = nil
        /// What the terminal is (and a small file's bytes), when read while resolving.
        var prefetched: Prefetched? = nil
        /// `roots` as text, when known (each CID encoded once per request).
        var texts: [String]? = nil

        var rootTexts: [String] { texts ?? roots.map(\.description) }
        var terminalText: String { texts?.last ?? terminal.description }
    }

    /// What a UnixFS node is and, for a file up to `inlineFileLimit`, its bytes.
    struct Prefetched: Sendable {
        let info: UnixFSNodeInfo
        /// Nil for larger files, other kinds, and when a block below the file is missing (the
        /// answer then streams it, fetching).
        let content: [UInt8]?
    }

    /// Files up to this size are read whole with their metadata, in the same pass on the
    /// blocking executor as the path, and answered from memory.
    static let inlineFileLimit: UInt64 = 256 << 10

    static func prefetch(_ cid: CID, source: any BlockSource) throws -> Prefetched {
        let exporter = Exporter(source: source)
        let info = try exporter.stat(cid)
        guard info.kind == .file, info.size <= inlineFileLimit else { return Prefetched(info: info, content: nil) }
        do {
            var reader = try exporter.reader(cid)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(Int(info.size))
            while let slice = try reader.next() { bytes += slice }
            return Prefetched(info: info, content: bytes)
        } catch {
            if missingBlock(in: error) != nil { return Prefetched(info: info, content: nil) }
            throw error
        }
    }

    // MARK: - Blocks and the network

    /// Runs `body` on the blocking executor; a missing block is fetched (one at a time, unless
    /// `noFetch`) and `body` runs again.
    func withFetching<T: Sendable>(_ request: Request, _ body: @escaping @Sendable () throws -> T) async throws(GatewayFailure) -> T {
        for _ in 0..<100_000 {
            let outcome: Result<T, any Error> = await BlockingExecutor.run { () -> Result<T, any Error> in
                do { return .success(try body()) } catch { return .failure(error) }
            }
            switch outcome {
            case .success(let value): return value
            case .failure(let error):
                guard let missing = Self.missingBlock(in: error) else { throw GatewayFailure(error) }
                try await fetch(missing, recursive: false, request)
            }
        }
        throw GatewayFailure(504, "too many blocks fetched one by one")
    }

    static func missingBlock(in error: any Error) -> CID? {
        if case ExportError.missingBlock(let cid, _)? = error as? ExportError { return cid }
        if case DAGExportError.missingBlock(let cid, _)? = error as? DAGExportError { return cid }
        return nil
    }

    func fetch(_ cid: CID, recursive: Bool, _ request: Request) async throws(GatewayFailure) {
        guard let fetcher, !config.noFetch else {
            throw GatewayFailure(404, "block \(cid) is not in the local store (Gateway.NoFetch is set)")
        }
        let remaining = request.deadline - .now
        guard remaining > .zero else { throw GatewayFailure(504, "retrieval of \(cid) timed out (Gateway.RetrievalTimeout)") }
        do {
            try await fetcher.fetch(cid, recursive: recursive, timeout: remaining)
        } catch {
            if ContinuousClock.now >= request.deadline {
                throw GatewayFailure(504, "retrieval of \(cid) timed out after \(config.retrievalTimeout) (Gateway.RetrievalTimeout)")
            }
            throw GatewayFailure(502, "cannot retrieve \(cid): \(error)")
        }
    }

    /// The source a streamed body reads: the store, and (unless `noFetch`) the network for
    /// what it lacks, each fetch within `retrievalTimeout` (the longest wait between two blocks);
    /// `recursive` fetches a missing block's whole DAG at once (whole files and DAGs).
    func streamingSource(recursive: Bool) -> any BlockSource {
        guard let fetcher, !config.noFetch else { return store }
        return FetchingSource(store: store, fetcher: fetcher, recursive: recursive, timeout: config.retrievalTimeout)
    }

    /// Resolves the path; with `prefetch`, also what a UnixFS terminal is (and a small file's
    /// bytes), in the same pass.
    func resolve(root: CID, components: [String], _ request: Request, prefetch: Bool = false) async throws(GatewayFailure) -> Resolved {
        let store = self.store
        // One store read per path component and one for the terminal (which the answer reads
        // again from memory): a missing root surfaces as the first component's missing block.
        // The path blocks are kept for CAR answers: only other answers use (and fill) the cache.
        let key = ResolvedPathKey(root: root, components: components)
        let cached = prefetch && !components.isEmpty ? resolvedPaths.withLock { $0[key] } : nil
        let resolved = try await withFetching(request) { () throws -> Resolved in
            let recorder = RecordingSource(store)
            let exporter = Exporter(source: recorder)
            var current = root
            var roots = [root]
            if let cached {
                roots = cached
                current = cached[cached.count - 1]
            } else {
                for name in components {
                    current = try exporter.resolve(current, components: [name])
                    roots.append(current)
                }
            }
            var terminalBlock: Block?
            if current.multihash.function != .identity {
                guard let block = try store.get(current) else { throw ExportError.missingBlock(current, path: nil) }
                terminalBlock = block
            }
            var prefetched: Prefetched?
            if prefetch, current.codec == .dagPB || current.codec == .raw {
                prefetched = try Self.prefetch(current, source: KnownBlockSource(terminalBlock, base: store))
            }
            let texts = [request.rootText ?? root.description] + roots.dropFirst().map(\.description)
            return Resolved(
                terminal: current, roots: roots, pathBlocks: recorder.take(), components: components,
                terminalBlock: terminalBlock, prefetched: prefetched, texts: texts)
        }
        if prefetch, cached == nil, !components.isEmpty {
            resolvedPaths.withLock { paths in
                if paths.count >= Self.resolvedPathLimit { paths.removeAll(keepingCapacity: true) }
                paths[key] = resolved.roots
            }
        }
        return resolved
    }

    // MARK: - Headers

    private func commonHeaders(_ resolved: Resolved, _ request: Request, etag: String) -> [(String, String)] {
        [
            ("Etag", etag),
            ("Cache-Control", request.immutable ? Self.immutableCacheControl : "public, max-age=60"),
            ("X-Ipfs-Path", request.path),
            ("X-Ipfs-Roots", resolved.rootTexts.joined(separator: ",")),
            ("Vary", "Accept"),
        ]
    }

    /// 304 when `If-None-Match` names `etag` (or is `*`).
    private func notModified(_ request: Request, etag: String, headers: [(String, String)]) -> GatewayResponse? {
        guard let header = request.headers.first(name: "if-none-match") else { return nil }
        let strip = { (tag: Substring) -> String in
            let trimmed = tag.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("W/") ? String(trimmed.dropFirst(2)) : trimmed
        }
        let wanted = strip(Substring(etag))
        for tag in header.split(separator: ",") where strip(tag) == wanted || strip(tag) == "*" {
            return GatewayResponse(status: 304, headers: headers)
        }
        return nil
    }

    // MARK: - Trustless

    private func rawBlock(_ resolved: Resolved, _ request: Request) async throws(GatewayFailure) -> GatewayResponse {
        let etag = "\"\(resolved.terminal).raw\""
        var headers = commonHeaders(resolved, request, etag: etag)
        if let answer = notModified(request, etag: etag, headers: headers) { return answer }
        let store = self.store
        let terminal = resolved.terminal
        let block: Block
        if let known = resolved.terminalBlock {
            block = known
        } else {
            block = try await withFetching(request) { () throws -> Block in
                if terminal.multihash.function == .identity { return Block(cid: terminal, data: terminal.multihash.digest) }
                guard let block = try store.get(terminal) else { throw ExportError.missingBlock(terminal, path: nil) }
                return block
            }
        }
        headers += [
            ("Content-Type", GatewayFormat.rawType),
            ("Content-Disposition", "attachment; filename=\"\(resolved.terminal).bin\""),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Length", String(block.data.count)),
        ]
        return GatewayResponse(status: 200, headers: headers, body: .bytes(block.data))
    }

    private func car(_ resolved: Resolved, _ request: Request) async throws(GatewayFailure) -> GatewayResponse {
        let options: CarOptions
        switch CarOptions.parse(query: request.query, accept: request.accept) {
        case .success(let o): options = o
        case .failure(let error): throw GatewayFailure(400, error.description)
        }
        let key = "\(options.scope.rawValue)|\(options.entityBytes.map { "\($0.from):\($0.to.map(String.init) ?? "*")" } ?? "")|\(options.order)|\(options.dups)"
        let etag = "W/\"\(resolved.terminal).car.\(String(Self.fnv1a(key), radix: 36))\""
        var headers = commonHeaders(resolved, request, etag: etag)
        if let answer = notModified(request, etag: etag, headers: headers) { return answer }
        headers += [
            ("Content-Type", options.contentType),
            ("Content-Disposition", "attachment; filename=\"\(resolved.terminal).car\""),
            ("X-Content-Type-Options", "nosniff"),
            ("Accept-Ranges", "none"),
        ]
        if request.method == .HEAD { return GatewayResponse(status: 200, headers: headers) }
        let terminal = resolved.terminal
        let store = streamingSource(recursive: options.scope == .all)
        let root = resolved.roots[0]
        let pathBlocks = resolved.pathBlocks
        let blocks = try await withFetching(request) {
            try CarBlockSequence(source: store, pathBlocks: pathBlocks, terminal: terminal, options: options)
        }
        let chunker = CarChunker(roots: [root], blocks: blocks, chunkSize: Self.chunkSize)
        return GatewayResponse(status: 200, headers: headers, body: .stream(GatewayChunkSource { try chunker.next() }, length: nil))
    }

    private func ipnsRecord(name: String, names: any GatewayNameResolver, headers: HTTPHeaders) async throws(GatewayFailure) -> GatewayResponse {
        let record: [UInt8]
        do {
            record = try await names.record(name)
        } catch {
            throw GatewayFailure(404, "no IPNS record for \(name): \(error)")
        }
        return GatewayResponse(
            status: 200,
            headers: [
                ("Content-Type", GatewayFormat.ipnsRecordType),
                ("Content-Disposition", "attachment; filename=\"\(name).ipns-record\""),
                ("X-Content-Type-Options", "nosniff"),
                ("X-Ipfs-Path", "/ipns/\(name)"),
                ("Cache-Control", "public, max-age=60"),
                ("Vary", "Accept"),
                ("Content-Length", String(record.count)),
            ],
            body: .bytes(record))
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return hash
    }

    // MARK: - Deserialized

    private func deserialized(_ resolved: Resolved, _ request: Request) async throws(GatewayFailure) -> GatewayResponse {
        let terminal = resolved.terminal
        guard terminal.codec == .dagPB || terminal.codec == .raw else {
            throw GatewayFailure(
                501, "\(terminal) is \(terminal.codec), not UnixFS: ask for ?format=raw or ?format=car")
        }
        let prefetched: Prefetched
        if let known = resolved.prefetched {
            prefetched = known
        } else {
            let source = KnownBlockSource(resolved.terminalBlock, base: store)
            prefetched = try await withFetching(request) { try Self.prefetch(terminal, source: source) }
        }
        let info = prefetched.info
        switch info.kind {
        case .file:
            return try await file(info, resolved, request, name: resolved.components.last, content: prefetched.content)
        case .directory:
            return try await directory(resolved, request)
        case .symlink:
            let target = Array((info.symlinkTarget ?? "").utf8)
            var headers = commonHeaders(resolved, request, etag: "\"\(terminal)\"")
            headers += [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", String(target.count))]
            return GatewayResponse(status: 200, headers: headers, body: .bytes(target))
        }
    }

    /// - Parameter content: the whole file when it was already read (small files).
    private func file(
        _ info: UnixFSNodeInfo, _ resolved: Resolved, _ request: Request, name: String?, content: [UInt8]? = nil
    ) async throws(GatewayFailure) -> GatewayResponse {
        let etag = "\"\(resolved.terminalText)\""
        var headers = commonHeaders(resolved, request, etag: etag)
        if let answer = notModified(request, etag: etag, headers: headers) { return answer }
        let terminal = resolved.terminal
        let store = self.store
        let size = info.size
        let head: [UInt8]
        if let content {
            head = Array(content.prefix(512))
        } else {
            head = try await withFetching(request) { () throws -> [UInt8] in
                var reader = try Exporter(source: store).reader(terminal, offset: 0, length: 512)
                var bytes: [UInt8] = []
                while let slice = try reader.next() { bytes += slice }
                return bytes
            }
        }
        headers.append(("Content-Type", ContentTypes.of(name: request.query["filename"] ?? name, head: head)))
        if let filename = request.query["filename"] {
            let disposition = request.query["download"] == "true" ? "attachment" : "inline"
            headers.append(("Content-Disposition", "\(disposition); filename=\"\(filename.replacingOccurrences(of: "\"", with: ""))\""))
        }
        headers.append(("Accept-Ranges", "bytes"))
        var status = 200
        var offset: UInt64 = 0
        var length = size
        switch ByteRange.parse(request.headers.first(name: "range"), size: size) {
        case .whole: break
        case .range(let o, let l):
            status = 206
            offset = o
            length = l
            headers.append(("Content-Range", "bytes \(o)-\(o + l - 1)/\(size)"))
        case .unsatisfiable:
            return .text(416, "range not satisfiable: the file has \(size) bytes", headers: [("Content-Range", "bytes */\(size)")])
        }
        headers.append(("Content-Length", String(length)))
        if request.method == .HEAD { return GatewayResponse(status: status, headers: headers, body: .empty) }
        if let content {
            let from = Int(offset)
            let to = from + Int(length)
            let body: [UInt8] = from == 0 && to == content.count ? content : Array(content[from..<to])
            return GatewayResponse(status: status, headers: headers, body: .bytes(body))
        }
        let (start, count) = (offset, length)
        let streaming = streamingSource(recursive: true)
        let stream = try await withFetching(request) { () throws -> FileChunks in
            FileChunks(try Exporter(source: streaming).reader(terminal, offset: start, length: count), chunkSize: Self.chunkSize)
        }
        return GatewayResponse(status: status, headers: headers, body: .stream(GatewayChunkSource { try stream.next() }, length: length))
    }

    private func directory(_ resolved: Resolved, _ request: Request) async throws(GatewayFailure) -> GatewayResponse {
        if !request.path.hasSuffix("/") {
            var location = request.path + "/"
            let query = request.query.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: "&")
            if !query.isEmpty { location += "?" + query }
            return GatewayResponse(status: 301, headers: [("Location", location), ("Content-Length", "0")])
        }
        let store = self.store
        let terminal = resolved.terminal
        // index.html is looked up by name (O(depth) in a HAMT), not by reading the listing.
        let index = try await withFetching(request) { () throws -> CID? in
            do throws(ExportError) {
                return try Exporter(source: store).resolve(terminal, components: ["index.html"])
            } catch {
                if case .notFound = error { return nil }
                throw error
            }
        }
        if let index {
            let info = try await withFetching(request) { try Exporter(source: store).stat(index) }
            if info.kind == .file {
                let inner = Resolved(
                    terminal: index, roots: resolved.roots + [index], pathBlocks: [],
                    components: resolved.components + ["index.html"])
                return try await file(info, inner, request, name: "index.html")
            }
        }
        // One page of the listing, resumed after the entry `?after=` names.
        let after = request.query["after"].flatMap { $0.isEmpty ? nil : $0 }
        let etag = "\"DirIndex-2_CID-\(terminal)" + (after.map { "_after-" + String(Self.fnv1a($0), radix: 36) } ?? "") + "\""
        var headers = commonHeaders(resolved, request, etag: etag)
        if let answer = notModified(request, etag: etag, headers: headers) { return answer }
        let page = try await withFetching(request) {
            try Exporter(source: store).page(terminal, after: after, limit: DirectoryListing.pageSize)
        }
        let html = Array(DirectoryListing.html(path: request.path, cid: terminal, page: page, after: after).utf8)
        headers += [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", String(html.count))]
        return GatewayResponse(status: 200, headers: headers, body: .bytes(html))
    }
}

/// The store, and the network for the blocks it lacks: a missing block is fetched (blocking the
/// calling thread, a blocking-executor thread) and read again.
final class FetchingSource: BlockSource, Sendable {
    let store: any BlockStore
    let fetcher: any GatewayBlockFetcher
    let recursive: Bool
    let timeout: Duration

    init(store: any BlockStore, fetcher: any GatewayBlockFetcher, recursive: Bool, timeout: Duration) {
        self.store = store
        self.fetcher = fetcher
        self.recursive = recursive
        self.timeout = timeout
    }

    func block(for cid: CID) throws -> Block? {
        if let block = try store.get(cid) { return block }
        let done = DispatchSemaphore(value: 0)
        let failure = Locked<String?>(nil)
        let (fetcher, recursive, timeout) = (self.fetcher, self.recursive, self.timeout)
        Task {
            do {
                try await fetcher.fetch(cid, recursive: recursive, timeout: timeout)
            } catch {
                failure.withLock { $0 = "\(error)" }
            }
            done.signal()
        }
        // The fetch stores its blocks through the blocking pool, on which this export runs.
        BlockingExecutor.waitingForOtherWork { done.wait() }
        if let reason = failure.withLock({ $0 }) { throw ExportError.blockSource(cid, reason: "cannot retrieve it: \(reason)") }
        return try store.get(cid)
    }
}

/// A root CID and the path below it.
struct ResolvedPathKey: Hashable, Sendable {
    let root: CID
    let components: [String]
}

/// `base`, with one block already in memory (the resolved terminal) served without a store read.
struct KnownBlockSource: BlockSource {
    let known: Block?
    let base: any BlockSource

    init(_ known: Block?, base: any BlockSource) {
        self.known = known
        self.base = base
    }

    func block(for cid: CID) throws -> Block? {
        if let known, known.cid == cid { return known }
        return try base.block(for: cid)
    }
}

/// A file's bytes as chunks of about `chunkSize` bytes.
final class FileChunks: @unchecked Sendable {
    private var reader: FileReader
    private var pending: ArraySlice<UInt8> = []
    private let chunkSize: Int

    init(_ reader: FileReader, chunkSize: Int) {
        self.reader = reader
        self.chunkSize = chunkSize
    }

    func next() throws -> ByteBuffer? {
        var buffer: ByteBuffer?
        while (buffer?.readableBytes ?? 0) < chunkSize {
            if pending.isEmpty {
                guard let slice = try reader.next() else { break }
                pending = slice
            }
            if buffer == nil { buffer = ByteBufferAllocator().buffer(capacity: chunkSize) }
            let take = min(pending.count, chunkSize - buffer!.readableBytes)
            buffer!.writeBytes(pending.prefix(take))
            pending = pending.dropFirst(take)
        }
        return buffer
    }
}

/// `/ipns/NAME[/rest]` → (NAME, rest).
enum ContentPathParts {
    static func ipns(_ path: String) -> (name: String, rest: String)? {
        guard path.hasPrefix("/ipns/") else { return nil }
        let tail = path.dropFirst("/ipns/".count)
        let name = tail.prefix { $0 != "/" }
        guard !name.isEmpty else { return nil }
        return (String(name), String(tail.dropFirst(name.count)))
    }
}

/// A failed request: the status and a message naming what was wrong.
struct GatewayFailure: Error {
    let status: Int
    let message: String

    init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    /// From a content error: not found → 404, not UnixFS → 501, others 500.
    init(_ error: any Error) {
        if let failure = error as? GatewayFailure {
            self = failure
            return
        }
        switch error as? ExportError {
        case .notFound?, .notADirectory?: self.init(404, "\(error)")
        case .unsupportedCodec?, .unsupportedType?: self.init(501, "\(error)")
        case .invalidPath?: self.init(400, "\(error)")
        default: self.init(500, "\(error)")
        }
    }
}
