import Foundation
import IPLD
import Multiformats

/// Who wrote or committed a change.
public struct Person: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var email: String

    public init(name: String, email: String) {
        self.name = name
        self.email = email
    }

    /// Parses `Name <email>` (git's form); nil when there is no `<…>` part.
    public init?(parsing text: String) {
        guard let open = text.lastIndex(of: "<"), let close = text.lastIndex(of: ">"), open < close else { return nil }
        let name = text[..<open].trimmingCharacters(in: .whitespaces)
        let email = String(text[text.index(after: open)..<close])
        guard !name.isEmpty else { return nil }
        self.init(name: name, email: email)
    }

    /// `Name <email>`.
    public var description: String { "\(name) <\(email)>" }
}

/// What produced a commit's data: input CIDs, a code reference and parameters.
public struct Lineage: Hashable, Sendable {
    public var inputs: [CID]
    /// A code reference (a commit CID, a git URL@sha, …), free-form.
    public var code: String?
    public var parameters: [String: String]

    public init(inputs: [CID] = [], code: String? = nil, parameters: [String: String] = [:]) {
        self.inputs = inputs
        self.code = code
        self.parameters = parameters
    }

    /// True when nothing is recorded.
    public var isEmpty: Bool { inputs.isEmpty && code == nil && parameters.isEmpty }
}

/// A commit: a DAG-CBOR object (CIDv1, sha2-256) linking a UnixFS directory tree and its parents.
///
/// Encoded as a map with exactly the keys `tree`, `parents`, `author`, `committer`, `time`,
/// `tz`, `message`, `lineage` (`{inputs, code, parameters}`); decoding rejects missing, extra or
/// mistyped fields.
public struct Commit: Hashable, Sendable {
    /// Root of the UnixFS directory snapshot.
    public var tree: CID
    /// Parent commits (none for the first commit, two for a merge).
    public var parents: [CID]
    public var author: Person
    public var committer: Person
    /// Seconds since the Unix epoch.
    public var time: Int64
    /// Offset of the committer's time zone from UTC, in minutes.
    public var timezoneOffsetMinutes: Int
    public var message: String
    public var lineage: Lineage

    public init(
        tree: CID, parents: [CID], author: Person, committer: Person, time: Int64,
        timezoneOffsetMinutes: Int = 0, message: String, lineage: Lineage = Lineage()
    ) {
        self.tree = tree
        self.parents = parents
        self.author = author
        self.committer = committer
        self.time = time
        self.timezoneOffsetMinutes = timezoneOffsetMinutes
        self.message = message
        self.lineage = lineage
    }

    /// The IPLD data-model form.
    public var ipldValue: IPLDValue {
        let parameters = lineage.parameters.sorted { $0.key < $1.key }.map { ($0.key, IPLDValue.string($0.value)) }
        return .map(IPLDMap([
            ("tree", .link(tree)),
            ("parents", .list(parents.map { .link($0) })),
            ("author", Self.personValue(author)),
            ("committer", Self.personValue(committer)),
            ("time", .int(time)),
            ("tz", .int(timezoneOffsetMinutes)),
            ("message", .string(message)),
            ("lineage", .map(IPLDMap([
                ("inputs", .list(lineage.inputs.map { .link($0) })),
                ("code", lineage.code.map { .string($0) } ?? .null),
                ("parameters", .map(IPLDMap(parameters))),
            ]))),
        ]))
    }

    /// The commit as a dag-cbor block (CIDv1, sha2-256).
    public func block() throws(VersioningError) -> Block {
        do {
            let bytes = try IPLDCodecs.encode(ipldValue, codec: .dagCBOR)
            return try Block(data: bytes, codec: .dagCBOR)
        } catch {
            throw .invalidCommit(cid: nil, field: "", reason: "cannot encode: \(error)")
        }
    }

    /// Decodes a commit block, checking every field.
    public init(block: Block) throws(VersioningError) {
        guard block.cid.codec == .dagCBOR else { throw .notACommit(cid: block.cid) }
        let value: IPLDValue
        do {
            value = try IPLDCodecs.decode(block)
        } catch {
            throw .invalidCommit(cid: block.cid, field: "", reason: "not dag-cbor: \(error)")
        }
        try self.init(ipldValue: value, cid: block.cid)
    }

