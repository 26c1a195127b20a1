import Foundation
import Multiformats
import Testing

@testable import IPLD
import TestSupport

@Suite("Codec registry", .onBlockingPool)
struct CodecRegistryTests {
    @Test("raw: bytes in, bytes out, no links")
    func raw() throws {
        let block = try Block(data: [1, 2, 3], codec: .raw)
        #expect(try IPLDCodecs.decode(block) == .bytes([1, 2, 3]))
        #expect(try IPLDCodecs.encode(.bytes([1, 2, 3]), codec: .raw) == [1, 2, 3])
        #expect(try IPLDCodecs.links(in: block) == [])
        #expect(throws: IPLDCodecError.rawNeedsBytes(.string)) { try IPLDCodecs.encode("x", codec: .raw) }
    }

    @Test("unknown codecs are an error naming the codec and block")
    func unsupported() throws {
        let block = try Block(data: [1], codec: .gitRaw)
        #expect(throws: IPLDCodecError.unsupportedCodec(.gitRaw, cid: block.cid)) { try IPLDCodecs.decode(block) }
        #expect(throws: IPLDCodecError.unsupportedCodec(.gitRaw, cid: block.cid)) { try IPLDCodecs.links(in: block) }
        #expect(throws: IPLDCodecError.unsupportedCodec(.json, cid: nil)) { try IPLDCodecs.encode(1, codec: .json) }
        #expect(!IPLDCodecs.isSupported(.json))
        #expect(IPLDCodecs.supported.allSatisfy(IPLDCodecs.isSupported))
    }

    @Test("decode errors carry the block CID")
    func errorsNameTheBlock() throws {
        let block = try Block(data: [0xff], codec: .dagCBOR)
        do {
            _ = try IPLDCodecs.decode(block)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains(block.cid.description))
        }
    }

    @Test("links(in:) for every codec, in codec order")
    func links() throws {
        let a = try Block(data: [1], codec: .raw).cid
        let b = try Block(data: [2], codec: .raw).cid
        let pb = PBNode(links: [PBLink(hash: b, name: "x"), PBLink(hash: a, name: "y")], data: [0])
        #expect(try IPLDCodecs.links(in: Block(data: pb.encoded(), codec: .dagPB)) == [b, a])
        let value: IPLDValue = ["z": .link(a), "list": [.link(b), .link(b)]]
        for codec in [Multicodec.dagCBOR, .dagJSON] {
            let bytes = try IPLDCodecs.encode(value, codec: codec)
            // canonical order puts "z" before "list" in dag-cbor (shorter first), after it in dag-json
            let expected = codec == .dagCBOR ? [a, b, b] : [b, b, a]
            #expect(try IPLDCodecs.links(in: Block(data: bytes, codec: codec)) == expected, "\(codec)")
        }
    }

    @Test("IPLDInteger conversions")
    func integers() {
        #expect(IPLDInteger(-1) == IPLDInteger(isNegative: true, argument: 0))
        #expect(IPLDInteger(Int64.min).int64 == Int64.min)
        #expect(IPLDInteger.max.int64 == nil)
        #expect(IPLDInteger.max.uint64 == .max)
        #expect(IPLDInteger.min.description == "-18446744073709551616")
        #expect(IPLDInteger(decimal: "-18446744073709551616") == .min)
        #expect(IPLDInteger(decimal: "18446744073709551615") == .max)
        #expect(IPLDInteger(decimal: "18446744073709551616") == nil)
        #expect(IPLDInteger(decimal: "-") == nil)
        #expect(IPLDInteger(decimal: "1x") == nil)
        #expect(IPLDInteger.min < IPLDInteger(-1) && IPLDInteger(-1) < 0 && IPLDInteger(0) < .max)
    }

    @Test("value equality: floats by bits, strings by bytes, maps by order")
    func equality() {
        #expect(IPLDValue.float(0.0) != .float(-0.0))
        #expect(IPLDValue.string("\u{e9}") != .string("e\u{301}"))
        #expect(IPLDValue.map(IPLDMap([("a", 1), ("b", 2)])) != .map(IPLDMap([("b", 2), ("a", 1)])))
        #expect(IPLDValue.integer(1) != .float(1))
        var map: IPLDMap = ["a": 1]
        map["b"] = 2
        map["a"] = 3
        map["missing"] = nil
        #expect(map.keys == ["a", "b"])
        #expect(map["a"] == 3)
        map["a"] = nil
        #expect(map.keys == ["b"])
    }
}

@Suite("IPLD paths", .onBlockingPool)
struct IPLDPathTests {
    @Test("path parsing drops empty segments")
    func parsing() {
        #expect(IPLDPath("/a//b/0/").segments == ["a", "b", "0"])
        #expect(IPLDPath("").isEmpty)
        #expect(IPLDPath("a/b").description == "a/b")
    }

