import BlockStore
import Foundation
import IPLD
import Logging
import Multiformats
import NIOHTTP1
import P2PCore
import UnixFS

@testable import Gateway

/// A fetcher that copies blocks from a "network" store (or never answers).
final class StubFetcher: GatewayBlockFetcher, @unchecked Sendable {
    let network: MemoryBlockStore
    let local: MemoryBlockStore
    let hang: Bool
    private let lock = NSLock()
    private var _calls: [CID] = []
    var calls: [CID] { lock.withLock { _calls } }

    init(network: MemoryBlockStore, local: MemoryBlockStore, hang: Bool = false) {
        self.network = network
        self.local = local
        self.hang = hang
    }

    func fetch(_ cid: CID, recursive: Bool, timeout: Duration) async throws {
        lock.withLock { _calls.append(cid) }
        if hang {
            try await Task.sleep(for: timeout)
            throw CancellationError()
        }
        var stack = [cid]
        while let next = stack.popLast() {
            guard let block = try network.get(next) else { throw ExportError.missingBlock(next, path: nil) }
            try local.put(block)
            if recursive { stack += try IPLDCodecs.links(in: block) }
        }
    }
}

struct StubNames: GatewayNameResolver {
    let names: [String: String]
    let records: [String: [UInt8]]

    func resolve(_ path: String) async throws -> String {
        guard let (name, rest) = ContentPathParts.ipns(path), let target = names[name] else {
            throw ExportError.invalidPath(path, reason: "unknown name")
        }
        return target + rest
    }

    func record(_ name: String) async throws -> [UInt8] {
        guard let record = records[name] else { throw ExportError.invalidPath(name, reason: "unknown name") }
        return record
    }
}

/// A finished response: status, headers, the whole body.
struct Answer {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    var text: String { String(decoding: body, as: UTF8.self) }
}

func ask(
    _ gateway: Gateway, _ uri: String, method: HTTPMethod = .GET, headers: [(String, String)] = []
) async throws -> Answer {
    let response = await gateway.handle(method: method, uri: uri, headers: HTTPHeaders(headers))
    var body: [UInt8] = []
    switch response.body {
    case .empty: break
    case .bytes(let bytes): body = method == .HEAD ? [] : bytes  // the server drops HEAD bodies
    case .stream(let source, _):
        if method != .HEAD {
            // As the server does: on the blocking executor (a fetch blocks the reading thread).
            while var chunk = try await BlockingExecutor.run({ try source.next() }) {
                body += chunk.readBytes(length: chunk.readableBytes) ?? []
            }
        }
    }
    return Answer(status: response.status, headers: response.headers, body: body)
}

func makeGateway(
    _ store: MemoryBlockStore, fetcher: (any GatewayBlockFetcher)? = nil, names: (any GatewayNameResolver)? = nil,
    config: GatewayConfig = GatewayConfig(noFetch: true)
) -> Gateway {
    Gateway(store: store, fetcher: fetcher, names: names, config: config, logger: Logger(label: "gateway-test"))
}

func importTree(_ tree: ImportNode, chunk: Int = 1024, into store: MemoryBlockStore = MemoryBlockStore()) throws -> (CID, MemoryBlockStore) {
    var options = ImportOptions()
    options.cidVersion = .v1
    options.rawLeaves = true
    options.chunker = .fixed(size: chunk)
    let sink = CollectingBlockSink()
    let result = try Importer(options: options, sink: sink).add(tree: tree)
    try store.putMany(sink.blocks)
    return (result.root.cid, store)
}

/// The blocks of a CAR, each verified against its CID.
func carBlocks(_ bytes: [UInt8]) throws -> (roots: [CID], blocks: [Block]) {
    var reader = try CarReader(bytes: bytes)
    var blocks: [Block] = []
    while let block = try reader.next() {
        _ = try Block(verifying: block.cid, data: block.data)
        blocks.append(block)
    }
    return (reader.roots, blocks)
}

func fixture(_ name: String) throws -> (roots: [CID], store: MemoryBlockStore) {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
        throw ExportError.invalidPath(name, reason: "fixture missing")
    }
    let (roots, blocks) = try carBlocks(Array(try Data(contentsOf: url)))
    let store = MemoryBlockStore()
    try store.putMany(blocks)
    return (roots, store)
}

func deterministicBytes(_ count: Int, seed: UInt64 = 1) -> [UInt8] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}
