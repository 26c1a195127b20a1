/// The libp2p key types, numbered as in `crypto.proto` (libp2p/specs peer-ids/peer-ids.md).
public enum KeyType: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// RSA: public key = DER SubjectPublicKeyInfo, private key = PKCS#1 DER; PKCS#1 v1.5 + SHA-256 signatures.
    case rsa = 0
    /// Ed25519: public key = 32 bytes, private key = 64 bytes (seed ‖ public key).
    case ed25519 = 1
    /// secp256k1: public key = 33-byte compressed point, private key = 32-byte scalar; DER ECDSA over SHA-256.
    case secp256k1 = 2
    /// ECDSA (NIST curves, P-256 in practice): public key = DER SubjectPublicKeyInfo,
    /// private key = DER SEC1 `ECPrivateKey`; DER ECDSA signatures over SHA-256.
    case ecdsa = 3

    public var description: String {
        switch self {
        case .rsa: "RSA"
        case .ed25519: "Ed25519"
        case .secp256k1: "secp256k1"
        case .ecdsa: "ECDSA"
        }
    }
}

/// Why a key could not be decoded, validated or used.
public enum KeyError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The `PublicKey`/`PrivateKey` protobuf is not valid (message names the problem).
    case malformedProtobuf(String)
    /// The protobuf's `Type` field holds a value that is not a known key type.
    case unknownKeyType(Int)
    /// The key data has the wrong length for its type.
    case invalidKeyLength(KeyType, expected: String, actual: Int)
    /// The key data could not be decoded (bad DER, point not on the curve, trailing bytes, ...).
    case invalidKeyEncoding(KeyType, String)
    /// The key data decodes but holds another algorithm or curve than its type promises.
    case wrongAlgorithm(KeyType, found: String)
    /// An RSA key outside the sizes libp2p accepts (2048 ... 8192 bits, as go-libp2p).
    case unsupportedRSAKeySize(bits: Int)
    /// The private key's embedded public key does not belong to it.
    case inconsistentKeyPair(KeyType, String)
    /// This operation is not supported for this key type.
    case unsupportedOperation(KeyType, String)
    /// The crypto library failed where it should not (message carries its error text).
    case cryptoFailure(KeyType, String)
    /// A PKCS#8 `PrivateKeyInfo` (DER or PEM) could not be read (message names the problem).
    case invalidPKCS8(String)

    public var description: String {
        switch self {
        case .malformedProtobuf(let why): "malformed key protobuf: \(why)"
        case .unknownKeyType(let v): "unknown key type \(v) (expected 0 RSA, 1 Ed25519, 2 secp256k1, 3 ECDSA)"
        case .invalidKeyLength(let t, let expected, let actual):
            "invalid \(t) key length: expected \(expected) bytes, got \(actual)"
        case .invalidKeyEncoding(let t, let why): "invalid \(t) key encoding: \(why)"
        case .wrongAlgorithm(let t, let found): "key declared as \(t) holds \(found)"
        case .unsupportedRSAKeySize(let bits): "RSA key of \(bits) bits is outside the accepted 2048...8192 bits"
        case .inconsistentKeyPair(let t, let why): "inconsistent \(t) key pair: \(why)"
        case .unsupportedOperation(let t, let what): "\(t) keys do not support \(what)"
        case .cryptoFailure(let t, let why): "\(t) crypto operation failed: \(why)"
        case .invalidPKCS8(let why): "invalid PKCS#8 private key: \(why)"
        }
    }
}
