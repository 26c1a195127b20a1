import Foundation
import Multiformats
import Testing

@testable import IPLD
import TestSupport

// MARK: - Fixture helpers (shared by the Car*Tests files)

enum CarFixtures {
    /// Absolute path of `Fixtures/<relative>` (e.g. "car/go-car/sample-v1.car").
    static func path(_ relative: String) throws -> String {
        let url = URL(fileURLWithPath: relative)
        let directory = url.deletingLastPathComponent().relativePath
        let name = url.deletingPathExtension().lastPathComponent
        let ext = url.pathExtension
        let subdirectory = directory == "." ? "Fixtures" : "Fixtures/\(directory)"
        let found = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: subdirectory)
        return try #require(found, "fixture \(relative) missing").path
    }

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: try path(relative))))
    }

    static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(bytes(relative)))
    }

    /// car-roots.json: every CAR's header facts (version, roots, CARv2 fields, section count).
    static func rootsTable() throws -> [String: [String: Any]] {
        let object = try #require(try json("car/car-roots.json") as? [String: Any])
        return try #require(object["cars"] as? [String: [String: Any]])
    }

    /// Every CAR copied into Fixtures/car and Fixtures/gateway, relative to Fixtures/.
    static let allCARs: [String] = {
        guard let root = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else { return [] }
        var found: [String] = []
        for folder in ["car", "gateway"] {
            let base = root.appendingPathComponent(folder)
            guard let walker = FileManager.default.enumerator(atPath: base.path) else { continue }
            for case let item as String in walker where item.hasSuffix(".car") {
                found.append("\(folder)/\(item)")
            }
        }
        return found.sorted()
    }()

    /// Reads every section of a CAR held in memory.
    static func sections(_ bytes: [UInt8], options: CarReader.Options = .init()) throws -> (CarHeader, [CarSection]) {
        var reader = try CarReader(bytes: bytes, options: options)
        var sections: [CarSection] = []
        while let section = try reader.nextSection() { sections.append(section) }
        return (reader.header, sections)
    }

    /// Reads a CAR file completely, returning the error (if any) and what was read before it.
    static func readFile(_ relative: String, options: CarReader.Options = .init()) throws -> (header: CarHeader?, sections: [CarSection], error: CarError?) {
        let path = try path(relative)
        var sections: [CarSection] = []
        do {
            var reader = try CarReader(path: path, options: options)
            do {
                while let section = try reader.nextSection() { sections.append(section) }
            } catch {
                return (reader.header, sections, error)
            }
            return (reader.header, sections, nil)
        } catch {
            return (nil, sections, error)
        }
    }
}

/// The header of a CARv1 with the given roots, as `CarWriter` writes it.
func carV1(roots: [CID], sections: [[UInt8]]) -> [UInt8] {
    var out = CarWriter.header(roots: roots)
    for section in sections {
        Varint.encode(UInt64(section.count), into: &out)
        out.append(contentsOf: section)
    }
    return out
}

/// `varint(length) ‖ DAG-CBOR body`: a hand-made header block.
func carHeaderBlock(_ body: [UInt8]) -> [UInt8] {
    Varint.encode(UInt64(body.count)) + body
}

func carRawBlock(_ text: String) throws -> Block {
    try Block(data: Array(text.utf8), codec: .raw)
}

func carSection(_ block: Block) -> [UInt8] {
    block.cid.bytes + block.data
}

// MARK: - Reader tests against the vectors

@Suite("CAR reader: go-car and js-car vectors", .onBlockingPool)
struct CarReaderVectorTests {
    static let sampleV1Root = "bafy2bzaced4ueelaegfs5fqu4tzsh6ywbbpfk3cxppupmxfdhbpbhzawfw5oy"

    static let jsCarNames: [String] = [
        "sample-v1.car", "sample-v1-noidentity.car", "sample-unixfs-v2.car", "sample-rw-bs-v2.car",
        "sample-v1-with-zero-len-section.car", "sample-v1-with-zero-len-section2.car", "sample-wrapped-v2.car",
        "sample-rootless-v42.car", "sample-v1-tailing-corrupt-section.car", "sample-v2-corrupt-data-and-index.car",
        "sample-corrupt-pragma.car", "sample-v2-indexless.car",
    ]

