import BlockStore
import Foundation
import IPLD
import Multiformats
import P2PCore
import P2PCrypto
import UnixFS

/// Blocks, pins, DAG values, storage upkeep, config and keys over RPC, as Kubo 0.22:
/// `pin add|ls|rm`, `block put|get|stat`, `dag put|get`, `repo stat|gc`, `bootstrap list`,
/// `config` (get/set), `config show`, `key list|gen`.
extension APIRoutes {
    var store: SQLiteBlockStore { daemon.local.store }

    func requiredArgument(_ request: APIRequest, _ name: String) throws -> String {
        guard let value = request.arguments.first else { throw APIError.remote(status: 400, message: "argument \"\(name)\" is required") }
        return value
    }

    /// The data parts of a body in order (Kubo reads files from multipart): read from the files
    /// the server wrote them to (`block/put`, `dag/put`), or parsed from the body held in memory
    /// (`config/replace`, `key/import`). Blocking when the parts are files.
    static func uploadedData(_ request: APIRequest) throws -> [[UInt8]] {
        guard request.upload != nil else {
            let parts: [MultipartPart]
            do {
                parts = try MultipartParser.parse(request.body, contentType: request.contentType ?? "").filter { !$0.isDirectory }
            } catch {
                throw APIError.remote(status: 400, message: "\(error)")
            }
            guard !parts.isEmpty else { throw APIError.remote(status: 400, message: "\(request.command): the request has no file") }
            return parts.map(\.content)
        }
        return try uploadedParts(request).map { part in
            guard let data = FileManager.default.contents(atPath: part.path) else {
                throw APIError.remote(status: 500, message: "\(request.command): cannot read the uploaded part \(part.path)")
            }
            return [UInt8](data)
        }
    }

    /// An upload's data parts (files), in order; 400 when there are none.
    static func uploadedParts(_ request: APIRequest, what: String = "file") throws -> [UploadedFolder.Entry] {
        let upload: UploadedFolder
        do { upload = try request.uploadedFolder() } catch { throw APIError.remote(status: 400, message: "\(error)") }
        let parts = upload.entries.filter { $0.kind == .file }
        guard !parts.isEmpty else { throw APIError.remote(status: 400, message: "\(request.command): the request has no \(what)") }
        return parts
    }

    // MARK: - pin

    /// A path resolved in the local store only (pins name what is here).
    func localCID(_ text: String) async throws -> CID {
        let path: ContentPath
        do { path = try ContentPath(text) } catch { throw APIError.remote(status: 400, message: "invalid path \"\(text)\": \(error)") }
        let local = daemon.local
        do {
            return try await BlockingExecutor.run { () throws(ExportError) -> CID in try local.resolve(path) }
        } catch {
            throw APIError.remote(status: 500, message: "\(text): \(error)")
        }
    }

    /// `pin/add`: streams `{"Pins":[…]}` (aioipfs reads it as ndjson, as Kubo's with progress).
    func pinAdd(_ request: APIRequest) async throws -> APIResponse {
        _ = try requiredArgument(request, "ipfs-path")
        let recursive = request.flag("recursive", default: true)
        let name = request.value("name").flatMap { $0.isEmpty ? nil : $0 }
        var pinned: [JSONValue] = []
        for target in request.arguments {
            // What a pin keeps must be here: fetched first (the whole DAG, or the block).
            let (cid, _) = try await localContent(target, request, recursive: recursive)
            try await BlockingExecutor.run { [store] () throws(BlockStoreError) in try store.pin(cid, recursive: recursive, name: name) }
            daemon.provider?.enqueue([cid])
            pinned.append(.string(cid.description))
        }
        return .json(["Pins": .array(pinned)])
    }

