import Multiformats
import P2PCore
import P2PCrypto
import Testing

@testable import P2PHost
import TestSupport

@Suite("PeerRecord", .onBlockingPool)
struct PeerRecordTests {
    /// From go-libp2p-core peer/record_test.go (commit b18a4c9c, MIT/Apache-2.0), as quoted with two
    /// addresses by nim-libp2p tests/testroutingrecord.nim.
    static let goRecord =
        "0a2600240801122011bba3ed1721948cefb4e50b0a0bb5cad8a6b52dc7b1a40f4f6652105c91e2c4109bf59d8dd99d8ddb161a0a0a0804010203040600001a0a0a080401020304060001"

    @Test func decodesAGoLibp2pRecord() throws {
        let bytes = envelopeTestHex(Self.goRecord)
        let record = try PeerRecord(decoding: bytes)
        #expect(record.peerID.description == "12D3KooWB1b3qZxWJanuhtseF3DmPggHCtG36KZ9ixkqHtdKH9fh")
        #expect(record.seq == 1_636_553_709_551_319_707)
        #expect(record.addresses == [try Multiaddr("/ip4/1.2.3.4/tcp/0"), try Multiaddr("/ip4/1.2.3.4/tcp/1")])
        #expect(record.encode() == bytes)
    }

    @Test func sealsAndOpensARecord() throws {
        let key = PrivateKey.generateEd25519()
        let peer = PeerID(publicKey: key.publicKey)
        let record = PeerRecord(
            peerID: peer, seq: 42,
            addresses: [try Multiaddr("/ip4/127.0.0.1/tcp/4001"), try Multiaddr("/ip6/::1/tcp/4001")])
        let envelope = try SignedEnvelope.seal(record, key: key)
        #expect(envelope.payloadType == [0x03, 0x01])
        let (opened, decoded) = try PeerRecord.open(envelope: envelope.bytes)
        #expect(decoded == record)
        #expect(opened.signer == peer)
        // The default sequence number is a nanosecond timestamp.
        #expect(PeerRecord(peerID: peer, addresses: []).seq > 1_600_000_000_000_000_000)
    }

    @Test func rejectsARecordSignedByAnotherPeer() throws {
        let victim = PeerID(publicKey: PrivateKey.generateEd25519().publicKey)
        let forger = PrivateKey.generateEd25519()
        let record = PeerRecord(peerID: victim, seq: 1, addresses: [try Multiaddr("/ip4/6.6.6.6/tcp/1")])
        let envelope = try SignedEnvelope.seal(record, key: forger)
        #expect(throws: PeerRecordError.signerMismatch(record: victim, signer: PeerID(publicKey: forger.publicKey))) {
            try PeerRecord.open(envelope: envelope.bytes)
        }
    }

    @Test func rejectsAnotherDomainOrPayloadType() throws {
        let key = PrivateKey.generateEd25519()
        let record = PeerRecord(peerID: PeerID(publicKey: key.publicKey), seq: 1, addresses: [])
        let otherDomain = try SignedEnvelope.seal(
            payload: record.encode(), payloadType: PeerRecord.payloadType, domain: "libp2p-other", key: key)
        #expect(throws: PeerRecordError.self) { try PeerRecord.open(envelope: otherDomain.bytes) }
        let otherType = try SignedEnvelope.seal(
            payload: record.encode(), payloadType: [0x03, 0x02], domain: PeerRecord.domain, key: key)
        #expect(
            throws: PeerRecordError.envelope(.wrongPayloadType(expected: [0x03, 0x01], actual: [0x03, 0x02]))
        ) { try PeerRecord.open(envelope: otherType.bytes) }
    }

    @Test func rejectsMalformedRecords() {
        #expect(throws: PeerRecordError.self) { try PeerRecord(decoding: [0x0a, 0x02, 0x00, 0x01]) }  // bad peer ID
        #expect(throws: PeerRecordError.self) { try PeerRecord(decoding: [0xff]) }
    }
}
