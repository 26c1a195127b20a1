import COpenSSL
import Foundation

// PKCS#8 `PrivateKeyInfo` (RFC 5208 / RFC 5958) import and export through OpenSSL, the format of
// Kubo's `ipfs key export|import --format=pem-pkcs8-cleartext` (Go's x509.MarshalPKCS8PrivateKey
// inside a `PRIVATE KEY` PEM block).

extension PrivateKey {
    /// The PEM block type Kubo writes and accepts.
    public static let pkcs8PEMType = "PRIVATE KEY"

    /// The key as a DER PKCS#8 `PrivateKeyInfo` (unencrypted).
    public func pkcs8DER() throws(KeyError) -> [UInt8] {
        let key = try evpKey()
        guard let info = EVP_PKEY2PKCS8(key.pointer) else {
            throw .cryptoFailure(type, "EVP_PKEY2PKCS8: \(OpenSSL.errorText())")
        }
        defer { PKCS8_PRIV_KEY_INFO_free(info) }
        guard let der = OpenSSL.encodeDER({ i2d_PKCS8_PRIV_KEY_INFO(info, $0) }) else {
            throw .cryptoFailure(type, "encoding PKCS#8: \(OpenSSL.errorText())")
        }
        return der
    }

    /// The key as a PEM `PRIVATE KEY` block (PKCS#8, unencrypted, 64-character lines), as Kubo exports it.
    public func pkcs8PEM() throws(KeyError) -> String {
        let base64 = Data(try pkcs8DER()).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN \(Self.pkcs8PEMType)-----\n\(base64)\n-----END \(Self.pkcs8PEMType)-----\n"
    }

    /// Reads a DER PKCS#8 `PrivateKeyInfo`: Ed25519, RSA, ECDSA (NIST curves) or secp256k1.
    public init(pkcs8DER der: [UInt8]) throws(KeyError) {
        guard !der.isEmpty else { throw .invalidPKCS8("empty input") }
        let decoded = OpenSSL.decodeDERObject(der) { d2i_PKCS8_PRIV_KEY_INFO(nil, $0, $1) }
        guard let info = decoded.0 else { throw .invalidPKCS8("not a DER PrivateKeyInfo (\(OpenSSL.errorText()))") }
        defer { PKCS8_PRIV_KEY_INFO_free(info) }
        guard decoded.1 == der.count else { throw .invalidPKCS8("\(der.count - decoded.1) trailing bytes after the DER") }
        guard let pointer = EVP_PKCS82PKEY(info) else {
            throw .invalidPKCS8("unsupported or malformed key (\(OpenSSL.errorText()))")
        }
        let key = EVPKey(pointer)
        if key.isA("ED25519") {
            var seed = [UInt8](repeating: 0, count: Ed25519Keys.seedLength)
            var length = seed.count
            guard EVP_PKEY_get_raw_private_key(key.pointer, &seed, &length) == 1, length == Ed25519Keys.seedLength else {
                throw .invalidPKCS8("cannot read the Ed25519 seed (\(OpenSSL.errorText()))")
            }
            try self.init(type: .ed25519, data: try Ed25519Keys.keyPair(seed: seed))
        } else if key.isA("RSA") {
            guard let pkcs1 = key.privateKeyDER() else { throw .cryptoFailure(.rsa, "encoding PKCS#1: \(OpenSSL.errorText())") }
            try self.init(type: .rsa, data: pkcs1)
        } else if key.isA("EC"), key.groupName == "secp256k1" {
            var bn: OpaquePointer?
            guard EVP_PKEY_get_bn_param(key.pointer, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1, let bn else {
                throw .invalidPKCS8("cannot read the secp256k1 scalar (\(OpenSSL.errorText()))")
            }
            defer { BN_clear_free(bn) }
            var scalar = [UInt8](repeating: 0, count: Secp256k1Keys.privateKeyLength)
            guard BN_bn2binpad(bn, &scalar, Int32(scalar.count)) == Int32(scalar.count) else {
                throw .invalidPKCS8("secp256k1 scalar longer than 32 bytes")
            }
            try self.init(type: .secp256k1, data: scalar)
        } else if key.isA("EC") {
            guard let sec1 = key.privateKeyDER() else { throw .cryptoFailure(.ecdsa, "encoding SEC1: \(OpenSSL.errorText())") }
            try self.init(type: .ecdsa, data: sec1)
        } else {
            throw .invalidPKCS8("unsupported key algorithm (expected Ed25519, RSA, ECDSA or secp256k1)")
        }
    }

    /// Reads the first PEM block of `text`, which must be a `PRIVATE KEY` (PKCS#8) block.
    public init(pkcs8PEM text: String) throws(KeyError) {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") && $0.hasSuffix("-----") }) else {
            throw .invalidPKCS8("no PEM block found")
        }
        let label = String(lines[begin].dropFirst("-----BEGIN ".count).dropLast("-----".count))
        guard label == Self.pkcs8PEMType else {
            throw .invalidPKCS8("expected a \(Self.pkcs8PEMType) PEM block, found \(label)")
        }
        guard let end = lines[(begin + 1)...].firstIndex(of: "-----END \(label)-----") else {
            throw .invalidPKCS8("the \(label) PEM block has no END line")
        }
        let body = lines[(begin + 1)..<end].filter { !$0.contains(":") }.joined()
        guard let der = Data(base64Encoded: body) else { throw .invalidPKCS8("the PEM body is not base64") }
        try self.init(pkcs8DER: [UInt8](der))
    }

    /// This key as an OpenSSL key, for encoders.
    private func evpKey() throws(KeyError) -> EVPKey {
        switch type {
        case .ed25519:
            let seed = Array(data.prefix(Ed25519Keys.seedLength))
            ERR_clear_error()
            guard let pointer = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, seed, seed.count) else {
                throw .cryptoFailure(.ed25519, "EVP_PKEY_new_raw_private_key: \(OpenSSL.errorText())")
            }
            return EVPKey(pointer)
        case .rsa:
            return try RSAKeys.privateKey(data)
        case .ecdsa:
            return try ECDSAKeys.privateKey(data)
        case .secp256k1:
            return try Secp256k1Keys.evpKey(publicKey: publicKey.data, privateKey: data)
        }
    }
}
