import Foundation
import IPLD
import Multiformats
import P2PCore
import UnixFS
import Versioning

/// One answer of the web page.
public struct WebPage: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    static func html(_ title: String, _ body: String, status: Int = 200) -> WebPage {
        WebPage(status: status, contentType: "text/html; charset=utf-8", body: Array(HTML.page(title: title, body: body).utf8))
    }
}

/// What the pages read: the versioning layer, and the node's view of the network.
public struct WebUIContext: Sendable {
    public var versions: VersionStore
    /// Connected peers, one line each (peer ID and address).
    public var peers: @Sendable () async -> [String]
    /// A commit's signature line (`Good signature by k51…`), nil when unsigned.
    public var signature: @Sendable (Commit) -> String?
    /// Where `/ipfs/CID` is served (the gateway), for images and raw downloads.
    public var ipfsPrefix: String

    public init(
        versions: VersionStore, peers: @escaping @Sendable () async -> [String] = { [] },
        signature: @escaping @Sendable (Commit) -> String? = { _ in nil }, ipfsPrefix: String = "/ipfs/"
    ) {
        self.versions = versions
        self.peers = peers
        self.signature = signature
        self.ipfsPrefix = ipfsPrefix
    }
}

/// The repository web page (`/webui/` on the gateway port): server-rendered HTML, no JavaScript.
/// Repositories; one repository's branches, tags, remotes and paged log; a commit with its
/// lineage and changes; a side-by-side diff between two refs; a file browser paged by cursor
/// (`?after=NAME`) with previews (text, CSV as a table, images); peers. Blocking reads run on the
/// blocking pool.
public enum WebUI {
    /// Entries per page in listings and logs.
    public static let pageSize = 100

    /// Answers `path` (starting `/webui`) with `query` parameters.
    public static func render(path: String, query: [String: String], context: WebUIContext) async -> WebPage {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map {
            String($0).removingPercentEncoding ?? String($0)
        }
        guard segments.first == "webui" else { return .html("Not found", "<p>Not found.</p>", status: 404) }
        let rest = Array(segments.dropFirst())
        if rest == ["peers"] {
            let peers = await context.peers()
            var h = HTML()
            h.element("h1", "Peers (\(peers.count))")
            h.raw("<table><tr><th>peer</th></tr>")
            for p in peers { h.raw("<tr><td class=\"cid\">"); h.text(p); h.raw("</td></tr>") }
            h.raw("</table>")
            return .html("Peers", h.text)
        }
        do {
            return try await BlockingExecutor.run { () throws -> WebPage in
                try page(rest, query: query, context: context)
            }
        } catch let error as VersioningError {
            let status: Int
            switch error {
            case .repositoryNotFound, .refNotFound, .branchNotFound, .tagNotFound, .blockMissing, .remoteNotFound: status = 404
            default: status = 400
            }
            return .html("Error", "<h1>Error</h1><p>\(HTML.escape(error.description))</p>", status: status)
        } catch {
            return .html("Error", "<h1>Error</h1><p>\(HTML.escape("\(error)"))</p>", status: 500)
        }
    }

    private static func page(_ rest: [String], query: [String: String], context: WebUIContext) throws -> WebPage {
        let v = context.versions
        let pageNumber = max(0, Int(query["page"] ?? "") ?? 0)
        switch rest.count {
        case 0:
            return try repositories(v)
        case 2 where rest[0] == "repo":
            return try repository(rest[1], v, page: pageNumber, context: context)
        case 4 where rest[0] == "repo" && rest[2] == "commit":
            return try commitPage(rest[1], try CID(rest[3]), v, context: context)
        case 3 where rest[0] == "repo" && rest[2] == "diff":
            return try diffPage(rest[1], from: query["from"] ?? "", to: query["to"] ?? "", v)
        case _ where rest.count >= 4 && rest[0] == "repo" && rest[2] == "tree":
            return try browse(rest[1], ref: rest[3], path: Array(rest.dropFirst(4)), v, page: pageNumber, after: query["after"], context: context)
        default:
            return .html("Not found", "<p>Not found.</p>", status: 404)
        }
    }

    // MARK: - Pages

