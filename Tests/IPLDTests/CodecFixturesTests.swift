import Foundation
import Multiformats
import Testing

@testable import IPLD
import TestSupport

/// Loads the ipld/codec-fixtures copy under `Fixtures/ipld/` (see `Fixtures/ipld/SOURCES.md`).
enum CodecFixtures {
    static let codecs: [String: Multicodec] = ["dag-pb": .dagPB, "dag-cbor": .dagCBOR, "dag-json": .dagJSON]

    static func directory(_ name: String) throws -> URL {
        try #require(
            Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/ipld"),
            "fixture directory \(name) missing")
    }

    static func file(_ relative: String) throws -> URL {
        let url = URL(fileURLWithPath: relative)
        let directory = url.deletingLastPathComponent().relativePath
        let subdirectory = directory == "." ? "Fixtures/ipld" : "Fixtures/ipld/\(directory)"
        return try #require(
            Bundle.module.url(
                forResource: url.deletingPathExtension().lastPathComponent, withExtension: url.pathExtension,
                subdirectory: subdirectory),
            "fixture \(relative) missing")
    }

    static func bytes(_ url: URL) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url))
    }

    /// The fixture names under codec-fixtures/fixtures (empty if the bundle is broken; a
    /// separate test checks the count).
    static func names() -> [String] {
        guard let base = try? directory("codec-fixtures") else { return [] }
        let fixtures = base.appendingPathComponent("fixtures")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? []
        return names.sorted()
    }

    /// One encoded form of a fixture: its codec, bytes and the CID its file is named after.
    struct Form {
        var codec: Multicodec
        var codecName: String
        var bytes: [UInt8]
        var cid: CID
    }

    static func forms(of name: String) throws -> [Form] {
        let dir = try directory("codec-fixtures").appendingPathComponent("fixtures").appendingPathComponent(name)
        var forms: [Form] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() {
            let url = dir.appendingPathComponent(file)
            let ext = url.pathExtension
            let codec = try #require(codecs[ext], "unknown codec extension \(ext) in \(name)")
            let cid = try CID(url.deletingPathExtension().lastPathComponent)
            forms.append(Form(codec: codec, codecName: ext, bytes: try bytes(url), cid: cid))
        }
        return forms
    }

    static func cid(of bytes: [UInt8], codec: Multicodec) throws -> CID {
        try CID(version: .v1, codec: codec, multihash: Multihash.hash(bytes, with: .sha2_256))
    }

    /// `value` with every map's entries sorted by key bytes.
    static func sortedMaps(_ value: IPLDValue) -> IPLDValue {
        switch value {
        case let .list(list): return .list(list.map(sortedMaps))
        case let .map(map):
            let entries = map.entries
                .map { IPLDMap.Entry(key: $0.key, value: sortedMaps($0.value)) }
                .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            return .map(IPLDMap(entries))
        default: return value
        }
    }

    /// A `BlockSource` over a dictionary (tests only).
    struct MemorySource: BlockSource {
        var blocks: [CID: Block] = [:]

        init(_ blocks: [Block]) {
            for block in blocks { self.blocks[block.cid] = block }
        }

        func block(for cid: CID) throws -> Block? { blocks[cid] }
    }
}

@Suite("Codec fixtures (ipld/codec-fixtures)", .onBlockingPool)
struct CodecFixturesTests {
    @Test("all 128 fixture directories are bundled")
    func fixtureCount() throws {
        let names = CodecFixtures.names()
        #expect(names.count == 128)
        var counts: [String: Int] = [:]
        for name in names {
            for form in try CodecFixtures.forms(of: name) { counts[form.codecName, default: 0] += 1 }
        }
        #expect(counts == ["dag-cbor": 128, "dag-json": 128, "dag-pb": 17])
    }

