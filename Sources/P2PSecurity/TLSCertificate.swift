import COpenSSL
import P2PCore
import P2PCrypto

// The libp2p TLS certificate (libp2p/specs tls/tls.md): a self-signed X.509 certificate for an
// ephemeral ECDSA P-256 key, carrying extension 1.3.6.1.4.1.53594.1.1 =
// SignedKey ::= SEQUENCE { publicKey OCTET STRING, signature OCTET STRING }, where publicKey is the
// identity key protobuf and signature is the identity's signature of
// "libp2p-tls-handshake:" ‖ DER SubjectPublicKeyInfo of the certificate key.

/// An owned `X509 *`.
final class TLSX509: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { X509_free(pointer) }
    /// The DER encoding.
    var der: [UInt8]? { TLSCertificate.encodeDER { i2d_X509(pointer, $0) } }
}

/// An owned `EVP_PKEY *`.
final class TLSPrivateKey: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }
}

enum TLSCertificate {
    static let protocolID = ProtocolID("/tls/1.0.0")
    /// The libp2p public key extension OID.
    static let extensionOID = "1.3.6.1.4.1.53594.1.1"
    /// What the identity key signs, followed by the certificate key's SubjectPublicKeyInfo.
    static let signaturePrefix: [UInt8] = Array("libp2p-tls-handshake:".utf8)
    /// Largest SignedKey extension accepted (an RSA-4096 key protobuf + signature is ~1.1 KiB).
    static let maxExtensionLength = 8192

    static func failure(_ reason: String) -> SecurityError {
        .handshakeFailed(protocolID: protocolID, reason: reason)
    }

    // MARK: Generation

    /// A fresh ECDSA P-256 key and a self-signed certificate for it that carries `identity`'s signed key.
    /// Valid from one hour ago for 100 years (as go-libp2p).
    static func generate(identity: PrivateKey) throws(SecurityError) -> (TLSX509, TLSPrivateKey) {
        ERR_clear_error()
        let key = try generateP256Key()
        guard let spki = encodeDER({ i2d_PUBKEY(key.pointer, $0) }) else {
            throw failure("encoding the certificate key: \(errorText())")
        }
        let signature: [UInt8]
        do {
            signature = try identity.sign(signaturePrefix + spki)
        } catch {
            throw failure("signing the certificate key with the identity key: \(error)")
        }
        let signedKey = DER.sequence([
            DER.octetString(identity.publicKey.protobufBytes), DER.octetString(signature),
        ])

        guard let raw = X509_new() else { throw failure("X509_new: \(errorText())") }
        let cert = TLSX509(raw)
        var serial: UInt64 = 0
        for _ in 0..<8 { serial = serial << 8 | UInt64(UInt8.random(in: 0...255)) }
        serial >>= 1  // positive, non-zero in practice
        guard X509_set_version(raw, 2) == 1,
            ASN1_INTEGER_set_uint64(X509_get_serialNumber(raw), max(serial, 1)) == 1,
            X509_time_adj_ex(X509_getm_notBefore(raw), 0, -3600, nil) != nil,
            X509_time_adj_ex(X509_getm_notAfter(raw), 36500, 0, nil) != nil
        else { throw failure("setting certificate fields: \(errorText())") }
        let name = X509_get_subject_name(raw)
        let organization: [UInt8] = Array("libp2p.io".utf8)
        guard X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, organization, Int32(organization.count), -1, 0) == 1,
            X509_set_issuer_name(raw, name) == 1,
            X509_set_pubkey(raw, key.pointer) == 1
        else { throw failure("setting certificate names: \(errorText())") }

