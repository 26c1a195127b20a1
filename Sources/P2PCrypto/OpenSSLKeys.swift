import COpenSSL
import Multiformats

// RSA, ECDSA and secp256k1 through OpenSSL 3 EVP APIs (no deprecated low-level key APIs).
// Keys are kept as their libp2p byte encodings and parsed into an EVP_PKEY per operation.

/// An owned `EVP_PKEY *`.
final class EVPKey {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    var bits: Int { Int(EVP_PKEY_get_bits(pointer)) }

    func isA(_ name: String) -> Bool { EVP_PKEY_is_a(pointer, name) == 1 }

    /// The EC group name (e.g. "prime256v1", "secp256k1"), nil for non-EC keys or explicit curves.
    var groupName: String? {
        var buffer = [CChar](repeating: 0, count: 80)
        var length = 0
        let ok = EVP_PKEY_get_utf8_string_param(pointer, OSSL_PKEY_PARAM_GROUP_NAME, &buffer, buffer.count, &length)
        guard ok == 1, length > 0, length < buffer.count else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// DER SubjectPublicKeyInfo of the public half.
    func subjectPublicKeyInfo() -> [UInt8]? {
        OpenSSL.encodeDER { i2d_PUBKEY(pointer, $0) }
    }

    /// Type-specific private key DER (PKCS#1 `RSAPrivateKey` for RSA, SEC1 `ECPrivateKey` for EC).
    func privateKeyDER() -> [UInt8]? {
        OpenSSL.encodeDER { i2d_PrivateKey(pointer, $0) }
    }
}

/// A NUL-terminated copy of a string with a stable address for as long as this object lives.
final class CString {
    let pointer: UnsafeMutablePointer<CChar>
    init(_ string: String) {
        let bytes = string.utf8CString
        pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        pointer.initialize(from: Array(bytes), count: bytes.count)
    }
    deinit { pointer.deallocate() }
}

/// Helpers shared by the modules that call OpenSSL directly (P2PCrypto, P2PSecurity's TLS).
public enum OpenSSL {
    /// Drains OpenSSL's (thread-local) error queue into one line.
    public static func errorText() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let end = buffer.firstIndex(of: 0) ?? buffer.count
            messages.append(String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "no OpenSSL error recorded" : messages.joined(separator: "; ")
    }

