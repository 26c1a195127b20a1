import Foundation
import IPNS
import Multiformats
import RepoSync
import Versioning

/// The versioning commands, defined once: the daemon serves them under `/api/v0/<command>`
/// with its own `LocalNode`, and the CLI runs the same handlers in-process on the node home
/// when no daemon runs. Arguments come as `arg` values and options as query parameters, as in
/// every Kubo command; each answer is one JSON document (see `docs/openapi/versioning.yaml`).
///
/// Folders (`commit`'s `path`, `diff`'s `folder`, `checkout`'s `path`) are absolute paths on
/// the host that runs the handler; `commit` also takes the folder as a `multipart/form-data`
/// body, as Kubo clients send `add`.
public enum VersioningCommands {
    public typealias Handler = @Sendable (LocalNode, APIRequest) throws -> JSONValue

    /// Every versioning command by its RPC name.
    public static let handlers: [String: Handler] = [
        "repo/create": { try repoCreate($0, $1) },
        "repo/ls": { try repoList($0, $1) },
        "repo/show": { try repoShow($0, $1) },
        "repo/rm": { try repoRemove($0, $1) },
        "commit": { try commit($0, $1) },
        "log": { try log($0, $1) },
        "show": { try show($0, $1) },
        "lineage": { try lineage($0, $1) },
        "diff": { try diff($0, $1) },
        "merge": { try merge($0, $1) },
        "checkout": { try checkout($0, $1) },
        "branch/ls": { try branchList($0, $1) },
        "branch/create": { try branchCreate($0, $1) },
        "branch/rm": { try branchRemove($0, $1) },
        "tag/ls": { try tagList($0, $1) },
        "tag/create": { try tagCreate($0, $1) },
        "tag/rm": { try tagRemove($0, $1) },
        "remote/add": { try remoteAdd($0, $1) },
        "remote/ls": { try remoteList($0, $1) },
        "remote/show": { try remoteShow($0, $1) },
        "remote/rm": { try remoteRemove($0, $1) },
        "remote/follow": { try remoteFollow($0, $1) },
    ]

    /// The command names, sorted.
    public static var commands: [String] { handlers.keys.sorted() }

    /// Runs `request.command` on `node`. Errors come as Kubo's: `.remote(400, …)` for a bad or
    /// missing argument or option (naming it), `.remote(500, …)` for a failure (a missing
    /// repository or branch included: 404 means "no such command" to Kubo clients).
    public static func run(_ node: LocalNode, _ request: APIRequest) throws(APIError) -> JSONValue {
        guard let handler = handlers[request.command] else {
            throw .remote(status: 404, message: "unknown command \"\(request.command)\"")
        }
        do {
            return try handler(node, request)
        } catch let error as APIError {
            if case .remote = error { throw error }
            throw .remote(status: 400, message: error.description)
        } catch let error as VersioningError {
            throw .remote(status: status(of: error), message: error.description)
        } catch let error as CheckoutError {
            if case .versioning(let inner) = error { throw .remote(status: status(of: inner), message: error.description) }
            throw .remote(status: 500, message: error.description)
        } catch {
            throw .remote(status: 500, message: "\(error)")
        }
    }

    static func status(of error: VersioningError) -> Int {
        switch error {
        case .invalidName, .invalidRefSyntax: return 400
        default: return 500
        }
    }

    // MARK: - repositories

    /// `repo/create NAME [default-branch=main]` → `{"Name","DefaultBranch"}`.
    static func repoCreate(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let name = try argument(request, 0, "name")
        let info = try node.versionStore().createRepository(name, defaultBranch: request.value("default-branch") ?? "main")
        return ["Name": .string(info.record.name), "DefaultBranch": .string(info.record.defaultBranch)]
    }

    /// `repo/ls` → `[{"Name","DefaultBranch"}]`.
    static func repoList(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        .array(try node.versionStore().repositories().map { ["Name": .string($0.name), "DefaultBranch": .string($0.defaultBranch)] })
    }

