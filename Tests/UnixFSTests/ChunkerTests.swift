import Foundation
import IPLD
import Testing

@testable import UnixFS
import TestSupport

/// The generator of buzhash-reference.go.txt: xorshift64* bytes (little-endian words), zeros in
/// [zeroFrom, zeroTo), `insert` placed before index `insertAt`.
private func referenceData(size: Int, zeroFrom: Int, zeroTo: Int, insertAt: Int = -1, insert: [UInt8] = []) -> [UInt8] {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var word: [UInt8] = []
    var out: [UInt8] = []
    out.reserveCapacity(size + insert.count)
    for i in 0..<size {
        if i == insertAt { out.append(contentsOf: insert) }
        if word.isEmpty {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            let v = state &* 2_685_821_657_736_338_717
            word = (0..<8).reversed().map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }
        }
        var b = word.removeLast()
        if i >= zeroFrom && i < zeroTo { b = 0 }
        out.append(b)
    }
    return out
}

/// A source that returns at most `step` bytes per read (as the Go reference reader).
private struct SteppedSource: ByteSource {
    var inner: BytesSource
    let step: Int
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImportError) -> Int {
        try inner.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(step, buffer.count)]))
    }
}

private func chunkSizes(_ chunker: Chunker, _ bytes: [UInt8], step: Int = 1 << 30) throws -> [Int] {
    var splitter = chunker.splitter(for: SteppedSource(inner: BytesSource(bytes), step: step))
    var sizes: [Int] = []
    var joined: [UInt8] = []
    while let chunk = try splitter.next() {
        sizes.append(chunk.count)
        joined.append(contentsOf: chunk)
    }
    #expect(joined == bytes)
    return sizes
}

@Suite("Chunkers", .onBlockingPool)
struct ChunkerTests {
    @Test("Kubo chunker strings")
    func parsing() throws {
        #expect(try Chunker(parsing: "") == .fixed(size: 262_144))
        #expect(try Chunker(parsing: "default") == .fixed(size: 262_144))
        #expect(try Chunker(parsing: "size-1024") == .fixed(size: 1024))
        #expect(try Chunker(parsing: "buzhash") == .buzhash)
        #expect(Chunker.fixed(size: 1_048_576).description == "size-1048576")
        for bad in ["size-0", "size-", "size-abc", "rabin", "size-1-2", "size-\(Chunker.maxChunkSize + 1)", "Size-5"] {
            #expect(throws: ImportError.self) { try Chunker(parsing: bad) }
        }
    }

    @Test("fixed-size chunk edges", arguments: [0, 1, 262_143, 262_144, 262_145, 3 * 262_144 + 7])
    func fixedEdges(size: Int) throws {
        let bytes = ChaChaSource.bytes(seed: "edges", size: size)
        let sizes = try chunkSizes(.default, bytes, step: 100_000)
        let expected = Array(repeating: 262_144, count: size / 262_144) + (size % 262_144 == 0 ? [] : [size % 262_144])
        #expect(sizes == expected)
    }

    @Test("buzhash cuts exactly where boxo's does (reference run of chunker/buzhash.go)")
    func buzhashMatchesBoxo() throws {
        let url = try fixtureURL("buzhash-boundaries.json")
        let reference = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: [Int]])
        let size = 8 << 20
        let inputs: [String: [UInt8]] = [
            "plain": referenceData(size: size, zeroFrom: 3 << 20, zeroTo: 3 << 20 + 3 << 19),
            "edited": referenceData(
                size: size, zeroFrom: 3 << 20, zeroTo: 3 << 20 + 3 << 19, insertAt: 5 << 20 + 12345,
                insert: Array("an edit in the middle of the file".utf8)),
            "small": referenceData(size: 100_000, zeroFrom: 0, zeroTo: 0),
            "exact-min": referenceData(size: 128 << 10, zeroFrom: 0, zeroTo: 0),
            "min-plus-one": referenceData(size: 128 << 10 + 1, zeroFrom: 0, zeroTo: 0),
        ]
        for (name, bytes) in inputs {
            let expected = try #require(reference[name])
            #expect(try chunkSizes(.buzhash, bytes, step: 100_000) == expected, "case \(name)")
            if bytes.count < 1 << 20 {
                #expect(try chunkSizes(.buzhash, bytes) == expected, "case \(name), whole reads")
            }
        }
        #expect(try chunkSizes(.buzhash, []) == [])
    }

    @Test("buzhash keeps the unchanged chunks of an edited file deduplicated")
    func buzhashDedup() throws {
        let original = ChaChaSource.bytes(seed: "buzhash-dedup", size: 6 << 20)
        var edited = original
        edited.insert(contentsOf: Array("inserted text".utf8), at: 2_000_000)
        edited.removeSubrange(4_500_000..<4_500_100)
        var options = ImportOptions()
        options.chunker = .buzhash
        options.rawLeaves = true
        options.cidVersion = .v1
        let (a, storeA) = try importToStore(options, bytes: original)
        let (b, storeB) = try importToStore(options, bytes: edited)
        let leavesA = Set(try storeA.allMultihashes())
        let leavesB = Set(try storeB.allMultihashes())
        let shared = leavesA.intersection(leavesB).count
        // Two edits touch at most two chunks each; everything else but the root is shared.
        #expect(leavesA.count >= 12)
        #expect(shared >= leavesA.count - 1 - 4, "\(shared) of \(leavesA.count) blocks shared")
        #expect(a.root.cid != b.root.cid)
        // The fixed chunker shares nothing after the insertion point.
        options.chunker = .default
        let (_, fixedA) = try importToStore(options, bytes: original)
        let (_, fixedB) = try importToStore(options, bytes: edited)
        let fixedShared = Set(try fixedA.allMultihashes()).intersection(Set(try fixedB.allMultihashes())).count
        #expect(fixedShared < shared)
    }
}