    /// js-car test/fixtures-expectations.js: header version or header error, then the CID list.
    @Test("js-car fixture expectations", arguments: jsCarNames)
    func jsCarExpectations(name: String) throws {
        let table = try #require(try CarFixtures.json("car/js-car-fixtures-expectations.json") as? [String: [String: Any]])
        let expected = try #require(table[name])
        let path = try CarFixtures.path("car/go-car/\(name)")
        if let message = expected["err"] as? String {
            let error = #expect(throws: CarError.self) { _ = try CarReader(path: path) }
            switch message {
            case "Invalid CAR version: 42":
                #expect(error == .unsupportedVersion(42, offset: 0))
            case "Unexpected end of data":
                // sample-corrupt-pragma: header cut short; sample-v2-corrupt-data-and-index: data
                // offset 2^64 − 1362 (offset + size overflows).
                switch error {
                case .truncated?, .invalidV2Header?: break
                default: Issue.record("\(name): unexpected error \(String(describing: error))")
                }
            default:
                Issue.record("unknown expectation \(message)")
            }
            return
        }
        var reader = try CarReader(path: path)
        if let version = expected["version"] as? Int {
            #expect(reader.header.version == UInt64(version))
        }
        if let cids = expected["cids"] as? [String] {
            var got: [String] = []
            while let block = try reader.next() { got.append(block.cid.description) }
            #expect(got == cids)
        }
    }

    /// car-roots.json for every CAR of vectors/car and vectors/gateway: header version, roots,
    /// CARv2 fields, and all sections read and verified (the known-corrupt files fail with the
    /// error their corruption calls for).
    @Test("every CAR in vectors/car and vectors/gateway", arguments: CarFixtures.allCARs)
    func everyCAR(relative: String) throws {
        let table = try CarFixtures.rootsTable()
        let facts = try #require(table[relative], "\(relative) not in car-roots.json")
        let result = try CarFixtures.readFile(relative)
        if facts["error"] != nil || (facts["header_version"] as? Int).map({ $0 != 1 && $0 != 2 }) == true {
            #expect(result.header == nil, "\(relative) header must be rejected")
            #expect(result.error != nil)
            return
        }
        let header = try #require(result.header, "\(relative): \(String(describing: result.error))")
        #expect(header.version == UInt64(try #require(facts["header_version"] as? Int)))
        let roots = try #require(facts["roots"] as? [String]).map { try CID($0) }
        #expect(header.roots == roots)
        if header.version == 2 {
            let v2 = try #require(header.v2)
            #expect(v2.dataOffset == UInt64(try #require(facts["data_offset"] as? Int)))
            #expect(v2.dataSize == UInt64(try #require(facts["data_size"] as? Int)))
            #expect(v2.indexOffset == UInt64(try #require(facts["index_offset"] as? Int)))
            #expect(v2.characteristics == CarCharacteristics())
        } else {
            #expect(header.v2 == nil)
        }
        let sections = try #require(facts["sections"] as? Int)
        switch relative {
        case "car/go-car/badsectionlength.car":
            guard case .invalidSectionLength(section: 0, offset: 18, length: _, reason: _)? = result.error else {
                Issue.record("badsectionlength: \(String(describing: result.error))")
                return
            }
        case "car/go-car/sample-v1-tailing-corrupt-section.car":
            #expect(result.sections.count == 1048)
            #expect(result.error == .truncated(part: "section 1048", offset: 479520, needed: 387, available: 374))
        case "car/go-car/sample-v1-with-zero-len-section.car":
            #expect(result.sections.count == 1049)
            #expect(result.error == .invalidSectionLength(section: 1049, offset: 479907, length: 0, reason: "zero-length section"))
        case "car/go-car/sample-v1-with-zero-len-section2.car":
            #expect(result.sections.count == 20)
            #expect(result.error == .invalidSectionLength(section: 20, offset: 20819, length: 0, reason: "zero-length section"))
        default:
            #expect(result.error == nil, "\(relative): \(String(describing: result.error))")
            #expect(result.sections.count == sections)
        }
    }

