import Foundation
import Logging
import Multiformats
import P2PCore
import P2PCrypto
import Testing
import TestSupport

@testable import P2PSecurity

/// Key types exercised by the TLS handshake tests.
enum TLSTestKey: String, CaseIterable, Sendable {
    case ed25519, rsa, secp256k1, ecdsa

    func generate() throws -> PrivateKey {
        switch self {
        case .ed25519: return PrivateKey.generateEd25519()
        case .rsa: return try PrivateKey.generate(.rsa)
        case .secp256k1: return try PrivateKey.generate(.secp256k1)
        case .ecdsa: return try PrivateKey.generate(.ecdsa)
        }
    }
}

@Suite("TLS", .onBlockingPool)
struct TLSTests {
    static let logger = Logger(label: "tls-test")
    static let tls = ProtocolID("/tls/1.0.0")

    struct CertificateVector: Sendable {
        let title: String
        let der: [UInt8]
        let expectedPeer: String?
        let valid: Bool
    }

    static func loadVectors() throws -> [CertificateVector] {
        let url = try #require(
            Bundle.module.url(forResource: "tls-certificates", withExtension: "json", subdirectory: "Fixtures/tls"),
            "missing fixture Fixtures/tls/tls-certificates.json")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let list = try #require(root["certificates"] as? [[String: Any]])
        return try list.map { entry in
            let hex = try #require(entry["certificate_der_hex"] as? String)
            return CertificateVector(
                title: (entry["title"] as? String) ?? "?",
                der: try #require(Hex.decode(hex.lowercased()), "certificate is not hex"),
                expectedPeer: entry["expected_peer_id"] as? String,
                valid: (entry["valid"] as? Bool) ?? false)
        }
    }

    /// Connects a client and a server over an in-memory pipe.
    static func connect(
        client: PrivateKey, server: PrivateKey, expecting: PeerID? = nil
    ) async throws -> (client: any SecuredStream, server: any SecuredStream, rawClient: MemoryByteStream, rawServer: MemoryByteStream) {
        let (a, b) = MemoryByteStream.pair()
        let clientTransport = TLSTransport(identity: client, logger: logger)
        let serverTransport = TLSTransport(identity: server, logger: logger)
        let expected = expecting ?? PeerID(publicKey: server.publicKey)
        return try await withTimeout(TestTime.scaled(.seconds(20)), what: "TLS handshake") {
            async let inbound = serverTransport.secureInbound(b)
            let outbound = try await clientTransport.secureOutbound(a, remotePeer: expected)
            return (outbound, try await inbound, a, b)
        }
    }

    static func readAll(_ stream: any ByteStream, limit: Int = 64 << 20) async throws -> [UInt8] {
        var out: [UInt8] = []
        while let chunk = try await stream.read() {
            out += chunk
            if out.count > limit { break }
        }
        return out
    }

    @Test("specification certificate vectors: 3 valid with their peer IDs, 1 invalid rejected")
    func certificateVectors() throws {
        let vectors = try Self.loadVectors()
        #expect(vectors.count == 4)
        for vector in vectors {
            if vector.valid {
                let key = try TLSCertificate.verify(der: vector.der)
                #expect(PeerID(publicKey: key).description == vector.expectedPeer, "\(vector.title)")
            } else {
                #expect(throws: SecurityError.self, "\(vector.title)") { try TLSCertificate.verify(der: vector.der) }
            }
        }
    }

    @Test("generated certificates verify and prove the identity", arguments: TLSTestKey.allCases)
    func generatedCertificate(_ keyType: TLSTestKey) throws {
        let identity = try keyType.generate()
        let (certificate, _) = try TLSCertificate.generate(identity: identity)
        let der = try #require(certificate.der)
        let proved = try TLSCertificate.verify(der: der)
        #expect(proved == identity.publicKey)
        // Flipping a byte of the signature breaks the self-signature.
        var tampered = der
        tampered[tampered.count - 3] ^= 0x01
        #expect(throws: SecurityError.self) { try TLSCertificate.verify(der: tampered) }
        #expect(throws: SecurityError.self) { try TLSCertificate.verify(der: Array(der.prefix(100))) }
    }

    @Test("SignedKey DER parsing is strict")
    func signedKeyParsing() throws {
        let good = DER.sequence([DER.octetString([1, 2, 3]), DER.octetString(Array(repeating: 7, count: 200))])
        let parsed = try TLSCertificate.parseSignedKey(good)
        #expect(parsed.publicKey == [1, 2, 3])
        #expect(parsed.signature.count == 200)
        #expect(throws: SecurityError.self) { try TLSCertificate.parseSignedKey(good + [0]) }
        #expect(throws: SecurityError.self) { try TLSCertificate.parseSignedKey(Array(good.dropLast())) }
        #expect(throws: SecurityError.self) { try TLSCertificate.parseSignedKey([0x30, 0x81, 0x02, 0x04, 0x00]) }
        #expect(throws: SecurityError.self) { try TLSCertificate.parseSignedKey(DER.sequence([DER.octetString([1])])) }
    }

    @Test("handshake and echo for each identity key type", arguments: TLSTestKey.allCases)
    func handshake(_ keyType: TLSTestKey) async throws {
        let clientKey = try keyType.generate()
        let serverKey = try (keyType == .ed25519 ? TLSTestKey.rsa : TLSTestKey.ed25519).generate()
        let (client, server, _, _) = try await Self.connect(client: clientKey, server: serverKey)
        #expect(client.remotePeer == PeerID(publicKey: serverKey.publicKey))
        #expect(server.remotePeer == PeerID(publicKey: clientKey.publicKey))
        #expect(client.localPeer == PeerID(publicKey: clientKey.publicKey))
        #expect(server.remotePublicKey == clientKey.publicKey)
        #expect(client.securityProtocol == Self.tls)
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "echo") {
            try await client.write(Array("hello".utf8))
            try await client.closeWrite()
            let got = try await Self.readAll(server)
            #expect(got == Array("hello".utf8))
            try await server.write(got + Array(" back".utf8))
            try await server.closeWrite()
            #expect(try await Self.readAll(client) == Array("hello back".utf8))
        }
    }

    @Test("dialling the wrong peer fails with peerIDMismatch")
    func mismatch() async throws {
        let (a, b) = MemoryByteStream.pair()
        let serverKey = PrivateKey.generateEd25519()
        let wrong = PeerID(publicKey: PrivateKey.generateEd25519().publicKey)
        let client = TLSTransport(identity: PrivateKey.generateEd25519(), logger: Self.logger)
        let server = TLSTransport(identity: serverKey, logger: Self.logger)
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "mismatch handshake") {
            async let inbound: Void = { _ = try? await server.secureInbound(b) }()
            do {
                _ = try await client.secureOutbound(a, remotePeer: wrong)
                Issue.record("handshake with the wrong peer succeeded")
            } catch let error as SecurityError {
                #expect(error == .peerIDMismatch(expected: wrong, actual: PeerID(publicKey: serverKey.publicKey)))
            }
            await inbound
        }
    }

    @Test("garbage during the handshake fails with handshakeFailed")
    func garbageHandshake() async throws {
        let (a, b) = MemoryByteStream.pair()
        let server = TLSTransport(identity: PrivateKey.generateEd25519(), logger: Self.logger)
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "garbage handshake") {
            try await a.write(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8) + Array(repeating: 0x41, count: 300))
            do {
                _ = try await server.secureInbound(b)
                Issue.record("handshake over garbage succeeded")
            } catch let error as SecurityError {
                guard case .handshakeFailed(let proto, _) = error else {
                    Issue.record("unexpected error \(error)")
                    return
                }
                #expect(proto == Self.tls)
            }
        }
    }

    @Test("truncated handshake fails")
    func truncatedHandshake() async throws {
        let (a, b) = MemoryByteStream.pair()
        let client = TLSTransport(identity: PrivateKey.generateEd25519(), logger: Self.logger)
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "truncated handshake") {
            async let outbound: Error? = {
                do { _ = try await client.secureOutbound(a, remotePeer: nil) } catch { return error }
                return nil
            }()
            // Read the ClientHello, then hang up.
            _ = try await b.read()
            try await b.closeWrite()
            let error = await outbound
            #expect(error is SecurityError)
        }
    }

    @Test("a garbage record after the handshake is an error, not a crash")
    func garbageRecord() async throws {
        let (client, server, rawClient, _) = try await Self.connect(
            client: PrivateKey.generateEd25519(), server: PrivateKey.generateEd25519())
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "garbage record") {
            try await client.write([1, 2, 3])
            #expect(try await server.read() == [1, 2, 3])
            // An application-data record with garbage contents, written under the TLS layer.
            try await rawClient.write([23, 3, 3, 0, 40] + (0..<40).map { _ in UInt8.random(in: 0...255) })
            do {
                _ = try await server.read()
                Issue.record("garbage record was accepted")
            } catch let error as SecurityError {
                guard case .badFrame = error else {
                    Issue.record("unexpected error \(error)")
                    return
                }
            }
            // Later calls fail too.
            await #expect(throws: (any Error).self) { try await server.write([1]) }
        }
    }

    @Test("8 MiB each way concurrently, plus many small writes")
    func bigTransfer() async throws {
        let (client, server, _, _) = try await Self.connect(
            client: PrivateKey.generateEd25519(), server: try PrivateKey.generate(.ecdsa))
        let size = 8 << 20
        let payloadA = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let payloadB = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 17 &+ 3) }
        try await withTimeout(TestTime.scaled(.seconds(60)), what: "8 MiB transfer") {
            async let sendA: Void = {
                var offset = 0
                while offset < size {  // uneven chunk sizes
                    let end = min(size, offset + 100_003)
                    try await client.write(Array(payloadA[offset..<end]))
                    offset = end
                }
                try await client.closeWrite()
            }()
            async let sendB: Void = {
                try await server.write(payloadB)
                for i in 0..<1000 { try await server.write([UInt8(truncatingIfNeeded: i)]) }
                try await server.closeWrite()
            }()
            async let receivedAtServer = Self.readAll(server)
            async let receivedAtClient = Self.readAll(client)
            try await sendA
            try await sendB
            let atServer = try await receivedAtServer
            let atClient = try await receivedAtClient
            #expect(atServer.count == size)
            #expect(atServer == payloadA)
            #expect(atClient.count == size + 1000)
            #expect(Array(atClient.prefix(size)) == payloadB)
            #expect(Array(atClient.suffix(1000)) == (0..<1000).map { UInt8(truncatingIfNeeded: $0) })
        }
    }

    @Test("reset propagates and close is idempotent")
    func resetAndClose() async throws {
        let (client, server, _, _) = try await Self.connect(
            client: PrivateKey.generateEd25519(), server: PrivateKey.generateEd25519())
        try await withTimeout(TestTime.scaled(.seconds(20)), what: "reset") {
            await client.reset()
            await #expect(throws: (any Error).self) { _ = try await server.read() }
            await #expect(throws: (any Error).self) { try await client.write([1]) }
            await server.close()
            await server.close()
        }
    }
}