    /// `pin/rm`: `{"Pins":[…]}`.
    func pinRm(_ request: APIRequest) async throws -> APIResponse {
        _ = try requiredArgument(request, "ipfs-path")
        let recursive = request.flag("recursive", default: true)
        var removed: [JSONValue] = []
        for target in request.arguments {
            let cid = try await localCID(target)
            do {
                try await BlockingExecutor.run { [store] () throws(BlockStoreError) in try store.unpin(cid, recursive: recursive) }
            } catch {
                throw APIError.remote(status: 500, message: "\(error)")
            }
            removed.append(.string(cid.description))
        }
        return .json(["Pins": .array(removed)])
    }

    /// `pin/ls`: `{"Keys":{"<cid>":{"Type":"recursive","Name":""}}}`; `type` direct|recursive|indirect|all.
    func pinLs(_ request: APIRequest) async throws -> APIResponse {
        let typeName = request.value("type") ?? "all"
        guard let type = PinType(rawValue: typeName) else {
            throw APIError.remote(status: 400, message: "invalid type '\(typeName)', must be one of {direct, indirect, recursive, all}")
        }
        let pins = try await BlockingExecutor.run { [store] () throws(BlockStoreError) in try store.pins(type: type) }
        var wanted: Set<CID>?
        if !request.arguments.isEmpty {
            var cids: Set<CID> = []
            for target in request.arguments { cids.insert(try await localCID(target)) }
            wanted = cids
        }
        if request.flag("stream") {
            // Kubo's `--stream`: one `{"Cid","Type"[,"Name"]}` per pin, in the store's order.
            let lines: [JSONValue] = pins.filter { wanted?.contains($0.cid) ?? true }.map { pin in
                var entry: [String: JSONValue] = ["Cid": .string(pin.cid.description), "Type": .string(pin.kind.rawValue)]
                if let name = pin.name { entry["Name"] = .string(name) }
                return .object(entry)
            }
            return .stream(Self.finished(lines))
        }
        var keys: [String: JSONValue] = [:]
        for pin in pins where wanted?.contains(pin.cid) ?? true {
            keys[pin.cid.description] = ["Type": .string(pin.kind.rawValue), "Name": .string(pin.name ?? "")]
        }
        if let wanted {
            for cid in wanted where keys[cid.description] == nil {
                throw APIError.remote(status: 500, message: "path '\(cid)' is not pinned")
            }
        }
        return .json(["Keys": .object(keys)])
    }

    // MARK: - block

    /// `block/put`: `{"Key","Size"}` per part. Options `cid-codec` (default raw; `format=v0`
    /// gives CIDv0 dag-pb as Kubo), `mhtype`, `pin`.
    func blockPut(_ request: APIRequest) async throws -> APIResponse {
        let datas = try await BlockingExecutor.run { () throws -> [[UInt8]] in try Self.uploadedData(request) }
        var codecName = request.value("cid-codec") ?? ""
        let format = request.value("format") ?? ""
        if codecName.isEmpty { codecName = format == "v0" || format == "protobuf" ? "dag-pb" : (format.isEmpty ? "raw" : format) }
        guard let codec = Multicodec(name: codecName) else { throw APIError.remote(status: 400, message: "unknown cid-codec \(codecName)") }
        let hashName = request.value("mhtype") ?? "sha2-256"
        guard let function = HashFunction(name: hashName) else { throw APIError.remote(status: 400, message: "unknown mhtype \(hashName)") }
        let version: CID.Version = (format == "v0" && codec == .dagPB && function == .sha2_256) ? .v0 : .v1
        let pin = request.flag("pin")
        var answers: [JSONValue] = []
        for bytes in datas {
            if codec != .raw {
                do { _ = try IPLDCodecs.decode(bytes, codec: codec) } catch {
                    throw APIError.remote(status: 400, message: "the block is not valid \(codecName): \(error)")
                }
            }
            let block: Block
            do { block = try Block(data: bytes, codec: codec, hash: function, version: version) } catch {
                throw APIError.remote(status: 400, message: "\(error)")
            }
            try await BlockingExecutor.run { [store] () throws(BlockStoreError) in
                try store.put(block)
                if pin { try store.pin(block.cid, recursive: false, name: nil) }
            }
            answers.append(["Key": .string(block.cid.description), "Size": .int(Int64(bytes.count))])
        }
        return answers.count == 1 ? .json(answers[0]) : .stream(Self.finished(answers))
    }

