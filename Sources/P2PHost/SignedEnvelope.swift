import Foundation
import Multiformats
import P2PCrypto
import SwiftProtobuf

/// Why a signed envelope could not be made or opened.
public enum SignedEnvelopeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The bytes are not an `Envelope` protobuf, or `field` is missing/invalid.
    case malformed(field: String, reason: String)
    /// The envelope's public key is not a valid libp2p key.
    case badPublicKey(String)
    /// The signature does not verify for `domain` under the key of `signer`.
    case badSignature(signer: PeerID, domain: String)
    /// The payload type is not the one the caller expected.
    case wrongPayloadType(expected: [UInt8], actual: [UInt8])
    /// Signing failed.
    case signingFailed(String)
    /// The envelope exceeds `limit` bytes.
    case tooLarge(length: Int, limit: Int)

    public var description: String {
        switch self {
        case .malformed(let field, let reason): return "signed envelope: malformed \(field): \(reason)"
        case .badPublicKey(let reason): return "signed envelope: bad public key: \(reason)"
        case .badSignature(let signer, let domain):
            return "signed envelope: signature by \(signer) does not verify for domain \"\(domain)\""
        case .wrongPayloadType(let expected, let actual):
            return "signed envelope: payload type \(hex(actual)), expected \(hex(expected))"
        case .signingFailed(let reason): return "signed envelope: signing failed: \(reason)"
        case .tooLarge(let length, let limit): return "signed envelope: \(length) bytes exceed the limit of \(limit)"
        }
    }

    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}

/// A libp2p signed envelope (libp2p/specs RFC 0002): a payload, its type and the signer's public key,
/// signed over `varint(len) ‖ domain ‖ varint(len) ‖ payloadType ‖ varint(len) ‖ payload`.
public struct SignedEnvelope: Sendable, Equatable {
    /// Largest envelope `open` accepts.
    public static let maxSize = 16 * 1024

    /// The signer's key.
    public let publicKey: PublicKey
    /// What the payload is (usually a multicodec).
    public let payloadType: [UInt8]
    /// The signed payload.
    public let payload: [UInt8]
    /// The signature over the domain, the payload type and the payload.
    public let signature: [UInt8]

    /// The signer's peer ID.
    public var signer: PeerID { PeerID(publicKey: publicKey) }

    /// Signs `payload` of `payloadType` for `domain` with `key`.
    public static func seal(
        payload: [UInt8], payloadType: [UInt8], domain: String, key: PrivateKey
    ) throws(SignedEnvelopeError) -> SignedEnvelope {
        let message = signedBytes(domain: domain, payloadType: payloadType, payload: payload)
        let signature: [UInt8]
        do {
            signature = try key.sign(message)
        } catch {
            throw .signingFailed(error.description)
        }
        return SignedEnvelope(publicKey: key.publicKey, payloadType: payloadType, payload: payload, signature: signature)
    }

    /// Signs `record` with `key` (domain `libp2p-peer-record`, payload type 0x0301).
    public static func seal(_ record: PeerRecord, key: PrivateKey) throws(SignedEnvelopeError) -> SignedEnvelope {
        try seal(payload: record.encode(), payloadType: PeerRecord.payloadType, domain: PeerRecord.domain, key: key)
    }

    /// The `Envelope` protobuf.
    public var bytes: [UInt8] {
        var pb = Record_Pb_Envelope()
        pb.publicKey.type = Crypto_Pb_KeyType(rawValue: publicKey.type.rawValue) ?? .rsa
        pb.publicKey.data = Data(publicKey.data)
        pb.payloadType = Data(payloadType)
        pb.payload = Data(payload)
        pb.signature = Data(signature)
        return (try? pb.serializedBytes()) ?? []
    }

    /// Decodes an `Envelope` protobuf and verifies its signature for `domain`.
    /// When `payloadType` is given the envelope must carry that type.
    public static func open(
        _ bytes: [UInt8], domain: String, payloadType expected: [UInt8]? = nil
    ) throws(SignedEnvelopeError) -> SignedEnvelope {
        guard bytes.count <= maxSize else { throw .tooLarge(length: bytes.count, limit: maxSize) }
        let pb: Record_Pb_Envelope
        do {
            pb = try Record_Pb_Envelope(serializedBytes: bytes)
        } catch {
            throw .malformed(field: "envelope", reason: "\(error)")
        }
        guard pb.hasPublicKey else { throw .malformed(field: "public_key", reason: "missing") }
        let key: PublicKey
        do {
            let keyBytes: [UInt8] = try pb.publicKey.serializedBytes()
            key = try PublicKey(protobuf: keyBytes)
        } catch let error as KeyError {
            throw .badPublicKey(error.description)
        } catch {
            throw .badPublicKey("\(error)")
        }
        let envelope = SignedEnvelope(
            publicKey: key, payloadType: Array(pb.payloadType), payload: Array(pb.payload),
            signature: Array(pb.signature))
        if let expected, envelope.payloadType != expected {
            throw .wrongPayloadType(expected: expected, actual: envelope.payloadType)
        }
        let message = signedBytes(domain: domain, payloadType: envelope.payloadType, payload: envelope.payload)
        guard key.verify(signature: envelope.signature, message: message) else {
            throw .badSignature(signer: envelope.signer, domain: domain)
        }
        return envelope
    }

    /// The bytes a signature covers.
    static func signedBytes(domain: String, payloadType: [UInt8], payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        let domainBytes = Array(domain.utf8)
        out.reserveCapacity(domainBytes.count + payloadType.count + payload.count + 12)
        for part in [domainBytes, payloadType, payload] {
            out.append(contentsOf: Varint.encode(UInt64(part.count)))
            out.append(contentsOf: part)
        }
        return out
    }
}
