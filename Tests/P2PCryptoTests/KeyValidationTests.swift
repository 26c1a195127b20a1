import Multiformats
import Testing

@testable import P2PCrypto
import TestSupport

/// Malformed, truncated and mistyped keys are rejected with errors that say what is wrong.
@Suite("Key validation", .onBlockingPool)
struct KeyValidationTests {
    /// 1024-bit RSA SubjectPublicKeyInfo (generated with `openssl genrsa 1024`).
    static let rsa1024SPKI =
        "30819f300d06092a864886f70d010101050003818d0030818902818100c657f8c540706d974da9af343418b871e8a4629bd5bab555266e3ae7d06d8b2ff9638ca04bc9b98f31268538a1078bcbf9da57b2a8cc00b4a374411034d25b39343deb6971450b0101ff2da3df5aa13392c64cc89b428464c2cde8cc72b87b03ffadac21949bb9e8436c6158ba1934223f0415e81fa2bbc53de9e8a35e6e11e90203010001"
    /// secp256k1 SubjectPublicKeyInfo (generated with `openssl ecparam -name secp256k1 -genkey`).
    static let secp256k1SPKI =
        "3056301006072a8648ce3d020106052b8104000a0342000477c02524558dc5a0acedf1d9a672be8b4d891562c81ff71e665ded6731734cb54c3b3fc820cb4a9f3ea018452d7b3424e7ff6e1bc55d4f8910efdaaa9ccdb17c"
    /// P-384 SEC1 ECPrivateKey (generated with `openssl ecparam -name secp384r1 -genkey`).
    static let p384SEC1 =
        "3081a402010104302aec26e162055144daca753d7c17a9c2a7d383b74cd5a2b65a7ee9a219bd9375b240338a06c31ab7a6e63a8cb43ba75da00706052b81040022a16403620004b3a68bc38f93b5504675495965c050d2ba1f5eb728c8ef3e3869e87b80c4cde7a6e93a36174f7caeb682fb7353433fb0a85feafb481ed89796e61496da0b0f869b86a4bf98452144739fb215fae3c3253fb91f6f9a3251604fbcb87ca46c8ea7"

    private func publicData(_ type: Int) throws -> [UInt8] {
        try PublicKey(protobuf: try Fixtures.goTestData(type, "pub")).data
    }

    private func privateData(_ type: Int) throws -> [UInt8] {
        try PrivateKey(protobuf: try Fixtures.goTestData(type, "priv")).data
    }

