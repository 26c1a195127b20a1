import IPLD
import Multiformats

/// Reads a UnixFS directory's entries in listing order, from the start or resuming after a
/// named entry, loading only the blocks it needs: O(depth + entries read) blocks, never
/// O(position). This is what a paged listing of a 100,000-entry HAMT directory uses.
///
/// Listing order is the order `Exporter.list` yields: link order for a basic directory (sorted
/// by name bytes, as every importer writes it), and shard order for a HAMT, which is ascending
/// murmur3-x64-64 hash of the name (each level consumes the hash's next bits, buckets in order).
///
/// Resuming after `name`:
/// - **HAMT**: the name is hashed and the shards on its hash path are loaded, one per level;
///   listing continues right after the place the name has (or would have) in shard order.
/// - **Basic directory** with sorted links: binary search for the first link whose name sorts
///   after `name` (byte order). Its one block is decoded whole anyway, so checking that the
///   links are sorted (one pass) costs nothing more.
/// - A name that is **not in the directory** is not an error: listing resumes at the first entry
///   that follows it in listing order, so a page link stays valid when the entry it names has
///   gone (a branch moved on between two pages). The exception is a basic directory whose links
///   are not sorted (no importer writes one): there only an existing name can be resumed after,
///   and another throws `ExportError.notFound`.
/// - The empty name names no entry: `ExportError.invalidPath` (pass nil to start at the top).
///
/// ```swift
/// var cursor = try exporter.cursor(dir, after: "photo-0999.jpg")
/// while let entry = try cursor.next() { print(entry.name) }
/// ```
public struct DirectoryCursor {
    private struct Frame {
        let cid: CID
        let links: [PBLink]
        var index: Int
    }

    private let exporter: Exporter
    private let onMissing: ((MissingBlock) -> Void)?
    /// The directory listed.
    public let directory: CID
    /// Whether the directory is a HAMT.
    public let isSharded: Bool
    /// The number of entries when known without reading the whole directory: a basic
    /// directory's link count; nil for a HAMT (its root holds buckets, not entries).
    public let count: Int?
    /// The directory's cumulative DAG size: its root block plus the `Tsize` of each root link
    /// (what a gateway listing shows as the directory's size).
    public let dagSize: UInt64
    private let fanout: Int
    private let padLength: Int
    /// Shard levels a HAMT may have before its hash bits run out.
    private let maxDepth: Int
    /// From the root (first) to the shard being read (last).
    private var stack: [Frame] = []

    /// - Parameters:
    ///   - after: resume after this entry name (see the type's documentation); nil starts at the top.
    ///   - onMissing: when given, missing HAMT shards are reported here and skipped instead of
    ///     throwing `ExportError.missingBlock`.
    /// - Throws: `ExportError.notADirectory`, `.missingBlock`, `.malformed` (a HAMT that breaks
    ///   the spec's rules), `.invalidPath` (empty `after`), `.notFound` (see above).
    init(exporter: Exporter, directory root: DecodedNode, after: String?, onMissing: ((MissingBlock) -> Void)?) throws(ExportError) {
        self.exporter = exporter
        self.onMissing = onMissing
        self.directory = root.cid
        self.dagSize = root.links.reduce(UInt64(root.blockSize)) { $0 &+ ($1.tsize ?? 0) }
        if let after, after.isEmpty {
            throw .invalidPath(after, reason: "a listing resumes after an entry name; the empty name names none")
        }
        switch root.type {
        case .directory:
            isSharded = false
            count = root.links.count
            (fanout, padLength, maxDepth) = (0, 0, 1)
            let start = try after.map { name throws(ExportError) in try Self.basicStart(root, after: name) } ?? 0
            stack = [Frame(cid: root.cid, links: root.links, index: start)]
        case .hamtShard:
            isSharded = true
            count = nil
            let (fanout, bitWidth, padLength) = try root.hamtParameters()
            (self.fanout, self.padLength, self.maxDepth) = (fanout, padLength, 64 / bitWidth)
            if let after {
                try seek(root, after: after, bitWidth: bitWidth)
            } else {
                stack = [Frame(cid: root.cid, links: root.links, index: 0)]
            }
        default:
            throw .notADirectory(root.cid, path: "/ipfs/\(root.cid)")
        }
    }

    /// The next entry in listing order, or nil at the end.
    public mutating func next() throws(ExportError) -> DirectoryEntry? {
        while let top = stack.last {
            let last = stack.count - 1
            guard top.index < top.links.count else {
                stack.removeLast()
                continue
            }
            let link = top.links[top.index]
            stack[last].index += 1
            let name = link.name ?? ""
            guard isSharded else {
                return DirectoryEntry(name: name, cid: link.hash, tsize: link.tsize, info: nil)
            }
            let length = name.utf8.count
            guard length >= padLength else {
                throw .malformed(top.cid, reason: "HAMT link name \"\(name)\" is shorter than its \(padLength)-digit bucket")
            }
            if length == padLength {
                if let child = try shard(link, name: name, parent: top.cid) {
                    stack.append(Frame(cid: child.cid, links: child.links, index: 0))
                }
                continue
            }
            return DirectoryEntry(
                name: String(decoding: name.utf8.dropFirst(padLength), as: UTF8.self), cid: link.hash, tsize: link.tsize, info: nil)
        }
        return nil
    }

    // MARK: - Resuming

