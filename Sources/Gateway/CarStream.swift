import IPLD
import Multiformats
import NIOCore
import P2PCore
import UnixFS

/// A block source that remembers the blocks read through it, in order (to learn which blocks a
/// path resolution or a byte range of a file needed).
final class RecordingSource: BlockSource, Sendable {
    private let base: any BlockSource
    private let recorded = Locked<[Block]>([])

    init(_ base: any BlockSource) {
        self.base = base
    }

    func block(for cid: CID) throws -> Block? {
        let block = try base.block(for: cid)
        if let block { recorded.withLock { $0.append(block) } }
        return block
    }

    /// The blocks read since the last call.
    func take() -> [Block] {
        recorded.withLock { recorded in
            defer { recorded.removeAll() }
            return recorded
        }
    }
}

/// The blocks of a trustless CAR answer in order: the blocks that prove the path, then the
/// terminal element per `dag-scope` (and `entity-bytes`), each CID once, depth-first.
final class CarBlockSequence: @unchecked Sendable {
    private enum Stage {
        case pathBlocks([Block])
        case walker(DAGExport.Walker)
        /// Depth-first, pre-order, repeated blocks included (`dups=y`): CIDs still to visit, next last.
        case walkWithDuplicates([CID])
        case file(FileReader, RecordingSource)
        case queue([Block])
        case done
    }

    private var stages: [Stage]
    private var pending: [Block] = []
    private var emitted: Set<CID> = []
    private let duplicates: Bool
    private let source: any BlockSource

    /// - Parameters:
    ///   - pathBlocks: the blocks read to resolve the path (the terminal may be among them).
    ///   - terminal: the CID the path names.
    init(source: any BlockSource, pathBlocks: [Block], terminal: CID, options: CarOptions) throws {
        self.source = source
        duplicates = options.dups == "y"
        let walk: Stage = duplicates ? .walkWithDuplicates([terminal]) : .walker(DAGExport.blocks(root: terminal, source: source))
        var stages: [Stage] = [.pathBlocks(pathBlocks)]
        switch options.scope {
        case .block:
            stages.append(.queue([try Self.load(terminal, source)]))
        case .all:
            stages.append(walk)
        case .entity:
            let block = try Self.load(terminal, source)
            let exporter = Exporter(source: source)
            let kind = terminal.codec == .dagPB || terminal.codec == .raw
                ? (try? exporter.stat(terminal))?.kind : nil
            switch kind {
            case .file?:
                if let range = options.entityBytes {
                    let recorder = RecordingSource(source)
                    let size = try exporter.stat(terminal).size
                    let (offset, length) = range.resolve(size: size)
                    stages.append(.queue([block]))
                    // A range selecting nothing is answered as dag-scope=block.
                    if length > 0 {
                        let reader = try Exporter(source: recorder).reader(terminal, offset: offset, length: length)
                        _ = recorder.take()  // the file's root, already queued
                        stages.append(.file(reader, recorder))
                    }
                } else {
                    stages.append(walk)
                }
            case .directory?:
                // The directory's own blocks: a basic directory is one block, a HAMT all its shards.
                let recorder = RecordingSource(source)
                try Exporter(source: recorder).list(terminal) { _ in }
                stages.append(.queue([block] + recorder.take()))
            default:
                stages.append(.queue([block]))
            }
        }
        self.stages = stages.reversed()
    }

    private static func load(_ cid: CID, _ source: any BlockSource) throws -> Block {
        if cid.multihash.function == .identity { return Block(cid: cid, data: cid.multihash.digest) }
        guard let block = try source.block(for: cid) else { throw ExportError.missingBlock(cid, path: nil) }
        return block
    }

    /// The next block not written before, or nil at the end.
    func next() throws -> Block? {
        while true {
            if !pending.isEmpty {
                let block = pending.removeFirst()
                if duplicates || emitted.insert(block.cid).inserted { return block }
                continue
            }
            guard let stage = stages.popLast() else { return nil }
            switch stage {
            case .pathBlocks(let blocks), .queue(let blocks):
                pending = blocks
            case .walker(var walker):
                if let block = try walker.next() {
                    stages.append(.walker(walker))
                    if emitted.insert(block.cid).inserted { return block }
                }
            case .file(var reader, let recorder):
                if try reader.next() != nil {
                    stages.append(.file(reader, recorder))
                }
                pending = recorder.take()
            case .walkWithDuplicates(var stack):
                guard let cid = stack.popLast() else { continue }
                let block = try Self.load(cid, source)
                stack.append(contentsOf: try IPLDCodecs.links(in: block).reversed())
                stages.append(.walkWithDuplicates(stack))
                return block
            case .done:
                return nil
            }
        }
    }
}

/// Encodes a `CarBlockSequence` as CARv1 chunks of about `chunkSize` bytes.
final class CarChunker: @unchecked Sendable {
    private let blocks: CarBlockSequence
    private var header: [UInt8]?
    private let chunkSize: Int
    private var finished = false

    init(roots: [CID], blocks: CarBlockSequence, chunkSize: Int = 1 << 20) {
        self.blocks = blocks
        self.header = CarWriter.header(roots: roots)
        self.chunkSize = chunkSize
    }

    func next() throws -> ByteBuffer? {
        guard !finished else { return nil }
        var buffer = ByteBufferAllocator().buffer(capacity: chunkSize + 4096)
        if let header {
            buffer.writeBytes(header)
            self.header = nil
        }
        var varint: [UInt8] = []
        while buffer.readableBytes < chunkSize {
            guard let block = try blocks.next() else {
                finished = true
                break
            }
            let cid = block.cid.bytes
            varint.removeAll(keepingCapacity: true)
            Varint.encode(UInt64(cid.count + block.data.count), into: &varint)
            buffer.writeBytes(varint)
            buffer.writeBytes(cid)
            buffer.writeBytes(block.data)
        }
        return buffer.readableBytes > 0 ? buffer : nil
    }
}
