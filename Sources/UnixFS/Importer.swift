import Dispatch
import IPLD
import Multiformats

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One imported file, directory or symlink, as `ipfs add` reports it (`added <cid> <path>`).
public struct ImportedEntry: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case file, directory, symlink
    }

    /// Path relative to what was added, as Kubo prints it: `dir/sub/a.txt`, `dir`; the name of
    /// a single added file; "" for the `wrapWithDirectory` directory; the CID string for an
    /// unnamed stream (Kubo prints `added <cid> <cid>` for stdin).
    public let path: String
    public let cid: CID
    /// Cumulative DAG size in bytes (Kubo's `Size` in `--json` output; `ipfs dag stat` size).
    public let size: UInt64
    public let kind: Kind
}

/// Progress of an import, reported after every chunk read.
public struct ImportProgress: Sendable {
    /// The file being read (as in `ImportedEntry.path`).
    public let path: String
    /// Bytes of this file read so far.
    public let fileBytes: UInt64
    /// Bytes of all files read so far in this `add` call.
    public let totalBytes: UInt64
}

/// The outcome of one `add` call.
public struct ImportResult: Sendable {
    /// The root: the file, directory, symlink or wrapping directory.
    public let root: ImportedEntry
    /// Every entry in the order it was finished (files as they complete, each directory after
    /// its contents, the root last); empty when the importer was made with `collectEntries: false`.
    public let entries: [ImportedEntry]
}

/// An in-memory tree to import (no file system needed).
public indirect enum ImportNode: Sendable {
    case file(name: String, contents: [UInt8])
    case directory(name: String, children: [ImportNode])
    case symlink(name: String, target: String)

    var name: String {
        switch self {
        case let .file(name, _), let .directory(name, _), let .symlink(name, _): return name
        }
    }
}

/// The streaming UnixFS importer: files are read chunk by chunk, leaves are encoded and hashed
/// in parallel on all cores while a bounded window keeps memory constant, and the DAG (balanced
/// or trickle, basic or HAMT directories) is assembled in order on the calling thread. CIDs are
/// identical to Kubo's for the same options.
///
/// ```swift
/// let sink = BatchingBlockSink(store: store)
/// let importer = try Importer(options: .unixfsV0_2015, sink: sink) { print("added \($0.cid) \($0.path)") }
/// let result = try importer.add(path: "photos")
/// ```
///
/// Calls block the calling thread; one `add` at a time per importer.
public final class Importer {
    public let options: ImportOptions
    private let sink: (any BlockSink)?
    private let onProgress: ((ImportProgress) -> Void)?
    private let onEntry: ((ImportedEntry) -> Void)?
    private let collectEntries: Bool
    private let factory: BlockFactory
    private let window: Int
    /// Leaves hashed together: the multi-buffer SHA-256 kernel's lane count, 1 without it.
    private let batchSize: Int
    private let hashQueue = DispatchQueue.global(qos: .userInitiated)

    // Per-add state.
    private var steps: [Step] = []
    private var head = 0
    private var inFlight = 0
    /// Leaves read but not yet handed to a hashing worker (fewer than `batchSize`).
    private var pendingLeaves: [LeafJob] = []
    private var file: FileState?
    private var directories: [DirectoryBuilder] = []
    private var directoryNames: [String] = []
    private var entries: [ImportedEntry] = []
    private var top: ImportedEntry?
    private var totalBytes: UInt64 = 0

    /// - Parameters:
    ///   - sink: where blocks go; nil hashes only (`--only-hash`: nothing is written).
    ///   - collectEntries: keep every entry for `ImportResult.entries` (turn off for huge trees
    ///     and use `onEntry`).
    ///   - onProgress: called on the calling thread after each chunk read.
    ///   - onEntry: called on the calling thread as each entry is finished (print `added …` here).
    /// - Throws: `ImportError.invalidOptions`/`.invalidChunker` for a bad combination.
    public init(
        options: ImportOptions = ImportOptions(), sink: (any BlockSink)?, collectEntries: Bool = true,
        onProgress: ((ImportProgress) -> Void)? = nil, onEntry: ((ImportedEntry) -> Void)? = nil
    ) throws(ImportError) {
        try options.validate()
        self.options = options
        self.sink = sink
        self.collectEntries = collectEntries
        self.onProgress = onProgress
        self.onEntry = onEntry
        self.factory = BlockFactory(
            cidVersion: options.cidVersion, hashFunction: options.hashFunction, rawLeaves: options.rawLeaves,
            leafType: options.layout == .trickle ? .raw : .file)
        let cores = FileSystem.processorCount
        let batch = options.hashFunction == .sha2_256 && Sha256.lanes > 1 ? Sha256.lanes : 1
        self.batchSize = batch
        // Enough chunks in flight to keep every core busy while the calling thread reads,
        // assembles and stores: a batch per core plus the one being filled. Bounded: about
        // 32 MiB with 1 MiB chunks, never fewer than two batches.
        let chunk = max(1, options.chunker.maxChunkSize)
        self.window = max(4, min(max(cores * 4, batch * (cores + 1)), max((32 << 20) / chunk, 2 * batch)))
    }

