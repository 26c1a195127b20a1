/// A libp2p private key: its type, its type-specific encoding (the `Data` field of `crypto.pb.PrivateKey`)
/// and the public key derived from it.
///
/// Construction validates the key and derives the public key, so a Kubo identity (`Identity.PrivKey`,
/// a base64 `PrivateKey` protobuf holding only the private key) yields its peer ID.
public struct PrivateKey: Equatable, Sendable, CustomStringConvertible {
    /// The key algorithm.
    public let type: KeyType
    /// The key in its libp2p encoding: PKCS#1 DER (RSA), 64 bytes seed ‖ public key (Ed25519),
    /// 32-byte scalar (secp256k1), DER SEC1 `ECPrivateKey` (ECDSA). Secret: handle with care.
    public let data: [UInt8]
    /// The matching public key.
    public let publicKey: PublicKey

    /// Validates `data` as a private key of `type` and derives its public key.
    ///
    /// Ed25519 accepts the 64-byte form and the legacy 96-byte form (seed ‖ public ‖ public, both copies
    /// equal), which is stored as 64 bytes; the public half must be the one the seed derives.
    public init(type: KeyType, data: [UInt8]) throws(KeyError) {
        switch type {
        case .ed25519:
            let normalized = try Ed25519Keys.normalizePrivateKey(data)
            self.data = normalized
            publicKey = PublicKey(validated: .ed25519, data: Array(normalized.suffix(Ed25519Keys.publicKeyLength)))
        case .rsa:
            let key = try RSAKeys.privateKey(data)
            self.data = data
            publicKey = PublicKey(validated: .rsa, data: try RSAKeys.publicKeyData(of: key))
        case .ecdsa:
            let key = try ECDSAKeys.privateKey(data)
            self.data = data
            publicKey = PublicKey(validated: .ecdsa, data: try ECDSAKeys.publicKeyData(of: key))
        case .secp256k1:
            self.data = data
            publicKey = PublicKey(validated: .secp256k1, data: try Secp256k1Keys.publicKey(ofPrivate: data))
        }
        self.type = type
    }

    /// Decodes a serialized `crypto.pb.PrivateKey` protobuf, validates the key and derives its public key.
    ///
    /// Rejects missing fields, unknown fields and unknown key types.
    public init(protobuf bytes: [UInt8]) throws(KeyError) {
        let (type, data) = try KeyProtobuf.decodePrivate(bytes)
        try self.init(type: type, data: data)
    }

    /// A new random Ed25519 key (libsodium).
    public static func generateEd25519() -> PrivateKey {
        let secret = Ed25519Keys.generate()
        return PrivateKey(
            type: .ed25519, data: secret,
            publicKey: PublicKey(validated: .ed25519, data: Array(secret.suffix(Ed25519Keys.publicKeyLength))))
    }

    /// A new random key of `type`: Ed25519, RSA (`rsaBits`, default 2048 as Kubo), ECDSA on P-256, or secp256k1.
    public static func generate(_ type: KeyType, rsaBits: Int = 2048) throws(KeyError) -> PrivateKey {
        switch type {
        case .ed25519:
            return generateEd25519()
        case .rsa:
            let (der, key) = try RSAKeys.generate(bits: rsaBits)
            return PrivateKey(type: .rsa, data: der, publicKey: PublicKey(validated: .rsa, data: try RSAKeys.publicKeyData(of: key)))
        case .ecdsa:
            let (der, key) = try ECDSAKeys.generateP256()
            return PrivateKey(
                type: .ecdsa, data: der, publicKey: PublicKey(validated: .ecdsa, data: try ECDSAKeys.publicKeyData(of: key)))
        case .secp256k1:
            return try PrivateKey(type: .secp256k1, data: Secp256k1Keys.generate())
        }
    }

    private init(type: KeyType, data: [UInt8], publicKey: PublicKey) {
        self.type = type
        self.data = data
        self.publicKey = publicKey
    }

    /// The deterministic `crypto.pb.PrivateKey` encoding (as Kubo stores in its config's `Identity.PrivKey`).
    public var protobufBytes: [UInt8] { KeyProtobuf.encodePrivate(type: type, data: data) }

    /// Signs `message`: Ed25519 (deterministic), RSA PKCS#1 v1.5 over SHA-256 (deterministic), DER ECDSA over
    /// SHA-256 (randomized nonce; secp256k1 signatures are normalized to low S).
    public func sign(_ message: [UInt8]) throws(KeyError) -> [UInt8] {
        switch type {
        case .ed25519:
            return try Ed25519Keys.sign(message, privateKey: data)
        case .rsa:
            return try OpenSSL.sign(message, with: try RSAKeys.privateKey(data), type: .rsa)
        case .ecdsa:
            return try OpenSSL.sign(message, with: try ECDSAKeys.privateKey(data), type: .ecdsa)
        case .secp256k1:
            return try Secp256k1Keys.sign(message, privateKey: data, publicKey: publicKey.data)
        }
    }

    /// Does not reveal the key.
    public var description: String { "\(type) private key (public: \(publicKey.data.count) bytes)" }
}
