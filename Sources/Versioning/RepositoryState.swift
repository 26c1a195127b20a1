import IPLD
import Multiformats

/// A repository's heads document (DAG-CBOR): what a later issue publishes under an IPNS name.
///
/// Encoded as a map with exactly the keys `name`, `defaultBranch`, `branches` (name → link),
/// `tags` (name → link), `sequence` and `previous` (link or null).
public struct RepositoryState: Hashable, Sendable {
    public var name: String
    public var defaultBranch: String
    /// Branch heads; a branch without commits is absent.
    public var branches: [String: CID]
    public var tags: [String: CID]
    /// Increases by one with every new state of the repository.
    public var sequence: UInt64
    /// The state this one replaces.
    public var previous: CID?

    public init(
        name: String, defaultBranch: String, branches: [String: CID] = [:], tags: [String: CID] = [:],
        sequence: UInt64 = 0, previous: CID? = nil
    ) {
        self.name = name
        self.defaultBranch = defaultBranch
        self.branches = branches
        self.tags = tags
        self.sequence = sequence
        self.previous = previous
    }

    /// The IPLD data-model form.
    public var ipldValue: IPLDValue {
        func refs(_ refs: [String: CID]) -> IPLDValue {
            .map(IPLDMap(refs.sorted { $0.key < $1.key }.map { ($0.key, IPLDValue.link($0.value)) }))
        }
        return .map(IPLDMap([
            ("name", .string(name)),
            ("defaultBranch", .string(defaultBranch)),
            ("branches", refs(branches)),
            ("tags", refs(tags)),
            ("sequence", .int(sequence)),
            ("previous", previous.map { .link($0) } ?? .null),
        ]))
    }

    /// The state as a dag-cbor block (CIDv1, sha2-256).
    public func block() throws(VersioningError) -> Block {
        do {
            return try Block(data: try IPLDCodecs.encode(ipldValue, codec: .dagCBOR), codec: .dagCBOR)
        } catch {
            throw .invalidState(cid: nil, field: "", reason: "cannot encode: \(error)")
        }
    }

    /// Decodes a state block, checking every field.
    public init(block: Block) throws(VersioningError) {
        guard block.cid.codec == .dagCBOR else {
            throw .invalidState(cid: block.cid, field: "", reason: "codec \(block.cid.codec) is not dag-cbor")
        }
        let value: IPLDValue
        do {
            value = try IPLDCodecs.decode(block)
        } catch {
            throw .invalidState(cid: block.cid, field: "", reason: "not dag-cbor: \(error)")
        }
        try self.init(ipldValue: value, cid: block.cid)
    }

    /// Reads a state from its data-model form; `cid` only names the object in errors.
    public init(ipldValue value: IPLDValue, cid: CID? = nil) throws(VersioningError) {
        let f = FieldReader(cid: cid, kind: .state)
        let map = try f.map(value, "")
        try f.exactKeys(map, ["name", "defaultBranch", "branches", "tags", "sequence", "previous"], "")
        name = try f.string(map["name"], "name")
        defaultBranch = try f.string(map["defaultBranch"], "defaultBranch")
        func refs(_ field: String) throws(VersioningError) -> [String: CID] {
            var result: [String: CID] = [:]
            for entry in try f.map(map[field], field) {
                result[entry.key] = try f.link(entry.value, "\(field).\(entry.key)")
            }
            return result
        }
        branches = try refs("branches")
        tags = try refs("tags")
        sequence = try f.uint64(map["sequence"], "sequence")
        if let p = map["previous"], !p.isNull {
            previous = try f.link(p, "previous")
        } else {
            previous = nil
        }
    }
}
