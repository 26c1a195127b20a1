import BlockStore
import Foundation
import IPLD
import Multiformats
import Testing

@testable import UnixFS
import TestSupport

/// Builds a directory tree on disk: path → contents (nil = directory, "->target" = symlink).
private func makeTree(_ root: String, _ entries: [(String, String?)]) throws {
    for (path, contents) in entries {
        let full = root + "/" + path
        guard let contents else {
            try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
            continue
        }
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if contents.hasPrefix("->") {
            try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: String(contents.dropFirst(2)))
        } else {
            try writeFile(full, Array(contents.utf8))
        }
    }
}

/// A store whose writes fail.
private final class FailingStore: BlockStore, @unchecked Sendable {
    struct Failure: Error, CustomStringConvertible { var description: String { "disk full" } }
    func put(_ block: Block) throws { throw Failure() }
    func putMany(_ blocks: [Block]) throws { throw Failure() }
    func get(_ cid: CID) throws -> Block? { nil }
    func has(_ cid: CID) throws -> Bool { false }
    func size(of cid: CID) throws -> Int? { nil }
    func delete(_ cid: CID) throws {}
    func allMultihashes() throws -> [Multihash] { [] }
}

/// The Lorem ipsum text of the gateway-conformance dir-with-files recipe, as it ended up in the
/// fixture: the two paragraphs separated by a blank line, no trailing newline.
private let loremWords = """
    Lorem ipsum dolor sit amet, consectetur adipiscing elit. Nunc non imperdiet nunc. Proin ac quam ut nibh eleifend aliquet. Vestibulum ante ipsum primis in faucibus orci luctus et ultrices posuere cubilia curae; Sed ligula dolor, imperdiet sagittis arcu et, semper tincidunt urna. Donec et tempor augue, quis sollicitudin metus. Curabitur semper ullamcorper aliquet. Mauris hendrerit sodales lectus eget fermentum. Proin sollicitudin vestibulum commodo. Vivamus nec lectus eu augue aliquet dignissim nec condimentum justo. In hac habitasse platea dictumst. Mauris vel sem neque.

    Vivamus finibus, enim at lacinia semper, arcu erat gravida lacus, sit amet gravida magna orci sit amet est. Sed non leo lacus. Nullam viverra ipsum a tincidunt dapibus. Nulla pulvinar ligula sit amet ante ultrices tempus. Proin purus urna, semper sed lobortis quis, gravida vitae ipsum. Aliquam mi urna, pulvinar eu bibendum quis, convallis ac dolor. In gravida justo sed risus ullamcorper, vitae luctus massa hendrerit. Pellentesque habitant amet.
    """

@Suite("Importer", .onBlockingPool)
struct ImporterTests {
    @Test("Kubo CIDs of small files (go-unixfsnode and gateway fixtures)")
    func smallFiles() throws {
        #expect(try rootCID(ImportOptions(), bytes: Array("hello world\n".utf8)) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
        let v1 = try ImportOptions.kubo(cidVersion: 1)
        #expect(v1.rawLeaves)
        // HELLO_CID of the gateway recipes: a raw block.
        let hello = try CID(rootCID(v1, bytes: Array("hello world\n".utf8)))
        #expect(hello.codec == .raw)
        #expect(hello.version == .v1)
    }

    @Test("option resolution follows ipfs add")
    func kuboOptions() throws {
        #expect(try ImportOptions.kubo().cidVersion == .v0)
        #expect(try ImportOptions.kubo().rawLeaves == false)
        #expect(try ImportOptions.kubo(hashFunction: .sha2_512).cidVersion == .v1)
        #expect(try ImportOptions.kubo(cidVersion: 1, rawLeaves: false).rawLeaves == false)
        #expect(try ImportOptions.kubo(cidVersion: 1, storesMetadata: true).rawLeaves == false)
        #expect(throws: ImportError.self) { try ImportOptions.kubo(cidVersion: 0, hashFunction: .sha2_512) }
        #expect(throws: ImportError.self) { try ImportOptions.kubo(rawLeaves: true, storesMetadata: true) }
        var bad = ImportOptions()
        bad.hashFunction = .sha2_512
        #expect(throws: ImportError.self) { try Importer(options: bad, sink: nil) }
        bad = ImportOptions()
        bad.hamtFanout = 100
        #expect(throws: ImportError.self) { try Importer(options: bad, sink: nil) }
    }

