import BlockStore
import Foundation
import Multiformats
import Testing
import UnixFS
import Versioning

@testable import WebUI

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

@Suite struct WebUITests {
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
        #expect(tables.contains("entries 1–100 (more follow)") && tables.contains("next »"))
        let (_, second) = await s.get("/webui/repo/climate/tree/main/tables", ["page": "2"])
        #expect(second.contains("« previous") && !second.contains("next »") && second.contains("entries 201–251 of 251"))
        let (_, csv) = await s.get("/webui/repo/climate/tree/main/tables/t.csv")
        #expect(csv.contains("<th>station</th>") && csv.contains("<td>3.0</td>"))
        let (_, old) = await s.get("/webui/repo/climate/tree/main~1/tables/t.csv")
        #expect(old.contains("<td>2,5</td>"))
        let (_, evil) = await s.get("/webui/repo/climate/tree/main/%3Cb%3Eevil%3Cb%3E.txt")
        #expect(evil.contains("&lt;script&gt;") && !evil.contains("<script>"))
    }

    @Test func csvAndLineAlignment() {
        #expect(WebUI.parseCSV("a,b\n\"x,y\",\"q\"\"z\"\n", separator: ",", maxRows: 10) == [["a", "b"], ["x,y", "q\"z"]])
        let aligned = WebUI.alignLines(["a", "b", "c"], ["a", "c", "d"])
        #expect(aligned.map { $0.0 } == ["a", "b", "c", nil])
        #expect(aligned.map { $0.1 } == ["a", nil, "c", "d"])
    }
}
