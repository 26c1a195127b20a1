import IPLD
import Multiformats

/// Reads the links of a stored DAG-PB block without reading its `Data` field.
///
/// DAG-PB puts every link (field 2) before `Data` (field 1) (old encoders: `Data` first, then the
/// links). A UnixFS leaf is one `Data` field, so walking a DAG of 256 KiB leaves reads a few bytes
/// per leaf instead of the whole block. The link fields found are handed to
/// `PBNode.linkCIDs(in:)`; anything unusual (other fields, a second `Data`, links on both sides
/// of `Data`, a length past the end) falls back to decoding the whole block strictly.
struct DagPBLinkScan {
    /// Stored size of the block.
    let size: Int
    /// Reads `count` bytes at `offset` (fewer at the end of the block).
    let read: (_ offset: Int, _ count: Int) throws(BlockStoreError) -> [UInt8]

    private var window: [UInt8] = []
    private var windowStart = 0

    /// How many bytes a read fetches at least.
    private static let readAhead = 4096

    init(size: Int, read: @escaping (_ offset: Int, _ count: Int) throws(BlockStoreError) -> [UInt8]) {
        self.size = size
        self.read = read
    }

    /// The CIDs `cid`'s block links to, in block order.
    mutating func links(of cid: CID) throws(BlockStoreError) -> [CID] {
        guard let linkFields = try scan() else {
            return try LinkExtraction.links(of: cid, data: read(0, size))
        }
        if linkFields.isEmpty { return [] }
        do {
            return try PBNode.linkCIDs(in: linkFields)
        } catch {
            throw .unreadableLinks(cid: cid, reason: "\(error)")
        }
    }

    /// The concatenated link fields (keys included), or nil when the block needs a full decode.
    private mutating func scan() throws(BlockStoreError) -> [UInt8]? {
        var linkFields: [UInt8] = []
        var offset = 0
        var sawData = false
        var linksBeforeData = false
        while offset < size {
            guard let tag = try byte(at: offset), tag == 0x12 || tag == 0x0a else { return nil }
            var cursor = offset + 1
            var length: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard shift < 64, let b = try byte(at: cursor) else { return nil }
                length |= UInt64(b & 0x7f) << shift
                cursor += 1
                if b < 0x80 { break }
                shift += 7
            }
            guard length <= UInt64(size - cursor) else { return nil }
            let end = cursor + Int(length)
            if tag == 0x12 {
                if sawData && linksBeforeData { return nil }
                if !sawData { linksBeforeData = true }
                guard let field = try bytes(at: offset, count: end - offset) else { return nil }
                linkFields += field
            } else {
                if sawData { return nil }
                sawData = true
            }
            offset = end
        }
        return linkFields
    }

    private mutating func byte(at offset: Int) throws(BlockStoreError) -> UInt8? {
        try bytes(at: offset, count: 1)?.first
    }

    private mutating func bytes(at offset: Int, count: Int) throws(BlockStoreError) -> ArraySlice<UInt8>? {
        guard offset >= 0, count >= 0, offset + count <= size else { return nil }
        if offset < windowStart || offset + count > windowStart + window.count {
            window = try read(offset, min(size - offset, max(count, Self.readAhead)))
            windowStart = offset
            guard window.count >= count else { return nil }
        }
        let start = offset - windowStart
        return window[start..<(start + count)]
    }
}
