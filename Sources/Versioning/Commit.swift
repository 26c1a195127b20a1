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
/// `tz`, `message`, `lineage` (`{inputs, code, parameters}`), plus `signature` on signed commits
/// only; decoding rejects missing, extra or mistyped fields.
///
/// A signed commit carries `signature: {publicKey: bytes, sig: bytes}`: the signer's libp2p
/// `PublicKey` protobuf (so its peer ID and `k51…` name follow) and its signature over
/// `signaturePrefix` ("jz-node commit signature:") followed by the DAG-CBOR encoding of the same
/// commit without the `signature` key. The key is written only when present, so unsigned commits
/// keep the CIDs they always had. Both byte strings are 1...`CommitSignature.maxLength` bytes.
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
    /// The signature over the rest of the commit; nil for unsigned commits.
    public var signature: CommitSignature?

    /// Domain separation: the bytes that precede the unsigned commit's DAG-CBOR in the signed message.
    public static let signaturePrefix: [UInt8] = Array("jz-node commit signature:".utf8)

    public init(
        tree: CID, parents: [CID], author: Person, committer: Person, time: Int64,
        timezoneOffsetMinutes: Int = 0, message: String, lineage: Lineage = Lineage(),
        signature: CommitSignature? = nil
    ) {
        self.tree = tree
        self.parents = parents
        self.author = author
        self.committer = committer
        self.time = time
        self.timezoneOffsetMinutes = timezoneOffsetMinutes
        self.message = message
        self.lineage = lineage
        self.signature = signature
    }

    /// The IPLD data-model form (with `signature` only when the commit is signed).
    public var ipldValue: IPLDValue {
        guard let signature else { return unsignedValue }
        guard case var .map(map) = unsignedValue else { return unsignedValue }
        map["signature"] = .map(IPLDMap([
            ("publicKey", .bytes(signature.publicKey)),
            ("sig", .bytes(signature.signature)),
        ]))
        return .map(map)
    }

    /// The data-model form without `signature`: what a signature covers.
    private var unsignedValue: IPLDValue {
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

    /// The bytes a signature covers: `signaturePrefix` + the DAG-CBOR of the commit without `signature`.
    public func signedMessage() throws(VersioningError) -> [UInt8] {
        do {
            return Self.signaturePrefix + (try IPLDCodecs.encode(unsignedValue, codec: .dagCBOR))
        } catch {
            throw .invalidCommit(cid: nil, field: "", reason: "cannot encode: \(error)")
        }
    }

    /// This commit signed by `signer` (any earlier signature is replaced).
    /// - Throws: `.invalidCommit` on field `signature` when the signer fails or returns a key or
    ///   signature outside 1...`CommitSignature.maxLength` bytes.
    public func signed(by signer: any CommitSigner) throws(VersioningError) -> Commit {
        let message = try signedMessage()
        let bytes: [UInt8]
        do {
            bytes = try signer.sign(message)
        } catch {
            throw .invalidCommit(cid: nil, field: "signature", reason: "cannot sign: \(error)")
        }
        let publicKey = signer.publicKey
        for (name, value) in [("publicKey", publicKey), ("sig", bytes)] where !CommitSignature.allowedLength.contains(value.count) {
            throw .invalidCommit(
                cid: nil, field: "signature.\(name)",
                reason: "the signer returned \(value.count) bytes, expected 1...\(CommitSignature.maxLength)")
        }
        var copy = self
        copy.signature = CommitSignature(publicKey: publicKey, signature: bytes)
        return copy
    }

    /// Checks the signature with `verify(publicKey, message, signature)`, which returns whether the
    /// signature is valid and throws (its error becoming the reason) when the key is unusable.
    public func verifySignature(
        using verify: (_ publicKey: [UInt8], _ message: [UInt8], _ signature: [UInt8]) throws -> Bool
    ) -> CommitSignatureStatus {
        guard let signature else { return .unsigned }
        let message: [UInt8]
        do {
            message = try signedMessage()
        } catch {
            return .invalid(publicKey: signature.publicKey, reason: error.description)
        }
        do {
            guard try verify(signature.publicKey, message, signature.signature) else {
                return .invalid(publicKey: signature.publicKey, reason: "the signature does not match the commit")
            }
        } catch {
            return .invalid(publicKey: signature.publicKey, reason: "\(error)")
        }
        return .valid(publicKey: signature.publicKey)
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
        var keys: Set<String> = ["tree", "parents", "author", "committer", "time", "tz", "message", "lineage"]
        if map["signature"] != nil { keys.insert("signature") }
        try f.exactKeys(map, keys, "")
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
        if let value = map["signature"] {
            let sig = try f.map(value, "signature")
            try f.exactKeys(sig, ["publicKey", "sig"], "signature")
            signature = CommitSignature(
                publicKey: try f.bytes(sig["publicKey"], "signature.publicKey", allowed: CommitSignature.allowedLength),
                signature: try f.bytes(sig["sig"], "signature.sig", allowed: CommitSignature.allowedLength))
        } else {
            signature = nil
        }
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

/// A commit's signature: who signed (a libp2p `PublicKey` protobuf) and the signature bytes.
public struct CommitSignature: Hashable, Sendable {
    /// The bound on both byte strings: room for an RSA-8192 key (about 1.1 KB) and signature (1 KB).
    public static let maxLength = 2048
    static let allowedLength = 1...maxLength

    /// The signer's public key as a libp2p `PublicKey` protobuf (its peer ID is the signer's name).
    public var publicKey: [UInt8]
    /// The signature over `Commit.signedMessage()`.
    public var signature: [UInt8]

    public init(publicKey: [UInt8], signature: [UInt8]) {
        self.publicKey = publicKey
        self.signature = signature
    }
}

/// Makes commit signatures. Versioning knows no key types: the node implements this with its
/// keys (`JZNode.KeyCommitSigner`).
public protocol CommitSigner: Sendable {
    /// The signer's public key as a libp2p `PublicKey` protobuf.
    var publicKey: [UInt8] { get }
    /// Signs `message` (the whole message; the key type decides whether it is hashed first).
    func sign(_ message: [UInt8]) throws -> [UInt8]
}

/// The outcome of `Commit.verifySignature(using:)`.
public enum CommitSignatureStatus: Hashable, Sendable {
    /// The commit carries no signature.
    case unsigned
    /// The signature by `publicKey` (a libp2p `PublicKey` protobuf) covers this commit.
    case valid(publicKey: [UInt8])
    /// The commit claims a signature by `publicKey` that does not verify; `reason` says why.
    case invalid(publicKey: [UInt8], reason: String)
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

    func bytes(_ value: IPLDValue?, _ field: String, allowed: ClosedRange<Int>) throws(VersioningError) -> [UInt8] {
        guard let value else { throw error(field, "missing") }
        guard let b = value.bytesValue else { throw error(field, "expected bytes, found \(value.kind.rawValue)") }
        guard allowed.contains(b.count) else {
            throw error(field, "\(b.count) bytes, expected \(allowed.lowerBound)...\(allowed.upperBound)")
        }
        return b
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
