import Foundation
import Logging
import Multiformats
import Testing
import Versioning

@testable import JZNode
import TestSupport

/// The versioning commands run in-process on a temporary home (the CLI's offline path; the
/// daemon runs the same handlers), their error statuses, and the OpenAPI document against the
/// commands served.
@Suite("Versioning commands (RPC handlers)", .onBlockingPool, .serialized)
struct VersioningCommandsTests {
    let node: LocalNode
    let dir: String

    init() throws {
        dir = try temporaryDirectory()
        let home = NodeHome(path: dir + "/node")
        try home.initialize(bootstrap: [])
        node = try LocalNode(home: home, logger: Logger(label: "versioning-commands-test"))
    }

    /// Runs `command` with `args` and options as the router would.
    func call(_ command: String, _ args: [String] = [], _ options: [(String, String)] = [], body: [UInt8] = [], contentType: String? = nil)
        throws(APIError) -> JSONValue
    {
        // A multipart body is written to an upload folder first, as the server does.
        var upload: UploadedFolder?
        if let contentType {
            do { upload = try UploadWriter.materialize(body: body, contentType: contentType, layout: .tree) } catch {
                throw APIError.remote(status: error.status, message: "\(error)")
            }
        }
        defer { upload?.remove() }
        return try VersioningCommands.run(
            node, APIRequest(command: command, parameters: args.map { ("arg", $0) } + options, contentType: contentType, upload: upload))
    }

    /// The status and message of a failing call.
    func failure(_ command: String, _ args: [String] = [], _ options: [(String, String)] = []) -> (Int, String)? {
        do {
            _ = try call(command, args, options)
            return nil
        } catch {
            guard case let .remote(status, message) = error else { return nil }
            return (status, message)
        }
    }

    func write(_ path: String, _ text: String) throws {
        let full = dir + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
    }

    @Test("create, commit by path, log, show, branch, diff, merge, tag, lineage, checkout, delete")
    func workflow() throws {
        #expect(try call("repo/create", ["data"]) == ["Name": "data", "DefaultBranch": "main"])
        #expect(try call("repo/ls") == [["Name": "data", "DefaultBranch": "main"]])
        try write("ds/raw/a.csv", "id\n1\n")
        try write("ds/meta.txt", "v1\n")
        let first = try call("commit", ["data"], [("path", dir + "/ds"), ("message", "first"), ("param", "k=v"), ("code", "prep.py")])
        let c1 = try #require(first["Cid"]?.stringValue)
        #expect(first["Message"] == "first")
        #expect(first["Lineage"]?["Parameters"] == ["k": "v"])
        #expect(first["Lineage"]?["Code"] == "prep.py")
        #expect(first["Signature"] == nil)

        let branch = try call("branch/create", ["data", "dev"])
        #expect(branch["Target"]?.stringValue == c1)
        try write("ds/raw/b.csv", "id\n2\n")
        let second = try call("commit", ["data@dev"], [("path", dir + "/ds"), ("message", "second"), ("input", c1)])
        let c2 = try #require(second["Cid"]?.stringValue)
        #expect(second["Parents"] == [.string(c1)])
        #expect(second["Lineage"]?["Inputs"] == [.string(c1)])

        let log = try #require(try call("log", ["data@dev"]).arrayValue)
        #expect(log.map { $0["Cid"]?.stringValue } == [c2, c1])
        #expect(try call("log", ["data@dev"], [("n", "1")]).arrayValue?.count == 1)
        let signed = try #require(try call("log", ["data@dev"], [("show-signature", "true")]).arrayValue)
        #expect(signed.first?["Signature"]?["Reason"] == "unsigned")

        let show = try call("show", ["data@dev"])
        let change = try #require(show["Changes"]?.arrayValue?.first)
        #expect(show["Changes"]?.arrayValue?.count == 1)
        #expect(change["Path"] == "raw/b.csv" && change["Kind"] == "added" && change["Old"] == .null && change["NewSize"] == 5)
        #expect(show["Signature"]?["Reason"] == "unsigned")
        let diff = try call("diff", ["data@main", "data@dev"])
        #expect(diff["Changes"]?.arrayValue?.map { $0["Path"] } == ["raw/b.csv"])
        try write("ds/meta.txt", "v2\n")
        let folderDiff = try call("diff", ["data@dev"], [("folder", dir + "/ds")])
        #expect(folderDiff["Changes"]?.arrayValue?.map { $0["Path"] } == ["meta.txt"])

        #expect(try call("branch/ls", ["data"]) == ["main": .string(c1), "dev": .string(c2)])
        let merge = try call("merge", ["data", "dev"])
        #expect(merge["Result"] == "fast-forward")
        #expect(merge["Head"]?.stringValue == c2)
        #expect(try call("tag/create", ["data", "v1"], [("at", "main~1")])["Target"]?.stringValue == c1)
        #expect(try call("tag/ls", ["data"]) == ["v1": .string(c1)])
        let lineage = try #require(try call("lineage", ["data@dev"]).arrayValue)
        #expect(lineage.map { $0["Cid"]?.stringValue } == [c2, c1])
        #expect(lineage.last?["InputOf"]?.stringValue == c2)

        let checkout = try call("checkout", ["data@v1"], [("path", dir + "/out")])
        #expect(checkout["Previous"] == .null)
        #expect(try String(contentsOfFile: dir + "/out/raw/a.csv", encoding: .utf8) == "id\n1\n")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/raw/b.csv"))
        let update = try call("checkout", ["data@main"], [("path", dir + "/out")])
        #expect(update["Previous"]?.stringValue == checkout["Tree"]?.stringValue)
        #expect(update["Written"] == 1)

        let showRepo = try call("repo/show", ["data"])
        #expect(showRepo["Tags"] == ["v1": .string(c1)])
        #expect(showRepo["Published"] == .null)
        _ = try call("tag/rm", ["data", "v1"])
        _ = try call("branch/rm", ["data", "dev"])
        #expect(try call("branch/ls", ["data"]) == ["main": .string(c2)])
        _ = try call("repo/rm", ["data"])
        #expect(try call("repo/ls") == [])
    }

