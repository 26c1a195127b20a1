import BlockStore
import IPLD
import Multiformats
import Synchronization
import UnixFS

/// Why a tree operation (diff, edit, merge, checkout) failed; each case names the path or CID at fault.
public enum TreeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A block of the tree is not in the block source (`path` is where in the tree).
    case missingBlock(CID, path: String)
    /// The block source failed.
    case blockSource(CID, reason: String)
    /// A block that is not a UnixFS node this code reads.
    case malformed(CID, path: String, reason: String)
    /// A directory was expected at `path`.
    case notADirectory(path: String)
    /// Nothing at `path` (e.g. removing a path that does not exist).
    case notFound(path: String)
    /// A path that is not a "/"-separated list of valid names.
    case invalidPath(String)
    /// Building directories or hashing a local folder failed.
    case importFailed(ImportError)
    /// Reading the tree (export) failed.
    case exportFailed(ExportError)
    /// A file-system operation failed.
    case io(operation: String, path: String, reason: String)
    /// A checkout whose re-hash differs from the tree it came from.
    case verificationFailed(path: String, expected: CID, actual: CID)

    public var description: String {
        switch self {
        case let .missingBlock(cid, path): return "block \(cid) not found (at \"\(path)\")"
        case let .blockSource(cid, reason): return "reading block \(cid) failed: \(reason)"
        case let .malformed(cid, path, reason): return "\"\(path)\" (\(cid)): \(reason)"
        case let .notADirectory(path): return "\"\(path)\" is not a directory"
        case let .notFound(path): return "\"\(path)\" does not exist in the tree"
        case let .invalidPath(path): return "invalid tree path \"\(path)\""
        case let .importFailed(error): return "\(error)"
        case let .exportFailed(error): return "\(error)"
        case let .io(operation, path, reason): return "\(operation) \(path): \(reason)"
        case let .verificationFailed(path, expected, actual):
            return "checkout \(path) hashes to \(actual), expected \(expected)"
        }
    }
}

/// The kind of a tree entry.
public enum TreeEntryKind: String, Hashable, Sendable {
    case file, directory, symlink
}

/// One difference between two trees.
public struct TreeChange: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case added, removed, modified
    }

    /// "/"-separated path from the tree root ("" is the root itself).
    public let path: String
    public let kind: Kind
    public let oldCID: CID?
    public let newCID: CID?
    /// File content bytes, symlink target length, or a directory's cumulative size (link Tsize).
    public let oldSize: UInt64?
    public let newSize: UInt64?
    public let oldKind: TreeEntryKind?
    public let newKind: TreeEntryKind?
    /// The new entry's link Tsize (what `TreeEditor` needs to link it), when there is a new entry.
    public let newTsize: UInt64?

    public init(
        path: String, kind: Kind, oldCID: CID?, newCID: CID?, oldSize: UInt64?, newSize: UInt64?,
        oldKind: TreeEntryKind?, newKind: TreeEntryKind?, newTsize: UInt64?
    ) {
        self.path = path
        self.kind = kind
        self.oldCID = oldCID
        self.newCID = newCID
        self.oldSize = oldSize
        self.newSize = newSize
        self.oldKind = oldKind
        self.newKind = newKind
        self.newTsize = newTsize
    }
}

/// Counts the blocks read through it.
final class CountingSource: BlockSource {
    let base: any BlockSource
    private let count = Atomic<Int>(0)

    init(_ base: any BlockSource) { self.base = base }

    var reads: Int { count.load(ordering: .relaxed) }

    func block(for cid: CID) throws -> Block? {
        count.add(1, ordering: .relaxed)
        return try base.block(for: cid)
    }
}

/// A UnixFS node decoded just enough to walk trees.
struct TreeNode {
    let cid: CID
    let kind: TreeEntryKind
    /// HAMT fanout when the directory is sharded.
    let fanout: Int?
    let links: [PBLink]
    /// File content bytes or symlink target length; 0 for a directory.
    let size: UInt64
    let mode: UInt32?
    let mtime: UnixFSTime?
    /// Bytes of this node's own block.
    var blockSize = 0

    var padLength: Int { fanout.map { String($0 - 1, radix: 16).count } ?? 0 }