    func block(_ request: APIRequest) async throws -> Block {
        let text = try requiredArgument(request, "cid")
        let (cid, _) = try await localContent(text, request, recursive: false)
        guard let block = try await BlockingExecutor.run({ [store] () throws(BlockStoreError) -> Block? in try store.get(cid) }) else {
            throw APIError.remote(status: 500, message: "block \(cid) is not in the local store")
        }
        return block
    }

    /// `block/get`: the raw bytes.
    func blockGet(_ request: APIRequest) async throws -> APIResponse {
        let block = try await block(request)
        return .bytes(Self.finished([Array(block.data)]), contentType: "application/octet-stream")
    }

    /// `block/stat`: `{"Key","Size"}`.
    func blockStat(_ request: APIRequest) async throws -> APIResponse {
        let block = try await block(request)
        return .json(["Key": .string(block.cid.description), "Size": .int(Int64(block.data.count))])
    }

    /// `block/rm`: streams `{"Hash","Error"}` per block (Error empty when removed); pinned
    /// blocks are refused; `force` skips absent blocks; `quiet` reports only failures.
    func blockRm(_ request: APIRequest) async throws -> APIResponse {
        _ = try requiredArgument(request, "cid")
        let force = request.flag("force") || request.flag("f")
        let quiet = request.flag("quiet") || request.flag("q")
        var lines: [JSONValue] = []
        for text in request.arguments {
            let cid: CID
            do { cid = try CID(text) } catch { throw APIError.remote(status: 400, message: "\(text) is not a CID: \(error)") }
            let failure = await BlockingExecutor.run { [store] () -> String? in
                do {
                    guard try store.has(cid) else { return force ? nil : "block \(cid) is not in the local store" }
                    try store.removeUnpinned(cid)
                    return ""
                } catch {
                    return "\(error)"
                }
            }
            guard let failure else { continue }
            if failure.isEmpty && quiet { continue }
            lines.append(["Hash": .string(cid.description), "Error": .string(failure)])
        }
        return .stream(Self.finished(lines))
    }

    // MARK: - dag

    /// `dag/put`: `{"Cid":{"/":…}}`. Options `store-codec` (dag-cbor), `input-codec` (dag-json),
    /// `hash`, `pin`.
    func dagPut(_ request: APIRequest) async throws -> APIResponse {
        let datas = try await BlockingExecutor.run { () throws -> [[UInt8]] in try Self.uploadedData(request) }
        let storeName = request.value("store-codec") ?? "dag-cbor"
        let inputName = request.value("input-codec") ?? "dag-json"
        guard let storeCodec = Multicodec(name: storeName), let inputCodec = Multicodec(name: inputName) else {
            throw APIError.remote(status: 400, message: "unknown codec: \(storeName) or \(inputName)")
        }
        let hashName = request.value("hash") ?? "sha2-256"
        guard let function = HashFunction(name: hashName) else { throw APIError.remote(status: 400, message: "unknown hash \(hashName)") }
        let pin = request.flag("pin")
        var answers: [JSONValue] = []
        for bytes in datas {
            let block: Block
            do {
                let value = try IPLDCodecs.decode(bytes, codec: inputCodec)
                block = try Block(data: try IPLDCodecs.encode(value, codec: storeCodec), codec: storeCodec, hash: function)
            } catch {
                throw APIError.remote(status: 400, message: "dag/put: \(error)")
            }
            try await BlockingExecutor.run { [store] () throws(BlockStoreError) in
                try store.put(block)
                if pin { try store.pin(block.cid, recursive: true, name: nil) }
            }
            answers.append(["Cid": ["/": .string(block.cid.description)]])
        }
        return answers.count == 1 ? .json(answers[0]) : .stream(Self.finished(answers))
    }