    @Test("commit takes the folder as a multipart body, as Kubo clients send add")
    func multipartCommit() throws {
        _ = try call("repo/create", ["r"])
        let boundary = "b0undary"
        func part(_ name: String, directory: Bool = false, _ content: String = "") -> String {
            let type = directory ? "application/x-directory" : "application/octet-stream"
            let encoded = name.replacingOccurrences(of: "/", with: "%2F")
            return "--\(boundary)\r\nContent-Type: \(type)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(encoded)\"\r\n\r\n\(content)\r\n"
        }
        let contentType = "multipart/form-data; boundary=\(boundary)"
        // One top-level folder part (how aioipfs sends add("d")): that folder is the tree.
        let folderBody = part("d", directory: true) + part("d/a.txt", "hello") + part("d/sub", directory: true)
            + part("d/sub/b.txt", "deep") + "--\(boundary)--\r\n"
        let byFolder = try call("commit", ["r"], [("message", "multipart")], body: Array(folderBody.utf8), contentType: contentType)
        // The same files committed from disk give the same tree.
        try write("d/a.txt", "hello")
        try write("d/sub/b.txt", "deep")
        _ = try call("repo/create", ["s"])
        let byPath = try call("commit", ["s"], [("path", dir + "/d"), ("message", "path")])
        #expect(byFolder["Tree"] == byPath["Tree"])
        // Entries at the top level: the parts are the folder's contents.
        let entriesBody = part("a.txt", "hello") + part("sub", directory: true) + part("sub/b.txt", "deep") + "--\(boundary)--\r\n"
        let byEntries = try call("commit", ["r"], [("message", "entries"), ("allow-empty", "true")], body: Array(entriesBody.utf8), contentType: contentType)
        #expect(byEntries["Tree"] == byPath["Tree"])
        // No folder at all.
        let none = failure("commit", ["r"], [("message", "x")])
        #expect(none?.0 == 400)
        #expect(none?.1.contains("\"path\"") == true)
    }

