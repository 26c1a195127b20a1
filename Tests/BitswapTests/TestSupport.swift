import BlockStore
import Dispatch
import Foundation
import IPLD
import Logging
import Multiformats
import P2PCore
import P2PCrypto
import UnixFS
import XCTest

@testable import Bitswap
import P2PTestSupport

// Shared helpers: a quiet logger, deterministic data, UnixFS DAGs built off the concurrency pool,
// a bitswap node on the memory network, polling with deadlines, raw message I/O for fake peers.

enum TestError: Error, CustomStringConvertible {
    case timedOut(String)
    case unexpected(String)

    var description: String {
        switch self {
        case let .timedOut(what): return "timed out waiting for \(what)"
        case let .unexpected(what): return what
        }
    }
}

func testLogger(_ label: String = "bitswap-test") -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["BITSWAP_TEST_LOG"] == nil ? .critical : .debug
    return logger
}

/// Deterministic pseudo-random bytes (xorshift64*).
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var out = [UInt8](repeating: 0, count: count)
    var i = 0
    while i < count {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        var word = state &* 0x2545_F491_4F6C_DD1D
        for _ in 0..<8 where i < count {
            out[i] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            i += 1
        }
    }
    return out
}

/// Runs blocking work on a Dispatch thread (never on the cooperative pool).
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// A UnixFS DAG: its root and every distinct block.
struct TestDAG: Sendable {
    var root: CID
    var blocks: [Block]

    var cids: [CID] { blocks.map(\.cid) }
    var totalBytes: Int { blocks.reduce(0) { $0 + $1.data.count } }

    func store() throws -> MemoryBlockStore {
        let store = MemoryBlockStore()
        try store.putMany(blocks)
        return store
    }

    /// Whether `store` holds every block of the DAG, byte for byte.
    func isComplete(in store: any BlockStore) throws -> Bool {
        for block in blocks {
            guard let stored = try store.get(block.cid), stored.data == block.data else { return false }
        }
        return true
    }
}

enum DAGKind: Sendable {
    /// CIDv0, dag-pb leaves.
    case v0
    /// CIDv1, raw leaves.
    case v1RawLeaves
}

/// Imports `size` pseudo-random bytes as one UnixFS file (generated and imported off the pool).
func importRandomFile(size: Int, seed: UInt64, kind: DAGKind, chunkSize: Int = 262_144) async throws -> TestDAG {
    try await offPool {
        let bytes = pseudoRandomBytes(size, seed: seed)
        var options = try ImportOptions.kubo(cidVersion: kind == .v0 ? 0 : 1)
        options.chunker = .fixed(size: chunkSize)
        let sink = CollectingBlockSink()
        let result = try Importer(options: options, sink: sink).add(bytes: bytes)
        return TestDAG(root: result.root.cid, blocks: distinct(sink.blocks))
    }
}

/// Imports an in-memory directory tree (built and imported off the pool).
func importTree(kind: DAGKind, _ makeTree: @escaping @Sendable () -> ImportNode) async throws -> TestDAG {
    try await offPool {
        let tree = makeTree()
        var options = try ImportOptions.kubo(cidVersion: kind == .v0 ? 0 : 1)
        options.chunker = .fixed(size: 65_536)
        let sink = CollectingBlockSink()
        let result = try Importer(options: options, sink: sink).add(tree: tree)
        return TestDAG(root: result.root.cid, blocks: distinct(sink.blocks))
    }
}

private func distinct(_ blocks: [Block]) -> [Block] {
    var seen: Set<Multihash> = []
    return blocks.filter { seen.insert($0.cid.multihash).inserted }
}

/// DAGs shared by several tests (built once per process).
actor SharedDAGs {
    static let shared = SharedDAGs()
    private var cache: [String: TestDAG] = [:]

    private func cached(_ key: String, _ make: () async throws -> TestDAG) async throws -> TestDAG {
        if let dag = cache[key] { return dag }
        let dag = try await make()
        cache[key] = dag
        return dag
    }

    /// 5 MiB, CIDv0 with dag-pb leaves, 256 KiB chunks (21 blocks).
    func fileV0() async throws -> TestDAG {
        try await cached("v0") { try await importRandomFile(size: 5 << 20, seed: 1, kind: .v0) }
    }

    /// 5 MiB, CIDv1 with raw leaves, 256 KiB chunks.
    func fileV1() async throws -> TestDAG {
        try await cached("v1") { try await importRandomFile(size: 5 << 20, seed: 2, kind: .v1RawLeaves) }
    }

    /// 4 MiB, CIDv0, 16 KiB chunks: 256 leaves under 2 intermediate nodes (259 blocks).
    func manyBlocksV0() async throws -> TestDAG {
        try await cached("many") {
            try await importRandomFile(size: 4 << 20, seed: 3, kind: .v0, chunkSize: 16_384)
        }
    }

    /// A directory (CIDv1, raw leaves) with files, an empty file and a subdirectory.
    func directory() async throws -> TestDAG {
        try await cached("dir") {
            try await importTree(kind: .v1RawLeaves) {
                .directory(name: "top", children: [
                    .file(name: "a.bin", contents: pseudoRandomBytes(300_000, seed: 4)),
                    .file(name: "small.txt", contents: Array("hello bitswap\n".utf8)),
                    .file(name: "empty", contents: []),
                    .directory(name: "sub", children: [
                        .file(name: "b.bin", contents: pseudoRandomBytes(150_000, seed: 5)),
                        .file(name: "c.bin", contents: pseudoRandomBytes(2_000, seed: 6)),
                    ]),
                ])
            }
        }
    }
}