    @Test("walking inside one value: map keys, list indexes, errors")
    func walk() throws {
        let cid = try Block(data: [1], codec: .raw).cid
        let value: IPLDValue = ["a": ["b": [10, 20, .link(cid)]], "s": "text"]
        #expect(try value.walk("a/b/1") == .value(20))
        #expect(try value.walk("") == .value(value))
        #expect(try value.walk("a/b/2") == .value(.link(cid)))
        #expect(try value.walk("a/b/2/x/y") == .link(cid, consumed: 3))
        #expect(throws: IPLDPathError.noSuchKey("c", at: "a", cid: nil)) { try value.walk("a/c") }
        #expect(throws: IPLDPathError.noSuchIndex("3", at: "a/b", count: 3, cid: nil)) { try value.walk("a/b/3") }
        #expect(throws: IPLDPathError.self) { try value.walk("a/b/01") }
        #expect(throws: IPLDPathError.self) { try value.walk("a/b/-1") }
        #expect(throws: IPLDPathError.notTraversable(.string, segment: "x", at: "s", cid: nil)) { try value.walk("s/x") }
    }

    static func dag() throws -> (root: CID, source: CodecFixtures.MemorySource, leaf: Block, middle: Block, file: Block) {
        let leaf = try Block(data: Array("leaf".utf8), codec: .raw)
        let file = try Block(data: PBNode(data: [8, 2]).encoded(), codec: .dagPB, version: .v0)
        let middle = try Block(
            data: IPLDCodecs.encode(["leaf": .link(leaf.cid), "n": [1, 2, 3]], codec: .dagJSON), codec: .dagJSON)
        let dir = PBNode(links: [
            PBLink(hash: middle.cid, name: "Data", tsize: 10),
            PBLink(hash: file.cid, name: "file.txt", tsize: 4),
        ], data: [8, 1])
        let pbRoot = try Block(data: dir.encoded(), codec: .dagPB)
        let root = try Block(
            data: IPLDCodecs.encode(["dir": .link(pbRoot.cid), "x": ["y": .link(middle.cid)], "z": 5], codec: .dagCBOR),
            codec: .dagCBOR)
        return (root.cid, CodecFixtures.MemorySource([leaf, file, middle, pbRoot, root]), leaf, middle, file)
    }

    @Test("resolve across dag-cbor, dag-pb (by name and by Links/i/Hash) and dag-json blocks")
    func resolve() throws {
        let (root, source, leaf, middle, file) = try Self.dag()
        let resolver = IPLDResolver(source: source)
        #expect(try resolver.resolve(root, path: "") == .init(cid: root, remainder: ""))
        #expect(try resolver.resolve(root, path: "z") == .init(cid: root, remainder: "z"))
        #expect(try resolver.resolve(root, path: "x/y") == .init(cid: middle.cid, remainder: ""))
        #expect(try resolver.resolve(root, path: "x/y/n/2") == .init(cid: middle.cid, remainder: "n/2"))
        #expect(try resolver.resolve(root, path: "x/y/leaf") == .init(cid: leaf.cid, remainder: ""))
        // dag-pb: a link name wins over the Data field; Links/i/Hash also works
        #expect(try resolver.resolve(root, path: "dir/Data/n") == .init(cid: middle.cid, remainder: "n"))
        #expect(try resolver.resolve(root, path: "dir/file.txt") == .init(cid: file.cid, remainder: ""))
        #expect(try resolver.resolve(root, path: "dir/Links/1/Hash") == .init(cid: file.cid, remainder: ""))
        let dirCID = try resolver.resolve(root, path: "dir").cid
        #expect(dirCID.codec == .dagPB)
        #expect(try resolver.resolve(root, path: "dir/Links/1/Name") == .init(cid: dirCID, remainder: "Links/1/Name"))
        #expect(try resolver.resolve(root, path: "dir/file.txt/Data") == .init(cid: file.cid, remainder: "Data"))

        #expect(try resolver.get(root, path: "x/y/n/1") == 2)
        #expect(try resolver.get(root, path: "x/y/leaf") == .bytes(Array("leaf".utf8)))
        #expect(try resolver.get(root, path: "dir/Links/1/Name") == "file.txt")
        #expect(try resolver.get(root, path: "dir/Links/0/Tsize") == 10)
        #expect(try resolver.get(root, path: "dir/file.txt/Data") == .bytes([8, 2]))
        #expect(try resolver.get(root, path: "dir/file.txt") == ["Data": .bytes([8, 2]), "Links": []])
    }

    @Test("resolution errors name the segment, the path so far and the block")
    func errors() throws {
        let (root, source, leaf, middle, _) = try Self.dag()
        let resolver = IPLDResolver(source: source)
        #expect(throws: IPLDPathError.noSuchKey("nope", at: "x/y", cid: middle.cid)) {
            try resolver.resolve(root, path: "x/y/nope")
        }
        #expect(throws: IPLDPathError.notTraversable(.bytes, segment: "more", at: "x/y/leaf", cid: leaf.cid)) {
            try resolver.resolve(root, path: "x/y/leaf/more")
        }
        var partial = source
        partial.blocks[middle.cid] = nil
        #expect(throws: IPLDPathError.missingBlock(middle.cid, at: "x/y")) {
            try IPLDResolver(source: partial).resolve(root, path: "x/y/n")
        }
    }

    @Test("identity CIDs resolve without the source")
    func identity() throws {
        let inline = try CID(version: .v1, codec: .dagCBOR, multihash: Multihash.hash(DagCBOR.encode(["k": 7]), with: .identity))
        let root = try Block(data: DagCBOR.encode(["i": .link(inline)]), codec: .dagCBOR)
        let resolver = IPLDResolver(source: CodecFixtures.MemorySource([root]))
        #expect(try resolver.get(root.cid, path: "i/k") == 7)
    }
}
