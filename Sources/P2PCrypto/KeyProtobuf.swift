import Foundation
import Multiformats
import SwiftProtobuf

/// Encoding and strict decoding of the `crypto.pb.PublicKey` / `crypto.pb.PrivateKey` messages.
///
/// Both messages have the same shape (`required KeyType Type = 1; required bytes Data = 2;`).
/// Encoding is deterministic as libp2p demands: field 1 then field 2, minimal varints, both present.
/// Decoding rejects missing fields, unknown fields and unknown key types; it accepts fields in any order
/// (as go-libp2p does) — the canonical bytes are always re-derived with `encode`.
enum KeyProtobuf {
    static func encodePublic(type: KeyType, data: [UInt8]) -> [UInt8] {
        var message = Crypto_Pb_PublicKey()
        message.type = protoType(type)
        message.data = Data(data)
        return serialize(message)
    }

    static func encodePrivate(type: KeyType, data: [UInt8]) -> [UInt8] {
        var message = Crypto_Pb_PrivateKey()
        message.type = protoType(type)
        message.data = Data(data)
        return serialize(message)
    }

    static func decodePublic(_ bytes: [UInt8]) throws(KeyError) -> (type: KeyType, data: [UInt8]) {
        let message: Crypto_Pb_PublicKey
        do {
            message = try Crypto_Pb_PublicKey(serializedBytes: bytes, partial: true)
        } catch {
            throw .malformedProtobuf("PublicKey: \(error)")
        }
        return try validate(
            name: "PublicKey", hasType: message.hasType, type: message.type, hasData: message.hasData,
            data: message.data, unknown: message.unknownFields.data)
    }

    static func decodePrivate(_ bytes: [UInt8]) throws(KeyError) -> (type: KeyType, data: [UInt8]) {
        let message: Crypto_Pb_PrivateKey
        do {
            message = try Crypto_Pb_PrivateKey(serializedBytes: bytes, partial: true)
        } catch {
            throw .malformedProtobuf("PrivateKey: \(error)")
        }
        return try validate(
            name: "PrivateKey", hasType: message.hasType, type: message.type, hasData: message.hasData,
            data: message.data, unknown: message.unknownFields.data)
    }

    private static func validate(
        name: String, hasType: Bool, type: Crypto_Pb_KeyType, hasData: Bool, data: Data, unknown: Data
    ) throws(KeyError) -> (type: KeyType, data: [UInt8]) {
        if !unknown.isEmpty {
            // proto2 keeps an out-of-range enum value as an unknown field 1 (tag byte 0x08).
            let extra = [UInt8](unknown)
            if extra.first == 0x08, let value = try? Varint.decode(extra.dropFirst()).value {
                throw .unknownKeyType(Int(truncatingIfNeeded: value))
            }
            throw .malformedProtobuf("\(name) has unknown fields (\(extra.count) bytes)")
        }
        guard hasType else { throw .malformedProtobuf("\(name) is missing field 1 (Type)") }
        guard hasData else { throw .malformedProtobuf("\(name) is missing field 2 (Data)") }
        guard let keyType = KeyType(rawValue: type.rawValue) else { throw .unknownKeyType(type.rawValue) }
        return (keyType, [UInt8](data))
    }

    private static func protoType(_ type: KeyType) -> Crypto_Pb_KeyType {
        // Every KeyType raw value is a case of the generated enum (same numbering as crypto.proto).
        Crypto_Pb_KeyType(rawValue: type.rawValue) ?? .rsa
    }

    private static func serialize(_ message: some SwiftProtobuf.Message) -> [UInt8] {
        do {
            return try message.serializedBytes()
        } catch {
            // Only a message with unset required fields fails to serialize; both fields are always set here.
            preconditionFailure("serializing a complete key protobuf failed: \(error)")
        }
    }
}
