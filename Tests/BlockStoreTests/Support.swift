import Foundation
import IPLD
import Multiformats
import Testing

@testable import BlockStore

/// A fresh temporary folder, removed by `cleanup()`.
final class TempDir: Sendable {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("jz-blockstore-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func cleanup() { try? FileManager.default.removeItem(at: url) }

    deinit { cleanup() }
}

/// Which store a parameterised test runs on.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, sqliteWAL, sqliteRollback

    var testDescription: String { rawValue }

    /// A new empty store; `dir` must outlive it.
    func make(in dir: TempDir) throws -> any PinStore {
        switch self {
        case .memory: return MemoryBlockStore()
        case .sqliteWAL: return try SQLiteBlockStore(path: dir.path("store.sqlite"), options: .init(journalMode: .wal))
        case .sqliteRollback:
            return try SQLiteBlockStore(path: dir.path("store.sqlite"), options: .init(journalMode: .rollback))
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
struct TestRandom {
    var state: UInt64

    init(seed: UInt64) {
        state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed
    }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var index = 0
        while index < count {
            var word = next()
            for _ in 0..<8 where index < count {
                out[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return out
    }
}

func rawBlock(_ bytes: [UInt8]) throws -> Block {
    try Block(data: bytes, codec: .raw)
}

func rawBlock(_ text: String) throws -> Block {
    try rawBlock(Array(text.utf8))
}

/// A dag-pb node (CIDv0) with `links` and optional data.
func pbBlock(links: [CID], data: [UInt8]? = nil, v0: Bool = true) throws -> Block {
    let node = PBNode(links: links.map { PBLink(hash: $0, name: "", tsize: 1) }, data: data)
    return try Block(data: node.encoded(), codec: .dagPB, version: v0 ? .v0 : .v1)
}

/// A small file-shaped DAG: `leafCount` leaves (dag-pb UnixFS-like leaves, Data only) under
/// one root. Returns root and all blocks (root first).
func fileDAG(leafCount: Int, leafSize: Int = 1000, seed: UInt64 = 1, rawLeaves: Bool = false) throws -> (root: Block, blocks: [Block]) {
    var random = TestRandom(seed: seed)
    var leaves: [Block] = []
    for _ in 0..<leafCount {
        let payload = random.bytes(leafSize)
        leaves.append(rawLeaves ? try rawBlock(payload) : try pbBlock(links: [], data: payload))
    }
    let root = try pbBlock(links: leaves.map(\.cid), data: [0x08, 0x02])
    return (root, [root] + leaves)
}

extension BlockStoreError {
    /// The missing CID of an `.incompleteDAG` error.
    var missingCID: CID? {
        if case let .incompleteDAG(_, missing) = self { return missing }
        return nil
    }
}