    /// `dag/get`: the value at `<cid>[/path]` encoded with `output-codec` (default dag-json).
    func dagGet(_ request: APIRequest) async throws -> APIResponse {
        let text = try requiredArgument(request, "ref")
        let codecName = request.value("output-codec") ?? "dag-json"
        guard let codec = Multicodec(name: codecName) else { throw APIError.remote(status: 400, message: "unknown output-codec \(codecName)") }
        let path: ContentPath
        do { path = try ContentPath(text) } catch { throw APIError.remote(status: 400, message: "invalid path \"\(text)\": \(error)") }
        // Blocks along the IPLD path are fetched as the walk reaches them.
        let value = try await fetchingAlongPath(request) { store in
            try IPLDResolver(source: store).get(path.root, path: IPLDPath(segments: path.components))
        }
        let bytes: [UInt8]
        do { bytes = Array(try IPLDCodecs.encode(value, codec: codec)) } catch {
            throw APIError.remote(status: 500, message: "\(text): \(error)")
        }
        return .bytes(Self.finished([bytes]), contentType: codec == .dagJSON ? "application/json" : "application/octet-stream")
    }

    // MARK: - repo stat, gc

    /// `repo/stat`: Kubo's `{"RepoSize","StorageMax","NumObjects","RepoPath","Version"}`.
    func repoStat(_ request: APIRequest) async throws -> APIResponse {
        // The config as it is now (`config` may have changed it since the daemon started).
        let (home, started) = (daemon.home, daemon.local.config)
        let (stat, config) = try await BlockingExecutor.run { [store] () throws(BlockStoreError) in
            (try store.stat(), (try? home.loadConfig()) ?? started)
        }
        let storageMax = config.value(at: "Datastore.StorageMax")?.stringValue ?? ""
        return .json([
            "RepoSize": .int(Int64(stat.fileBytes)), "StorageMax": .int(Self.bytes(storageMax) ?? 0),
            "NumObjects": .int(Int64(stat.blockCount)), "RepoPath": .string(store.path),
            "Version": .string("fs-repo@\(JZNodeInfo.repoVersion)"),
        ])
    }

