import CSodium

/// Ed25519 through libsodium.
enum Ed25519Keys {
    static let publicKeyLength = 32
    static let seedLength = 32
    static let privateKeyLength = 64
    static let legacyPrivateKeyLength = 96
    static let signatureLength = 64

    /// `sodium_init` runs once (Swift globals initialise lazily and thread-safely; sodium_init is idempotent).
    private static let sodiumReady: Bool = sodium_init() >= 0

    static func ensureSodium() {
        precondition(sodiumReady, "libsodium failed to initialise (sodium_init < 0)")
    }

    static func checkPublicKey(_ bytes: [UInt8]) throws(KeyError) {
        guard bytes.count == publicKeyLength else {
            throw .invalidKeyLength(.ed25519, expected: "32", actual: bytes.count)
        }
    }

    /// Validates a private key (64-byte seed‖public, or legacy 96-byte seed‖public‖public) and returns the
    /// 64-byte form; the public half must be the one the seed derives.
    static func normalizePrivateKey(_ bytes: [UInt8]) throws(KeyError) -> [UInt8] {
        var key = bytes
        if bytes.count == legacyPrivateKeyLength {
            guard bytes[32..<64] == bytes[64..<96] else {
                throw .inconsistentKeyPair(.ed25519, "legacy 96-byte key holds two different public keys")
            }
            key = Array(bytes.prefix(privateKeyLength))
        }
        guard key.count == privateKeyLength else {
            throw .invalidKeyLength(.ed25519, expected: "64 (seed ‖ public key) or legacy 96", actual: bytes.count)
        }
        let derived = try keyPair(seed: Array(key.prefix(seedLength)))
        guard derived == key else {
            throw .inconsistentKeyPair(.ed25519, "the public key half does not belong to the seed")
        }
        return key
    }

    /// The 64-byte seed‖public key of a 32-byte seed.
    static func keyPair(seed: [UInt8]) throws(KeyError) -> [UInt8] {
        guard seed.count == seedLength else { throw .invalidKeyLength(.ed25519, expected: "32-byte seed", actual: seed.count) }
        ensureSodium()
        var publicKey = [UInt8](repeating: 0, count: publicKeyLength)
        var secretKey = [UInt8](repeating: 0, count: privateKeyLength)
        guard crypto_sign_seed_keypair(&publicKey, &secretKey, seed) == 0 else {
            throw .cryptoFailure(.ed25519, "crypto_sign_seed_keypair failed")
        }
        return secretKey
    }

    static func generate() -> [UInt8] {
        ensureSodium()
        var publicKey = [UInt8](repeating: 0, count: publicKeyLength)
        var secretKey = [UInt8](repeating: 0, count: privateKeyLength)
        let status = crypto_sign_keypair(&publicKey, &secretKey)
        precondition(status == 0, "crypto_sign_keypair failed")
        return secretKey
    }

    static func sign(_ message: [UInt8], privateKey: [UInt8]) throws(KeyError) -> [UInt8] {
        ensureSodium()
        var signature = [UInt8](repeating: 0, count: signatureLength)
        var length: UInt64 = 0
        let status = message.withUnsafeBufferPointer { m in
            crypto_sign_detached(&signature, &length, m.baseAddress, UInt64(m.count), privateKey)
        }
        guard status == 0, length == UInt64(signatureLength) else {
            throw .cryptoFailure(.ed25519, "crypto_sign_detached failed")
        }
        return signature
    }

    static func verify(_ signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == signatureLength, publicKey.count == publicKeyLength else { return false }
        ensureSodium()
        return message.withUnsafeBufferPointer { m in
            crypto_sign_verify_detached(signature, m.baseAddress, UInt64(m.count), publicKey) == 0
        }
    }
}