    /// go-car cmd/car/testdata/script/inspect.txt facts for sample-v1.car.
    @Test func sampleV1Facts() throws {
        let (header, blocks) = try CarReader.readAll(path: try CarFixtures.path("car/go-car/sample-v1.car"))
        #expect(header.version == 1)
        #expect(header.roots == [try CID(Self.sampleV1Root)])
        #expect(blocks.count == 1049)
        let cbor = blocks.filter { $0.cid.codec == .dagCBOR && $0.cid.multihash.function == .blake2b_256 }
        let identityRaw = blocks.filter { $0.cid.codec == .raw && $0.cid.multihash.function == .identity }
        #expect(cbor.count == 1043)
        #expect(identityRaw.count == 6)
        let lengths = blocks.map(\.data.count)
        #expect(lengths.min() == 1)
        #expect(lengths.max() == 1342)
        #expect(lengths.reduce(0, +) / lengths.count == 417)
        // cmd/car/testdata/inputs/<cid>.block is that block's bytes (get-block.txt).
        let name = "bafy2bzacebohz654namrgmwjjx4qmtwgxixsd7pn4tlanyrc3g3hwj75hlxrw"
        let expected = try CarFixtures.bytes("car/go-car/\(name).block")
        #expect(blocks.first { $0.cid.description == name }?.data == expected)
    }

    /// The CARv2 wrappings of sample-v1 hold exactly its sections, at the same payload offsets.
    @Test(arguments: ["car/go-car/sample-wrapped-v2.car", "car/go-car/sample-v2-indexless.car"])
    func wrappedV2MatchesV1(relative: String) throws {
        let (v1Header, v1Sections) = try CarFixtures.sections(try CarFixtures.bytes("car/go-car/sample-v1.car"))
        var reader = try CarReader(path: try CarFixtures.path(relative))
        let v2 = try #require(reader.header.v2)
        #expect(reader.header.version == 2)
        #expect(reader.header.roots == v1Header.roots)
        #expect(v2.dataOffset == 51 && v2.dataSize == 479907)
        #expect(reader.header.dataOffset == 51 && reader.header.dataSize == 479907)
        var sections: [CarSection] = []
        while let section = try reader.nextSection() { sections.append(section) }
        #expect(sections.map(\.block) == v1Sections.map(\.block))
        #expect(sections.map(\.payloadOffset) == v1Sections.map(\.offset))
        #expect(sections.map(\.offset) == v1Sections.map { $0.offset + 51 })
        #expect(reader.offset == 51 + 479907)
        if v2.hasIndex {
            #expect(v2.indexOffset == 479958)
            let index = try #require(try reader.readIndex())
            #expect(index.format == .multihashIndexSorted)
            // Identity CIDs are not indexed (the fully-indexed characteristic is off).
            let indexed = sections.filter { $0.block.cid.multihash.function != .identity }
            #expect(index.entries.count == indexed.count)
            for section in indexed {
                #expect(index.offsets(of: section.block.cid.multihash) == [section.payloadOffset])
            }
            // go-car `car index` output for the same payload is the same index.
            let standalone = try CarIndex(decoding: try CarFixtures.bytes("car/go-car/sample-multihash-index-sorted.carindex"))
            #expect(standalone == index)
        } else {
            #expect(try reader.readIndex() == nil)
        }
    }

    /// sample-index.carindex: the older IndexSorted format (digests only, identity included).
    @Test func indexSortedFile() throws {
        let index = try CarIndex(decoding: try CarFixtures.bytes("car/go-car/sample-index.carindex"))
        #expect(index.format == .indexSorted)
        let (_, sections) = try CarFixtures.sections(try CarFixtures.bytes("car/go-car/sample-v1.car"))
        var byOffset: [UInt64: CarSection] = [:]
        for section in sections { byOffset[section.offset] = section }
        #expect(!index.entries.isEmpty)
        for entry in index.entries {
            let section = try #require(byOffset[entry.offset], "no section at \(entry.offset)")
            #expect(section.block.cid.multihash.digest == entry.digest)
            #expect(entry.hashCode == nil)
        }
        #expect(Set(index.entries.map(\.offset)).count == sections.count)
    }

