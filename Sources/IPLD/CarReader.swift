import Dispatch
import Multiformats

/// One block section of a CAR's data payload, with where it was found.
public struct CarSection: Hashable, Sendable {
    /// The block (verified unless `CarReader.Options.verifyBlocks` is off).
    public let block: Block
    /// Absolute offset of the section's length varint in the file.
    public let offset: UInt64
    /// Offset of the section's length varint from the start of the CARv1 payload
    /// (equal to `offset` for a CARv1; what CARv2 indexes record).
    public let payloadOffset: UInt64
    /// The section length: CID plus block bytes, without the length varint.
    public let length: UInt64
}

/// A streaming CAR reader (CARv1, and CARv2 by its inner CARv1).
///
/// It reads the header when created, then one section per `next()` call, holding one read
/// buffer and the current block in memory: a file of any size reads in constant memory.
/// Every block is verified against its CID (identity multihashes included) unless
/// `Options.verifyBlocks` is off. Errors name the section number, its offset and the CID.
///
/// ```swift
/// var reader = try CarReader(path: "dump.car")
/// print(reader.header.roots)
/// while let block = try reader.next() { try store.put(block) }
/// ```
///
/// The reader is non-copyable: it owns its read position (and its file when opened by path).
/// After an error, every later call throws that same error.
public struct CarReader: ~Copyable, Sendable {
    /// Limits and policies, with go-car's defaults.
    public struct Options: Sendable, Hashable {
        /// Largest accepted header block (go-car: 32 MiB).
        public var maxHeaderSize: UInt64
        /// Largest accepted section, CID included (go-car: 8 MiB).
        public var maxSectionSize: UInt64
        /// Treat a zero-length section as the end of the data (go-car's `ZeroLengthSectionAsEOF`,
        /// for CARs padded with zeros). When false (the default) a zero-length section is an error.
        public var zeroLengthSectionAsEOF: Bool
        /// Hash every block and compare it with its CID (default true).
        public var verifyBlocks: Bool

        public init(
            maxHeaderSize: UInt64 = 32 << 20, maxSectionSize: UInt64 = 8 << 20,
            zeroLengthSectionAsEOF: Bool = false, verifyBlocks: Bool = true
        ) {
            self.maxHeaderSize = maxHeaderSize
            self.maxSectionSize = maxSectionSize
            self.zeroLengthSectionAsEOF = zeroLengthSectionAsEOF
            self.verifyBlocks = verifyBlocks
        }
    }

    /// The header (for a CARv2: its fixed header and the inner CARv1's roots).
    public let header: CarHeader
    /// The options in force.
    public let options: Options
    /// How many sections have been read.
    public private(set) var sectionCount = 0

    private var input: CarInput
    /// Absolute offset where the CARv1 payload starts (0 for a CARv1).
    private let payloadStart: UInt64
    /// Absolute offset where the CARv1 payload ends (CARv2 only).
    private let payloadEnd: UInt64?
    private var finished = false
    private var failure: CarError?

    /// Opens the CAR file at `path` and reads its header.
    public init(path: String, options: Options = Options()) throws(CarError) {
        try self.init(input: CarInput(path: path), options: options)
    }

    /// Reads a CAR from `fileDescriptor`, starting at its current position (a pipe or socket
    /// works too). The descriptor is closed when the reader goes away only if `closeWhenDone`.
    public init(fileDescriptor: Int32, closeWhenDone: Bool = false, options: Options = Options()) throws(CarError) {
        try self.init(input: CarInput(fd: fileDescriptor, owns: closeWhenDone), options: options)
    }

    /// Reads a CAR held in memory.
    public init(bytes: [UInt8], options: Options = Options()) throws(CarError) {
        try self.init(input: CarInput(bytes: bytes), options: options)
    }

    private init(input: consuming CarInput, options: Options) throws(CarError) {
        var input = input
        let first = try Self.readHeaderBlock(&input, options: options, limit: nil)
        switch first.version {
        case 1:
            guard let roots = first.roots else {
                throw .invalidHeader(reason: "missing \"roots\" (required in a CARv1 header)", offset: 0)
            }
            self.header = CarHeader(version: 1, roots: roots)
            self.payloadStart = 0
            self.payloadEnd = nil
        case 2:
            guard first.roots == nil else {
                throw .invalidHeader(reason: "a CARv2 pragma must not carry \"roots\"", offset: 0)
            }
            let fixedAt = input.position
            let fixed = CarV2Header(decoding: try input.readExactly(Int(CarV2Header.size), part: "CARv2 header"))
            let minimumOffset = fixedAt + CarV2Header.size
            guard fixed.dataOffset >= minimumOffset else {
                throw .invalidV2Header(reason: "data offset \(fixed.dataOffset) lies inside the pragma and header (minimum \(minimumOffset))")
            }
            guard fixed.dataSize > 0 else {
                throw .invalidV2Header(reason: "data size is 0")
            }
            let (end, overflow) = fixed.dataOffset.addingReportingOverflow(fixed.dataSize)
            guard !overflow else {
                throw .invalidV2Header(reason: "data offset \(fixed.dataOffset) + data size \(fixed.dataSize) overflows")
            }
            if let size = input.size, end > size {
                throw .truncated(
                    part: "CARv2 data payload [\(fixed.dataOffset), \(end))", offset: fixed.dataOffset,
                    needed: fixed.dataSize, available: fixed.dataOffset < size ? size - fixed.dataOffset : 0)
            }
            try input.skip(fixed.dataOffset - input.position, part: "padding before the CARv2 data payload")
            let inner = try Self.readHeaderBlock(&input, options: options, limit: end)
            guard inner.version == 1 else {
                throw .invalidV2Header(reason: "the data payload header at offset \(fixed.dataOffset) has version \(inner.version), expected 1")
            }
            guard let roots = inner.roots else {
                throw .invalidHeader(reason: "missing \"roots\" (required in a CARv1 header)", offset: fixed.dataOffset)
            }
            self.header = CarHeader(version: 2, roots: roots, v2: fixed)
            self.payloadStart = fixed.dataOffset
            self.payloadEnd = end
        default:
            throw .unsupportedVersion(first.version, offset: 0)
        }
        self.input = input
        self.options = options
    }