    private static func repositories(_ v: VersionStore) throws -> WebPage {
        var h = HTML()
        h.element("h1", "Repositories")
        h.raw("<table><tr><th>repository</th><th>default branch</th><th>branches</th><th>tags</th><th>last commit</th></tr>")
        for record in try v.repositories() {
            let info = try v.repository(record.name)
            let head = info.branches.first { $0.name == record.defaultBranch }?.target
            h.raw("<tr><td>")
            h.link("/webui/repo/\(HTML.component(record.name))", record.name)
            h.raw("</td><td>"); h.text(record.defaultBranch)
            h.raw("</td><td>\(info.branches.count)</td><td>\(info.tags.count)</td><td>")
            if let head, let commit = try? v.commit(head) { h.text(firstLine(commit.message)) } else { h.raw("<span class=\"muted\">no commits</span>") }
            h.raw("</td></tr>")
        }
        h.raw("</table>")
        return .html("Repositories", h.text)
    }

    private static func repository(_ repo: String, _ v: VersionStore, page: Int, context: WebUIContext) throws -> WebPage {
        let info = try v.repository(repo)
        let r = HTML.component(repo)
        var h = HTML()
        h.element("h1", repo)
        h.element("h2", "Branches")
        h.raw("<table><tr><th>branch</th><th>commit</th><th></th></tr>")
        for b in info.branches {
            h.raw("<tr><td>"); h.text(b.name); h.raw("</td><td class=\"cid\">")
            if let t = b.target {
                h.link("/webui/repo/\(r)/commit/\(t)", t.description)
                h.raw("</td><td>")
                h.link("/webui/repo/\(r)/tree/\(HTML.component(b.name))", "browse")
            } else {
                h.raw("(empty)</td><td>")
            }
            h.raw("</td></tr>")
        }
        h.raw("</table>")
        if !info.tags.isEmpty {
            h.element("h2", "Tags")
            h.raw("<table><tr><th>tag</th><th>commit</th></tr>")
            for t in info.tags {
                h.raw("<tr><td>"); h.text(t.name); h.raw("</td><td class=\"cid\">")
                if let target = t.target { h.link("/webui/repo/\(r)/commit/\(target)", target.description) }
                h.raw("</td></tr>")
            }
            h.raw("</table>")
        }
        let remotes = try v.refs.remotes(repo)
        if !remotes.isEmpty {
            h.element("h2", "Remotes")
            h.raw("<table><tr><th>remote</th><th>address</th><th>state</th><th>last fetched</th><th>follow</th></tr>")
            for remote in remotes {
                h.raw("<tr><td>"); h.text(remote.name); h.raw("</td><td class=\"cid\">"); h.text(remote.address)
                h.raw("</td><td>"); h.text(remote.stateCID.map { _ in "sequence \(remote.stateSequence)" } ?? "never fetched")
                h.raw("</td><td>"); h.text(remote.fetched.map { Date(timeIntervalSince1970: TimeInterval($0)).description } ?? "-")
                h.raw("</td><td>\(remote.follow ? "yes" : "no")</td></tr>")
                for ref in try v.refs.remoteRefs(repo, remote.name) where ref.kind == .branch {
                    let local = info.branches.first { $0.name == ref.name }?.target
                    let state = local == ref.target ? "up to date" : (local == nil ? "no local branch" : "differs from local")
                    h.raw("<tr><td></td><td colspan=\"4\">")
                    h.text("\(remote.name)/\(ref.name) → \(ref.target) (\(state))")
                    h.raw("</td></tr>")
                }
            }
            h.raw("</table>")
        }
        h.element("h2", "History of \(info.record.defaultBranch)")
        let head = info.branches.first { $0.name == info.record.defaultBranch }?.target
        if head != nil {
            let entries = try v.log(repo, nil, limit: (page + 1) * pageSize + 1, stopAtMissing: true)
            let shown = entries.dropFirst(page * pageSize).prefix(pageSize)
            h.raw("<table><tr><th>commit</th><th>message</th><th>author</th><th>date</th><th>lineage</th></tr>")
            for e in shown {
                h.raw("<tr><td class=\"cid\">")
                h.link("/webui/repo/\(r)/commit/\(e.cid)", String(e.cid.description.suffix(10)))
                h.raw("</td><td>"); h.text(firstLine(e.commit.message))
                h.raw("</td><td>"); h.text(e.commit.author.name)
                h.raw("</td><td>"); h.text(date(e.commit.time))
                h.raw("</td><td>"); h.text(lineageSummary(e.commit.lineage)); h.raw("</td></tr>")
            }
            h.raw("</table>")
            if page > 0 { h.link("/webui/repo/\(r)?page=\(page - 1)", "« newer") ; h.raw(" ") }
            if entries.count > (page + 1) * pageSize { h.link("/webui/repo/\(r)?page=\(page + 1)", "older »") }
        } else {
            h.raw("<p class=\"muted\">No commits yet.</p>")
        }
        h.raw("<form action=\"/webui/repo/\(HTML.escape(r))/diff\"><h2>Compare</h2>from <input name=\"from\" value=\"\(HTML.escape(info.record.defaultBranch))~1\"> to <input name=\"to\" value=\"\(HTML.escape(info.record.defaultBranch))\"> <button>diff</button></form>")
        return .html(repo, h.text)
    }