    /// `repo/show NAME` → name, default branch, branches, tags, state document, publication, remotes.
    static func repoShow(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let name = try argument(request, 0, "name")
        let versions = node.versionStore()
        let info = try versions.repository(name)
        let state = try versions.currentState(name)
        let remotes = try versions.refs.remotes(name)
        // The name it is published under, when its key is still in the keystore.
        let published = info.record.publishKey.flatMap { try? node.home.keystore.key(named: $0) }
            .map { IPNSName(publicKey: $0.privateKey.publicKey).path }
        return [
            "Name": .string(info.record.name), "DefaultBranch": .string(info.record.defaultBranch),
            "Branches": VersioningJSON.refs(info.branches),
            "Tags": VersioningJSON.refs(info.tags),
            "State": .string(state.cid.description), "Sequence": .int(Int64(state.state.sequence)),
            "Published": published.map { name in
                ["Name": .string(name), "Key": .string(info.record.publishKey ?? ""),
                 "Sequence": .int(Int64(clamping: info.record.publishedSequence)), "Auto": .bool(info.record.publishAuto)]
            } ?? .null,
            "Remotes": .array(remotes.map(VersioningJSON.remote)),
        ]
    }

    /// `repo/rm NAME` → `{"Name"}` (its refs go; its data is collected by `store gc`).
    static func repoRemove(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let name = try argument(request, 0, "name")
        try node.versionStore().deleteRepository(name)
        return ["Name": .string(name)]
    }

    // MARK: - commits

