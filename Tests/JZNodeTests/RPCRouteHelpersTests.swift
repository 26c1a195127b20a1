import BlockStore
import Foundation
import IPLD
import Multiformats
import Testing
@testable import JZNode
import TestSupport

/// The pieces the daemon's new RPC commands share with the offline CLI: `config show`'s
/// redaction, bootstrap edits, config replacement, and `dag/export`'s CAR stream.
@Suite("RPC route helpers", .onBlockingPool)
struct RPCRouteHelpersTests {
    @Test("config show hides Identity.PrivKey and every AuthSecret, and keeps the rest")
    func redaction() throws {
        var config = NodeConfig(root: ["Identity": ["PeerID": "12D3", "PrivKey": "c2VjcmV0"]])
        try config.set(["cli": ["AuthSecret": "bearer:token", "AllowedPaths": ["/api/v0"]],
                        "id-only": ["AuthSecret": "basic:u:p", "AllowedPaths": ["/api/v0/id"]]],
                       at: "API.Authorizations")
        let shown = config.redacted
        let text = shown.serialized(indent: nil)
        #expect(!text.contains("c2VjcmV0") && !text.contains("token") && !text.contains("basic:"))
        #expect(NodeConfig(root: shown).value(at: "Identity.PeerID")?.stringValue == "12D3")
        #expect(NodeConfig(root: shown).value(at: "API.Authorizations.cli.AllowedPaths") == ["/api/v0"])
        #expect(NodeConfig(root: shown).value(at: "API.Authorizations.id-only.AuthSecret") == nil)
        // The config itself keeps the secret (the daemon reads it from there).
        #expect(config.value(at: "API.Authorizations.cli.AuthSecret")?.stringValue == "bearer:token")
    }

    @Test("bootstrap add reports only new peers; rm matches /ipfs/ and /p2p/ spellings; rm --all empties")
    func bootstrapEdits() throws {
        let home = NodeHome(path: try temporaryDirectory())
        _ = try home.initialize(bootstrap: [])
        let peer = "/ip4/10.9.8.7/tcp/4001/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"
        #expect(try home.addBootstrapPeers([peer], defaults: false) == [peer])
        #expect(try home.addBootstrapPeers([peer], defaults: false) == [])
        #expect(throws: NodeError.self) { try home.addBootstrapPeers(["/ip4/1.2.3.4/tcp/1"], defaults: false) }
        let ipfsSpelling = peer.replacingOccurrences(of: "/p2p/", with: "/ipfs/")
        #expect(try home.removeBootstrapPeers([ipfsSpelling], all: false) == [peer])
        #expect(try home.loadConfig().bootstrap == [])
        let defaults = try home.addBootstrapPeers([], defaults: true)
        #expect(defaults == BootstrapList.defaultPeers)
        #expect(try home.removeBootstrapPeers([], all: true) == defaults)
        #expect(try home.loadConfig().bootstrap == [])
    }

    @Test("config replace keeps the private key and refuses one in the file or a foreign PeerID")
    func replaceConfig() throws {
        let home = NodeHome(path: try temporaryDirectory())
        let original = try home.initialize(bootstrap: [])
        var replacement = NodeConfig(root: original.redacted)
        try replacement.set("42GB", at: "Datastore.StorageMax")
        try home.replaceConfig(with: Data(replacement.root.serialized(indent: nil).utf8), source: "new.json")
        let now = try home.loadConfig()
        #expect(now.value(at: "Datastore.StorageMax")?.stringValue == "42GB")
        #expect(now.value(at: "Identity.PrivKey") == original.value(at: "Identity.PrivKey"))
        #expect(throws: NodeError.protectedKey("Identity.PrivKey")) {
            try home.replaceConfig(with: Data(original.root.serialized(indent: nil).utf8), source: "with-key.json")
        }
        try replacement.set("12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq", at: "Identity.PeerID")
        #expect(throws: NodeError.self) {
            try home.replaceConfig(with: Data(replacement.root.serialized(indent: nil).utf8), source: "foreign.json")
        }
        // An authorization without its secret (as `config show` prints it) keeps the current one.
        var withAuth = try home.loadConfig()
        try withAuth.set(["cli": ["AuthSecret": "bearer:kept", "AllowedPaths": ["/api/v0"]]], at: "API.Authorizations")
        try home.save(withAuth)
        var edited = NodeConfig(root: withAuth.redacted)
        try edited.set(["/api/v0/id"], at: "API.Authorizations.cli.AllowedPaths")
        try home.replaceConfig(with: Data(edited.root.serialized(indent: nil).utf8), source: "edited.json")
        #expect(try home.loadConfig().value(at: "API.Authorizations.cli.AuthSecret")?.stringValue == "bearer:kept")
        #expect(try home.loadConfig().value(at: "API.Authorizations.cli.AllowedPaths") == ["/api/v0/id"])
        #expect(throws: NodeError.unreadableConfig(path: "bad.json", reason: "not valid JSON")) {
            try home.replaceConfig(with: Data("{".utf8), source: "bad.json")
        }
    }

    @Test("dag/export's CAR stream is byte-equal to the CAR writer's, in chunks")
    func carExportStream() throws {
        let store = MemoryBlockStore()
        var leaves: [IPLDValue] = []
        for i in 0..<300 {
            let leaf = try Block(data: [UInt8](repeating: UInt8(i % 251), count: 4000 + i), codec: .raw)
            try store.put(leaf)
            leaves.append(.link(leaf.cid))
        }
        let rootData = try IPLDCodecs.encode(.list(leaves), codec: .dagCBOR)
        let root = try Block(data: Array(rootData), codec: .dagCBOR)
        try store.put(root)
        var expected: [UInt8] = []
        var writer = CarWriter(roots: [root.cid]) { expected += $0 }
        try DAGExport.write(root: root.cid, source: store, to: &writer)
        try writer.finish()
        let stream = CarExportStream(root: root.cid, source: store)
        var streamed: [UInt8] = []
        var chunks = 0
        while let chunk = try stream.next() {
            streamed += chunk
            chunks += 1
        }
        #expect(streamed == expected)
        #expect(chunks > 1)
        var reader = try CarReader(bytes: streamed)
        #expect(reader.roots == [root.cid])
        var count = 0
        while try reader.next() != nil { count += 1 }
        #expect(count == 301)
    }
}