    /// Runs `body` with a non-null pointer to `bytes` (OpenSSL dislikes NULL even with length 0).
    static func withBytes<R>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>, Int) throws(KeyError) -> R) throws(KeyError) -> R {
        let result: Result<R, KeyError> = bytes.withUnsafeBufferPointer { buffer in
            if let base = buffer.baseAddress {
                do throws(KeyError) { return .success(try body(base, buffer.count)) } catch { return .failure(error) }
            }
            var zero: UInt8 = 0
            return withUnsafePointer(to: &zero) { pointer in
                do throws(KeyError) { return .success(try body(pointer, 0)) } catch { return .failure(error) }
            }
        }
        return try result.get()
    }

    /// Calls an i2d_* function twice (size, then write) and returns the DER bytes.
    static func encodeDER(_ i2d: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?) -> Int32) -> [UInt8]? {
        let size = i2d(nil)
        guard size > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: Int(size))
        let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d(&cursor)
        }
        guard written == size else { return nil }
        return out
    }

    /// Calls a d2i_* function over `der` (after clearing the error queue): the object, if any, and
    /// how many bytes it consumed. The caller owns the object.
    static func decodeDERObject(
        _ der: [UInt8], _ d2i: (UnsafeMutablePointer<UnsafePointer<UInt8>?>, Int) -> OpaquePointer?
    ) -> (OpaquePointer?, Int) {
        ERR_clear_error()
        return der.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return (nil, 0) }
            var cursor: UnsafePointer<UInt8>? = base
            let object = d2i(&cursor, buffer.count)
            return (object, cursor.map { $0 - base } ?? 0)
        }
    }

    /// Calls a d2i_* function over all of `der`; fails unless it decodes and consumes every byte.
    static func decodeDER(
        _ der: [UInt8], type: KeyType, what: String,
        _ d2i: (UnsafeMutablePointer<UnsafePointer<UInt8>?>, Int) -> OpaquePointer?
    ) throws(KeyError) -> EVPKey {
        guard !der.isEmpty else { throw .invalidKeyLength(type, expected: "a non-empty \(what)", actual: 0) }
        let decoded = decodeDERObject(der, d2i)
        guard let pointer = decoded.0 else {
            throw .invalidKeyEncoding(type, "not a DER \(what) (\(errorText()))")
        }
        let key = EVPKey(pointer)
        guard decoded.1 == der.count else {
            throw .invalidKeyEncoding(type, "\(der.count - decoded.1) trailing bytes after the DER \(what)")
        }
        return key
    }

    static func parseSubjectPublicKeyInfo(_ der: [UInt8], type: KeyType) throws(KeyError) -> EVPKey {
        try decodeDER(der, type: type, what: "SubjectPublicKeyInfo") { d2i_PUBKEY(nil, $0, $1) }
    }

    static func parsePrivateKey(_ der: [UInt8], type: KeyType, evpType: Int32, what: String) throws(KeyError) -> EVPKey {
        try decodeDER(der, type: type, what: what) { d2i_PrivateKey(evpType, nil, $0, $1) }
    }

    // MARK: Sign / verify (SHA-256 digest; PKCS#1 v1.5 for RSA, DER ECDSA for EC)

    static func sign(_ message: [UInt8], with key: EVPKey, type: KeyType) throws(KeyError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw .cryptoFailure(type, "EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(ctx) }
        ERR_clear_error()
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, key.pointer) == 1 else {
            throw .cryptoFailure(type, "EVP_DigestSignInit: \(errorText())")
        }
        return try withBytes(message) { (pointer, count) throws(KeyError) -> [UInt8] in
            var length = 0
            guard EVP_DigestSign(ctx, nil, &length, pointer, count) == 1, length > 0 else {
                throw .cryptoFailure(type, "EVP_DigestSign (size): \(errorText())")
            }
            var signature = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(ctx, &signature, &length, pointer, count) == 1 else {
                throw .cryptoFailure(type, "EVP_DigestSign: \(errorText())")
            }
            return Array(signature.prefix(length))
        }
    }

    static func verify(_ signature: [UInt8], message: [UInt8], with key: EVPKey) -> Bool {
        guard !signature.isEmpty, let ctx = EVP_MD_CTX_new() else { return false }
        defer {
            EVP_MD_CTX_free(ctx)
            ERR_clear_error()
        }
        guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, key.pointer) == 1 else { return false }
        let result = try? withBytes(message) { (m, mCount) throws(KeyError) -> Int32 in
            try withBytes(signature) { (s, sCount) throws(KeyError) -> Int32 in
                EVP_DigestVerify(ctx, s, sCount, m, mCount)
            }
        }
        return result == 1
    }

    // MARK: Generation

    static func generate(algorithm: String, type: KeyType, configure: (OpaquePointer) -> Int32) throws(KeyError) -> EVPKey {
        ERR_clear_error()
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw .cryptoFailure(type, "EVP_PKEY_CTX_new_from_name(\(algorithm)): \(errorText())")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) == 1, configure(ctx) == 1 else {
            throw .cryptoFailure(type, "key generation set-up: \(errorText())")
        }
        var pkey: OpaquePointer?
        guard EVP_PKEY_generate(ctx, &pkey) == 1, let pkey else {
            throw .cryptoFailure(type, "EVP_PKEY_generate: \(errorText())")
        }
        return EVPKey(pkey)
    }
}

// MARK: - Per-type key handling

enum RSAKeys {
    static let minBits = 2048
    static let maxBits = 8192

    private static func checkRSA(_ key: EVPKey) throws(KeyError) {
        guard key.isA("RSA") else { throw .wrongAlgorithm(.rsa, found: key.groupName.map { "an EC key (\($0))" } ?? "a non-RSA key") }
        let bits = key.bits
        guard bits >= minBits, bits <= maxBits else { throw .unsupportedRSAKeySize(bits: bits) }
    }

    /// Parses and checks a DER SubjectPublicKeyInfo RSA public key.
    static func publicKey(_ spki: [UInt8]) throws(KeyError) -> EVPKey {
        let key = try OpenSSL.parseSubjectPublicKeyInfo(spki, type: .rsa)
        try checkRSA(key)
        return key
    }

    /// Parses and checks a PKCS#1 DER RSA private key.
    static func privateKey(_ der: [UInt8]) throws(KeyError) -> EVPKey {
        let key = try OpenSSL.parsePrivateKey(der, type: .rsa, evpType: EVP_PKEY_RSA, what: "PKCS#1 RSAPrivateKey")
        try checkRSA(key)
        return key
    }