    // MARK: - Public entry points

    /// Adds a file, a directory (recursively) or a symlink from the file system, named after the
    /// last component of `path` (wrapped in a directory when `wrapWithDirectory`).
    public func add(path: String) throws(ImportError) -> ImportResult {
        try add(paths: [path])
    }

    /// Adds several paths; with more than one, `wrapWithDirectory` must be set (they become
    /// entries of one directory).
    public func add(paths: [String]) throws(ImportError) -> ImportResult {
        guard paths.count == 1 || options.wrapWithDirectory else {
            throw .invalidOptions("adding \(paths.count) paths at once needs wrapWithDirectory (or add them one by one)")
        }
        return try run { () throws(ImportError) in
            if options.wrapWithDirectory { try enqueue(.beginDirectory(path: "", mode: options.mode, mtime: options.mtime)) }
            var visited: [(UInt64, UInt64)] = []
            for path in paths {
                let name = FileSystem.baseName(of: path)
                guard !name.isEmpty else { throw .invalidName(path: path) }
                try addFileSystemEntry(path, relative: name, name: name, isTop: true, visited: &visited)
            }
            if options.wrapWithDirectory { try enqueue(.endDirectory) }
        }
    }

    /// Adds one file read from `source` (stdin, a pipe, an open file). Without a name the entry
    /// path is the CID string, as Kubo prints it; with `wrapWithDirectory` a name is required.
    public func add(source: any ByteSource, name: String? = nil) throws(ImportError) -> ImportResult {
        if let name { try Self.checkName(name, path: name) }
        if options.wrapWithDirectory && name == nil {
            throw .invalidOptions("wrapping a stream in a directory needs a file name")
        }
        return try run { () throws(ImportError) in
            if options.wrapWithDirectory { try enqueue(.beginDirectory(path: "", mode: options.mode, mtime: options.mtime)) }
            try addStream(source, path: name ?? "", name: name ?? "", mode: options.mode, mtime: options.mtime)
            if options.wrapWithDirectory { try enqueue(.endDirectory) }
        }
    }

    /// Adds one in-memory file (see `add(source:name:)`).
    public func add(bytes: [UInt8], name: String? = nil) throws(ImportError) -> ImportResult {
        try add(source: BytesSource(bytes), name: name)
    }

    /// Adds an in-memory tree (entries get `options.mode`/`options.mtime` when set).
    public func add(tree: ImportNode) throws(ImportError) -> ImportResult {
        try run { () throws(ImportError) in
            if options.wrapWithDirectory { try enqueue(.beginDirectory(path: "", mode: options.mode, mtime: options.mtime)) }
            try addTree(tree, parent: "", isTop: true)
            if options.wrapWithDirectory { try enqueue(.endDirectory) }
        }
    }

    /// Total bytes of the regular files `add(paths:)` would read (for a progress bar's total),
    /// applying the same hidden-file and symlink rules.
    public func totalSize(of paths: [String]) throws(ImportError) -> UInt64 {
        var total: UInt64 = 0
        var visited: [(UInt64, UInt64)] = []
        func walk(_ path: String) throws(ImportError) {
            let status = try FileSystem.status(path, follow: options.dereferenceSymlinks)
            switch status.kind {
            case .file: total += status.size
            case .directory:
                if visited.contains(where: { $0 == (status.device, status.inode) }) { throw .symlinkCycle(path: path) }
                visited.append((status.device, status.inode))
                defer { visited.removeLast() }
                for name in try FileSystem.entries(of: path) where options.includeHidden || !name.hasPrefix(".") {
                    try walk(path + "/" + name)
                }
            default: break
            }
        }
        for path in paths { try walk(path) }
        return total
    }

    // MARK: - Walking inputs (producer side)

    private func run(_ body: () throws(ImportError) -> Void) throws(ImportError) -> ImportResult {
        reset()
        defer { reset() }
        try body()
        try drain()
        try sink?.flush()
        guard let top else { throw .invalidOptions("nothing was imported") }
        return ImportResult(root: top, entries: entries)
    }

