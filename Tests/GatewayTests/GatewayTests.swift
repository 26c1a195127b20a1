import BlockStore
import Foundation
import IPLD
import Multiformats
import NIOHTTP1
import Testing
import UnixFS

@testable import Gateway
import TestSupport

/// A directory: `hello.txt` (one block), `big.bin` (10 KiB in 1 KiB raw leaves), `sub/note.md`.
private func sampleTree() throws -> (root: CID, store: MemoryBlockStore, big: [UInt8]) {
    let big = deterministicBytes(10 * 1024)
    let tree = ImportNode.directory(name: "root", children: [
        .file(name: "hello.txt", contents: Array("hello gateway\n".utf8)),
        .file(name: "big.bin", contents: big),
        .directory(name: "sub", children: [.file(name: "note.md", contents: Array("# note\n".utf8))]),
    ])
    let (root, store) = try importTree(tree)
    return (root, store, big)
}

@Suite(.onBlockingPool) struct TrustlessGatewayTests {
    @Test func rawBlockWithHeaders() async throws {
        let (root, store, _) = try sampleTree()
        let gateway = makeGateway(store)
        let hello = try Exporter(source: store).resolve(root, components: ["hello.txt"])
        for (uri, headers) in [
            ("/ipfs/\(root)/hello.txt?format=raw", [(String, String)]()),
            ("/ipfs/\(root)/hello.txt", [("Accept", "application/vnd.ipld.raw")]),
        ] {
            let answer = try await ask(gateway, uri, headers: headers)
            #expect(answer.status == 200)
            #expect(answer.body == (try store.get(hello))?.data)
            #expect(answer.header("Content-Type") == "application/vnd.ipld.raw")
            #expect(answer.header("Etag") == "\"\(hello).raw\"")
            #expect(answer.header("Cache-Control") == "public, max-age=29030400, immutable")
            #expect(answer.header("X-Ipfs-Path") == "/ipfs/\(root)/hello.txt")
            #expect(answer.header("X-Ipfs-Roots") == "\(root),\(hello)")
            #expect(answer.header("Content-Length") == String(answer.body.count))
        }
        let head = try await ask(gateway, "/ipfs/\(root)?format=raw", method: .HEAD)
        #expect(head.status == 200 && head.body.isEmpty && head.header("Content-Length") != nil)
        let cached = try await ask(gateway, "/ipfs/\(hello)?format=raw", headers: [("If-None-Match", "\"\(hello).raw\"")])
        #expect(cached.status == 304 && cached.body.isEmpty)
    }

    @Test func carOfADirectoryHasEveryBlockOnceDepthFirst() async throws {
        let (root, store, _) = try sampleTree()
        let gateway = makeGateway(store)
        let answer = try await ask(gateway, "/ipfs/\(root)", headers: [("Accept", "application/vnd.ipld.car")])
        #expect(answer.status == 200)
        #expect(answer.header("Content-Type") == "application/vnd.ipld.car; version=1; order=dfs; dups=n")
        #expect(answer.header("Etag")?.hasPrefix("W/\"\(root).car.") == true)
        let (roots, blocks) = try carBlocks(answer.body)
        #expect(roots == [root])
        var expected: [CID] = []
        var walker = DAGExport.blocks(root: root, source: store)
        while let block = try walker.next() { expected.append(block.cid) }
        #expect(blocks.map(\.cid) == expected)
        #expect(Set(blocks.map(\.cid)).count == blocks.count)
        #expect(blocks.count == 15)  // root, hello, big + 10 leaves, sub + note
    }