    /// The DER SubjectPublicKeyInfo of a private key's public half.
    static func publicKeyData(of key: EVPKey) throws(KeyError) -> [UInt8] {
        guard let spki = key.subjectPublicKeyInfo() else {
            throw .cryptoFailure(.rsa, "encoding the public key: \(OpenSSL.errorText())")
        }
        return spki
    }

    static func generate(bits: Int) throws(KeyError) -> (privateDER: [UInt8], key: EVPKey) {
        guard bits >= minBits, bits <= maxBits else { throw .unsupportedRSAKeySize(bits: bits) }
        let key = try OpenSSL.generate(algorithm: "RSA", type: .rsa) { EVP_PKEY_CTX_set_rsa_keygen_bits($0, Int32(bits)) }
        guard let der = key.privateKeyDER() else {
            throw .cryptoFailure(.rsa, "encoding the private key: \(OpenSSL.errorText())")
        }
        return (der, key)
    }
}

enum ECDSAKeys {
    /// NIST curves go-libp2p accepts for ECDSA keys (x509 parsing); OpenSSL and NIST names.
    static let allowedGroups: Set<String> = [
        "prime256v1", "P-256", "secp384r1", "P-384", "secp521r1", "P-521", "secp224r1", "P-224",
    ]

    private static func checkEC(_ key: EVPKey) throws(KeyError) {
        guard key.isA("EC") else { throw .wrongAlgorithm(.ecdsa, found: key.isA("RSA") ? "an RSA key" : "a non-EC key") }
        guard let group = key.groupName else { throw .wrongAlgorithm(.ecdsa, found: "an EC key without a named curve") }
        guard allowedGroups.contains(group) else { throw .wrongAlgorithm(.ecdsa, found: "an EC key on curve \(group)") }
    }

    static func publicKey(_ spki: [UInt8]) throws(KeyError) -> EVPKey {
        let key = try OpenSSL.parseSubjectPublicKeyInfo(spki, type: .ecdsa)
        try checkEC(key)
        return key
    }

    static func privateKey(_ der: [UInt8]) throws(KeyError) -> EVPKey {
        let key = try OpenSSL.parsePrivateKey(der, type: .ecdsa, evpType: EVP_PKEY_EC, what: "SEC1 ECPrivateKey")
        try checkEC(key)
        return key
    }

    static func publicKeyData(of key: EVPKey) throws(KeyError) -> [UInt8] {
        guard let spki = key.subjectPublicKeyInfo() else {
            throw .cryptoFailure(.ecdsa, "encoding the public key: \(OpenSSL.errorText())")
        }
        return spki
    }

    static func generateP256() throws(KeyError) -> (privateDER: [UInt8], key: EVPKey) {
        let key = try OpenSSL.generate(algorithm: "EC", type: .ecdsa) { EVP_PKEY_CTX_set_group_name($0, "P-256") }
        guard let der = key.privateKeyDER() else {
            throw .cryptoFailure(.ecdsa, "encoding the private key: \(OpenSSL.errorText())")
        }
        return (der, key)
    }
}

/// secp256k1 from raw encodings: 33-byte compressed (or 65-byte uncompressed) points and 32-byte scalars.
enum Secp256k1Keys {
    static let privateKeyLength = 32
    static let compressedLength = 33

    /// An owned EC_GROUP for secp256k1 with the BN_CTX used around it.
    private final class Curve {
        let group: OpaquePointer
        init?() {
            guard let group = EC_GROUP_new_by_curve_name(NID_secp256k1) else { return nil }
            self.group = group
        }
        deinit { EC_GROUP_free(group) }
    }

    private final class Point {
        let pointer: OpaquePointer
        init?(_ curve: Curve) {
            guard let p = EC_POINT_new(curve.group) else { return nil }
            pointer = p
        }
        deinit { EC_POINT_free(pointer) }
    }

    private final class BigNum {
        let pointer: OpaquePointer
        init?(_ bytes: [UInt8]) {
            guard let bn = bytes.withUnsafeBufferPointer({ BN_bin2bn($0.baseAddress, Int32($0.count), nil) }) else { return nil }
            pointer = bn
        }
        init(owning pointer: OpaquePointer) { self.pointer = pointer }
        deinit { BN_clear_free(pointer) }
    }

    private static func curve() throws(KeyError) -> Curve {
        guard let curve = Curve() else { throw .cryptoFailure(.secp256k1, "secp256k1 curve unavailable: \(OpenSSL.errorText())") }
        return curve
    }