    /// Index of the first link of a basic directory that follows `name`.
    private static func basicStart(_ root: DecodedNode, after name: String) throws(ExportError) -> Int {
        let links = root.links
        let target = Array(name.utf8)
        let sorted = zip(links, links.dropFirst()).allSatisfy { pair in
            !(pair.1.name ?? "").utf8.lexicographicallyPrecedes((pair.0.name ?? "").utf8)
        }
        if sorted {
            // Partition point: the first link whose name sorts after `name`.
            var low = 0
            var high = links.count
            while low < high {
                let mid = (low + high) / 2
                if !target.lexicographicallyPrecedes((links[mid].name ?? "").utf8) { low = mid + 1 } else { high = mid }
            }
            return low
        }
        guard let index = links.firstIndex(where: { ($0.name ?? "") == name }) else {
            throw .notFound(name: name, directory: root.cid, path: "/ipfs/\(root.cid)")
        }
        return index + 1
    }

    /// Loads the shards on `name`'s hash path and leaves the stack just after the place `name`
    /// has (or would have) in shard order.
    private mutating func seek(_ root: DecodedNode, after name: String, bitWidth: Int) throws(ExportError) {
        let bytes = Array(name.utf8)
        let hash = Murmur3.hash64(bytes)
        var node = root
        var level = 0
        while true {
            let wanted = HAMTBuilder.bucket(of: hash, consumed: level * bitWidth, bitWidth: bitWidth)
            let links = node.links
            var index = 0
            var bucket = -1
            while index < links.count {
                bucket = try self.bucket(of: links[index], in: node.cid)
                if bucket >= wanted { break }
                index += 1
            }
            guard index < links.count, bucket == wanted else {
                // No link in the name's bucket: resume at the next bucket.
                stack.append(Frame(cid: node.cid, links: links, index: index))
                return
            }
            let link = links[index]
            let linkName = link.name ?? ""
            if linkName.utf8.count > padLength {
                // One entry in the bucket: resume after it if it is the name or sorts before it.
                let entry = linkName.utf8.dropFirst(padLength)
                let entryHash = Murmur3.hash64(entry)
                let before = entryHash < hash || (entryHash == hash && !bytes.lexicographicallyPrecedes(entry))
                stack.append(Frame(cid: node.cid, links: links, index: before ? index + 1 : index))
                return
            }
            stack.append(Frame(cid: node.cid, links: links, index: index + 1))
            guard let child = try shard(link, name: linkName, parent: node.cid) else { return }
            node = child
            level += 1
        }
    }

    /// The bucket a HAMT link names (its hex prefix).
    private func bucket(of link: PBLink, in shard: CID) throws(ExportError) -> Int {
        let name = link.name ?? ""
        var value = 0
        var digits = 0
        for byte in name.utf8.prefix(padLength) {
            let digit: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = Int(byte - UInt8(ascii: "A")) + 10
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = Int(byte - UInt8(ascii: "a")) + 10
            default: throw .malformed(shard, reason: "HAMT link name \"\(name)\" does not start with a hex bucket")
            }
            value = value * 16 + digit
            digits += 1
        }
        guard digits == padLength, value < fanout else {
            throw .malformed(shard, reason: "HAMT link name \"\(name)\" does not start with a bucket below \(fanout)")
        }
        return value
    }

    /// Loads the sub-shard `link` points to and checks it; nil when it is missing and missing
    /// blocks are reported.
    private func shard(_ link: PBLink, name: String, parent: CID) throws(ExportError) -> DecodedNode? {
        guard stack.count < maxDepth else {
            throw .malformed(parent, reason: "HAMT deeper than \(maxDepth) levels (hash bits exhausted)")
        }
        let child: DecodedNode
        do {
            child = try exporter.node(link.hash)
        } catch {
            if let onMissing, case let .missingBlock(missing, _) = error, missing == link.hash {
                onMissing(.shard(link.hash))
                return nil
            }
            throw error
        }
        guard child.type == .hamtShard, try child.hamtParameters().fanout == fanout else {
            throw .malformed(parent, reason: "HAMT link \(name) does not point to a shard of fanout \(fanout)")
        }
        return child
    }
}

/// One page of a directory listing (see `Exporter.page`).
public struct DirectoryPage: Hashable, Sendable {
    /// Up to `limit` entries, in listing order.
    public let entries: [DirectoryEntry]
    /// Whether more entries follow the last one.
    public let hasMore: Bool
    /// The cursor of the next page (the last entry's name), nil on the last page.
    public var next: String? { hasMore ? entries.last?.name : nil }
    /// The directory's entry count when known without reading it all (basic directory), nil for a HAMT.
    public let count: Int?
    /// The directory's cumulative DAG size (root block plus its links' `Tsize`).
    public let dagSize: UInt64
    public let isSharded: Bool
}

extension Exporter {
    /// A cursor over the directory `cid`, resuming after the entry `after` (nil: from the top).
    /// See `DirectoryCursor` for the order and for names that are not in the directory.
    public func cursor(
        _ cid: CID, after: String? = nil, onMissing: ((MissingBlock) -> Void)? = nil
    ) throws(ExportError) -> DirectoryCursor {
        try DirectoryCursor(exporter: self, directory: node(cid), after: after, onMissing: onMissing)
    }

    /// Up to `limit` entries of the directory `cid` after the entry `after` (nil: the first
    /// page), reading O(depth + limit) blocks; `DirectoryPage.next` is the next page's `after`.
    public func page(_ cid: CID, after: String? = nil, limit: Int) throws(ExportError) -> DirectoryPage {
        precondition(limit > 0, "a page holds at least one entry")
        var cursor = try self.cursor(cid, after: after)
        var entries: [DirectoryEntry] = []
        entries.reserveCapacity(min(limit, 4096))
        while entries.count < limit, let entry = try cursor.next() { entries.append(entry) }
        let hasMore = entries.count == limit ? try cursor.next() != nil : false
        return DirectoryPage(
            entries: entries, hasMore: hasMore, count: cursor.count, dagSize: cursor.dagSize, isSharded: cursor.isSharded)
    }
}
