import Foundation
import Logging
import P2PCore
import P2PCrypto
import SwiftProtobuf

/// libp2p Noise (`/noise`): Noise_XX_25519_ChaChaPoly_SHA256 with the libp2p handshake payload
/// (identity key + signature over `"noise-libp2p-static-key:" ‖ static key`), 2-byte big-endian framing.
///
/// Each handshake uses a fresh X25519 static key (as go-libp2p does), signed by `identity`.
/// After the handshake, a frame that fails authentication throws `SecurityError.badFrame` and resets
/// the underlying stream.
public struct NoiseTransport: SecurityTransport {
    /// The prefix of the message the identity key signs.
    static let signaturePrefix = Array("noise-libp2p-static-key:".utf8)

    /// `/noise`.
    public var protocolID: ProtocolID { .noise }

    private let identity: PrivateKey
    private let logger: Logger
    private let handshakeTimeout: Duration

    /// - Parameters:
    ///   - identity: the node's identity key; it signs each handshake's Noise static key.
    ///   - logger: receives handshake outcomes and rejected frames.
    ///   - handshakeTimeout: the whole handshake must finish within this time, else the stream is reset.
    public init(identity: PrivateKey, logger: Logger, handshakeTimeout: Duration = .seconds(30)) {
        self.identity = identity
        self.logger = logger
        self.handshakeTimeout = handshakeTimeout
    }

    /// Runs the handshake as the initiator; fails with `SecurityError.peerIDMismatch` when the responder
    /// proves an identity other than `remotePeer`.
    public func secureOutbound(_ stream: any ByteStream, remotePeer: PeerID?) async throws -> any SecuredStream {
        try await run(stream, role: .initiator, expected: remotePeer)
    }

    /// Runs the handshake as the responder.
    public func secureInbound(_ stream: any ByteStream) async throws -> any SecuredStream {
        try await run(stream, role: .responder, expected: nil)
    }

    private func run(
        _ stream: any ByteStream, role: NoiseHandshakeState.Role, expected: PeerID?
    ) async throws -> NoiseSecuredStream {
        let side = role == .initiator ? "outbound" : "inbound"
        let expectedText = expected.map { $0.description } ?? "unknown peer"
        do {
            let secured = try await withTimeout(
                handshakeTimeout, what: "noise \(side) handshake with \(expectedText)",
                onTimeout: { await stream.reset() }
            ) { [self] in
                try await handshake(stream, role: role, expected: expected)
            }
            logger.debug("noise handshake done", metadata: ["peer": "\(secured.remotePeer)", "direction": "\(side)"])
            return secured
        } catch {
            let mapped = mapHandshakeError(error, role: role, expected: expectedText)
            logger.warning(
                "noise handshake failed",
                metadata: ["peer": "\(expectedText)", "direction": "\(side)", "reason": "\(mapped)"])
            await stream.reset()
            throw mapped
        }
    }

    private func mapHandshakeError(_ error: any Error, role: NoiseHandshakeState.Role, expected: String) -> any Error {
        if error is SecurityError || error is CancellationError { return error }
        if let noise = error as? NoiseError {
            return SecurityError.handshakeFailed(protocolID: .noise, reason: "\(noise) (remote \(expected))")
        }
        if let streamError = error as? StreamError {
            switch streamError {
            case .unexpectedEOF(let what):
                return SecurityError.handshakeFailed(
                    protocolID: .noise, reason: "connection closed while reading \(what) (remote \(expected))")
            default:
                return streamError
            }
        }
        return SecurityError.handshakeFailed(protocolID: .noise, reason: "\(error) (remote \(expected))")
    }

    private func handshake(
        _ stream: any ByteStream, role: NoiseHandshakeState.Role, expected: PeerID?
    ) async throws -> NoiseSecuredStream {
        let staticKey = NoiseKeyPair.generate()
        var state = NoiseHandshakeState(role: role, localStatic: staticKey)
        let reader = NoiseFrameReader(stream)
        let ourPayload = try makePayload(staticKey: staticKey.publicKey)
        let remote: (key: PublicKey, peer: PeerID)
        switch role {
        case .initiator:
            try await stream.write(NoiseFraming.frame(try state.writeMessage(payload: [])))
            let message2 = try await reader.readFrame(what: "noise handshake message 2")
            let payload = try state.readMessage(message2)
            remote = try verifyPayload(payload, remoteStatic: state.remoteStaticKey, message: 2)
            if let expected, expected != remote.peer {
                throw SecurityError.peerIDMismatch(expected: expected, actual: remote.peer)
            }
            try await stream.write(NoiseFraming.frame(try state.writeMessage(payload: ourPayload)))
        case .responder:
            let message1 = try await reader.readFrame(what: "noise handshake message 1")
            _ = try state.readMessage(message1)
            try await stream.write(NoiseFraming.frame(try state.writeMessage(payload: ourPayload)))
            let message3 = try await reader.readFrame(what: "noise handshake message 3")
            let payload = try state.readMessage(message3)
            remote = try verifyPayload(payload, remoteStatic: state.remoteStaticKey, message: 3)
        }
        let ciphers = try state.transportCiphers()
        return NoiseSecuredStream(
            base: stream, reader: reader, send: ciphers.send, receive: ciphers.receive,
            localPeer: PeerID(publicKey: identity.publicKey), remotePeer: remote.peer,
            remotePublicKey: remote.key, logger: logger)
    }

