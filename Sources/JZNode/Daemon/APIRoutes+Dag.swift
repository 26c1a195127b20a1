import BlockStore
import Foundation
import IPLD
import Multiformats
import P2PCore
import UnixFS

/// IPLD DAGs over RPC, as Kubo 0.22: `dag resolve`, `dag stat`, `dag export` (a CARv1 stream),
/// `dag import` (CAR files as multipart parts). `dag get` and `dag put` are in APIRoutes+Store.
extension APIRoutes {
    /// Runs `body` over the local store; when it stops on a missing block, fetches that block
    /// (unpinned) and runs it again, as the CLI did before it went through the daemon. Bounded by
    /// the number of blocks a path can cross.
    func fetchingAlongPath<T: Sendable>(_ request: APIRequest, _ body: @escaping @Sendable (SQLiteBlockStore) throws -> T) async throws -> T {
        let store = store
        for _ in 0..<1024 {
            do {
                return try await BlockingExecutor.run { () throws -> T in try body(store) }
            } catch let error as IPLDPathError {
                guard case .missingBlock(let cid, _) = error else { throw APIError.remote(status: 500, message: "\(error)") }
                _ = try await localContent("/ipfs/\(cid)", request, recursive: false)
            }
        }
        throw APIError.remote(status: 500, message: "the path crosses more than 1024 blocks")
    }

    func dagPath(_ request: APIRequest, _ name: String) throws -> (CID, IPLDPath) {
        let text = try requiredArgument(request, name)
        let path: ContentPath
        do { path = try ContentPath(text) } catch { throw APIError.remote(status: 400, message: "invalid path \"\(text)\": \(error)") }
        return (path.root, IPLDPath(segments: path.components))
    }

    /// `dag/resolve`: `{"Cid":{"/":…},"RemPath":"…"}`; blocks along the path are fetched.
    func dagResolve(_ request: APIRequest) async throws -> APIResponse {
        let (root, path) = try dagPath(request, "ref")
        let resolution = try await fetchingAlongPath(request) { store in try IPLDResolver(source: store).resolve(root, path: path) }
        return .json(["Cid": ["/": .string(resolution.cid.description)], "RemPath": .string(resolution.remainder.description)])
    }

    /// `dag/stat`: Kubo's summary `{"UniqueBlocks","TotalSize","SharedSize","Ratio","DagStats":[{"Cid","Size","NumBlocks"}]}`
    /// (one document; `progress` is accepted and ignored). Each DAG is fetched first.
    func dagStat(_ request: APIRequest) async throws -> APIResponse {
        guard !request.arguments.isEmpty else { throw APIError.remote(status: 400, message: "argument \"root\" is required") }
        var stats: [JSONValue] = []
        var unique: Set<CID> = []
        var uniqueSize = 0
        var totalSize = 0
        for text in request.arguments {
            let (root, _) = try await localContent(text, request)
            let walked = try await BlockingExecutor.run { [store] () throws -> [(CID, Int)] in
                var walker = DAGExport.blocks(root: root, source: store)
                var blocks: [(CID, Int)] = []
                while let block = try walker.next() { blocks.append((block.cid, block.data.count)) }
                return blocks
            }
            let size = walked.reduce(0) { $0 + $1.1 }
            totalSize += size
            for (cid, bytes) in walked where unique.insert(cid).inserted { uniqueSize += bytes }
            stats.append(["Cid": .string(root.description), "Size": .int(Int64(size)), "NumBlocks": .int(Int64(walked.count))])
        }
        return .json([
            "UniqueBlocks": .int(Int64(unique.count)), "TotalSize": .int(Int64(uniqueSize)),
            "SharedSize": .int(Int64(totalSize - uniqueSize)),
            "Ratio": .double(uniqueSize == 0 ? 0 : Double(totalSize) / Double(uniqueSize)),
            "DagStats": .array(stats),
        ])
    }

    /// `dag/export`: the DAG under the root as a CARv1 (depth-first, as Kubo), streamed.
    func dagExport(_ request: APIRequest) async throws -> APIResponse {
        let text = try requiredArgument(request, "root")
        let (root, _) = try await localContent(text, request)
        let car = CarExportStream(root: root, source: store)
        let stream = AsyncThrowingStream<[UInt8], any Error>(unfolding: {
            try await BlockingExecutor.run { () throws -> [UInt8]? in try car.next() }
        })
        return .bytes(stream, contentType: "application/vnd.ipld.car")
    }

    /// `dag/import`: CAR files (v1 or v2) as multipart parts; every block verified. Streams
    /// `{"Root":{"Cid":{"/":…},"PinErrorMsg":""}}` per root (pinned unless `pin-roots=false`)
    /// and, with `stats`, `{"Stats":{"BlockCount","BlockBytesCount"}}`.
    func dagImport(_ request: APIRequest) async throws -> APIResponse {
        let cars = try Self.uploadedParts(request, what: "CAR file")
        let pinRoots = request.flag("pin-roots", default: true)
        let stats = request.flag("stats")
        let silent = request.flag("silent")
        let (roots, blocks, bytes) = try await BlockingExecutor.run { [store] () throws -> ([CID], Int, Int64) in
            let lease = store.gcLease()
            defer { lease.release() }
            var roots: [CID] = []
            var blocks = 0
            var bytes: Int64 = 0
            let sink = BatchingBlockSink(store: store)
            for (index, car) in cars.enumerated() {
                do {
                    // Read from the file the server wrote the part to, block by block.
                    var reader = try CarReader(path: car.path)
                    roots += reader.roots
                    while true {
                        let batch = try reader.nextBatch()
                        if batch.isEmpty { break }
                        for block in batch { try sink.put(block) }
                        blocks += batch.count
                        bytes += batch.reduce(0) { $0 + Int64($1.data.count) }
                    }
                    try sink.flush()
                } catch {
                    try? sink.flush()
                    throw APIError.remote(status: 500, message: "dag/import: CAR \(car.name ?? "#\(index + 1)"): \(error)")
                }
            }
            if pinRoots {
                for root in roots { try store.pin(root, recursive: true, name: nil) }
            }
            return (roots, blocks, bytes)
        }
        if pinRoots { daemon.provider?.enqueue(roots) }
        var documents: [JSONValue] = []
        if !silent {
            if pinRoots { documents = roots.map { root -> JSONValue in ["Root": ["Cid": ["/": .string(root.description)], "PinErrorMsg": ""]] } }
            if stats { documents.append(["Stats": ["BlockCount": .int(Int64(blocks)), "BlockBytesCount": .int(bytes)]]) }
        }
        return .stream(Self.finished(documents))
    }
}

/// A DAG as a CARv1, produced in chunks of about 256 KiB (header, then sections in export order);
/// one task pulls it at a time.
final class CarExportStream: @unchecked Sendable {
    private var walker: DAGExport.Walker
    private var header: [UInt8]?

    init(root: CID, source: any BlockSource) {
        walker = DAGExport.blocks(root: root, source: source)
        header = CarWriter.header(roots: [root])
    }

    /// The next bytes of the CAR; nil at its end.
    func next() throws -> [UInt8]? {
        var chunk = header ?? []
        header = nil
        while chunk.count < 1 << 18, let block = try walker.next() {
            let cid = block.cid.bytes
            Varint.encode(UInt64(cid.count + block.data.count), into: &chunk)
            chunk.append(contentsOf: cid)
            chunk.append(contentsOf: block.data)
        }
        return chunk.isEmpty ? nil : chunk
    }
}
