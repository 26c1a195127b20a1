/// An X25519 key pair for Noise (static or ephemeral).
struct NoiseKeyPair: Sendable {
    let privateKey: [UInt8]
    let publicKey: [UInt8]

    /// The key pair of a given 32-byte private key (test vectors inject their keys this way).
    init(privateKey: [UInt8]) throws(NoiseError) {
        self.publicKey = try NoiseCrypto.x25519PublicKey(of: privateKey)
        self.privateKey = privateKey
    }

    /// A fresh random key pair.
    static func generate() -> NoiseKeyPair {
        while true {
            if let pair = try? NoiseKeyPair(privateKey: NoiseCrypto.randomPrivateKey()) { return pair }
        }
    }
}

/// Noise CipherState: a ChaCha20-Poly1305 key and a 64-bit nonce counter (Noise spec §5.1).
struct NoiseCipherState: Sendable {
    private(set) var key: [UInt8]?
    /// The next nonce.
    private(set) var nonce: UInt64 = 0

    init(key: [UInt8]? = nil) { self.key = key }

    var hasKey: Bool { key != nil }

    /// EncryptWithAd: returns the plaintext unchanged while no key is set.
    mutating func encrypt(ad: [UInt8], plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard let key else { return plaintext }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: plaintext.count + NoiseCrypto.tagLength) { buffer, count in
            ok = key.withUnsafeBufferPointer { k in
                ad.withUnsafeBytes { a in
                    plaintext.withUnsafeBytes { p in
                        guard let kp = k.baseAddress, let op = buffer.baseAddress else { return false }
                        return NoiseCrypto.seal(
                            key: kp, nonce: nonce, ad: a, plaintext: p, output: UnsafeMutableRawPointer(op))
                    }
                }
            }
            count = ok ? plaintext.count + NoiseCrypto.tagLength : 0
        }
        guard ok else { throw .wrongState("ChaCha20-Poly1305 encryption failed") }
        nonce += 1
        return out
    }

    /// DecryptWithAd: returns the ciphertext unchanged while no key is set.
    mutating func decrypt(ad: [UInt8], ciphertext: [UInt8], what: String) throws(NoiseError) -> [UInt8] {
        guard let key else { return ciphertext }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        guard ciphertext.count >= NoiseCrypto.tagLength else {
            throw .messageTooShort(what: what, length: ciphertext.count, needed: NoiseCrypto.tagLength)
        }
        let plainCount = ciphertext.count - NoiseCrypto.tagLength
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: max(plainCount, 1)) { buffer, count in
            ok = key.withUnsafeBufferPointer { k in
                ad.withUnsafeBytes { a in
                    ciphertext.withUnsafeBytes { c in
                        guard let kp = k.baseAddress else { return false }
                        return NoiseCrypto.open(
                            key: kp, nonce: nonce, ad: a, ciphertext: c,
                            output: UnsafeMutableRawPointer(buffer.baseAddress))
                    }
                }
            }
            count = ok ? plainCount : 0
        }
        guard ok else { throw .decryptionFailed(what: what) }
        nonce += 1
        return out
    }

    /// Encrypts `plaintext` (no associated data) into `output` at `offset`, which must have room for
    /// `plaintext.count + 16` bytes. The transport's fast path: no intermediate arrays.
    mutating func encrypt(
        _ plaintext: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, at offset: Int
    ) throws(NoiseError) {
        guard let key else { throw .wrongState("encrypt without a key") }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        guard let base = output.baseAddress, output.count - offset >= plaintext.count + NoiseCrypto.tagLength else {
            throw .wrongState("encryption output buffer too small")
        }
        let n = nonce
        let ok = key.withUnsafeBufferPointer { k in
            guard let kp = k.baseAddress else { return false }
            return NoiseCrypto.seal(key: kp, nonce: n, ad: UnsafeRawBufferPointer(start: nil, count: 0),
                                    plaintext: plaintext, output: base + offset)
        }
        guard ok else { throw .wrongState("ChaCha20-Poly1305 encryption failed") }
        nonce += 1
    }

    /// Decrypts `ciphertext` (no associated data) into a new array of `ciphertext.count - 16` bytes.
    mutating func decrypt(_ ciphertext: UnsafeRawBufferPointer, what: String) throws(NoiseError) -> [UInt8] {
        guard let key else { throw .wrongState("decrypt without a key") }
        guard nonce < UInt64.max else { throw .nonceExhausted }
        guard ciphertext.count >= NoiseCrypto.tagLength else {
            throw .messageTooShort(what: what, length: ciphertext.count, needed: NoiseCrypto.tagLength)
        }
        let plainCount = ciphertext.count - NoiseCrypto.tagLength
        let n = nonce
        var ok = false
        let out = [UInt8](unsafeUninitializedCapacity: max(plainCount, 1)) { buffer, count in
            ok = key.withUnsafeBufferPointer { k in
                guard let kp = k.baseAddress else { return false }
                return NoiseCrypto.open(key: kp, nonce: n, ad: UnsafeRawBufferPointer(start: nil, count: 0),
                                        ciphertext: ciphertext, output: UnsafeMutableRawPointer(buffer.baseAddress))
            }
            count = ok ? plainCount : 0
        }
        guard ok else { throw .decryptionFailed(what: what) }
        nonce += 1
        return out
    }
}