    static func decode(_ block: Block, path: String) throws(TreeError) -> TreeNode {
        let cid = block.cid
        switch cid.codec {
        case .raw:
            return TreeNode(
                cid: cid, kind: .file, fanout: nil, links: [], size: UInt64(block.data.count), mode: nil, mtime: nil)
        case .dagPB:
            let node: PBNode
            do {
                node = try PBNode(decoding: block.data)
            } catch {
                throw .malformed(cid, path: path, reason: "\(error)")
            }
            guard let bytes = node.data else { throw .malformed(cid, path: path, reason: "dag-pb node has no UnixFS Data") }
            let data: UnixFSData
            do {
                data = try UnixFSData(decoding: bytes)
            } catch {
                throw .malformed(cid, path: path, reason: "\(error)")
            }
            switch data.type {
            case .raw, .file:
                let own = UInt64(data.data?.count ?? 0)
                let size = data.fileSize ?? data.blockSizes.reduce(own) { $0 &+ $1 }
                return TreeNode(
                    cid: cid, kind: .file, fanout: nil, links: node.links, size: size, mode: data.mode, mtime: data.mtime)
            case .directory:
                return TreeNode(
                    cid: cid, kind: .directory, fanout: nil, links: node.links, size: 0, mode: data.mode, mtime: data.mtime)
            case .hamtShard:
                guard let fanout = data.fanout, fanout >= 8, fanout <= 1024, fanout & (fanout - 1) == 0 else {
                    throw .malformed(cid, path: path, reason: "HAMT fanout is not a power of two in 8…1024")
                }
                return TreeNode(
                    cid: cid, kind: .directory, fanout: Int(fanout), links: node.links, size: 0, mode: data.mode,
                    mtime: data.mtime)
            case .symlink:
                return TreeNode(
                    cid: cid, kind: .symlink, fanout: nil, links: [], size: UInt64(data.data?.count ?? 0), mode: data.mode,
                    mtime: data.mtime)
            case .metadata:
                throw .malformed(cid, path: path, reason: "UnixFS Metadata nodes are not supported")
            }
        default:
            throw .malformed(cid, path: path, reason: "codec \(cid.codec) is not UnixFS (dag-pb or raw)")
        }
    }
}

/// An entry of a directory: the link to it.
struct TreeLink {
    let cid: CID
    let tsize: UInt64?
}

/// Loads tree nodes from a block source (plus optional in-memory overrides) and lists directories.
struct TreeReader {
    let source: CountingSource
    /// Blocks to look at before `source` (a hashed local folder's directories).
    var overlay: [CID: Block] = [:]
    /// Sizes of local files whose blocks were not kept.
    var fileSizes: [CID: UInt64] = [:]

    init(source: any BlockSource) { self.source = CountingSource(source) }

    /// - Parameter tsize: the linking entry's Tsize: a raw block (a whole small file) that is not
    ///   local (a history-only clone) is then described from it instead of failing.
    func node(_ cid: CID, path: String, tsize: UInt64? = nil) throws(TreeError) -> TreeNode {
        if let block = overlay[cid] {
            var node = try TreeNode.decode(block, path: path)
            node.blockSize = block.data.count
            return node
        }
        if let size = fileSizes[cid] {
            return TreeNode(cid: cid, kind: .file, fanout: nil, links: [], size: size, mode: nil, mtime: nil)
        }
        if cid.multihash.code == HashFunction.identity.rawValue {
            return try TreeNode.decode(Block(cid: cid, data: cid.multihash.digest), path: path)
        }
        let block: Block?
        do {
            block = try source.block(for: cid)
        } catch {
            throw .blockSource(cid, reason: "\(error)")
        }
        guard let block else {
            if cid.codec == .raw, let tsize {
                return TreeNode(cid: cid, kind: .file, fanout: nil, links: [], size: tsize, mode: nil, mtime: nil)
            }
            throw .missingBlock(cid, path: path)
        }
        var node = try TreeNode.decode(block, path: path)
        node.blockSize = block.data.count
        return node
    }

    /// Every entry of a directory (basic or HAMT), by name.
    func entries(_ directory: TreeNode, path: String) throws(TreeError) -> [String: TreeLink] {
        guard directory.kind == .directory else { throw .notADirectory(path: path) }
        var out: [String: TreeLink] = [:]
        if directory.fanout == nil {
            for link in directory.links { out[link.name ?? ""] = TreeLink(cid: link.hash, tsize: link.tsize) }
        } else {
            try collectShard(directory, path: path, into: &out)
        }
        return out
    }