    @Test func readIndexSkipsUnreadSections() throws {
        var reader = try CarReader(path: try CarFixtures.path("car/go-car/sample-wrapped-v2.car"))
        _ = try reader.next()
        let index = try #require(try reader.readIndex())
        #expect(index.entries.count == 1043)
        #expect(try reader.next() == nil)
    }

    /// go-car: badheaderlength → "invalid header data", badsectionlength → "invalid section data".
    @Test func goCarBadLengths() throws {
        let header = #expect(throws: CarError.self) {
            _ = try CarReader(path: try CarFixtures.path("car/go-car/badheaderlength.car"))
        }
        guard case .invalidHeaderLength(_, maximum: 32 << 20, offset: 0)? = header else {
            Issue.record("badheaderlength: \(String(describing: header))")
            return
        }
        #expect(header?.description.contains("invalid header data") == true)

        var reader = try CarReader(path: try CarFixtures.path("car/go-car/badsectionlength.car"))
        #expect(reader.roots.isEmpty)
        let section = #expect(throws: CarError.self) { _ = try reader.next() }
        #expect(section?.description.contains("invalid section data") == true)
        // The error sticks.
        #expect(throws: CarError.self) { _ = try reader.next() }
    }

    @Test func zeroLengthSectionAsEOF() throws {
        let options = CarReader.Options(zeroLengthSectionAsEOF: true)
        let padded = try CarFixtures.readFile("car/go-car/sample-v1-with-zero-len-section.car", options: options)
        #expect(padded.error == nil)
        let plain = try CarFixtures.readFile("car/go-car/sample-v1.car")
        #expect(padded.sections == plain.sections)
        let padded2 = try CarFixtures.readFile("car/go-car/sample-v1-with-zero-len-section2.car", options: options)
        #expect(padded2.error == nil)
        #expect(padded2.sections.count == 20)
    }

    /// ipld/ipld specs/transport/car/fixture: offsets and lengths of every section.
    @Test(arguments: ["carv1-basic", "carv2-basic"])
    func specFixture(name: String) throws {
        let description = try #require(try CarFixtures.json("car/ipld-spec/\(name).json") as? [String: Any])
        let header = try #require(description["header"] as? [String: Any])
        let blocks = try #require(description["blocks"] as? [[String: Any]])
        let (got, sections) = try CarFixtures.sections(try CarFixtures.bytes("car/ipld-spec/\(name).car"))
        #expect(got.version == UInt64(try #require(header["version"] as? Int)))
        let roots = try #require(header["roots"] as? [[String: String]]).map { try CID(try #require($0["/"])) }
        #expect(got.roots == roots)
        if got.version == 2 {
            #expect(got.dataOffset == UInt64(try #require(header["dataOffset"] as? Int)))
            #expect(got.dataSize == UInt64(try #require(header["dataSize"] as? Int)))
            #expect(got.indexOffset == UInt64(try #require(header["indexOffset"] as? Int)))
            #expect(got.characteristics == CarCharacteristics())
        }
        #expect(sections.count == blocks.count)
        for (section, block) in zip(sections, blocks) {
            let cid = try CID(try #require((block["cid"] as? [String: String])?["/"]))
            #expect(section.block.cid == cid)
            let varintLength = UInt64(Varint.encodedLength(of: section.length))
            #expect(section.offset == UInt64(try #require(block["offset"] as? Int)))
            #expect(section.length + varintLength == UInt64(try #require(block["length"] as? Int)))
            #expect(section.block.data.count == (block["blockLength"] as? Int))
            let blockOffset = section.offset + varintLength + UInt64(cid.bytes.count)
            #expect(blockOffset == UInt64(try #require(block["blockOffset"] as? Int)))
        }
    }

    /// The spec's carv2-basic index has no index-codec varint (written by an early go-car):
    /// blocks read fine, the index is reported as malformed.
    @Test func specV2IndexWithoutCodec() throws {
        var reader = try CarReader(path: try CarFixtures.path("car/ipld-spec/carv2-basic.car"))
        while try reader.next() != nil {}
        let error = #expect(throws: CarError.self) { _ = try reader.readIndex() }
        guard case .invalidIndex(_, offset: 499)? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
    }
}