    @Test("chunk edges round-trip and have the expected shape", arguments: [0, 1, 262_143, 262_144, 262_145])
    func chunkEdges(size: Int) throws {
        let bytes = ChaChaSource.bytes(seed: "edge-\(size)", size: size)
        for options in [ImportOptions(), ImportOptions.unixfsV1_2025, try ImportOptions.kubo(cidVersion: 1)] {
            let (result, store) = try importToStore(options, bytes: bytes)
            let exporter = Exporter(source: store)
            #expect(try catAll(exporter, result.root.cid) == bytes)
            let info = try exporter.stat(result.root.cid)
            #expect(info.kind == .file)
            #expect(info.size == UInt64(size))
            let chunk = options.chunker.maxChunkSize
            let leaves = max(1, (size + chunk - 1) / chunk)
            if leaves == 1 {
                #expect(info.linkCount == 0)
                #expect(result.root.cid.codec == (options.rawLeaves ? .raw : .dagPB))
            } else {
                #expect(info.linkCount == leaves)
            }
            // Only-hash gives the same root.
            #expect(try rootCID(options, bytes: bytes) == result.root.cid.description)
        }
    }

    @Test("other hash functions and CIDv1 dag-pb leaves")
    func hashFunctions() throws {
        let bytes = ChaChaSource.bytes(seed: "hashes", size: 600_000)
        for hash in [HashFunction.sha2_512, .blake2b_256, .sha3_256] {
            let options = try ImportOptions.kubo(hashFunction: hash, rawLeaves: false)
            let (result, store) = try importToStore(options, bytes: bytes)
            #expect(result.root.cid.multihash.code == hash.rawValue)
            #expect(result.root.cid.version == .v1)
            for mh in try store.allMultihashes() { #expect(mh.code == hash.rawValue) }
            #expect(try catAll(Exporter(source: store), result.root.cid) == bytes)
        }
    }

    @Test("reproduces gateway-conformance recipes added with Kubo")
    func gatewayRecipes() throws {
        let base = try temporaryDirectory()
        defer { removeTree(base) }

        // path_gateway_unixfs/symlink.car: ipfs add -Qr testfiles (foo + symlink bar -> foo)
        try makeTree(base, [("testfiles/foo", "content\n"), ("testfiles/bar", "->foo")])
        var result = try Importer(options: ImportOptions(), sink: nil).add(path: base + "/testfiles")
        #expect(result.root.cid.description == "QmWvY6FaqFMS89YAQ9NAPjVP4WZKA1qbHbicc9HeSKQTgt")
        #expect(result.entries.map(\.path) == ["testfiles/bar", "testfiles/foo", "testfiles"])
        #expect(result.entries.map(\.kind) == [.symlink, .file, .directory])

        // dir_listing/fixtures.car: ipfs add -Qr --cid-version 1 rootDir (unicode names)
        try makeTree(base, [
            ("rootDir/ipfs/file.txt", "I am a txt file in confusing /ipfs dir\n"),
            ("rootDir/ipns/file.txt", "I am a txt file in confusing /ipns dir\n"),
            ("rootDir/api/file.txt", "I am a txt file in confusing /api dir\n"),
            ("rootDir/ą/ę/file-źł.txt", "I am a txt file on path with utf8\n"),
        ])
        let v1 = try ImportOptions.kubo(cidVersion: 1)
        result = try Importer(options: v1, sink: nil).add(path: base + "/rootDir")
        #expect(result.root.cid.description == "bafybeig6ka5mlwkl4subqhaiatalkcleo4jgnr3hqwvpmsqfca27cijp3i")

        // gateway-cache/fixtures.car: ipfs add -Qrw --cid-version 1 root2
        try makeTree(base, [("root2/root3/root4/index.html", "hello\n")])
        var wrap = v1
        wrap.wrapWithDirectory = true
        result = try Importer(options: wrap, sink: nil).add(path: base + "/root2")
        #expect(result.root.cid.description == "bafybeib3ffl2teiqdncv3mkz4r23b5ctrwkzrrhctdbne6iboayxuxk5ui")
        #expect(result.root.path == "")
        #expect(result.entries.map(\.path) == ["root2/root3/root4/index.html", "root2/root3/root4", "root2/root3", "root2", ""])

        // gateway-raw-block.car: ipfs add -Qrw --cid-version 1 dir
        try makeTree(base, [("dir/ascii.txt", "hello application/vnd.ipld.raw\n")])
        result = try Importer(options: wrap, sink: nil).add(path: base + "/dir")
        #expect(result.root.cid.description == "bafybeie72edlprgtlwwctzljf6gkn2wnlrddqjbkxo3jomh4n7omwblxly")

        // path_gateway_unixfs/dir-with-files.car (files added with --cid-version=1 --chunker=size-256).
        var small = v1
        small.chunker = .fixed(size: 256)
        let car = "hello application/vnd.ipld.car\n"
        let tree = ImportNode.directory(name: "dir-with-files", children: [
            .file(name: "ascii-copy.txt", contents: Array(car.utf8)),
            .file(name: "ascii.txt", contents: Array(car.utf8)),
            .file(name: "hello.txt", contents: Array("hello world\n".utf8)),
            .file(name: "multiblock.txt", contents: Array(loremWords.utf8)),
        ])
        result = try Importer(options: small, sink: nil).add(tree: tree)
        let (carRoots, carStore) = try loadCAR("gateway/path_gateway_unixfs/dir-with-files.car")
        let expected = try Exporter(source: carStore).entries(carRoots[0])
        for entry in expected {
            let mine = result.entries.first { $0.path == "dir-with-files/" + entry.name }
            #expect(mine?.cid == entry.cid, "\(entry.name)")
            #expect(mine?.size == entry.tsize, "\(entry.name)")
        }
        #expect(result.root.cid.description == "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy")
    }

    @Test("directories: hidden files, empty dirs, unicode names, symlinks; get restores them")
    func directories() throws {
        let base = try temporaryDirectory()
        defer { removeTree(base) }
        try makeTree(base, [
            ("in/a.txt", "a"), ("in/.hidden", "h"), ("in/empty", nil), ("in/sub/ü-é 名前.txt", "unicode"),
            ("in/sub/link", "->../a.txt"), ("in/sub/deeper/big.bin", String(repeating: "z", count: 700_000)),
        ])
        let store = MemoryBlockStore()
        var seen: [String] = []
        var progress: [UInt64] = []
        let importer = try Importer(
            options: ImportOptions(), sink: BatchingBlockSink(store: store),
            onProgress: { progress.append($0.totalBytes) }, onEntry: { seen.append($0.path) })
        let result = try importer.add(path: base + "/in")
        #expect(seen == result.entries.map(\.path))
        #expect(!seen.contains("in/.hidden"))
        #expect(seen.contains("in/empty"))
        // Unwrapped first: `#expect` on an `Optional<UInt64>` comparison reads 9 bytes of an
        // 8-byte stack slot in the compiler-made AnyHashable thunk (AddressSanitizer, Swift 6.3.1).
        #expect((progress.last ?? 0) == 700_000 + 1 + 7)
        #expect(progress == progress.sorted())

        let exporter = Exporter(source: store)
        #expect(try exporter.entries(result.root.cid).map(\.name) == ["a.txt", "empty", "sub"])
        let link = try exporter.resolve("/ipfs/\(result.root.cid)/sub/link")
        #expect(try exporter.stat(link).symlinkTarget == "../a.txt")
        let unicode = try exporter.resolve("\(result.root.cid)/sub/ü-é 名前.txt")
        #expect(try catAll(exporter, unicode) == Array("unicode".utf8))

        let out = base + "/out"
        var written: UInt64 = 0
        try exporter.get(result.root.cid, to: out) { written = $0 }
        #expect(written == 700_000 + 1 + 7)
        #expect(try readFile(out + "/sub/ü-é 名前.txt") == Array("unicode".utf8))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + "/sub/link") == "../a.txt")
        #expect(try FileManager.default.contentsOfDirectory(atPath: out + "/empty").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: out + "/.hidden"))
        #expect(try readFile(out + "/sub/deeper/big.bin").count == 700_000)
        #expect(throws: ExportError.destinationExists(out)) { try exporter.get(result.root.cid, to: out) }

        // Re-importing what get wrote gives the same CID.
        #expect(try Importer(options: ImportOptions(), sink: nil).add(path: out).root.cid == result.root.cid)

        // Hidden files included, empty dirs excluded.
        var options = ImportOptions()
        options.includeHidden = true
        options.includeEmptyDirectories = false
        let other = try Importer(options: options, sink: nil).add(path: base + "/in")
        #expect(other.entries.map(\.path).contains("in/.hidden"))
        #expect(!other.entries.map(\.path).contains("in/empty"))
    }

    @Test("mode and mtime are stored (UnixFS 1.5) and restored by get")
    func modeAndMtime() throws {
        let base = try temporaryDirectory()
        defer { removeTree(base) }
        try makeTree(base, [("m/x.sh", "#!/bin/sh\n"), ("m/d/y", String(repeating: "y", count: 300_000))])
        chmod(base + "/m/x.sh", 0o751)
        chmod(base + "/m/d", 0o700)
        var times = [timespec(tv_sec: 0, tv_nsec: 0), timespec(tv_sec: 1_600_000_000, tv_nsec: 123_456_789)]
        _ = utimensat(AT_FDCWD, base + "/m/x.sh", &times, 0)
        var options = try ImportOptions.kubo(cidVersion: 1, storesMetadata: true)
        options.preserveMode = true
        options.preserveMtime = true
        let store = MemoryBlockStore()
        let result = try Importer(options: options, sink: BatchingBlockSink(store: store)).add(path: base + "/m")
        let exporter = Exporter(source: store)
        let script = try exporter.stat(exporter.resolve(result.root.cid, components: ["x.sh"]))
        #expect(script.mode == 0o751)
        #expect(script.mtime == UnixFSTime(seconds: 1_600_000_000, nanoseconds: 123_456_789))
        #expect(script.blockSize > 0)
        #expect(try exporter.stat(exporter.resolve(result.root.cid, components: ["d"])).mode == 0o700)
        let big = try exporter.stat(exporter.resolve(result.root.cid, components: ["d", "y"]))
        #expect(big.linkCount == 2)
        #expect(big.mode != nil)

        try exporter.get(result.root.cid, to: base + "/restored")
        let attributes = try FileManager.default.attributesOfItem(atPath: base + "/restored/x.sh")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o751)
        let date = try #require(attributes[.modificationDate] as? Date)
        #expect(abs(date.timeIntervalSince1970 - 1_600_000_000.123) < 0.01)

        // Explicit mode/mtime on a single-chunk dag-pb file and the same file without.
        var fixed = ImportOptions()
        fixed.mode = 0o600
        fixed.mtime = UnixFSTime(seconds: 42)
        let one = try importToStore(fixed, bytes: Array("one chunk".utf8))
        let info = try Exporter(source: one.1).stat(one.0.root.cid)
        #expect(info.mode == 0o600)
        #expect(info.mtime == UnixFSTime(seconds: 42))
        #expect(try one.1.allMultihashes().count == 1)
        #expect(one.0.root.cid != (try CID(rootCID(ImportOptions(), bytes: Array("one chunk".utf8)))))
    }

