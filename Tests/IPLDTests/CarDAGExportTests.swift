import Foundation
import Multiformats
import Testing

@testable import IPLD
import TestSupport

/// An in-memory block source for the export tests.
struct CarDictionarySource: BlockSource {
    var blocks: [CID: Block] = [:]

    init(_ blocks: [Block]) {
        for block in blocks { self.blocks[block.cid] = block }
    }

    func block(for cid: CID) throws -> Block? { blocks[cid] }
}

@Suite("DAG export order", .onBlockingPool)
struct CarDAGExportTests {
    /// A graph of raw blocks whose links come from a table (no codec involved).
    struct Graph {
        var blocks: [String: Block] = [:]
        var edges: [CID: [CID]] = [:]

        init(_ shape: [(String, [String])]) throws {
            for (name, _) in shape { blocks[name] = try carRawBlock(name) }
            for (name, children) in shape {
                guard let parent = blocks[name] else { continue }
                edges[parent.cid] = try children.map { child in try #require(blocks[child]).cid }
            }
        }

        func cid(_ name: String) throws -> CID { try #require(blocks[name]).cid }
        var source: CarDictionarySource { CarDictionarySource(Array(blocks.values)) }
        func links(_ block: Block) -> [CID] { edges[block.cid] ?? [] }
        func name(of cid: CID) -> String { blocks.first { $0.value.cid == cid }?.key ?? cid.description }
    }

    static let shape: [(String, [String])] = [
        ("R", ["A", "B", "C"]), ("A", ["D", "E"]), ("B", ["E", "F"]), ("C", ["A", "G"]), ("E", ["H"]),
        ("D", []), ("F", []), ("G", []), ("H", []),
    ]

    func walk(_ graph: Graph, root: CID, source: CarDictionarySource) throws(DAGExportError) -> [String] {
        var walker = DAGExport.blocks(root: root, source: source, links: graph.links)
        var names: [String] = []
        while let block = try walker.next() { names.append(graph.name(of: block.cid)) }
        return names
    }

    /// Depth-first, pre-order, links in order, each block once (a repeated subtree is skipped).
    @Test func preOrderFirstSeen() throws {
        let graph = try Graph(Self.shape)
        #expect(try walk(graph, root: try graph.cid("R"), source: graph.source) == ["R", "A", "D", "E", "H", "B", "F", "C", "G"])
        #expect(try walk(graph, root: try graph.cid("C"), source: graph.source) == ["C", "A", "D", "E", "H", "G"])
    }

    @Test func missingBlockNamesCIDAndParent() throws {
        let graph = try Graph(Self.shape)
        var source = graph.source
        source.blocks[try graph.cid("F")] = nil
        var walker = DAGExport.blocks(root: try graph.cid("R"), source: source, links: graph.links)
        var names: [String] = []
        let error = #expect(throws: DAGExportError.self) {
            while let block = try walker.next() { names.append(graph.name(of: block.cid)) }
        }
        #expect(names == ["R", "A", "D", "E", "H", "B"])
        #expect(error == .missingBlock(cid: try graph.cid("F"), parent: try graph.cid("B")))
        #expect(error?.description.contains(try graph.cid("F").description) == true)
        #expect(throws: DAGExportError.self) { _ = try walker.next() }  // sticky

        let root = try graph.cid("R")
        #expect(throws: DAGExportError.missingBlock(cid: root, parent: nil)) {
            _ = try walk(graph, root: root, source: CarDictionarySource([]))
        }
    }