    private func collectShard(_ shard: TreeNode, path: String, into out: inout [String: TreeLink]) throws(TreeError) {
        let pad = shard.padLength
        for link in shard.links {
            let name = link.name ?? ""
            let count = name.utf8.count
            guard count >= pad else { throw .malformed(shard.cid, path: path, reason: "HAMT link name \"\(name)\" too short") }
            if count == pad {
                let child = try node(link.hash, path: path)
                guard child.fanout == shard.fanout else {
                    throw .malformed(shard.cid, path: path, reason: "HAMT link \(name) does not point to a shard")
                }
                try collectShard(child, path: path, into: &out)
            } else {
                out[String(decoding: name.utf8.dropFirst(pad), as: UTF8.self)] = TreeLink(cid: link.hash, tsize: link.tsize)
            }
        }
    }

    /// The entries of two directories that may differ: equal (name, CID) pairs are dropped, and
    /// HAMT shards with equal CIDs are never loaded.
    func differingEntries(
        _ a: TreeNode, _ b: TreeNode, path: String
    ) throws(TreeError) -> (old: [String: TreeLink], new: [String: TreeLink]) {
        var old: [String: TreeLink] = [:]
        var new: [String: TreeLink] = [:]
        if let fanout = a.fanout, fanout == b.fanout {
            try diffShards(a, b, path: path, old: &old, new: &new)
        } else {
            old = try entries(a, path: path)
            new = try entries(b, path: path)
        }
        for (name, link) in old where new[name]?.cid == link.cid {
            old[name] = nil
            new[name] = nil
        }
        return (old, new)
    }

    private func diffShards(
        _ a: TreeNode, _ b: TreeNode, path: String, old: inout [String: TreeLink], new: inout [String: TreeLink]
    ) throws(TreeError) {
        let pad = a.padLength
        var left: [String: PBLink] = [:]
        for link in a.links { left[link.name ?? ""] = link }
        var right: [String: PBLink] = [:]
        for link in b.links { right[link.name ?? ""] = link }
        for (name, link) in left {
            if let other = right[name] {
                if other.hash == link.hash { right[name] = nil; continue }
                if name.utf8.count == pad {
                    let x = try node(link.hash, path: path)
                    let y = try node(other.hash, path: path)
                    guard x.fanout == a.fanout, y.fanout == a.fanout else {
                        throw .malformed(a.cid, path: path, reason: "HAMT link \(name) does not point to a shard")
                    }
                    try diffShards(x, y, path: path, old: &old, new: &new)
                    right[name] = nil
                    continue
                }
            }
            try expand(link, shard: a, path: path, into: &old)
        }
        for (_, link) in right { try expand(link, shard: b, path: path, into: &new) }
    }

    private func expand(_ link: PBLink, shard: TreeNode, path: String, into out: inout [String: TreeLink]) throws(TreeError) {
        let name = link.name ?? ""
        let pad = shard.padLength
        guard name.utf8.count >= pad else { throw .malformed(shard.cid, path: path, reason: "HAMT link name \"\(name)\" too short") }
        if name.utf8.count == pad {
            let child = try node(link.hash, path: path)
            guard child.fanout == shard.fanout else {
                throw .malformed(shard.cid, path: path, reason: "HAMT link \(name) does not point to a shard")
            }
            try collectShard(child, path: path, into: &out)
        } else {
            out[String(decoding: name.utf8.dropFirst(pad), as: UTF8.self)] = TreeLink(cid: link.hash, tsize: link.tsize)
        }
    }
}

/// Joins a tree path and a name.
func treeJoin(_ parent: String, _ name: String) -> String {
    parent.isEmpty ? name : parent + "/" + name
}

/// Diffs UnixFS trees by CID: identical subtrees (and identical HAMT shards) are skipped without
/// being read, so two huge trees that differ in one file cost O(depth) block reads.
///
/// ```swift
/// let diff = TreeDiff(source: store)
/// for change in try diff.diff(old: a, new: b) { print(change.kind, change.path) }
/// print(diff.blocksRead)
/// ```
public final class TreeDiff {
    private var reader: TreeReader
    /// List every file under an added or removed directory (true), or report the directory alone.
    public var expandDirectories: Bool

    public init(source: any BlockSource, expandDirectories: Bool = true) {
        self.reader = TreeReader(source: source)
        self.expandDirectories = expandDirectories
    }

    /// Blocks read from the source so far (by every call on this instance).
    public var blocksRead: Int { reader.source.reads }

