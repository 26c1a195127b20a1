import IPLD
import Multiformats

/// What a parent needs to know about a finished child DAG.
struct ChildLink: Sendable {
    let cid: CID
    /// Cumulative size: the child's block plus everything under it (dag-pb `Tsize`).
    let tsize: UInt64
    /// File content bytes under the child (UnixFS `blocksizes` entry).
    let fileSize: UInt64
}

/// Makes CIDs and blocks with the import's CID version and hash function.
struct BlockFactory: Sendable {
    let cidVersion: CID.Version
    let hashFunction: HashFunction
    let rawLeaves: Bool
    /// UnixFS type of dag-pb leaves: File for balanced, Raw for trickle (as boxo).
    let leafType: UnixFSData.DataType

    /// Hashes `bytes` into a block; raw blocks are always CIDv1.
    func block(_ bytes: [UInt8], codec: Multicodec) throws(ImportError) -> Block {
        try blocks([bytes], codec: codec)[0]
    }

    /// Hashes every payload into a block of `codec` (one multi-buffer SHA-256 call when the
    /// kernel applies); raw blocks are always CIDv1.
    func blocks(_ payloads: [[UInt8]], codec: Multicodec) throws(ImportError) -> [Block] {
        let multihashes: [Multihash]
        do {
            multihashes = try Multihash.hash(batch: payloads, with: hashFunction)
        } catch {
            throw .hashing(reason: "\(error)")
        }
        let version: CID.Version = codec == .dagPB ? cidVersion : .v1
        var result: [Block] = []
        result.reserveCapacity(payloads.count)
        for (multihash, bytes) in zip(multihashes, payloads) {
            do {
                result.append(Block(cid: try CID(version: version, codec: codec, multihash: multihash), data: bytes))
            } catch {
                throw .hashing(reason: "\(error)")
            }
        }
        return result
    }

    /// The leaf block's bytes and codec for one chunk: the chunk itself as raw, or a dag-pb
    /// UnixFS leaf around it (runs on the hashing workers).
    func leafBytes(_ chunk: [UInt8]) -> ([UInt8], Multicodec) {
        if rawLeaves { return (chunk, .raw) }
        return (Self.encodeLeaf(chunk, type: leafType), .dagPB)
    }


    /// Where the chunk sits in `encodeLeaf(chunk)` of a `count`-byte chunk (no mode/mtime):
    /// the bytes before it and after it.
    static func leafFraming(count: Int) -> (header: Int, trailer: Int) {
        let n = UInt64(count)
        var unixfsSize = 2 + 1 + Protowire.varintSize(n)
        if count > 0 { unixfsSize += Protowire.lengthDelimitedSize(count) }
        let header = 1 + Protowire.varintSize(UInt64(unixfsSize)) + 2 + (count > 0 ? 1 + Protowire.varintSize(n) : 0)
        return (header, 1 + Protowire.varintSize(n))
    }

    /// Writes the framing of `encodeLeaf` around a chunk already in place at
    /// `buffer[header ..< header + count]` (`buffer` is exactly header + count + trailer bytes).
    static func frameLeaf(_ buffer: UnsafeMutableBufferPointer<UInt8>, count: Int, type: UnixFSData.DataType) {
        let (header, _) = leafFraming(count: count)
        let n = UInt64(count)
        var out: [UInt8] = []
        out.reserveCapacity(header)
        let unixfsSize = 2 + (count > 0 ? Protowire.lengthDelimitedSize(count) : 0) + 1 + Protowire.varintSize(n)
        out.append(0x0a)
        Protowire.appendVarint(UInt64(unixfsSize), to: &out)
        out.append(0x08)
        out.append(UInt8(type.rawValue))
        if count > 0 {
            out.append(0x12)
            Protowire.appendVarint(n, to: &out)
        }
        for (i, byte) in out.enumerated() { buffer[i] = byte }
        var trailer: [UInt8] = [0x18]
        Protowire.appendVarint(n, to: &trailer)
        for (i, byte) in trailer.enumerated() { buffer[header + count + i] = byte }
    }

    /// `PBNode{Data: UnixFS{Type, Data: chunk, filesize: len, mode, mtime}}` written in one pass.
    static func encodeLeaf(
        _ chunk: [UInt8], type: UnixFSData.DataType, mode: UInt32? = nil, mtime: UnixFSTime? = nil
    ) -> [UInt8] {
        let n = UInt64(chunk.count)
        var unixfsSize = 2  // 08 <type>
        if n > 0 { unixfsSize += Protowire.lengthDelimitedSize(chunk.count) }
        unixfsSize += 1 + Protowire.varintSize(n)
        if let mode { unixfsSize += 1 + Protowire.varintSize(UInt64(mode)) }
        if let mtime { unixfsSize += Protowire.lengthDelimitedSize(mtime.encodedSize) }
        var out: [UInt8] = []
        out.reserveCapacity(Protowire.lengthDelimitedSize(unixfsSize))
        out.append(0x0a)
        Protowire.appendVarint(UInt64(unixfsSize), to: &out)
        out.append(0x08)
        out.append(UInt8(type.rawValue))
        if n > 0 {
            out.append(0x12)
            Protowire.appendVarint(n, to: &out)
            out.append(contentsOf: chunk)
        }
        out.append(0x18)
        Protowire.appendVarint(n, to: &out)
        UnixFSData.appendMetadata(mode: mode, mtime: mtime, to: &out)
        return out
    }

