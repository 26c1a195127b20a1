import ArgumentParser
import Foundation
import IPNS
import JZNode
import Multiformats
import P2PCrypto
import UnixFS
import Versioning

/// Parses `REPO@REF[:PATH]` (to check the command line before anything runs).
func parseRefSpec(_ text: String) throws -> RefSpec {
    do {
        return try RefSyntax.parse(text)
    } catch {
        throw ValidationError("\(error)")
    }
}

/// Runs a versioning command (`VersioningCommands`): through the daemon when one runs, else
/// in-process on the node home. `timeout`: seconds for long commands (commit, diff, merge, checkout).
func versioningCall(
    _ home: HomeOptions, _ command: String, _ arguments: [String], _ options: [(String, String)] = [], timeout: Double? = nil
) throws -> JSONValue {
    try nodeCall(home, command, arguments: arguments, options: options, timeout: timeout) { node, request in
        try VersioningCommands.run(node, request)
    }
}

/// `(name, value)` when `value` is set.
func rpcOption(_ name: String, _ value: String?) -> [(String, String)] {
    value.map { [(name, $0)] } ?? []
}

/// `(name, "true")` when `set`.
func rpcOption(_ name: String, _ set: Bool) -> [(String, String)] {
    set ? [(name, "true")] : []
}

/// The `sign` / `sign-key` options of `commit` and `merge`.
func signOptions(_ sign: Bool?, _ signKey: String?) -> [(String, String)] {
    rpcOption("sign", sign.map { $0 ? "true" : "false" }) + rpcOption("sign-key", signKey)
}

func shortCID(_ text: String) -> String { String(text.suffix(10)) }

/// `{name: CID or null}` (a `refs` answer) sorted by name.
func sortedRefs(_ value: JSONValue?) -> [(name: String, target: String?)] {
    guard case let .object(members)? = value else { return [] }
    return members.keys.sorted().map { ($0, members[$0]?.stringValue) }
}

func dateText(_ seconds: JSONValue?) -> String {
    Date(timeIntervalSince1970: TimeInterval(seconds?.intValue ?? 0)).description
}

/// Prints `Changes` documents as `A|D|M  path`, with sizes and a summary under `stat`.
func printChanges(_ changes: [JSONValue], stat: Bool) {
    var counts: [String: Int] = [:]
    for change in changes {
        let kind = change["Kind"]?.stringValue ?? ""
        counts[kind, default: 0] += 1
        let marker = kind == "added" ? "A" : kind == "removed" ? "D" : "M"
        let path = change["Path"]?.stringValue ?? ""
        let sizes = "\(change["OldSize"]?.intValue.map(String.init) ?? "-") -> \(change["NewSize"]?.intValue.map(String.init) ?? "-")"
        print(stat ? "\(marker)  \(path)  (\(sizes))" : "\(marker)  \(path)")
    }
    if stat {
        print("\(changes.count) paths changed: \(counts["added", default: 0]) added, \(counts["modified", default: 0]) modified, \(counts["removed", default: 0]) removed")
    }
}