    /// `10GB` → bytes (Kubo's humanize form), nil when empty or unreadable.
    static func bytes(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            return Int64(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)).map { $0 * factor }
        }
        return Int64(text)
    }

    /// `repo/gc`: streams `{"Key":{"/":cid}}` per removed block (nothing with `quiet`).
    func repoGC(_ request: APIRequest) async throws -> APIResponse {
        let result = try await BlockingExecutor.run { [store] () throws(BlockStoreError) in try store.collectGarbage(progress: nil) }
        let quiet = request.flag("quiet")
        let lines: [JSONValue] = quiet ? [] : result.removed.map { ["Key": ["/": .string($0.description)]] }
        return .stream(Self.finished(lines))
    }

    /// `repo/verify`: Kubo's stream of `{"Msg","Progress"}`: one message per problem, then a
    /// summary (an error when anything is wrong).
    func repoVerify(_ request: APIRequest) async throws -> APIResponse {
        let report = try await BlockingExecutor.run { [store] () throws(BlockStoreError) in try store.verify() }
        var lines: [JSONValue] = report.badBlocks.map { ["Msg": .string("block \($0) was corrupt"), "Progress": 0] }
        lines += report.incompletePins.map { ["Msg": .string("pin \($0.root): missing \($0.missing) (\($0.reason))"), "Progress": 0] }
        lines += report.integrityErrors.map { ["Msg": .string("integrity: \($0)"), "Progress": 0] }
        lines.append(["Msg": .string(report.isOK ? "verify complete, all blocks validated." : "verify complete, some blocks were corrupt or missing"), "Progress": .int(Int64(report.blocksChecked))])
        if !report.isOK { lines.append(APIResponse.errorDocument("verify: \(lines.count - 1) problems found", code: 0)) }
        return .stream(Self.finished(lines))
    }

    /// `store/gc`, `store/stat`, `store/verify`: the CLI's `jz-node store` commands, with the
    /// shapes of `StoreReport` (Kubo's `repo/gc`, `repo/stat`, `repo/verify` answer Kubo clients).
    func storeGC(_ request: APIRequest) async throws -> APIResponse {
        let result = try await BlockingExecutor.run { [store] () throws(BlockStoreError) in try store.collectGarbage(progress: nil) }
        return .json(StoreReport.gc(result))
    }

    func storeStat(_ request: APIRequest) async throws -> APIResponse {
        let (home, started) = (daemon.home, daemon.local.config)
        let (stat, config) = try await BlockingExecutor.run { [store] () throws(BlockStoreError) in
            (try store.stat(), (try? home.loadConfig()) ?? started)
        }
        return .json(StoreReport.stat(stat, config: config, path: store.path))
    }

    func storeVerify(_ request: APIRequest) async throws -> APIResponse {
        let report = try await BlockingExecutor.run { [store] () throws(BlockStoreError) in try store.verify() }
        return .json(StoreReport.verify(report))
    }

    // MARK: - bootstrap, config, key

    /// `bootstrap/list`: `{"Peers":[…]}`.
    func bootstrapList() throws -> APIResponse {
        let config = try daemon.home.loadConfig()
        return .json(["Peers": .array(config.bootstrap.map { .string($0) })])
    }

    /// `config KEY [VALUE]`: `{"Key","Value"}`; options `bool`, `json`. The private key is refused.
    func config(_ request: APIRequest) throws -> APIResponse {
        let key = try requiredArgument(request, "key")
        let value = request.arguments.dropFirst().first
        let touchesSecret = NodeConfig.protectedKeys.contains { $0 == key || (value != nil && $0.hasPrefix(key + ".")) }
        if touchesSecret { throw APIError.remote(status: 500, message: "\(NodeError.protectedKey(key))") }
        let home = daemon.home
        var config = try home.loadConfig()
        guard let value else {
            guard let current = NodeConfig(root: config.redacted).value(at: key) else {
                throw APIError.remote(status: 500, message: "\(NodeError.noSuchKey(key))")
            }
            return .json(["Key": .string(key), "Value": current])
        }
        let newValue: JSONValue
        if request.flag("json") {
            do { newValue = try JSONValue.parse(value) } catch {
                throw APIError.remote(status: 400, message: "the value is not valid JSON: \(value)")
            }
        } else if request.flag("bool") {
            switch value.lowercased() {
            case "true": newValue = .bool(true)
            case "false": newValue = .bool(false)
            default: throw APIError.remote(status: 400, message: "bool takes true or false, not \(value)")
            }
        } else {
            newValue = .string(value)
        }
        try config.set(newValue, at: key)
        try home.save(config)
        return .json(["Key": .string(key), "Value": newValue])
    }

    /// `config/show`: the whole config without the private key.
    func configShow() throws -> APIResponse {
        .json(try daemon.home.loadConfig().redacted)
    }

    /// Key IDs as `ipns-base` asks (default base36 `k51…`; `b58mh` for `12D3KooW…`).
    static func formatKeyID(_ id: PeerID, _ request: APIRequest) throws -> String {
        let name = request.value("ipns-base") ?? "base36"
        if name == "b58mh" { return id.b58String }
        if let base = Multibase(name: name) { return id.cidString(base: base) }
        if name.count == 1, let prefix = name.first, let base = Multibase(prefix: prefix) { return id.cidString(base: base) }
        throw APIError.remote(status: 400, message: "unknown ipns-base \(name)")
    }

    /// `key/list`: `{"Keys":[{"Name","Id"}]}`.
    func keyList(_ request: APIRequest) throws -> APIResponse {
        let keys = try daemon.home.keystore.list()
        return .json(["Keys": .array(try keys.map { ["Name": .string($0.name), "Id": .string(try Self.formatKeyID($0.peerID, request))] })])
    }

    /// `key/gen NAME`: `{"Name","Id"}`; options `type` (ed25519, rsa, secp256k1), `size`.
    func keyGen(_ request: APIRequest) throws -> APIResponse {
        let name = try requiredArgument(request, "name")
        let typeName = (request.value("type") ?? "ed25519").lowercased()
        let type: KeyType
        switch typeName {
        case "ed25519": type = .ed25519
        case "rsa": type = .rsa
        case "secp256k1": type = .secp256k1
        default: throw APIError.remote(status: 400, message: "unknown key type '\(typeName)'; use ed25519, rsa or secp256k1")
        }
        var bits: Int?
        // As Kubo, `size` matters for RSA only (clients such as aioipfs always send one).
        if type == .rsa, let text = request.value("size") {
            guard let value = Int(text), value > 0 else { throw APIError.remote(status: 400, message: "size must be a positive number, not \(text)") }
            bits = value
        }
        let key = try daemon.home.keystore.generate(name: name, type: type, bits: bits)
        return .json(["Name": .string(key.name), "Id": .string(try Self.formatKeyID(key.peerID, request))])
    }

    /// A stream that yields `values` and ends.
    static func finished<T: Sendable>(_ values: [T]) -> AsyncThrowingStream<T, any Error> {
        AsyncThrowingStream { continuation in
            for value in values { continuation.yield(value) }
            continuation.finish()
        }
    }

    static func finished(_ values: [JSONValue]) -> AsyncStream<JSONValue> {
        AsyncStream { continuation in
            for value in values { continuation.yield(value) }
            continuation.finish()
        }
    }
}