/// Noise SymmetricState (Noise spec §5.2): chaining key, handshake hash and a CipherState.
struct NoiseSymmetricState: Sendable {
    private(set) var chainingKey: [UInt8]
    private(set) var handshakeHash: [UInt8]
    private(set) var cipher = NoiseCipherState()

    init(protocolName: String) {
        let name = Array(protocolName.utf8)
        if name.count <= NoiseCrypto.hashLength {
            handshakeHash = name + [UInt8](repeating: 0, count: NoiseCrypto.hashLength - name.count)
        } else {
            handshakeHash = NoiseCrypto.sha256(name)
        }
        chainingKey = handshakeHash
    }

    mutating func mixKey(_ inputKeyMaterial: [UInt8]) {
        let out = NoiseCrypto.hkdf(chainingKey: chainingKey, inputKeyMaterial: inputKeyMaterial, outputs: 2)
        chainingKey = out[0]
        cipher = NoiseCipherState(key: out[1])
    }

    mutating func mixHash(_ data: [UInt8]) {
        handshakeHash = NoiseCrypto.sha256(handshakeHash + data)
    }

    mutating func encryptAndHash(_ plaintext: [UInt8]) throws(NoiseError) -> [UInt8] {
        let ciphertext = try cipher.encrypt(ad: handshakeHash, plaintext: plaintext)
        mixHash(ciphertext)
        return ciphertext
    }

    mutating func decryptAndHash(_ ciphertext: [UInt8], what: String) throws(NoiseError) -> [UInt8] {
        let plaintext = try cipher.decrypt(ad: handshakeHash, ciphertext: ciphertext, what: what)
        mixHash(ciphertext)
        return plaintext
    }

    /// Split(): the initiator's sending and the responder's sending cipher states.
    func split() -> (NoiseCipherState, NoiseCipherState) {
        let out = NoiseCrypto.hkdf(chainingKey: chainingKey, inputKeyMaterial: [], outputs: 2)
        return (NoiseCipherState(key: out[0]), NoiseCipherState(key: out[1]))
    }
}

/// The Noise_XX_25519_ChaChaPoly_SHA256 handshake (Noise spec §5.3, §7.5) as a pure value: no I/O.
///
///     XX:
///       -> e
///       <- e, ee, s, es
///       -> s, se
///
/// Ephemeral keys can be injected so that published test vectors replay byte for byte.
/// Message 1 still runs EncryptAndHash over its (empty) payload, i.e. MixHash of the payload.
struct NoiseHandshakeState: Sendable {
    static let protocolName = "Noise_XX_25519_ChaChaPoly_SHA256"

    /// Which side of the handshake.
    enum Role: Sendable { case initiator, responder }

    let role: Role
    private var symmetric: NoiseSymmetricState
    private let localStatic: NoiseKeyPair
    private var localEphemeral: NoiseKeyPair?
    private let injectedEphemeral: NoiseKeyPair?
    /// The remote static public key, once received (after message 2 for the initiator, 3 for the responder).
    private(set) var remoteStaticKey: [UInt8]?
    private var remoteEphemeral: [UInt8]?
    /// How many handshake messages were written or read (0...3).
    private(set) var messageIndex = 0

    init(role: Role, localStatic: NoiseKeyPair, localEphemeral: NoiseKeyPair? = nil, prologue: [UInt8] = []) {
        self.role = role
        self.localStatic = localStatic
        self.injectedEphemeral = localEphemeral
        symmetric = NoiseSymmetricState(protocolName: Self.protocolName)
        symmetric.mixHash(prologue)
    }