    @Test("HAMT directories list and resolve every name; fanout 16 works too")
    func hamt() throws {
        let names = (0..<3000).map { "file-\($0)-with-a-longish-name-to-pass-the-threshold.txt" }
        for fanout in [256, 16] {
            var options = ImportOptions()
            options.hamtFanout = fanout
            let tree = ImportNode.directory(name: "big", children: names.map { .file(name: $0, contents: Array($0.utf8)) })
            let (result, store) = try importTreeToStore(options, tree: tree)
            let exporter = Exporter(source: store)
            let info = try exporter.stat(result.root.cid)
            #expect(info.isSharded)
            let listed = try exporter.entries(result.root.cid, resolveTypes: true)
            #expect(Set(listed.map(\.name)) == Set(names))
            #expect(listed.allSatisfy { $0.info?.kind == .file && $0.info?.size == UInt64($0.name.utf8.count) })
            for name in names.prefix(200) {
                let file = try exporter.resolve(result.root.cid, components: [name])
                #expect(try catAll(exporter, file) == Array(name.utf8))
            }
            #expect(throws: ExportError.self) { try exporter.resolve(result.root.cid, components: ["missing.txt"]) }
        }
        // Sharding disabled: stays basic.
        var options = ImportOptions()
        options.hamtShardingThreshold = 0
        let tree = ImportNode.directory(name: "big", children: names.map { .file(name: $0, contents: []) })
        let (result, store) = try importTreeToStore(options, tree: tree)
        #expect(try !Exporter(source: store).stat(result.root.cid).isSharded)
    }