// MARK: - Reader sources: path, descriptor (file and pipe), memory

@Suite("CAR reader: inputs", .onBlockingPool)
struct CarReaderInputTests {
    @Test func fileDescriptorAndMemoryAgree() throws {
        let path = try CarFixtures.path("car/go-car/sample-wrapped-v2.car")
        let fromPath = try CarFixtures.readFile("car/go-car/sample-wrapped-v2.car")
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var reader = try CarReader(fileDescriptor: fd)
        var viaFD: [CarSection] = []
        while let section = try reader.nextSection() { viaFD.append(section) }
        #expect(viaFD == fromPath.sections)
        let (_, inMemory) = try CarFixtures.sections(try CarFixtures.bytes("car/go-car/sample-wrapped-v2.car"))
        #expect(inMemory == fromPath.sections)
    }

    /// A pipe cannot seek: the CARv2 padding and the index are skipped by reading.
    @Test(arguments: ["car/go-car/sample-wrapped-v2.car", "car/go-car/sample-v1.car", "car/go-car/sample-rw-bs-v2.car"])
    func pipeInput(relative: String) throws {
        let bytes = try CarFixtures.bytes(relative)
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        let writeEnd = fds[1]
        let writer = Thread {
            bytes.withUnsafeBytes { raw in
                guard let base = raw.baseAddress else { return }
                var done = 0
                while done < raw.count {
                    let n = write(writeEnd, base + done, min(4093, raw.count - done))
                    if n <= 0 { break }
                    done += n
                }
            }
            close(writeEnd)
        }
        writer.start()
        var reader = try CarReader(fileDescriptor: fds[0], closeWhenDone: true)
        var blocks: [Block] = []
        while let block = try reader.next() { blocks.append(block) }
        let index = try reader.readIndex()
        let expected = try CarFixtures.readFile(relative)
        #expect(blocks == expected.sections.map(\.block))
        #expect((index != nil) == (expected.header?.v2?.hasIndex ?? false))
    }

    /// `nextBatch` returns the same blocks as `next()`, in order, verified in parallel.
    @Test(arguments: [1, 7, 1024])
    func batches(maxBlocks: Int) throws {
        let expected = try CarFixtures.readFile("car/go-car/sample-wrapped-v2.car").sections.map(\.block)
        var reader = try CarReader(path: try CarFixtures.path("car/go-car/sample-wrapped-v2.car"))
        var got: [Block] = []
        while true {
            let batch = try reader.nextBatch(maxBlocks: maxBlocks)
            if batch.isEmpty { break }
            #expect(batch.count <= maxBlocks)
            got += batch
        }
        #expect(got == expected)
        #expect(reader.sectionCount == expected.count)
        #expect(try reader.nextBatch().isEmpty)
    }

