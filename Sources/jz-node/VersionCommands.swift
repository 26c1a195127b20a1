import ArgumentParser
import Foundation
import IPNS
import JZNode
import Multiformats
import P2PCrypto
import UnixFS
import Versioning

/// Parses `REPO@REF[:PATH]`.
func parseRefSpec(_ text: String) throws -> RefSpec {
    do {
        return try RefSyntax.parse(text)
    } catch {
        throw ValidationError("\(error)")
    }
}

/// Opens the node and its versioning layer.
func openVersions(_ options: HomeOptions) throws -> (LocalNode, VersionStore) {
    let node = try openLocalNode(options)
    return (node, node.versionStore())
}

func shortCID(_ cid: CID) -> String {
    let s = cid.description
    return String(s.suffix(10))
}

func commitJSON(_ cid: CID, _ commit: Commit) -> JSONValue {
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

/// `{name: target CID or null}` for branches or tags.
func refsJSON(_ entries: [RefEntry]) -> JSONValue {
    .object(Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.target.map { JSONValue.string($0.description) } ?? .null) }))
}

func changeJSON(_ change: TreeChange) -> JSONValue {
    [
        "Path": .string(change.path), "Kind": .string("\(change.kind)"),
        "Old": change.oldCID.map { .string($0.description) } ?? .null,
        "New": change.newCID.map { .string($0.description) } ?? .null,
        "OldSize": change.oldSize.map { .int(Int64(clamping: $0)) } ?? .null,
        "NewSize": change.newSize.map { .int(Int64(clamping: $0)) } ?? .null,
    ]
}

func printChanges(_ changes: [TreeChange], stat: Bool) {
    for change in changes {
        let marker: String
        switch change.kind {
        case .added: marker = "A"
        case .removed: marker = "D"
        case .modified: marker = "M"
        }
        let sizes = "\(change.oldSize.map(String.init) ?? "-") -> \(change.newSize.map(String.init) ?? "-")"
        print(stat ? "\(marker)  \(change.path)  (\(sizes))" : "\(marker)  \(change.path)")
    }
    if stat {
        let added = changes.filter { $0.kind == .added }.count
        let removed = changes.filter { $0.kind == .removed }.count
        let modified = changes.filter { $0.kind == .modified }.count
        print("\(changes.count) paths changed: \(added) added, \(modified) modified, \(removed) removed")
    }
}