    private func reset() {
        steps.removeAll()
        head = 0
        inFlight = 0
        file = nil
        directories.removeAll()
        directoryNames.removeAll()
        entries.removeAll()
        top = nil
        totalBytes = 0
    }

    private static func checkName(_ name: String, path: String) throws(ImportError) {
        guard !name.isEmpty, name != ".", name != "..", !name.utf8.contains(0x2f), !name.utf8.contains(0) else {
            throw .invalidName(path: path)
        }
    }

    private func attributes(_ status: FileSystem.Status, isSymlink: Bool = false) -> (UInt32?, UnixFSTime?) {
        let mode: UInt32? = isSymlink ? nil : (options.mode ?? (options.preserveMode ? status.permissions : nil))
        let mtime = options.mtime ?? (options.preserveMtime ? status.mtime : nil)
        return (mode == 0 ? nil : mode, mtime)
    }

    private func addFileSystemEntry(
        _ path: String, relative: String, name: String, isTop: Bool, visited: inout [(UInt64, UInt64)]
    ) throws(ImportError) {
        let status = try FileSystem.status(path, follow: options.dereferenceSymlinks)
        switch status.kind {
        case .file:
            let (mode, mtime) = attributes(status)
            let fd = try FileSystem.openForReading(path)
            defer { close(fd) }
            try addStream(FileDescriptorSource(fd: fd, path: path), path: relative, name: name, mode: mode, mtime: mtime)
        case .symlink:
            let target = try FileSystem.readLink(path)
            let (_, mtime) = attributes(status, isSymlink: true)
            try enqueue(.symlink(path: relative, target: target, mtime: mtime))
        case .directory:
            if options.dereferenceSymlinks {
                if visited.contains(where: { $0 == (status.device, status.inode) }) { throw .symlinkCycle(path: path) }
                visited.append((status.device, status.inode))
            }
            defer { if options.dereferenceSymlinks { visited.removeLast() } }
            let names = try FileSystem.entries(of: path).filter { options.includeHidden || !$0.hasPrefix(".") }
            if names.isEmpty && !isTop && !options.includeEmptyDirectories { return }
            let (mode, mtime) = attributes(status)
            try enqueue(.beginDirectory(path: relative, mode: mode, mtime: mtime))
            for child in names {
                try addFileSystemEntry(
                    path + "/" + child, relative: relative + "/" + child, name: child, isTop: false, visited: &visited)
            }
            try enqueue(.endDirectory)
        case .other:
            throw .unsupportedFileType(path: path)
        }
    }

    private func addTree(_ node: ImportNode, parent: String, isTop: Bool) throws(ImportError) {
        let path = join(parent, node.name)
        try Self.checkName(node.name, path: path)
        switch node {
        case let .file(_, contents):
            try addStream(BytesSource(contents), path: path, name: node.name, mode: options.mode, mtime: options.mtime)
        case let .symlink(_, target):
            try enqueue(.symlink(path: path, target: target, mtime: options.mtime))
        case let .directory(_, children):
            if children.isEmpty && !isTop && !options.includeEmptyDirectories { return }
            try enqueue(.beginDirectory(path: path, mode: options.mode, mtime: options.mtime))
            let sorted = children.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
            for child in sorted { try addTree(child, parent: path, isTop: false) }
            try enqueue(.endDirectory)
        }
    }

    private func addStream(
        _ source: any ByteSource, path: String, name: String, mode: UInt32?, mtime: UnixFSTime?
    ) throws(ImportError) {
        try enqueue(.beginFile(path: path, mode: mode, mtime: mtime))
        var fileBytes: UInt64 = 0
        let factory = self.factory
        func submit(_ job: LeafJob) throws(ImportError) {
            fileBytes += UInt64(job.chunkLength)
            totalBytes += UInt64(job.chunkLength)
            pendingLeaves.append(job)
            if pendingLeaves.count >= batchSize { dispatchPendingLeaves() }
            try enqueue(.leaf(job))
            onProgress?(ImportProgress(path: path, fileBytes: fileBytes, totalBytes: totalBytes))
        }
        if case let .fixed(size) = options.chunker, !options.rawLeaves {
            // Read each chunk straight into its leaf block: no copy of the file bytes.
            var splitter = FixedSizeSplitter(source: source, size: size)
            while let (bytes, chunk) = try splitter.nextLeaf(type: factory.leafType) {
                try submit(LeafJob(encodedLeaf: bytes, chunk: chunk))
            }
        } else {
            var splitter = options.chunker.splitter(for: source)
            while let chunk = try splitter.next() {
                try submit(LeafJob(chunk: chunk))
            }
        }
        try enqueue(.endFile)
    }