    /// Reads a commit from its data-model form; `cid` only names the object in errors.
    public init(ipldValue value: IPLDValue, cid: CID? = nil) throws(VersioningError) {
        let f = FieldReader(cid: cid, kind: .commit)
        let map = try f.map(value, "")
        try f.exactKeys(map, ["tree", "parents", "author", "committer", "time", "tz", "message", "lineage"], "")
        tree = try f.link(map["tree"], "tree")
        parents = try f.links(map["parents"], "parents")
        author = try Self.person(map["author"], "author", f)
        committer = try Self.person(map["committer"], "committer", f)
        time = try f.int64(map["time"], "time")
        let tz = try f.int64(map["tz"], "tz")
        guard (-1440...1440).contains(tz) else { throw f.error("tz", "offset \(tz) minutes is out of range ±1440") }
        timezoneOffsetMinutes = Int(tz)
        message = try f.string(map["message"], "message")
        let lin = try f.map(map["lineage"], "lineage")
        try f.exactKeys(lin, ["inputs", "code", "parameters"], "lineage")
        let inputs = try f.links(lin["inputs"], "lineage.inputs")
        let code: String? = try lin["code"].map { v throws(VersioningError) in
            v.isNull ? nil : try f.string(v, "lineage.code")
        } ?? nil
        let params = try f.map(lin["parameters"], "lineage.parameters")
        var parameters: [String: String] = [:]
        for entry in params {
            parameters[entry.key] = try f.string(entry.value, "lineage.parameters.\(entry.key)")
        }
        lineage = Lineage(inputs: inputs, code: code, parameters: parameters)
    }

    private static func personValue(_ p: Person) -> IPLDValue {
        .map(IPLDMap([("name", .string(p.name)), ("email", .string(p.email))]))
    }

    private static func person(_ value: IPLDValue?, _ field: String, _ f: FieldReader) throws(VersioningError) -> Person {
        let map = try f.map(value, field)
        try f.exactKeys(map, ["name", "email"], field)
        return Person(name: try f.string(map["name"], "\(field).name"), email: try f.string(map["email"], "\(field).email"))
    }
}

/// Strict field checks shared by `Commit` and `RepositoryState`.
struct FieldReader {
    enum Kind { case commit, state }
    let cid: CID?
    let kind: Kind

    func error(_ field: String, _ reason: String) -> VersioningError {
        switch kind {
        case .commit: return .invalidCommit(cid: cid, field: field, reason: reason)
        case .state: return .invalidState(cid: cid, field: field, reason: reason)
        }
    }

    func map(_ value: IPLDValue?, _ field: String) throws(VersioningError) -> IPLDMap {
        guard let value else { throw error(field, "missing") }
        guard let map = value.mapValue else { throw error(field, "expected a map, found \(value.kind.rawValue)") }
        return map
    }

    func exactKeys(_ map: IPLDMap, _ keys: Set<String>, _ field: String) throws(VersioningError) {
        for key in map.keys where !keys.contains(key) {
            throw error(field.isEmpty ? key : "\(field).\(key)", "unknown field")
        }
        for key in keys.sorted() where map[key] == nil {
            throw error(field.isEmpty ? key : "\(field).\(key)", "missing")
        }
    }

    func link(_ value: IPLDValue?, _ field: String) throws(VersioningError) -> CID {
        guard let value else { throw error(field, "missing") }
        guard let cid = value.linkValue else { throw error(field, "expected a link, found \(value.kind.rawValue)") }
        return cid
    }

    func links(_ value: IPLDValue?, _ field: String) throws(VersioningError) -> [CID] {
        guard let value else { throw error(field, "missing") }
        guard let list = value.listValue else { throw error(field, "expected a list, found \(value.kind.rawValue)") }
        var result: [CID] = []
        for (i, item) in list.enumerated() {
            result.append(try link(item, "\(field)[\(i)]"))
        }
        return result
    }

    func string(_ value: IPLDValue?, _ field: String) throws(VersioningError) -> String {
        guard let value else { throw error(field, "missing") }
        guard let s = value.stringValue else { throw error(field, "expected a string, found \(value.kind.rawValue)") }
        return s
    }

    func int64(_ value: IPLDValue?, _ field: String) throws(VersioningError) -> Int64 {
        guard let value else { throw error(field, "missing") }
        guard let i = value.integerValue else { throw error(field, "expected an integer, found \(value.kind.rawValue)") }
        guard let v = i.int64 else { throw error(field, "\(i) is out of range") }
        return v
    }

    func uint64(_ value: IPLDValue?, _ field: String) throws(VersioningError) -> UInt64 {
        guard let value else { throw error(field, "missing") }
        guard let i = value.integerValue else { throw error(field, "expected an integer, found \(value.kind.rawValue)") }
        guard let v = i.uint64 else { throw error(field, "\(i) is negative") }
        return v
    }
}