    /// A UnixFS File node over `children` (links with empty names, cumulative Tsize,
    /// `blocksizes` = content under each child).
    func fileNode(_ children: [ChildLink], mode: UInt32? = nil, mtime: UnixFSTime? = nil) throws(ImportError) -> (Block, ChildLink) {
        var fileSize: UInt64 = 0
        var linkTotal: UInt64 = 0
        var links: [PBLink] = []
        links.reserveCapacity(children.count)
        var sizes: [UInt64] = []
        sizes.reserveCapacity(children.count)
        for child in children {
            fileSize += child.fileSize
            linkTotal += child.tsize
            sizes.append(child.fileSize)
            links.append(PBLink(hash: child.cid, name: "", tsize: child.tsize))
        }
        let data = UnixFSData(type: .file, fileSize: fileSize, blockSizes: sizes, mode: mode, mtime: mtime)
        let bytes = PBNode(links: links, data: data.encoded()).encoded()
        let block = try block(bytes, codec: .dagPB)
        return (block, ChildLink(cid: block.cid, tsize: UInt64(bytes.count) + linkTotal, fileSize: fileSize))
    }
}

/// Receives the blocks a layout builder creates.
typealias BlockEmitter = (Block) throws(ImportError) -> Void

/// Kubo's balanced layout, fed one leaf at a time.
///
/// boxo builds it recursively pulling chunks: the first leaf becomes the root; while data
/// remains, the root becomes the first child of a new root one level higher, which is filled
/// with subtrees as deep as the old root. Pushed leaves give the same tree: `levels[h]` holds the
/// children of the open node at height h+1; a full level closes into a node of the level above
/// only when another child arrives, and `finish` closes the open nodes bottom-up.
struct BalancedBuilder {
    let maxLinks: Int
    private var levels: [[ChildLink]] = []

    init(maxLinks: Int) {
        self.maxLinks = maxLinks
    }

    var isEmpty: Bool { levels.isEmpty }

    mutating func add(_ leaf: ChildLink, factory: BlockFactory, emit: BlockEmitter) throws(ImportError) {
        try push(leaf, level: 0, factory: factory, emit: emit)
    }

    private mutating func push(_ child: ChildLink, level: Int, factory: BlockFactory, emit: BlockEmitter) throws(ImportError) {
        if levels.count <= level { levels.append([]) }
        if levels[level].count == maxLinks {
            let (block, node) = try factory.fileNode(levels[level])
            try emit(block)
            levels[level].removeAll(keepingCapacity: true)
            try push(node, level: level + 1, factory: factory, emit: emit)
        }
        levels[level].append(child)
    }

    /// Closes the tree. Returns nil when there is exactly one leaf and `singleLeafIsRoot`: the
    /// caller then uses that leaf (returned in `onlyLeaf`) as the root, as boxo does.
    mutating func finish(
        mode: UInt32?, mtime: UnixFSTime?, factory: BlockFactory, emit: BlockEmitter
    ) throws(ImportError) -> ChildLink? {
        precondition(!levels.isEmpty, "finish() on an empty balanced builder")
        var level = 0
        while level < levels.count - 1 {
            if !levels[level].isEmpty {
                let (block, node) = try factory.fileNode(levels[level])
                try emit(block)
                levels[level].removeAll()
                try push(node, level: level + 1, factory: factory, emit: emit)
            }
            level += 1
        }
        let top = levels[levels.count - 1]
        if levels.count == 1 && top.count == 1 { return nil }
        let (block, root) = try factory.fileNode(top, mode: mode, mtime: mtime)
        try emit(block)
        return root
    }
}

/// Kubo's trickle layout, fed one leaf at a time.
///
/// boxo's `fillTrickleRec(node, maxDepth)` puts up to `maxLinks` leaves in the node, then for
/// depth 1, 2, … (below `maxDepth`) appends 4 subtrees of that depth. The frames here are that
/// recursion's stack; a frame is closed lazily when the next leaf does not fit in it.
struct TrickleBuilder {
    private struct Frame {
        var children: [ChildLink] = []
        /// Still filling the first layer of leaves.
        var leafPhase = true
        /// -1 for the root (unbounded).
        let maxDepth: Int
        var depth = 1
        var repeatIndex = 0
    }

    static let depthRepeat = 4
    let maxLinks: Int
    private var frames: [Frame] = [Frame(maxDepth: -1)]

    init(maxLinks: Int) {
        self.maxLinks = maxLinks
    }

    mutating func add(_ leaf: ChildLink, factory: BlockFactory, emit: BlockEmitter) throws(ImportError) {
        while true {
            let top = frames.count - 1
            if frames[top].leafPhase {
                if frames[top].children.count < maxLinks {
                    frames[top].children.append(leaf)
                    return
                }
                frames[top].leafPhase = false
            }
            let frame = frames[top]
            if frame.maxDepth != -1 && frame.depth >= frame.maxDepth {
                frames.removeLast()
                let (block, node) = try factory.fileNode(frame.children)
                try emit(block)
                let parent = frames.count - 1
                frames[parent].children.append(node)
                frames[parent].repeatIndex += 1
                if frames[parent].repeatIndex == Self.depthRepeat {
                    frames[parent].repeatIndex = 0
                    frames[parent].depth += 1
                }
                continue
            }
            frames.append(Frame(maxDepth: frame.depth))
        }
    }

    mutating func finish(
        mode: UInt32?, mtime: UnixFSTime?, factory: BlockFactory, emit: BlockEmitter
    ) throws(ImportError) -> ChildLink {
        while frames.count > 1 {
            let frame = frames.removeLast()
            let (block, node) = try factory.fileNode(frame.children)
            try emit(block)
            frames[frames.count - 1].children.append(node)
        }
        let (block, root) = try factory.fileNode(frames[0].children, mode: mode, mtime: mtime)
        try emit(block)
        return root
    }
}