    @Test("truncated public keys are rejected")
    func truncatedPublicKeys() throws {
        let ed = PrivateKey.generateEd25519().publicKey.data
        #expect(throws: KeyError.invalidKeyLength(.ed25519, expected: "32", actual: 31)) {
            try PublicKey(type: .ed25519, data: Array(ed.dropLast()))
        }
        for (type, keyType) in [(0, KeyType.rsa), (3, .ecdsa)] {
            let data = try publicData(type)
            #expect {
                try PublicKey(type: keyType, data: Array(data.dropLast(5)))
            } throws: { error in
                guard case .invalidKeyEncoding(keyType, _) = error as? KeyError else { return false }
                return true
            }
        }
        #expect(throws: KeyError.invalidKeyLength(.secp256k1, expected: "33 (compressed point) or 65 (uncompressed point)", actual: 32)) {
            try PublicKey(type: .secp256k1, data: Array(try publicData(2).dropLast()))
        }
        #expect(throws: KeyError.invalidKeyLength(.rsa, expected: "a non-empty SubjectPublicKeyInfo", actual: 0)) {
            try PublicKey(type: .rsa, data: [])
        }
    }

    @Test("truncated private keys and protobufs are rejected")
    func truncatedPrivateKeys() throws {
        #expect(throws: KeyError.invalidKeyLength(.secp256k1, expected: "32", actual: 31)) {
            try PrivateKey(type: .secp256k1, data: Array(try privateData(2).dropLast()))
        }
        #expect(throws: KeyError.invalidKeyLength(.ed25519, expected: "64 (seed ‖ public key) or legacy 96", actual: 32)) {
            try PrivateKey(type: .ed25519, data: Array(PrivateKey.generateEd25519().data.prefix(32)))
        }
        for (type, keyType) in [(0, KeyType.rsa), (3, .ecdsa)] {
            #expect {
                try PrivateKey(type: keyType, data: Array(try privateData(type).dropLast(3)))
            } throws: { error in
                guard case .invalidKeyEncoding(keyType, _) = error as? KeyError else { return false }
                return true
            }
            let protobuf = try Fixtures.goTestData(type, "priv")
            #expect {
                try PrivateKey(protobuf: Array(protobuf.dropLast()))
            } throws: { error in
                guard case .malformedProtobuf = error as? KeyError else { return false }
                return true
            }
        }
    }

    @Test("trailing bytes after DER keys are rejected")
    func trailingBytes() throws {
        #expect(throws: KeyError.invalidKeyEncoding(.rsa, "1 trailing bytes after the DER SubjectPublicKeyInfo")) {
            try PublicKey(type: .rsa, data: try publicData(0) + [0])
        }
        #expect(throws: KeyError.invalidKeyEncoding(.ecdsa, "2 trailing bytes after the DER SEC1 ECPrivateKey")) {
            try PrivateKey(type: .ecdsa, data: try privateData(3) + [0, 0])
        }
    }

    @Test("keys of another algorithm than their declared type are rejected")
    func wrongKeyType() throws {
        // An ECDSA SubjectPublicKeyInfo declared as RSA, and an RSA one declared as ECDSA.
        #expect(throws: KeyError.wrongAlgorithm(.rsa, found: "an EC key (prime256v1)")) {
            try PublicKey(type: .rsa, data: try publicData(3))
        }
        #expect(throws: KeyError.wrongAlgorithm(.ecdsa, found: "an RSA key")) {
            try PublicKey(type: .ecdsa, data: try publicData(0))
        }
        // A secp256k1 SubjectPublicKeyInfo is not an ECDSA key (go-libp2p's x509 parser rejects it too).
        #expect(throws: KeyError.wrongAlgorithm(.ecdsa, found: "an EC key on curve secp256k1")) {
            try PublicKey(type: .ecdsa, data: try hex(Self.secp256k1SPKI))
        }
        // A 32-byte Ed25519 key declared as RSA is not DER.
        #expect {
            try PublicKey(type: .rsa, data: PrivateKey.generateEd25519().publicKey.data)
        } throws: { error in
            guard case .invalidKeyEncoding(.rsa, _) = error as? KeyError else { return false }
            return true
        }
        // The protobuf route: an RSA key's Data under Type=Ed25519.
        var relabelled = try Fixtures.goTestData(2, "pub")
        relabelled[1] = 0x01  // Type Secp256k1 → Ed25519
        #expect(throws: KeyError.invalidKeyLength(.ed25519, expected: "32", actual: 33)) {
            try PublicKey(protobuf: relabelled)
        }
        // An ECDSA private key declared as RSA.
        #expect {
            try PrivateKey(type: .rsa, data: try privateData(3))
        } throws: { error in
            switch error as? KeyError {
            case .invalidKeyEncoding(.rsa, _), .wrongAlgorithm(.rsa, _): return true
            default: return false
            }
        }
    }

    @Test("RSA keys under 2048 bits are rejected")
    func smallRSA() throws {
        #expect(throws: KeyError.unsupportedRSAKeySize(bits: 1024)) {
            try PublicKey(type: .rsa, data: try hex(Self.rsa1024SPKI))
        }
        #expect(throws: KeyError.unsupportedRSAKeySize(bits: 1024)) {
            try PrivateKey.generate(.rsa, rsaBits: 1024)
        }
    }

    @Test("other NIST curves are accepted for ECDSA")
    func p384() throws {
        let key = try PrivateKey(type: .ecdsa, data: try hex(Self.p384SEC1))
        let signature = try key.sign(goTestMessage)
        #expect(key.publicKey.verify(signature: signature, message: goTestMessage))
        #expect(try PublicKey(protobuf: key.publicKey.protobufBytes) == key.publicKey)
    }

    @Test("Ed25519 legacy 96-byte private keys load as the 64-byte form")
    func ed25519Legacy() throws {
        let key = PrivateKey.generateEd25519()
        let legacy = key.data + key.publicKey.data
        let loaded = try PrivateKey(type: .ed25519, data: legacy)
        #expect(loaded == key)
        #expect(loaded.data.count == 64)
        var mismatched = legacy
        mismatched[95] ^= 1
        #expect(throws: KeyError.inconsistentKeyPair(.ed25519, "legacy 96-byte key holds two different public keys")) {
            try PrivateKey(type: .ed25519, data: mismatched)
        }
    }

    @Test("an Ed25519 private key whose public half does not match its seed is rejected")
    func ed25519Mismatch() throws {
        let a = PrivateKey.generateEd25519()
        let b = PrivateKey.generateEd25519()
        #expect(throws: KeyError.inconsistentKeyPair(.ed25519, "the public key half does not belong to the seed")) {
            try PrivateKey(type: .ed25519, data: Array(a.data.prefix(32)) + b.publicKey.data)
        }
    }

    @Test("secp256k1: bad points and scalars are rejected, uncompressed points are compressed")
    func secp256k1() throws {
        let compressed = try publicData(2)
        // Flip the x coordinate until it is off the curve (about half of all x values are).
        var found = false
        for delta: UInt8 in 1...20 {
            var bad = compressed
            bad[32] &+= delta
            do {
                _ = try PublicKey(type: .secp256k1, data: bad)
            } catch {
                #expect(error == .invalidKeyEncoding(.secp256k1, "not a point on the secp256k1 curve"))
                found = true
                break
            }
        }
        #expect(found)
        var wrongPrefix = compressed
        wrongPrefix[0] = 0x04
        #expect(throws: KeyError.invalidKeyEncoding(.secp256k1, "point prefix 0x04 does not match a 33-byte point")) {
            try PublicKey(type: .secp256k1, data: wrongPrefix)
        }
        #expect(throws: KeyError.invalidKeyEncoding(.secp256k1, "private scalar is zero or not below the curve order")) {
            try PrivateKey(type: .secp256k1, data: [UInt8](repeating: 0, count: 32))
        }
        #expect(throws: KeyError.invalidKeyEncoding(.secp256k1, "private scalar is zero or not below the curve order")) {
            try PrivateKey(type: .secp256k1, data: [UInt8](repeating: 0xff, count: 32))
        }
        // The uncompressed form of the secp256k1 key from the SPKI above compresses to 33 bytes.
        let spki = try hex(Self.secp256k1SPKI)
        let uncompressed = Array(spki.suffix(65))
        let key = try PublicKey(type: .secp256k1, data: uncompressed)
        #expect(key.data.count == 33)
        #expect(key.data[0] == (uncompressed[64] & 1 == 0 ? 0x02 : 0x03))
        #expect(key.data[1...] == uncompressed[1...32])
    }

    @Test("errors describe what is wrong")
    func descriptions() {
        #expect(KeyError.unknownKeyType(9).description.contains("unknown key type 9"))
        #expect(KeyError.invalidKeyLength(.ed25519, expected: "32", actual: 31).description
            == "invalid Ed25519 key length: expected 32 bytes, got 31")
        #expect(PrivateKey.generateEd25519().description == "Ed25519 private key (public: 32 bytes)")
    }
}
