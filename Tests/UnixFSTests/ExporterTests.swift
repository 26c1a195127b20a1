import BlockStore
import Foundation
import IPLD
import Multiformats
import Testing

@testable import UnixFS
import TestSupport

/// Walks a UnixFS DAG completely (cat every file, list every directory); returns counts.
private struct Walk {
    var files = 0
    var directories = 0
    var symlinks = 0
    var bytes: UInt64 = 0
    var foreign = 0

    mutating func walk(_ exporter: Exporter, _ cid: CID) throws {
        if cid.codec != .dagPB && cid.codec != .raw {
            // A directory may link non-UnixFS blocks (dag-cbor, dag-json): not walked.
            #expect(throws: ExportError.unsupportedCodec(cid)) { try exporter.stat(cid) }
            foreign += 1
            return
        }
        let info = try exporter.stat(cid)
        switch info.kind {
        case .file:
            files += 1
            var count: UInt64 = 0
            try exporter.cat(cid) { count += UInt64($0.count) }
            #expect(count == info.size)
            bytes += count
        case .symlink:
            symlinks += 1
        case .directory:
            directories += 1
            for entry in try exporter.entries(cid) { try walk(exporter, entry.cid) }
        }
    }
}

/// The CID of the `ExportError.missingBlock` that `body` throws (nil if it throws nothing or
/// another error).
private func missingBlock(_ body: () throws -> Void) -> CID? {
    do {
        try body()
    } catch {
        if let error = error as? ExportError, case let .missingBlock(cid, _) = error { return cid }
        Issue.record("unexpected error \(error)")
    }
    return nil
}

@Suite("Exporter", .onBlockingPool)
struct ExporterTests {
    @Test("go-unixfsnode file fixtures")
    func goUnixfsnode() throws {
        let (roots, store) = try loadCAR("go-unixfsnode/file/QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o.car")
        let exporter = Exporter(source: store)
        #expect(try catAll(exporter, roots[0]) == Array("hello world\n".utf8))
        let (dirRoots, dirStore) = try loadCAR("go-unixfsnode/file/QmT8EC9sJq63SkDZ1mWLbWWyVV66PuqyHWpKkH4pcVyY4H.car")
        let dir = Exporter(source: dirStore)
        let first = try #require(try dir.entries(dirRoots[0]).first)
        #expect(first.name == "b.txt")
        #expect(try catAll(dir, first.cid) == Array("hello world\n".utf8))
    }

