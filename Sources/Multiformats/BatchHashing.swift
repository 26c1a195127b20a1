import CSha256MB
import Dispatch

extension Sha256 {
    /// How many messages the multi-buffer kernel hashes side by side: 16 on CPUs with AVX-512 and
    /// no SHA extensions, 0 where hashing one message at a time is as fast (SHA-NI) or no kernel
    /// applies. Callers that can group independent messages (file chunks, received blocks) should
    /// hand `digests(of:)` at least this many at once. `JZ_SHA256_MB=0` turns the kernel off,
    /// `JZ_SHA256_MB=1` uses it even with SHA-NI.
    public static let lanes = Int(jz_sha256_mb_lanes())

    /// The fewest messages worth a kernel call. A call costs about the same for 1 message as for
    /// 8 (its 8-lane form) or 16: measured on a Xeon without SHA-NI, 3 messages of 256 KiB hash
    /// at 495 MB/s, 8 at 1,250 MB/s, 16 at 2,240 MB/s, against OpenSSL's 395 MB/s for one.
    public static let minimumBatch = 3

    /// SHA-256 of every message, in order.
    ///
    /// Without SHA-NI, one-message SHA-256 costs ~7 cycles per byte; the AVX-512 kernel hashes
    /// 16 messages in one core's vector registers at ~1.2 cycles per byte (8 or fewer go through
    /// an 8-lane form on 256-bit registers). Where it does not apply
    /// (`lanes == 0`), or for fewer than `minimumBatch` messages, the messages go through OpenSSL
    /// one by one. Same results either way.
    public static func digests(_ messages: [UnsafeRawBufferPointer]) -> [[UInt8]] {
        if lanes == 0 || messages.count < minimumBatch { return messages.map { digest($0) } }
        return kernelDigests(messages)
    }

    /// SHA-256 of every message (`[UInt8]`, `ArraySlice<UInt8>`, …), in order; contiguous
    /// collections are not copied.
    public static func digests<C: Collection>(of messages: [C]) -> [[UInt8]] where C.Element == UInt8 {
        if lanes == 0 || messages.count < minimumBatch { return messages.map { digest($0) } }
        return withRawBuffers(messages) { kernelDigests($0) }
    }

    /// The multi-buffer kernel, whatever `lanes` says (tests compare it with OpenSSL); nil when the
    /// CPU cannot run it.
    public static func multiBufferDigests(_ messages: [UnsafeRawBufferPointer]) -> [[UInt8]]? {
        guard jz_sha256_mb_supported_lanes() > 0 else { return nil }
        return kernelDigests(messages)
    }

    private static func kernelDigests(_ messages: [UnsafeRawBufferPointer]) -> [[UInt8]] {
        let count = messages.count
        if count == 0 { return [] }
        let pointers = messages.map { $0.baseAddress?.assumingMemoryBound(to: UInt8.self) }
        let lengths = messages.map(\.count)
        var out = [UInt8](repeating: 0, count: 32 * count)
        pointers.withUnsafeBufferPointer { p in
            lengths.withUnsafeBufferPointer { l in
                out.withUnsafeMutableBufferPointer { o in
                    jz_sha256_mb(p.baseAddress, l.baseAddress, count, o.baseAddress)
                }
            }
        }
        return (0..<count).map { Array(out[32 * $0 ..< 32 * $0 + 32]) }
    }
}

/// Runs `body` with the bytes of every message at once (nested pointer scopes, so each stays
/// valid for the whole call); non-contiguous collections are copied.
func withRawBuffers<C: Collection, R>(
    _ messages: [C], _ body: ([UnsafeRawBufferPointer]) -> R
) -> R where C.Element == UInt8 {
    var buffers: [UnsafeRawBufferPointer] = []
    buffers.reserveCapacity(messages.count)
    func nest(_ index: Int) -> R {
        if index == messages.count { return body(buffers) }
        return withContiguousBytes(messages[index]) { buffer in
            buffers.append(buffer)
            return nest(index + 1)
        }
    }
    return nest(0)
}

extension Multihash {
    /// Hashes every message with `function`, in order. SHA2-256 goes through `Sha256.digests`
    /// (the multi-buffer kernel when it applies); other functions hash one message at a time.
    /// - Throws: `.unsupportedHashFunction` for functions this library cannot compute.
    public static func hash<C: Collection>(
        batch messages: [C], with function: HashFunction
    ) throws(MultihashError) -> [Multihash] where C.Element == UInt8 {
        if function == .sha2_256 {
            var result: [Multihash] = []
            result.reserveCapacity(messages.count)
            for digest in Sha256.digests(of: messages) {
                result.append(try Multihash(code: function.rawValue, digest: digest))
            }
            return result
        }
        var result: [Multihash] = []
        result.reserveCapacity(messages.count)
        for message in messages {
            let outcome = withContiguousBytes(message) { buffer in
                Result { () throws(MultihashError) -> Multihash in try hash(buffer, with: function) }
            }
            result.append(try outcome.get())
        }
        return result
    }
}

extension Multihash {
    /// Whether each `data` hashes to its multihash (exactly `verifies(_:)`), checked on all
    /// cores. SHA2-256 items are hashed `Sha256.lanes` at a time by the multi-buffer kernel.
    public static func verifyAll(_ items: [(multihash: Multihash, data: [UInt8])]) -> [Bool] {
        let count = items.count
        if count == 0 { return [] }
        // Groups of consecutive items: sha2-256 ones share a kernel call.
        let size = max(1, Sha256.lanes)
        let groups = stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
        let results = VerifyResults(count: count)
        DispatchQueue.concurrentPerform(iterations: groups.count) { g in
            let range = groups[g]
            let sha = range.filter {
                items[$0].multihash.code == HashFunction.sha2_256.rawValue && items[$0].multihash.digest.count == 32
            }
            for (index, digest) in zip(sha, Sha256.digests(of: sha.map { items[$0].data })) {
                results.set(index, digest == items[index].multihash.digest)
            }
            let shaSet = Set(sha)
            for index in range where !shaSet.contains(index) {
                results.set(index, items[index].multihash.verifies(items[index].data))
            }
        }
        return results.values
    }
}

/// Flags written by distinct `concurrentPerform` iterations (each index once), read after all end.
private final class VerifyResults: @unchecked Sendable {
    private let flags: UnsafeMutableBufferPointer<Bool>
    init(count: Int) {
        flags = .allocate(capacity: count)
        flags.initialize(repeating: false)
    }
    deinit { flags.deallocate() }
    func set(_ index: Int, _ value: Bool) { flags[index] = value }
    var values: [Bool] { Array(flags) }
}
