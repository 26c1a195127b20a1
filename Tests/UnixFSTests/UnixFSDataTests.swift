import Foundation
import Testing

@testable import UnixFS
import TestSupport

@Suite("UnixFS Data protobuf", .onBlockingPool)
struct UnixFSDataTests {
    private func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: fixtureURL("go-unixfsnode/data/\(name)")))
    }

    @Test("go-unixfsnode data fixtures decode and re-encode byte for byte")
    func goUnixfsnodeFixtures() throws {
        for name in ["raw.unixfs", "file.txt.unixfs"] {
            let bytes = try fixture(name)
            let data = try UnixFSData(decoding: bytes)
            #expect(data.type == .file)
            #expect(data.data == Array("Hello UnixFS\n".utf8))
            #expect(data.fileSize == 13)
            #expect(data.encoded() == bytes)
        }
        let directory = try fixture("directory.unixfs")
        #expect(try UnixFSData(decoding: directory) == UnixFSData(type: .directory))
        #expect(UnixFSData(type: .directory).encoded() == directory)
        let symlink = try fixture("symlink.txt.unixfs")
        let decoded = try UnixFSData(decoding: symlink)
        #expect(decoded.type == .symlink)
        #expect(decoded.data == Array("file.txt".utf8))
        #expect(decoded.encoded() == symlink)
    }

    @Test("HAMT shard fields are written in field order (Type, Data, hashType, fanout)")
    func hamtFieldOrder() {
        let data = UnixFSData(type: .hamtShard, data: [0x80], hashType: 0x22, fanout: 256)
        #expect(data.encoded() == [0x08, 0x05, 0x12, 0x01, 0x80, 0x28, 0x22, 0x30, 0x80, 0x02])
        #expect(data.encodedSize == data.encoded().count)
    }

    @Test("file node: filesize then unpacked blocksizes")
    func fileNode() throws {
        let data = UnixFSData(type: .file, fileSize: 300, blockSizes: [262_144, 38])
        let bytes = data.encoded()
        #expect(bytes == [0x08, 0x02, 0x18, 0xac, 0x02, 0x20, 0x80, 0x80, 0x10, 0x20, 0x26])
        #expect(try UnixFSData(decoding: bytes) == data)
    }

    @Test("mode and mtime (UnixFS 1.5) round-trip, including negative seconds and nanoseconds")
    func modeAndMtime() throws {
        let cases: [UnixFSData] = [
            UnixFSData(type: .file, fileSize: 0, mode: 0o644, mtime: UnixFSTime(seconds: 1_700_000_000)),
            UnixFSData(type: .directory, mode: 0o4755, mtime: UnixFSTime(seconds: -1, nanoseconds: 999_999_999)),
            UnixFSData(type: .symlink, data: Array("x".utf8), mtime: UnixFSTime(seconds: 0, nanoseconds: 1)),
        ]
        for data in cases {
            let bytes = data.encoded()
            #expect(bytes.count == data.encodedSize)
            #expect(try UnixFSData(decoding: bytes) == data)
        }
        // Negative seconds are a 10-byte varint; nanos a fixed32.
        let negative = UnixFSTime(seconds: -2, nanoseconds: 5)
        var out: [UInt8] = []
        negative.encode(into: &out)
        #expect(out == [0x08, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x15, 0x05, 0x00, 0x00, 0x00])
        #expect(UnixFSData(type: .file, mode: 0o100644).permissions == 0o644)
    }

    @Test("packed blocksizes and unknown fields are accepted")
    func lenientDecoding() throws {
        // Type=File, blocksizes packed [1, 300], unknown field 15 (varint 7).
        let bytes: [UInt8] = [0x08, 0x02, 0x22, 0x03, 0x01, 0xac, 0x02, 0x78, 0x07]
        let data = try UnixFSData(decoding: bytes)
        #expect(data.blockSizes == [1, 300])
    }

    @Test("malformed messages are rejected with the field and offset")
    func rejects() {
        #expect(throws: UnixFSDataError.missingType) { try UnixFSData(decoding: [0x18, 0x01]) }
        #expect(throws: UnixFSDataError.unknownType(9, offset: 0)) { try UnixFSData(decoding: [0x08, 0x09]) }
        #expect(throws: UnixFSDataError.truncated(field: "Data", offset: 2)) {
            try UnixFSData(decoding: [0x08, 0x02, 0x12, 0x05, 0x01])
        }
        #expect(throws: UnixFSDataError.invalidWireType(field: "Type", wireType: 2, offset: 0)) {
            try UnixFSData(decoding: [0x0a, 0x00])
        }
        #expect(throws: UnixFSDataError.varintOverflow(field: "filesize", offset: 2)) {
            try UnixFSData(decoding: [0x08, 0x02, 0x18] + [UInt8](repeating: 0xff, count: 10) + [0x01])
        }
        #expect(throws: UnixFSDataError.missingMtimeSeconds(offset: 4)) {
            try UnixFSData(decoding: [0x08, 0x02, 0x42, 0x05, 0x15, 0x01, 0x00, 0x00, 0x00])
        }
    }
}
