import Foundation
import Multiformats
import P2PCrypto
import Testing

@testable import KadDHT
import TestSupport

@Suite(.onBlockingPool) struct DHTMessageTests {
    let peer = PrivateKey.generateEd25519().publicKey.peerID

    @Test func roundTripsEveryField() throws {
        let address = try Multiaddr("/ip4/127.0.0.1/tcp/4001")
        let message = DHTMessage(
            kind: .getValue, key: Array("/pk/".utf8) + peer.bytes,
            record: DHTMessage.Record(key: [1, 2], value: [3, 4], timeReceived: "2026-12-04T12:00:00Z"),
            closerPeers: [DHTMessage.Peer(id: peer, addresses: [address], connection: .connected)],
            providerPeers: [DHTMessage.Peer(id: peer, addresses: [])])
        #expect(try DHTMessage(bytes: message.encoded()) == message)
        for kind in DHTMessage.Kind.allCases {
            #expect(try DHTMessage(bytes: DHTMessage(kind: kind).encoded()).kind == kind)
        }
    }

    /// Bytes as go-libp2p-kad-dht writes a FIND_NODE request (type 4, key = a peer ID's bytes):
    /// field 1 varint 4, field 2 length-delimited.
    @Test func readsTheGoWireForm() throws {
        let bytes: [UInt8] = [0x08, 0x04, 0x12, UInt8(peer.bytes.count)] + peer.bytes
        let decoded = try DHTMessage(bytes: bytes)
        #expect(decoded.kind == .findNode && decoded.key == peer.bytes && decoded.record == nil)
        #expect(DHTMessage(kind: .findNode, key: peer.bytes).encoded() == bytes)
    }

    @Test func refusesGarbageAndUnknownTypes() {
        #expect(throws: DHTError.self) { try DHTMessage(bytes: [0xff, 0xff, 0xff]) }
        #expect(throws: DHTError.self) { try DHTMessage(bytes: [0x08, 0x09]) }  // type 9
    }

    @Test func dropsInvalidPeersAndCapsLists() throws {
        var pb = Dht_Pb_Message()
        pb.type = .findNode
        var bad = Dht_Pb_Message.Peer()
        bad.id = Data([1, 2, 3])
        var good = Dht_Pb_Message.Peer()
        good.id = Data(peer.bytes)
        good.addrs = [Data([0xff, 0xff]), Data(try Multiaddr("/ip4/1.2.3.4/tcp/1").bytes)]
        pb.closerPeers = [bad] + Array(repeating: good, count: 500)
        let decoded = try DHTMessage(bytes: try pb.serializedBytes(), maxPeers: 100, maxAddresses: 4)
        #expect(decoded.closerPeers.count == 100)
        #expect(decoded.closerPeers.allSatisfy { $0.id == peer && $0.addresses.count == 1 })
    }
}

@Suite(.onBlockingPool) struct ValueTallyTests {
    @Test func settlesWhenEnoughPeersAgreeOnTheBest() {
        var tally = ValueTally(agreement: 3, quorum: 16)
        let older: [UInt8] = [1], newer: [UInt8] = [2]
        let prefer: ([UInt8], [UInt8]) -> Bool = { current, candidate in candidate.first ?? 0 > current.first ?? 0 }
        var settled: [Bool] = []
        for value in [older, older, newer, older, newer, newer] { settled.append(tally.add(value, prefer: prefer)) }
        // Two agree on the old record, then a newer one resets the count; three on it settle.
        #expect(settled == [false, false, false, false, false, true])
        #expect(tally.best == newer && tally.agreeing == 3 && tally.total == 6)
    }

    @Test func settlesAtTheQuorumEvenWithoutAgreement() {
        var tally = ValueTally(agreement: 5, quorum: 4)
        var last = false
        for i in 0..<4 { last = tally.add([UInt8(i)], prefer: { _, _ in false }) }
        #expect(last)
        #expect(tally.best == [0])
    }
}
