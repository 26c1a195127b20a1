import Foundation
import Testing
@testable import JZNode
import P2PCrypto
import TestSupport

/// A fresh temporary folder per test.
func temporaryDirectory() throws -> String {
    let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("jz-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("NodeHome", .onBlockingPool)
struct NodeHomeTests {
    @Test func resolutionOrder() {
        let env = ["JZ_PATH": "/tmp/from-env", "HOME": "/home/u"]
        #expect(NodeHome.resolve(explicit: "/tmp/explicit", environment: env).path == "/tmp/explicit")
        #expect(NodeHome.resolve(explicit: nil, environment: env).path == "/tmp/from-env")
        #expect(NodeHome.resolve(explicit: nil, environment: ["HOME": "/home/u"]).path == "/home/u/.jz")
        #expect(NodeHome.resolve(explicit: "", environment: ["HOME": "/home/u", "JZ_PATH": ""]).path == "/home/u/.jz")
    }

    @Test func initialiseThenLoadIdentity() throws {
        let home = NodeHome(path: try temporaryDirectory() + "/node")
        #expect(!home.isInitialized)
        #expect(throws: NodeError.notInitialized(path: home.path)) { try home.loadConfig() }
        let config = try home.initialize()
        #expect(home.isInitialized)
        let (loaded, identity) = try home.loadIdentity()
        #expect(loaded == config)
        #expect(identity.peerID.description.hasPrefix("12D3KooW"))
        #expect(loaded.peerID == identity.peerID.description)
        #expect(identity.privateKey.type == .ed25519)
        // The public key printed by `id` is the key protobuf of the same key.
        let pub = try PublicKey(protobuf: Array(try #require(Data(base64Encoded: identity.publicKeyBase64))))
        #expect(PeerID(publicKey: pub) == identity.peerID)
        #expect(loaded.bootstrap == BootstrapList.defaultPeers)
        #expect(loaded.apiAddress == NodeConfig.defaultAPIAddress)
        #expect(loaded.swarmAddresses.count == 2)
        // The config holds the private key: owner-only permissions.
        let attrs = try FileManager.default.attributesOfItem(atPath: home.configPath)
        #expect((attrs[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }

    @Test func refusesToReinitialise() throws {
        let home = NodeHome(path: try temporaryDirectory())
        let first = try home.initialize()
        #expect(throws: NodeError.alreadyInitialized(path: home.path)) { try home.initialize() }
        #expect(try home.loadConfig() == first)
    }

    @Test func detectsAPeerIDThatDoesNotMatchTheKey() throws {
        let home = NodeHome(path: try temporaryDirectory())
        var config = try home.initialize()
        let other = PeerID(publicKey: PrivateKey.generateEd25519().publicKey).description
        try config.set(.string(other), at: "Identity.PeerID")
        try home.save(config)
        #expect(throws: NodeError.self) { try home.loadIdentity() }
        do {
            _ = try home.loadIdentity()
        } catch let NodeError.identityMismatch(configured, _) {
            #expect(configured == other)
        }
    }

    @Test func rejectsCorruptConfigs() throws {
        let home = NodeHome(path: try temporaryDirectory())
        try home.initialize()
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: home.configPath))
        #expect(throws: NodeError.self) { try home.loadConfig() }
        try Data("[1, 2]".utf8).write(to: URL(fileURLWithPath: home.configPath))
        #expect(throws: NodeError.self) { try home.loadConfig() }
        try Data(#"{"Identity": {"PeerID": "12D3KooW", "PrivKey": "%%%"}}"#.utf8).write(to: URL(fileURLWithPath: home.configPath))
        #expect(throws: NodeError.invalidConfigValue(key: "Identity.PrivKey", reason: "not base64")) {
            try home.loadIdentity()
        }
    }

    @Test func saveLeavesNoTemporaryFiles() throws {
        let dir = try temporaryDirectory()
        let home = NodeHome(path: dir)
        var config = try home.initialize()
        try config.set(.int(7), at: "Swarm.ConnMgr.LowWater")
        try home.save(config)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(files.filter { $0.hasPrefix("config") } == ["config"])
        #expect(files.contains("store.sqlite"))
        #expect(try home.loadConfig().value(at: "Swarm.ConnMgr.LowWater") == .int(7))
    }

    @Test func rsaIdentity() throws {
        let home = NodeHome(path: try temporaryDirectory())
        let config = try home.initialize(key: try PrivateKey.generate(.rsa, rsaBits: 2048))
        let (_, identity) = try home.loadIdentity()
        #expect(config.peerID?.hasPrefix("Qm") == true)
        #expect(identity.privateKey.type == .rsa)
    }
}

@Suite("NodeConfig", .onBlockingPool)
struct NodeConfigTests {
    @Test func dottedKeys() throws {
        var config = NodeConfig(root: ["A": ["B": 1]])
        #expect(config.value(at: "A.B") == .int(1))
        #expect(config.value(at: "A.C") == nil)
        try config.set(.string("x"), at: "A.C.D")
        #expect(config.value(at: "A.C.D") == .string("x"))
        #expect(config.value(at: "A.B") == .int(1))
        #expect(throws: NodeError.self) { try config.set(.null, at: "A.B.C") }  // A.B is a number
        #expect(throws: NodeError.self) { try config.set(.null, at: "A..B") }
        #expect(throws: NodeError.self) { try config.set(.null, at: "") }
    }

    @Test func unknownKeysSurviveEdits() throws {
        let text = #"{"Custom": {"Nested": [1, 2.5, true, null, "s"]}, "Bootstrap": []}"#
        var config = NodeConfig(root: try JSONValue.parse(text))
        config.bootstrap = ["/ip4/1.2.3.4/tcp/1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ"]
        let reparsed = try JSONValue.parse(config.root.serialized())
        #expect(reparsed["Custom"] == ["Nested": [1, .double(2.5), true, nil, "s"]])
        #expect(NodeConfig(root: reparsed).bootstrap.count == 1)
    }

    @Test func redactionRemovesOnlyThePrivateKey() {
        let config = NodeConfig.makeDefault(peerID: "12D3KooWX", privateKeyBase64: "c2VjcmV0", bootstrap: [])
        let shown = config.redacted.serialized()
        #expect(!shown.contains("c2VjcmV0"))
        #expect(shown.contains("12D3KooWX"))
        #expect(config.privateKeyBase64 == "c2VjcmV0")
    }

    @Test func jsonSerialisationIsExact() throws {
        let value: JSONValue = ["b": [1, "two\n\"q\""], "a": .int(Int64.max), "c": .double(0.5), "d": [:], "e": []]
        #expect(value.serialized(indent: nil) == #"{"a":9223372036854775807,"b":[1,"two\n\"q\""],"c":0.5,"d":{},"e":[]}"#)
        #expect(value.serialized(indent: nil, keyOrder: ["e", "a"]).hasPrefix(#"{"e":[],"a":"#))
        #expect(try JSONValue.parse(value.serialized()) == value)
        // No infinities or NaN in JSON: null instead (a never-refreshed bucket's time is -inf).
        let odd: JSONValue = [.double(-.infinity), .double(.infinity), .double(.nan)]
        #expect(odd.serialized(indent: nil) == "[null,null,null]")
    }
}

@Suite("BootstrapList", .onBlockingPool)
struct BootstrapListTests {
    /// The binary embeds bootstrap.peers; this catches an edit not followed by scripts/gen-bootstrap.sh.
    @Test func embeddedListMatchesTheFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: root.appendingPathComponent("bootstrap.peers"), encoding: .utf8)
        #expect(file == BootstrapList.embeddedFileText + "\n" || file == BootstrapList.embeddedFileText)
        #expect(try BootstrapList.parse(file) == BootstrapList.defaultPeers)
        #expect(BootstrapList.defaultPeers.count >= 5)
    }

    @Test func parsesCommentsAndBlankLines() throws {
        let text = """
            # comment

            /ip4/127.0.0.1/tcp/4001/ipfs/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ   # trailing
            """
        #expect(try BootstrapList.parse(text) == ["/ip4/127.0.0.1/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ"])
    }

    @Test func rejectsAddressesWithoutAPeer() {
        #expect(throws: NodeError.self) { try BootstrapList.validate("/ip4/127.0.0.1/tcp/4001") }
        #expect(throws: NodeError.self) { try BootstrapList.validate("/ip4/999.0.0.1/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ") }
        #expect(throws: NodeError.self) { try BootstrapList.parse("not-a-multiaddr") }
    }
}
