import Foundation
import KadDHT
import Multiformats
import P2PCrypto
import Testing

@testable import JZNode
import TestSupport

@Suite("Routing settings, modes and keys", .onBlockingPool)
struct RoutingSettingsTests {
    func config(_ edits: [String: JSONValue]) throws -> NodeConfig {
        var config = NodeConfig.makeDefault(peerID: "x", privateKeyBase64: "y", bootstrap: [])
        for (key, value) in edits { try config.set(value, at: key) }
        return config
    }

    @Test func routingAndReproviderDefaults() throws {
        let s = try NetworkSettings(config: config([:]))
        #expect(s.routing == .auto)
        #expect(s.reprovideStrategy == .all)
        #expect(s.reprovideInterval == 22 * 3600)
    }

    @Test func routingAndReproviderValues() throws {
        let s = try NetworkSettings(config: config([
            "Routing.Type": "dhtserver", "Reprovider.Strategy": "roots", "Reprovider.Interval": "12h",
        ]))
        #expect(s.routing == .dhtserver)
        #expect(s.reprovideStrategy == .roots)
        #expect(s.reprovideInterval == 12 * 3600)
        // Kubo's "dht" is the automatic dual DHT; "0" turns reproviding off.
        let kubo = try NetworkSettings(config: config(["Routing.Type": "dht", "Reprovider.Interval": "0"]))
        #expect(kubo.routing == .auto)
        #expect(kubo.reprovideInterval == 0)
        #expect(try NetworkSettings(config: config(["Routing.Type": "none"])).routing == NetworkSettings.RoutingMode.none)
    }

    @Test func badValuesNameTheKey() throws {
        #expect(throws: NodeError.invalidConfigValue(key: "Routing.Type", reason: "delegated is not one of auto, dhtclient, dhtserver, none")) {
            try NetworkSettings(config: config(["Routing.Type": "delegated"]))
        }
        #expect(throws: NodeError.self) { try NetworkSettings(config: config(["Reprovider.Strategy": "everything"])) }
        #expect(throws: NodeError.self) { try NetworkSettings(config: config(["Reprovider.Interval": "daily"])) }
    }

    @Test func autoModeServesWhereTheNodeCanBeReached() throws {
        let loopback = try Multiaddr("/ip4/127.0.0.1/tcp/4101")
        let lan = try Multiaddr("/ip4/192.168.1.5/tcp/4101")
        let publicAddress = try Multiaddr("/ip4/203.0.113.7/tcp/4101")
        let wildcard = try Multiaddr("/ip4/0.0.0.0/tcp/4101")
        #expect(NodeServices.modes(.auto, listenAddresses: []) == (.client, .client))
        #expect(NodeServices.modes(.auto, listenAddresses: [wildcard]) == (.client, .client))
        #expect(NodeServices.modes(.auto, listenAddresses: [loopback]) == (.server, .client))
        #expect(NodeServices.modes(.auto, listenAddresses: [loopback, lan]) == (.server, .client))
        #expect(NodeServices.modes(.auto, listenAddresses: [lan, publicAddress]) == (.server, .server))
        #expect(NodeServices.modes(.dhtserver, listenAddresses: []) == (.server, .server))
        #expect(NodeServices.modes(.dhtclient, listenAddresses: [publicAddress]) == (.client, .client))
    }

    @Test func routingKeysAsUsersTypeThem() throws {
        let peer = PrivateKey.generateEd25519().publicKey.peerID
        #expect(try RoutingKey.parse("/pk/\(peer)") == Array("/pk/".utf8) + peer.bytes)
        #expect(try RoutingKey.parse("/ipns/\(peer)") == Array("/ipns/".utf8) + peer.bytes)
        // The name as a libp2p-key CID (k51…) is the same key.
        let cid = try CID(version: .v1, codec: .libp2pKey, multihash: peer.multihash)
        #expect(try RoutingKey.parse("/ipns/\(cid.string(base: .base36))") == Array("/ipns/".utf8) + peer.bytes)
        #expect(try RoutingKey.parse("/other/thing") == Array("/other/thing".utf8))
        for bad in ["", "pk", "/pk/", "//x", "/pk/not-a-peer"] {
            #expect(throws: NodeError.self, "\(bad)") { try RoutingKey.parse(bad) }
        }
    }
}
