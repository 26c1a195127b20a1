import Multiformats
import Testing

@testable import P2PCrypto
import TestSupport

@Suite("Key protobuf encoding", .onBlockingPool)
struct KeyProtobufTests {
    @Test("swift-protobuf output is the deterministic field-1-then-field-2 encoding")
    func deterministicEncoding() throws {
        let data: [UInt8] = Array(repeating: 0xab, count: 32)
        let expected: [UInt8] = [0x08, 0x01, 0x12, 0x20] + data
        #expect(KeyProtobuf.encodePublic(type: .ed25519, data: data) == expected)
        #expect(KeyProtobuf.encodePrivate(type: .ed25519, data: data) == expected)
        // RSA is type 0: proto2 still writes the explicitly set default value.
        #expect(KeyProtobuf.encodePublic(type: .rsa, data: [1, 2]) == [0x08, 0x00, 0x12, 0x02, 1, 2])
        // A 300-byte payload needs a two-byte minimal length varint.
        let long = [UInt8](repeating: 7, count: 300)
        #expect(Array(KeyProtobuf.encodePublic(type: .rsa, data: long).prefix(5)) == [0x08, 0x00, 0x12, 0xac, 0x02])
    }

    @Test("vector protobufs re-encode byte for byte")
    func vectorRoundTrip() throws {
        let json = try Fixtures.json("peer-id-keys")
        let keys = try #require(json["keys"] as? [[String: Any]])
        #expect(keys.count == 4)
        for entry in keys {
            let pub = try hex(try #require(entry["public_key_protobuf_hex"] as? String))
            let priv = try hex(try #require(entry["private_key_protobuf_hex"] as? String))
            #expect(try PublicKey(protobuf: pub).protobufBytes == pub)
            #expect(try PrivateKey(protobuf: priv).protobufBytes == priv)
        }
    }

    @Test("fields in reverse order are accepted and re-encoded canonically")
    func reversedFields() throws {
        let data = PrivateKey.generateEd25519().publicKey.data
        let reversed: [UInt8] = [0x12, 0x20] + data + [0x08, 0x01]
        let key = try PublicKey(protobuf: reversed)
        #expect(key.type == .ed25519)
        #expect(key.protobufBytes == [0x08, 0x01, 0x12, 0x20] + data)
    }

    @Test("missing Type or Data is rejected")
    func missingFields() throws {
        let data = [UInt8](repeating: 1, count: 32)
        #expect(throws: KeyError.malformedProtobuf("PublicKey is missing field 1 (Type)")) {
            try PublicKey(protobuf: [0x12, 0x20] + data)
        }
        #expect(throws: KeyError.malformedProtobuf("PublicKey is missing field 2 (Data)")) {
            try PublicKey(protobuf: [0x08, 0x01])
        }
        #expect(throws: KeyError.malformedProtobuf("PrivateKey is missing field 1 (Type)")) {
            try PrivateKey(protobuf: [])
        }
    }

    @Test("unknown fields are rejected")
    func unknownField() throws {
        let data = PrivateKey.generateEd25519().publicKey.data
        let extra: [UInt8] = [0x08, 0x01, 0x12, 0x20] + data + [0x18, 0x05]
        #expect(throws: KeyError.malformedProtobuf("PublicKey has unknown fields (2 bytes)")) {
            try PublicKey(protobuf: extra)
        }
    }

    @Test("unknown key type is rejected with its number")
    func unknownKeyType() throws {
        #expect(throws: KeyError.unknownKeyType(7)) {
            try PublicKey(protobuf: [0x08, 0x07, 0x12, 0x01, 0x00])
        }
        #expect(throws: KeyError.unknownKeyType(4)) {
            try PrivateKey(protobuf: [0x08, 0x04, 0x12, 0x01, 0x00])
        }
    }

    @Test("wrong wire types and truncated messages are malformed")
    func wrongWireType() throws {
        // Field 1 sent length-delimited, field 2 sent as a varint, truncated Data.
        for bytes: [UInt8] in [[0x0a, 0x01, 0x01, 0x12, 0x00], [0x08, 0x01, 0x10, 0x05], [0x08, 0x01, 0x12, 0x20, 0x00]] {
            #expect {
                try PublicKey(protobuf: bytes)
            } throws: { error in
                guard case .malformedProtobuf = error as? KeyError else { return false }
                return true
            }
        }
    }
}