    private static func compressed(_ point: Point, on curve: Curve) throws(KeyError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: compressedLength)
        let written = EC_POINT_point2oct(curve.group, point.pointer, POINT_CONVERSION_COMPRESSED, &out, out.count, nil)
        guard written == compressedLength else {
            throw .cryptoFailure(.secp256k1, "encoding the point: \(OpenSSL.errorText())")
        }
        return out
    }

    /// Validates a public point (33-byte compressed or 65-byte uncompressed) and returns its compressed form.
    static func normalizePublicKey(_ bytes: [UInt8]) throws(KeyError) -> [UInt8] {
        guard bytes.count == 33 || bytes.count == 65 else {
            throw .invalidKeyLength(.secp256k1, expected: "33 (compressed point) or 65 (uncompressed point)", actual: bytes.count)
        }
        guard (bytes.count == 33 && (bytes[0] == 0x02 || bytes[0] == 0x03)) || (bytes.count == 65 && bytes[0] == 0x04) else {
            throw .invalidKeyEncoding(.secp256k1, "point prefix 0x\(Hex.encode([bytes[0]])) does not match a \(bytes.count)-byte point")
        }
        let curve = try curve()
        guard let point = Point(curve) else { throw .cryptoFailure(.secp256k1, "EC_POINT_new failed") }
        ERR_clear_error()
        guard EC_POINT_oct2point(curve.group, point.pointer, bytes, bytes.count, nil) == 1 else {
            _ = OpenSSL.errorText()
            throw .invalidKeyEncoding(.secp256k1, "not a point on the secp256k1 curve")
        }
        return try compressed(point, on: curve)
    }

    /// The compressed public point of a 32-byte private scalar (which must be in 1 ..< n).
    static func publicKey(ofPrivate scalar: [UInt8]) throws(KeyError) -> [UInt8] {
        guard scalar.count == privateKeyLength else {
            throw .invalidKeyLength(.secp256k1, expected: "32", actual: scalar.count)
        }
        let curve = try curve()
        guard let d = BigNum(scalar), let point = Point(curve) else { throw .cryptoFailure(.secp256k1, "allocation failed") }
        guard let order = EC_GROUP_get0_order(curve.group) else { throw .cryptoFailure(.secp256k1, "curve order unavailable") }
        guard BN_is_zero(d.pointer) == 0, BN_cmp(d.pointer, order) < 0 else {
            throw .invalidKeyEncoding(.secp256k1, "private scalar is zero or not below the curve order")
        }
        guard EC_POINT_mul(curve.group, point.pointer, d.pointer, nil, nil, nil) == 1 else {
            throw .cryptoFailure(.secp256k1, "EC_POINT_mul: \(OpenSSL.errorText())")
        }
        return try compressed(point, on: curve)
    }

    /// Builds an EVP_PKEY from a compressed public point and, for signing, the private scalar.
    static func evpKey(publicKey: [UInt8], privateKey: [UInt8]? = nil) throws(KeyError) -> EVPKey {
        var scalar: BigNum?
        if let privateKey {
            guard let bn = BigNum(privateKey) else { throw .cryptoFailure(.secp256k1, "BN_bin2bn failed") }
            scalar = bn
        }
        // OSSL_PARAM_BLD keeps pointers to the key names and values it is given (values until
        // OSSL_PARAM_BLD_to_param, names for the life of the OSSL_PARAM array), so all of them must have
        // stable addresses: Swift's implicit String/Array-to-pointer bridging lasts for one call only.
        let groupKey = CString(OSSL_PKEY_PARAM_GROUP_NAME)
        let groupName = CString("secp256k1")
        let publicKeyKey = CString(OSSL_PKEY_PARAM_PUB_KEY)
        let privateKeyKey = CString(OSSL_PKEY_PARAM_PRIV_KEY)
        let point = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(publicKey.count, 1))
        _ = point.initialize(from: publicKey)
        defer { point.deallocate() }

        guard let builder = OSSL_PARAM_BLD_new() else { throw .cryptoFailure(.secp256k1, "OSSL_PARAM_BLD_new failed") }
        defer { OSSL_PARAM_BLD_free(builder) }
        ERR_clear_error()
        var ok = OSSL_PARAM_BLD_push_utf8_string(builder, groupKey.pointer, groupName.pointer, 0) == 1
        ok = ok && OSSL_PARAM_BLD_push_octet_string(builder, publicKeyKey.pointer, point.baseAddress, publicKey.count) == 1
        if let scalar { ok = ok && OSSL_PARAM_BLD_push_BN(builder, privateKeyKey.pointer, scalar.pointer) == 1 }
        guard ok, let params = OSSL_PARAM_BLD_to_param(builder) else {
            throw .cryptoFailure(.secp256k1, "building key parameters: \(OpenSSL.errorText())")
        }
        defer { OSSL_PARAM_free(params) }
        guard let ctx = EVP_PKEY_CTX_new_from_name(nil, "EC", nil) else {
            throw .cryptoFailure(.secp256k1, "EVP_PKEY_CTX_new_from_name(EC): \(OpenSSL.errorText())")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        var pkey: OpaquePointer?
        // EVP_PKEY_PUBLIC_KEY / EVP_PKEY_KEYPAIR (macros Swift cannot import).
        let publicSelection = OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS | OSSL_KEYMGMT_SELECT_OTHER_PARAMETERS
            | OSSL_KEYMGMT_SELECT_PUBLIC_KEY
        let selection = scalar == nil ? publicSelection : publicSelection | OSSL_KEYMGMT_SELECT_PRIVATE_KEY
        let imported = EVP_PKEY_fromdata_init(ctx) == 1 && EVP_PKEY_fromdata(ctx, &pkey, selection, params) == 1
        withExtendedLifetime((groupKey, groupName, publicKeyKey, privateKeyKey, scalar)) {}
        guard imported, let pkey else {
            throw .invalidKeyEncoding(.secp256k1, "OpenSSL rejected the key: \(OpenSSL.errorText())")
        }
        return EVPKey(pkey)
    }

    /// Signs SHA-256(message) and returns a DER signature with a low S value (BIP-62 canonical form).
    static func sign(_ message: [UInt8], privateKey: [UInt8], publicKey: [UInt8]) throws(KeyError) -> [UInt8] {
        let key = try evpKey(publicKey: publicKey, privateKey: privateKey)
        let der = try OpenSSL.sign(message, with: key, type: .secp256k1)
        return try lowS(der)
    }

    /// Rewrites a DER ECDSA signature (r, s) as (r, n - s) when s > n/2.
    private static func lowS(_ der: [UInt8]) throws(KeyError) -> [UInt8] {
        let curve = try curve()
        guard let order = EC_GROUP_get0_order(curve.group) else { throw .cryptoFailure(.secp256k1, "curve order unavailable") }
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, buffer.count)
        }
        guard let signature = parsed else { throw .cryptoFailure(.secp256k1, "re-reading the signature failed") }
        defer { ECDSA_SIG_free(signature) }
        guard let r = ECDSA_SIG_get0_r(signature), let s = ECDSA_SIG_get0_s(signature) else {
            throw .cryptoFailure(.secp256k1, "signature without r or s")
        }
        guard let halfOrder = BN_dup(order).map(BigNum.init(owning:)), BN_rshift1(halfOrder.pointer, order) == 1 else {
            throw .cryptoFailure(.secp256k1, "BN arithmetic failed")
        }
        guard BN_cmp(s, halfOrder.pointer) > 0 else { return der }
        guard let newS = BN_new(), let newR = BN_dup(r) else { throw .cryptoFailure(.secp256k1, "BN_new failed") }
        guard BN_sub(newS, order, s) == 1, ECDSA_SIG_set0(signature, newR, newS) == 1 else {
            BN_free(newS)
            BN_free(newR)
            throw .cryptoFailure(.secp256k1, "normalising S failed")
        }
        guard let out = OpenSSL.encodeDER({ i2d_ECDSA_SIG(signature, $0) }) else {
            throw .cryptoFailure(.secp256k1, "encoding the signature failed")
        }
        return out
    }

    static func verify(_ signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard let key = try? evpKey(publicKey: publicKey) else { return false }
        return OpenSSL.verify(signature, message: message, with: key)
    }

    static func generate() throws(KeyError) -> [UInt8] {
        let key = try OpenSSL.generate(algorithm: "EC", type: .secp256k1) { EVP_PKEY_CTX_set_group_name($0, "secp256k1") }
        var bn: OpaquePointer?
        guard EVP_PKEY_get_bn_param(key.pointer, OSSL_PKEY_PARAM_PRIV_KEY, &bn) == 1, let bn else {
            throw .cryptoFailure(.secp256k1, "reading the generated scalar: \(OpenSSL.errorText())")
        }
        let owned = BigNum(owning: bn)
        var out = [UInt8](repeating: 0, count: privateKeyLength)
        guard BN_bn2binpad(owned.pointer, &out, Int32(out.count)) == Int32(privateKeyLength) else {
            throw .cryptoFailure(.secp256k1, "encoding the generated scalar failed")
        }
        return out
    }
}