    @Test("the deliberately incomplete HAMT: one path resolves, the rest name the missing block")
    func incompleteHAMT() throws {
        let (roots, store) = try loadCAR("go-unixfsnode/hamt/wikipedia-cryptographic-hash-function.car")
        let exporter = Exporter(source: store)
        let root = roots[0]
        #expect(root.description == "bafybeiaysi4s6lnjev27ln5icwm6tueaw2vdykrtjkwiphwekaywqhcjze")
        let page = try exporter.resolve("/ipfs/\(root)/wiki/Cryptographic_hash_function")
        let html = String(decoding: try catAll(exporter, page), as: UTF8.self)
        #expect(html.contains("<title>Cryptographic hash function</title>"))
        for path in ["/index.html", "/favicon.ico", "/wiki/Édouard_Bamberger"] {
            let cid = try #require(missingBlock {
                _ = try exporter.stat(exporter.resolve(root, components: path.split(separator: "/").map(String.init)))
            })
            #expect(!(try store.has(cid)))
        }
        // Walking /wiki reports what is missing instead of failing.
        let wiki = try exporter.resolve(root, components: ["wiki"])
        var missingShards = 0
        var missingEntries = 0
        var present = 0
        for directory in [root, wiki] {
            try exporter.list(directory, resolveTypes: true, onMissing: { missing in
                switch missing {
                case .shard: missingShards += 1
                case .entry: missingEntries += 1
                }
            }) { if $0.info != nil { present += 1 } }
        }
        #expect(missingShards == 570)
        #expect(missingEntries == 110)
        #expect(present == 2)  // "wiki" and the page
        #expect(throws: ExportError.self) { try exporter.entries(wiki) }
    }

    @Test("multi-layer HAMT with multi-block files (boxo gateway fixture)")
    func multilayerHAMT() throws {
        let (roots, store) = try loadCAR("boxo-gateway/directory-with-multilayer-hamt-and-multiblock-files.car")
        let exporter = Exporter(source: store)
        #expect(roots[0].description == "bafybeid3fd2xxdcd3dbj7trb433h2aqssn6xovjbwnkargjv7fuog4xjdi")
        let hamt = try CID("bafybeignui4g7l6cvqyy4t6vnbl2fjtego4ejmpcia77jhhwnksmm4bejm")
        #expect(try exporter.stat(hamt).isSharded)
        let entries = try exporter.entries(hamt, resolveTypes: true)
        #expect(!entries.isEmpty)
        for entry in entries {
            #expect(try exporter.resolve(hamt, components: [entry.name]) == entry.cid)
        }
        var walk = Walk()
        try walk.walk(exporter, roots[0])
        #expect(walk.files > 0)
        let base = try temporaryDirectory()
        defer { removeTree(base) }
        try exporter.get(roots[0], to: base + "/out")
    }

    @Test("mode and mtime fixture (UnixFS 1.5)")
    func modeMtimeFixture() throws {
        let (roots, store) = try loadCAR("boxo-gateway/unixfs-dir-with-mode-mtime.car")
        let exporter = Exporter(source: store)
        let file = try exporter.stat(exporter.resolve(roots[0], components: ["file1"]))
        #expect(file.mode != nil || file.mtime != nil)
        let base = try temporaryDirectory()
        defer { removeTree(base) }
        try exporter.get(roots[0], to: base + "/out")
        if let mtime = file.mtime {
            let attributes = try FileManager.default.attributesOfItem(atPath: base + "/out/file1")
            let date = try #require(attributes[.modificationDate] as? Date)
            #expect(Int64(date.timeIntervalSince1970.rounded(.down)) == mtime.seconds)
        }
    }

    @Test("every UnixFS DAG in the gateway and car fixtures can be walked")
    func walkAllFixtures() throws {
        let cars = [
            "gateway/dir_listing/fixtures.car", "gateway/gateway-cache/fixtures.car", "gateway/gateway-raw-block.car",
            "gateway/path_gateway_dag/dag-pb.car", "gateway/path_gateway_tar/fixtures.car",
            "gateway/path_gateway_tar/inside-root.car", "gateway/path_gateway_unixfs/dir-with-files.car",
            "gateway/path_gateway_unixfs/dir-with-percent-encoded-filename.car", "gateway/path_gateway_unixfs/symlink.car",
            "gateway/redirects_file/redirects-spa.car", "gateway/redirects_file/redirects.car",
            "gateway/subdomain_gateway/fixtures.car", "gateway/trustless_gateway_car/dir-with-duplicate-files.car",
            "gateway/trustless_gateway_car/single-layer-hamt-with-multi-block-files.car",
            "gateway/trustless_gateway_car/subdir-with-mixed-block-files.car",
            "gateway/trustless_gateway_car/subdir-with-two-single-block-files.car",
            "boxo-gateway/dir-special-chars.car", "boxo-gateway/fixtures.car", "go-car/simple-unixfs.car",
            "go-car/sample-unixfs-v2.car",
        ]
        for car in cars {
            let (roots, store) = try loadCAR(car)
            var walk = Walk()
            do {
                try walk.walk(Exporter(source: store), roots[0])
            } catch {
                Issue.record("\(car): \(error)")
            }
            #expect(walk.files + walk.directories > 0, "\(car)")
        }
        let (roots, store) = try loadCAR("gateway/path_gateway_unixfs/symlink.car")
        let exporter = Exporter(source: store)
        #expect(try exporter.stat(exporter.resolve(roots[0], components: ["bar"])).symlinkTarget == "foo")
        #expect(try catAll(exporter, exporter.resolve(roots[0], components: ["foo"])) == Array("content\n".utf8))
    }

    @Test("the single-layer HAMT lists 1.txt … 1000.txt")
    func singleLayerHAMT() throws {
        let (roots, store) = try loadCAR("gateway/trustless_gateway_car/single-layer-hamt-with-multi-block-files.car")
        let exporter = Exporter(source: store)
        let names = Set(try exporter.entries(roots[0]).map(\.name))
        #expect(names == Set((1...1000).map { "\($0).txt" }))
        #expect(try exporter.stat(exporter.resolve(roots[0], components: ["470.txt"])).kind == .file)
    }

    @Test("incomplete DAGs fail naming the missing block")
    func missingBlocks() throws {
        let (roots, store) = try loadCAR("gateway/trustless_gateway_car/file-3k-and-3-blocks-missing-block.car")
        let exporter = Exporter(source: store)
        #expect(try exporter.stat(roots[0]).size == 3072)
        // The first KiB is there; the second block is not.
        #expect(try catAll(exporter, roots[0], length: 1024).count == 1024)
        #expect(try catAll(exporter, roots[0], offset: 2048).count == 1024)
        let cid = try #require(missingBlock { _ = try catAll(exporter, roots[0]) })
        #expect(!(try store.has(cid)))
        #expect(cid != roots[0])
        let (simpleRoots, simple) = try loadCAR("go-car/simple-unixfs-missing-blocks.car")
        var walk = Walk()
        #expect(throws: ExportError.self) { try walk.walk(Exporter(source: simple), simpleRoots[0]) }
    }

    @Test("cat with offset and length over a deep DAG, and read(into:)")
    func ranges() throws {
        let bytes = ChaChaSource.bytes(seed: "ranges", size: 100_000)
        for layout in [DAGLayout.balanced, .trickle] {
            var options = ImportOptions()
            options.chunker = .fixed(size: 1000)
            options.maxLinks = 3
            options.layout = layout
            let (result, store) = try importToStore(options, bytes: bytes)
            let exporter = Exporter(source: store)
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<60 {
                let offset = Int.random(in: 0...bytes.count, using: &generator)
                let length = Int.random(in: 0...(bytes.count - offset), using: &generator)
                let got = try catAll(exporter, result.root.cid, offset: UInt64(offset), length: UInt64(length))
                #expect(got == Array(bytes[offset..<(offset + length)]))
            }
            #expect(try catAll(exporter, result.root.cid, offset: 99_000, length: 5000) == Array(bytes[99_000...]))
            #expect(throws: ExportError.offsetOutOfRange(offset: 100_001, size: 100_000)) {
                try exporter.reader(result.root.cid, offset: 100_001)
            }
            var reader = try exporter.reader(result.root.cid, offset: 10)
            var copied = [UInt8](repeating: 0, count: 4097)
            var all: [UInt8] = []
            while true {
                let n = try copied.withUnsafeMutableBytes { try reader.read(into: $0) }
                if n == 0 { break }
                all.append(contentsOf: copied[0..<n])
            }
            #expect(all == Array(bytes[10...]))
            // To a file descriptor.
            let base = try temporaryDirectory()
            defer { removeTree(base) }
            let fd = open(base + "/out", O_WRONLY | O_CREAT, 0o644)
            #expect(try exporter.cat(result.root.cid, offset: 5, length: 50_000, toFileDescriptor: fd) == 50_000)
            close(fd)
            #expect(try readFile(base + "/out") == Array(bytes[5..<50_005]))
        }
    }

    @Test("path and type errors")
    func errors() throws {
        let tree = ImportNode.directory(name: "d", children: [.file(name: "f", contents: [1, 2, 3])])
        let (result, store) = try importTreeToStore(ImportOptions(), tree: tree)
        let exporter = Exporter(source: store)
        let root = result.root.cid
        #expect(throws: ExportError.notFound(name: "g", directory: root, path: "/ipfs/\(root)")) {
            try exporter.resolve("/ipfs/\(root)/g")
        }
        let file = try exporter.resolve("/ipfs/\(root)/f/")
        #expect(throws: ExportError.notADirectory(file, path: "/ipfs/\(root)/f")) { try exporter.resolve("\(root)/f/x") }
        #expect(throws: ExportError.self) { try exporter.resolve("/ipfs/notacid/f") }
        #expect(throws: ExportError.self) { try exporter.resolve("/ipfs/") }
        #expect(throws: ExportError.notAFile(root, kind: "directory")) { try exporter.reader(root) }
        #expect(throws: ExportError.self) { try exporter.entries(file) }
        let (cbor, cborStore) = try loadCAR("gateway/path_gateway_dag/dag-cbor-traversal.car")
        #expect(throws: ExportError.unsupportedCodec(cbor[0])) { try Exporter(source: cborStore).stat(cbor[0]) }
        // Identity CIDs are read inline.
        let identity = try CID(version: .v1, codec: .raw, multihash: Multihash(code: 0, digest: Array("inline".utf8)))
        #expect(try catAll(Exporter(source: MemoryBlockStore()), identity) == Array("inline".utf8))
        let missing = try CID("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
        #expect(throws: ExportError.missingBlock(missing, path: nil)) { try Exporter(source: MemoryBlockStore()).stat(missing) }
    }

    @Test("get refuses entry names that escape the destination")
    func unsafeNames() throws {
        let file = try Block(data: PBNode(data: UnixFSData(type: .file, data: [1], fileSize: 1).encoded()).encoded(), codec: .dagPB)
        for name in ["..", "a/b", "."] {
            let dirBytes = PBNode(
                links: [PBLink(hash: file.cid, name: name, tsize: 10)], data: UnixFSData(type: .directory).encoded()
            ).encoded()
            let dir = try Block(data: dirBytes, codec: .dagPB)
            let base = try temporaryDirectory()
            defer { removeTree(base) }
            #expect(throws: ExportError.unsafeName(name, directory: dir.cid)) {
                try Exporter(source: MemoryBlockStore([file, dir])).get(dir.cid, to: base + "/out")
            }
        }
    }
}
