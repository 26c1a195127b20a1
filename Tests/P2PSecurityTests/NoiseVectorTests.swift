import Foundation
import Multiformats
import Testing
@testable import P2PSecurity
import TestSupport

/// Published Noise_XX_25519_ChaChaPoly_SHA256 vectors (cacophony, snow, noise-c) replayed byte for byte
/// through `NoiseHandshakeState` with the vectors' static and ephemeral keys injected.
@Suite(.onBlockingPool) struct NoiseVectorTests {
    struct Vector: CustomStringConvertible, Sendable {
        let source: String
        let initPrologue, initStatic, initEphemeral: [UInt8]
        let respPrologue, respStatic, respEphemeral: [UInt8]
        let handshakeHash: [UInt8]?
        let messages: [(payload: [UInt8], ciphertext: [UInt8])]
        var description: String { source }
    }

    static func noiseHex(_ value: Any?, _ field: String) throws -> [UInt8] {
        let string = try #require(value as? String, "vector field \(field) missing")
        return try #require(Hex.decode(string.lowercased()), "vector field \(field) is not hex")
    }

    static func loadVectors() throws -> [Vector] {
        let url = try #require(
            Bundle.module.url(
                forResource: "Noise_XX_25519_ChaChaPoly_SHA256", withExtension: "json",
                subdirectory: "Fixtures/noise"),
            "missing fixture Fixtures/noise/Noise_XX_25519_ChaChaPoly_SHA256.json")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let list = try #require(root["vectors"] as? [[String: Any]])
        return try list.map { v in
            let name = (v["protocol_name"] as? String) ?? (v["name"] as? String) ?? ""
            #expect(name == "Noise_XX_25519_ChaChaPoly_SHA256")
            let messages = try #require(v["messages"] as? [[String: Any]]).map { m in
                (payload: try noiseHex(m["payload"], "payload"), ciphertext: try noiseHex(m["ciphertext"], "ciphertext"))
            }
            return Vector(
                source: (v["source"] as? String) ?? name,
                initPrologue: try noiseHex(v["init_prologue"], "init_prologue"),
                initStatic: try noiseHex(v["init_static"], "init_static"),
                initEphemeral: try noiseHex(v["init_ephemeral"], "init_ephemeral"),
                respPrologue: try noiseHex(v["resp_prologue"], "resp_prologue"),
                respStatic: try noiseHex(v["resp_static"], "resp_static"),
                respEphemeral: try noiseHex(v["resp_ephemeral"], "resp_ephemeral"),
                handshakeHash: v["handshake_hash"] == nil ? nil : try noiseHex(v["handshake_hash"], "handshake_hash"),
                messages: messages)
        }
    }

    @Test func allThreeVectorsPresent() throws {
        #expect(try Self.loadVectors().count == 3)
    }

    @Test func vectorsReplayByteExact() throws {
        for vector in try Self.loadVectors() {
            var initiator = NoiseHandshakeState(
                role: .initiator, localStatic: try NoiseKeyPair(privateKey: vector.initStatic),
                localEphemeral: try NoiseKeyPair(privateKey: vector.initEphemeral), prologue: vector.initPrologue)
            var responder = NoiseHandshakeState(
                role: .responder, localStatic: try NoiseKeyPair(privateKey: vector.respStatic),
                localEphemeral: try NoiseKeyPair(privateKey: vector.respEphemeral), prologue: vector.respPrologue)
            try #require(vector.messages.count >= 3, "\(vector.source): fewer than 3 messages")
            for (index, message) in vector.messages.prefix(3).enumerated() {
                let initiatorWrites = index % 2 == 0
                let ciphertext = initiatorWrites
                    ? try initiator.writeMessage(payload: message.payload)
                    : try responder.writeMessage(payload: message.payload)
                #expect(ciphertext == message.ciphertext, "\(vector.source): handshake message \(index + 1)")
                let payload = initiatorWrites
                    ? try responder.readMessage(message.ciphertext)
                    : try initiator.readMessage(message.ciphertext)
                #expect(payload == message.payload, "\(vector.source): payload \(index + 1)")
            }
            #expect(initiator.isComplete && responder.isComplete)
            #expect(initiator.handshakeHash == responder.handshakeHash)
            if let expected = vector.handshakeHash {
                #expect(initiator.handshakeHash == expected, "\(vector.source): handshake hash")
            }
            #expect(initiator.remoteStaticKey == (try NoiseCrypto.x25519PublicKey(of: vector.respStatic)))
            #expect(responder.remoteStaticKey == (try NoiseCrypto.x25519PublicKey(of: vector.initStatic)))

            var (iSend, iReceive) = try initiator.transportCiphers()
            var (rSend, rReceive) = try responder.transportCiphers()
            for (index, message) in vector.messages.dropFirst(3).enumerated() {
                // Message 4 is responder -> initiator, then alternating.
                let responderWrites = index % 2 == 0
                let ciphertext = responderWrites
                    ? try rSend.encrypt(ad: [], plaintext: message.payload)
                    : try iSend.encrypt(ad: [], plaintext: message.payload)
                #expect(ciphertext == message.ciphertext, "\(vector.source): transport message \(index + 4)")
                let plaintext = responderWrites
                    ? try iReceive.decrypt(ad: [], ciphertext: message.ciphertext, what: "t")
                    : try rReceive.decrypt(ad: [], ciphertext: message.ciphertext, what: "t")
                #expect(plaintext == message.payload)
            }
        }
    }

    @Test func firstMessageHashesTheEmptyPayload() throws {
        // Message 1 carries only e; with an empty payload it is exactly 32 bytes and both sides agree on h.
        var initiator = NoiseHandshakeState(role: .initiator, localStatic: NoiseKeyPair.generate())
        var responder = NoiseHandshakeState(role: .responder, localStatic: NoiseKeyPair.generate())
        let m1 = try initiator.writeMessage(payload: [])
        #expect(m1.count == 32)
        #expect(try responder.readMessage(m1) == [])
        #expect(initiator.handshakeHash == responder.handshakeHash)
    }

    @Test func tamperedMessageTwoFails() throws {
        var initiator = NoiseHandshakeState(role: .initiator, localStatic: NoiseKeyPair.generate())
        var responder = NoiseHandshakeState(role: .responder, localStatic: NoiseKeyPair.generate())
        _ = try responder.readMessage(try initiator.writeMessage(payload: []))
        var m2 = try responder.writeMessage(payload: [1, 2, 3])
        m2[40] ^= 0x01
        #expect(throws: NoiseError.self) { try initiator.readMessage(m2) }
    }

    @Test func outOfTurnAndShortMessagesAreTypedErrors() throws {
        var initiator = NoiseHandshakeState(role: .initiator, localStatic: NoiseKeyPair.generate())
        #expect(throws: NoiseError.self) { try initiator.readMessage([UInt8](repeating: 0, count: 32)) }
        var responder = NoiseHandshakeState(role: .responder, localStatic: NoiseKeyPair.generate())
        #expect(throws: NoiseError.messageTooShort(what: "handshake message 1", length: 5, needed: 32)) {
            try responder.readMessage([1, 2, 3, 4, 5])
        }
    }

    @Test func lowOrderEphemeralIsRejected() throws {
        var initiator = NoiseHandshakeState(role: .initiator, localStatic: NoiseKeyPair.generate())
        var responder = NoiseHandshakeState(role: .responder, localStatic: NoiseKeyPair.generate())
        _ = try initiator.writeMessage(payload: [])
        _ = try responder.readMessage([UInt8](repeating: 0, count: 32))  // the all-zero point
        #expect(throws: NoiseError.invalidPublicKey(what: "ee")) { try responder.writeMessage(payload: []) }
    }
}