    /// Hands the leaves read so far to a hashing worker as one batch.
    private func dispatchPendingLeaves() {
        guard !pendingLeaves.isEmpty else { return }
        let batch = pendingLeaves
        pendingLeaves.removeAll(keepingCapacity: true)
        for job in batch { job.dispatched = true }
        let factory = self.factory
        hashQueue.async { LeafJob.run(batch, factory: factory) }
    }

    // MARK: - The ordered step queue

    private enum Step {
        case beginFile(path: String, mode: UInt32?, mtime: UnixFSTime?)
        case leaf(LeafJob)
        case endFile
        case beginDirectory(path: String, mode: UInt32?, mtime: UnixFSTime?)
        case endDirectory
        case symlink(path: String, target: String, mtime: UnixFSTime?)
        case consumed
    }

    private func enqueue(_ step: Step) throws(ImportError) {
        if case .leaf = step { inFlight += 1 }
        steps.append(step)
        while inFlight > window { try processNext() }
    }

    private func drain() throws(ImportError) {
        while head < steps.count { try processNext() }
    }

    private func processNext() throws(ImportError) {
        let step = steps[head]
        steps[head] = .consumed
        head += 1
        if head >= 1024 && head * 2 >= steps.count {
            steps.removeFirst(head)
            head = 0
        }
        try process(step)
    }

    // MARK: - Assembling (consumer side, in order)

    private struct FileState {
        let path: String
        let mode: UInt32?
        let mtime: UnixFSTime?
        var balanced: BalancedBuilder
        var trickle: TrickleBuilder
        var leafCount = 0
        var firstLeaf: ChildLink?
        /// The first dag-pb leaf, not yet stored: if it stays the only one it is re-encoded with
        /// mode/mtime (boxo sets file attributes on the root node).
        var heldLeaf: (block: Block, chunk: [UInt8])?
    }

    private func emit(_ block: Block) throws(ImportError) {
        try sink?.put(block)
    }

    private func process(_ step: Step) throws(ImportError) {
        let emit: BlockEmitter = { (block: Block) throws(ImportError) in try self.emit(block) }
        switch step {
        case let .beginFile(path, mode, mtime):
            file = FileState(
                path: path, mode: mode, mtime: mtime, balanced: BalancedBuilder(maxLinks: options.maxLinks),
                trickle: TrickleBuilder(maxLinks: options.maxLinks))
        case let .leaf(job):
            inFlight -= 1
            if !job.dispatched { dispatchPendingLeaves() }
            job.done.wait()
            guard let result = job.result else { throw .hashing(reason: "leaf job finished without a result") }
            let block = try result.get()
            guard var state = file else { return }
            let leaf = ChildLink(cid: block.cid, tsize: UInt64(block.data.count), fileSize: UInt64(job.chunkLength))
            let holdFirst = options.layout == .balanced && !options.rawLeaves && (state.mode != nil || state.mtime != nil)
            if state.leafCount == 0 && holdFirst {
                state.heldLeaf = (block, job.chunk)
            } else {
                if let held = state.heldLeaf {
                    try self.emit(held.block)
                    state.heldLeaf = nil
                }
                try self.emit(block)
            }
            if state.leafCount == 0 { state.firstLeaf = leaf }
            state.leafCount += 1
            switch options.layout {
            case .balanced: try state.balanced.add(leaf, factory: factory, emit: emit)
            case .trickle: try state.trickle.add(leaf, factory: factory, emit: emit)
            }
            file = state
        case .endFile:
            guard var state = file else { return }
            file = nil
            let root = try finishFile(&state, emit: emit)
            try finished(ImportedEntry(path: state.path, cid: root.cid, size: root.tsize, kind: .file))
        case let .beginDirectory(path, mode, mtime):
            directories.append(DirectoryBuilder(path: path, mode: mode, mtime: mtime))
        case .endDirectory:
            guard let directory = directories.popLast() else { return }
            let root = try directory.finish(options, factory: factory, emit: emit)
            try finished(ImportedEntry(path: directory.path, cid: root.cid, size: root.tsize, kind: .directory))
        case let .symlink(path, target, mtime):
            let data = UnixFSData(type: .symlink, data: Array(target.utf8), mtime: mtime)
            let block = try factory.block(PBNode(data: data.encoded()).encoded(), codec: .dagPB)
            try self.emit(block)
            try finished(ImportedEntry(path: path, cid: block.cid, size: UInt64(block.data.count), kind: .symlink))
        case .consumed:
            break
        }
    }

