import Multiformats

/// The blocks of a DAG in the order `ipfs dag export` writes them.
///
/// Kubo exports with go-car's `TraverseV1` over an explore-all-recursively selector with
/// duplicate puts off: a depth-first, pre-order walk from the root that follows each block's
/// links in codec order (dag-pb: link order; dag-cbor / dag-json: data-model order) and emits a
/// block the first time its CID is met; a CID seen again is skipped along with its subtree (whose
/// blocks were all emitted the first time). CIDs compare whole, so a v0 and a v1 CID of the same
/// bytes are two blocks. Blocks with an identity multihash are emitted too, their bytes taken from
/// the CID without asking the source.
///
/// ```swift
/// var writer = try CarWriter(path: "out.car", roots: [root])
/// try DAGExport.write(root: root, source: store, to: &writer)
/// try writer.finish()
/// ```
public enum DAGExport {
    /// Returns the CIDs a block links to, in codec order.
    public typealias LinkExtractor = (Block) throws -> [CID]

    /// A walker yielding the DAG under `root` in export order. Blocks are read from `source`
    /// lazily as the walk reaches them; `links` decodes each block's links (the default is the
    /// codec registry, `IPLDCodecs.links(in:)`).
    public static func blocks(root: CID, source: any BlockSource, links: @escaping LinkExtractor = defaultLinks) -> Walker {
        Walker(root: root, source: source, links: links)
    }

    /// Writes the DAG under `root` to `writer` in export order and returns how many blocks went out.
    /// The writer's header roots are the caller's choice (Kubo writes `[root]`).
    @discardableResult
    public static func write(
        root: CID, source: any BlockSource, to writer: inout CarWriter, links: @escaping LinkExtractor = defaultLinks
    ) throws(DAGExportError) -> Int {
        var walker = blocks(root: root, source: source, links: links)
        var count = 0
        while let block = try walker.next() {
            do {
                try writer.write(block)
            } catch {
                throw .write(error)
            }
            count += 1
        }
        return count
    }

    /// `IPLDCodecs.links(in:)`: dag-pb, dag-cbor, dag-json; raw, cbor and json have none.
    /// Other codecs throw.
    public static func defaultLinks(_ block: Block) throws -> [CID] {
        try IPLDCodecs.links(in: block)
    }

    /// Walks a DAG depth-first, pre-order, each CID once. Not thread-safe; memory grows with the
    /// number of distinct CIDs seen (one set entry each) plus the pending links.
    public struct Walker {
        private let source: any BlockSource
        private let links: LinkExtractor
        /// Pending CIDs with the CID of the block that linked them (nil for the root), next on top.
        private var stack: [(cid: CID, parent: CID?)]
        private var seen: Set<CID> = []
        private var failure: DAGExportError?

        init(root: CID, source: any BlockSource, links: @escaping LinkExtractor) {
            self.source = source
            self.links = links
            self.stack = [(root, nil)]
        }

        /// How many distinct blocks have been emitted.
        public var emittedCount: Int { seen.count }

        /// The next block in export order, or nil when the DAG is done.
        /// - Throws: `DAGExportError` naming the missing or unreadable CID; every later call
        ///   throws the same error.
        public mutating func next() throws(DAGExportError) -> Block? {
            if let failure { throw failure }
            while let (cid, parent) = stack.popLast() {
                guard seen.insert(cid).inserted else { continue }
                do throws(DAGExportError) {
                    let block = try load(cid, parent: parent)
                    let children: [CID]
                    do {
                        children = try links(block)
                    } catch {
                        throw DAGExportError.undecodable(cid: cid, reason: "\(error)")
                    }
                    for child in children.reversed() where !seen.contains(child) {
                        stack.append((child, cid))
                    }
                    return block
                } catch {
                    failure = error
                    throw error
                }
            }
            return nil
        }

        private func load(_ cid: CID, parent: CID?) throws(DAGExportError) -> Block {
            if cid.multihash.function == .identity {
                return Block(cid: cid, data: cid.multihash.digest)
            }
            let found: Block?
            do {
                found = try source.block(for: cid)
            } catch {
                throw .unreadable(cid: cid, parent: parent, reason: "\(error)")
            }
            guard let found else { throw .missingBlock(cid: cid, parent: parent) }
            return found
        }
    }
}

/// Why a DAG could not be exported.
public enum DAGExportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The source does not have the block `cid` (linked from `parent`; nil for the root).
    case missingBlock(cid: CID, parent: CID?)
    /// The source failed to read `cid`.
    case unreadable(cid: CID, parent: CID?, reason: String)
    /// The links of block `cid` could not be decoded (unknown codec or malformed block).
    case undecodable(cid: CID, reason: String)
    /// Writing the CAR failed.
    case write(CarError)

    public var description: String {
        switch self {
        case let .missingBlock(cid, parent):
            if let parent { return "dag export: block \(cid) (linked from \(parent)) not found" }
            return "dag export: root block \(cid) not found"
        case let .unreadable(cid, parent, reason):
            let from = parent.map { " (linked from \($0))" } ?? ""
            return "dag export: cannot read block \(cid)\(from): \(reason)"
        case let .undecodable(cid, reason):
            return "dag export: cannot decode the links of block \(cid): \(reason)"
        case let .write(error):
            return "dag export: \(error)"
        }
    }
}
