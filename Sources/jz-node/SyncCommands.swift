import ArgumentParser
import Foundation
import JZNode
import Logging
import Multiformats
import RepoSync
import Versioning

/// Runs a clone or pull: through the daemon when one runs (the streaming `repo/clone` or
/// `repo/pull` command), else on a short-lived node (a DHT client bootstrapped from `Bootstrap`,
/// as `fetch` does), with a progress bar of bytes fetched. Returns the result document.
func runSync(
    _ options: HomeOptions, _ command: String, arguments: [String], query: [(String, String)], quiet: Bool, label: String,
    oneShot: @escaping @Sendable (RepoSync, _ progress: @escaping @Sendable (SyncProgress) -> Void) async throws -> PullReport
) async throws -> JSONValue {
    let bar = ProgressBar(label: label, total: nil, quiet: quiet)
    defer { bar.finish() }
    guard var api = DaemonFetch.daemon(options) else {
        let node = try FetchNode(home: options.home, logger: Logger(label: "jz.sync"))
        return try await node.sync { engine in
            try await oneShot(engine) { bar.update(Int64($0.bytesFetched)) }
        }.json
    }
    api.timeout = 600
    var result: JSONValue?
    var failure: String?
    try api.stream(command, arguments: arguments, options: query) { document, _ in
        if let progress = document["Progress"], progress != .null {
            bar.update(Int64(progress["BytesFetched"]?.intValue ?? 0))
        }
        if let value = document["Result"] { result = value }
        if let error = document["Error"]?.stringValue { failure = error }
    }
    if let failure { throw SyncFailure(message: failure) }
    guard let result else { throw SyncFailure(message: "the daemon ended \(command) without a result") }
    return result
}

/// A history-only clone (`clone --no-checkout-data`) has commits and directories but no file
/// data: before a checkout or `cat` reads `tree` of such a repository, fetch it (through the
/// daemon when one runs, else a short-lived node). Repositories without such a remote cost
/// nothing here.
func fetchLazyData(_ options: HomeOptions, _ versions: VersionStore, repo: String, tree: CID) async throws {
    guard try versions.refs.remotes(repo).contains(where: \.lazyData) else { return }
    if DaemonFetch.daemon(options) != nil {
        try DaemonFetch.fetch(options, "/ipfs/\(tree)", recursive: true)
    } else {
        let node = try FetchNode(home: options.home, logger: Logger(label: "jz.fetch"))
        _ = try await node.fetch(FetchRequest(path: ContentPath(root: tree), pin: false))
    }
}

/// Checks a commit's tree out into `folder` (fresh, or in place over an earlier checkout) and
/// prints what was done (`checkout`, `pull --checkout`); with `json`, returns the JSON report
/// instead of printing. Goes through the daemon's `checkout` command when one runs (it fetches
/// the data of a history-only clone itself); offline, a short-lived node fetches that data first.
@discardableResult
func runCheckout(_ options: HomeOptions, _ spec: RefSpec, folder: String, force: Bool, json: Bool) async throws -> JSONValue? {
    if DaemonFetch.daemon(options) == nil {
        let versions = try openLocalNode(options).versionStore()
        if let tree = try? versions.resolveTree(spec) {
            try await fetchLazyData(options, versions, repo: spec.repository, tree: tree)
        }
    }
    let report = try versioningCall(
        options, "checkout", [spec.description], [("path", WorkingFolders.realPath(folder))] + rpcOption("force", force), timeout: 3600)
    if json { return report }
    for conflict in report["Overwritten"]?.arrayValue ?? [] {
        print("overwrote \(conflict["Path"]?.stringValue ?? "") (\(conflict["Reason"]?.stringValue ?? ""))")
    }
    let tree = report["Tree"]?.stringValue ?? ""
    if report["Previous"]?.stringValue == nil {
        print("checked out \(tree) into \(folder)")
    } else {
        print("updated \(folder) to \(tree) (\(report["Written"]?.intValue ?? 0) written, \(report["Removed"]?.intValue ?? 0) removed, \(report["Unchanged"]?.intValue ?? 0) unchanged)")
    }
    return nil
}