    /// A bad block in a batch: the valid blocks before it come first, the error next.
    @Test func batchFailures() throws {
        let blocks = try (0..<40).map { try Block(data: [UInt8](repeating: UInt8($0), count: 8000), codec: .raw) }
        var sections = blocks.map(carSection)
        sections[25] = blocks[25].cid.bytes + blocks[26].data
        let car = carV1(roots: [blocks[0].cid], sections: sections)
        var reader = try CarReader(bytes: car)
        let first = try reader.nextBatch()
        #expect(first == Array(blocks[0..<25]))
        let error = #expect(throws: CarError.self) { _ = try reader.nextBatch() }
        guard case .hashMismatch(cid: blocks[25].cid, section: 25, offset: _)? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(throws: CarError.self) { _ = try reader.next() }

        // A read error (here: the tail cut off) also comes after the blocks before it.
        let (_, all) = try CarFixtures.sections(try CarFixtures.bytes("car/go-car/sample-v1.car"))
        var cut = try CarReader(path: try CarFixtures.path("car/go-car/sample-v1-tailing-corrupt-section.car"))
        var got: [Block] = []
        let tail = #expect(throws: CarError.self) {
            while true {
                let batch = try cut.nextBatch(maxBlocks: 100)
                if batch.isEmpty { break }
                got += batch
            }
        }
        #expect(got == Array(all.map(\.block).prefix(1048)))
        guard case .truncated? = tail else {
            Issue.record("\(String(describing: tail))")
            return
        }
    }

    @Test func missingFile() {
        let error = #expect(throws: CarError.self) { _ = try CarReader(path: "/nonexistent/x.car") }
        #expect(error == .io(operation: "open", path: "/nonexistent/x.car", errno: ENOENT))
    }

    /// Blocks larger than the read buffer are read straight into place.
    @Test func largeBlocks() throws {
        let big = try Block(data: (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }, codec: .raw)
        let small = try carRawBlock("small")
        let car = carV1(roots: [big.cid], sections: [carSection(small), carSection(big), carSection(small)])
        let (_, sections) = try CarFixtures.sections(car)
        #expect(sections.map(\.block) == [small, big, small])
        let limited = #expect(throws: CarError.self) {
            _ = try CarFixtures.sections(car, options: CarReader.Options(maxSectionSize: 1 << 20))
        }
        guard case .invalidSectionLength(section: 1, offset: _, length: _, reason: _)? = limited else {
            Issue.record("\(String(describing: limited))")
            return
        }
    }
}

// MARK: - Header and section validation

@Suite("CAR reader: malformed input", .onBlockingPool)
struct CarReaderMalformedTests {
    func headerError(_ bytes: [UInt8]) -> CarError? {
        #expect(throws: CarError.self) { _ = try CarReader(bytes: bytes) }
    }

