import Foundation
import Testing
import P2PCrypto
import TestSupport

/// Runs the built `jz-node` binary (it sits beside the test bundle in the build folder).
struct CLI {
    struct Output { let status: Int32; let stdout: String; let stderr: String }

    static var binary: URL {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = runner.deletingLastPathComponent()
        // On Linux the runner is `<products>/jz-nodePackageTests.xctest`; on macOS it is inside the bundle.
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("jz-node").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("jz-node")
    }

    static func run(_ arguments: [String], home: String? = nil) throws -> Output {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["JZ_PATH"] = home ?? "/nonexistent-jz-home"
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Both pipes at once: read one after the other, a child that fills the other pipe's 64 KiB
        // (a long error, a sanitizer's report) would wait for us while we wait for it.
        let stderr = PipeDrain(err.fileHandleForReading)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus,
                      stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr.wait(), as: UTF8.self))
    }
}

/// Reads a pipe to its end on a thread of its own.
final class PipeDrain: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    /// Everything read, once the writer has closed the pipe.
    func wait() -> Data {
        done.wait()
        return data
    }
}

@Suite("jz-node CLI", .onBlockingPool, .serialized)
struct CLITests {
    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: CLI.binary.path), "build jz-node first: \(CLI.binary.path)")
    }

    @Test func cidFormatConvertsV0ToBase32() throws {
        let r = try CLI.run(["cid", "format", "-v", "1", "-b", "base32", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"])
        #expect(r.status == 0)
        #expect(r.stdout == "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y\n")
        let back = try CLI.run(["cid", "format", "-v", "0", "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y"])
        #expect(back.stdout == "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH\n")
        let base32 = try CLI.run(["cid", "base32", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"])
        #expect(base32.stdout == "bafybeif7ztnhq65lumvvtr4ekcwd2ifwgm3awq4zfr3srh462rwyinlb4y\n")
        let prefix = try CLI.run(["cid", "format", "-f", "%P", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"])
        #expect(prefix.stdout == "cidv0-dag-pb-sha2-256-32\n")
    }

    @Test func cidErrorsGoToStderrWithAFailingStatus() throws {
        let r = try CLI.run(["cid", "format", "-b", "base32", "QmNotACid"])
        #expect(r.status != 0)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("QmNotACid: "))
        let v0 = try CLI.run(["cid", "format", "-v", "0", "bafkqaaa"])  // identity raw CID: no v0 form
        #expect(v0.status != 0)
        let badBase = try CLI.run(["cid", "format", "-b", "base99", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"])
        #expect(badBase.status != 0)
        #expect(badBase.stderr.contains("base99"))
    }

    @Test func initThenIdPrintsAPeerIDMatchingItsPublicKey() throws {
        let home = try temporaryDirectory() + "/home"
        let initOut = try CLI.run(["init"], home: home)
        #expect(initOut.status == 0, "\(initOut.stderr)")
        #expect(initOut.stdout.contains("peer identity: 12D3KooW"))

        let id = try CLI.run(["id", "--json"], home: home)
        #expect(id.status == 0, "\(id.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(id.stdout.utf8)) as? [String: Any])
        let peer = try #require(object["ID"] as? String)
        #expect(peer.hasPrefix("12D3KooW"))
        let keyText = try #require(object["PublicKey"] as? String)
        let keyBytes = try #require(Data(base64Encoded: keyText))
        let key = try PublicKey(protobuf: Array(keyBytes))
        #expect(key.type == .ed25519)
        #expect(PeerID(publicKey: key).description == peer)
        #expect(try PeerID(peer).matches(key))
        #expect(object["AgentVersion"] as? String == "jz-node/0.1.0/")

        // Kubo prints `ipfs id` with ID first.
        #expect(id.stdout.hasPrefix("{\n\t\"ID\": "))
        let format = try CLI.run(["id", "-f", "<id>"], home: home)
        #expect(format.stdout == peer)

        let again = try CLI.run(["init"], home: home)
        #expect(again.status != 0)
        #expect(again.stderr.contains("already exists"))
    }

    @Test func configAndBootstrapEditing() throws {
        let home = try temporaryDirectory() + "/home"
        #expect(try CLI.run(["init", "--empty-bootstrap"], home: home).status == 0)
        #expect(try CLI.run(["bootstrap", "list"], home: home).stdout.isEmpty)

        let peer = "/ip4/127.0.0.1/tcp/4001/ipfs/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ"
        let added = try CLI.run(["bootstrap", "add", peer], home: home)
        #expect(added.stdout == "added /ip4/127.0.0.1/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ\n")
        let listed = try CLI.run(["bootstrap", "list", "--json"], home: home)
        #expect(listed.stdout.contains("QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ"))
        let bad = try CLI.run(["bootstrap", "add", "/ip4/127.0.0.1/tcp/4001"], home: home)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("/p2p/"))
        #expect(try CLI.run(["bootstrap", "rm", peer], home: home).stdout.hasPrefix("removed "))
        #expect(try CLI.run(["bootstrap", "list"], home: home).stdout.isEmpty)

        #expect(try CLI.run(["config", "Addresses.API", "/ip4/127.0.0.1/tcp/5999"], home: home).status == 0)
        #expect(try CLI.run(["config", "Addresses.API"], home: home).stdout == "/ip4/127.0.0.1/tcp/5999\n")
        #expect(try CLI.run(["config", "--json", "Swarm.ConnMgr.HighWater", "200"], home: home).status == 0)
        #expect(try CLI.run(["config", "Swarm.ConnMgr.HighWater"], home: home).stdout == "200\n")
        #expect(try CLI.run(["config", "--bool", "Discovery.MDNS.Enabled", "true"], home: home).status == 0)
        #expect(try CLI.run(["config", "Discovery.MDNS.Enabled"], home: home).stdout == "true\n")
        #expect(try CLI.run(["config", "--json", "Bootstrap", "[1,"], home: home).status != 0)

        let secret = try CLI.run(["config", "Identity.PrivKey"], home: home)
        #expect(secret.status != 0)
        #expect(try CLI.run(["config", "Identity", "{}"], home: home).status != 0)
        let show = try CLI.run(["config", "show"], home: home)
        #expect(show.status == 0)
        #expect(!show.stdout.contains("PrivKey"))
        #expect(show.stdout.contains("PeerID"))
        // The identity still loads after all the edits.
        #expect(try CLI.run(["id"], home: home).status == 0)
    }

    @Test func commandsWithoutAHomeSayWhatToDo() throws {
        let r = try CLI.run(["id"], home: try temporaryDirectory() + "/missing")
        #expect(r.status != 0)
        #expect(r.stderr.contains("jz-node init"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func fetchInputErrorsAreOneLine() throws {
        let home = try temporaryDirectory() + "/fetch"
        #expect(try CLI.run(["init", "--empty-bootstrap"], home: home).status == 0)
        let cases: [([String], String)] = [
            (["fetch", "not-a-cid"], "not-a-cid"),
            (["fetch", "bafkreie7q3iidccmpvszul7kudcvvuavuo7u6gzlbobczuk5nqk3b4akba", "--peer", "/ip4/127.0.0.1/tcp/1"],
             "must end in /p2p/"),
            (["fetch", "bafkreie7q3iidccmpvszul7kudcvvuavuo7u6gzlbobczuk5nqk3b4akba", "--timeout", "soon"], "not a duration"),
            // No --peer and an empty bootstrap list: nothing to ask, said at once.
            (["fetch", "bafkreie7q3iidccmpvszul7kudcvvuavuo7u6gzlbobczuk5nqk3b4akba"], "no peer to fetch from"),
        ]
        for (arguments, expected) in cases {
            let r = try CLI.run(arguments, home: home)
            #expect(r.status != 0, "\(arguments)")
            #expect(r.stderr.contains(expected), "\(arguments): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(arguments): \(r.stderr)")
        }
        // Commands that need the daemon say so.
        let stat = try CLI.run(["bitswap", "stat"], home: home)
        #expect(stat.status != 0)
        #expect(stat.stderr.contains("daemon"))
    }

    @Test func versionAndHelp() throws {
        #expect(try CLI.run(["version", "--number"]).stdout == "0.1.0\n")
        #expect(try CLI.run(["version", "--json"]).stdout.contains("\"Version\": \"0.1.0\""))
        let help = try CLI.run(["--help"])
        for command in ["init", "id", "version", "config", "bootstrap", "cid"] {
            #expect(help.stdout.contains(command))
        }
    }
}