struct SyncFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// The human summary of a clone or pull.
func printPullReport(_ report: JSONValue, verb: String) {
    let repo = report["Repository"]?.stringValue ?? ""
    let remote = report["Remote"]?.stringValue ?? ""
    if report["StaleRecord"]?.boolValue == true {
        print("\(remote) resolved to an older state than the one already pulled (a stale record); nothing fetched")
    } else if report["UpToDate"]?.boolValue == true {
        print("\(repo): already up to date with \(remote) (sequence \(report["Sequence"]?.intValue ?? 0))")
    } else {
        let commits = report["Commits"]?.intValue ?? 0
        let bytes = report["BytesFetched"]?.intValue ?? 0
        let blocks = report["BlocksFetched"]?.intValue ?? 0
        let seconds = report["Seconds"]?.doubleValue ?? 0
        print("\(verb) \(repo) from \(remote) (\(report["Name"]?.stringValue ?? "")): \(commits) new commit(s), \(blocks) block(s), \(ProgressBar.bytes(Int64(bytes))) in \(String(format: "%.2f", seconds)) s")
    }
    for ref in report["Refs"]?.arrayValue ?? [] {
        let name = ref["Name"]?.stringValue ?? ""
        let kind = ref["Kind"]?.stringValue == "tag" ? "tag " : ""
        let old = ref["Old"]?.stringValue.map { String($0.suffix(10)) } ?? "(new)"
        let new = ref["New"]?.stringValue.map { String($0.suffix(10)) } ?? "(deleted)"
        print("  \(kind)\(remote)/\(name): \(old) -> \(new)")
    }
    for branch in report["Branches"]?.arrayValue ?? [] {
        let name = branch["Name"]?.stringValue ?? ""
        switch branch["Outcome"]?.stringValue ?? "" {
        case "created": print("  branch \(name) created at \(remote)/\(name)")
        case "fast-forward": print("  branch \(name) fast-forwarded to \(branch["New"]?.stringValue ?? "")")
        case "ahead": print("  branch \(name) is ahead of \(remote)/\(name): publish to share it")
        case "diverged": print("  branch \(name) has diverged from \(remote)/\(name): run 'jz-node pull \(report["Repository"]?.stringValue ?? "") --merge' or 'jz-node merge \(report["Repository"]?.stringValue ?? "")@\(name) \(remote)/\(name)'")
        case "merged": print("  branch \(name): merged \(remote)/\(name) (\(branch["New"]?.stringValue ?? ""))")
        case "conflicts": print("  branch \(name): merging \(remote)/\(name) conflicts; nothing changed (see 'jz-node merge --help')")
        default: break
        }
    }
    let tags = report["TagsCreated"]?.arrayValue?.compactMap(\.stringValue) ?? []
    if !tags.isEmpty { print("  new tags: \(tags.joined(separator: ", "))") }
    for tag in report["TagConflicts"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
        print("  tag \(tag) differs from \(remote)'s and was left alone")
    }
}

struct PublishCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish a repository's branch heads under its own IPNS name (through the daemon).",
        discussion: """
            Writes the repository's heads document (branches, tags, a sequence number that grows \
            with every change), signs an IPNS record pointing at it with the repository's key \
            (`repo-NAME` in the keystore, made on first publish; see `jz-node key list`), puts it on \
            the closest DHT peers and announces the document and the heads. Prints the name \
            (/ipns/k51…) another site clones.

            A publish whose sequence would go backwards (the network holds a newer record for the \
            name: another node publishes with this key, or the repository was re-created) is \
            refused with an explanation. --auto makes the daemon republish after every commit, \
            branch or tag change (--no-auto stops it).

            Example:
              jz-node publish climate --auto
              # on another site:  jz-node clone k51qzi5uqu5d… climate
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "The repository.") var repository: String
    @Option(name: [.short, .long], help: "The keystore key to publish under (default: the repository's, else repo-NAME).") var key: String?
    @Flag(inversion: .prefixedNo, help: "Republish after every ref change (default: keep the current setting).") var auto: Bool?

    func run() throws {
        var api = try requireDaemon(homeOptions)
        api.timeout = 180
        var options: [(String, String)] = []
        if let key { options.append(("key", key)) }
        if let auto { options.append(("auto", auto ? "true" : "false")) }
        let answer = try api.call("repo/publish", arguments: [repository], options: options)
        if output.json { return printJSON(answer) }
        let unchanged = answer["Unchanged"]?.boolValue == true ? " (unchanged since the last publish)" : ""
        print("published \(repository) at sequence \(answer["Sequence"]?.intValue ?? 0)\(unchanged): \(answer["Name"]?.stringValue ?? "")")
        if answer["Auto"]?.boolValue == true { print("the daemon republishes it after every change") }
    }
}

struct CloneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clone",
        abstract: "Clone a repository published under an IPNS name.",
        discussion: """
            Resolves the name, fetches its heads document and the commits and trees it reaches \
            over Bitswap (providers found in the DHT; every block verified against its CID), \
            creates the local repository with remote-tracking branches (origin/main, …), local \
            tags, the default branch at origin's, and records the remote `origin`.

            --depth N fetches only the last N commits of each branch; --no-checkout-data fetches \
            commits and directories but no file data (diff and log work; `checkout` and `cat` \
            fetch the data they need through the daemon). If the clone stops (network, Ctrl-C, \
            kill), the repository stays with its remote: `jz-node pull LOCAL` resumes it.

            With a daemon running, the daemon clones (and then serves what it fetched to other \
            sites); otherwise a short-lived node does (a DHT client bootstrapped from `Bootstrap`).

            Example:
              jz-node clone k51qzi5uqu5d… climate --branch main
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "The name: k51…, a peer ID, or /ipns/NAME.") var name: String
    @Argument(help: "The local repository name (default: the name the publisher gave it).") var local: String?
    @Option(name: [.short, .long], help: "Make this branch the local default branch.") var branch: String?
    @Option(name: .long, help: "Fetch only the last N commits of each branch.") var depth: Int?
    @Flag(name: .customLong("no-checkout-data"), help: "Fetch history and directories only; file data on demand.") var noCheckoutData = false
    @Flag(name: [.short, .long], help: "No progress bar.") var quiet = false

    func validate() throws {
        if let depth, depth < 1 { throw ValidationError("--depth must be 1 or more") }
    }

    func run() async throws {
        var query: [(String, String)] = []
        if let branch { query.append(("branch", branch)) }
        if let depth { query.append(("depth", String(depth))) }
        if noCheckoutData { query.append(("no-checkout-data", "true")) }
        let (name, local, branch) = (name, local, branch)
        let home = homeOptions.home
        let options = try RepoSyncService.options(
            depth: depth, lazyData: noCheckoutData, merge: false, requireSigned: nil,
            author: LocalNode.defaultAuthor(try home.loadConfig()), keystore: home.keystore)
        let report = try await runSync(
            homeOptions, "repo/clone", arguments: [name] + (local.map { [$0] } ?? []), query: query, quiet: quiet || output.json,
            label: "cloning"
        ) { engine, progress in
            try await engine.clone(name, as: local, branch: branch, options: options, progress: progress)
        }
        if output.json { return printJSON(report) }
        printPullReport(report, verb: "cloned")
    }
}

