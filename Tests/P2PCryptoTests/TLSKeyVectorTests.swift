import Multiformats
import Testing

@testable import P2PCrypto
import TestSupport

/// The key / peer-ID part of the libp2p TLS test vectors (libp2p/specs tls/tls.md): the certificate's
/// libp2p extension (OID 1.3.6.1.4.1.53594.1.1) holds SignedKey { publicKey, signature }, where publicKey is
/// a `crypto.pb.PublicKey` protobuf and signature signs "libp2p-tls-handshake:" ‖ the certificate's
/// SubjectPublicKeyInfo. Certificate parsing proper belongs to the TLS module; a minimal DER walk suffices here.
@Suite("TLS vector keys", .onBlockingPool)
struct TLSKeyVectorTests {
    struct Certificate: Sendable, CustomTestStringConvertible {
        let title: String
        let der: [UInt8]
        let expectedPeerID: String?
        let valid: Bool
        var testDescription: String { title }
    }

    static func certificates() throws -> [Certificate] {
        let json = try Fixtures.json("tls-certificates")
        let entries = try #require(json["certificates"] as? [[String: Any]])
        return try entries.map { entry in
            Certificate(
                title: try #require(entry["title"] as? String),
                der: try hex(try #require(entry["certificate_der_hex"] as? String)),
                expectedPeerID: entry["expected_peer_id"] as? String,
                valid: try #require(entry["valid"] as? Bool))
        }
    }

    @Test("host keys give the expected peer IDs; valid extensions verify, the invalid one does not",
          arguments: try certificates())
    func certificateKeys(_ certificate: Certificate) throws {
        let (spki, signedKey) = try Self.extract(certificate.der)
        let key = try PublicKey(protobuf: signedKey.publicKey)
        #expect(key.protobufBytes == signedKey.publicKey)
        let message = Array("libp2p-tls-handshake:".utf8) + spki
        #expect(key.verify(signature: signedKey.signature, message: message) == certificate.valid)
        if let expected = certificate.expectedPeerID {
            let peerID = try PeerID(expected)
            #expect(key.peerID == peerID)
            #expect(peerID.matches(key))
            #expect(peerID.b58String == expected)
        }
    }

    @Test("the fixture covers Ed25519, ECDSA and secp256k1 host keys")
    func coverage() throws {
        let types = try Self.certificates().map { try PublicKey(protobuf: try Self.extract($0.der).1.publicKey).type }
        #expect(Set(types) == [.ed25519, .ecdsa, .secp256k1])
    }

    // MARK: Minimal DER walking

    struct TLV {
        let tag: UInt8
        let content: ArraySlice<UInt8>
        let whole: ArraySlice<UInt8>
    }

    static func readTLV(_ bytes: ArraySlice<UInt8>) throws -> (TLV, rest: ArraySlice<UInt8>) {
        var index = bytes.startIndex
        try #require(bytes.count >= 2, "DER: truncated header")
        let tag = bytes[index]
        index += 1
        var length = Int(bytes[index])
        index += 1
        if length & 0x80 != 0 {
            let count = length & 0x7f
            try #require(count >= 1 && count <= 3 && bytes.endIndex - index >= count, "DER: bad length")
            length = 0
            for _ in 0..<count {
                length = length << 8 | Int(bytes[index])
                index += 1
            }
        }
        try #require(bytes.endIndex - index >= length, "DER: truncated content")
        let end = index + length
        return (TLV(tag: tag, content: bytes[index..<end], whole: bytes[bytes.startIndex..<end]), bytes[end...])
    }

    static func children(_ content: ArraySlice<UInt8>) throws -> [TLV] {
        var out: [TLV] = []
        var rest = content
        while !rest.isEmpty {
            let (tlv, next) = try readTLV(rest)
            out.append(tlv)
            rest = next
        }
        return out
    }

    static let libp2pExtensionOID: [UInt8] = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xa2, 0x5a, 0x01, 0x01]

    /// (SubjectPublicKeyInfo DER, SignedKey) of a libp2p certificate.
    static func extract(_ der: [UInt8]) throws -> (spki: [UInt8], signedKey: (publicKey: [UInt8], signature: [UInt8])) {
        let (certificate, _) = try readTLV(der[...])
        let tbs = try #require(try children(certificate.content).first)
        let fields = try children(tbs.content)
        // version [0], serial, signature, issuer, validity, subject, subjectPublicKeyInfo, ..., extensions [3]
        try #require(fields.count >= 8 && fields[0].tag == 0xa0)
        let spki = Array(fields[6].whole)
        let extensionsWrapper = try #require(fields.last { $0.tag == 0xa3 })
        let extensions = try children(try #require(try children(extensionsWrapper.content).first).content)
        for ext in extensions {
            let parts = try children(ext.content)
            guard parts.first.map({ Array($0.content) == libp2pExtensionOID }) == true else { continue }
            let value = try #require(parts.last { $0.tag == 0x04 })
            let (signedKey, _) = try readTLV(value.content)
            let items = try children(signedKey.content)
            try #require(items.count == 2 && items[0].tag == 0x04 && items[1].tag == 0x04)
            return (spki, (Array(items[0].content), Array(items[1].content)))
        }
        Issue.record("no libp2p extension in certificate")
        throw KeyError.malformedProtobuf("test: no libp2p extension")
    }
}
