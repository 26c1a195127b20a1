import BlockStore
import Foundation
import Multiformats
import Testing
import UnixFS
import Versioning

@testable import WebUI
import TestSupport

/// A repository with two commits (a CSV changed, lineage recorded) over memory stores.
struct Site {
    let dir: String
    let blocks = MemoryBlockStore()
    let versions: VersionStore
    let first: CID
    let second: CID
    let author = Person(name: "Ada", email: "ada@example.org")

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("jz-webui-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        versions = VersionStore(blocks: blocks, refs: try RefStore(path: dir + "/refs.sqlite"))
        try versions.createRepository("climate")
        let data = dir + "/data"
        try FileManager.default.createDirectory(atPath: data + "/tables", withIntermediateDirectories: true)
        try "station,temp\nA,1.5\nB,\"2,5\"\n".write(toFile: data + "/tables/t.csv", atomically: true, encoding: .utf8)
        try "line one\nline two\n".write(toFile: data + "/notes.txt", atomically: true, encoding: .utf8)
        try "<script>alert(1)</script>".write(toFile: data + "/<b>evil<b>.txt", atomically: true, encoding: .utf8)
        for i in 0..<250 { try "\(i)".write(toFile: data + "/tables/f\(i).txt", atomically: true, encoding: .utf8) }
        first = try versions.commit("climate", directory: data, message: "raw data", author: author).cid
        try "station,temp\nA,1.5\nB,3.0\n".write(toFile: data + "/tables/t.csv", atomically: true, encoding: .utf8)
        try "line one\nline 2\n".write(toFile: data + "/notes.txt", atomically: true, encoding: .utf8)
        second = try versions.commit(
            "climate", directory: data, message: "fix station B", author: author,
            lineage: Lineage(inputs: [first], code: "clean.py@abc", parameters: ["threshold": "0.5"])).cid
    }

    func get(_ path: String, _ query: [String: String] = [:]) async -> (Int, String) {
        let page = await WebUI.render(path: path, query: query, context: WebUIContext(versions: versions))
        return (page.status, String(decoding: page.body, as: UTF8.self))
    }
}

@Suite(.onBlockingPool) struct WebUITests {
    @Test func repositoryListAndRepositoryPage() async throws {
        let s = try Site()
        let (status, list) = await s.get("/webui/")
        #expect(status == 200)
        #expect(list.contains("climate") && list.contains("fix station B"))
        let (_, repo) = await s.get("/webui/repo/climate")
        #expect(repo.contains("History of main"))
        #expect(repo.contains("threshold=0.5"))
        #expect(repo.contains(String(s.second.description.suffix(10))))
        let (missing, _) = await s.get("/webui/repo/nope")
        #expect(missing == 404)
    }

    @Test func commitPageShowsLineageAndChanges() async throws {
        let s = try Site()
        let (status, page) = await s.get("/webui/repo/climate/commit/\(s.second)")
        #expect(status == 200)
        #expect(page.contains("clean.py@abc") && page.contains("threshold") && page.contains(s.first.description))
        #expect(page.contains("tables/t.csv") && page.contains("notes.txt"))
        #expect(page.contains("modified"))
    }

    @Test func diffPageIsSideBySide() async throws {
        let s = try Site()
        let (status, page) = await s.get("/webui/repo/climate/diff", ["from": "main~1", "to": "main"])
        #expect(status == 200)
        #expect(page.contains("<table class=\"diff\">"))
        #expect(page.contains("line two") && page.contains("line 2"))
    }

    @Test func browserPagesListingsAndPreviewsCSV() async throws {
        let s = try Site()
        let (_, root) = await s.get("/webui/repo/climate/tree/main")
        #expect(root.contains("tables") && root.contains("notes.txt"))
        // Names are escaped: no markup from a file name.
        #expect(!root.contains("<b>evil"))
        #expect(root.contains("&lt;b&gt;evil&lt;b&gt;"))
        let (_, tables) = await s.get("/webui/repo/climate/tree/main/tables")
        #expect(tables.contains("entries 1–100 of 251") && tables.contains("next »") && !tables.contains("first page"))
        // Pages chain by cursor: the next link names the last entry shown.
        let names = try Exporter(source: s.blocks).entries(try s.versions.resolveTree(RefSpec(repository: "climate", ref: try RefSyntax.parseRef("main"), path: "tables"))).map(\.name)
        #expect(tables.contains("href=\"/webui/repo/climate/tree/main/tables?after=\(names[99])&amp;page=1\""))
        let (_, third) = await s.get("/webui/repo/climate/tree/main/tables", ["after": names[199], "page": "2"])
        #expect(third.contains("« first page") && !third.contains("next »") && third.contains("entries 201–251 of 251"))
        #expect(third.contains(">\(names[200])</a>") && !third.contains(">\(names[199])</a>"))
        // A hand-made cursor (no page number), one that names no entry, and the empty cursor.
        let (_, last) = await s.get("/webui/repo/climate/tree/main/tables", ["after": names[249]])
        #expect(last.contains("1 entry after “\(names[249])” (251 in the directory)") && last.contains(">\(names[250])</a>"))
        let (_, absent) = await s.get("/webui/repo/climate/tree/main/tables", ["after": "f2", "page": "1"])
        // "f2" sorts just before "f2.txt": the page starts there.
        #expect(absent.contains(">f2.txt</a>") && !absent.contains(">f199.txt</a>") && absent.contains("entries 101–200 of 251"))
        let (_, empty) = await s.get("/webui/repo/climate/tree/main/tables", ["after": ""])
        #expect(empty.contains("entries 1–100 of 251"))
        let (_, csv) = await s.get("/webui/repo/climate/tree/main/tables/t.csv")
        #expect(csv.contains("<th>station</th>") && csv.contains("<td>3.0</td>"))
        let (_, old) = await s.get("/webui/repo/climate/tree/main~1/tables/t.csv")
        #expect(old.contains("<td>2,5</td>"))
        let (_, evil) = await s.get("/webui/repo/climate/tree/main/%3Cb%3Eevil%3Cb%3E.txt")
        #expect(evil.contains("&lt;script&gt;") && !evil.contains("<script>"))
    }