    private func finishFile(_ state: inout FileState, emit: BlockEmitter) throws(ImportError) -> ChildLink {
        switch options.layout {
        case .trickle:
            return try state.trickle.finish(mode: state.mode, mtime: state.mtime, factory: factory, emit: emit)
        case .balanced:
            if state.leafCount == 0 {
                // boxo: NewLeafNode(nil, TFile) — an empty raw block or an empty File node.
                let block: Block
                if options.rawLeaves {
                    block = try factory.block([], codec: .raw)
                } else {
                    block = try factory.block(
                        BlockFactory.encodeLeaf([], type: .file, mode: state.mode, mtime: state.mtime), codec: .dagPB)
                }
                try self.emit(block)
                return ChildLink(cid: block.cid, tsize: UInt64(block.data.count), fileSize: 0)
            }
            if let root = try state.balanced.finish(mode: state.mode, mtime: state.mtime, factory: factory, emit: emit) {
                return root
            }
            // A single leaf is the root.
            if let held = state.heldLeaf {
                let bytes = BlockFactory.encodeLeaf(held.chunk, type: .file, mode: state.mode, mtime: state.mtime)
                let block = try factory.block(bytes, codec: .dagPB)
                try self.emit(block)
                return ChildLink(cid: block.cid, tsize: UInt64(bytes.count), fileSize: UInt64(held.chunk.count))
            }
            guard let leaf = state.firstLeaf else { throw .hashing(reason: "file \(state.path) lost its only leaf") }
            return leaf
        }
    }

    private func finished(_ entry: ImportedEntry) throws(ImportError) {
        var entry = entry
        if entry.path.isEmpty && directories.isEmpty && !options.wrapWithDirectory && entry.kind == .file {
            // An unnamed stream: Kubo prints the CID as its path.
            entry = ImportedEntry(path: entry.cid.description, cid: entry.cid, size: entry.size, kind: entry.kind)
        }
        if collectEntries { entries.append(entry) }
        onEntry?(entry)
        if directories.isEmpty {
            top = entry
        } else {
            let name = entry.path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? entry.path
            try directories[directories.count - 1].add(name: name, cid: entry.cid, tsize: entry.size)
        }
    }
}

/// One chunk's encode-and-hash job, run on a hashing worker in a batch of jobs.
///
/// `result` is written by the worker before it signals `done` and read by the importer only
/// after waiting on `done`; the semaphore orders the two, hence `@unchecked Sendable`.
/// `dispatched` is only touched by the importer's thread.
private final class LeafJob: @unchecked Sendable {
    /// The chunk, or the whole dag-pb leaf when `encoded`.
    private let payload: [UInt8]
    private let encoded: Bool
    private let chunkRange: Range<Int>
    var result: Result<Block, ImportError>?
    let done = DispatchSemaphore(value: 0)
    var dispatched = false

    init(chunk: [UInt8]) {
        payload = chunk
        encoded = false
        chunkRange = 0..<chunk.count
    }

    init(encodedLeaf: [UInt8], chunk: Range<Int>) {
        payload = encodedLeaf
        encoded = true
        chunkRange = chunk
    }

    var chunkLength: Int { chunkRange.count }

    /// The file bytes of this chunk.
    var chunk: [UInt8] { encoded ? Array(payload[chunkRange]) : payload }

    /// The leaf block's bytes and codec.
    private func leafBytes(_ factory: BlockFactory) -> ([UInt8], Multicodec) {
        if encoded { return (payload, .dagPB) }
        return factory.leafBytes(payload)
    }

    /// Encodes and hashes `jobs` together (one multi-buffer SHA-256 call when the kernel applies),
    /// then releases each job's waiter.
    static func run(_ jobs: [LeafJob], factory: BlockFactory) {
        let leaves = jobs.map { $0.leafBytes(factory) }
        let blocks: Result<[Block], ImportError>
        if leaves.allSatisfy({ $0.1 == leaves[0].1 }), let codec = leaves.first?.1 {
            blocks = Result { () throws(ImportError) -> [Block] in try factory.blocks(leaves.map(\.0), codec: codec) }
        } else {
            blocks = Result { () throws(ImportError) -> [Block] in try leaves.map { leaf throws(ImportError) in try factory.block(leaf.0, codec: leaf.1) } }
        }
        for (i, job) in jobs.enumerated() {
            job.result = blocks.map { $0[i] }
            job.done.signal()
        }
    }
}