    @Test("store failures surface as ImportError.store")
    func sinkFailure() throws {
        let importer = try Importer(options: ImportOptions(), sink: BatchingBlockSink(store: FailingStore(), maxBlocks: 2))
        #expect(throws: ImportError.store(reason: "disk full")) {
            try importer.add(bytes: ChaChaSource.bytes(seed: "fail", size: 2_000_000))
        }
        let sync = try Importer(options: ImportOptions(), sink: BatchingBlockSink(store: FailingStore(), background: false))
        #expect(throws: ImportError.store(reason: "disk full")) { try sync.add(bytes: [1, 2, 3]) }
    }

    @Test("streams, names and errors")
    func streams() throws {
        let importer = try Importer(options: ImportOptions(), sink: nil)
        let unnamed = try importer.add(bytes: Array("hello world\n".utf8))
        #expect(unnamed.root.path == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
        let named = try importer.add(bytes: Array("hello world\n".utf8), name: "hello.txt")
        #expect(named.root.path == "hello.txt")
        #expect(named.root.size == 20)
        #expect(throws: ImportError.invalidName(path: "a/b")) { try importer.add(bytes: [], name: "a/b") }
        #expect(throws: ImportError.self) { try importer.add(path: "/nonexistent/path/for/test") }
        #expect(throws: ImportError.self) { try importer.add(paths: ["/tmp", "/tmp"]) }
        #expect(throws: ImportError.duplicateName(path: "d/x")) {
            try importer.add(tree: .directory(name: "d", children: [.file(name: "x", contents: []), .file(name: "x", contents: [])]))
        }
        // A file descriptor source.
        let base = try temporaryDirectory()
        defer { removeTree(base) }
        let bytes = ChaChaSource.bytes(seed: "fd", size: 1_000_000)
        try writeFile(base + "/f", bytes)
        let fd = open(base + "/f", O_RDONLY)
        defer { close(fd) }
        let viaFD = try importer.add(source: FileDescriptorSource(fd: fd, path: base + "/f"), name: "f")
        #expect(viaFD.root.cid == (try importer.add(path: base + "/f")).root.cid)
        #expect(try importer.totalSize(of: [base]) == 1_000_000)
    }
}