    /// `commit REPO[@BRANCH]` with the folder as option `path` (absolute, on this host) or a
    /// multipart body; options `message` (required), `subpath`, `author`, `input` (repeatable),
    /// `param` K=V (repeatable), `code`, `allow-empty`, `sign` (true/false; absent: config
    /// `Versioning.SignCommits`), `sign-key` → the commit (`VersioningJSON.commit`, with
    /// `Signature` when signed).
    static func commit(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let spec = try refSpec(request, 0, "repository")
        guard let message = request.value("message") else { throw bad("option \"message\" is required") }
        let signKey = request.value("sign-key")
        let sign = optionalFlag(request, "sign")
        if sign == false && signKey != nil { throw bad("options \"sign\"=false and \"sign-key\" contradict each other") }
        var author = node.defaultAuthor
        if let text = request.value("author") {
            guard let parsed = Person(parsing: text) else { throw bad("option \"author\" must look like \"Name <email>\", not \(text)") }
            author = parsed
        }
        var parameters: [String: String] = [:]
        for p in values(request, "param") {
            guard let eq = p.firstIndex(of: "=") else { throw bad("option \"param\" \(p): use K=V") }
            parameters[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        var inputs: [CID] = []
        for text in values(request, "input") {
            do { inputs.append(try CID(text)) } catch { throw bad("option \"input\": \(text) is not a CID: \(error)") }
        }
        let lineage = Lineage(inputs: inputs, code: request.value("code"), parameters: parameters)
        let signer = try CommitSigning.signer(for: node, sign: sign, keyName: signKey)
        let versions = node.versionStore()
        let result = try withCommitFolder(request) { folder in
            try versions.commit(
                spec.repository, branch: spec.ref?.base, directory: folder, message: message, author: author,
                subpath: request.value("subpath"), lineage: lineage, allowEmpty: request.flag("allow-empty"), signer: signer)
        }
        let value = VersioningJSON.commit(result.cid, result.commit)
        guard signer != nil else { return value }
        return VersioningJSON.addingSignature(to: value, result.commit, keyNames: CommitSigning.localKeyNames(keystore: node.home.keystore))
    }

    /// Runs `body` with the folder to commit: option `path`, or the multipart parts the server
    /// wrote to the upload's folder as they arrived (`APIRequest.upload`, as for `add`). The
    /// parts are the folder's entries (`a.csv`, `raw/b.csv`); a body holding one top-level
    /// directory (how Kubo clients send one folder to `add`) commits that directory.
    static func withCommitFolder<T>(_ request: APIRequest, _ body: (String) throws -> T) throws -> T {
        if let path = request.value("path") {
            guard path.hasPrefix("/") else {
                throw bad("option \"path\" must be an absolute folder path on the daemon's host, not \(path)")
            }
            return try body(path)
        }
        guard let upload = request.upload else {
            throw bad("commit needs the folder: option \"path\" (a folder on the daemon's host) or a multipart/form-data body of its files")
        }
        guard upload.entries.allSatisfy({ $0.name != nil }) else {
            throw bad("commit body: every part needs a file name (its path inside the folder)")
        }
        guard let first = upload.entries.first else { throw bad("commit body: no files") }
        if upload.entries.count == 1, first.kind == .directory {
            return try body(first.path)
        }
        return try body((first.path as NSString).deletingLastPathComponent)
    }

    /// `log REPO[@REF]`, options `n` (at most N commits), `show-signature` → `[commit]`, newest
    /// first (each with `Signature` under `show-signature`).
    static func log(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let spec = try refSpec(request, 0, "ref")
        var limit: Int?
        if let text = request.value("n") {
            guard let value = Int(text), value >= 0 else { throw bad("option \"n\" must be a number of commits, not \(text)") }
            limit = value
        }
        let showSignature = request.flag("show-signature")
        let keyNames = showSignature ? CommitSigning.localKeyNames(keystore: node.home.keystore) : [:]
        let entries = try node.versionStore().log(spec.repository, spec.ref, limit: limit)
        return .array(entries.map { entry in
            let value = VersioningJSON.commit(entry.cid, entry.commit)
            return showSignature ? VersioningJSON.addingSignature(to: value, entry.commit, keyNames: keyNames) : value
        })
    }

    /// `show REPO@REF` → the commit with `Signature` and `Changes` (against its first parent).
    static func show(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let spec = try refSpec(request, 0, "ref")
        let versions = node.versionStore()
        let details = try versions.show(try versions.resolve(spec))
        let keyNames = details.commit.signature == nil ? [:] : CommitSigning.localKeyNames(keystore: node.home.keystore)
        return VersioningJSON.addingSignature(to: VersioningJSON.commit(details.cid, details.commit), details.commit, keyNames: keyNames)
            .setting("Changes", .array(details.changes.map(VersioningJSON.change)))
    }

    /// `lineage REPO@REF` → `[{"Cid","Depth","InputOf","Message"}]` (Message null for data inputs).
    static func lineage(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let spec = try refSpec(request, 0, "ref")
        let versions = node.versionStore()
        return .array(try versions.lineage(try versions.resolve(spec)).map { n in
            ["Cid": .string(n.cid.description), "Depth": .int(Int64(n.depth)),
             "InputOf": n.inputOf.map { .string($0.description) } ?? .null,
             "Message": n.commit.map { .string($0.message) } ?? .null]
        })
    }

    /// `diff REPO@A[:PATH] REPO@B[:PATH]`, or `diff REPO@A[:PATH]` with option `folder` (an
    /// absolute path on this host) → `{"Changes": [change], "BlocksRead"}`.
    static func diff(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let old = try refSpec(request, 0, "old")
        let versions = node.versionStore()
        let oldTree = try versions.resolveTree(old)
        let diff = TreeDiff(source: versions.blocks)
        let changes: [TreeChange]
        if let folder = request.value("folder") {
            guard folder.hasPrefix("/") else { throw bad("option \"folder\" must be an absolute path on the daemon's host, not \(folder)") }
            guard request.arguments.count == 1 else { throw bad("give either argument \"new\" or option \"folder\", not both") }
            changes = try diff.diff(old: oldTree, folder: folder, options: versions.importOptions)
        } else {
            let new = try refSpec(request, 1, "new")
            changes = try diff.diff(old: oldTree, new: try versions.resolveTree(new))
        }
        return ["Changes": .array(changes.map(VersioningJSON.change)), "BlocksRead": .int(Int64(diff.blocksRead))]
    }

    /// `merge REPO FROM`, options `into` (default: the default branch), `strategy`
    /// (fail|ours|theirs), `message`, `sign`, `sign-key` → `{"Result","Head","Base","Conflicts"}`.
    /// Conflicts under `fail` are an answer (Result "conflicts"), not an error.
    static func merge(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let repo = try argument(request, 0, "repository")
        let from = try argument(request, 1, "from")
        let strategyName = request.value("strategy") ?? "fail"
        guard let strategy = MergeStrategy(rawValue: strategyName) else {
            throw bad("option \"strategy\": unknown strategy \(strategyName): use fail, ours or theirs")
        }
        let signKey = request.value("sign-key")
        let sign = optionalFlag(request, "sign")
        if sign == false && signKey != nil { throw bad("options \"sign\"=false and \"sign-key\" contradict each other") }
        guard let ref = try parseSpec("\(repo)@\(from)", "from").ref else { throw bad("argument \"from\" must name a ref") }
        let signer = try CommitSigning.signer(for: node, sign: sign, keyName: signKey)
        let outcome = try node.versionStore().merge(
            repo, from: ref, into: request.value("into"), strategy: strategy, message: request.value("message"),
            author: node.defaultAuthor, signer: signer)
        return [
            "Result": .string(outcome.kind.rawValue), "Head": .string(outcome.head.description),
            "Base": outcome.base.map { .string($0.description) } ?? .null,
            "Conflicts": .array(outcome.conflicts.map { c in
                ["Path": .string(c.path), "Base": c.base.map { .string($0.description) } ?? .null,
                 "Ours": c.ours.map { .string($0.description) } ?? .null,
                 "Theirs": c.theirs.map { .string($0.description) } ?? .null]
            }),
        ]
    }

    /// `checkout REPO@REF[:PATH]`, option `path` (the folder: absolute, on this host), `force`
    /// → `VersioningJSON.checkout`. The tree's blocks must be local (a daemon fetches those of a
    /// history-only clone first).
    static func checkout(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let spec = try refSpec(request, 0, "ref")
        guard let folder = request.value("path") else { throw bad("option \"path\" (the folder to check out into) is required") }
        guard folder.hasPrefix("/") else { throw bad("option \"path\" must be an absolute folder path on the daemon's host, not \(folder)") }
        let report = try WorkingFolders(home: node.home, versions: node.versionStore()).updateCheckout(
            repo: spec.repository, ref: spec.ref, path: spec.path, folder: folder, force: request.flag("force"))
        return VersioningJSON.checkout(report)
    }

    // MARK: - branches and tags

    /// `branch/ls REPO` → `{name: head CID or null}`.
    static func branchList(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        VersioningJSON.refs(try node.versionStore().branches(try argument(request, 0, "repository")))
    }

    /// `branch/create REPO NAME`, option `from` (a ref; default the default branch) →
    /// `{"Repository","Name","Target"}` (Target null for an empty branch).
    static func branchCreate(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let repo = try argument(request, 0, "repository")
        let name = try argument(request, 1, "name")
        let start = try request.value("from").map { try parseSpec("\(repo)@\($0)", "from").ref } ?? nil
        let target = try node.versionStore().createBranch(repo, name, from: start)
        return ["Repository": .string(repo), "Name": .string(name), "Target": target.map { .string($0.description) } ?? .null]
    }

    /// `branch/rm REPO NAME` → `{"Repository","Name"}`.
    static func branchRemove(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let repo = try argument(request, 0, "repository")
        let name = try argument(request, 1, "name")
        try node.versionStore().deleteBranch(repo, name)
        return ["Repository": .string(repo), "Name": .string(name)]
    }

    /// `tag/ls REPO` → `{name: CID}`.
    static func tagList(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        VersioningJSON.refs(try node.versionStore().tags(try argument(request, 0, "repository")))
    }

    /// `tag/create REPO NAME`, option `at` (a ref; default the default branch's head) →
    /// `{"Repository","Name","Target"}`.
    static func tagCreate(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let repo = try argument(request, 0, "repository")
        let name = try argument(request, 1, "name")
        let ref = try request.value("at").map { try parseSpec("\(repo)@\($0)", "at").ref } ?? nil
        let target = try node.versionStore().createTag(repo, name, at: ref)
        return ["Repository": .string(repo), "Name": .string(name), "Target": .string(target.description)]
    }

    /// `tag/rm REPO NAME` → `{"Repository","Name"}`.
    static func tagRemove(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let repo = try argument(request, 0, "repository")
        let name = try argument(request, 1, "name")
        try node.versionStore().deleteTag(repo, name)
        return ["Repository": .string(repo), "Name": .string(name)]
    }

    // MARK: - remotes

    /// `remote/add REPO NAME ADDRESS`, option `follow` → `{"Repository","Name","Address","Follow"}`.
    static func remoteAdd(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let repo = try argument(request, 0, "repository")
        let name = try argument(request, 1, "name")
        let address = try argument(request, 2, "address")
        let parsed: String
        do { parsed = try RepoSync.parseName(address).path } catch { throw bad("argument \"address\": \(error)") }
        let follow = request.flag("follow")
        try node.versionStore().refs.addRemote(repo, name, address: parsed, follow: follow)
        return ["Repository": .string(repo), "Name": .string(name), "Address": .string(parsed), "Follow": .bool(follow)]
    }

    /// `remote/ls REPO` → `[remote]` (`VersioningJSON.remote`).
    static func remoteList(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        .array(try node.versionStore().refs.remotes(try argument(request, 0, "repository")).map(VersioningJSON.remote))
    }

    /// `remote/show REPO NAME` → the remote with `Refs`: `[{"Kind","Name","Target","Local"}]`
    /// (Local: the local branch of that name's head, null when none or for tags).
    static func remoteShow(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let repo = try argument(request, 0, "repository")
        let name = try argument(request, 1, "name")
        let refs = node.versionStore().refs
        guard let remote = try refs.remote(repo, name) else { throw VersioningError.remoteNotFound(repo: repo, remote: name) }
        let remoteRefs = try refs.remoteRefs(repo, name)
        let branches = Dictionary(try refs.branches(repo).map { ($0.name, $0.target) }, uniquingKeysWith: { a, _ in a })
        return VersioningJSON.remote(remote).setting("Refs", .array(remoteRefs.map { ref in
            let local = ref.kind == .branch ? branches[ref.name] ?? nil : nil
            return ["Kind": .string(ref.kind.rawValue), "Name": .string(ref.name), "Target": .string(ref.target.description),
                    "Local": local.map { .string($0.description) } ?? .null]
        }))
    }

    /// `remote/rm REPO NAME` → `{"Repository","Name"}` (local branches stay).
    static func remoteRemove(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let repo = try argument(request, 0, "repository")
        let name = try argument(request, 1, "name")
        try node.versionStore().refs.removeRemote(repo, name)
        return ["Repository": .string(repo), "Name": .string(name)]
    }

    /// `remote/follow REPO NAME`, option `stop` → `{"Repository","Name","Follow"}`.
    static func remoteFollow(_ node: LocalNode, _ request: APIRequest) throws -> JSONValue {
        let repo = try argument(request, 0, "repository")
        let name = try argument(request, 1, "name")
        let follow = !request.flag("stop")
        try node.versionStore().refs.setFollow(repo, name, follow: follow)
        return ["Repository": .string(repo), "Name": .string(name), "Follow": .bool(follow)]
    }

    // MARK: - arguments

    static func bad(_ message: String) -> APIError { .remote(status: 400, message: message) }

    /// The `index`th `arg`, or a 400 naming it.
    static func argument(_ request: APIRequest, _ index: Int, _ name: String) throws(APIError) -> String {
        let arguments = request.arguments
        guard index < arguments.count, !arguments[index].isEmpty else { throw bad("argument \"\(name)\" is required") }
        return arguments[index]
    }

    /// The `index`th `arg` as `REPO[@REF][:PATH]`.
    static func refSpec(_ request: APIRequest, _ index: Int, _ name: String) throws(APIError) -> RefSpec {
        try parseSpec(try argument(request, index, name), name)
    }

    static func parseSpec(_ text: String, _ name: String) throws(APIError) -> RefSpec {
        do { return try RefSyntax.parse(text) } catch { throw bad("argument \"\(name)\": \(error)") }
    }

    /// Every value of a repeatable option.
    static func values(_ request: APIRequest, _ name: String) -> [String] {
        request.parameters.filter { $0.0 == name }.map(\.1)
    }

    /// A boolean option that may be absent (nil), as `sign`.
    static func optionalFlag(_ request: APIRequest, _ name: String) -> Bool? {
        request.value(name).map { _ in request.flag(name) }
    }
}
