import IPLD
import Multiformats

/// One entry of a directory being built.
struct DirectoryLink: Sendable {
    let name: String
    let nameBytes: [UInt8]
    let cid: CID
    let tsize: UInt64
}

/// Builds a UnixFS directory (basic, or a HAMT when it is too big) the way boxo's
/// `io.Directory` ends up after adding every entry.
struct DirectoryBuilder {
    /// Path for errors and results.
    let path: String
    let mode: UInt32?
    let mtime: UnixFSTime?
    private(set) var links: [DirectoryLink] = []
    private var names: Set<String> = []
    /// Σ len(name) + len(CID bytes) (the `links` estimate).
    private var linksEstimate = 0
    /// Σ serialized size of each link (the `block` estimate, without the Data field).
    private var linkBytes = 0

    init(path: String, mode: UInt32?, mtime: UnixFSTime?) {
        self.path = path
        self.mode = mode
        self.mtime = mtime
    }

    var isEmpty: Bool { links.isEmpty }

    mutating func add(name: String, cid: CID, tsize: UInt64) throws(ImportError) {
        guard names.insert(name).inserted else { throw .duplicateName(path: join(path, name)) }
        let nameBytes = Array(name.utf8)
        links.append(DirectoryLink(name: name, nameBytes: nameBytes, cid: cid, tsize: tsize))
        let cidLength = cid.bytes.count
        linksEstimate += nameBytes.count + cidLength
        let linkLength = Protowire.lengthDelimitedSize(cidLength) + Protowire.lengthDelimitedSize(nameBytes.count)
            + 1 + Protowire.varintSize(tsize)
        linkBytes += Protowire.lengthDelimitedSize(linkLength)
    }

    private var directoryData: UnixFSData {
        UnixFSData(type: .directory, mode: mode, mtime: mtime)
    }

    /// Whether boxo would have switched this directory to a HAMT.
    func shouldShard(_ options: ImportOptions) -> Bool {
        guard options.hamtShardingThreshold > 0 else { return false }
        if options.maxDirectoryLinks > 0 && links.count > options.maxDirectoryLinks { return true }
        switch options.hamtSizeEstimation {
        case .links:
            return linksEstimate > options.hamtShardingThreshold
        case .block:
            let size = linkBytes + Protowire.lengthDelimitedSize(directoryData.encodedSize)
            return size > options.hamtShardingThreshold
        case .disabled:
            return false
        }
    }

    /// Encodes the directory (emitting every block) and returns its root link.
    func finish(_ options: ImportOptions, factory: BlockFactory, emit: BlockEmitter) throws(ImportError) -> ChildLink {
        if shouldShard(options) {
            return try HAMTBuilder(fanout: options.hamtFanout, path: path)
                .build(links, mode: mode, mtime: mtime, factory: factory, emit: emit)
        }
        if options.hamtShardingThreshold == 0, options.maxDirectoryLinks > 0, links.count > options.maxDirectoryLinks {
            throw .tooManyLinks(path: path, count: links.count, max: options.maxDirectoryLinks)
        }
        let sorted = links.sorted { $0.nameBytes.lexicographicallyPrecedes($1.nameBytes) }
        var total: UInt64 = 0
        let pbLinks = sorted.map { link -> PBLink in
            total += link.tsize
            return PBLink(hash: link.cid, name: link.name, tsize: link.tsize)
        }
        let bytes = PBNode(links: pbLinks, data: directoryData.encoded()).encoded()
        let block = try factory.block(bytes, codec: .dagPB)
        try emit(block)
        return ChildLink(cid: block.cid, tsize: UInt64(bytes.count) + total, fileSize: 0)
    }
}

/// Joins a parent path and a name ("" parent → name).
func join(_ parent: String, _ name: String) -> String {
    parent.isEmpty ? name : parent + "/" + name
}

