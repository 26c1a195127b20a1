import Foundation

/// The response format a request asks for (`?format=` wins over `Accept`).
public enum GatewayFormat: Equatable, Sendable {
    /// Deserialized: files, directory listings (the path gateway).
    case deserialized
    /// `application/vnd.ipld.raw`: one block.
    case raw
    /// `application/vnd.ipld.car`: CARv1.
    case car
    /// `application/vnd.ipfs.ipns-record`.
    case ipnsRecord

    static let rawType = "application/vnd.ipld.raw"
    static let carType = "application/vnd.ipld.car"
    static let ipnsRecordType = "application/vnd.ipfs.ipns-record"

    /// The format of `?format=` (nil when absent) and `Accept`; nil result with an error message
    /// for an unknown `format` value.
    static func choose(formatParameter: String?, accept: String?) -> Result<GatewayFormat, GatewayRequestError> {
        if let formatParameter, !formatParameter.isEmpty {
            switch formatParameter {
            case "raw": return .success(.raw)
            case "car": return .success(.car)
            case "ipns-record": return .success(.ipnsRecord)
            default: return .failure(.badParameter("format", formatParameter, "use raw, car or ipns-record"))
            }
        }
        guard let accept else { return .success(.deserialized) }
        // The first listed type we serve wins (q-values are not weighed).
        for item in accept.split(separator: ",") {
            let type = item.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            switch type {
            case rawType: return .success(.raw)
            case carType: return .success(.car)
            case ipnsRecordType: return .success(.ipnsRecord)
            default: continue
            }
        }
        return .success(.deserialized)
    }
}

/// `dag-scope` of a CAR request.
public enum DagScope: String, Sendable, Equatable {
    /// The blocks of the path and the terminal block.
    case block
    /// The path and the whole terminal entity: a file's blocks (or those of `entity-bytes`), a
    /// directory's own blocks (every HAMT shard, no entries), any other block alone.
    case entity
    /// The path and the whole DAG under the terminal (default).
    case all
}

/// `entity-bytes=from:to`: inclusive, negative counts from the end, `*` is the last byte.
public struct EntityBytes: Sendable, Equatable {
    public var from: Int64
    /// nil: `*`.
    public var to: Int64?

    /// Parses `from:to`.
    static func parse(_ text: String) -> EntityBytes? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let from = Int64(parts[0]) else { return nil }
        if parts[1] == "*" { return EntityBytes(from: from, to: nil) }
        guard let to = Int64(parts[1]) else { return nil }
        if from >= 0 && to >= 0 && to < from { return nil }
        return EntityBytes(from: from, to: to)
    }

    /// The byte offset and length of the range in a file of `size` bytes (length 0 when it
    /// selects nothing).
    func resolve(size: UInt64) -> (offset: UInt64, length: UInt64) {
        let size = Int64(clamping: size)
        var start = from < 0 ? max(0, size + from) : from
        var end = to.map { $0 < 0 ? size + $0 : $0 } ?? (size - 1)
        end = min(end, size - 1)
        start = min(start, size)
        guard end >= start else { return (UInt64(start), 0) }
        return (UInt64(start), UInt64(end - start + 1))
    }
}

/// The CAR parameters of a request.
public struct CarOptions: Sendable, Equatable {
    public var scope: DagScope = .all
    public var entityBytes: EntityBytes?
    /// Blocks are always written depth-first (`order=dfs`, which also satisfies `unk`).
    public var order = "dfs"
    /// `n` (default): each block once; `y`: a block every time the walk meets it.
    public var dups = "n"

    /// From the query (`dag-scope`, `entity-bytes`, `car-order`, `car-dups`) and the Accept
    /// header's parameters (`order`, `dups`).
    static func parse(query: [String: String], accept: String?) -> Result<CarOptions, GatewayRequestError> {
        var options = CarOptions()
        if let scope = query["dag-scope"] {
            guard let value = DagScope(rawValue: scope) else {
                return .failure(.badParameter("dag-scope", scope, "use block, entity or all"))
            }
            options.scope = value
        }
        if let bytes = query["entity-bytes"] {
            guard let value = EntityBytes.parse(bytes) else {
                return .failure(.badParameter("entity-bytes", bytes, "use from:to (integers, to may be *)"))
            }
            options.entityBytes = value
        }
        // entity-bytes implies dag-scope=entity.
        if options.entityBytes != nil { options.scope = .entity }
        var order = query["car-order"]
        var dups = query["car-dups"]
        if let order, order != "dfs", order != "unk" {
            return .failure(.badParameter("car-order", order, "use dfs or unk"))
        }
        if let dups, dups != "y", dups != "n" {
            return .failure(.badParameter("car-dups", dups, "use y or n"))
        }
        // Otherwise the first CAR variant in Accept whose parameters are served.
        if let accept, order == nil || dups == nil {
            variants: for item in accept.split(separator: ",") where item.lowercased().contains(GatewayFormat.carType) {
                var itemOrder: String?
                var itemDups: String?
                for parameter in item.split(separator: ";").dropFirst() {
                    let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                    guard pair.count == 2 else { continue }
                    switch pair[0] {
                    case "order": itemOrder = pair[1]
                    case "dups": itemDups = pair[1]
                    case "version" where pair[1] != "1": continue variants
                    default: break
                    }
                }
                if let itemOrder, itemOrder != "dfs", itemOrder != "unk" { continue }
                if let itemDups, itemDups != "y", itemDups != "n" { continue }
                order = order ?? itemOrder
                dups = dups ?? itemDups
                break
            }
        }
        options.dups = dups ?? "n"
        return .success(options)
    }

    var contentType: String { "\(GatewayFormat.carType); version=1; order=\(order); dups=\(dups)" }
}

/// A single byte range of a `Range` header, resolved against the file size.
enum ByteRange: Equatable {
    /// No (usable) Range header: the whole file.
    case whole
    case range(offset: UInt64, length: UInt64)
    /// 416.
    case unsatisfiable

    /// `bytes=a-b`, `bytes=a-`, `bytes=-n`; several ranges or a malformed header serve the whole
    /// file (RFC 9110 lets a server ignore Range).
    static func parse(_ header: String?, size: UInt64) -> ByteRange {
        guard let header, header.hasPrefix("bytes=") else { return .whole }
        let spec = header.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(",") else { return .whole }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return .whole }
        if parts[0].isEmpty {
            guard let suffix = UInt64(parts[1]) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            let length = min(suffix, size)
            return .range(offset: size - length, length: length)
        }
        guard let start = UInt64(parts[0]) else { return .whole }
        guard start < size else { return .unsatisfiable }
        if parts[1].isEmpty { return .range(offset: start, length: size - start) }
        guard let end = UInt64(parts[1]), end >= start else { return .whole }
        return .range(offset: start, length: min(end, size - 1) - start + 1)
    }
}

/// A request the gateway refuses before looking at content (400).
public enum GatewayRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    case badParameter(String, String, String)

    public var description: String {
        switch self {
        case let .badParameter(name, value, hint): return "invalid \(name) \"\(value)\": \(hint)"
        }
    }
}