    @Test func sourceAndDecodeErrors() throws {
        struct Failing: BlockSource {
            struct Broken: Error {}
            func block(for cid: CID) throws -> Block? { throw Broken() }
        }
        let block = try carRawBlock("x")
        var walker = DAGExport.blocks(root: block.cid, source: Failing(), links: { _ in [] })
        guard case .unreadable(cid: block.cid, parent: nil, reason: _)? = #expect(throws: DAGExportError.self, performing: { _ = try walker.next() }) else {
            Issue.record("unreadable")
            return
        }
        struct Undecodable: Error {}
        var undecodable = DAGExport.blocks(root: block.cid, source: CarDictionarySource([block]), links: { _ in throw Undecodable() })
        guard case .undecodable(cid: block.cid, reason: _)? = #expect(throws: DAGExportError.self, performing: { _ = try undecodable.next() }) else {
            Issue.record("undecodable")
            return
        }
    }

    /// Identity CIDs are exported with their inline bytes without asking the source; CIDv0 and
    /// CIDv1 of the same bytes are different blocks.
    @Test func identityAndCIDVersions() throws {
        let identity = try CID(version: .v1, codec: .raw, multihash: Multihash.hash(Array("inline".utf8), with: .identity))
        let pbV0 = try Block(data: [], codec: .dagPB, version: .v0)
        let pbV1 = Block(cid: pbV0.cid.toV1(), data: [])
        let root = try carRawBlock("root")
        let links: [CID: [CID]] = [root.cid: [identity, pbV0.cid, pbV1.cid, pbV0.cid]]
        let source = CarDictionarySource([root, pbV0, pbV1])
        var walker = DAGExport.blocks(root: root.cid, source: source, links: { links[$0.cid] ?? [] })
        var out: [Block] = []
        while let block = try walker.next() { out.append(block) }
        #expect(out == [root, Block(cid: identity, data: Array("inline".utf8)), pbV0, pbV1])
        #expect(walker.emittedCount == 4)
    }

    /// `DAGExport.write` + `CarWriter` + `CarReader`: the CAR holds the walk's blocks in order.
    @Test func exportToCAR() throws {
        let graph = try Graph(Self.shape)
        let root = try graph.cid("R")
        var chunks: [[UInt8]] = []
        var writer = CarWriter(roots: [root]) { chunks.append($0) }
        let count = try DAGExport.write(root: root, source: graph.source, to: &writer, links: graph.links)
        try writer.finish()
        #expect(count == 9)
        let (header, sections) = try CarFixtures.sections(chunks.flatMap { $0 })
        #expect(header.roots == [root])
        #expect(sections.map { graph.name(of: $0.block.cid) } == ["R", "A", "D", "E", "H", "B", "F", "C", "G"])
    }

    /// Fixtures written by `ipfs dag export`: exporting their root from their own blocks
    /// reproduces the file's block order, and the CAR byte for byte (dag-pb incl. HAMT, dag-cbor,
    /// dag-json, raw, plain cbor/json roots).
    @Test(arguments: CarDAGExportTests.kuboExports)
    func matchesKuboExport(relative: String) throws {
        let original = try CarFixtures.bytes(relative)
        let (header, sections) = try CarFixtures.sections(original)
        let root = try #require(header.roots.first)
        let source = CarDictionarySource(sections.map(\.block))
        var chunks: [[UInt8]] = []
        var writer = CarWriter(roots: header.roots) { chunks.append($0) }
        try DAGExport.write(root: root, source: source, to: &writer)
        try writer.finish()
        let exported = try CarFixtures.sections(chunks.flatMap { $0 }).1.map(\.block.cid)
        #expect(exported == sections.map(\.block.cid))
        #expect(chunks.flatMap { $0 } == original)
    }

    /// Every gateway-conformance CAR but the deliberately incomplete one (their recipes use
    /// `ipfs dag export`), plus go-car's simple-unixfs.car which turns out to be in the same order.
    static let kuboExports: [String] = CarFixtures.allCARs.filter {
        $0.hasPrefix("gateway/") && !$0.hasSuffix("file-3k-and-3-blocks-missing-block.car")
    } + ["car/go-car/simple-unixfs.car"]

    /// go-car's sample-v1.car (Filecoin chain data, dag-cbor with blake2b-256) holds text strings
    /// that are not UTF-8; Kubo (go-ipld-prime) walks them, and so must the export: every block
    /// of the file is reached from its root.
    @Test func walksDagCBORWithNonUTF8Strings() throws {
        let (header, sections) = try CarFixtures.sections(try CarFixtures.bytes("car/go-car/sample-v1.car"))
        let root = try #require(header.roots.first)
        var walker = DAGExport.blocks(root: root, source: CarDictionarySource(sections.map(\.block)))
        var seen = Set<CID>()
        while let block = try walker.next() { seen.insert(block.cid) }
        #expect(seen == Set(sections.map(\.block.cid)))
        #expect(seen.count == 1049)
    }

    /// An incomplete DAG (a block cut out with `car filter`): the export stops at the missing CID.
    @Test func incompleteFixture() throws {
        let (header, sections) = try CarFixtures.sections(try CarFixtures.bytes("gateway/trustless_gateway_car/file-3k-and-3-blocks-missing-block.car"))
        let root = try #require(header.roots.first)
        var walker = DAGExport.blocks(root: root, source: CarDictionarySource(sections.map(\.block)))
        var got: [CID] = []
        let error = #expect(throws: DAGExportError.self) {
            while let block = try walker.next() { got.append(block.cid) }
        }
        guard case let .missingBlock(cid, parent)? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(parent == root)
        #expect(!sections.contains { $0.block.cid == cid })
        #expect(got == Array(sections.map(\.block.cid).prefix(2)))
    }
}
