import Foundation
import Multiformats
import P2PCrypto
import Versioning

/// The JSON shapes of the versioning commands: one copy for the RPC answers and the CLI's
/// `--json` output (which prints those answers).
public enum VersioningJSON {
    /// `{"Cid","Tree","Parents","Author","Committer","Time","Message","Lineage":{"Inputs","Code","Parameters"}}`.
    public static func commit(_ cid: CID, _ commit: Commit) -> JSONValue {
        var params: [String: JSONValue] = [:]
        for (k, v) in commit.lineage.parameters { params[k] = .string(v) }
        return [
            "Cid": .string(cid.description), "Tree": .string(commit.tree.description),
            "Parents": .array(commit.parents.map { .string($0.description) }),
            "Author": .string(commit.author.description), "Committer": .string(commit.committer.description),
            "Time": .int(commit.time), "Message": .string(commit.message),
            "Lineage": ["Inputs": .array(commit.lineage.inputs.map { .string($0.description) }),
                        "Code": commit.lineage.code.map { .string($0) } ?? .null, "Parameters": .object(params)],
        ]
    }

    /// `value` (a `commit` object) with `"Signature": {"Key": k51…|null, "KeyName": name|null,
    /// "Valid": bool, "Reason": text|null}`; unsigned commits give Key null, Valid false, Reason "unsigned".
    public static func addingSignature(to value: JSONValue, _ commit: Commit, keyNames: [PeerID: String]) -> JSONValue {
        let verification = CommitSigning.verify(commit)
        let reason: JSONValue
        var valid = false
        switch verification {
        case .unsigned: reason = "unsigned"
        case .good: reason = .null; valid = true
        case let .bad(_, text): reason = .string(text)
        }
        return value.setting("Signature", [
            "Key": verification.signerName.map { .string($0) } ?? .null,
            "KeyName": verification.signer.flatMap { keyNames[$0] }.map { .string($0) } ?? .null,
            "Valid": .bool(valid), "Reason": reason,
        ])
    }

    /// `{name: target CID or null}` for branches or tags.
    public static func refs(_ entries: [RefEntry]) -> JSONValue {
        .object(Dictionary(entries.map { ($0.name, $0.target.map { JSONValue.string($0.description) } ?? .null) }, uniquingKeysWith: { a, _ in a }))
    }

    /// `{"Path","Kind": added|removed|modified,"Old","New","OldSize","NewSize"}`.
    public static func change(_ change: TreeChange) -> JSONValue {
        [
            "Path": .string(change.path), "Kind": .string("\(change.kind)"),
            "Old": change.oldCID.map { .string($0.description) } ?? .null,
            "New": change.newCID.map { .string($0.description) } ?? .null,
            "OldSize": change.oldSize.map { .int(Int64(clamping: $0)) } ?? .null,
            "NewSize": change.newSize.map { .int(Int64(clamping: $0)) } ?? .null,
        ]
    }

    /// `{"Name","Address","Follow","State","Sequence","Fetched","Shallow","LazyData"}`.
    public static func remote(_ remote: RemoteRecord) -> JSONValue {
        [
            "Name": .string(remote.name), "Address": .string(remote.address), "Follow": .bool(remote.follow),
            "State": remote.stateCID.map { .string($0.description) } ?? .null, "Sequence": .int(Int64(clamping: remote.stateSequence)),
            "Fetched": remote.fetched.map { .int($0) } ?? .null, "Shallow": .bool(remote.shallow), "LazyData": .bool(remote.lazyData),
        ]
    }

    /// The `checkout` answer: `{"Tree","Previous","Written","Removed","Unchanged","Conflicts": [path],
    /// "Overwritten": [{"Path","Reason"}],"Seconds"}`.
    public static func checkout(_ report: CheckoutReport) -> JSONValue {
        [
            "Tree": .string(report.tree.description), "Previous": report.previous.map { .string($0.description) } ?? .null,
            "Written": .int(Int64(report.written)), "Removed": .int(Int64(report.removed)),
            "Unchanged": .int(Int64(report.unchanged)),
            "Conflicts": .array(report.conflicts.map { .string($0.path) }),
            "Overwritten": .array(report.conflicts.map { ["Path": .string($0.path), "Reason": .string($0.reason.rawValue)] }),
            "Seconds": .double(report.seconds),
        ]
    }
}