    // js-car test/test-errors.spec.js "bad header" cases.
    @Test func validHeaderNoRootsNoBlocks() throws {
        // {version: 1, roots: []}: go-car's header with zero roots.
        let bytes = Hex.decode("11a265726f6f7473806776657273696f6e01")
        var reader = try CarReader(bytes: try #require(bytes))
        #expect(reader.roots.isEmpty)
        #expect(try reader.next() == nil)
        #expect(CarWriter.header(roots: []) == bytes)
    }

    @Test func badHeaders() throws {
        // {version: 3}
        #expect(headerError(try #require(Hex.decode("0aa16776657273696f6e03"))) == .unsupportedVersion(3, offset: 0))
        // {roots: []} (no version)
        let noVersion: [UInt8] = [0xa1, 0x65] + Array("roots".utf8) + [0x80]
        guard case .invalidHeader? = headerError(carHeaderBlock(noVersion)) else { Issue.record("no version"); return }
        // {version: "1", roots: []}
        let stringVersion: [UInt8] = [0xa2, 0x65] + Array("roots".utf8) + [0x80, 0x67] + Array("version".utf8) + [0x61, 0x31]
        guard case .invalidHeader? = headerError(carHeaderBlock(stringVersion)) else { Issue.record("string version"); return }
        // {version: 1} (no roots)
        let noRoots: [UInt8] = [0xa1, 0x67] + Array("version".utf8) + [0x01]
        guard case .invalidHeader? = headerError(carHeaderBlock(noRoots)) else { Issue.record("no roots"); return }
        // {roots: {}, version: 1}
        let mapRoots: [UInt8] = [0xa2, 0x65] + Array("roots".utf8) + [0xa0, 0x67] + Array("version".utf8) + [0x01]
        guard case .invalidHeader? = headerError(carHeaderBlock(mapRoots)) else { Issue.record("map roots"); return }
        // {roots: [], version: 1, blip: true}
        let extra: [UInt8] = [0xa3, 0x64] + Array("blip".utf8) + [0xf5, 0x65] + Array("roots".utf8) + [0x80, 0x67]
            + Array("version".utf8) + [0x01]
        guard case .invalidHeader? = headerError(carHeaderBlock(extra)) else { Issue.record("extra key"); return }
        // [1, []] and null
        guard case .invalidHeader? = headerError(carHeaderBlock([0x82, 0x01, 0x80])) else { Issue.record("array"); return }
        guard case .invalidHeader? = headerError(carHeaderBlock([0xf6])) else { Issue.record("null"); return }
        // duplicate key
        let duplicate: [UInt8] = [0xa2, 0x67] + Array("version".utf8) + [0x01, 0x67] + Array("version".utf8) + [0x01]
        guard case .invalidHeader? = headerError(carHeaderBlock(duplicate)) else { Issue.record("duplicate"); return }
        // root not tagged 42
        let untagged: [UInt8] = [0xa2, 0x65] + Array("roots".utf8) + [0x81, 0x41, 0x00, 0x67] + Array("version".utf8) + [0x01]
        guard case .invalidHeader? = headerError(carHeaderBlock(untagged)) else { Issue.record("untagged root"); return }
        // trailing byte inside the header block
        guard case .invalidHeader? = headerError(carHeaderBlock(try #require(Hex.decode("a265726f6f7473806776657273696f6e0100")))) else {
            Issue.record("trailing")
            return
        }
        // zero-length header
        #expect(headerError([0x00]) == .invalidHeaderLength(length: 0, maximum: 32 << 20, offset: 0))
        // empty input
        #expect(headerError([]) == .truncated(part: "header length", offset: 0, needed: 1, available: 0))
        // a non-minimal header length varint
        guard case .invalidVarint? = headerError([0x91, 0x00]) else { Issue.record("varint"); return }
    }

    @Test func keyOrderIsNotEnforced() throws {
        let root = try carRawBlock("root").cid
        let cid = [0x00] + root.bytes
        let body: [UInt8] = [0xa2, 0x67] + Array("version".utf8) + [0x01, 0x65] + Array("roots".utf8)
            + [0x81, 0xd8, 0x2a, 0x58, UInt8(cid.count)] + cid
        let reader = try CarReader(bytes: carHeaderBlock(body))
        #expect(reader.roots == [root])
    }

    /// js-car "recursive v2 header": a CARv2 whose payload is again a CARv2 pragma.
    @Test func recursiveV2Header() throws {
        let inner = v2(dataOffset: 51, dataSize: 1, payload: [])
        let error = headerError(v2(dataOffset: 51, dataSize: UInt64(inner.count), payload: inner))
        guard case .invalidV2Header? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
    }

    func v2(dataOffset: UInt64, dataSize: UInt64, indexOffset: UInt64 = 0, payload: [UInt8]) -> [UInt8] {
        var out = CarV2Header.pragma + [UInt8](repeating: 0, count: 16)
        for value in [dataOffset, dataSize, indexOffset] {
            for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        return out + payload
    }

    @Test func badV2Headers() throws {
        let block = try carRawBlock("x")
        let payload = carV1(roots: [block.cid], sections: [carSection(block)])
        let size = UInt64(payload.count)
        // Valid, with padding before the payload.
        let padded = v2(dataOffset: 55, dataSize: size, payload: [0, 0, 0, 0] + payload)
        #expect(try CarFixtures.sections(padded).1.map(\.block) == [block])
        // Data offset inside the header.
        guard case .invalidV2Header? = headerError(v2(dataOffset: 50, dataSize: size, payload: payload)) else {
            Issue.record("offset 50")
            return
        }
        // Zero data size.
        #expect(headerError(v2(dataOffset: 51, dataSize: 0, payload: payload)) == .invalidV2Header(reason: "data size is 0"))
        // Payload longer than the file.
        guard case .truncated? = headerError(v2(dataOffset: 51, dataSize: size + 1, payload: payload)) else {
            Issue.record("size + 1")
            return
        }
        // 40-byte header cut short.
        guard case .truncated? = headerError(Array(v2(dataOffset: 51, dataSize: size, payload: payload)[0..<30])) else {
            Issue.record("short header")
            return
        }
        // A section that runs past the declared payload: the last byte is left outside it.
        let cut = v2(dataOffset: 51, dataSize: size - 1, payload: payload)
        let error = #expect(throws: CarError.self) { _ = try CarFixtures.sections(cut) }
        guard case .invalidSectionLength(section: 0, offset: _, length: _, reason: _)? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        // Pragma with roots is not a CARv2 pragma.
        let rootsV2: [UInt8] = [0xa2, 0x65] + Array("roots".utf8) + [0x80, 0x67] + Array("version".utf8) + [0x02]
        guard case .invalidHeader? = headerError(carHeaderBlock(rootsV2)) else { Issue.record("v2 roots"); return }
    }

    @Test func badSections() throws {
        let good = try carRawBlock("good")
        let other = try carRawBlock("other")
        // Bytes that do not hash to the CID: the error names the CID, section and offset.
        let header = CarWriter.header(roots: [good.cid])
        let mismatch = carV1(roots: [good.cid], sections: [carSection(good), good.cid.bytes + other.data])
        let secondOffset = UInt64(header.count + 1 + good.cid.bytes.count + good.data.count)
        let error = #expect(throws: CarError.self) { _ = try CarFixtures.sections(mismatch) }
        #expect(error == .hashMismatch(cid: good.cid, section: 1, offset: secondOffset))
        #expect(error?.description.contains(good.cid.description) == true)
        // ... accepted when verification is off.
        let trusted = try CarFixtures.sections(mismatch, options: CarReader.Options(verifyBlocks: false))
        #expect(trusted.1.count == 2)

        // js-car "Unexpected CID version (0)": a section starting with 0x00.
        let versionZero = carV1(roots: [good.cid], sections: [[0x00] + Array(good.cid.bytes.dropFirst()) + good.data])
        guard case .invalidSectionCID(section: 0, offset: _, error: .unsupportedVersion(0, offset: 0))? =
            #expect(throws: CarError.self, performing: { _ = try CarFixtures.sections(versionZero) })
        else {
            Issue.record("CID version 0")
            return
        }

        // A hash function this build cannot compute (murmur3-x64-64, 0x22).
        let murmur = try CID(version: .v1, codec: .raw, multihash: Multihash(code: 0x22, digest: [1, 2, 3, 4, 5, 6, 7, 8]))
        let unverifiable = carV1(roots: [murmur], sections: [murmur.bytes + [1]])
        #expect(throws: CarError.unsupportedHash(cid: murmur, section: 0, offset: UInt64(CarWriter.header(roots: [murmur]).count))) {
            _ = try CarFixtures.sections(unverifiable)
        }

        // Truncations: inside the length varint, inside the CID, inside the data.
        let whole = carV1(roots: [good.cid], sections: [carSection(good)])
        let headerLength = CarWriter.header(roots: [good.cid]).count
        for cut in [headerLength + 3, whole.count - 1] {
            guard case .truncated? = #expect(throws: CarError.self, performing: { _ = try CarFixtures.sections(Array(whole[0..<cut])) }) else {
                Issue.record("cut at \(cut)")
                continue
            }
        }
        let varintCut = CarWriter.header(roots: []) + [0x80]
        guard case .truncated? = #expect(throws: CarError.self, performing: { _ = try CarFixtures.sections(varintCut) }) else {
            Issue.record("varint cut")
            return
        }

        // An identity CID is verified against its inline bytes; the empty raw block is fine.
        let identity = try CID(version: .v1, codec: .raw, multihash: Multihash.hash(Array("inline".utf8), with: .identity))
        let empty = try Block(data: [], codec: .raw)
        let ok = carV1(roots: [identity], sections: [identity.bytes + Array("inline".utf8), carSection(empty)])
        #expect(try CarFixtures.sections(ok).1.map(\.block.data) == [Array("inline".utf8), []])
        let badIdentity = carV1(roots: [identity], sections: [identity.bytes + Array("inlinE".utf8)])
        #expect(throws: CarError.hashMismatch(cid: identity, section: 0, offset: UInt64(CarWriter.header(roots: [identity]).count))) {
            _ = try CarFixtures.sections(badIdentity)
        }
    }

    /// A CID longer than the reader's look-ahead window still decodes (slow path).
    @Test func longIdentityCID() throws {
        let inline = [UInt8](repeating: 0x61, count: 2000)
        let identity = try CID(version: .v1, codec: .raw, multihash: Multihash.hash(inline, with: .identity))
        let car = carV1(roots: [identity], sections: [identity.bytes + inline])
        #expect(try CarFixtures.sections(car).1.map(\.block.cid) == [identity])
    }
}
