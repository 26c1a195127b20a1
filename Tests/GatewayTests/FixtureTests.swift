import BlockStore
import Foundation
import IPLD
import Multiformats
import Testing
import UnixFS

@testable import Gateway
import TestSupport

/// boxo's gateway fixtures (gateway/testdata), served as boxo's tests expect.
@Suite(.onBlockingPool) struct BoxoFixtureTests {
    @Test func multilayerHAMTEntityIsTheShardsOnly() async throws {
        let (roots, store) = try fixture("directory-with-multilayer-hamt-and-multiblock-files.car")
        let root = try CID("bafybeid3fd2xxdcd3dbj7trb433h2aqssn6xovjbwnkargjv7fuog4xjdi")
        #expect(roots == [root])
        let hamt = try CID("bafybeignui4g7l6cvqyy4t6vnbl2fjtego4ejmpcia77jhhwnksmm4bejm")
        let name = try #require(try Exporter(source: store).entries(root).first { $0.cid == hamt }?.name)
        let gateway = makeGateway(store)
        let answer = try await ask(gateway, "/ipfs/\(root)/\(name)?format=car&dag-scope=entity")
        #expect(answer.status == 200)
        let blocks = try carBlocks(answer.body).blocks.map(\.cid)
        #expect(blocks.first == root && blocks.dropFirst().first == hamt)
        #expect(Set(blocks) == Set([
            root, hamt, try CID("bafybeiccgo7euew77gkqkhezn3pozfrciiibqz2u3spdqmgjvd5wqskipm"),
            try CID("bafybeihjydob4eq5j4m43whjgf5cgftthc42kjno3g24sa3wcw7vonbmfy"),
        ]))
        // Every file in the HAMT reads back through the path gateway, byte-equal to the exporter.
        let exporter = Exporter(source: store)
        var files = 0
        try exporter.list(hamt) { entry in
            if (try? exporter.stat(entry.cid))?.kind == .file { files += 1 }
        }
        #expect(files > 0)
        for entry in try exporter.entries(hamt) {
            let info = try exporter.stat(entry.cid)
            guard info.kind == .file else { continue }
            let viaGateway = try await ask(gateway, "/ipfs/\(root)/\(name)/\(entry.name)")
            var expected: [UInt8] = []
            try exporter.cat(entry.cid) { expected += $0 }
            #expect(viaGateway.status == 200 && viaGateway.body == expected)
            // A CAR of the file holds the path through the HAMT shards and the file.
            let car = try carBlocks(try await ask(gateway, "/ipfs/\(root)/\(name)/\(entry.name)?format=car").body)
            #expect(car.blocks.first?.cid == root && car.blocks.contains { $0.cid == entry.cid })
        }
        // A full CAR of the root is complete: every block of the fixture.
        let all = try carBlocks(try await ask(gateway, "/ipfs/\(root)?format=car").body)
        #expect(Set(all.blocks.map(\.cid)).count == all.blocks.count)
        #expect(all.blocks.count == (try store.allMultihashes()).count)
    }

    @Test func specialCharacterNamesAreListedAndServed() async throws {
        let (roots, store) = try fixture("dir-special-chars.car")
        let root = try #require(roots.first)
        let gateway = makeGateway(store)
        let listing = try await ask(gateway, "/ipfs/\(root)/")
        #expect(listing.status == 200)
        var stack: [(CID, [String])] = [(root, [])]
        var served = 0
        while let (cid, path) = stack.popLast() {
            for entry in try Exporter(source: store).entries(cid) {
                let info = try Exporter(source: store).stat(entry.cid)
                let encoded = (path + [entry.name]).map {
                    $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? $0
                }.joined(separator: "/")
                if info.kind == .directory {
                    stack.append((entry.cid, path + [entry.name]))
                    let page = try await ask(gateway, "/ipfs/\(root)/\(encoded)/")
                    #expect(page.status == 200, "\(path + [entry.name])")
                } else if info.kind == .file {
                    let answer = try await ask(gateway, "/ipfs/\(root)/\(encoded)")
                    #expect(answer.status == 200, "\(path + [entry.name])")
                    #expect(answer.header("X-Ipfs-Roots")?.hasSuffix(entry.cid.description) == true)
                    served += 1
                }
            }
        }
        #expect(served > 0)
        #expect(listing.text.contains("</table>"))
    }

    @Test func modeAndMtimeDirectory() async throws {
        let (roots, store) = try fixture("unixfs-dir-with-mode-mtime.car")
        let root = try #require(roots.first)
        #expect(root.description == "bafybeifup24mfbx6iv4xo7k664gzlezzurdnyb36pogxulrb7ed23cxtym")
        let gateway = makeGateway(store)
        #expect(try await ask(gateway, "/ipfs/\(root)/file1").status == 200)
        #expect(try await ask(gateway, "/ipfs/\(root)/dir1/").status == 200)
        #expect(try await ask(gateway, "/ipfs/\(root)/dir1").status == 301)
    }

    @Test func fixturesCarRawBlocksMatch() async throws {
        let (roots, store) = try fixture("fixtures.car")
        let root = try #require(roots.first)
        let gateway = makeGateway(store)
        var walker = DAGExport.blocks(root: root, source: store)
        var count = 0
        while let block = try walker.next() {
            let answer = try await ask(gateway, "/ipfs/\(block.cid)?format=raw")
            #expect(answer.status == 200 && answer.body == block.data)
            count += 1
        }
        #expect(count > 0)
        let car = try carBlocks(try await ask(gateway, "/ipfs/\(root)?format=car").body)
        #expect(car.roots == [root] && car.blocks.count == count)
    }
}
