import COpenSSL
import CSodium

/// Errors of the Noise protocol core (`NoiseHandshakeState`, `NoiseCipherState`).
/// The transport maps them to `SecurityError` with the peer and the message number.
enum NoiseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// AEAD authentication failed (wrong key, corrupted or forged ciphertext).
    case decryptionFailed(what: String)
    /// A message was shorter than the fields it must hold.
    case messageTooShort(what: String, length: Int, needed: Int)
    /// A Diffie-Hellman produced the all-zero output (a low-order public key).
    case invalidPublicKey(what: String)
    /// A private key was not 32 bytes.
    case invalidPrivateKey(length: Int)
    /// The nonce counter reached 2^64-1: the session must be rekeyed or ended.
    case nonceExhausted
    /// `writeMessage`/`readMessage` called out of turn or after the handshake completed.
    case wrongState(String)

    var description: String {
        switch self {
        case .decryptionFailed(let what): return "decryption failed (\(what))"
        case .messageTooShort(let what, let length, let needed):
            return "\(what): message of \(length) bytes is shorter than the \(needed) bytes needed"
        case .invalidPublicKey(let what): return "\(what): Diffie-Hellman with a low-order public key"
        case .invalidPrivateKey(let length): return "X25519 private key of \(length) bytes (need 32)"
        case .nonceExhausted: return "nonce counter exhausted"
        case .wrongState(let what): return "handshake state: \(what)"
        }
    }
}

/// The primitives of Noise_XX_25519_ChaChaPoly_SHA256, all from libsodium.
enum NoiseCrypto {
    static let dhLength = 32
    static let hashLength = 32
    static let keyLength = 32
    static let tagLength = 16

    private static let sodiumReady: Bool = sodium_init() >= 0

    static func ensureReady() {
        precondition(sodiumReady, "libsodium failed to initialise (sodium_init < 0)")
    }

    /// The X25519 public key of a 32-byte private key.
    static func x25519PublicKey(of privateKey: [UInt8]) throws(NoiseError) -> [UInt8] {
        ensureReady()
        guard privateKey.count == dhLength else { throw .invalidPrivateKey(length: privateKey.count) }
        var out = [UInt8](repeating: 0, count: dhLength)
        guard crypto_scalarmult_base(&out, privateKey) == 0 else { throw .invalidPrivateKey(length: privateKey.count) }
        return out
    }

    /// X25519(privateKey, publicKey); rejects the all-zero result (low-order points).
    static func x25519(_ privateKey: [UInt8], _ publicKey: [UInt8], what: String) throws(NoiseError) -> [UInt8] {
        ensureReady()
        guard privateKey.count == dhLength else { throw .invalidPrivateKey(length: privateKey.count) }
        guard publicKey.count == dhLength else {
            throw .messageTooShort(what: what, length: publicKey.count, needed: dhLength)
        }
        var out = [UInt8](repeating: 0, count: dhLength)
        guard crypto_scalarmult(&out, privateKey, publicKey) == 0 else { throw .invalidPublicKey(what: what) }
        return out
    }

    /// 32 random bytes (an X25519 private key).
    static func randomPrivateKey() -> [UInt8] {
        ensureReady()
        var out = [UInt8](repeating: 0, count: dhLength)
        randombytes_buf(&out, dhLength)
        return out
    }

    static func sha256(_ data: [UInt8]) -> [UInt8] {
        ensureReady()
        var out = [UInt8](repeating: 0, count: hashLength)
        data.withUnsafeBufferPointer { d in
            _ = crypto_hash_sha256(&out, d.baseAddress, UInt64(d.count))
        }
        return out
    }

    /// HMAC-SHA256 (libsodium's streaming API accepts keys of any length).
    static func hmacSHA256(key: [UInt8], _ parts: [UInt8]...) -> [UInt8] {
        ensureReady()
        var state = crypto_auth_hmacsha256_state()
        var out = [UInt8](repeating: 0, count: hashLength)
        let keyBytes = key.isEmpty ? [0] : key  // a valid pointer even for an empty key
        keyBytes.withUnsafeBufferPointer { k in
            guard let kp = k.baseAddress else { return }
            _ = crypto_auth_hmacsha256_init(&state, kp, key.count)
        }
        for part in parts {
            part.withUnsafeBufferPointer { p in
                _ = crypto_auth_hmacsha256_update(&state, p.baseAddress, UInt64(p.count))
            }
        }
        _ = crypto_auth_hmacsha256_final(&state, &out)
        return out
    }

    /// Noise's HKDF(chainingKey, inputKeyMaterial) with two or three outputs.
    static func hkdf(chainingKey: [UInt8], inputKeyMaterial: [UInt8], outputs: Int) -> [[UInt8]] {
        let tempKey = hmacSHA256(key: chainingKey, inputKeyMaterial)
        let output1 = hmacSHA256(key: tempKey, [0x01])
        let output2 = hmacSHA256(key: tempKey, output1, [0x02])
        if outputs == 2 { return [output1, output2] }
        let output3 = hmacSHA256(key: tempKey, output2, [0x03])
        return [output1, output2, output3]
    }