    @Test func dagScopeBlockAndEntity() async throws {
        let (root, store, big) = try sampleTree()
        let gateway = makeGateway(store)
        let exporter = Exporter(source: store)
        let bigCID = try exporter.resolve(root, components: ["big.bin"])
        // block: the path blocks and the terminal block only.
        let block = try carBlocks(try await ask(gateway, "/ipfs/\(root)/big.bin?format=car&dag-scope=block").body)
        #expect(block.blocks.map(\.cid) == [root, bigCID])
        // entity of a directory: its own block, not its entries.
        let dir = try carBlocks(try await ask(gateway, "/ipfs/\(root)/sub?format=car&dag-scope=entity").body)
        let sub = try exporter.resolve(root, components: ["sub"])
        #expect(dir.blocks.map(\.cid) == [root, sub])
        // entity-bytes: the root of the file and the leaves holding bytes 2048...3071 (one leaf).
        let range = try carBlocks(try await ask(gateway, "/ipfs/\(bigCID)?format=car&dag-scope=entity&entity-bytes=2048:3071").body)
        #expect(range.blocks.count == 2)
        #expect(range.blocks.last?.data == Array(big[2048..<3072]))
        // the last 100 bytes: the last leaf.
        let tail = try carBlocks(try await ask(gateway, "/ipfs/\(bigCID)?format=car&dag-scope=entity&entity-bytes=-100:*").body)
        #expect(tail.blocks.count == 2 && tail.blocks.last?.data == Array(big[9216...]))
        // the whole entity of a file is the whole file DAG.
        let whole = try carBlocks(try await ask(gateway, "/ipfs/\(bigCID)?format=car&dag-scope=entity").body)
        #expect(whole.blocks.count == 11)
        let bad = try await ask(gateway, "/ipfs/\(root)?format=car&dag-scope=everything")
        #expect(bad.status == 400 && bad.text.contains("dag-scope"))
        // entity-bytes implies dag-scope=entity; a range past the end is answered as dag-scope=block.
        let implied = try carBlocks(try await ask(gateway, "/ipfs/\(bigCID)?format=car&entity-bytes=0:1023").body)
        #expect(implied.blocks.count == 2 && implied.blocks.last?.data == Array(big[0..<1024]))
        let past = try carBlocks(try await ask(gateway, "/ipfs/\(bigCID)?format=car&entity-bytes=20000:*").body)
        #expect(past.blocks.map(\.cid) == [bigCID])
    }

    @Test func duplicatesOnlyWhenAskedFor() async throws {
        let same = Array("same bytes\n".utf8)
        let (root, store) = try importTree(.directory(name: "d", children: [
            .file(name: "a.txt", contents: same), .file(name: "b.txt", contents: same),
        ]))
        let gateway = makeGateway(store)
        let once = try await ask(gateway, "/ipfs/\(root)", headers: [("Accept", "application/vnd.ipld.car; order=dfs; dups=n")])
        #expect(try carBlocks(once.body).blocks.count == 2)
        #expect(once.header("Content-Type") == "application/vnd.ipld.car; version=1; order=dfs; dups=n")
        let twice = try await ask(gateway, "/ipfs/\(root)?format=car&car-dups=y&car-order=unk")
        #expect(try carBlocks(twice.body).blocks.count == 3)
        #expect(twice.header("Content-Type") == "application/vnd.ipld.car; version=1; order=dfs; dups=y")
        #expect(twice.header("Etag") != once.header("Etag"))
        // The first CAR variant we serve wins.
        let accept = "application/vnd.ipld.car;order=foo, application/vnd.ipld.car;order=dfs;dups=y;q=0.5"
        let chosen = try await ask(gateway, "/ipfs/\(root)", headers: [("Accept", accept)])
        #expect(chosen.header("Content-Type") == "application/vnd.ipld.car; version=1; order=dfs; dups=y")
    }

    @Test func identityProbe() async throws {
        let gateway = makeGateway(MemoryBlockStore())
        let raw = try await ask(gateway, "/ipfs/bafkqaaa?format=raw")
        #expect(raw.status == 200 && raw.body.isEmpty)
        let car = try await ask(gateway, "/ipfs/bafkqaaa?format=car")
        #expect(car.status == 200)
        #expect(try carBlocks(car.body).roots.map(\.description) == ["bafkqaaa"])
    }

