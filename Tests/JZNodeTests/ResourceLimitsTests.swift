import Foundation
import P2PCore
import P2PCrypto
import Testing

@testable import JZNode
import TestSupport

@Suite("Swarm.ResourceMgr settings and the swarm/resources answer", .onBlockingPool)
struct ResourceLimitsTests {
    func config(_ edits: [String: JSONValue]) throws -> NodeConfig {
        var config = NodeConfig.makeDefault(peerID: "x", privateKeyBase64: "y", bootstrap: [])
        for (key, value) in edits { try config.set(value, at: key) }
        return config
    }

    @Test func defaultsAndValues() throws {
        let defaults = try NetworkSettings(config: config([:])).resources
        #expect(defaults == NetworkSettings.ResourceLimits())
        #expect(defaults.maxPendingBytesPerPeer == 32 << 20 && defaults.maxPendingBytes == 128 << 20)
        #expect(defaults.maxWantlistEntriesPerPeer == 4096 && defaults.maxDHTRecordsPerPeer == 1_000)
        let s = try NetworkSettings(config: config([
            "Swarm.ResourceMgr.MaxPendingBytesPerPeer": .int(1 << 20), "Swarm.ResourceMgr.MaxPendingBytes": .int(0),
            "Swarm.ResourceMgr.MaxDHTRecordsPerPeer": .int(5), "Swarm.ResourceMgr.MaxProvidersPerKey": .int(7),
            "Swarm.ResourceMgr.MaxWantlistEntriesPerPeer": .int(64), "Swarm.ResourceMgr.MaxStreams": .int(100),
        ])).resources
        #expect(s.maxPendingBytesPerPeer == 1 << 20 && s.maxPendingBytes == 0)
        #expect(s.maxDHTRecordsPerPeer == 5 && s.maxProvidersPerKey == 7)
        #expect(s.maxWantlistEntriesPerPeer == 64 && s.maxStreams == 100)
        let identity = NodeIdentity(privateKey: PrivateKey.generateEd25519())
        let host = NodeServices.hostConfig(
            try NetworkSettings(config: config(["Swarm.ResourceMgr.MaxPendingBytesPerPeer": .int(1 << 20)])),
            identity: identity, logger: .init(label: "test"))
        #expect(host.limits.maxPendingInboundBytesPerPeer == 1 << 20)
        #expect(host.limits.maxStreams == 8192)
    }

    @Test func badValuesNameTheKey() throws {
        for (key, value) in [("Swarm.ResourceMgr.MaxDHTRecords", JSONValue.int(0)), ("Swarm.ResourceMgr.MaxPendingBytes", .int(-1)),
                             ("Swarm.ResourceMgr.MaxWantlistEntriesPerPeer", .string("many"))] {
            #expect(throws: NodeError.self) { _ = try NetworkSettings(config: config([key: value])) }
            do { _ = try NetworkSettings(config: config([key: value])) } catch {
                #expect("\(error)".contains(key))
            }
        }
    }

    @Test func peersWithRefusalsComeFirstThenTheFullest() {
        let peers = (0..<3).map { _ in PrivateKey.generateEd25519().publicKey.peerID }
        var report = ResourceReport()
        report.system["StreamsInbound"] = ResourceUse(used: 3, limit: 10, refused: 1)
        report.protocols["/ipfs/ping/1.0.0"] = ["StreamsInbound": ResourceUse(used: 1, limit: 5)]
        report.peers[peers[0]] = ["StreamsInbound": ResourceUse(used: 1, limit: 10)]
        report.peers[peers[1]] = ["StreamsInbound": ResourceUse(used: 9, limit: 10)]
        report.peers[peers[2]] = ["PendingInboundBytes": ResourceUse(used: 0, limit: 100, refused: 4)]
        let json = APIRoutes.resourcesJSON(report, topPeers: 2)
        #expect(json["System"]?["StreamsInbound"]?["Refused"]?.intValue == 1)
        #expect(json["Protocols"]?["/ipfs/ping/1.0.0"]?["StreamsInbound"]?["Limit"]?.intValue == 5)
        let listed = json["Peers"]?.arrayValue?.compactMap { $0["Peer"]?.stringValue }
        #expect(listed == [peers[2].description, peers[1].description])
        #expect(json["PeersOmitted"]?.intValue == 1)
        #expect(APIRoutes.resourcesJSON(report, topPeers: 0)["Peers"]?.arrayValue?.count == 3)
    }
}