    /// Reads one `varint | DAG-CBOR` header block at the input's position.
    private static func readHeaderBlock(
        _ input: inout CarInput, options: Options, limit: UInt64?
    ) throws(CarError) -> CarHeaderCodec.Decoded {
        let at = input.position
        guard let length = try input.readVarint(part: "header length") else {
            throw .truncated(part: "header length", offset: at, needed: 1, available: 0)
        }
        guard length > 0, length <= options.maxHeaderSize else {
            throw .invalidHeaderLength(length: length, maximum: options.maxHeaderSize, offset: at)
        }
        let bodyAt = input.position
        let bound = limit ?? input.size
        if let bound, length > (bound >= bodyAt ? bound - bodyAt : 0) {
            throw .truncated(part: "header", offset: bodyAt, needed: length, available: bound >= bodyAt ? bound - bodyAt : 0)
        }
        let body = try input.readExactly(Int(length), part: "header")
        return try CarHeaderCodec.decode(body, base: bodyAt)
    }

    /// The roots named in the header.
    public var roots: [CID] { header.roots }

    /// Absolute offset of the next unread byte.
    public var offset: UInt64 { input.position }

    /// The next block, or nil after the last section.
    public mutating func next() throws(CarError) -> Block? {
        try nextSection()?.block
    }