    /// Our handshake payload: identity key protobuf and its signature over the static key.
    private func makePayload(staticKey: [UInt8]) throws -> [UInt8] {
        var payload = Pb_NoiseHandshakePayload()
        payload.identityKey = Data(identity.publicKey.protobufBytes)
        payload.identitySig = Data(try identity.sign(Self.signaturePrefix + staticKey))
        return try payload.serializedBytes()
    }

    /// Decodes and checks the remote's payload: a valid identity key whose signature covers the
    /// Noise static key the handshake authenticated.
    private func verifyPayload(
        _ bytes: [UInt8], remoteStatic: [UInt8]?, message: Int
    ) throws -> (key: PublicKey, peer: PeerID) {
        func fail(_ reason: String) -> SecurityError {
            .handshakeFailed(protocolID: .noise, reason: "message \(message) payload: \(reason)")
        }
        guard let remoteStatic else { throw fail("no remote static key") }
        let payload: Pb_NoiseHandshakePayload
        do {
            payload = try Pb_NoiseHandshakePayload(serializedBytes: bytes)
        } catch {
            throw fail("malformed protobuf (\(bytes.count) bytes): \(error)")
        }
        guard payload.hasIdentityKey else { throw fail("identity_key missing") }
        guard payload.hasIdentitySig else { throw fail("identity_sig missing") }
        let key: PublicKey
        do {
            key = try PublicKey(protobuf: [UInt8](payload.identityKey))
        } catch {
            throw fail("identity_key: \(error)")
        }
        let peer = PeerID(publicKey: key)
        guard key.verify(signature: [UInt8](payload.identitySig), message: Self.signaturePrefix + remoteStatic) else {
            throw fail("identity_sig does not verify for peer \(peer)")
        }
        return (key, peer)
    }
}

/// A stream secured by a completed Noise handshake. The reader and the writer own separate cipher
/// states, so one read and one write may run concurrently.
final class NoiseSecuredStream: SecuredStream, @unchecked Sendable {
    let localPeer: PeerID
    let remotePeer: PeerID
    let remotePublicKey: PublicKey
    var securityProtocol: ProtocolID { .noise }

    private let base: any ByteStream
    private let logger: Logger
    /// "noise frame from <peer>", built once (errors name the peer without per-frame formatting).
    private let frameWhat: String
    // Reader-owned state.
    private let reader: NoiseFrameReader
    private var receiveCipher: NoiseCipherState
    private var framesRead: UInt64 = 0
    private var readFailure: SecurityError?
    // Writer-owned state.
    private var sendCipher: NoiseCipherState

    init(
        base: any ByteStream, reader: NoiseFrameReader, send: NoiseCipherState, receive: NoiseCipherState,
        localPeer: PeerID, remotePeer: PeerID, remotePublicKey: PublicKey, logger: Logger
    ) {
        self.base = base
        self.reader = reader
        self.sendCipher = send
        self.receiveCipher = receive
        self.localPeer = localPeer
        self.remotePeer = remotePeer
        self.remotePublicKey = remotePublicKey
        self.logger = logger
        self.frameWhat = "noise frame from \(remotePeer)"
    }

    func read() async throws -> [UInt8]? {
        if let readFailure { throw readFailure }
        while true {
            let frameNumber = framesRead
            let what = frameWhat
            let plaintext: [UInt8]?
            do {
                plaintext = try await reader.withNextFrame(what: what) { body in
                    try receiveCipher.decrypt(body, what: what)
                }
            } catch let error as NoiseError {
                let failure = SecurityError.badFrame(protocolID: .noise, reason: "frame \(frameNumber): \(error)")
                readFailure = failure
                logger.warning(
                    "noise: rejecting frame, resetting the connection",
                    metadata: ["peer": "\(remotePeer)", "frame": "\(frameNumber)", "reason": "\(error)"])
                await base.reset()
                throw failure
            }
            framesRead += 1
            guard let plaintext else { return nil }
            if !plaintext.isEmpty { return plaintext }
        }
    }

    func write(_ bytes: [UInt8]) async throws {
        guard !bytes.isEmpty else {
            try await base.write([])
            return
        }
        let maxPlain = NoiseFraming.maxPlaintextPerFrame
        var offset = 0
        while offset < bytes.count {
            let batchEnd = min(bytes.count, offset + maxPlain * NoiseFraming.framesPerWrite)
            let plainCount = batchEnd - offset
            let frames = (plainCount + maxPlain - 1) / maxPlain
            let outCount = plainCount + frames * (2 + NoiseCrypto.tagLength)
            let start = offset
            let out = try [UInt8](unsafeUninitializedCapacity: outCount) { buffer, count in
                let output = UnsafeMutableRawBufferPointer(buffer)
                try bytes.withUnsafeBytes { source in
                    var o = 0
                    var p = start
                    while p < batchEnd {
                        let n = min(maxPlain, batchEnd - p)
                        let frameLength = n + NoiseCrypto.tagLength
                        output[o] = UInt8(truncatingIfNeeded: frameLength >> 8)
                        output[o + 1] = UInt8(truncatingIfNeeded: frameLength)
                        do {
                            try sendCipher.encrypt(
                                UnsafeRawBufferPointer(rebasing: source[p..<(p + n)]), into: output, at: o + 2)
                        } catch {
                            throw SecurityError.badFrame(protocolID: .noise, reason: "encrypting to \(remotePeer): \(error)")
                        }
                        o += 2 + frameLength
                        p += n
                    }
                    count = o
                }
            }
            try await base.write(out)
            offset = batchEnd
        }
    }

    func closeWrite() async throws { try await base.closeWrite() }
    func close() async { await base.close() }
    func reset() async { await base.reset() }
}
