import IPLD
import P2PCrypto

/// Why an IPNS record could not be created, parsed or accepted. Each case names what failed.
public enum IPNSError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The serialized record is larger than `IPNSRecord.maxSize` (10 KiB).
    case recordTooLarge(size: Int)
    /// The bytes are not an `IpnsEntry` protobuf.
    case invalidProtobuf(String)
    /// The record has no (or an empty) `signatureV2`: V1-only records are not accepted.
    case missingSignatureV2
    /// The record has no (or an empty) `data` field.
    case missingData
    /// `data` is not DAG-CBOR, or is not a map.
    case invalidData(String)
    /// A field of the `data` map is absent or has the wrong kind (field name, what was wrong).
    case invalidDataField(String, String)
    /// `ValidityType` is not 0 (EOL), the only type defined.
    case unsupportedValidityType(Int64)
    /// The `Validity` field is not RFC 3339 text.
    case invalidValidity(String)
    /// The `pubKey` field is not a public key protobuf.
    case invalidPublicKey(KeyError)
    /// The `pubKey` field belongs to another peer than the name.
    case publicKeyMismatch(name: String, keyPeer: String)
    /// The record carries no key and the name does not inline one (an RSA name needs `pubKey`).
    case publicKeyNotFound(name: String)
    /// A legacy (V1) protobuf field differs from the same field in the signed `data` (its CBOR key).
    case fieldMismatch(String)
    /// `signatureV2` does not verify against the name's key.
    case invalidSignature
    /// The validity EOL has passed.
    case expired(validity: String)
    /// Signing or encoding failed while creating a record.
    case creationFailed(String)

    public var description: String {
        switch self {
        case let .recordTooLarge(size): return "IPNS record is \(size) bytes, more than the \(IPNSRecord.maxSize)-byte limit"
        case let .invalidProtobuf(why): return "IPNS record is not an IpnsEntry protobuf: \(why)"
        case .missingSignatureV2: return "IPNS record has no signatureV2 (V1-only records are not accepted)"
        case .missingData: return "IPNS record has no data field"
        case let .invalidData(why): return "IPNS record data is not a DAG-CBOR map: \(why)"
        case let .invalidDataField(field, why): return "IPNS record data field \(field): \(why)"
        case let .unsupportedValidityType(type): return "IPNS record validity type \(type) is not EOL (0)"
        case let .invalidValidity(text): return "IPNS record validity \"\(text)\" is not an RFC 3339 time"
        case let .invalidPublicKey(error): return "IPNS record pubKey is not a public key: \(error)"
        case let .publicKeyMismatch(name, keyPeer):
            return "IPNS record pubKey is peer \(keyPeer), not the name \(name)"
        case let .publicKeyNotFound(name):
            return "IPNS record for \(name) carries no pubKey and the name does not inline its key"
        case let .fieldMismatch(field): return "IPNS record field \"\(field)\" differs between the protobuf and data"
        case .invalidSignature: return "IPNS record signatureV2 does not verify"
        case let .expired(validity): return "IPNS record expired at \(validity)"
        case let .creationFailed(why): return "IPNS record could not be created: \(why)"
        }
    }
}
