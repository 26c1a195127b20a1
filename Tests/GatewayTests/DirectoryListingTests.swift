import BlockStore
import Foundation
import IPLD
import Multiformats
import NIOHTTP1
import Testing
import UnixFS

@testable import Gateway
import TestSupport

/// A directory of `count` entries linking one small file; sharded when `sharded`.
private func bigDirectory(_ count: Int, sharded: Bool) throws -> (CID, MemoryBlockStore, [String]) {
    let store = MemoryBlockStore()
    let (file, _) = try importTree(.file(name: "f", contents: [1, 2, 3]), into: store)
    var options = ImportOptions()
    options.cidVersion = .v1
    if sharded { options.hamtShardingThreshold = 1 } else { options.hamtShardingThreshold = 0 }
    let names = (0..<count).map { i in i % 10 == 0 ? "a&b <\(i)> \"q\" ü日本.txt" : "entry-\(i).bin" }
    let sink = CollectingBlockSink()
    let dir = try DirectoryWriter(options: options).write(
        names.map { DirectoryWriter.Entry(name: $0, cid: file, tsize: 3) }, to: sink)
    try store.putMany(sink.blocks)
    return (dir.cid, store, names)
}

/// `&amp;` and friends back to text.
private func unescape(_ html: Substring) -> String {
    html.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
        .replacingOccurrences(of: "&amp;", with: "&")
}

/// Entry names of a listing page, and its "next" link.
private func parseListing(_ html: String) -> (names: [String], next: String?) {
    let names = html.matches(of: /<tr><td><a href="[^"]*">([^<]*)<\/a><\/td><td><a class="cid"/).map { unescape($0.output.1) }
    let next = html.firstMatch(of: /<a href="([^"]*)">next \d+ »<\/a>/).map { unescape($0.output.1) }
    return (names, next)
}

@Suite(.onBlockingPool) struct DirectoryListingTests {
    @Test(arguments: [false, true])
    func bigDirectoriesArePagedByCursor(sharded: Bool) async throws {
        let (root, store, names) = try bigDirectory(2_500, sharded: sharded)
        let gateway = makeGateway(store)
        let full = try Exporter(source: store).entries(root).map(\.name)
        #expect(Set(full) == Set(names))
        var uri = "/ipfs/\(root)/"
        var seen: [String] = []
        var etags: Set<String> = []
        for pageIndex in 0..<10 {
            let page = try await ask(gateway, uri)
            #expect(page.status == 200, "\(uri)")
            let (entries, next) = parseListing(page.text)
            #expect(entries.count == min(DirectoryListing.pageSize, full.count - seen.count))
            seen += entries
            etags.insert(try #require(page.header("Etag")))
            if pageIndex > 0 { #expect(page.text.contains(">« first page</a>")) }
            if sharded {
                #expect(page.text.contains("sharded directory (HAMT), entries in shard order"))
            } else {
                #expect(page.text.contains("2500 entries"))
            }
            guard let next else { break }
            #expect(next.hasPrefix("/ipfs/\(root)/?after="))
            // The cursor is percent-encoded: no raw "&", "<", quote or space in the link.
            #expect(!next.dropFirst("/ipfs/\(root)/?after=".count).contains { "&<\" ü".contains($0) })
            uri = next
        }
        #expect(seen == full)
        #expect(etags.count == 3)
        // Escaping: the hostile name is text, never markup; its link is percent-encoded.
        let first = try await ask(gateway, "/ipfs/\(root)/")
        #expect(!first.text.contains("<0>") && !first.text.contains("\"q\""))
        // Each page has its own validator.
        let second = try await ask(gateway, uri)
        let etag = try #require(second.header("Etag"))
        #expect(try await ask(gateway, uri, headers: [("If-None-Match", etag)]).status == 304)
        #expect(try await ask(gateway, "/ipfs/\(root)/", headers: [("If-None-Match", etag)]).status == 200)
        // An empty cursor is the first page; trustless answers ignore the cursor.
        #expect(parseListing(try await ask(gateway, "/ipfs/\(root)/?after=").text).names == Array(full.prefix(DirectoryListing.pageSize)))
        let car = try await ask(gateway, "/ipfs/\(root)?format=car&after=\(DirectoryListing.component(full[5]))")
        let (_, blocks) = try carBlocks(car.body)
        let carWithout = try carBlocks(try await ask(gateway, "/ipfs/\(root)?format=car").body).blocks
        #expect(car.status == 200 && blocks.map(\.cid) == carWithout.map(\.cid))
    }

    @Test func absentCursorResumesWhereTheNameWouldBe() async throws {
        let (root, store, _) = try bigDirectory(50, sharded: false)
        let full = try Exporter(source: store).entries(root).map(\.name)
        let page = try await ask(makeGateway(store), "/ipfs/\(root)/?after=entry-3")
        #expect(parseListing(page.text).names == full.filter { "entry-3".utf8.lexicographicallyPrecedes($0.utf8) })
        #expect(page.text.contains("entries after “entry-3”"))
    }

    @Test func indexHTMLInAShardedDirectoryIsFoundByName() async throws {
        let store = MemoryBlockStore()
        let (file, _) = try importTree(.file(name: "index.html", contents: Array("<html>big</html>".utf8)), into: store)
        var options = ImportOptions()
        options.hamtShardingThreshold = 1
        let entries = (0..<300).map { DirectoryWriter.Entry(name: "e\($0)", cid: file, tsize: 16) }
            + [DirectoryWriter.Entry(name: "index.html", cid: file, tsize: 16)]
        let sink = CollectingBlockSink()
        let dir = try DirectoryWriter(options: options).write(entries, to: sink)
        try store.putMany(sink.blocks)
        let answer = try await ask(makeGateway(store), "/ipfs/\(dir.cid)/?after=e5")
        #expect(answer.status == 200 && answer.text == "<html>big</html>")
    }
}