struct PullCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Bring a repository up to date with a remote.",
        discussion: """
            Resolves the remote's name again (no cache), fetches only the commits and blocks not \
            yet local, and moves each remote-tracking branch (origin/main) only once the whole DAG \
            of its new head is local and verified, so an interrupted pull never leaves a branch at \
            an incomplete commit: run it again and it resumes. Then local branches that have not \
            diverged are fast-forwarded; diverged ones are reported, or merged with --merge (the \
            three-way merge of `jz-node merge`). New remote tags become local tags.

            --require-signed KEY refuses new commits not signed by KEY (see `commit --sign`): the \
            remote refs then stay where they were.

            --checkout DIR then updates DIR to the default branch as `checkout` does: in place \
            when DIR holds an earlier checkout of the repository (only changed files written; \
            local changes to them refuse the update), else a fresh checkout.

            With a daemon running, the daemon pulls; otherwise a short-lived node does.

            Example:
              jz-node pull climate            # the only remote, else origin
              jz-node pull climate site-b --merge
            """)
    @OptionGroup var homeOptions: HomeOptions
    @OptionGroup var output: JSONOption
    @Argument(help: "The repository.") var repository: String
    @Argument(help: "The remote (default: the only one, else origin).") var remote: String?
    @Flag(name: .long, help: "Merge remote changes into local branches that diverged.") var merge = false
    @Option(name: .long, help: ArgumentHelp(
        "Refuse the pull unless every new commit is signed by KEY (a key name, peer ID or k51… name).", valueName: "KEY"))
    var requireSigned: String?
    @Option(name: .long, help: ArgumentHelp(
        "Then update this folder (an earlier checkout of the repository, or a new one) to the default branch, in place.",
        valueName: "DIR"))
    var checkout: String?
    @Flag(name: [.short, .long], help: "No progress bar.") var quiet = false

    func run() async throws {
        var query: [(String, String)] = []
        if merge { query.append(("merge", "true")) }
        if let requireSigned { query.append(("require-signed", requireSigned)) }
        let (repository, remote) = (repository, remote)
        let home = homeOptions.home
        let options = try RepoSyncService.options(
            depth: nil, lazyData: false, merge: merge, requireSigned: requireSigned,
            author: LocalNode.defaultAuthor(try home.loadConfig()), keystore: home.keystore)
        let report = try await runSync(
            homeOptions, "repo/pull", arguments: [repository] + (remote.map { [$0] } ?? []), query: query,
            quiet: quiet || output.json, label: "pulling"
        ) { engine, progress in
            try await engine.pull(repository, remote: remote, options: options, progress: progress)
        }
        if let checkout {
            if !output.json { printPullReport(report, verb: "pulled") }
            let folder = try await runCheckout(homeOptions, RefSpec(repository: repository), folder: checkout, force: false, json: output.json)
            if let folder { printJSON(report.setting("Checkout", folder)) }
            return
        }
        if output.json { return printJSON(report) }
        printPullReport(report, verb: "pulled")
    }
}

