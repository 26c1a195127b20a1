import IPLD
import Multiformats

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One entry of a UnixFS directory listing.
public struct DirectoryEntry: Hashable, Sendable {
    public let name: String
    public let cid: CID
    /// Cumulative size from the directory link (`Tsize`), when the link carries it.
    public let tsize: UInt64?
    /// The entry's node, when the listing was asked to resolve types (nil if its block is missing
    /// and missing blocks are reported instead of thrown).
    public let info: UnixFSNodeInfo?
}

/// A block a listing could not load, reported instead of failing when asked to.
public enum MissingBlock: Hashable, Sendable {
    /// A HAMT sub-shard: every entry under it is unknown.
    case shard(CID)
    /// A named entry whose node is missing.
    case entry(name: String, cid: CID)
}

/// Why an export (cat, ls, get, path resolution) failed; each case names the CID at fault.
public enum ExportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The block is not in the block source; `path` is the UnixFS path being walked, if any.
    case missingBlock(CID, path: String?)
    /// The block source failed.
    case blockSource(CID, reason: String)
    case invalidDagPB(CID, DagPBError)
    case invalidUnixFS(CID, UnixFSDataError)
    /// Neither dag-pb nor raw.
    case unsupportedCodec(CID)
    /// A UnixFS type this exporter does not read (Metadata).
    case unsupportedType(CID, UnixFSData.DataType)
    /// A UnixFS node that breaks the spec's rules (sizes, names, HAMT parameters).
    case malformed(CID, reason: String)
    /// A file was expected.
    case notAFile(CID, kind: String)
    /// A directory was expected (to list it, or to resolve `path` through it).
    case notADirectory(CID, path: String)
    /// No entry `name` in the directory `directory` (reached by `path`).
    case notFound(name: String, directory: CID, path: String)
    case invalidPath(String, reason: String)
    /// A read offset past the end of the file.
    case offsetOutOfRange(offset: UInt64, size: UInt64)
    /// An entry name that cannot be written to disk safely ("", ".", "..", or with "/" or NUL).
    case unsafeName(String, directory: CID)
    /// `get` refuses to overwrite.
    case destinationExists(String)
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32)

    public var description: String {
        switch self {
        case let .missingBlock(cid, path):
            return "block \(cid) not found" + (path.map { " (resolving \($0))" } ?? "")
        case let .blockSource(cid, reason):
            return "reading block \(cid) failed: \(reason)"
        case let .invalidDagPB(cid, error):
            return "block \(cid): \(error)"
        case let .invalidUnixFS(cid, error):
            return "block \(cid): \(error)"
        case let .unsupportedCodec(cid):
            return "block \(cid): codec \(cid.codec) is not UnixFS (dag-pb or raw)"
        case let .unsupportedType(cid, type):
            return "block \(cid): UnixFS type \(type) is not supported"
        case let .malformed(cid, reason):
            return "block \(cid): malformed UnixFS: \(reason)"
        case let .notAFile(cid, kind):
            return "\(cid) is a \(kind), not a file"
        case let .notADirectory(cid, path):
            return "\(path) (\(cid)) is not a directory"
        case let .notFound(name, directory, path):
            return "no link named \"\(name)\" under \(path) (\(directory))"
        case let .invalidPath(path, reason):
            return "invalid path \"\(path)\": \(reason)"
        case let .offsetOutOfRange(offset, size):
            return "offset \(offset) is past the end of the file (\(size) bytes)"
        case let .unsafeName(name, directory):
            return "directory \(directory) has an entry named \"\(name)\" that cannot be written safely"
        case let .destinationExists(path):
            return "\(path) already exists"
        case let .io(operation, path, code):
            return "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}

/// Reads UnixFS DAGs from a block source: `cat` with offset/length, `ls` of basic and HAMT
/// directories, `/ipfs/<cid>/a/b` path resolution and `get` to a local folder. Everything
/// streams: memory is bounded by the DAG depth and one block, never the file size.
public struct Exporter: Sendable {
    public let source: any BlockSource

    public init(source: any BlockSource) {
        self.source = source
    }

    // MARK: - Blocks

    func load(_ cid: CID, path: String? = nil) throws(ExportError) -> Block {
        if cid.multihash.code == HashFunction.identity.rawValue {
            return Block(cid: cid, data: cid.multihash.digest)
        }
        let block: Block?
        do {
            block = try source.block(for: cid)
        } catch {
            throw .blockSource(cid, reason: "\(error)")
        }
        guard let block else { throw .missingBlock(cid, path: path) }
        return block
    }

    func node(_ cid: CID, path: String? = nil) throws(ExportError) -> DecodedNode {
        try DecodedNode.decode(load(cid, path: path))
    }

    /// What `cid` is (file, directory, symlink; sizes, mode, mtime).
    public func stat(_ cid: CID) throws(ExportError) -> UnixFSNodeInfo {
        try node(cid).info()
    }

    // MARK: - Paths

    /// Resolves `/ipfs/<cid>/a/b`, `ipfs/<cid>/a/b` or `<cid>/a/b` to the CID it names, through
    /// basic and HAMT directories. Empty components (repeated or trailing "/") are ignored.
    public func resolve(_ path: String) throws(ExportError) -> CID {
        var components = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if components.first == "ipfs" { components.removeFirst() }
        guard let first = components.first else { throw .invalidPath(path, reason: "no CID") }
        let root: CID
        do {
            root = try CID(first)
        } catch {
            throw .invalidPath(path, reason: "\"\(first)\" is not a CID (\(error))")
        }
        return try resolve(root, components: Array(components.dropFirst()))
    }

    /// Resolves `components` (entry names) starting at directory `root`.
    public func resolve(_ root: CID, components: [String]) throws(ExportError) -> CID {
        var current = root
        var walked = "/ipfs/\(root)"
        for name in components where !name.isEmpty {
            let directory = try node(current, path: walked)
            switch directory.type {
            case .directory:
                guard let link = directory.links.first(where: { $0.name == name }) else {
                    throw .notFound(name: name, directory: current, path: walked)
                }
                current = link.hash
            case .hamtShard:
                guard let cid = try findInShard(directory, name: name, path: walked) else {
                    throw .notFound(name: name, directory: current, path: walked)
                }
                current = cid
            default:
                throw .notADirectory(current, path: walked)
            }
            walked += "/" + name
        }
        return current
    }

    /// Looks `name` up in the HAMT whose root shard is `root`.
    private func findInShard(_ root: DecodedNode, name: String, path: String) throws(ExportError) -> CID? {
        let hash = Murmur3.hash64(Array(name.utf8))
        var shard = root
        var consumed = 0
        while true {
            let (_, bitWidth, padLength) = try shard.hamtParameters()
            guard consumed + bitWidth <= 64 else { return nil }
            let bucket = HAMTBuilder.bucket(of: hash, consumed: consumed, bitWidth: bitWidth)
            consumed += bitWidth
            let prefix = HAMTBuilder.prefix(bucket, padLength: padLength)
            guard let link = shard.links.first(where: { ($0.name ?? "").hasPrefix(prefix) }), let linkName = link.name else {
                return nil
            }
            if linkName.utf8.count == prefix.utf8.count {
                let child = try node(link.hash, path: path + "/" + name)
                guard child.type == .hamtShard else {
                    throw .malformed(shard.cid, reason: "HAMT link \(linkName) does not point to a shard")
                }
                shard = child
                continue
            }
            return linkName.utf8.dropFirst(prefix.utf8.count).elementsEqual(name.utf8) ? link.hash : nil
        }
    }

    // MARK: - Files

    /// A sequential reader of the file `cid` from `offset` for `length` bytes (to the end when nil).
    public func reader(_ cid: CID, offset: UInt64 = 0, length: UInt64? = nil) throws(ExportError) -> FileReader {
        try FileReader(exporter: self, root: node(cid), offset: offset, length: length)
    }

    /// Streams the file's bytes to `body`, in order, as slices of the blocks (no copies).
    /// Throws `ExportError` or whatever `body` throws.
    public func cat(
        _ cid: CID, offset: UInt64 = 0, length: UInt64? = nil, _ body: (ArraySlice<UInt8>) throws -> Void
    ) throws {
        var reader = try self.reader(cid, offset: offset, length: length)
        while let slice = try reader.next() { try body(slice) }
    }

    /// Writes the file's bytes to a file descriptor (e.g. stdout); returns the byte count.
    @discardableResult
    public func cat(
        _ cid: CID, offset: UInt64 = 0, length: UInt64? = nil, toFileDescriptor fd: Int32, path: String = "<output>"
    ) throws(ExportError) -> UInt64 {
        var reader = try self.reader(cid, offset: offset, length: length)
        var written: UInt64 = 0
        while let slice = try reader.next() {
            try Self.writeAll(fd, slice, path: path)
            written += UInt64(slice.count)
        }
        return written
    }

    static func writeAll(_ fd: Int32, _ slice: ArraySlice<UInt8>, path: String) throws(ExportError) {
        var failure: Int32 = 0
        slice.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, let base = raw.baseAddress {
                #if canImport(Darwin)
                let n = Darwin.write(fd, base + offset, raw.count - offset)
                #else
                let n = Glibc.write(fd, base + offset, raw.count - offset)
                #endif
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += n
            }
        }
        if failure != 0 { throw .io(operation: "write", path: path, errno: failure) }
    }

    // MARK: - Directories

    /// Lists a directory (basic, or every entry of a HAMT in shard order).
    ///
    /// - Parameters:
    ///   - resolveTypes: load each entry's node for `DirectoryEntry.info` (`ls -l`).
    ///   - onMissing: when given, missing HAMT shards and missing entry nodes are reported here
    ///     and skipped instead of ending the listing with `ExportError.missingBlock`.
    /// - Throws: `ExportError`, or whatever `body` throws.
    public func list(
        _ cid: CID, resolveTypes: Bool = false, onMissing: ((MissingBlock) -> Void)? = nil,
        _ body: (DirectoryEntry) throws -> Void
    ) throws {
        let directory = try node(cid)
        try list(directory, resolveTypes: resolveTypes, onMissing: onMissing, body)
    }

    /// All entries of a directory (see `list`).
    public func entries(_ cid: CID, resolveTypes: Bool = false) throws(ExportError) -> [DirectoryEntry] {
        var out: [DirectoryEntry] = []
        do {
            try list(cid, resolveTypes: resolveTypes) { out.append($0) }
        } catch let error as ExportError {
            throw error
        } catch {
            throw .malformed(cid, reason: "\(error)")
        }
        return out
    }

    private func list(
        _ directory: DecodedNode, resolveTypes: Bool, onMissing: ((MissingBlock) -> Void)?,
        _ body: (DirectoryEntry) throws -> Void
    ) throws {
        var cursor = try DirectoryCursor(exporter: self, directory: directory, after: nil, onMissing: onMissing)
        while let entry = try cursor.next() {
            var info: UnixFSNodeInfo?
            if resolveTypes {
                switch loadNode(entry.cid, reportingMissing: onMissing != nil) {
                case let .success(child?): info = try child.info()
                case .success(nil): onMissing?(.entry(name: entry.name, cid: entry.cid))
                case let .failure(error): throw error
                }
            }
            try body(DirectoryEntry(name: entry.name, cid: entry.cid, tsize: entry.tsize, info: info))
        }
    }

    /// Loads and decodes `cid`; when `reportingMissing`, a missing block is `.success(nil)`.
    private func loadNode(_ cid: CID, reportingMissing: Bool) -> Result<DecodedNode?, ExportError> {
        do throws(ExportError) {
            return .success(try node(cid))
        } catch {
            if reportingMissing, case let .missingBlock(missing, _) = error, missing == cid { return .success(nil) }
            return .failure(error)
        }
    }

    // MARK: - get

    /// Writes the file, directory tree or symlink `cid` to `path` (which must not exist),
    /// restoring mode and mtime where stored. Entry names that could escape the destination
    /// ("..", "/", …) are refused.
    /// - Parameter progress: called with the total file bytes written so far.
    public func get(_ cid: CID, to path: String, progress: ((UInt64) -> Void)? = nil) throws(ExportError) {
        if FileSystem.exists(path) { throw .destinationExists(path) }
        var written: UInt64 = 0
        try write(cid, to: path, written: &written, progress: progress)
    }

    private func write(_ cid: CID, to path: String, written: inout UInt64, progress: ((UInt64) -> Void)?) throws(ExportError) {
        let decoded = try node(cid, path: path)
        let info = try decoded.info()
        switch info.kind {
        case .file:
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
            do {
                var reader = try FileReader(exporter: self, root: decoded, offset: 0, length: nil)
                while let slice = try reader.next() {
                    try Self.writeAll(fd, slice, path: path)
                    written += UInt64(slice.count)
                    progress?(written)
                }
            } catch {
                close(fd)
                throw error
            }
            guard close(fd) == 0 else { throw .io(operation: "close", path: path, errno: errno) }
        case .directory:
            guard mkdir(path, 0o755) == 0 else { throw .io(operation: "mkdir", path: path, errno: errno) }
            var children: [(String, CID)] = []
            do {
                try list(decoded, resolveTypes: false, onMissing: nil) { entry in children.append((entry.name, entry.cid)) }
            } catch let error as ExportError {
                throw error
            } catch {
                throw .malformed(cid, reason: "\(error)")
            }
            for (name, child) in children {
                guard !name.isEmpty, name != ".", name != "..", !name.utf8.contains(0x2f), !name.utf8.contains(0) else {
                    throw .unsafeName(name, directory: cid)
                }
                try write(child, to: path + "/" + name, written: &written, progress: progress)
            }
        case .symlink:
            guard symlink(info.symlinkTarget ?? "", path) == 0 else { throw .io(operation: "symlink", path: path, errno: errno) }
        }
        try applyMetadata(info, path: path)
    }

    private func applyMetadata(_ info: UnixFSNodeInfo, path: String) throws(ExportError) {
        if info.kind != .symlink, let mode = info.mode, mode & 0o7777 != 0 {
            guard chmod(path, mode_t(mode & 0o7777)) == 0 else { throw .io(operation: "chmod", path: path, errno: errno) }
        }
        if let mtime = info.mtime {
            let nanos = Int(mtime.nanoseconds ?? 0)
            var times = [
                timespec(tv_sec: 0, tv_nsec: FileSystem.utimeOmit),
                timespec(tv_sec: time_t(mtime.seconds), tv_nsec: nanos < 1_000_000_000 ? nanos : 0),
            ]
            let rc = times.withUnsafeMutableBufferPointer { buffer in
                utimensat(AT_FDCWD, path, buffer.baseAddress, AT_SYMLINK_NOFOLLOW)
            }
            guard rc == 0 else { throw .io(operation: "utimensat", path: path, errno: errno) }
        }
    }
}

/// A sequential reader over one UnixFS file (raw block, dag-pb File/Raw tree, any layout),
/// from an offset for a length. Subtrees before the offset are skipped using `blocksizes`
/// without loading them. `next()` returns slices of the blocks; `read(into:)` copies.
public struct FileReader {
    private struct Frame {
        let parent: CID
        let links: [PBLink]
        let sizes: [UInt64]
        var index: Int
        /// Absolute offset where the child at `index` starts.
        var offset: UInt64
    }

    private let exporter: Exporter
    /// The file's root CID.
    public let root: CID
    /// Total content bytes of the file.
    public let size: UInt64
    /// Absolute offset of the next byte to return.
    public private(set) var position: UInt64
    private let end: UInt64
    private var stack: [Frame] = []
    private var pending: ArraySlice<UInt8> = []

    init(exporter: Exporter, root: DecodedNode, offset: UInt64, length: UInt64?) throws(ExportError) {
        self.exporter = exporter
        self.root = root.cid
        switch root.type {
        case .file, .raw: break
        case .directory, .hamtShard: throw .notAFile(root.cid, kind: "directory")
        case .symlink: throw .notAFile(root.cid, kind: "symlink")
        case .metadata: throw .unsupportedType(root.cid, .metadata)
        }
        try root.checkFile()
        let size = try root.fileSize()
        guard offset <= size else { throw .offsetOutOfRange(offset: offset, size: size) }
        self.size = size
        self.position = offset
        let available = size - offset
        self.end = offset + min(length ?? available, available)
        try visit(root, start: 0)
    }

    /// The next slice of file bytes, or nil at the end of the range.
    public mutating func next() throws(ExportError) -> ArraySlice<UInt8>? {
        while position < end {
            if !pending.isEmpty {
                let slice = pending
                pending = []
                position += UInt64(slice.count)
                return slice
            }
            guard let top = stack.last else {
                throw .malformed(root, reason: "file ended at \(position) of \(size) bytes")
            }
            if top.index == top.links.count {
                stack.removeLast()
                continue
            }
            let last = stack.count - 1
            let index = top.index
            let childStart = top.offset
            let childSize = top.sizes[index]
            stack[last].index += 1
            stack[last].offset = childStart &+ childSize
            if childStart &+ childSize <= position { continue }
            let child = try exporter.node(top.links[index].hash)
            switch child.type {
            case .file, .raw: break
            default:
                throw .malformed(top.parent, reason: "file link #\(index) points to a \(child.type) node")
            }
            try child.checkFile()
            let actual = try child.fileSize()
            guard actual == childSize else {
                throw .malformed(top.parent, reason: "blocksizes[\(index)] is \(childSize) but child \(child.cid) holds \(actual) bytes")
            }
            try visit(child, start: childStart)
        }
        return nil
    }

    /// Copies up to `buffer.count` bytes; returns 0 at the end of the range.
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ExportError) -> Int {
        var filled = 0
        while filled < buffer.count {
            if pending.isEmpty {
                guard let slice = try next() else { break }
                pending = slice
                position -= UInt64(slice.count)
            }
            let n = min(buffer.count - filled, pending.count)
            let chunk = pending.prefix(n)
            chunk.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + n)]).copyMemory(from: src)
            }
            pending = pending.dropFirst(n)
            position += UInt64(n)
            filled += n
        }
        return filled
    }

    /// Queues a node's own bytes and its children, the node's content starting at `start`.
    private mutating func visit(_ node: DecodedNode, start: UInt64) throws(ExportError) {
        let content = node.content
        let contentEnd = start + UInt64(content.count)
        if contentEnd > position && start < end {
            let from = Int(max(position, start) - start)
            let to = Int(min(end, contentEnd) - start)
            if from < to { pending = content[(content.startIndex + from)..<(content.startIndex + to)] }
        }
        if !node.links.isEmpty, let fields = node.fields {
            stack.append(Frame(parent: node.cid, links: node.links, sizes: fields.blockSizes, index: 0, offset: contentEnd))
        }
    }
}