    @Test func aShardedDirectoryIsPagedByCursorWithEscapedNames() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jz-webui-big-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data/big"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let hostile = "a&b <c> \"q\" ü日本.txt"
        for i in 0..<450 { try Data("\(i)".utf8).write(to: URL(fileURLWithPath: data + "/f\(i).txt")) }
        try Data("x".utf8).write(to: URL(fileURLWithPath: data + "/" + hostile))
        var options = VersionStore.defaultImportOptions
        options.hamtShardingThreshold = 1
        options.hamtFanout = 8
        let blocks = MemoryBlockStore()
        let versions = VersionStore(blocks: blocks, refs: try RefStore(path: dir + "/refs.sqlite"), importOptions: options)
        try versions.createRepository("big")
        try versions.commit("big", directory: dir + "/data", message: "many", author: Person(name: "A", email: "a@b"))
        let tree = try versions.resolveTree(RefSpec(repository: "big", ref: try RefSyntax.parseRef("main"), path: "big"))
        let full = try Exporter(source: blocks).entries(tree).map(\.name)
        #expect(try Exporter(source: blocks).stat(tree).isSharded && full.count == 451)
        var query: [String: String] = [:]
        var seen: [String] = []
        for _ in 0..<10 {
            let page = await WebUI.render(path: "/webui/repo/big/tree/main/big", query: query, context: WebUIContext(versions: versions))
            let html = String(decoding: page.body, as: UTF8.self)
            #expect(page.status == 200)
            #expect(html.contains("sharded directory, in shard order"))
            let shown = full.dropFirst(seen.count).prefix(WebUI.pageSize)
            #expect(html.contains("entries \(seen.count + 1)–\(seen.count + shown.count)"))
            for name in shown {
                #expect(html.contains(">\(HTML.escape(name))</a>"), "\(name) on the page")
            }
            seen += shown
            guard let next = html.firstMatch(of: /href="[^"?]*\?after=([^"&]*)&amp;page=(\d+)">next »/) else { break }
            query = ["after": try #require(String(next.output.1).removingPercentEncoding), "page": String(next.output.2)]
            #expect(query["after"] == seen.last)
        }
        #expect(seen == full)
        // The hostile name is text and a percent-encoded link, never markup.
        let escaped = HTML.escape(hostile)
        #expect(escaped == "a&amp;b &lt;c&gt; &quot;q&quot; ü日本.txt")
        #expect(HTML.component(hostile) == "a%26b%20%3Cc%3E%20%22q%22%20%C3%BC%E6%97%A5%E6%9C%AC.txt")
        let position = try #require(full.firstIndex(of: hostile))
        let page = await WebUI.render(
            path: "/webui/repo/big/tree/main/big", query: position == 0 ? [:] : ["after": full[position - 1]],
            context: WebUIContext(versions: versions))
        let html = String(decoding: page.body, as: UTF8.self)
        #expect(html.contains("<a href=\"/webui/repo/big/tree/main/big/\(HTML.component(hostile))\">\(escaped)</a>"))
        #expect(!html.contains("<c>") && !html.contains(hostile))
        let file = await WebUI.render(path: "/webui/repo/big/tree/main/big/\(HTML.component(hostile))", query: [:], context: WebUIContext(versions: versions))
        #expect(file.status == 200)
    }

    @Test func csvAndLineAlignment() {
        #expect(WebUI.parseCSV("a,b\n\"x,y\",\"q\"\"z\"\n", separator: ",", maxRows: 10) == [["a", "b"], ["x,y", "q\"z"]])
        let aligned = WebUI.alignLines(["a", "b", "c"], ["a", "c", "d"])
        #expect(aligned.map { $0.0 } == ["a", "b", "c", nil])
        #expect(aligned.map { $0.1 } == ["a", nil, "c", "d"])
    }
}