struct RepoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repo",
        abstract: "Versioned repositories: create, list, show, delete, publish.",
        subcommands: [Create.self, List.self, Show.self, Delete.self, PublishCommand.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a repository with an empty default branch.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Repository name.") var name: String
        @Option(name: .long, help: "Name of the default branch.") var defaultBranch = "main"

        func run() throws {
            let (_, versions) = try openVersions(homeOptions)
            let info = try versions.createRepository(name, defaultBranch: defaultBranch)
            if output.json {
                printJSON(["Name": .string(info.record.name), "DefaultBranch": .string(info.record.defaultBranch)])
            } else {
                print("created repository \(info.record.name) (default branch \(info.record.defaultBranch))")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List repositories.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            let (_, versions) = try openVersions(homeOptions)
            let repos = try versions.repositories()
            if output.json {
                printJSON(.array(repos.map { ["Name": .string($0.name), "DefaultBranch": .string($0.defaultBranch)] }))
            } else {
                for repo in repos { print(repo.name) }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a repository's branches, tags and state document.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Repository name.") var name: String

        func run() throws {
            let (node, versions) = try openVersions(homeOptions)
            let info = try versions.repository(name)
            let state = try versions.currentState(name)
            let remotes = try versions.refs.remotes(name)
            // The name it is published under, when its key is still in the keystore.
            let published = info.record.publishKey.flatMap { try? node.home.keystore.key(named: $0) }
                .map { IPNSName(publicKey: $0.privateKey.publicKey).path }
            if output.json {
                printJSON([
                    "Name": .string(info.record.name), "DefaultBranch": .string(info.record.defaultBranch),
                    "Branches": refsJSON(info.branches),
                    "Tags": refsJSON(info.tags),
                    "State": .string(state.cid.description), "Sequence": .int(Int64(state.state.sequence)),
                    "Published": published.map { name in
                        ["Name": .string(name), "Key": .string(info.record.publishKey ?? ""),
                         "Sequence": .int(Int64(clamping: info.record.publishedSequence)), "Auto": .bool(info.record.publishAuto)]
                    } ?? .null,
                    "Remotes": .array(remotes.map(remoteJSON)),
                ])
            } else {
                print("repository \(info.record.name)  (default branch \(info.record.defaultBranch))")
                for b in info.branches { print("  branch \(b.name)\t\(b.target?.description ?? "(empty)")") }
                for t in info.tags { print("  tag    \(t.name)\t\(t.target?.description ?? "")") }
                print("  state  \(state.cid) (sequence \(state.state.sequence))")
                if let published {
                    let behind = info.record.publishedSequence < state.state.sequence ? "; changed since: run 'jz-node publish \(name)'" : ""
                    print("  published as \(published) (sequence \(info.record.publishedSequence)\(info.record.publishAuto ? ", auto" : "")\(behind))")
                }
                for remote in remotes {
                    print("  remote \(remote.name)\t\(remote.address)\(remote.follow ? " (follow)" : "")")
                }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a repository's refs (its data is collected by `store gc`).")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "Repository name.") var name: String

        func run() throws {
            let (_, versions) = try openVersions(homeOptions)
            try versions.deleteRepository(name)
            print("deleted repository \(name)")
        }
    }
}

struct CommitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commit",
        abstract: "Snapshot a folder as a branch's tree and print the commit CID.",
        discussion: """
            REPO[@BRANCH] DIR -m MSG. With --path, DIR becomes that subtree of the branch's tree.
            Unchanged files cost no new blocks. Lineage records what produced the data:
            --input CID (repeatable), --param K=V (repeatable), --code REF.
            --sign signs the commit with the node key, --sign-key NAME with a keystore key;
            'log --show-signature' verifies. Config Versioning.SignCommits=true makes --sign the default.
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "REPO or REPO@BRANCH.") var target: String
    @Argument(help: "The folder to snapshot.") var directory: String
    @Option(name: [.short, .long], help: "Commit message.") var message: String
    @Option(name: .long, help: "Subtree of the branch's tree to replace with DIR.") var path: String?
    @Option(name: .long, help: "Author as \"Name <email>\" (default: config Versioning.Author).") var author: String?
    @Option(name: .customLong("input"), help: "Lineage input CID (repeatable).") var inputs: [String] = []
    @Option(name: .customLong("param"), help: "Lineage parameter K=V (repeatable).") var params: [String] = []
    @Option(name: .long, help: "Lineage code reference (e.g. a git commit or script path).") var code: String?
    @Flag(name: .long, help: "Commit even if the tree did not change.") var allowEmpty = false
    @Flag(inversion: .prefixedNo, help: "Sign with the node key (default: config Versioning.SignCommits, else no).")
    var sign: Bool?
    @Option(name: .long, help: "Sign with this keystore key (implies --sign).") var signKey: String?

    func validate() throws {
        if sign == false && signKey != nil { throw ValidationError("--no-sign and --sign-key contradict each other") }
    }

    func run() throws {
        let spec = try parseRefSpec(target)
        let (node, versions) = try openVersions(homeOptions)
        let signer = try CommitSigning.signer(for: node, sign: sign, keyName: signKey)
        var person = node.defaultAuthor
        if let author {
            guard let parsed = Person(parsing: author) else { throw ValidationError("--author must look like \"Name <email>\"") }
            person = parsed
        }
        var parameters: [String: String] = [:]
        for p in params {
            guard let eq = p.firstIndex(of: "=") else { throw ValidationError("--param \(p): use K=V") }
            parameters[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        let lineage = Lineage(inputs: try inputs.map(parseCID), code: code, parameters: parameters)
        let result = try versions.commit(
            spec.repository, branch: spec.ref?.base, directory: directory, message: message, author: person,
            subpath: path, lineage: lineage, allowEmpty: allowEmpty, signer: signer)
        DaemonAnnounce.provide(homeOptions, [result.cid, result.commit.tree])
        if output.json {
            var value = commitJSON(result.cid, result.commit)
            if signer != nil {
                value = LogCommand.addingSignature(to: value, result.commit, keyNames: CommitSigning.localKeyNames(keystore: node.home.keystore))
            }
            printJSON(value)
        } else {
            print(result.cid)
        }
    }
}

struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "log", abstract: "Show commit history, newest first.")
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "REPO[@REF]") var target: String
    @Option(name: .short, help: "At most N commits.") var n: Int?
    @Flag(name: .long, help: "One line per commit.") var oneline = false
    @Flag(name: .long, help: "Verify commit signatures: a Good or BAD signature line under each signed commit.")
    var showSignature = false

    func run() throws {
        let spec = try parseRefSpec(target)
        let (node, versions) = try openVersions(homeOptions)
        let entries = try versions.log(spec.repository, spec.ref, limit: n)
        let keyNames = showSignature ? CommitSigning.localKeyNames(keystore: node.home.keystore) : [:]
        if output.json {
            printJSON(.array(entries.map { entry in
                let value = commitJSON(entry.cid, entry.commit)
                return showSignature ? Self.addingSignature(to: value, entry.commit, keyNames: keyNames) : value
            }))
            return
        }
        for entry in entries {
            let c = entry.commit
            if oneline {
                print("\(entry.cid) \(c.message.split(separator: "\n").first ?? "")")
                if showSignature, let line = Self.signatureLine(c, keyNames: keyNames) { print("    \(line)") }
            } else {
                print("commit \(entry.cid)")
                if showSignature, let line = Self.signatureLine(c, keyNames: keyNames) { print(line) }
                if c.parents.count > 1 { print("Merge: " + c.parents.map(shortCID).joined(separator: " ")) }
                print("Author: \(c.author)")
                print("Date:   \(Date(timeIntervalSince1970: TimeInterval(c.time)))")
                print("\n    \(c.message.replacingOccurrences(of: "\n", with: "\n    "))\n")
            }
        }
    }

    /// git-style: `Good signature by k51… (key NAME)` / `BAD signature by k51…: reason`; nil when unsigned.
    static func signatureLine(_ commit: Commit, keyNames: [PeerID: String]) -> String? {
        let verification = CommitSigning.verify(commit)
        let by = verification.signerName.map { " by \($0)" } ?? ""
        let ours = verification.signer.flatMap { keyNames[$0] }.map { " (key \($0))" } ?? ""
        switch verification {
        case .unsigned: return nil
        case .good: return "Good signature\(by)\(ours)"
        case let .bad(_, reason): return "BAD signature\(by)\(ours): \(reason)"
        }
    }

    /// `value` (a `commitJSON` object) with `"Signature": {"Key": k51…|null, "KeyName": name|null,
    /// "Valid": bool, "Reason": text|null}`; unsigned commits give Key null, Valid false, Reason "unsigned".
    static func addingSignature(to value: JSONValue, _ commit: Commit, keyNames: [PeerID: String]) -> JSONValue {
        guard case var .object(members) = value else { return value }
        let verification = CommitSigning.verify(commit)
        let reason: JSONValue
        switch verification {
        case .unsigned: reason = "unsigned"
        case .good: reason = .null
        case let .bad(_, text): reason = .string(text)
        }
        var valid = false
        if case .good = verification { valid = true }
        members["Signature"] = [
            "Key": verification.signerName.map { .string($0) } ?? .null,
            "KeyName": verification.signer.flatMap { keyNames[$0] }.map { .string($0) } ?? .null,
            "Valid": .bool(valid), "Reason": reason,
        ]
        return .object(members)
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a commit: metadata, lineage and changed paths.")
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "REPO@REF") var target: String

    func run() throws {
        let spec = try parseRefSpec(target)
        let (node, versions) = try openVersions(homeOptions)
        let details = try versions.show(try versions.resolve(spec))
        let keyNames = details.commit.signature == nil ? [:] : CommitSigning.localKeyNames(keystore: node.home.keystore)
        if output.json {
            var value = LogCommand.addingSignature(to: commitJSON(details.cid, details.commit), details.commit, keyNames: keyNames)
            if case var .object(members) = value {
                members["Changes"] = .array(details.changes.map(changeJSON))
                value = .object(members)
            }
            printJSON(value)
            return
        }
        let c = details.commit
        print("commit \(details.cid)\ntree   \(c.tree)")
        for p in c.parents { print("parent \(p)") }
        if let line = LogCommand.signatureLine(c, keyNames: keyNames) { print(line) }
        print("Author: \(c.author)\nDate:   \(Date(timeIntervalSince1970: TimeInterval(c.time)))\n\n    \(c.message)\n")
        if !c.lineage.isEmpty {
            print("Lineage:")
            for input in c.lineage.inputs { print("  input \(input)") }
            if let code = c.lineage.code { print("  code  \(code)") }
            for (k, v) in c.lineage.parameters.sorted(by: { $0.key < $1.key }) { print("  param \(k)=\(v)") }
            print()
        }
        printChanges(details.changes, stat: true)
    }
}


struct BranchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "branch", abstract: "Branches: create, list, delete.", subcommands: [Create.self, List.self, Delete.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a branch (from the default branch unless --from).")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "Repository.") var repo: String
        @Argument(help: "Branch name.") var name: String
        @Option(name: .long, help: "Start from this ref (branch, tag, commit CID, REF~N).") var from: String?

        func run() throws {
            let (_, versions) = try openVersions(homeOptions)
            let start = try from.map { try parseRefSpec("\(repo)@\($0)").ref }
            let target = try versions.createBranch(repo, name, from: start ?? nil)
            print("created branch \(name)" + (target.map { " at \($0)" } ?? " (empty)"))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List branches.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Repository.") var repo: String

        func run() throws {
            let (_, versions) = try openVersions(homeOptions)
            let branches = try versions.branches(repo)
            if output.json {
                printJSON(refsJSON(branches))
            } else {
                for b in branches { print("\(b.name)\t\(b.target?.description ?? "(empty)")") }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a branch.")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "Repository.") var repo: String
        @Argument(help: "Branch name.") var name: String

        func run() throws {
            let (_, versions) = try openVersions(homeOptions)
            try versions.deleteBranch(repo, name)
            print("deleted branch \(name)")
        }
    }
}

struct TagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag", abstract: "Tags: create, list, delete.", subcommands: [Create.self, List.self, Delete.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Tag a commit (the default branch's head unless --at).")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "Repository.") var repo: String
        @Argument(help: "Tag name.") var name: String
        @Option(name: .long, help: "The ref to tag.") var at: String?

        func run() throws {
            let (_, versions) = try openVersions(homeOptions)
            let ref = try at.map { try parseRefSpec("\(repo)@\($0)").ref }
            let target = try versions.createTag(repo, name, at: ref ?? nil)
            print("created tag \(name) at \(target)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tags.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Repository.") var repo: String

        func run() throws {
            let (_, versions) = try openVersions(homeOptions)
            let tags = try versions.tags(repo)
            if output.json {
                printJSON(refsJSON(tags))
            } else {
                for t in tags { print("\(t.name)\t\(t.target?.description ?? "")") }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a tag.")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "Repository.") var repo: String
        @Argument(help: "Tag name.") var name: String

        func run() throws {
            let (_, versions) = try openVersions(homeOptions)
            try versions.deleteTag(repo, name)
            print("deleted tag \(name)")
        }
    }
}

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Paths added, removed and modified between two refs, or between a ref and a local folder.",
        discussion: "Identical subtrees are skipped by CID, so a one-file change in a huge tree reads O(depth) blocks.")
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "REPO@A[:PATH]") var old: String
    @Argument(help: "REPO@B[:PATH], or a local folder") var new: String
    @Flag(name: .long, help: "Sizes and a summary line.") var stat = false

    func run() throws {
        let (_, versions) = try openVersions(homeOptions)
        let oldTree = try versions.resolveTree(try parseRefSpec(old))
        let diff = TreeDiff(source: versions.blocks)
        var isDirectory: ObjCBool = false
        let changes: [TreeChange]
        if FileManager.default.fileExists(atPath: new, isDirectory: &isDirectory), isDirectory.boolValue {
            changes = try diff.diff(old: oldTree, folder: new, options: versions.importOptions)
        } else {
            changes = try diff.diff(old: oldTree, new: try versions.resolveTree(try parseRefSpec(new)))
        }
        if output.json {
            printJSON(["Changes": .array(changes.map(changeJSON)), "BlocksRead": .int(Int64(diff.blocksRead))])
        } else {
            printChanges(changes, stat: stat)
        }
    }
}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge a ref into a branch: fast-forward, else a three-way merge on paths.",
        discussion: """
            --strategy fail (default) lists conflicts and changes nothing; ours/theirs resolve them.
            --sign / --sign-key sign the merge commit; a fast-forward makes no commit and signs nothing.
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "Repository.") var repo: String
    @Argument(help: "The ref to merge (branch, tag, commit, REF~N).") var from: String
    @Option(name: .long, help: "Branch to merge into (default: the default branch).") var into: String?
    @Option(name: .long, help: "fail, ours or theirs.") var strategy = "fail"
    @Option(name: [.short, .long], help: "Merge commit message.") var message: String?
    @Flag(inversion: .prefixedNo, help: "Sign the merge commit with the node key (default: config Versioning.SignCommits, else no).")
    var sign: Bool?
    @Option(name: .long, help: "Sign the merge commit with this keystore key (implies --sign).") var signKey: String?

    func validate() throws {
        if sign == false && signKey != nil { throw ValidationError("--no-sign and --sign-key contradict each other") }
    }

    func run() throws {
        guard let strategy = MergeStrategy(rawValue: strategy) else {
            throw ValidationError("unknown strategy \(strategy): use fail, ours or theirs")
        }
        let (node, versions) = try openVersions(homeOptions)
        let signer = try CommitSigning.signer(for: node, sign: sign, keyName: signKey)
        guard let ref = try parseRefSpec("\(repo)@\(from)").ref else { throw ValidationError("give a ref to merge") }
        let outcome = try versions.merge(
            repo, from: ref, into: into, strategy: strategy, message: message, author: node.defaultAuthor, signer: signer)
        if output.json {
            printJSON([
                "Result": .string(outcome.kind.rawValue), "Head": .string(outcome.head.description),
                "Base": outcome.base.map { .string($0.description) } ?? .null,
                "Conflicts": .array(outcome.conflicts.map { c in
                    ["Path": .string(c.path), "Base": c.base.map { .string($0.description) } ?? .null,
                     "Ours": c.ours.map { .string($0.description) } ?? .null,
                     "Theirs": c.theirs.map { .string($0.description) } ?? .null]
                }),
            ])
        } else {
            switch outcome.kind {
            case .upToDate: print("already up to date")
            case .fastForward: print("fast-forward to \(outcome.head)")
            case .merged:
                print("merged: \(outcome.head)")
                for c in outcome.conflicts { print("  resolved conflict (\(strategy.rawValue)): \(c.path)") }
            case .conflicts:
                for c in outcome.conflicts {
                    printError("conflict: \(c.path)  ours \(c.ours?.description ?? "(deleted)")  theirs \(c.theirs?.description ?? "(deleted)")")
                }
            }
        }
        if outcome.kind == .conflicts { throw ExitCode.failure }
    }
}

struct CheckoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkout", abstract: "Write a commit's tree (or a subtree) into a folder, or update an earlier checkout in place.",
        discussion: """
            An absent or empty DIR gets the whole tree, verified by re-hashing the folder.

            A DIR that holds this node's last checkout of the same repository is updated in \
            place: the two trees are compared by CID and only the changed paths are written \
            (each exported beside its path, verified against its CID, then renamed over the old \
            one) or removed; the other files keep their inode and mtime.

            Files the update would touch that changed since the last checkout (size, mtime or \
            inode differ and the re-hash differs) refuse the whole update: nothing is changed, \
            the paths are listed and the command exits non-zero. --force overwrites them. \
            Untracked files are never removed (a directory that must become a file but holds \
            untracked files is refused even with --force).

            Checkouts are recorded in the node home (checkouts/), not in DIR. Any other \
            non-empty DIR is refused. For a history-only clone (clone --no-checkout-data) the \
            tree's file data is fetched first (through the daemon, or a short-lived node).
            """)
    @OptionGroup var homeOptions: HomeOptions
    @Argument(help: "REPO@REF[:PATH]") var target: String
    @Argument(help: "Destination folder: absent, empty, or an earlier checkout of REPO.") var directory: String
    @Flag(name: .long, help: "Overwrite local changes to the paths the update writes or removes.") var force = false
    @Flag(name: .long, help: "JSON output: Tree, Previous, Written, Removed, Unchanged, Conflicts, Seconds.") var json = false

    func run() async throws {
        if let report = try await runCheckout(homeOptions, try parseRefSpec(target), folder: directory, force: force, json: json) {
            printJSON(report, keyOrder: ["Tree", "Previous", "Written", "Removed", "Unchanged", "Conflicts", "Seconds"])
        }
    }
}

struct LineageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lineage", abstract: "The chain of inputs behind a commit.")
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "REPO@REF") var target: String

    func run() throws {
        let (_, versions) = try openVersions(homeOptions)
        let nodes = try versions.lineage(try versions.resolve(try parseRefSpec(target)))
        if output.json {
            printJSON(.array(nodes.map { n in
                ["Cid": .string(n.cid.description), "Depth": .int(Int64(n.depth)),
                 "InputOf": n.inputOf.map { .string($0.description) } ?? .null,
                 "Message": n.commit.map { .string($0.message) } ?? .null]
            }))
        } else {
            for n in nodes {
                print(String(repeating: "  ", count: n.depth) + "\(n.cid)" + (n.commit.map { "  \($0.message.split(separator: "\n").first ?? "")" } ?? "  (data)"))
            }
        }
    }
}