/// A host running bitswap over a block store, its connection events forwarded to bitswap.
struct TestNode: Sendable {
    let host: MemoryHost
    let store: MemoryBlockStore
    let bitswap: Bitswap

    var peer: PeerID { host.localPeer }

    static func make(
        on network: MemoryNetwork, store: MemoryBlockStore = MemoryBlockStore(),
        protocols: Set<ProtocolID>? = nil, config: Bitswap.Config = Bitswap.Config()
    ) async -> TestNode {
        let host = network.makeHost(protocols: protocols)
        let bitswap = Bitswap(host: host, store: store, logger: testLogger(), config: config)
        // Weak: the host keeps this closure and the node keeps the host; a strong capture is a cycle
        // that kept every node (and its store's blocks) alive to the end of the run (LeakSanitizer).
        host.onConnectionEvent { [weak bitswap] peer, connected in
            guard let bitswap else { return }
            if connected {
                bitswap.peerConnected(peer)
            } else {
                await bitswap.peerDisconnected(peer)
            }
        }
        await bitswap.start()
        return TestNode(host: host, store: store, bitswap: bitswap)
    }
}

/// Polls `condition` every 10 ms until it holds; throws after `seconds`.
func waitUntil(
    _ what: String, seconds: Double = 5, _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    if try await condition() { return }
    throw TestError.timedOut(what)
}

/// Collects the bitswap messages a fake peer receives, from any stream.
final class MessageInbox: @unchecked Sendable {
    private let lock = Mutex()
    private var received: [(peer: PeerID, protocolID: ProtocolID, message: BitswapMessage)] = []

    func append(_ message: BitswapMessage, from peer: PeerID, protocolID: ProtocolID) {
        lock.withLock { received.append((peer, protocolID, message)) }
    }

    var messages: [BitswapMessage] { lock.withLock { received.map(\.message) } }
    var protocols: [ProtocolID] { lock.withLock { received.map(\.protocolID) } }
    var blocks: [PrefixedBlock] { messages.flatMap(\.blocks) }
    var presences: [BlockPresence] { messages.flatMap(\.presences) }

    /// Reads messages from `stream` into the inbox until EOF or an error.
    func drain(_ stream: any ByteStream, from peer: PeerID, protocolID: ProtocolID) async {
        let reader = StreamReader(stream)
        while let message = try? await readMessage(reader) {
            append(message, from: peer, protocolID: protocolID)
        }
    }
}

/// Reads one length-prefixed bitswap message; nil at EOF.
func readMessage(_ reader: StreamReader) async throws -> BitswapMessage? {
    guard let bytes = try await reader.readLengthPrefixed(maxLength: BitswapProtocol.maxMessageSize) else { return nil }
    return try BitswapMessage.decode(bytes)
}

/// A fresh block of `size` pseudo-random bytes under a CIDv1 raw CID.
func rawBlock(size: Int, seed: UInt64) throws -> Block {
    try Block(data: pseudoRandomBytes(size, seed: seed), codec: .raw)
}

extension FetchResult {
    func provider(_ peer: PeerID) -> ProviderShare? { providers.first { $0.peer == peer } }
    func dropped(_ peer: PeerID) -> String? { droppedPeers.first { $0.peer == peer }?.reason }
}

/// Protobuf: a length-delimited field.
func protoField(_ field: UInt64, _ bytes: [UInt8]) -> [UInt8] {
    var out = Varint.encode(field << 3 | 2)
    out += Varint.encode(UInt64(bytes.count))
    out += bytes
    return out
}

/// Protobuf: a varint field.
func protoVarint(_ field: UInt64, _ value: UInt64) -> [UInt8] {
    Varint.encode(field << 3) + Varint.encode(value)
}