    /// The next section (block plus location), or nil after the last one.
    public mutating func nextSection() throws(CarError) -> CarSection? {
        if let failure { throw failure }
        if finished { return nil }
        do throws(CarError) {
            let section = try readSection(verify: options.verifyBlocks)
            if section == nil { finished = true }
            return section
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func readSection(verify: Bool) throws(CarError) -> CarSection? {
        let index = sectionCount
        let at = input.position
        if let payloadEnd, at >= payloadEnd { return nil }
        guard let length = try input.readVarint(part: "section \(index) length") else {
            if let payloadEnd {
                throw .truncated(part: "CARv2 data payload (section \(index))", offset: at, needed: payloadEnd - at, available: 0)
            }
            return nil
        }
        let bodyAt = input.position
        if let payloadEnd, bodyAt > payloadEnd {
            throw .invalidSectionLength(
                section: index, offset: at, length: length,
                reason: "the length varint runs past the end of the CARv2 data payload at \(payloadEnd)")
        }
        if length == 0 {
            if options.zeroLengthSectionAsEOF { return nil }
            throw .invalidSectionLength(section: index, offset: at, length: 0, reason: "zero-length section")
        }
        guard length <= options.maxSectionSize else {
            throw .invalidSectionLength(
                section: index, offset: at, length: length,
                reason: "exceeds the maximum section size of \(options.maxSectionSize) bytes")
        }
        if let payloadEnd {
            let left = payloadEnd >= bodyAt ? payloadEnd - bodyAt : 0
            guard length <= left else {
                throw .invalidSectionLength(
                    section: index, offset: at, length: length,
                    reason: "runs past the end of the CARv2 data payload (\(left) bytes left)")
            }
        }
        if let remaining = input.remaining, length > remaining {
            throw .truncated(part: "section \(index)", offset: bodyAt, needed: length, available: remaining)
        }
        let sectionLength = Int(length)

        // Decode the CID from the buffer when it fits there (the common case), else from the whole section.
        let window = min(sectionLength, 512)
        let available = try input.fill(window)
        var cid: CID?
        var cidLength = 0
        if available >= 2 {
            var reader = ByteReader(input.bufferedPrefix(window))
            if let parsed = try? CID.read(from: &reader) {
                cid = parsed
                cidLength = reader.offset
            }
        }
        let data: [UInt8]
        if let cid {
            input.consume(cidLength)
            data = try input.readExactly(sectionLength - cidLength, part: "section \(index) block \(cid)")
            return try finish(cid: cid, data: data, index: index, at: at, length: length, verify: verify)
        }
        let whole = try input.readExactly(sectionLength, part: "section \(index)")
        var reader = ByteReader(whole)
        let parsed: CID
        do throws(CIDError) {
            parsed = try CID.read(from: &reader)
        } catch {
            throw .invalidSectionCID(section: index, offset: bodyAt, error: error)
        }
        data = Array(whole[reader.offset...])
        return try finish(cid: parsed, data: data, index: index, at: at, length: length, verify: verify)
    }

    private mutating func finish(
        cid: CID, data: [UInt8], index: Int, at: UInt64, length: UInt64, verify: Bool
    ) throws(CarError) -> CarSection {
        let block = Block(cid: cid, data: data)
        if verify, let error = Self.verificationError(block, section: index, offset: at) {
            throw error
        }
        sectionCount += 1
        return CarSection(block: block, offset: at, payloadOffset: at - payloadStart, length: length)
    }

    /// Why `block` does not verify, or nil when it does.
    private static func verificationError(_ block: Block, section: Int, offset: UInt64) -> CarError? {
        guard block.cid.multihash.function.isSupported else {
            return .unsupportedHash(cid: block.cid, section: section, offset: offset)
        }
        guard block.cid.multihash.verifies(block.data) else {
            return .hashMismatch(cid: block.cid, section: section, offset: offset)
        }
        return nil
    }

    /// The next sections' blocks, up to `maxBlocks` blocks or until `maxBytes` of block data have
    /// been read, verified in parallel on all cores; empty after the last section.
    ///
    /// The fast path for imports (read a batch, `putMany` it). When a section fails, the valid
    /// blocks before it are returned first and the next call throws the error.
    public mutating func nextBatch(maxBlocks: Int = 1024, maxBytes: Int = 16 << 20) throws(CarError) -> [Block] {
        if let failure { throw failure }
        if finished { return [] }
        let firstIndex = sectionCount
        var sections: [CarSection] = []
        var bytes = 0
        var readError: CarError?
        do throws(CarError) {
            while sections.count < max(maxBlocks, 1), bytes < maxBytes {
                guard let section = try readSection(verify: false) else {
                    finished = true
                    break
                }
                bytes += section.block.data.count
                sections.append(section)
            }
        } catch {
            readError = error
        }
        var valid = sections.count
        if options.verifyBlocks, let (index, error) = Self.firstVerificationError(sections, firstIndex: firstIndex) {
            valid = index
            readError = error
            sectionCount = firstIndex + index
        }
        if let readError {
            failure = readError
            if valid == 0 { throw readError }
        }
        return sections.prefix(valid).map(\.block)
    }

    /// Verifies `sections` (concurrently when there is enough data) and returns the position and
    /// error of the first one that fails.
    private static func firstVerificationError(_ sections: [CarSection], firstIndex: Int) -> (Int, CarError)? {
        let count = sections.count
        guard count > 0 else { return nil }
        let total = sections.reduce(0) { $0 + $1.block.data.count }
        if count == 1 || total < 1 << 16 {
            for (i, section) in sections.enumerated() {
                if let error = verificationError(section.block, section: firstIndex + i, offset: section.offset) {
                    return (i, error)
                }
            }
            return nil
        }
        let verified = Multihash.verifyAll(sections.map { ($0.block.cid.multihash, $0.block.data) })
        guard let i = verified.firstIndex(of: false) else { return nil }
        let section = sections[i]
        return (i, verificationError(section.block, section: firstIndex + i, offset: section.offset)
            ?? .hashMismatch(cid: section.block.cid, section: firstIndex + i, offset: section.offset))
    }

    /// Reads the CARv2 index: nil for a CARv1 or a CARv2 without one.
    ///
    /// Any sections not read yet are skipped unverified, so call this after the blocks if they
    /// matter. The whole index is loaded into memory (about 40 bytes per block).
    /// - Throws: `.invalidIndex` for a malformed index or an unsupported index format.
    public mutating func readIndex() throws(CarError) -> CarIndex? {
        if let failure { throw failure }
        guard let v2 = header.v2, v2.hasIndex, let payloadEnd else { return nil }
        guard v2.indexOffset >= payloadEnd else {
            throw .invalidIndex(reason: "index offset lies inside the data payload (which ends at \(payloadEnd))", offset: v2.indexOffset)
        }
        do throws(CarError) {
            let position = input.position
            if position < v2.indexOffset {
                try input.skip(v2.indexOffset - position, part: "CARv2 data payload before the index")
            } else if position > v2.indexOffset {
                throw CarError.invalidIndex(reason: "the index was already read", offset: v2.indexOffset)
            }
            finished = true
            return try CarIndex.read(from: &input)
        } catch {
            failure = error
            throw error
        }
    }

    /// Reads a whole CAR file into memory: header and every (verified) block in file order.
    /// For tests and small files; use `next()` to stream.
    public static func readAll(path: String, options: Options = Options()) throws(CarError) -> (header: CarHeader, blocks: [Block]) {
        var reader = try CarReader(path: path, options: options)
        var blocks: [Block] = []
        while let block = try reader.next() { blocks.append(block) }
        return (reader.header, blocks)
    }
}
