/// A libp2p public key: its type and its type-specific encoding (the `Data` field of `crypto.pb.PublicKey`).
///
/// Construction validates the key, so a `PublicKey` value always holds a usable key. secp256k1 points are
/// stored compressed (an uncompressed 65-byte input is accepted and compressed, as go-libp2p does).
public struct PublicKey: Hashable, Sendable, CustomStringConvertible {
    /// The key algorithm.
    public let type: KeyType
    /// The key in its libp2p encoding: DER SubjectPublicKeyInfo (RSA, ECDSA), 32 bytes (Ed25519),
    /// 33-byte compressed point (secp256k1).
    public let data: [UInt8]

    /// Validates `data` as a public key of `type`.
    public init(type: KeyType, data: [UInt8]) throws(KeyError) {
        switch type {
        case .ed25519:
            try Ed25519Keys.checkPublicKey(data)
            self.data = data
        case .rsa:
            _ = try RSAKeys.publicKey(data)
            self.data = data
        case .ecdsa:
            _ = try ECDSAKeys.publicKey(data)
            self.data = data
        case .secp256k1:
            self.data = try Secp256k1Keys.normalizePublicKey(data)
        }
        self.type = type
    }

    /// Used where the data is already known to be valid (derived from a validated private key).
    init(validated type: KeyType, data: [UInt8]) {
        self.type = type
        self.data = data
    }

    /// Decodes a serialized `crypto.pb.PublicKey` protobuf and validates the key it holds.
    ///
    /// Rejects missing fields, unknown fields and unknown key types.
    public init(protobuf bytes: [UInt8]) throws(KeyError) {
        let (type, data) = try KeyProtobuf.decodePublic(bytes)
        try self.init(type: type, data: data)
    }

    /// The deterministic `crypto.pb.PublicKey` encoding (field 1 Type, then field 2 Data), from which
    /// peer IDs are derived.
    public var protobufBytes: [UInt8] { KeyProtobuf.encodePublic(type: type, data: data) }

    /// Whether `signature` is this key's valid signature of `message` (Ed25519 over the message itself;
    /// RSA PKCS#1 v1.5 and DER ECDSA over its SHA-256 digest). Never throws: malformed signatures are invalid.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        switch type {
        case .ed25519:
            return Ed25519Keys.verify(signature, message: message, publicKey: data)
        case .rsa:
            guard let key = try? RSAKeys.publicKey(data) else { return false }
            return OpenSSL.verify(signature, message: message, with: key)
        case .ecdsa:
            guard let key = try? ECDSAKeys.publicKey(data) else { return false }
            return OpenSSL.verify(signature, message: message, with: key)
        case .secp256k1:
            return Secp256k1Keys.verify(signature, message: message, publicKey: data)
        }
    }

    public var description: String { "\(type) public key (\(data.count) bytes)" }
}
