import Foundation
import Multiformats
import Testing

@testable import IPLD
import TestSupport

@Suite("DAG-PB", .onBlockingPool)
struct DagPBTests {
    static let hashHex = "1220cf92fdefcdc34cac009c8b05eb662be0618db9de55ecd42785e9ec6712f8df65"

    static func hash() throws -> CID { try CID(bytes: try #require(Hex.decode(hashHex))) }

    static func decode(_ hex: String) throws(DagPBError) -> PBNode {
        try PBNode(decoding: Hex.decode(hex) ?? [])
    }

    @Test("the empty block is a node with no links and no data (spec CIDs)")
    func emptyBlock() throws {
        let node = try PBNode(decoding: [])
        #expect(node == PBNode())
        #expect(node.encoded() == [])
        let block = try Block(data: node.encoded(), codec: .dagPB)
        #expect(block.cid.description == "bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
        #expect(try block.cid.toV0().description == "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n")
    }

    @Test("empty Data is distinct from absent Data")
    func emptyData() throws {
        let node = PBNode(data: [])
        #expect(node.encoded() == [0x0a, 0x00])
        #expect(try PBNode(decoding: [0x0a, 0x00]) == node)
        #expect(try PBNode(decoding: [0x0a, 0x00]).data == [])
    }

    @Test("encoding: links before Data; Hash, Name, Tsize inside a link")
    func encodingLayout() throws {
        let cid = try Self.hash()
        let node = PBNode(links: [PBLink(hash: cid, name: "a", tsize: 300)], data: [1, 2, 3])
        let hash = try #require(Hex.decode(Self.hashHex))
        let link: [UInt8] = [0x0a, 0x22] + hash + [0x12, 0x01, 0x61, 0x18, 0xac, 0x02]
        let expected: [UInt8] = [0x12, UInt8(link.count)] + link + [0x0a, 0x03, 1, 2, 3]
        #expect(node.encoded() == expected)
        #expect(node.encodedSize == expected.count)
        #expect(try PBNode(decoding: expected) == node)
        #expect(try PBNode.linkCIDs(in: expected) == [cid])
    }

    @Test("absent Name / Tsize stay absent; empty Name stays empty")
    func optionalFields() throws {
        let cid = try Self.hash()
        for link in [PBLink(hash: cid), PBLink(hash: cid, name: ""), PBLink(hash: cid, tsize: 0), PBLink(hash: cid, name: "x", tsize: .max)] {
            let node = PBNode(links: [link])
            let decoded = try PBNode(decoding: node.encoded())
            #expect(decoded == node)
            #expect(decoded.encoded() == node.encoded())
        }
    }

    @Test("CIDv1 links of other codecs and identity hashes round-trip")
    func cidKinds() throws {
        let raw = try Block(data: Array("hello".utf8), codec: .raw).cid
        let identity = try CID(version: .v1, codec: .raw, multihash: Multihash.hash([1, 2, 3], with: .identity))
        let node = PBNode(links: [PBLink(hash: raw, name: "a"), PBLink(hash: identity, name: "b")])
        let decoded = try PBNode(decoding: node.encoded())
        #expect(decoded == node)
        #expect(try PBNode.linkCIDs(in: node.encoded()) == [raw, identity])
        #expect(try IPLDCodecs.links(in: Block(data: node.encoded(), codec: .dagPB)) == [raw, identity])
    }

    @Test("Data before Links is accepted (old encoders); re-encoding puts Links first")
    func dataFirst() throws {
        let link = "12240a22" + Self.hashHex
        let node = try Self.decode("0a0101" + link)
        #expect(node.data == [1])
        #expect(node.links.count == 1)
        #expect(Hex.encode(node.encoded()) == link + "0a0101")
    }

    @Test("strict decoding rejects malformed blocks", arguments: [
        ("12", "truncated link length"),
        ("1205", "link length past the end"),
        ("0a05010203", "Data past the end"),
        ("0a0101" + "0a0101", "duplicate Data"),
        ("12240a22" + hashHex + "0a0101" + "12240a22" + hashHex, "links after Data"),
        ("08011200", "PBNode varint field"),
        ("1a00", "unknown PBNode field 3"),
        ("2200", "unknown PBNode field 4"),
        ("0d00000000", "Data with wire type 5"),
        ("1200", "link with no Hash"),
        ("12020a00", "link with empty Hash"),
        ("12021800", "link with only Tsize"),
        ("12021200", "link with only Name"),
        ("12280a22" + hashHex + "0a02" + "0102", "duplicate Hash"),
        ("12290a22" + hashHex + "1200" + "1201" + "61", "duplicate Name"),
        ("12280a22" + hashHex + "1800" + "1801", "duplicate Tsize"),
        ("12281200" + "0a22" + hashHex + "1800", "Hash after Name"),
        ("12281800" + "0a22" + hashHex + "1200", "Hash after Tsize"),
        ("12280a22" + hashHex + "1800" + "1200", "Name after Tsize"),
        ("12260a22" + hashHex + "2000", "unknown link field 4"),
        ("12260a22" + hashHex + "1000", "Name with wire type 0"),
        ("12260a22" + hashHex + "1a00", "Tsize with wire type 2"),
        ("12050a03010203", "Hash that is not a CID"),
        ("12250a23" + hashHex + "00", "Hash with trailing bytes"),
        ("12270a22" + hashHex + "1201ff", "Name not UTF-8"),
        ("122f0a22" + hashHex + "18ffffffffffffffffff02", "Tsize of 65 bits"),
        ("122f0a22" + hashHex + "18ffffffffffffffffff80", "Tsize varint of 11 bytes"),
        ("12250a22" + hashHex + "18", "truncated Tsize"),
        ("ffffffffffffffffffff01", "key varint too long"),
    ])
    func rejects(hex: String, reason: String) throws {
        let bytes = try #require(Hex.decode(hex), "bad test hex")
        #expect(throws: DagPBError.self, "\(reason)") { try PBNode(decoding: bytes) }
        if reason != "Name not UTF-8" {
            #expect(throws: DagPBError.self, "linkCIDs: \(reason)") { try PBNode.linkCIDs(in: bytes) }
        }
    }

    @Test("largest Tsize (2^64-1) decodes")
    func maxTsize() throws {
        let node = try Self.decode("122f0a22" + Self.hashHex + "18ffffffffffffffffff01")
        #expect(node.links.first?.tsize == .max)
    }

    @Test("errors say where: offset and link index")
    func errorDetails() throws {
        do {
            _ = try Self.decode("12240a22" + Self.hashHex + "12020a00")
            Issue.record("expected an error")
        } catch {
            #expect(error == .missingHash(link: 1, offset: 38))
            #expect(error.description.contains("PBLink #1"))
        }
    }

    @Test("data model: PBNode ⇄ {Data, Links[{Hash, Name, Tsize}]}")
    func dataModel() throws {
        let cid = try Self.hash()
        let node = PBNode(links: [PBLink(hash: cid, name: "a", tsize: 5), PBLink(hash: cid)], data: [9])
        let value = node.ipldValue
        #expect(value["Data"] == .bytes([9]))
        #expect(value["Links"]?[0]?["Hash"] == .link(cid))
        #expect(value["Links"]?[0]?["Name"] == "a")
        #expect(value["Links"]?[0]?["Tsize"] == 5)
        #expect(value["Links"]?[1]?["Name"] == nil)
        #expect(PBNode().ipldValue == ["Links": []])
        // links sorted by name bytes: missing name sorts as "", ties keep their order
        let sorted = PBNode(links: [PBLink(hash: cid), PBLink(hash: cid, name: ""), PBLink(hash: cid, name: "a")])
        #expect(try PBNode(ipldValue: sorted.ipldValue) == sorted)
        let unsorted = PBNode(links: [PBLink(hash: cid, name: "b"), PBLink(hash: cid, name: "a")])
        #expect(throws: DagPBError.self) { try PBNode(ipldValue: unsorted.ipldValue) }
        // encoded() itself does not reorder (callers own the order)
        #expect(try PBNode(decoding: unsorted.encoded()) == unsorted)
    }

    @Test("a UnixFS-sized node encodes fast enough for the importer")
    func encodeSpeed() throws {
        let cid = try Self.hash()
        let node = PBNode(
            links: Array(repeating: PBLink(hash: cid, name: "", tsize: 262_158), count: 174),
            data: [0x08, 0x02, 0x18, 0x80, 0x80, 0x10])
        let clock = ContinuousClock()
        var total = 0
        let elapsed = clock.measure {
            for _ in 0..<2000 { total &+= node.encoded().count }
        }
        #expect(total > 0)
        #expect(elapsed < TestTime.scaled(.seconds(5)), "2000 encodes of a 174-link node took \(elapsed)")
        let decoded = try PBNode(decoding: node.encoded())
        #expect(decoded == node)
    }
}