    private static func commitPage(_ repo: String, _ cid: CID, _ v: VersionStore, context: WebUIContext) throws -> WebPage {
        _ = try v.repository(repo)
        let details = try v.show(cid)
        let c = details.commit
        let r = HTML.component(repo)
        var h = HTML()
        h.element("h1", firstLine(c.message))
        h.raw("<table>")
        h.raw("<tr><th>commit</th><td class=\"cid\">\(HTML.escape(cid.description))</td></tr>")
        h.raw("<tr><th>tree</th><td class=\"cid\">"); h.link("/webui/repo/\(r)/tree/\(cid)", c.tree.description); h.raw("</td></tr>")
        h.raw("<tr><th>parents</th><td class=\"cid\">")
        for p in c.parents { h.link("/webui/repo/\(r)/commit/\(p)", p.description); h.raw("<br>") }
        h.raw("</td></tr>")
        h.raw("<tr><th>author</th><td>"); h.text(c.author.description); h.raw("</td></tr>")
        h.raw("<tr><th>date</th><td>"); h.text(date(c.time)); h.raw("</td></tr>")
        if let signature = context.signature(c) { h.raw("<tr><th>signature</th><td>"); h.text(signature); h.raw("</td></tr>") }
        h.raw("</table>")
        h.element("pre", c.message)
        h.element("h2", "Lineage")
        if c.lineage.isEmpty {
            h.raw("<p class=\"muted\">No lineage recorded.</p>")
        } else {
            h.raw("<table>")
            h.raw("<tr><th>inputs</th><td class=\"cid\">")
            for input in c.lineage.inputs { h.text(input.description); h.raw("<br>") }
            h.raw("</td></tr><tr><th>code</th><td>"); h.text(c.lineage.code ?? "-"); h.raw("</td></tr>")
            for (k, value) in c.lineage.parameters.sorted(by: { $0.key < $1.key }) {
                h.raw("<tr><th>parameter "); h.text(k); h.raw("</th><td>"); h.text(value); h.raw("</td></tr>")
            }
            h.raw("</table>")
        }
        h.element("h2", "Changes (\(details.changes.count))")
        changesTable(&h, details.changes)
        if let parent = c.parents.first {
            h.link("/webui/repo/\(r)/diff?from=\(parent)&to=\(cid)", "side-by-side diff against the parent")
        }
        return .html(firstLine(c.message), h.text)
    }

    private static func diffPage(_ repo: String, from: String, to: String, _ v: VersionStore) throws -> WebPage {
        let old = try v.resolve(repo, try RefSyntax.parseRef(from))
        let new = try v.resolve(repo, try RefSyntax.parseRef(to))
        let changes: [TreeChange]
        do {
            changes = try TreeDiff(source: v.blocks).diff(old: try v.commit(old).tree, new: try v.commit(new).tree)
        } catch let error as VersioningError {
            throw error
        } catch {
            throw VersioningError.treeEdit(path: "", reason: "\(error)")
        }
        var h = HTML()
        h.element("h1", "\(repo): \(from) → \(to)")
        changesTable(&h, changes)
        let exporter = Exporter(source: v.blocks)
        for change in changes.prefix(50) where change.kind == .modified {
            guard let a = change.oldCID, let b = change.newCID,
                let left = try? smallText(exporter, a), let right = try? smallText(exporter, b)
            else { continue }
            h.element("h3", change.path)
            sideBySide(&h, left, right)
        }
        return .html("diff \(from) \(to)", h.text)
    }