    /// True after the third message.
    var isComplete: Bool { messageIndex >= 3 }

    /// The handshake hash h (for channel binding and the vectors' `handshake_hash`).
    var handshakeHash: [UInt8] { symmetric.handshakeHash }

    /// True when it is our turn to write.
    var isMyTurnToWrite: Bool {
        guard !isComplete else { return false }
        return (messageIndex % 2 == 0) == (role == .initiator)
    }

    private mutating func ephemeral() -> NoiseKeyPair {
        let pair = injectedEphemeral ?? NoiseKeyPair.generate()
        localEphemeral = pair
        return pair
    }

    /// Writes the next handshake message carrying `payload`.
    mutating func writeMessage(payload: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard isMyTurnToWrite else { throw .wrongState("writeMessage out of turn at message \(messageIndex + 1)") }
        var out: [UInt8] = []
        switch messageIndex {
        case 0:  // -> e
            let e = ephemeral()
            out += e.publicKey
            symmetric.mixHash(e.publicKey)
        case 1:  // <- e, ee, s, es
            let e = ephemeral()
            out += e.publicKey
            symmetric.mixHash(e.publicKey)
            guard let re = remoteEphemeral else { throw .wrongState("no remote ephemeral key") }
            symmetric.mixKey(try NoiseCrypto.x25519(e.privateKey, re, what: "ee"))
            out += try symmetric.encryptAndHash(localStatic.publicKey)
            symmetric.mixKey(try NoiseCrypto.x25519(localStatic.privateKey, re, what: "es"))
        default:  // -> s, se
            out += try symmetric.encryptAndHash(localStatic.publicKey)
            guard let re = remoteEphemeral else { throw .wrongState("no remote ephemeral key") }
            symmetric.mixKey(try NoiseCrypto.x25519(localStatic.privateKey, re, what: "se"))
        }
        out += try symmetric.encryptAndHash(payload)
        messageIndex += 1
        return out
    }

    /// Reads the next handshake message and returns its payload.
    mutating func readMessage(_ message: [UInt8]) throws(NoiseError) -> [UInt8] {
        guard !isComplete, !isMyTurnToWrite else {
            throw .wrongState("readMessage out of turn at message \(messageIndex + 1)")
        }
        let what = "handshake message \(messageIndex + 1)"
        var offset = 0
        func take(_ count: Int) throws(NoiseError) -> [UInt8] {
            guard message.count - offset >= count else {
                throw .messageTooShort(what: what, length: message.count, needed: offset + count)
            }
            defer { offset += count }
            return Array(message[offset..<(offset + count)])
        }
        let encryptedKeyLength = NoiseCrypto.dhLength + NoiseCrypto.tagLength
        switch messageIndex {
        case 0:  // -> e
            let re = try take(NoiseCrypto.dhLength)
            remoteEphemeral = re
            symmetric.mixHash(re)
        case 1:  // <- e, ee, s, es
            let re = try take(NoiseCrypto.dhLength)
            remoteEphemeral = re
            symmetric.mixHash(re)
            guard let e = localEphemeral else { throw .wrongState("no local ephemeral key") }
            symmetric.mixKey(try NoiseCrypto.x25519(e.privateKey, re, what: "ee"))
            let rs = try symmetric.decryptAndHash(try take(encryptedKeyLength), what: "\(what) static key")
            remoteStaticKey = rs
            symmetric.mixKey(try NoiseCrypto.x25519(e.privateKey, rs, what: "es"))
        default:  // -> s, se
            let rs = try symmetric.decryptAndHash(try take(encryptedKeyLength), what: "\(what) static key")
            remoteStaticKey = rs
            guard let e = localEphemeral else { throw .wrongState("no local ephemeral key") }
            symmetric.mixKey(try NoiseCrypto.x25519(e.privateKey, rs, what: "se"))
        }
        let payload = try symmetric.decryptAndHash(Array(message[offset...]), what: "\(what) payload")
        messageIndex += 1
        return payload
    }

    /// After the handshake: (cipher for sending, cipher for receiving) from our point of view.
    func transportCiphers() throws(NoiseError) -> (send: NoiseCipherState, receive: NoiseCipherState) {
        guard isComplete else { throw .wrongState("split before the handshake completed") }
        let (c1, c2) = symmetric.split()
        return role == .initiator ? (c1, c2) : (c2, c1)
    }
}