struct RemoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remote",
        abstract: "Manage a repository's remotes: other sites' published names it pulls from.",
        subcommands: [Add.self, List.self, Show.self, Remove.self, Follow.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add", abstract: "Add a remote: NAME for the repository published under ADDRESS.",
            discussion: """
                With --follow, a running daemon resolves the remote's name every \
                Versioning.FollowInterval (default 60s) and pulls when it points at a new state.

                Example:
                  jz-node remote add climate site-b k51qzi5uqu5d… --follow
                """)
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "The repository.") var repository: String
        @Argument(help: "The remote's name (e.g. site-b).") var name: String
        @Argument(help: "The published name: k51…, a peer ID or /ipns/NAME.") var address: String
        @Flag(name: .long, help: "Have the daemon pull whenever the remote publishes.") var follow = false

        func run() throws {
            do { _ = try RepoSync.parseName(address) } catch { throw ValidationError("\(error)") }
            let answer = try versioningCall(homeOptions, "remote/add", [repository, name, address], rpcOption("follow", follow))
            if output.json { return printJSON(answer) }
            print("added remote \(name) (\(answer["Address"]?.stringValue ?? address))\(follow ? ", followed" : ""): run 'jz-node pull \(repository) \(name)'")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List a repository's remotes.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "The repository.") var repository: String
        @Flag(name: [.short, .long], help: "Show addresses.") var verbose = false

        func run() throws {
            let answer = try versioningCall(homeOptions, "remote/ls", [repository])
            if output.json { return printJSON(answer) }
            for remote in answer.arrayValue ?? [] {
                let name = remote["Name"]?.stringValue ?? ""
                let follow = remote["Follow"]?.boolValue == true ? "\t(follow)" : ""
                print(verbose ? "\(name)\t\(remote["Address"]?.stringValue ?? "")\(follow)" : name)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "A remote's address, state and tracking refs.")
        @OptionGroup var homeOptions: HomeOptions
        @OptionGroup var output: JSONOption
        @Argument(help: "The repository.") var repository: String
        @Argument(help: "The remote.") var name: String

        func run() throws {
            let remote = try versioningCall(homeOptions, "remote/show", [repository, name])
            if output.json { return printJSON(remote) }
            print("remote \(remote["Name"]?.stringValue ?? name)")
            print("  address:  \(remote["Address"]?.stringValue ?? "")")
            print("  follow:   \(remote["Follow"]?.boolValue == true ? "yes (the daemon pulls when it publishes)" : "no")")
            if let state = remote["State"]?.stringValue {
                let when = remote["Fetched"]?.intValue.map { Date(timeIntervalSince1970: TimeInterval($0)).description } ?? "?"
                print("  state:    \(state) (sequence \(remote["Sequence"]?.intValue ?? 0), fetched \(when))")
            } else {
                print("  state:    never fetched (run 'jz-node pull \(repository) \(name)')")
            }
            if remote["Shallow"]?.boolValue == true { print("  history:  shallow (fetched to a depth)") }
            if remote["LazyData"]?.boolValue == true { print("  data:     fetched on demand (--no-checkout-data)") }
            for ref in remote["Refs"]?.arrayValue ?? [] {
                let refName = ref["Name"]?.stringValue ?? ""
                let target = ref["Target"]?.stringValue ?? ""
                let isBranch = ref["Kind"]?.stringValue == "branch"
                var line = "  \(isBranch ? "branch" : "tag   ") \(name)/\(refName) \(target)"
                if isBranch, let local = ref["Local"]?.stringValue {
                    line += local == target ? "  (local \(refName) up to date)" : "  (local \(refName) differs)"
                }
                print(line)
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove a remote and its tracking refs (local branches stay).")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "The repository.") var repository: String
        @Argument(help: "The remote.") var name: String

        func run() throws {
            _ = try versioningCall(homeOptions, "remote/rm", [repository, name])
            print("removed remote \(name)")
        }
    }

    struct Follow: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "follow", abstract: "Have the daemon pull a remote whenever it publishes (--stop: no longer).")
        @OptionGroup var homeOptions: HomeOptions
        @Argument(help: "The repository.") var repository: String
        @Argument(help: "The remote.") var name: String
        @Flag(name: .long, help: "Stop following.") var stop = false

        func run() throws {
            _ = try versioningCall(homeOptions, "remote/follow", [repository, name], rpcOption("stop", stop))
            print(stop ? "no longer following \(name)" : "following \(name): a running daemon pulls when it publishes")
        }
    }
}