        guard let object = OBJ_txt2obj(extensionOID, 1) else { throw failure("OBJ_txt2obj: \(errorText())") }
        defer { ASN1_OBJECT_free(object) }
        guard let octets = ASN1_OCTET_STRING_new() else { throw failure("ASN1_OCTET_STRING_new: \(errorText())") }
        defer { ASN1_OCTET_STRING_free(octets) }
        guard ASN1_OCTET_STRING_set(octets, signedKey, Int32(signedKey.count)) == 1,
            let ext = X509_EXTENSION_create_by_OBJ(nil, object, 0, octets)
        else { throw failure("building the libp2p extension: \(errorText())") }
        defer { X509_EXTENSION_free(ext) }
        guard X509_add_ext(raw, ext, -1) == 1 else { throw failure("X509_add_ext: \(errorText())") }
        guard X509_sign(raw, key.pointer, EVP_sha256()) > 0 else { throw failure("X509_sign: \(errorText())") }
        return (cert, key)
    }

    private static func generateP256Key() throws(SecurityError) -> TLSPrivateKey {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw failure("EVP_PKEY_CTX_new_from_name: \(errorText())")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_CTX_set_group_name(context, "P-256") == 1,
            EVP_PKEY_generate(context, &key) == 1, let key
        else { throw failure("generating the P-256 certificate key: \(errorText())") }
        return TLSPrivateKey(key)
    }

    // MARK: Verification

    /// Verifies a DER certificate as a libp2p TLS certificate and returns the identity key it proves.
    static func verify(der: [UInt8]) throws(SecurityError) -> PublicKey {
        ERR_clear_error()
        let parsed: (OpaquePointer?, Int) = der.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return (nil, 0) }
            var cursor: UnsafePointer<UInt8>? = base
            let cert = d2i_X509(nil, &cursor, buffer.count)
            return (cert, cursor.map { $0 - base } ?? 0)
        }
        guard let pointer = parsed.0 else { throw failure("certificate is not DER X.509: \(errorText())") }
        let cert = TLSX509(pointer)
        guard parsed.1 == der.count else { throw failure("\(der.count - parsed.1) trailing bytes after the certificate") }
        return try verify(certificate: cert.pointer)
    }

    /// The checks of tls.md § Peer Authentication on one (leaf, only) certificate: validity period,
    /// no unique IDs, no unknown critical extension, valid self-signature, a valid libp2p extension.
    static func verify(certificate cert: OpaquePointer) throws(SecurityError) -> PublicKey {
        guard let notBefore = X509_get0_notBefore(cert), let notAfter = X509_get0_notAfter(cert) else {
            throw failure("certificate has no validity period")
        }
        guard X509_cmp_current_time(notBefore) < 0 else { throw failure("certificate is not yet valid") }
        guard X509_cmp_current_time(notAfter) > 0 else { throw failure("certificate has expired") }

        var issuerUID: UnsafePointer<ASN1_BIT_STRING>?
        var subjectUID: UnsafePointer<ASN1_BIT_STRING>?
        X509_get0_uids(cert, &issuerUID, &subjectUID)
        guard issuerUID == nil, subjectUID == nil else {
            throw failure("certificate carries the deprecated issuerUniqueID/subjectUniqueID fields")
        }

        guard let object = OBJ_txt2obj(extensionOID, 1) else { throw failure("OBJ_txt2obj: \(errorText())") }
        defer { ASN1_OBJECT_free(object) }
        let understoodCritical: Set<Int32> = [
            NID_basic_constraints, NID_key_usage, NID_ext_key_usage, NID_subject_key_identifier,
            NID_authority_key_identifier, NID_subject_alt_name,
        ]
        var libp2pIndex: Int32 = -1
        let count = X509_get_ext_count(cert)
        for index in 0..<max(count, 0) {
            guard let ext = X509_get_ext(cert, index), let extObject = X509_EXTENSION_get_object(ext) else {
                throw failure("unreadable certificate extension \(index)")
            }
            if OBJ_cmp(extObject, object) == 0 {
                guard libp2pIndex < 0 else { throw failure("the libp2p public key extension appears twice") }
                libp2pIndex = index
            } else if X509_EXTENSION_get_critical(ext) != 0 && !understoodCritical.contains(OBJ_obj2nid(extObject)) {
                throw failure("certificate has an unknown critical extension \(objectText(extObject))")
            }
        }
        guard libp2pIndex >= 0 else { throw failure("certificate lacks the libp2p public key extension") }

        guard let certKey = X509_get0_pubkey(cert) else { throw failure("certificate has no usable public key: \(errorText())") }
        guard X509_verify(cert, certKey) == 1 else {
            throw failure("certificate self-signature is invalid: \(errorText())")
        }
        guard let spki = encodeDER({ i2d_PUBKEY(certKey, $0) }) else {
            throw failure("encoding the certificate key: \(errorText())")
        }

        guard let ext = X509_get_ext(cert, libp2pIndex), let data = X509_EXTENSION_get_data(ext) else {
            throw failure("unreadable libp2p extension")
        }
        let length = Int(ASN1_STRING_length(data))
        guard length > 0, length <= maxExtensionLength, let bytesPointer = ASN1_STRING_get0_data(data) else {
            throw failure("libp2p extension has a bad length \(length) (limit \(maxExtensionLength))")
        }
        let extensionBytes = Array(UnsafeBufferPointer(start: bytesPointer, count: length))
        let (keyBytes, signature) = try parseSignedKey(extensionBytes)
        let identity: PublicKey
        do {
            identity = try PublicKey(protobuf: keyBytes)
        } catch {
            throw failure("libp2p extension holds an invalid identity key: \(error)")
        }
        guard identity.verify(signature: signature, message: signaturePrefix + spki) else {
            throw failure("libp2p extension signature does not verify for identity \(PeerID(publicKey: identity))")
        }
        return identity
    }

    /// Parses `SignedKey ::= SEQUENCE { publicKey OCTET STRING, signature OCTET STRING }` (strict DER).
    static func parseSignedKey(_ bytes: [UInt8]) throws(SecurityError) -> (publicKey: [UInt8], signature: [UInt8]) {
        var outer = DER.Reader(bytes)
        let sequence = try outer.read(tag: 0x30, what: "SignedKey")
        guard outer.atEnd else { throw failure("trailing bytes after SignedKey in the libp2p extension") }
        var inner = DER.Reader(sequence)
        let publicKey = try inner.read(tag: 0x04, what: "SignedKey.publicKey")
        let signature = try inner.read(tag: 0x04, what: "SignedKey.signature")
        guard inner.atEnd else { throw failure("extra fields in SignedKey") }
        return (publicKey, signature)
    }

    // MARK: Helpers

    static func objectText(_ object: OpaquePointer) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        let length = OBJ_obj2txt(&buffer, Int32(buffer.count), object, 1)
        guard length > 0 else { return "(unknown OID)" }
        let end = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Drains OpenSSL's (thread-local) error queue into one line (P2PCrypto's shared helper).
    static func errorText() -> String { OpenSSL.errorText() }

    /// Calls an i2d_* function twice (size, then write) and returns the DER bytes.
    static func encodeDER(_ i2d: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) -> [UInt8]? {
        let size = i2d(nil)
        guard size > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: Int(size))
        let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d(&cursor)
        }
        return written == size ? out : nil
    }
}

