import Multiformats
import Testing

@testable import P2PCrypto
import TestSupport

/// go-libp2p core/crypto/test_data signatures, sign/verify round trips and negative cases.
@Suite("Signatures", .onBlockingPool)
struct SignatureTests {
    @Test("go-libp2p test data: keys parse, public keys match, signatures verify", arguments: [0, 2, 3])
    func goTestData(_ type: Int) throws {
        let privateKey = try PrivateKey(protobuf: try Fixtures.goTestData(type, "priv"))
        let publicKey = try PublicKey(protobuf: try Fixtures.goTestData(type, "pub"))
        let signature = try Fixtures.goTestData(type, "sig")
        #expect(privateKey.type.rawValue == type)
        #expect(privateKey.publicKey == publicKey)
        #expect(publicKey.verify(signature: signature, message: goTestMessage))
        // Tampered message, tampered signature, truncated signature.
        var tamperedMessage = goTestMessage
        tamperedMessage[0] ^= 1
        #expect(!publicKey.verify(signature: signature, message: tamperedMessage))
        var tamperedSignature = signature
        tamperedSignature[tamperedSignature.count - 1] ^= 0x01
        #expect(!publicKey.verify(signature: tamperedSignature, message: goTestMessage))
        #expect(!publicKey.verify(signature: Array(signature.dropLast()), message: goTestMessage))
        #expect(!publicKey.verify(signature: [], message: goTestMessage))
    }

    @Test("RSA PKCS#1 v1.5 signing is deterministic and reproduces go-libp2p's signature")
    func rsaDeterministic() throws {
        let privateKey = try PrivateKey(protobuf: try Fixtures.goTestData(0, "priv"))
        #expect(try privateKey.sign(goTestMessage) == (try Fixtures.goTestData(0, "sig")))
    }

    @Test("secp256k1 signatures we make verify and have low S")
    func secp256k1LowS() throws {
        let privateKey = try PrivateKey(protobuf: try Fixtures.goTestData(2, "priv"))
        // secp256k1 order n; n/2 rounded down.
        let halfOrder = try hex("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0")
        for index in 0..<16 {
            let message = Array("message \(index)".utf8)
            let signature = try privateKey.sign(message)
            #expect(privateKey.publicKey.verify(signature: signature, message: message))
            let s = try derSignatureS(signature)
            let padded = [UInt8](repeating: 0, count: 32 - s.count) + s
            #expect(!halfOrder.lexicographicallyPrecedes(padded), "S above n/2")
        }
    }

    @Test("generated keys of every type sign and verify", arguments: KeyType.allCases)
    func roundTrip(_ type: KeyType) throws {
        let privateKey = try PrivateKey.generate(type)
        #expect(privateKey.type == type)
        let reloaded = try PrivateKey(protobuf: privateKey.protobufBytes)
        #expect(reloaded == privateKey)
        #expect(try PublicKey(protobuf: privateKey.publicKey.protobufBytes) == privateKey.publicKey)
        for message in [[], Array("hello".utf8), [UInt8](repeating: 0x5a, count: 10_000)] as [[UInt8]] {
            let signature = try reloaded.sign(message)
            #expect(privateKey.publicKey.verify(signature: signature, message: message))
            #expect(!privateKey.publicKey.verify(signature: signature, message: message + [1]))
        }
        // A signature by another key of the same type does not verify.
        let other = try PrivateKey.generate(type)
        let message = Array("who signed this".utf8)
        #expect(!privateKey.publicKey.verify(signature: try other.sign(message), message: message))
    }

    @Test("Ed25519 signatures are deterministic 64-byte signatures")
    func ed25519() throws {
        let key = PrivateKey.generateEd25519()
        #expect(key.data.count == 64)
        #expect(key.publicKey.data.count == 32)
        let signature = try key.sign(goTestMessage)
        #expect(signature.count == 64)
        #expect(try key.sign(goTestMessage) == signature)
        #expect(!key.publicKey.verify(signature: signature + [0], message: goTestMessage))
    }

    @Test("a signature checked against a key of another type fails")
    func crossType() throws {
        let ed = PrivateKey.generateEd25519()
        let rsa = try PrivateKey(protobuf: try Fixtures.goTestData(0, "priv"))
        let k1 = try PrivateKey(protobuf: try Fixtures.goTestData(2, "priv"))
        let ec = try PrivateKey(protobuf: try Fixtures.goTestData(3, "priv"))
        let keys = [ed, rsa, k1, ec]
        for signer in keys {
            let signature = try signer.sign(goTestMessage)
            for verifier in keys where verifier.type != signer.type {
                #expect(!verifier.publicKey.verify(signature: signature, message: goTestMessage))
            }
        }
    }

    @Test("signing and verifying from many tasks at once")
    func concurrent() async throws {
        let keys = [
            PrivateKey.generateEd25519(),
            try PrivateKey(protobuf: try Fixtures.goTestData(0, "priv")),
            try PrivateKey(protobuf: try Fixtures.goTestData(2, "priv")),
            try PrivateKey(protobuf: try Fixtures.goTestData(3, "priv")),
        ]
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<32 {
                let key = keys[index % keys.count]
                group.addTask {
                    let message = Array("task \(index)".utf8)
                    let signature = try key.sign(message)
                    return key.publicKey.verify(signature: signature, message: message)
                        && !key.publicKey.verify(signature: signature, message: message + [0])
                }
            }
            var all: [Bool] = []
            for try await ok in group { all.append(ok) }
            return all
        }
        #expect(results.count == 32)
        #expect(results.allSatisfy { $0 })
    }

    /// The S integer of a DER ECDSA signature SEQUENCE { INTEGER r, INTEGER s } (short-form lengths).
    private func derSignatureS(_ der: [UInt8]) throws -> [UInt8] {
        try #require(der.count > 8 && der[0] == 0x30 && der[2] == 0x02)
        let rLength = Int(der[3])
        let sTag = 4 + rLength
        try #require(der.count > sTag + 2 && der[sTag] == 0x02)
        let sLength = Int(der[sTag + 1])
        let s = Array(der[(sTag + 2)..<(sTag + 2 + sLength)])
        return Array(s.drop(while: { $0 == 0 }))
    }
}