@Suite("TLS ALPN", .onBlockingPool)
struct TLSALPNTests {
    static func handshake(offering alpn: [String]) async throws -> (client: String?, server: String?) {
        let (a, b) = MemoryByteStream.pair()
        let logger = Logger(label: "tls-alpn-test")
        let client = try TLSSession(
            identity: PrivateKey.generateEd25519(), isServer: false, expectedPeer: nil, base: a, logger: logger, clientALPN: alpn)
        let server = try TLSSession(
            identity: PrivateKey.generateEd25519(), isServer: true, expectedPeer: nil, base: b, logger: logger)
        return try await withTimeout(TestTime.scaled(.seconds(20)), what: "ALPN handshake", onTimeout: { await a.reset() }) {
            async let serverDone: Void = {
                do { _ = try await server.handshake() } catch {
                    await b.reset()
                    throw error
                }
            }()
            do {
                _ = try await client.handshake()
            } catch {
                await a.reset()
                try? await serverDone
                throw error
            }
            try await serverDone
            return (client.selectedALPN, server.selectedALPN)
        }
    }

    @Test("the server selects libp2p, also when muxer IDs are offered first")
    func selectsLibp2p() async throws {
        let plain = try await Self.handshake(offering: ["libp2p"])
        #expect(plain.client == "libp2p")
        #expect(plain.server == "libp2p")
        let inlined = try await Self.handshake(offering: ["/yamux/1.0.0", "/mplex/6.7.0", "libp2p"])
        #expect(inlined.client == "libp2p")
        #expect(inlined.server == "libp2p")
    }

    @Test("the server refuses a client that does not offer libp2p")
    func refusesOtherALPN() async throws {
        await #expect(throws: (any Error).self) { _ = try await Self.handshake(offering: ["h2"]) }
    }
}
