import Foundation
import Testing

@testable import JZNode
import TestSupport

/// `name publish --allow-offline`, `name resolve`, `name inspect` and `/ipns/` paths in `cat`, `ls`
/// and `get`, all with no daemon (the local record answers).
@Suite(.onBlockingPool) struct NameCLITests {
    @Test func offlineNameThroughTheCLI() throws {
        let dir = try temporaryDirectory()
        let home = dir + "/home"
        #expect(try CLI.run(["init", "--empty-bootstrap"], home: home).status == 0)
        try FileManager.default.createDirectory(atPath: dir + "/site", withIntermediateDirectories: true)
        try Data("hello ipns".utf8).write(to: URL(fileURLWithPath: dir + "/site/index.txt"))
        let root = try CLI.run(["add", "-r", "-Q", dir + "/site"], home: home).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)

        // Without a daemon and without the flag: refused, saying what to do.
        let refused = try CLI.run(["name", "publish", root], home: home)
        #expect(refused.status != 0 && refused.stderr.contains("--allow-offline") && refused.stderr.contains("daemon"))

        let published = try CLI.run(["name", "publish", "--allow-offline", "--json", root], home: home)
        #expect(published.status == 0, "\(published.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(published.stdout.utf8)) as? [String: Any])
        let name = try #require(json["Name"] as? String)
        #expect(json["Value"] as? String == "/ipfs/\(root)" && json["Sequence"] as? Int == 0)

        #expect(try CLI.run(["name", "resolve", name], home: home).stdout == "/ipfs/\(root)\n")
        #expect(try CLI.run(["name", "resolve", "/ipns/\(name)/index.txt"], home: home).stdout == "/ipfs/\(root)/index.txt\n")
        #expect(try CLI.run(["cat", "/ipns/\(name)/index.txt"], home: home).stdout == "hello ipns")
        #expect(try CLI.run(["ls", "/ipns/\(name)"], home: home).stdout.hasSuffix(" index.txt\n"))
        let out = dir + "/copy.txt"
        #expect(try CLI.run(["get", "-q", "-o", out, "/ipns/\(name)/index.txt"], home: home).status == 0)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "hello ipns")

        // The stored record, inspected from standard input and from a file.
        let record = dir + "/record.bin"
        let stored = try #require(try SQLiteProviderBackend(path: home + "/dht.sqlite").publishedNames().first)
        try Data(stored.record.bytes).write(to: URL(fileURLWithPath: record))
        let inspected = try CLI.run(["name", "inspect", "--verify", name, "--no-dump", record], home: home)
        #expect(inspected.stdout.hasPrefix("Value:          \"/ipfs/\(root)\"\nValidity Type:  0\n"))
        #expect(inspected.stdout.contains("Sequence:       0\nTTL:            5m0s\n"))
        #expect(inspected.stdout.contains(" Valid: true\n"))
        let asJSON = try CLI.run(["name", "inspect", "--json", record], home: home)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(asJSON.stdout.utf8)) as? [String: Any])
        #expect(object["SignatureType"] as? String == "V1+V2")
        #expect((object["Entry"] as? [String: Any])?["TTL"] as? Int == 300_000_000_000)
        #expect((object["HexDump"] as? String)?.hasPrefix("00000000  ") == true)
        let missing = try CLI.run(["name", "inspect", dir + "/nope.bin"], home: home)
        #expect(missing.status != 0 && missing.stderr.contains("nope.bin"))
    }
}