    @Test func missingRootIs404WithNoFetchAndFetchedOtherwise() async throws {
        let (root, network, big) = try sampleTree()
        let empty = MemoryBlockStore()
        let offline = try await ask(makeGateway(empty), "/ipfs/\(root)/big.bin")
        #expect(offline.status == 404)
        let local = MemoryBlockStore()
        let fetcher = StubFetcher(network: network, local: local)
        let online = makeGateway(local, fetcher: fetcher, config: GatewayConfig())
        let answer = try await ask(online, "/ipfs/\(root)/big.bin")
        #expect(answer.status == 200 && answer.body == big)
        #expect(fetcher.calls.first == root)
        let car = try await ask(online, "/ipfs/\(root)?format=car")
        #expect(try carBlocks(car.body).blocks.count == 15)
        let hanging = makeGateway(
            MemoryBlockStore(), fetcher: StubFetcher(network: network, local: MemoryBlockStore(), hang: true),
            config: GatewayConfig(retrievalTimeout: .milliseconds(200)))
        let late = try await ask(hanging, "/ipfs/\(root)")
        #expect(late.status == 504 && late.text.contains("RetrievalTimeout"))
    }

    @Test func ipnsRecordsAndPaths() async throws {
        let (root, store, _) = try sampleTree()
        let names = StubNames(names: ["k51name": "/ipfs/\(root)"], records: ["k51name": [1, 2, 3]])
        let gateway = makeGateway(store, names: names)
        let record = try await ask(gateway, "/ipns/k51name?format=ipns-record")
        #expect(record.status == 200 && record.body == [1, 2, 3])
        #expect(record.header("Content-Type") == "application/vnd.ipfs.ipns-record")
        let file = try await ask(gateway, "/ipns/k51name/hello.txt")
        #expect(file.status == 200 && file.text == "hello gateway\n")
        #expect(file.header("Cache-Control") != Gateway.immutableCacheControl)
        #expect(file.header("X-Ipfs-Path") == "/ipns/k51name/hello.txt")
        #expect(try await ask(gateway, "/ipns/unknown/hello.txt").status == 404)
    }
}

@Suite(.onBlockingPool) struct PathGatewayTests {
    @Test func filesWithTypesRangesHeadAnd304() async throws {
        let (root, store, big) = try sampleTree()
        let gateway = makeGateway(store)
        let hello = try await ask(gateway, "/ipfs/\(root)/hello.txt")
        #expect(hello.status == 200 && hello.text == "hello gateway\n")
        #expect(hello.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(try await ask(gateway, "/ipfs/\(root)/sub/note.md").header("Content-Type") == "text/markdown; charset=utf-8")
        let whole = try await ask(gateway, "/ipfs/\(root)/big.bin")
        #expect(whole.body == big && whole.header("Content-Type") == "application/octet-stream")
        #expect(whole.header("Accept-Ranges") == "bytes")
        let part = try await ask(gateway, "/ipfs/\(root)/big.bin", headers: [("Range", "bytes=1000-2999")])
        #expect(part.status == 206 && part.body == Array(big[1000..<3000]))
        #expect(part.header("Content-Range") == "bytes 1000-2999/10240")
        #expect(part.header("Content-Length") == "2000")
        let suffix = try await ask(gateway, "/ipfs/\(root)/big.bin", headers: [("Range", "bytes=-10")])
        #expect(suffix.status == 206 && suffix.body == Array(big[10230...]))
        let open = try await ask(gateway, "/ipfs/\(root)/big.bin", headers: [("Range", "bytes=10000-")])
        #expect(open.body == Array(big[10000...]))
        let beyond = try await ask(gateway, "/ipfs/\(root)/big.bin", headers: [("Range", "bytes=20000-")])
        #expect(beyond.status == 416 && beyond.header("Content-Range") == "bytes */10240")
        let head = try await ask(gateway, "/ipfs/\(root)/big.bin", method: .HEAD)
        #expect(head.status == 200 && head.body.isEmpty && head.header("Content-Length") == "10240")
        let etag = try #require(whole.header("Etag"))
        let bigCID = try Exporter(source: store).resolve(root, components: ["big.bin"])
        #expect(etag == "\"\(bigCID)\"")
        let cached = try await ask(gateway, "/ipfs/\(root)/big.bin", headers: [("If-None-Match", "\"other\", \(etag)")])
        #expect(cached.status == 304 && cached.body.isEmpty && cached.header("Etag") == etag)
        #expect(try await ask(gateway, "/ipfs/\(root)/nothing-here").status == 404)
        #expect(try await ask(gateway, "/ipfs/not-a-cid").status == 400)
        #expect(try await ask(gateway, "/ipfs/\(root)", method: .POST).status == 405)
    }

