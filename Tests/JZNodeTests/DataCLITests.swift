import Foundation
import Multiformats
import Testing
import TestSupport

/// The data-plane commands end to end through the built binary: add, cat, get, ls, pin, block,
/// dag and store upkeep, including their error paths.
@Suite("jz-node data commands", .onBlockingPool, .serialized)
struct DataCLITests {
    func makeHome() throws -> (home: String, dir: String) {
        let dir = try temporaryDirectory()
        let home = dir + "/home"
        let r = try CLI.run(["init", "--empty-bootstrap"], home: home)
        #expect(r.status == 0, "\(r.stderr)")
        return (home, dir)
    }

    @Test func addCatPinAndCollect() throws {
        let (home, dir) = try makeHome()
        let file = dir + "/hello.txt"
        try Data("hello world".utf8).write(to: URL(fileURLWithPath: file))
        let add = try CLI.run(["add", file], home: home)
        #expect(add.stdout == "added Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD hello.txt\n")
        #expect(try CLI.run(["cat", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"], home: home).stdout == "hello world")
        #expect(try CLI.run(["cat", "--offset", "6", "--length", "3", "/ipfs/Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"], home: home).stdout == "wor")
        #expect(try CLI.run(["pin", "ls", "--type", "recursive"], home: home).stdout
                == "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD recursive\n")
        #expect(try CLI.run(["store", "verify"], home: home).status == 0)
        // Pinned content survives GC; unpinned content does not.
        #expect(try CLI.run(["store", "gc", "-q"], home: home).status == 0)
        #expect(try CLI.run(["block", "stat", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"], home: home).status == 0)
        let rmPinned = try CLI.run(["block", "rm", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"], home: home)
        #expect(rmPinned.status != 0)
        #expect(try CLI.run(["pin", "rm", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"], home: home).status == 0)
        let gc = try CLI.run(["store", "gc"], home: home)
        #expect(gc.stdout.contains("removed "))
        let gone = try CLI.run(["cat", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"], home: home)
        #expect(gone.status != 0)
        #expect(gone.stderr.contains("Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD") || gone.stderr.contains("bafy"))
    }

    @Test func onlyHashWritesNothing() throws {
        let (home, dir) = try makeHome()
        let file = dir + "/x"
        try Data(repeating: 7, count: 300_000).write(to: URL(fileURLWithPath: file))
        let cid = try CLI.run(["add", "-Q", "--only-hash", file], home: home).stdout
        #expect(cid.hasPrefix("Qm"))
        #expect(try CLI.run(["pin", "ls"], home: home).stdout.isEmpty)
        #expect(try CLI.run(["store", "stat", "--json"], home: home).stdout.contains("\"NumObjects\": 0"))
        #expect(try CLI.run(["add", "-Q", file], home: home).stdout == cid)
    }

    @Test func directoriesNeedRecursive() throws {
        let (home, dir) = try makeHome()
        try FileManager.default.createDirectory(atPath: dir + "/d/sub", withIntermediateDirectories: true)
        try Data("a".utf8).write(to: URL(fileURLWithPath: dir + "/d/sub/a"))
        let refused = try CLI.run(["add", dir + "/d"], home: home)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("-r"))
        let root = try CLI.run(["add", "-r", "-Q", dir + "/d"], home: home).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let ls = try CLI.run(["ls", root], home: home).stdout
        #expect(ls.hasSuffix(" sub/\n"))
        let out = dir + "/out"
        #expect(try CLI.run(["get", root, "-o", out], home: home).status == 0)
        #expect(try String(contentsOfFile: out + "/sub/a", encoding: .utf8) == "a")
        #expect(try CLI.run(["get", root, "-o", out], home: home).status != 0)  // refuses to overwrite
    }

    @Test func dagExportImportRoundTrip() throws {
        let (home, dir) = try makeHome()
        let put = try Process.runWithInput(CLI.binary.path, ["dag", "put", "--repo-dir", home], input: #"{"a": [1, 2, {"b": "c"}]}"#)
        let cid = put.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(cid.hasPrefix("bafyrei"))
        #expect(try CLI.run(["dag", "get", cid + "/a/2/b"], home: home).stdout == #""c""#)
        #expect(try CLI.run(["dag", "resolve", cid + "/a/2/b"], home: home).stdout == "\(cid)/a/2/b\n")
        let car = dir + "/x.car"
        let export = Process()
        export.executableURL = CLI.binary
        export.arguments = ["dag", "export", cid, "--repo-dir", home]
        #expect(FileManager.default.createFile(atPath: car, contents: nil))
        export.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: car))
        try export.run()
        export.waitUntilExit()
        #expect(export.terminationStatus == 0)
        let (other, _) = try makeHome()
        let imported = try CLI.run(["dag", "import", car], home: other)
        #expect(imported.stdout == "pinned root \(cid) success\n")
        #expect(try CLI.run(["dag", "get", cid], home: other).stdout == #"{"a":[1,2,{"b":"c"}]}"#)
    }

    @Test func corruptCARIsRejectedNamingTheBlock() throws {
        let (home, dir) = try makeHome()
        // A CARv1 whose only block does not hash to its CID.
        let cid = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"  // raw "hello world"
        let header: [UInt8] = [0x11, 0xa2, 0x65, 0x72, 0x6f, 0x6f, 0x74, 0x73, 0x80, 0x67, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x01]
        let payload = try CID(cid).bytes + Array("hello there".utf8)
        let car = header + [UInt8(payload.count)] + payload
        try Data(car).write(to: URL(fileURLWithPath: dir + "/bad.car"))
        let r = try CLI.run(["dag", "import", dir + "/bad.car"], home: home)
        #expect(r.status != 0)
        #expect(r.stderr.contains(cid))
    }
}

extension Process {
    /// Runs `path args` with `input` on stdin; returns stdout.
    static func runWithInput(_ path: String, _ args: [String], input: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe
        p.standardOutput = outPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: out, as: UTF8.self)
    }
}