    /// The changes from tree `old` to tree `new`, sorted by path.
    public func diff(old: CID, new: CID) throws(TreeError) -> [TreeChange] {
        var out: [TreeChange] = []
        try diffEntry(path: "", old: TreeLink(cid: old, tsize: nil), new: TreeLink(cid: new, tsize: nil), into: &out)
        return out.sorted { Array($0.path.utf8).lexicographicallyPrecedes(Array($1.path.utf8)) }
    }

    /// The changes from tree `old` to the local folder `folder`, hashed (nothing stored) with
    /// `options` — use the options the tree was imported with. Hidden files are included.
    public func diff(old: CID, folder: String, options: ImportOptions) throws(TreeError) -> [TreeChange] {
        let sink = DirectoryKeepingSink()
        var hashing = options
        hashing.includeHidden = true
        hashing.wrapWithDirectory = false
        let root: CID
        do {
            let importer = try Importer(options: hashing, sink: sink, collectEntries: false)
            root = try importer.add(path: folder).root.cid
        } catch {
            throw .importFailed(error)
        }
        let saved = reader
        reader.overlay = sink.blocks
        reader.fileSizes = sink.fileSizes
        defer { reader = saved }
        return try diff(old: old, new: root)
    }

    private func diffEntry(path: String, old: TreeLink?, new: TreeLink?, into out: inout [TreeChange]) throws(TreeError) {
        switch (old, new) {
        case (nil, nil):
            return
        case let (old?, new?):
            if old.cid == new.cid { return }
            let a = try reader.node(old.cid, path: path, tsize: old.tsize)
            let b = try reader.node(new.cid, path: path, tsize: new.tsize)
            if a.kind == .directory && b.kind == .directory {
                let (left, right) = try reader.differingEntries(a, b, path: path)
                for name in Set(left.keys).union(right.keys) {
                    try diffEntry(path: treeJoin(path, name), old: left[name], new: right[name], into: &out)
                }
                return
            }
            out.append(TreeChange(
                path: path, kind: .modified, oldCID: old.cid, newCID: new.cid, oldSize: size(a, old), newSize: size(b, new),
                oldKind: a.kind, newKind: b.kind, newTsize: new.tsize ?? b.size))
        case let (old?, nil):
            let a = try reader.node(old.cid, path: path, tsize: old.tsize)
            if expandDirectories, a.kind == .directory {
                let children = try reader.entries(a, path: path)
                if !children.isEmpty {
                    for (name, link) in children { try diffEntry(path: treeJoin(path, name), old: link, new: nil, into: &out) }
                    return
                }
            }
            out.append(TreeChange(
                path: path, kind: .removed, oldCID: old.cid, newCID: nil, oldSize: size(a, old), newSize: nil,
                oldKind: a.kind, newKind: nil, newTsize: nil))
        case let (nil, new?):
            let b = try reader.node(new.cid, path: path, tsize: new.tsize)
            if expandDirectories, b.kind == .directory {
                let children = try reader.entries(b, path: path)
                if !children.isEmpty {
                    for (name, link) in children { try diffEntry(path: treeJoin(path, name), old: nil, new: link, into: &out) }
                    return
                }
            }
            out.append(TreeChange(
                path: path, kind: .added, oldCID: nil, newCID: new.cid, oldSize: nil, newSize: size(b, new),
                oldKind: nil, newKind: b.kind, newTsize: new.tsize ?? b.size))
        }
    }

    private func size(_ node: TreeNode, _ link: TreeLink) -> UInt64? {
        node.kind == .directory ? link.tsize : node.size
    }
}

/// Keeps the directory, symlink and file-interior blocks of a hashed local folder in memory and
/// drops file leaves (remembering the size of a file whose root is a leaf).
final class DirectoryKeepingSink: BlockSink {
    private(set) var blocks: [CID: Block] = [:]
    private(set) var fileSizes: [CID: UInt64] = [:]

    func put(_ block: Block) throws(ImportError) {
        if block.cid.codec == .raw {
            fileSizes[block.cid] = UInt64(block.data.count)
            return
        }
        guard let node = try? PBNode(decoding: block.data), let bytes = node.data,
            let data = try? UnixFSData(decoding: bytes)
        else { return }
        if node.links.isEmpty, data.type == .file || data.type == .raw {
            fileSizes[block.cid] = data.fileSize ?? UInt64(data.data?.count ?? 0)
            return
        }
        blocks[block.cid] = block
    }

    func flush() throws(ImportError) {}
}
