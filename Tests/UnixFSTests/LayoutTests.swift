import IPLD
import Multiformats
import Testing

@testable import UnixFS
import TestSupport

/// boxo's balanced and trickle builders transcribed literally (pull-style recursion over a list
/// of leaves), to check the push-style builders against them shape for shape.
private struct ReferenceDAG {
    let factory: BlockFactory
    let maxLinks: Int
    var leaves: [ChildLink]
    var next = 0

    var done: Bool { next == leaves.count }

    mutating func take() -> ChildLink {
        defer { next += 1 }
        return leaves[next]
    }

    // balanced/builder.go
    mutating func balanced() throws -> ChildLink {
        var root = take()
        var depth = 1
        while !done {
            root = try fillNodeRec([root], depth: depth)
            depth += 1
        }
        return root
    }

    private mutating func fillNodeRec(_ start: [ChildLink], depth: Int) throws -> ChildLink {
        var children = start
        while children.count < maxLinks && !done {
            children.append(depth == 1 ? take() : try fillNodeRec([], depth: depth - 1))
        }
        return try factory.fileNode(children).1
    }

    // trickle/trickledag.go
    mutating func trickle() throws -> ChildLink {
        try fillTrickleRec(maxDepth: -1)
    }

    private mutating func fillTrickleRec(maxDepth: Int) throws -> ChildLink {
        var children: [ChildLink] = []
        while children.count < maxLinks && !done { children.append(take()) }
        var depth = 1
        while maxDepth == -1 || depth < maxDepth {
            if done { break }
            var repeatIndex = 0
            while repeatIndex < 4 && !done {
                children.append(try fillTrickleRec(maxDepth: depth))
                repeatIndex += 1
            }
            depth += 1
        }
        return try factory.fileNode(children).1
    }
}

@Suite("DAG layouts", .onBlockingPool)
struct LayoutTests {
    /// Imports `count` one-byte chunks and compares with the reference recursion.
    private func check(count: Int, maxLinks: Int, layout: DAGLayout, rawLeaves: Bool) throws {
        var options = ImportOptions()
        options.chunker = .fixed(size: 1)
        options.maxLinks = maxLinks
        options.layout = layout
        options.rawLeaves = rawLeaves
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let (result, store) = try importToStore(options, bytes: bytes)
        let factory = BlockFactory(
            cidVersion: .v0, hashFunction: .sha2_256, rawLeaves: rawLeaves, leafType: layout == .trickle ? .raw : .file)
        var leaves: [ChildLink] = []
        for byte in bytes {
            let (leafBytes, codec) = factory.leafBytes([byte])
            let block = try factory.block(leafBytes, codec: codec)
            leaves.append(ChildLink(cid: block.cid, tsize: UInt64(block.data.count), fileSize: 1))
        }
        var reference = ReferenceDAG(factory: factory, maxLinks: maxLinks, leaves: leaves)
        let expected = layout == .balanced ? try reference.balanced() : try reference.trickle()
        #expect(result.root.cid == expected.cid, "\(layout) count=\(count) maxLinks=\(maxLinks)")
        #expect(result.root.size == expected.tsize)
        // And it reads back.
        #expect(try catAll(Exporter(source: store), result.root.cid) == bytes)
    }

    @Test("balanced layout matches boxo's recursion")
    func balanced() throws {
        for maxLinks in [2, 3, 4] {
            for count in 1...70 { try check(count: count, maxLinks: maxLinks, layout: .balanced, rawLeaves: false) }
        }
        for count in [173, 174, 175, 348, 349, 1000] {
            try check(count: count, maxLinks: 174, layout: .balanced, rawLeaves: true)
        }
    }

    @Test("trickle layout matches boxo's recursion")
    func trickle() throws {
        for maxLinks in [2, 3, 4] {
            for count in 1...120 { try check(count: count, maxLinks: maxLinks, layout: .trickle, rawLeaves: false) }
        }
        for count in [1, 174, 175, 174 * 5 + 1, 4000] {
            try check(count: count, maxLinks: 174, layout: .trickle, rawLeaves: true)
        }
    }

    @Test("empty files: dag-pb File node, empty raw block, trickle root")
    func emptyFiles() throws {
        #expect(try rootCID(ImportOptions(), bytes: []) == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH")
        var v1 = ImportOptions.unixfsV1_2025
        #expect(try rootCID(v1, bytes: []) == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
        v1.layout = .trickle
        // Trickle always has a dag-pb root: the same empty File node as CIDv0, as CIDv1.
        let trickleRoot = try CID(rootCID(v1, bytes: []))
        #expect(trickleRoot == (try CID("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH")).toV1())
    }
}