/// git-style, from a commit's `Signature` document: `Good signature by k51… (key NAME)` /
/// `BAD signature by k51…: reason`; nil when unsigned or absent.
func signatureLine(_ commit: JSONValue) -> String? {
    guard let signature = commit["Signature"], signature != .null else { return nil }
    let key = signature["Key"]?.stringValue
    let valid = signature["Valid"]?.boolValue == true
    let reason = signature["Reason"]?.stringValue
    if !valid && key == nil && reason == "unsigned" { return nil }
    let by = key.map { " by \($0)" } ?? ""
    let ours = signature["KeyName"]?.stringValue.map { " (key \($0))" } ?? ""
    return valid ? "Good signature\(by)\(ours)" : "BAD signature\(by)\(ours): \(reason ?? "")"
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
            let answer = try versioningCall(homeOptions, "repo/create", [name], [("default-branch", defaultBranch)])
            if output.json { return printJSON(answer) }
            print("created repository \(answer["Name"]?.stringValue ?? name) (default branch \(answer["DefaultBranch"]?.stringValue ?? ""))")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List repositories.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption

        func run() throws {
            let answer = try versioningCall(homeOptions, "repo/ls", [])
            if output.json { return printJSON(answer) }
            for repo in answer.arrayValue ?? [] { print(repo["Name"]?.stringValue ?? "") }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a repository's branches, tags and state document.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Repository name.") var name: String

        func run() throws {
            let answer = try versioningCall(homeOptions, "repo/show", [name])
            if output.json { return printJSON(answer) }
            print("repository \(answer["Name"]?.stringValue ?? name)  (default branch \(answer["DefaultBranch"]?.stringValue ?? ""))")
            for b in sortedRefs(answer["Branches"]) { print("  branch \(b.name)\t\(b.target ?? "(empty)")") }
            for t in sortedRefs(answer["Tags"]) { print("  tag    \(t.name)\t\(t.target ?? "")") }
            let sequence = answer["Sequence"]?.intValue ?? 0
            print("  state  \(answer["State"]?.stringValue ?? "") (sequence \(sequence))")
            if let published = answer["Published"], published != .null {
                let publishedSequence = published["Sequence"]?.intValue ?? 0
                let behind = publishedSequence < sequence ? "; changed since: run 'jz-node publish \(name)'" : ""
                let auto = published["Auto"]?.boolValue == true ? ", auto" : ""
                print("  published as \(published["Name"]?.stringValue ?? "") (sequence \(publishedSequence)\(auto)\(behind))")
            }
            for remote in answer["Remotes"]?.arrayValue ?? [] {
                let follow = remote["Follow"]?.boolValue == true ? " (follow)" : ""
                print("  remote \(remote["Name"]?.stringValue ?? "")\t\(remote["Address"]?.stringValue ?? "")\(follow)")
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a repository's refs (its data is collected by `store gc`).")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "Repository name.") var name: String

        func run() throws {
            _ = try versioningCall(homeOptions, "repo/rm", [name])
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
        _ = try parseRefSpec(target)
        let query: [(String, String)] = [("path", WorkingFolders.realPath(directory)), ("message", message)]
            + rpcOption("subpath", path) + rpcOption("author", author) + inputs.map { ("input", $0) } + params.map { ("param", $0) }
            + rpcOption("code", code) + rpcOption("allow-empty", allowEmpty) + signOptions(sign, signKey)
        let answer = try versioningCall(homeOptions, "commit", [target], query, timeout: 3600)
        if output.json { return printJSON(answer) }
        print(answer["Cid"]?.stringValue ?? "")
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
        let answer = try versioningCall(homeOptions, "log", [target], rpcOption("n", n.map(String.init)) + rpcOption("show-signature", showSignature))
        if output.json { return printJSON(answer) }
        for c in answer.arrayValue ?? [] {
            let cid = c["Cid"]?.stringValue ?? ""
            let message = c["Message"]?.stringValue ?? ""
            if oneline {
                print("\(cid) \(message.split(separator: "\n").first ?? "")")
                if let line = signatureLine(c) { print("    \(line)") }
            } else {
                print("commit \(cid)")
                if let line = signatureLine(c) { print(line) }
                let parents = c["Parents"]?.stringArray ?? []
                if parents.count > 1 { print("Merge: " + parents.map(shortCID).joined(separator: " ")) }
                print("Author: \(c["Author"]?.stringValue ?? "")")
                print("Date:   \(dateText(c["Time"]))")
                print("\n    \(message.replacingOccurrences(of: "\n", with: "\n    "))\n")
            }
        }
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a commit: metadata, lineage and changed paths.")
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "REPO@REF") var target: String

    func run() throws {
        let c = try versioningCall(homeOptions, "show", [target])
        if output.json { return printJSON(c) }
        print("commit \(c["Cid"]?.stringValue ?? "")\ntree   \(c["Tree"]?.stringValue ?? "")")
        for p in c["Parents"]?.stringArray ?? [] { print("parent \(p)") }
        if let line = signatureLine(c) { print(line) }
        print("Author: \(c["Author"]?.stringValue ?? "")\nDate:   \(dateText(c["Time"]))\n\n    \(c["Message"]?.stringValue ?? "")\n")
        let inputs = c["Lineage"]?["Inputs"]?.stringArray ?? []
        let code = c["Lineage"]?["Code"]?.stringValue
        let parameters: [String: JSONValue]
        if case let .object(members)? = c["Lineage"]?["Parameters"] { parameters = members } else { parameters = [:] }
        if !inputs.isEmpty || code != nil || !parameters.isEmpty {
            print("Lineage:")
            for input in inputs { print("  input \(input)") }
            if let code { print("  code  \(code)") }
            for k in parameters.keys.sorted() { print("  param \(k)=\(parameters[k]?.stringValue ?? "")") }
            print()
        }
        printChanges(c["Changes"]?.arrayValue ?? [], stat: true)
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
            let answer = try versioningCall(homeOptions, "branch/create", [repo, name], rpcOption("from", from))
            print("created branch \(name)" + (answer["Target"]?.stringValue.map { " at \($0)" } ?? " (empty)"))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List branches.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Repository.") var repo: String

        func run() throws {
            let answer = try versioningCall(homeOptions, "branch/ls", [repo])
            if output.json { return printJSON(answer) }
            for b in sortedRefs(answer) { print("\(b.name)\t\(b.target ?? "(empty)")") }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a branch.")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "Repository.") var repo: String
        @Argument(help: "Branch name.") var name: String

        func run() throws {
            _ = try versioningCall(homeOptions, "branch/rm", [repo, name])
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
            let answer = try versioningCall(homeOptions, "tag/create", [repo, name], rpcOption("at", at))
            print("created tag \(name) at \(answer["Target"]?.stringValue ?? "")")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tags.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "Repository.") var repo: String

        func run() throws {
            let answer = try versioningCall(homeOptions, "tag/ls", [repo])
            if output.json { return printJSON(answer) }
            for t in sortedRefs(answer) { print("\(t.name)\t\(t.target ?? "")") }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a tag.")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "Repository.") var repo: String
        @Argument(help: "Tag name.") var name: String

        func run() throws {
            _ = try versioningCall(homeOptions, "tag/rm", [repo, name])
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
        var isDirectory: ObjCBool = false
        let folder = FileManager.default.fileExists(atPath: new, isDirectory: &isDirectory) && isDirectory.boolValue
        let answer = try versioningCall(
            homeOptions, "diff", folder ? [old] : [old, new], folder ? [("folder", WorkingFolders.realPath(new))] : [], timeout: 3600)
        if output.json { return printJSON(answer) }
        printChanges(answer["Changes"]?.arrayValue ?? [], stat: stat)
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
        guard MergeStrategy(rawValue: strategy) != nil else {
            throw ValidationError("unknown strategy \(strategy): use fail, ours or theirs")
        }
        let answer = try versioningCall(
            homeOptions, "merge", [repo, from],
            rpcOption("into", into) + [("strategy", strategy)] + rpcOption("message", message) + signOptions(sign, signKey), timeout: 3600)
        let result = answer["Result"]?.stringValue ?? ""
        let conflicts = answer["Conflicts"]?.arrayValue ?? []
        if output.json {
            printJSON(answer)
        } else {
            switch result {
            case "up-to-date": print("already up to date")
            case "fast-forward": print("fast-forward to \(answer["Head"]?.stringValue ?? "")")
            case "merged":
                print("merged: \(answer["Head"]?.stringValue ?? "")")
                for c in conflicts { print("  resolved conflict (\(strategy)): \(c["Path"]?.stringValue ?? "")") }
            default:
                for c in conflicts {
                    printError("conflict: \(c["Path"]?.stringValue ?? "")  ours \(c["Ours"]?.stringValue ?? "(deleted)")  theirs \(c["Theirs"]?.stringValue ?? "(deleted)")")
                }
            }
        }
        if result == "conflicts" { throw ExitCode.failure }
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
    @Flag(name: .long, help: "JSON output: Tree, Previous, Written, Removed, Unchanged, Conflicts, Overwritten, Seconds.") var json = false

    func run() async throws {
        if let report = try await runCheckout(homeOptions, try parseRefSpec(target), folder: directory, force: force, json: json) {
            printJSON(report, keyOrder: ["Tree", "Previous", "Written", "Removed", "Unchanged", "Conflicts", "Overwritten", "Seconds"])
        }
    }
}

struct LineageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "lineage", abstract: "The chain of inputs behind a commit.")
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "REPO@REF") var target: String

    func run() throws {
        let answer = try versioningCall(homeOptions, "lineage", [target])
        if output.json { return printJSON(answer) }
        for n in answer.arrayValue ?? [] {
            let message = n["Message"]?.stringValue.map { "  \($0.split(separator: "\n").first ?? "")" } ?? "  (data)"
            print(String(repeating: "  ", count: n["Depth"]?.intValue ?? 0) + (n["Cid"]?.stringValue ?? "") + message)
        }
    }
}
