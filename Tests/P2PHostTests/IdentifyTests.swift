import Foundation
import Logging
import Multiformats
import P2PCore
import P2PCrypto
import Testing
import TestSupport

@testable import P2PHost

@Suite("Identify", .onBlockingPool, .caseTimeLimit(minutes: 1))
struct IdentifyTests {
    let logger = Logger(label: "test.identify")

    func service(_ host: IDFakeHost, agent: String = "jz-node/test") -> IdentifyService {
        IdentifyService(host: host, privateKey: host.key, agentVersion: agent, logger: logger, timeout: .seconds(5))
    }

    /// Registers `respond` as B's identify handler: it answers each request with the given messages.
    func answer(on host: IDFakeHost, with messages: [[UInt8]]) async {
        await host.setHandler(.identify) { incoming in
            for message in messages { try? await incoming.stream.writeLengthPrefixed(message) }
            try? await incoming.stream.closeWrite()
            await incoming.stream.close()
        }
    }

    func message(_ build: (inout Identify_Pb_Identify) -> Void) throws -> [UInt8] {
        var pb = Identify_Pb_Identify()
        build(&pb)
        return try pb.serializedBytes()
    }

    @Test func identifiesAPeerAndFillsThePeerStore() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 3001)
        let b = try network.makeHost(port: 3002, key: try PrivateKey.generate(.rsa, rsaBits: 2048))
        let extra = try Multiaddr("/ip6/::1/tcp/3002")
        b.setListenAddresses([b.address, extra])
        await service(b, agent: "kubo/0.22.0/").register()
        await PingService(host: b, logger: logger).register()

        let info = try await service(a).identify(b.localPeer)
        #expect(info.peer == b.localPeer)
        #expect(info.publicKey == b.key.publicKey)
        #expect(info.agentVersion == "kubo/0.22.0/")
        #expect(info.protocolVersion == "ipfs/0.1.0")
        #expect(info.listenAddresses == [b.address, extra])
        #expect(info.observedAddress == a.address)
        #expect(Set(info.protocols) == [.identify, .identifyPush, .ping])
        #expect(info.signedPeerRecord?.peerID == b.localPeer)
        #expect(info.signedPeerRecord?.addresses == [b.address, extra])
        #expect(info.signedPeerRecordError == nil)

        let store = a.peerStore
        #expect(store.addresses(of: b.localPeer) == [b.address, extra])
        #expect(store.publicKey(of: b.localPeer) == b.key.publicKey)
        #expect(Set(store.protocols(of: b.localPeer)) == [.identify, .identifyPush, .ping])
        #expect(store.metadata("AgentVersion", of: b.localPeer) == "kubo/0.22.0/")
        #expect(store.metadata("ProtocolVersion", of: b.localPeer) == "ipfs/0.1.0")
    }

    @Test func signedRecordAddressesArePreferredAndMessagesMerge() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 3003)
        let b = try network.makeHost(port: 3004)
        let signed = try Multiaddr("/ip4/127.0.0.1/tcp/4444")
        let record = PeerRecord(peerID: b.localPeer, seq: 7, addresses: [signed])
        let envelope = try SignedEnvelope.seal(record, key: b.key).bytes
        let unsignedAddress = try Multiaddr("/ip4/9.9.9.9/tcp/1")
        // go-libp2p style: the signed record comes in a second message.
        await answer(on: b, with: [
            try message {
                $0.publicKey = Data(b.key.publicKey.protobufBytes)
                $0.listenAddrs = [Data(unsignedAddress.bytes)]
                $0.protocols = ["/ipfs/id/1.0.0"]
                $0.agentVersion = "go"
            },
            try message { $0.signedPeerRecord = Data(envelope) },
        ])
        let info = try await service(a).identify(b.localPeer)
        #expect(info.signedPeerRecord == record)
        #expect(info.listenAddresses == [signed])
        #expect(info.agentVersion == "go")
        #expect(info.protocols == [.identify])
        #expect(a.peerStore.addresses(of: b.localPeer) == [signed])
    }

    @Test func forgedSignedRecordIsIgnored() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 3005)
        let b = try network.makeHost(port: 3006)
        let forger = PrivateKey.generateEd25519()
        // A record naming B, signed by someone else.
        let forged = try SignedEnvelope.seal(
            PeerRecord(peerID: b.localPeer, seq: 1, addresses: [try Multiaddr("/ip4/6.6.6.6/tcp/666")]), key: forger)
        // A record by B with its signature bytes flipped.
        var tampered = try SignedEnvelope.seal(
            PeerRecord(peerID: b.localPeer, seq: 2, addresses: [try Multiaddr("/ip4/6.6.6.6/tcp/667")]), key: b.key
        ).bytes
        tampered[tampered.count - 1] ^= 0xff
        // A valid record of the forger itself (signer ≠ the peer we identify).
        let foreign = try SignedEnvelope.seal(
            PeerRecord(peerID: PeerID(publicKey: forger.publicKey), seq: 3, addresses: [try Multiaddr("/ip4/6.6.6.6/tcp/668")]),
            key: forger)
        let unsigned = try Multiaddr("/ip4/127.0.0.1/tcp/3006")
        for envelope in [forged.bytes, tampered, foreign.bytes] {
            await answer(on: b, with: [
                try message {
                    $0.publicKey = Data(b.key.publicKey.protobufBytes)
                    $0.listenAddrs = [Data(unsigned.bytes)]
                    $0.signedPeerRecord = Data(envelope)
                }
            ])
            let info = try await service(a).identify(b.localPeer)
            #expect(info.signedPeerRecord == nil)
            #expect(info.signedPeerRecordError != nil)
            #expect(info.listenAddresses == [unsigned])
            #expect(a.peerStore.addresses(of: b.localPeer) == [unsigned])
        }
    }

    @Test func wrongPublicKeyIsRejected() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 3007)
        let b = try network.makeHost(port: 3008)
        let other = PrivateKey.generateEd25519().publicKey
        await answer(on: b, with: [
            try message {
                $0.publicKey = Data(other.protobufBytes)
                $0.agentVersion = "liar"
            }
        ])
        await #expect(throws: IdentifyError.publicKeyMismatch(peer: b.localPeer, keyPeer: PeerID(publicKey: other))) {
            try await service(a).identify(b.localPeer)
        }
        #expect(a.peerStore.metadata("AgentVersion", of: b.localPeer) == nil)

        await answer(on: b, with: [try message { $0.publicKey = Data([0x08, 0x01, 0x12, 0x01, 0x00]) }])
        let error = await #expect(throws: IdentifyError.self) { try await service(a).identify(b.localPeer) }
        if case .badPublicKey = error {} else { Issue.record("unexpected \(String(describing: error))") }
    }

    @Test func oversizedAndMalformedMessagesAreRejected() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 3009)
        let b = try network.makeHost(port: 3010)
        // One message announcing more than 64 KiB.
        await b.setHandler(.identify) { incoming in
            try? await incoming.stream.write(Varint.encode(UInt64(IdentifyService.maxTotalSize + 1)))
            try? await incoming.stream.write([UInt8](repeating: 0, count: 1000))
            await incoming.stream.close()
        }
        let tooBig = await #expect(throws: StreamError.self) { try await service(a).identify(b.localPeer) }
        if case .messageTooLarge = tooBig {} else { Issue.record("unexpected \(String(describing: tooBig))") }

        // Many messages adding up to more than 64 KiB.
        let chunk = try message { $0.agentVersion = String(repeating: "x", count: 10_000) }
        await answer(on: b, with: Array(repeating: chunk, count: 8))
        await #expect(throws: StreamError.self) { try await service(a).identify(b.localPeer) }

        // Too many (small) messages.
        await answer(on: b, with: Array(repeating: try message { $0.agentVersion = "x" }, count: IdentifyService.maxMessages + 1))
        await #expect(throws: IdentifyError.tooLarge(peer: b.localPeer, what: "message count", limit: IdentifyService.maxMessages)) {
            try await service(a).identify(b.localPeer)
        }

        // Not a protobuf.
        await answer(on: b, with: [[0xff, 0xff, 0xff]])
        let malformed = await #expect(throws: IdentifyError.self) { try await service(a).identify(b.localPeer) }
        if case .malformed = malformed {} else { Issue.record("unexpected \(String(describing: malformed))") }
    }

    @Test func pushUpdatesTheRemotePeerStore() async throws {
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 3011)
        let b = try network.makeHost(port: 3012)
        let serviceA = service(a, agent: "jz-node/1")
        await serviceA.register()
        await service(b).register()
        await a.setHandler("/new/1.0.0") { incoming in await incoming.stream.close() }
        try await serviceA.push(to: b.localPeer)
        // The push is applied by B's handler task; wait for it.
        var protocols: [ProtocolID] = []
        for _ in 0..<200 {
            protocols = b.peerStore.protocols(of: a.localPeer)
            if !protocols.isEmpty { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(Set(protocols) == [.identify, .identifyPush, "/new/1.0.0"])
        #expect(b.peerStore.addresses(of: a.localPeer) == [a.address])
        #expect(b.peerStore.metadata("AgentVersion", of: a.localPeer) == "jz-node/1")
    }

    @Test func handlerAnswersOverAMemoryStream() async throws {
        let host = try IDFakeNetwork().makeHost(port: 3013)
        let identify = service(host)
        await identify.register()
        let remote = PeerID(publicKey: PrivateKey.generateEd25519().publicKey)
        let observed = try Multiaddr("/ip4/192.0.2.1/tcp/55555")
        let (client, server) = MemoryByteStream.pair()
        let handler = Task {
            await identify.handle(IncomingStream(stream: server, protocolID: .identify, remotePeer: remote, remoteAddress: observed))
        }
        let reader = StreamReader(client)
        let bytes = try #require(try await reader.readLengthPrefixed(maxLength: 65536))
        #expect(try await reader.readLengthPrefixed(maxLength: 65536) == nil)
        await handler.value
        let pb = try Identify_Pb_Identify(serializedBytes: bytes)
        #expect(try PublicKey(protobuf: Array(pb.publicKey)) == host.key.publicKey)
        #expect(try Multiaddr(bytes: Array(pb.observedAddr)) == observed)
        #expect(pb.protocolVersion == "ipfs/0.1.0")
        #expect(Set(pb.protocols) == ["/ipfs/id/1.0.0", "/ipfs/id/push/1.0.0"])
        let (_, record) = try PeerRecord.open(envelope: Array(pb.signedPeerRecord))
        #expect(record.peerID == host.localPeer)
        #expect(record.addresses == [host.address])

        // The record is cached while the addresses stay, and re-signed with a higher seq when they change.
        let same = try Identify_Pb_Identify(serializedBytes: try await identify.makeMessage(observed: nil))
        #expect(same.signedPeerRecord == pb.signedPeerRecord)
        #expect(!same.hasObservedAddr)
        host.setListenAddresses([try Multiaddr("/ip4/127.0.0.1/tcp/1")])
        let changed = try Identify_Pb_Identify(serializedBytes: try await identify.makeMessage(observed: nil))
        let (_, newRecord) = try PeerRecord.open(envelope: Array(changed.signedPeerRecord))
        #expect(newRecord.seq > record.seq)
        #expect(newRecord.addresses == [try Multiaddr("/ip4/127.0.0.1/tcp/1")])
        await identify.unregister()  // the host keeps a registered service alive
    }

    @Test func disconnectLowersAddressTTL() async throws {
        let clock = PeerStoreTestClock()
        let network = IDFakeNetwork()
        let a = try network.makeHost(port: 3014)
        let b = try network.makeHost(port: 3015)
        let store = MemoryPeerStore(clock: clock.read)
        let host = IDFakeHostWithStore(base: a, store: store)
        await service(b).register()
        let identify = IdentifyService(host: host, privateKey: a.key, agentVersion: "x", logger: logger)
        _ = try await identify.identify(b.localPeer)
        clock.advance(AddressTTL.recentlyConnected * 10)
        #expect(store.addresses(of: b.localPeer) == [b.address])
        identify.peerDisconnected(b.localPeer)
        clock.advance(AddressTTL.recentlyConnected + 1)
        #expect(store.addresses(of: b.localPeer).isEmpty)
    }
}