    private static func browse(
        _ repo: String, ref: String, path: [String], _ v: VersionStore, page: Int, after: String?, context: WebUIContext
    ) throws -> WebPage {
        let spec = RefSpec(repository: repo, ref: try RefSyntax.parseRef(ref), path: path.isEmpty ? nil : path.joined(separator: "/"))
        let cid = try v.resolveTree(spec)
        let exporter = Exporter(source: v.blocks)
        let info: UnixFSNodeInfo
        do { info = try exporter.stat(cid) } catch { throw VersioningError.treeEdit(path: spec.path ?? "", reason: error.description) }
        let r = HTML.component(repo)
        let base = "/webui/repo/\(r)/tree/\(HTML.component(ref))" + path.map { "/" + HTML.component($0) }.joined()
        var h = HTML()
        h.raw("<h1>")
        h.link("/webui/repo/\(r)", repo); h.text(" @ \(ref) : /" + path.joined(separator: "/"))
        h.raw("</h1>")
        switch info.kind {
        case .directory:
            // Paged by cursor: `after` names the last entry of the previous page and the listing
            // resumes there in O(depth + page) blocks, so page 1,000 of a 100,000-entry HAMT
            // costs what page 1 does. `page` only numbers the entries shown (it is carried along
            // in the links, never walked).
            let after = after.flatMap { $0.isEmpty ? nil : $0 }
            let number = after == nil ? 0 : page
            let listing: DirectoryPage
            do {
                listing = try exporter.page(cid, after: after, limit: pageSize)
            } catch {
                throw VersioningError.treeEdit(path: spec.path ?? "", reason: error.description)
            }
            let first = number * pageSize
            let count = listing.entries.count
            var summary: String
            if let after, number == 0 {
                // A cursor without a page number (a hand-made link): say where the page starts.
                summary = "\(count) \(count == 1 ? "entry" : "entries") after “\(after)”" + (listing.count.map { " (\($0) in the directory)" } ?? "")
            } else {
                summary = count == 0 ? "no entries" : "entries \(first + 1)–\(first + count)"
                if let total = listing.count {
                    summary += " of \(total)"
                } else if listing.hasMore {
                    summary += " (more follow)"
                } else if after == nil {
                    summary += " of \(count)"
                }
            }
            if listing.isSharded { summary += " · sharded directory, in shard order" }
            h.raw("<p class=\"muted\">\(HTML.escape(summary))</p><table><tr><th>name</th><th>size</th></tr>")
            for e in listing.entries {
                h.raw("<tr><td>"); h.link(base + "/" + HTML.component(e.name), e.name)
                h.raw("</td><td>\(e.tsize.map(String.init) ?? "")</td></tr>")
            }
            h.raw("</table>")
            if after != nil { h.link(base, "« first page"); h.raw(" ") }
            if let next = listing.next { h.link("\(base)?after=\(HTML.component(next))&page=\(number + 1)", "next »") }
        case .symlink:
            h.raw("<p>symlink → "); h.text(info.symlinkTarget ?? ""); h.raw("</p>")
        case .file:
            let name = path.last ?? ""
            h.raw("<p class=\"muted\">\(info.size) bytes · ")
            h.link(context.ipfsPrefix + cid.description + "?filename=" + HTML.component(name), "download")
            h.raw("</p>")
            let ext = (name as NSString).pathExtension.lowercased()
            if ["png", "jpg", "jpeg", "gif", "webp", "svg"].contains(ext) {
                h.raw("<img alt=\"\(HTML.escape(name))\" style=\"max-width:100%\" src=\"\(HTML.escape(context.ipfsPrefix + cid.description))\">")
            } else if let text = try? smallText(exporter, cid, limit: 256 * 1024) {
                if ext == "csv" || ext == "tsv" {
                    csvTable(&h, text, separator: ext == "tsv" ? "\t" : ",")
                } else {
                    h.element("pre", text)
                }
            } else {
                h.raw("<p class=\"muted\">Binary or large file: no preview.</p>")
            }
        }
        return .html("\(repo) /\(path.joined(separator: "/"))", h.text)
    }

    // MARK: - Pieces

    private static func changesTable(_ h: inout HTML, _ changes: [TreeChange]) {
        if changes.isEmpty { h.raw("<p class=\"muted\">No changes.</p>"); return }
        h.raw("<table><tr><th></th><th>path</th><th>old size</th><th>new size</th></tr>")
        for change in changes {
            h.raw("<tr class=\"\(change.kind.rawValue)\"><td>\(change.kind.rawValue)</td><td>")
            h.text(change.path)
            h.raw("</td><td>\(change.oldSize.map(String.init) ?? "")</td><td>\(change.newSize.map(String.init) ?? "")</td></tr>")
        }
        h.raw("</table>")
    }

