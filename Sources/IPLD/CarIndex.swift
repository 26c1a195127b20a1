import Multiformats

/// A CARv2 index: multihash digests mapped to section offsets within the CARv1 payload.
///
/// Both formats of the CARv2 specification are read as go-car writes them: the index codec
/// varint, then an int32 bucket count and, per bucket, a uint32 entry width (digest + 8) and a
/// uint64 byte length followed by `digest ‖ uint64 offset` entries sorted by digest.
/// `MultihashIndexSorted` groups such bucket lists under a uint64 multihash code. All integers
/// are little-endian.
public struct CarIndex: Hashable, Sendable {
    /// The index format (its multicodec).
    public enum Format: UInt64, Sendable {
        /// `car-index-sorted` (0x0400): digests only.
        case indexSorted = 0x0400
        /// `car-multihash-index-sorted` (0x0401): digests grouped by multihash code.
        case multihashIndexSorted = 0x0401
    }

    /// One index entry.
    public struct Entry: Hashable, Sendable {
        /// The multihash code; nil in an `indexSorted` index, which does not record it.
        public let hashCode: UInt64?
        /// The multihash digest.
        public let digest: [UInt8]
        /// Offset of the section's length varint from the start of the CARv1 payload.
        public let offset: UInt64
    }

    public let format: Format
    /// Entries in index order (by code, then digest length, then digest).
    public let entries: [Entry]

    /// Offsets (from the start of the CARv1 payload) of the sections whose CID has `multihash`.
    /// A linear scan.
    public func offsets(of multihash: Multihash) -> [UInt64] {
        entries.compactMap { entry in
            guard entry.digest == multihash.digest else { return nil }
            if let code = entry.hashCode, code != multihash.code { return nil }
            return entry.offset
        }
    }

    /// Decodes a standalone index (as `car index` writes it, or the bytes at a CARv2's index offset).
    public init(decoding bytes: [UInt8]) throws(CarError) {
        var input = CarInput(bytes: bytes)
        self = try Self.read(from: &input)
    }

    init(format: Format, entries: [Entry]) {
        self.format = format
        self.entries = entries
    }

    /// Reads an index from the input's position to its end.
    static func read(from input: inout CarInput) throws(CarError) -> CarIndex {
        let start = input.position
        guard let code = try input.readVarint(part: "index codec") else {
            throw .invalidIndex(reason: "empty index", offset: start)
        }
        guard let format = Format(rawValue: code) else {
            throw .invalidIndex(reason: "unsupported index format 0x\(String(code, radix: 16))", offset: start)
        }
        var entries: [Entry] = []
        switch format {
        case .indexSorted:
            try readWidthBuckets(&input, hashCode: nil, into: &entries)
        case .multihashIndexSorted:
            let countAt = input.position
            let count = try readLE(&input, 4, what: "multihash bucket count")
            guard count <= UInt64(Int32.max) else {
                throw .invalidIndex(reason: "multihash bucket count \(Int32(truncatingIfNeeded: count)) is negative", offset: countAt)
            }
            var previous: UInt64?
            for _ in 0..<count {
                let codeAt = input.position
                let hashCode = try readLE(&input, 8, what: "multihash code")
                if let previous, hashCode <= previous {
                    throw .invalidIndex(reason: "multihash code buckets are not in increasing order", offset: codeAt)
                }
                previous = hashCode
                try readWidthBuckets(&input, hashCode: hashCode, into: &entries)
            }
        }
        guard try input.isAtEnd() else {
            throw .invalidIndex(reason: "trailing bytes after the index", offset: input.position)
        }
        return CarIndex(format: format, entries: entries)
    }

    /// Reads `int32 count` then that many `width | length | entries` buckets.
    private static func readWidthBuckets(_ input: inout CarInput, hashCode: UInt64?, into entries: inout [Entry]) throws(CarError) {
        let countAt = input.position
        let count = try readLE(&input, 4, what: "width bucket count")
        guard count <= UInt64(Int32.max) else {
            throw .invalidIndex(reason: "width bucket count \(Int32(truncatingIfNeeded: count)) is negative", offset: countAt)
        }
        var previousWidth: UInt64?
        for _ in 0..<count {
            let bucketAt = input.position
            let width = try readLE(&input, 4, what: "bucket width")
            guard width >= 8, width <= 8 + 1 << 16 else {
                throw .invalidIndex(reason: "bucket width \(width) is outside 8…\(8 + 1 << 16)", offset: bucketAt)
            }
            if let previousWidth, width <= previousWidth {
                throw .invalidIndex(reason: "width buckets are not in increasing order", offset: bucketAt)
            }
            previousWidth = width
            let length = try readLE(&input, 8, what: "bucket length")
            guard length % width == 0 else {
                throw .invalidIndex(reason: "bucket length \(length) is not a multiple of its width \(width)", offset: bucketAt)
            }
            if let remaining = input.remaining, length > remaining {
                throw .truncated(part: "CARv2 index bucket", offset: input.position, needed: length, available: remaining)
            }
            let digestLength = Int(width) - 8
            var previous: [UInt8]?
            for _ in 0..<(length / width) {
                let entryAt = input.position
                let raw = try input.readExactly(Int(width), part: "CARv2 index entry")
                let digest = Array(raw[0..<digestLength])
                if let previous, previous.lexicographicallyPrecedes(digest) == false, previous != digest {
                    throw .invalidIndex(reason: "digests are not sorted", offset: entryAt)
                }
                previous = digest
                var offset: UInt64 = 0
                for i in (digestLength..<Int(width)).reversed() { offset = offset << 8 | UInt64(raw[i]) }
                entries.append(Entry(hashCode: hashCode, digest: digest, offset: offset))
            }
        }
    }

    private static func readLE(_ input: inout CarInput, _ count: Int, what: String) throws(CarError) -> UInt64 {
        let raw = try input.readExactly(count, part: "CARv2 index \(what)")
        var value: UInt64 = 0
        for byte in raw.reversed() { value = value << 8 | UInt64(byte) }
        return value
    }
}