/// The few DER encodings the libp2p extension needs.
enum DER {
    static func length(_ count: Int) -> [UInt8] {
        if count < 0x80 { return [UInt8(count)] }
        var bytes: [UInt8] = []
        var remaining = count
        while remaining > 0 {
            bytes.insert(UInt8(remaining & 0xFF), at: 0)
            remaining >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }

    static func octetString(_ content: [UInt8]) -> [UInt8] { [0x04] + length(content.count) + content }

    static func sequence(_ elements: [[UInt8]]) -> [UInt8] {
        let content = elements.flatMap { $0 }
        return [0x30] + length(content.count) + content
    }

    /// Reads definite-length, minimally encoded TLVs.
    struct Reader {
        private let bytes: [UInt8]
        private var offset = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var atEnd: Bool { offset == bytes.count }

        mutating func read(tag: UInt8, what: String) throws(SecurityError) -> [UInt8] {
            guard offset < bytes.count else { throw TLSCertificate.failure("\(what): missing (offset \(offset))") }
            guard bytes[offset] == tag else {
                throw TLSCertificate.failure("\(what): tag 0x\(String(bytes[offset], radix: 16)) at offset \(offset), expected 0x\(String(tag, radix: 16))")
            }
            offset += 1
            guard offset < bytes.count else { throw TLSCertificate.failure("\(what): missing length (offset \(offset))") }
            let first = bytes[offset]
            offset += 1
            var length = 0
            if first < 0x80 {
                length = Int(first)
            } else {
                let lengthBytes = Int(first & 0x7F)
                guard lengthBytes >= 1, lengthBytes <= 3, offset + lengthBytes <= bytes.count else {
                    throw TLSCertificate.failure("\(what): bad length encoding at offset \(offset - 1)")
                }
                for _ in 0..<lengthBytes {
                    length = length << 8 | Int(bytes[offset])
                    offset += 1
                }
                guard length >= 0x80, length >> (8 * (lengthBytes - 1)) != 0 else {
                    throw TLSCertificate.failure("\(what): non-minimal length encoding")
                }
            }
            guard length <= bytes.count - offset else {
                throw TLSCertificate.failure("\(what): length \(length) runs past the end (\(bytes.count - offset) bytes left)")
            }
            let content = Array(bytes[offset..<(offset + length)])
            offset += length
            return content
        }
    }
}
