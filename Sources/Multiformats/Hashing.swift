import COpenSSL
import CSodium

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SHA-256 through OpenSSL's EVP interface (which picks SHA-NI / AVX2 code paths at run time).
///
/// The OpenSSL algorithm object is fetched once per process; hashing does not copy the input
/// and allocates only the 32-byte result.
public enum Sha256 {
    /// Digest size in bytes.
    public static let digestLength = 32

    /// SHA-256 of `data`.
    public static func digest(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        EVPAlgorithm.sha2_256.digest(data)
    }

    /// SHA-256 of `bytes` (`[UInt8]`, `ArraySlice<UInt8>`, …); contiguous collections are not copied.
    public static func digest<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        withContiguousBytes(bytes) { EVPAlgorithm.sha2_256.digest($0) }
    }

    /// Incremental SHA-256 for data that arrives in pieces.
    ///
    /// ```swift
    /// let hasher = Sha256.Hasher()
    /// for chunk in chunks { hasher.update(chunk) }
    /// let digest = hasher.finalize()
    /// ```
    /// Not thread-safe: use one hasher per task.
    public final class Hasher {
        private let context: EVPContext

        public init() {
            context = EVPContext(EVPAlgorithm.sha2_256)
        }

        /// Feeds `data` into the hash.
        public func update(_ data: UnsafeRawBufferPointer) {
            context.update(data)
        }

        /// Feeds `bytes` into the hash; contiguous collections are not copied.
        public func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
            withContiguousBytes(bytes) { context.update($0) }
        }

        /// Returns the digest of everything fed so far and resets the hasher to its empty state,
        /// so the same instance can hash another message.
        public func finalize() -> [UInt8] {
            context.finalize()
        }
    }
}

/// Runs `body` over the bytes of `bytes`, copying only when the collection is not contiguous.
@inline(__always)
func withContiguousBytes<C: Collection, R>(
    _ bytes: C, _ body: (UnsafeRawBufferPointer) -> R
) -> R where C.Element == UInt8 {
    if let result = bytes.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
        return result
    }
    return Array(bytes).withUnsafeBytes(body)
}

/// One OpenSSL message digest, fetched once (`EVP_MD_fetch`) so no per-call algorithm lookup happens.
struct EVPAlgorithm: @unchecked Sendable {
    // An EVP_MD from EVP_MD_fetch is immutable and safe to share between threads.
    let md: OpaquePointer
    let length: Int

    private init(_ name: String, length: Int, legacy: () -> OpaquePointer?) {
        guard let md = EVP_MD_fetch(nil, name, nil) ?? legacy() else {
            fatalError("OpenSSL does not provide \(name)")
        }
        self.md = md
        self.length = length
    }

    static let sha1 = EVPAlgorithm("SHA1", length: 20) { EVP_sha1() }
    static let sha2_224 = EVPAlgorithm("SHA224", length: 28) { EVP_sha224() }
    static let sha2_256 = EVPAlgorithm("SHA256", length: 32) { EVP_sha256() }
    static let sha2_384 = EVPAlgorithm("SHA384", length: 48) { EVP_sha384() }
    static let sha2_512 = EVPAlgorithm("SHA512", length: 64) { EVP_sha512() }
    static let sha3_224 = EVPAlgorithm("SHA3-224", length: 28) { EVP_sha3_224() }
    static let sha3_256 = EVPAlgorithm("SHA3-256", length: 32) { EVP_sha3_256() }
    static let sha3_384 = EVPAlgorithm("SHA3-384", length: 48) { EVP_sha3_384() }
    static let sha3_512 = EVPAlgorithm("SHA3-512", length: 64) { EVP_sha3_512() }

    /// One-shot digest of `data`, on this thread's reusable context (no OpenSSL allocation per call,
    /// unlike `EVP_Digest`).
    func digest(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        let ctx = ThreadDigestContext.current()
        return [UInt8](unsafeUninitializedCapacity: length) { out, initialized in
            var size: UInt32 = 0
            let ok = EVP_DigestInit_ex2(ctx, md, nil) == 1
                && (data.isEmpty || EVP_DigestUpdate(ctx, data.baseAddress, data.count) == 1)
                && EVP_DigestFinal_ex(ctx, out.baseAddress, &size) == 1
            precondition(ok && Int(size) == length, "OpenSSL one-shot digest failed")
            initialized = length
        }
    }
}

/// One `EVP_MD_CTX` per thread for one-shot digests, freed when the thread exits.
/// Digesting is synchronous, so a thread never uses its context twice at once.
enum ThreadDigestContext {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let rc = pthread_key_create(&key) { pointer in
            EVP_MD_CTX_free(OpaquePointer(pointer))
        }
        precondition(rc == 0, "pthread_key_create failed")
        return key
    }()

    static func current() -> OpaquePointer {
        if let existing = pthread_getspecific(key) { return OpaquePointer(existing) }
        guard let ctx = EVP_MD_CTX_new() else { fatalError("OpenSSL: out of memory (EVP_MD_CTX_new)") }
        precondition(pthread_setspecific(key, UnsafeRawPointer(ctx)) == 0, "pthread_setspecific failed")
        return ctx
    }
}

/// An `EVP_MD_CTX` owned by a Swift object.
final class EVPContext {
    private let ctx: OpaquePointer
    private let algorithm: EVPAlgorithm

    init(_ algorithm: EVPAlgorithm) {
        guard let ctx = EVP_MD_CTX_new() else { fatalError("OpenSSL: out of memory (EVP_MD_CTX_new)") }
        self.ctx = ctx
        self.algorithm = algorithm
        reset()
    }

    deinit { EVP_MD_CTX_free(ctx) }

    private func reset() {
        precondition(EVP_DigestInit_ex2(ctx, algorithm.md, nil) == 1, "OpenSSL EVP_DigestInit_ex2 failed")
    }

    func update(_ data: UnsafeRawBufferPointer) {
        guard data.count > 0 else { return }
        precondition(EVP_DigestUpdate(ctx, data.baseAddress, data.count) == 1, "OpenSSL EVP_DigestUpdate failed")
    }

    func finalize() -> [UInt8] {
        let length = algorithm.length
        let out = [UInt8](unsafeUninitializedCapacity: length) { out, initialized in
            var size: UInt32 = 0
            let ok = EVP_DigestFinal_ex(ctx, out.baseAddress, &size)
            precondition(ok == 1 && Int(size) == length, "OpenSSL EVP_DigestFinal_ex failed")
            initialized = length
        }
        reset()
        return out
    }
}

/// BLAKE2b with a chosen output length, through libsodium's `crypto_generichash`.
enum Blake2b {
    /// Output lengths libsodium supports (16…64 bytes).
    static let supportedLengths = Int(crypto_generichash_BYTES_MIN)...Int(crypto_generichash_BYTES_MAX)

    private static let initialized: Bool = sodium_init() >= 0

    static func digest(_ data: UnsafeRawBufferPointer, length: Int) -> [UInt8] {
        precondition(supportedLengths.contains(length), "BLAKE2b output length \(length) not supported")
        precondition(initialized, "libsodium failed to initialize")
        return [UInt8](unsafeUninitializedCapacity: length) { out, initialized in
            guard let outAddress = out.baseAddress else { preconditionFailure("empty output buffer") }
            let ok = crypto_generichash(
                outAddress, length,
                data.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(data.count),
                nil, 0)
            precondition(ok == 0, "libsodium crypto_generichash failed")
            initialized = length
        }
    }
}