    @Test("every form decodes and re-encodes byte-exact into every codec of its fixture", arguments: CodecFixtures.names())
    func crossCodec(name: String) throws {
        let forms = try CodecFixtures.forms(of: name)
        try #require(!forms.isEmpty)
        var values: [IPLDValue] = []
        for form in forms {
            // The file name is the CID of its bytes.
            #expect(try CodecFixtures.cid(of: form.bytes, codec: form.codec) == form.cid, "\(name) \(form.codecName)")
            let value = try IPLDCodecs.decode(Block(verifying: form.cid, data: form.bytes))
            values.append(value)
            // Canonical inputs also pass the strict decoders.
            switch form.codec {
            case .dagCBOR: #expect(try DagCBOR.decode(form.bytes, strict: true) == value)
            case .dagJSON: #expect(try DagJSON.decode(form.bytes, strict: true) == value)
            default: break
            }
            // links(in:) agrees with the links of the decoded value.
            #expect(try IPLDCodecs.links(in: Block(cid: form.cid, data: form.bytes)) == value.links, "\(name) \(form.codecName)")
            for target in forms {
                let encoded = try IPLDCodecs.encode(value, codec: target.codec)
                let cid = try CodecFixtures.cid(of: encoded, codec: target.codec)
                #expect(
                    cid == target.cid,
                    "\(name): \(form.codecName) → \(target.codecName) gave \(cid), expected \(target.cid)")
                if cid == target.cid { #expect(encoded == target.bytes) }
            }
        }
        // All forms decode to the same data-model value (up to map order, which each codec
        // canonicalises its own way).
        let first = values.first.map(CodecFixtures.sortedMaps)
        for value in values.dropFirst() { #expect(CodecFixtures.sortedMaps(value) == first, "\(name)") }
    }

    /// SplitMix64: a small deterministic generator for the mutation test.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test("mutated fixtures: decoders never crash; strict DAG-CBOR accepts only canonical bytes; dag-pb re-decodes stably")
    func mutations() throws {
        var rng = SplitMix(state: 0x1234_5678)
        var decoded = 0
        var total = 0
        for name in CodecFixtures.names() {
            for form in try CodecFixtures.forms(of: name) where form.bytes.count < 4096 {
                for _ in 0..<12 {
                    var bytes = form.bytes
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0 where !bytes.isEmpty:
                        bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                    case 1 where !bytes.isEmpty:
                        bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
                    case 2:
                        bytes.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...bytes.count, using: &rng))
                    default:
                        if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = 0xff }
                    }
                    total += 1
                    switch form.codec {
                    case .dagCBOR:
                        if let value = try? DagCBOR.decode(bytes, strict: true) {
                            decoded += 1
                            #expect(try DagCBOR.encode(value) == bytes, "\(name): strict decode accepted non-canonical bytes")
                            #expect(try DagCBOR.links(in: bytes) == value.links)
                        } else {
                            #expect(throws: DagCBORError.self) { try DagCBOR.links(in: bytes, strict: true) }
                        }
                        _ = try? DagCBOR.decode(bytes, strict: false)
                    case .dagJSON:
                        if let value = try? DagJSON.decode(bytes) {
                            decoded += 1
                            if let again = try? DagJSON.encode(value) {
                                #expect(CodecFixtures.sortedMaps(try DagJSON.decode(again)) == CodecFixtures.sortedMaps(value))
                            }
                        }
                    default:
                        if let node = try? PBNode(decoding: bytes) {
                            decoded += 1
                            #expect(try PBNode(decoding: node.encoded()) == node)
                            #expect(try PBNode.linkCIDs(in: bytes) == node.links.map(\.hash))
                        }
                    }
                }
            }
        }
        #expect(total > 2000)
        #expect(decoded > 0)
    }

    // MARK: negative fixtures

    struct DecodeCase {
        var name: String
        var bytes: [UInt8]
        var error: String
    }

    static func decodeCases(_ codec: String) throws -> [DecodeCase] {
        let dir = try CodecFixtures.directory("codec-fixtures")
            .appendingPathComponent("negative-fixtures/\(codec)/decode")
        var cases: [DecodeCase] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() {
            let json = try CodecFixtures.bytes(dir.appendingPathComponent(file))
            let list = try #require(try DagJSON.decode(json).listValue)
            for item in list {
                let name = try #require(item["name"]?.stringValue)
                let hex = try #require(item["hex"]?.stringValue)
                cases.append(DecodeCase(
                    name: "\(file): \(name)", bytes: try #require(Hex.decode(hex)),
                    error: item["error"]?.stringValue ?? ""))
            }
        }
        return cases
    }

    @Test("negative decode fixtures are rejected", arguments: ["dag-cbor", "dag-json", "dag-pb"])
    func negativeDecode(codec: String) throws {
        let multicodec = try #require(CodecFixtures.codecs[codec])
        let cases = try Self.decodeCases(codec)
        #expect(!cases.isEmpty)
        for item in cases {
            #expect(throws: IPLDCodecError.self, "\(codec) \(item.name) (\(item.error))") {
                try IPLDCodecs.decode(item.bytes, codec: multicodec)
            }
            #expect(throws: IPLDCodecError.self, "links: \(codec) \(item.name)") {
                try IPLDCodecs.links(in: item.bytes, codec: multicodec)
            }
            switch multicodec {
            case .dagCBOR: #expect(throws: DagCBORError.self) { try DagCBOR.decode(item.bytes, strict: true) }
            case .dagJSON: #expect(throws: DagJSONError.self) { try DagJSON.decode(item.bytes, strict: true) }
            default: break
            }
        }
    }

    @Test("negative dag-pb encode fixtures are rejected")
    func negativeDagPBEncode() throws {
        let dir = try CodecFixtures.directory("codec-fixtures").appendingPathComponent("negative-fixtures/dag-pb/encode")
        var count = 0
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() {
            // The files are plain JSON whose "dag-json" members are DAG-JSON forms: decoding the
            // whole file as DAG-JSON yields the data-model values directly.
            let list = try #require(try DagJSON.decode(CodecFixtures.bytes(dir.appendingPathComponent(file))).listValue)
            for item in list {
                let name = try #require(item["name"]?.stringValue)
                let value = try #require(item["dag-json"])
                #expect(throws: IPLDCodecError.self, "\(file): \(name)") {
                    try IPLDCodecs.encode(value, codec: .dagPB)
                }
                #expect(throws: DagPBError.self, "\(file): \(name)") { try PBNode(ipldValue: value) }
                count += 1
            }
        }
        #expect(count == 11 + 67)
    }

    // MARK: dag-pb cross-codec testmark (ipld/ipld specs)

    struct TestmarkFixture {
        var name: String
        var bytes: [UInt8] = []
        var cids: [String: CID] = [:]
    }

    static func testmark() throws -> [TestmarkFixture] {
        let text = String(decoding: try CodecFixtures.bytes(CodecFixtures.file("dag-pb-cross-codec.testmark.md")), as: UTF8.self)
        var fixtures: [String: TestmarkFixture] = [:]
        var order: [String] = []
        let lines = text.components(separatedBy: "\n")
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            guard line.hasPrefix("[testmark]:# ("), line.hasSuffix(")") else { continue }
            let label = String(line.dropFirst("[testmark]:# (".count).dropLast())
            let parts = label.split(separator: "/").map(String.init)
            guard parts.count == 3 else { continue }
            guard index < lines.count, lines[index].hasPrefix("```") else { continue }
            index += 1
            var body = ""
            while index < lines.count, !lines[index].hasPrefix("```") {
                body += lines[index].trimmingCharacters(in: .whitespaces)
                index += 1
            }
            if fixtures[parts[0]] == nil {
                fixtures[parts[0]] = TestmarkFixture(name: parts[0])
                order.append(parts[0])
            }
            if parts[2] == "bytes" {
                fixtures[parts[0]]?.bytes = try #require(Hex.decode(body), "hex of \(label)")
            } else if parts[2] == "cid" {
                fixtures[parts[0]]?.cids[parts[1]] = try CID(body)
            }
        }
        return order.compactMap { fixtures[$0] }
    }

    @Test("dag-pb cross-codec testmark: decode, re-encode, CIDs in dag-pb / dag-cbor / dag-json")
    func dagPBTestmark() throws {
        let fixtures = try Self.testmark()
        #expect(fixtures.count == 17)
        for fixture in fixtures {
            let node = try PBNode(decoding: fixture.bytes)
            #expect(node.encoded() == fixture.bytes, "\(fixture.name)")
            #expect(node.encodedSize == fixture.bytes.count, "\(fixture.name)")
            #expect(try PBNode(ipldValue: node.ipldValue) == node)
            #expect(fixture.cids.count == 3)
            for (codecName, expected) in fixture.cids {
                let codec = try #require(CodecFixtures.codecs[codecName])
                let encoded = try IPLDCodecs.encode(node.ipldValue, codec: codec)
                #expect(try CodecFixtures.cid(of: encoded, codec: codec) == expected, "\(fixture.name) \(codecName)")
            }
        }
    }
}