/// Builds the HAMT boxo's `hamt.Shard` produces for a set of names: names are hashed with
/// murmur3-x64-64 (h1, big-endian); each level consumes log2(fanout) bits, most significant
/// first; a bucket with one entry links the entry under "<HEX bucket><name>", a bucket with more
/// links a child shard under "<HEX bucket>"; links are in bucket order; the shard's Data is the
/// bucket bitfield as a big-endian integer without leading zero bytes.
struct HAMTBuilder {
    let fanout: Int
    let bitWidth: Int
    let padLength: Int
    let path: String

    init(fanout: Int, path: String) {
        self.fanout = fanout
        self.bitWidth = fanout.trailingZeroBitCount
        self.padLength = String(fanout - 1, radix: 16).count
        self.path = path
    }

    private struct Entry {
        let link: DirectoryLink
        let hash: UInt64
    }

    func build(
        _ links: [DirectoryLink], mode: UInt32?, mtime: UnixFSTime?, factory: BlockFactory, emit: BlockEmitter
    ) throws(ImportError) -> ChildLink {
        let entries = links.map { Entry(link: $0, hash: Murmur3.hash64($0.nameBytes)) }
        return try shard(entries, consumed: 0, mode: mode, mtime: mtime, factory: factory, emit: emit)
    }

    /// Bucket of `hash` at the level that starts after `consumed` bits.
    static func bucket(of hash: UInt64, consumed: Int, bitWidth: Int) -> Int {
        Int(truncatingIfNeeded: (hash << UInt64(consumed)) >> UInt64(64 - bitWidth))
    }

    /// The link-name prefix of `bucket` (uppercase hex, zero-padded).
    static func prefix(_ bucket: Int, padLength: Int) -> String {
        let hex = String(bucket, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, padLength - hex.count)) + hex
    }

    /// The bitfield bytes: big-endian, leading zero bytes dropped.
    static func bitfield(_ buckets: [Int], fanout: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: fanout / 8)
        for bucket in buckets {
            bytes[bytes.count - 1 - bucket / 8] |= 1 << UInt8(bucket % 8)
        }
        guard let first = bytes.firstIndex(where: { $0 != 0 }) else { return [] }
        return Array(bytes[first...])
    }

    private func shard(
        _ entries: [Entry], consumed: Int, mode: UInt32?, mtime: UnixFSTime?, factory: BlockFactory, emit: BlockEmitter
    ) throws(ImportError) -> ChildLink {
        guard consumed + bitWidth <= 64 else { throw .hamtTooDeep(path: path) }
        var buckets: [Int: [Entry]] = [:]
        for entry in entries {
            buckets[Self.bucket(of: entry.hash, consumed: consumed, bitWidth: bitWidth), default: []].append(entry)
        }
        let order = buckets.keys.sorted()
        var links: [PBLink] = []
        links.reserveCapacity(order.count)
        var total: UInt64 = 0
        for index in order {
            guard let members = buckets[index] else { continue }
            let prefix = Self.prefix(index, padLength: padLength)
            if members.count == 1 {
                let link = members[0].link
                links.append(PBLink(hash: link.cid, name: prefix + link.name, tsize: link.tsize))
                total += link.tsize
            } else {
                let child = try shard(
                    members, consumed: consumed + bitWidth, mode: nil, mtime: nil, factory: factory, emit: emit)
                links.append(PBLink(hash: child.cid, name: prefix, tsize: child.tsize))
                total += child.tsize
            }
        }
        let data = UnixFSData(
            type: .hamtShard, data: Self.bitfield(order, fanout: fanout), hashType: HAMT.murmur3HashType,
            fanout: UInt64(fanout), mode: mode, mtime: mtime)
        let bytes = PBNode(links: links, data: data.encoded()).encoded()
        let block = try factory.block(bytes, codec: .dagPB)
        try emit(block)
        return ChildLink(cid: block.cid, tsize: UInt64(bytes.count) + total, fileSize: 0)
    }
}

/// HAMT constants shared by importer and exporter.
enum HAMT {
    /// Multicodec murmur3-x64-64, the only hash UnixFS HAMTs use.
    static let murmur3HashType: UInt64 = 0x22
    /// The largest fanout accepted (ipfs/specs; CVE-2023-23625).
    static let maxFanout: UInt64 = 1024
}
