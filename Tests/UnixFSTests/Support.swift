import BlockStore
import CSodium
import Foundation
import IPLD
import Multiformats
import Testing

@testable import UnixFS

/// Kubo's deterministic test bytes (test/cli/testutils/random_deterministic.go): the ChaCha20
/// (IETF, 12-byte zero nonce, counter from 0) keystream under key SHA-256(seed), streamed.
struct ChaChaSource: ByteSource {
    private let key: [UInt8]
    private var produced: UInt64 = 0
    private let total: UInt64

    init(seed: String, size: UInt64) {
        precondition(sodium_init() >= 0)
        key = Sha256.digest(Array(seed.utf8))
        total = size
    }

    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws(ImportError) -> Int {
        let n = Int(min(UInt64(buffer.count), total - produced))
        guard n > 0, let base = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        var done = 0
        let nonce = [UInt8](repeating: 0, count: 12)
        key.withUnsafeBufferPointer { k in
            nonce.withUnsafeBufferPointer { nn in
                guard let keyBase = k.baseAddress, let nonceBase = nn.baseAddress else { return }
                // Unaligned start: one 64-byte block, keep its tail.
                let skip = Int(produced % 64)
                if skip != 0 {
                    var block = [UInt8](repeating: 0, count: 64)
                    block.withUnsafeMutableBufferPointer { b in
                        guard let blockBase = b.baseAddress else { return }
                        crypto_stream_chacha20_ietf_xor_ic(blockBase, blockBase, 64, nonceBase, UInt32(produced / 64), keyBase)
                    }
                    let take = min(64 - skip, n)
                    for i in 0..<take { base[i] = block[skip + i] }
                    done = take
                }
                let rest = n - done
                if rest > 0 {
                    let out = base + done
                    out.initialize(repeating: 0, count: rest)
                    crypto_stream_chacha20_ietf_xor_ic(
                        out, out, UInt64(rest), nonceBase, UInt32((produced + UInt64(done)) / 64), keyBase)
                }
            }
        }
        produced += UInt64(n)
        return n
    }

    /// The whole stream in memory (small sizes only).
    static func bytes(seed: String, size: Int) -> [UInt8] {
        var source = ChaChaSource(seed: seed, size: UInt64(size))
        var out = [UInt8](repeating: 0, count: size)
        out.withUnsafeMutableBytes { raw in
            var filled = 0
            while filled < size {
                let n = (try? source.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[filled...]))) ?? 0
                if n == 0 { break }
                filled += n
            }
        }
        return out
    }
}

/// Kubo's deterministic file names (test/cli/add_test.go createDeterministicFiles).
func deterministicNames(seed: String, count: Int, nameLength: Int, lastNameLength: Int) -> [String] {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyz01234567890-_".utf8)
    let needed = (count - 1) * nameLength + lastNameLength
    let stream = ChaChaSource.bytes(seed: seed, size: needed)
    var names: [String] = []
    var offset = 0
    for i in 0..<count {
        let length = i == count - 1 ? lastNameLength : nameLength
        let bytes = stream[offset..<(offset + length)].map { alphabet[Int($0) % alphabet.count] }
        names.append(String(decoding: bytes, as: UTF8.self))
        offset += length
    }
    return names
}

/// Imports and returns the root CID string (only-hash).
func rootCID(_ options: ImportOptions, bytes: [UInt8]) throws -> String {
    try Importer(options: options, sink: nil).add(bytes: bytes).root.cid.description
}

/// Imports into a fresh memory store; returns the result and the store.
func importToStore(_ options: ImportOptions = ImportOptions(), bytes: [UInt8]) throws -> (ImportResult, MemoryBlockStore) {
    let store = MemoryBlockStore()
    let sink = BatchingBlockSink(store: store, maxBlocks: 7)
    let result = try Importer(options: options, sink: sink).add(bytes: bytes)
    return (result, store)
}

func importTreeToStore(_ options: ImportOptions = ImportOptions(), tree: ImportNode) throws -> (ImportResult, MemoryBlockStore) {
    let store = MemoryBlockStore()
    let sink = BatchingBlockSink(store: store)
    let result = try Importer(options: options, sink: sink).add(tree: tree)
    return (result, store)
}

/// Reads the whole file `cid`.
func catAll(_ exporter: Exporter, _ cid: CID, offset: UInt64 = 0, length: UInt64? = nil) throws -> [UInt8] {
    var out: [UInt8] = []
    try exporter.cat(cid, offset: offset, length: length) { out.append(contentsOf: $0) }
    return out
}

/// URL of a fixture file under Fixtures/.
func fixtureURL(_ path: String) throws -> URL {
    let url = (path as NSString)
    let name = (url.lastPathComponent as NSString).deletingPathExtension
    let ext = url.pathExtension
    let dir = "Fixtures/" + url.deletingLastPathComponent
    return try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: dir), "fixture \(path)")
}

/// All blocks of a CAR fixture in a memory store, with the CAR's roots.
func loadCAR(_ path: String) throws -> (roots: [CID], store: MemoryBlockStore) {
    let (header, blocks) = try CarReader.readAll(path: try fixtureURL(path).path)
    return (header.roots, MemoryBlockStore(blocks))
}

/// A fresh temporary directory.
func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "unixfs-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

func readFile(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func cid(_ string: String) throws -> CID {
    try CID(string)
}
