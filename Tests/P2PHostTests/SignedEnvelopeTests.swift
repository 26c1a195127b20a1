import Foundation
import Multiformats
import P2PCore
import P2PCrypto
import Testing

@testable import P2PHost
import TestSupport

func envelopeTestHex(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var high: UInt8?
    for scalar in text.unicodeScalars {
        guard let value = UInt8(String(scalar), radix: 16) else { continue }
        if let h = high {
            out.append(h << 4 | value)
            high = nil
        } else {
            high = value
        }
    }
    return out
}

@Suite("SignedEnvelope", .onBlockingPool)
struct SignedEnvelopeTests {
    /// From go-libp2p-core record/envelope_test.go (commit b18a4c9c, MIT/Apache-2.0), as quoted by
    /// nim-libp2p tests/testsignedenvelope.nim: an Ed25519-signed envelope, domain "libp2p-testing",
    /// payload type "/libp2p/testdata", payload "hello world!".
    static let goEnvelope =
        "0a24080112206f1581709bb7b1ef030d210db18e3b0ba1c776fba65d8cdaad05415142d189f812102f6c69627032702f74657374646174611a0c68656c6c6f20776f726c64212a401178673b51dfa842aad17e465e25d646ad16628916b964c3fb10c711fee87872bdd4e4646f58c277cdff09704913d8be1aec6322de8d3d0bb852120374aece08"

    @Test func opensAGoLibp2pEnvelope() throws {
        let bytes = envelopeTestHex(Self.goEnvelope)
        let envelope = try SignedEnvelope.open(bytes, domain: "libp2p-testing")
        #expect(envelope.payloadType == Array("/libp2p/testdata".utf8))
        #expect(envelope.payload == Array("hello world!".utf8))
        #expect(envelope.publicKey.type == .ed25519)
        // Our encoding of the same envelope is byte-identical.
        #expect(envelope.bytes == bytes)
        #expect(throws: SignedEnvelopeError.badSignature(signer: envelope.signer, domain: "other")) {
            try SignedEnvelope.open(bytes, domain: "other")
        }
        // The payload altered ("he" → 00 00): the signature no longer verifies.
        let altered = envelopeTestHex(Self.goEnvelope.replacingOccurrences(of: "1a0c68656c6c6f", with: "1a0c00006c6c6f"))
        #expect(throws: SignedEnvelopeError.badSignature(signer: envelope.signer, domain: "libp2p-testing")) {
            try SignedEnvelope.open(altered, domain: "libp2p-testing")
        }
    }

    @Test func signedBytesAreVarintPrefixedParts() {
        let bytes = SignedEnvelope.signedBytes(domain: "ab", payloadType: [0x03, 0x01], payload: [9])
        #expect(bytes == [2, 0x61, 0x62, 2, 0x03, 0x01, 1, 9])
    }

    @Test(arguments: [KeyType.ed25519, .rsa, .secp256k1, .ecdsa])
    func sealsAndOpensWithEveryKeyType(_ type: KeyType) throws {
        let key = type == .ed25519 ? PrivateKey.generateEd25519() : try PrivateKey.generate(type, rsaBits: 2048)
        let envelope = try SignedEnvelope.seal(payload: [1, 2, 3], payloadType: [0xAA], domain: "test-domain", key: key)
        let opened = try SignedEnvelope.open(envelope.bytes, domain: "test-domain", payloadType: [0xAA])
        #expect(opened == envelope)
        #expect(opened.signer == PeerID(publicKey: key.publicKey))
        #expect(throws: SignedEnvelopeError.wrongPayloadType(expected: [0xBB], actual: [0xAA])) {
            try SignedEnvelope.open(envelope.bytes, domain: "test-domain", payloadType: [0xBB])
        }
    }

    @Test func rejectsMalformedEnvelopes() throws {
        #expect(throws: SignedEnvelopeError.self) { try SignedEnvelope.open([0xff, 0xff, 0xff], domain: "d") }
        // No public key field.
        #expect(throws: SignedEnvelopeError.malformed(field: "public_key", reason: "missing")) {
            try SignedEnvelope.open([0x12, 0x01, 0x00], domain: "d")
        }
        // A public key of an unknown type 9 (the required enum is then missing).
        #expect(throws: SignedEnvelopeError.self) {
            try SignedEnvelope.open([0x0a, 0x04, 0x08, 0x09, 0x12, 0x00], domain: "d")
        }
        // An Ed25519 key of one byte.
        let error = #expect(throws: SignedEnvelopeError.self) {
            try SignedEnvelope.open([0x0a, 0x05, 0x08, 0x01, 0x12, 0x01, 0x00], domain: "d")
        }
        if case .badPublicKey = error {} else { Issue.record("unexpected \(String(describing: error))") }
        let big = [UInt8](repeating: 0, count: SignedEnvelope.maxSize + 1)
        #expect(throws: SignedEnvelopeError.tooLarge(length: big.count, limit: SignedEnvelope.maxSize)) {
            try SignedEnvelope.open(big, domain: "d")
        }
    }
}