    /// The text of a small UTF-8 file (nil: larger than `limit`, or not text).
    static func smallText(_ exporter: Exporter, _ cid: CID, limit: UInt64 = 128 * 1024) throws -> String? {
        let info = try exporter.stat(cid)
        guard info.kind == .file, info.size <= limit else { return nil }
        var reader = try exporter.reader(cid)
        var bytes: [UInt8] = []
        while let chunk = try reader.next() { bytes += chunk }
        guard !bytes.contains(0), let text = String(bytes: bytes, encoding: .utf8) else { return nil }
        return text
    }

    /// A CSV (or TSV) file as a table: the first 200 rows; quoted fields with `""` escapes.
    static func csvTable(_ h: inout HTML, _ text: String, separator: Character) {
        let rows = parseCSV(text, separator: separator, maxRows: 200)
        h.raw("<table class=\"csv\">")
        for (i, row) in rows.enumerated() {
            h.raw("<tr>")
            for cell in row { h.element(i == 0 ? "th" : "td", cell) }
            h.raw("</tr>")
        }
        h.raw("</table>")
    }

    static func parseCSV(_ text: String, separator: Character, maxRows: Int) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = text.makeIterator()
        while let c = chars.next(), rows.count < maxRows {
            if quoted {
                if c == "\"" {
                    if let next = chars.next() {
                        if next == "\"" { field.append("\"") } else {
                            quoted = false
                            if next == separator { row.append(field); field = "" }
                            else if next == "\n" || next == "\r\n" { row.append(field); rows.append(row); row = []; field = "" }
                            else { field.append(next) }
                        }
                    } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" && field.isEmpty {
                quoted = true
            } else if c == separator {
                row.append(field); field = ""
            } else if c == "\n" || c == "\r\n" {
                row.append(field); rows.append(row); row = []; field = ""
            } else if c != "\r" {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty, rows.count < maxRows { row.append(field); rows.append(row) }
        return rows
    }

    /// Two texts side by side, line by line, aligned on their longest common subsequence
    /// (bounded: longer files are compared on their first 2,000 lines).
    static func sideBySide(_ h: inout HTML, _ left: String, _ right: String) {
        let a = Array(left.split(separator: "\n", omittingEmptySubsequences: false).prefix(2000)).map(String.init)
        let b = Array(right.split(separator: "\n", omittingEmptySubsequences: false).prefix(2000)).map(String.init)
        h.raw("<table class=\"diff\">")
        for (l, r) in alignLines(a, b) {
            let cls = l == r ? "" : (l == nil ? "added" : (r == nil ? "removed" : "modified"))
            h.raw("<tr class=\"\(cls)\"><td>"); h.text(l ?? ""); h.raw("</td><td>"); h.text(r ?? ""); h.raw("</td></tr>")
        }
        h.raw("</table>")
    }

    /// Pairs of lines (nil: absent on that side) from an LCS alignment.
    static func alignLines(_ a: [String], _ b: [String]) -> [(String?, String?)] {
        let n = a.count, m = b.count
        var lcs = [[Int32]](repeating: [Int32](repeating: 0, count: m + 1), count: n + 1)
        if n > 0 && m > 0 {
            for i in stride(from: n - 1, through: 0, by: -1) {
                for j in stride(from: m - 1, through: 0, by: -1) {
                    lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
                }
            }
        }
        var out: [(String?, String?)] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, a[i] == b[j] {
                out.append((a[i], b[j])); i += 1; j += 1
            } else if j < m, i == n || lcs[i][j + 1] >= lcs[i + 1][j] {
                out.append((nil, b[j])); j += 1
            } else {
                out.append((a[i], nil)); i += 1
            }
        }
        return out
    }

    private static func firstLine(_ s: String) -> String { String(s.split(separator: "\n", maxSplits: 1).first ?? "") }

    private static func date(_ seconds: Int64) -> String {
        let f = ISO8601DateFormatter()
        return f.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    private static func lineageSummary(_ l: Lineage) -> String {
        var parts: [String] = []
        if !l.inputs.isEmpty { parts.append("\(l.inputs.count) input(s)") }
        if let code = l.code { parts.append("code \(code)") }
        if !l.parameters.isEmpty { parts.append(l.parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")) }
        return parts.joined(separator: "; ")
    }
}
