import BlockingPool
import Foundation
import Multiformats
import Testing

@testable import IPLD
import TestSupport

@Suite("CAR writer", .onBlockingPool)
struct CarWriterTests {
    func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("car-writer-\(UUID().uuidString)-\(name)").path
    }

    /// Rewriting the blocks of a go-car / spec CARv1 with its roots reproduces the file byte for byte.
    @Test(arguments: [
        "car/go-car/sample-v1.car", "car/go-car/sample-v1-noidentity.car", "car/ipld-spec/carv1-basic.car",
        "gateway/path_gateway_unixfs/dir-with-files.car", "gateway/trustless_gateway_car/single-layer-hamt-with-multi-block-files.car",
    ])
    func byteExactRoundTrip(relative: String) throws {
        let original = try CarFixtures.bytes(relative)
        let (header, sections) = try CarFixtures.sections(original)
        let path = temporaryPath("roundtrip.car")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var writer = try CarWriter(path: path, roots: header.roots)
        for section in sections { try writer.write(section.block) }
        #expect(writer.bytesWritten == UInt64(original.count))
        #expect(writer.blocksWritten == sections.count)
        try writer.finish()
        let written = try CarFixtures.sections(try bytes(at: path))
        #expect(written.0.roots == header.roots)
        #expect(written.1 == sections)
        #expect(try bytes(at: path) == original)
    }

    /// The inner CARv1 of a CARv2 is what the writer produces from its blocks.
    @Test func v2PayloadRoundTrip() throws {
        let original = try CarFixtures.bytes("car/go-car/sample-wrapped-v2.car")
        let (header, sections) = try CarFixtures.sections(original)
        let v2 = try #require(header.v2)
        let collected = Locked<[UInt8]>([])
        var writer = CarWriter(roots: header.roots, bufferSize: 4096) { chunk in
            collected.withLock { $0.append(contentsOf: chunk) }
        }
        for section in sections { try writer.write(section.block) }
        try writer.finish()
        let payload = Array(original[Int(v2.dataOffset)..<Int(v2.dataOffset + v2.dataSize)])
        #expect(collected.withLock { $0 } == payload)
    }

    @Test func writeReadRoundTripThroughFileDescriptor() throws {
        // Small, empty, identity, CIDv0 dag-pb and large (buffer-bypassing) blocks.
        let small = try carRawBlock("hello")
        let empty = try Block(data: [], codec: .raw)
        let identity = Block(cid: try CID(version: .v1, codec: .raw, multihash: Multihash.hash([1, 2, 3], with: .identity)), data: [1, 2, 3])
        let pb = try Block(data: [0x0a, 0x02, 0x08, 0x01], codec: .dagPB, version: .v0)
        let large = try Block(data: (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }, codec: .raw)
        let blocks = [small, empty, identity, pb, large, small]
        let roots = [pb.cid, small.cid]

        let path = temporaryPath("fd.car")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        try #require(fd >= 0)
        var writer = CarWriter(fileDescriptor: fd, roots: roots, bufferSize: 64 * 1024)
        for block in blocks { try writer.write(block) }
        let expectedLength = writer.bytesWritten
        try writer.finish()
        #expect(close(fd) == 0)  // not owned: still open after finish()
        #expect(throws: CarError.writerFinished) { try writer.write(small) }

        let data = try bytes(at: path)
        #expect(UInt64(data.count) == expectedLength)
        var reader = try CarReader(path: path)
        #expect(reader.header == CarHeader(version: 1, roots: roots))
        var read: [Block] = []
        while let block = try reader.next() { read.append(block) }
        #expect(read == blocks)
    }

    @Test func headerEncoding() throws {
        // go-car v2 block_reader_test.go: the zero-roots CARv1 header.
        #expect(Hex.encode(CarWriter.header(roots: [])) == "11a265726f6f7473806776657273696f6e01")
        // The spec fixture's two-root header.
        let spec = try CarFixtures.bytes("car/ipld-spec/carv1-basic.car")
        let roots = try CarReader(bytes: spec).roots
        let header = CarWriter.header(roots: roots)
        #expect(Array(spec[0..<header.count]) == header)
        // Headers longer than 255 bytes (2-byte CBOR array / byte-string lengths, 2-byte varint).
        let many = try (0..<30).map { try carRawBlock("root \($0)").cid }
        let long = CarWriter.header(roots: many)
        #expect(try CarReader(bytes: long).roots == many)
    }

    @Test func sinkErrorsSurface() throws {
        struct Refused: Error {}
        var writer = CarWriter(roots: [], bufferSize: 1024) { _ in throw Refused() }
        let error = #expect(throws: CarError.self) {
            try writer.write(try Block(data: [UInt8](repeating: 1, count: 4096), codec: .raw))
        }
        guard case .sink? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
    }

    @Test func unwritablePath() {
        let error = #expect(throws: CarError.self) { _ = try CarWriter(path: "/nonexistent-dir/out.car", roots: []) }
        #expect(error == .io(operation: "open", path: "/nonexistent-dir/out.car", errno: ENOENT))
    }

    func bytes(at path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
