import IPLD
import Multiformats

/// What a UnixFS node is, as `ipfs files stat` / `ls -l` describe it.
public struct UnixFSNodeInfo: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case file, directory, symlink
    }

    public let cid: CID
    public let kind: Kind
    /// A HAMT-sharded directory.
    public let isSharded: Bool
    /// File content bytes; the target length for a symlink; 0 for a directory.
    public let size: UInt64
    /// POSIX mode bits when stored (UnixFS 1.5).
    public let mode: UInt32?
    /// Modification time when stored (UnixFS 1.5).
    public let mtime: UnixFSTime?
    /// The target of a symlink.
    public let symlinkTarget: String?
    /// Size of this node's own block.
    public let blockSize: Int
    /// Number of links in this block (for a directory: entries, or buckets for a HAMT shard).
    public let linkCount: Int
}

/// A block decoded as a UnixFS node; file bytes stay in the block (no copy).
struct DecodedNode {
    let cid: CID
    let blockSize: Int
    /// nil for a raw block (all of `bytes` is file content).
    let fields: UnixFSDataFields?
    let links: [PBLink]
    /// The buffer `fields` ranges refer to (the block itself for the leaf fast path and raw).
    let bytes: [UInt8]

    var type: UnixFSData.DataType { fields?.type ?? .raw }
    var isRawBlock: Bool { fields == nil }

    /// The node's own content bytes (raw block, or `Data.Data`).
    var content: ArraySlice<UInt8> {
        guard let fields else { return bytes[...] }
        guard let range = fields.dataRange else { return [] }
        return bytes[range]
    }

    static func decode(_ block: Block) throws(ExportError) -> DecodedNode {
        let cid = block.cid
        switch cid.codec {
        case .raw:
            return DecodedNode(cid: cid, blockSize: block.data.count, fields: nil, links: [], bytes: block.data)
        case .dagPB:
            if let range = leafDataRange(block.data) {
                let fields = try parseFields(block.data, range: range, cid: cid)
                return DecodedNode(cid: cid, blockSize: block.data.count, fields: fields, links: [], bytes: block.data)
            }
            let node: PBNode
            do {
                node = try PBNode(decoding: block.data)
            } catch {
                throw .invalidDagPB(cid, error)
            }
            guard let data = node.data else { throw .malformed(cid, reason: "dag-pb node has no UnixFS Data") }
            let fields = try parseFields(data, range: 0..<data.count, cid: cid)
            return DecodedNode(cid: cid, blockSize: block.data.count, fields: fields, links: node.links, bytes: data)
        default:
            throw .unsupportedCodec(cid)
        }
    }

    /// A dag-pb block that is exactly one `Data` field (no links): the range of that field.
    private static func leafDataRange(_ bytes: [UInt8]) -> Range<Int>? {
        bytes.withUnsafeBytes { raw -> Range<Int>? in
            guard raw.count >= 2, raw[0] == 0x0a else { return nil }
            var reader = Protowire.Reader(raw, range: 1..<raw.count)
            guard let range = reader.lengthDelimited(), range.upperBound == raw.count else { return nil }
            return range
        }
    }

    private static func parseFields(_ bytes: [UInt8], range: Range<Int>, cid: CID) throws(ExportError) -> UnixFSDataFields {
        do {
            return try UnixFSDataFields.parse(bytes, range: range)
        } catch {
            throw .invalidUnixFS(cid, error)
        }
    }

    /// Content bytes of a file node: own data plus the children's (`blocksizes`).
    func fileSize() throws(ExportError) -> UInt64 {
        guard let fields else { return UInt64(bytes.count) }
        let own = UInt64(fields.dataRange?.count ?? 0)
        var total = own
        for size in fields.blockSizes {
            let (sum, overflow) = total.addingReportingOverflow(size)
            guard !overflow else { throw .malformed(cid, reason: "blocksizes overflow 64 bits") }
            total = sum
        }
        return total
    }

    /// Checks the file invariants: one blocksize per link, no named links, filesize consistent.
    func checkFile() throws(ExportError) {
        guard let fields else { return }
        guard fields.blockSizes.count == links.count else {
            throw .malformed(cid, reason: "file has \(links.count) links but \(fields.blockSizes.count) blocksizes")
        }
        for (index, link) in links.enumerated() where !(link.name ?? "").isEmpty {
            throw .malformed(cid, reason: "file chunk link #\(index) has a name (\(link.name ?? ""))")
        }
        let computed = try fileSize()
        if let declared = fields.fileSize, declared != computed, !(links.isEmpty && fields.dataRange == nil && declared == 0) {
            throw .malformed(cid, reason: "filesize \(declared) differs from its content size \(computed)")
        }
    }

    func info() throws(ExportError) -> UnixFSNodeInfo {
        switch type {
        case .raw, .file:
            return UnixFSNodeInfo(
                cid: cid, kind: .file, isSharded: false, size: try fileSize(), mode: fields?.mode,
                mtime: fields?.mtime, symlinkTarget: nil, blockSize: blockSize, linkCount: links.count)
        case .directory, .hamtShard:
            return UnixFSNodeInfo(
                cid: cid, kind: .directory, isSharded: type == .hamtShard, size: 0, mode: fields?.mode,
                mtime: fields?.mtime, symlinkTarget: nil, blockSize: blockSize, linkCount: links.count)
        case .symlink:
            let target = try symlinkTarget()
            return UnixFSNodeInfo(
                cid: cid, kind: .symlink, isSharded: false, size: UInt64(target.utf8.count), mode: fields?.mode,
                mtime: fields?.mtime, symlinkTarget: target, blockSize: blockSize, linkCount: links.count)
        case .metadata:
            throw .unsupportedType(cid, .metadata)
        }
    }

    func symlinkTarget() throws(ExportError) -> String {
        let data = content
        let target = String(decoding: data, as: UTF8.self)
        guard target.utf8.elementsEqual(data) else { throw .malformed(cid, reason: "symlink target is not UTF-8") }
        return target
    }

    /// HAMT parameters, validated.
    func hamtParameters() throws(ExportError) -> (fanout: Int, bitWidth: Int, padLength: Int) {
        guard let fields, fields.type == .hamtShard else { throw .malformed(cid, reason: "not a HAMT shard") }
        guard fields.hashType == HAMT.murmur3HashType else {
            throw .malformed(cid, reason: "HAMT hash type \(fields.hashType.map { String($0) } ?? "missing") is not murmur3-x64-64 (0x22)")
        }
        guard let fanout = fields.fanout, fanout >= 8, fanout <= HAMT.maxFanout, fanout & (fanout - 1) == 0 else {
            throw .malformed(cid, reason: "HAMT fanout \(fields.fanout.map { String($0) } ?? "missing") is not a power of two in 8…1024")
        }
        let f = Int(fanout)
        return (f, f.trailingZeroBitCount, String(f - 1, radix: 16).count)
    }
}