/// The JSON answers of `jz-node store gc|stat|verify`, shared by the CLI (offline) and the
/// daemon's `store/*` commands so that both print the same.
public enum StoreReport {
    /// `{"Removed":[cid…],"RemovedBytes":n}`.
    public static func gc(_ result: GCResult) -> JSONValue {
        ["Removed": .array(result.removed.map { .string($0.description) }), "RemovedBytes": .int(Int64(result.removedBytes))]
    }

    /// `{"NumObjects","RepoSize","BlockBytes","StorageMax","RecursivePins","DirectPins","RepoPath"}`.
    public static func stat(_ stat: StoreStat, config: NodeConfig, path: String) -> JSONValue {
        [
            "NumObjects": .int(Int64(stat.blockCount)), "RepoSize": .int(Int64(stat.fileBytes)),
            "BlockBytes": .int(Int64(stat.totalBytes)),
            "StorageMax": .string(config.value(at: "Datastore.StorageMax")?.stringValue ?? ""),
            "RecursivePins": .int(Int64(stat.recursivePins)), "DirectPins": .int(Int64(stat.directPins)),
            "RepoPath": .string(path),
        ]
    }

    /// `{"BlocksChecked","BytesChecked","BadBlocks","IncompletePins","IntegrityErrors","OK"}`.
    public static func verify(_ report: VerifyReport) -> JSONValue {
        [
            "BlocksChecked": .int(Int64(report.blocksChecked)), "BytesChecked": .int(Int64(report.bytesChecked)),
            "BadBlocks": .array(report.badBlocks.map { .string($0.description) }),
            "IncompletePins": .array(report.incompletePins.map { .string("\($0.root): missing \($0.missing) (\($0.reason))") }),
            "IntegrityErrors": .array(report.integrityErrors.map { .string($0) }),
            "OK": .bool(report.isOK),
        ]
    }
}