/// Wraps a fake host to use another peer store.
final class IDFakeHostWithStore: P2PHost, @unchecked Sendable {
    let base: IDFakeHost
    let peerStore: any PeerStore
    init(base: IDFakeHost, store: any PeerStore) {
        self.base = base
        self.peerStore = store
    }
    var localPeer: PeerID { base.localPeer }
    func listenAddresses() async -> [Multiaddr] { await base.listenAddresses() }
    func setHandler(_ protocolID: ProtocolID, _ handler: @escaping StreamHandler) async {
        await base.setHandler(protocolID, handler)
    }
    func removeHandler(_ protocolID: ProtocolID) async { await base.removeHandler(protocolID) }
    func supportedProtocols() async -> [ProtocolID] { await base.supportedProtocols() }
    func newStream(to peer: PeerID, protocols: [ProtocolID]) async throws -> (stream: any ByteStream, protocolID: ProtocolID) {
        try await base.newStream(to: peer, protocols: protocols)
    }
    func connect(_ address: Multiaddr) async throws -> PeerID { try await base.connect(address) }
    func disconnect(_ peer: PeerID) async { await base.disconnect(peer) }
    func connections() async -> [ConnectionInfo] { await base.connections() }
    func addEventObserver(_ observer: @escaping @Sendable (HostEvent) -> Void) async { await base.addEventObserver(observer) }
    func emit(_ event: HostEvent) async { await base.emit(event) }
}