    @Test("errors: 400 names the argument or option, 500 for failures (never 404)")
    func errors() throws {
        _ = try call("repo/create", ["r"])
        #expect(failure("repo/create")?.0 == 400)
        #expect(failure("repo/create")?.1 == "argument \"name\" is required")
        #expect(failure("log", ["nope"])?.0 == 500)
        #expect(failure("log", ["r@"])?.0 == 400)
        #expect(failure("log", ["r"], [("n", "x")])?.1.contains("option \"n\"") == true)
        #expect(failure("commit", ["r"], [("path", "relative"), ("message", "m")])?.0 == 400)
        #expect(failure("commit", ["r"], [("path", dir)])?.1 == "option \"message\" is required")
        #expect(failure("commit", ["r"], [("path", dir), ("message", "m"), ("author", "nobody")])?.1.contains("\"author\"") == true)
        #expect(failure("merge", ["r", "main"], [("strategy", "maybe")])?.0 == 400)
        #expect(failure("branch/rm", ["r", "ghost"])?.0 == 500)
        #expect(failure("remote/show", ["r", "ghost"])?.0 == 500)
        #expect(failure("checkout", ["r"])?.1.contains("\"path\"") == true)
        #expect(failure("remote/add", ["r", "origin", "not a name"])?.0 == 400)
    }

    @Test("remotes: add, list, show, follow, remove")
    func remotes() throws {
        _ = try call("repo/create", ["r"])
        try node.home.keystore.generate(name: "other")
        let peer = try node.home.keystore.key(named: "other").peerID.description
        let added = try call("remote/add", ["r", "site-b", peer], [("follow", "true")])
        #expect(added["Address"]?.stringValue?.hasPrefix("/ipns/k51") == true)
        #expect(added["Follow"] == true)
        #expect(try call("remote/ls", ["r"]).arrayValue?.map { $0["Name"] } == ["site-b"])
        #expect(try call("remote/follow", ["r", "site-b"], [("stop", "true")])["Follow"] == false)
        let shown = try call("remote/show", ["r", "site-b"])
        #expect(shown["Follow"] == false)
        #expect(shown["State"] == .null)
        #expect(shown["Refs"] == [])
        _ = try call("remote/rm", ["r", "site-b"])
        #expect(try call("remote/ls", ["r"]) == [])
    }

    /// `docs/openapi/versioning.yaml` describes exactly the versioning commands served (read
    /// line by line: the path keys between `paths:` and `components:`), each with the options
    /// its handler reads.
    @Test("the OpenAPI document describes every versioning command served, and only those")
    func openAPIMatchesRouter() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/openapi/versioning.yaml"), encoding: .utf8)
        var inPaths = false
        var described: [String: Set<String>] = [:]
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            if !line.hasPrefix(" ") && !line.isEmpty && !line.hasPrefix("#") { inPaths = line == "paths:" }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                current = String(line.dropFirst(3).dropLast())
                described[current!] = []
            } else if let current, line.hasPrefix("        - name: ") {
                described[current]?.insert(String(line.dropFirst("        - name: ".count)))
            }
        }
        #expect(Set(described.keys) == Set(VersioningCommands.commands))
        // The router serves every versioning command through the same table.
        #expect(VersioningCommands.commands.count == 22)
        // Options the handlers read are described (spot checks of the long ones).
        #expect(described["commit"]?.isSuperset(of: ["arg", "path", "message", "subpath", "author", "input", "param", "code", "allow-empty", "sign", "sign-key"]) == true)
        #expect(described["merge"]?.isSuperset(of: ["arg", "into", "strategy", "message", "sign", "sign-key"]) == true)
        #expect(described["log"]?.isSuperset(of: ["arg", "n", "show-signature"]) == true)
        #expect(described["checkout"]?.isSuperset(of: ["arg", "path", "force"]) == true)
        #expect(described["diff"]?.isSuperset(of: ["arg", "folder"]) == true)
    }
}