    @Test func aRepeatedPathAnswersTheSameAndCARsKeepTheirPathBlocks() async throws {
        let (root, store, _) = try sampleTree()
        let gateway = makeGateway(store)
        let exporter = Exporter(source: store)
        let sub = try exporter.resolve(root, components: ["sub"])
        let note = try exporter.resolve(root, components: ["sub", "note.md"])
        // The second answer comes from the resolved-path cache the first one filled.
        let first = try await ask(gateway, "/ipfs/\(root)/sub/note.md")
        let second = try await ask(gateway, "/ipfs/\(root)/sub/note.md")
        #expect(first.status == 200 && second.status == 200 && second.body == first.body)
        #expect(second.header("X-Ipfs-Roots") == "\(root),\(sub),\(note)")
        #expect(second.header("Etag") == "\"\(note)\"" && second.header("Etag") == first.header("Etag"))
        // A CAR of the same path still proves it block by block.
        let car = try carBlocks(try await ask(gateway, "/ipfs/\(root)/sub/note.md?format=car&dag-scope=block").body)
        #expect(car.blocks.map(\.cid) == [root, sub, note])
        // A name that is not there stays a 404 after the others were cached.
        #expect(try await ask(gateway, "/ipfs/\(root)/sub/missing.md").status == 404)
    }

    @Test func directoriesListOrServeIndexHTML() async throws {
        let (root, store, _) = try sampleTree()
        let gateway = makeGateway(store)
        let redirect = try await ask(gateway, "/ipfs/\(root)/sub")
        #expect(redirect.status == 301 && redirect.header("Location") == "/ipfs/\(root)/sub/")
        let listing = try await ask(gateway, "/ipfs/\(root)/")
        #expect(listing.status == 200 && listing.header("Content-Type") == "text/html; charset=utf-8")
        #expect(listing.text.contains("href=\"/ipfs/\(root)/hello.txt\""))
        #expect(listing.text.contains(">big.bin</a>") && listing.text.contains(">sub</a>"))
        let (site, siteStore) = try importTree(.directory(name: "site", children: [
            .file(name: "index.html", contents: Array("<html>hi</html>".utf8)),
        ]))
        let index = try await ask(makeGateway(siteStore), "/ipfs/\(site)/")
        #expect(index.status == 200 && index.text == "<html>hi</html>")
        #expect(index.header("Content-Type") == "text/html; charset=utf-8")
    }

    @Test func deserializedResponsesOffIsTrustlessOnly() async throws {
        let (root, store, _) = try sampleTree()
        let gateway = makeGateway(store, config: GatewayConfig(noFetch: true, deserializedResponses: false))
        #expect(try await ask(gateway, "/ipfs/\(root)/hello.txt").status == 406)
        #expect(try await ask(gateway, "/ipfs/\(root)/hello.txt?format=raw").status == 200)
        #expect(try await ask(gateway, "/ipfs/\(root)?format=car").status == 200)
    }

    @Test func rangeParsing() {
        #expect(ByteRange.parse("bytes=0-0", size: 10) == .range(offset: 0, length: 1))
        #expect(ByteRange.parse("bytes=5-100", size: 10) == .range(offset: 5, length: 5))
        #expect(ByteRange.parse("bytes=-3", size: 10) == .range(offset: 7, length: 3))
        #expect(ByteRange.parse("bytes=0-1,4-5", size: 10) == .whole)
        #expect(ByteRange.parse("bytes=10-", size: 10) == .unsatisfiable)
        #expect(ByteRange.parse(nil, size: 10) == .whole)
        #expect(EntityBytes.parse("0:*")?.resolve(size: 10) ?? (1, 1) == (0, 10))
        #expect(EntityBytes.parse("-3:-2")?.resolve(size: 10) ?? (0, 0) == (7, 2))
        #expect(EntityBytes.parse("5:2") == nil)
        #expect(ContentTypes.sniff(Array("<!DOCTYPE html><p>".utf8)) == "text/html; charset=utf-8")
        #expect(ContentTypes.sniff([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0]) == "image/png")
        #expect(ContentTypes.sniff([0, 1, 2, 3]) == "application/octet-stream")
    }
}