    /// The 96-bit ChaChaPoly nonce: 4 zero bytes, then the counter little-endian.
    @inline(__always)
    static func nonceBytes(_ n: UInt64) -> (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) {
        (0, 0, 0, 0,
         UInt8(truncatingIfNeeded: n), UInt8(truncatingIfNeeded: n >> 8),
         UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 24),
         UInt8(truncatingIfNeeded: n >> 32), UInt8(truncatingIfNeeded: n >> 40),
         UInt8(truncatingIfNeeded: n >> 48), UInt8(truncatingIfNeeded: n >> 56))
    }

    /// Encrypts `plaintext` into `output` (which must hold `plaintext.count + 16` bytes); false if
    /// the cipher failed. ChaCha20-Poly1305 runs in OpenSSL's EVP (several times faster than libsodium's
    /// portable code on x86-64); the published vectors check it byte for byte.
    @inline(__always)
    static func seal(
        key: UnsafePointer<UInt8>, nonce: UInt64, ad: UnsafeRawBufferPointer,
        plaintext: UnsafeRawBufferPointer, output: UnsafeMutableRawPointer
    ) -> Bool {
        guard let ctx = EVP_CIPHER_CTX_new() else { return false }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var n = nonceBytes(nonce)
        return withUnsafeBytes(of: &n) { np -> Bool in
            guard let npp = np.baseAddress?.assumingMemoryBound(to: UInt8.self),
                  EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), nil, key, npp) == 1
            else { return false }
            var written: Int32 = 0
            let out = output.assumingMemoryBound(to: UInt8.self)
            if let adp = ad.baseAddress?.assumingMemoryBound(to: UInt8.self), ad.count > 0 {
                guard EVP_EncryptUpdate(ctx, nil, &written, adp, Int32(ad.count)) == 1 else { return false }
            }
            if let pp = plaintext.baseAddress?.assumingMemoryBound(to: UInt8.self), plaintext.count > 0 {
                guard EVP_EncryptUpdate(ctx, out, &written, pp, Int32(plaintext.count)) == 1,
                      Int(written) == plaintext.count
                else { return false }
            }
            guard EVP_EncryptFinal_ex(ctx, out + plaintext.count, &written) == 1 else { return false }
            return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, Int32(tagLength), out + plaintext.count) == 1
        }
    }

    /// Decrypts and authenticates `ciphertext` (≥ 16 bytes) into `output` (which must hold
    /// `ciphertext.count - 16` bytes); false when authentication fails (the output is then garbage).
    @inline(__always)
    static func open(
        key: UnsafePointer<UInt8>, nonce: UInt64, ad: UnsafeRawBufferPointer,
        ciphertext: UnsafeRawBufferPointer, output: UnsafeMutableRawPointer?
    ) -> Bool {
        guard ciphertext.count >= tagLength, let ctx = EVP_CIPHER_CTX_new() else { return false }
        defer { EVP_CIPHER_CTX_free(ctx) }
        let plainCount = ciphertext.count - tagLength
        var n = nonceBytes(nonce)
        return withUnsafeBytes(of: &n) { np -> Bool in
            guard let npp = np.baseAddress?.assumingMemoryBound(to: UInt8.self),
                  let cp = ciphertext.baseAddress?.assumingMemoryBound(to: UInt8.self),
                  EVP_DecryptInit_ex(ctx, EVP_chacha20_poly1305(), nil, key, npp) == 1
            else { return false }
            var written: Int32 = 0
            if let adp = ad.baseAddress?.assumingMemoryBound(to: UInt8.self), ad.count > 0 {
                guard EVP_DecryptUpdate(ctx, nil, &written, adp, Int32(ad.count)) == 1 else { return false }
            }
            if plainCount > 0 {
                guard let out = output?.assumingMemoryBound(to: UInt8.self),
                      EVP_DecryptUpdate(ctx, out, &written, cp, Int32(plainCount)) == 1
                else { return false }
            }
            var tag = (UInt64(0), UInt64(0))
            return withUnsafeMutableBytes(of: &tag) { tp -> Bool in
                guard let tagPointer = tp.baseAddress else { return false }
                tagPointer.copyMemory(from: cp + plainCount, byteCount: tagLength)
                guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, Int32(tagLength), tagPointer) == 1 else {
                    return false
                }
                var finalBytes = (UInt64(0), UInt64(0))
                return withUnsafeMutableBytes(of: &finalBytes) { fp -> Bool in
                    guard let f = fp.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
                    return EVP_DecryptFinal_ex(ctx, f, &written) == 1
                }
            }
        }
    }
}
