import Testing
@testable import Multiformats
import TestSupport

@Suite("Multi-buffer SHA-256", .onBlockingPool)
struct BatchHashingTests {
    /// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    @Test("FIPS 180-4 examples through the kernel (one, two and 17 messages)")
    func knownAnswers() throws {
        let abc = Array("abc".utf8)
        let two = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        let cases: [([UInt8], String)] = [
            ([], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            (abc, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (two, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ]
        let messages = (0..<17).map { cases[$0 % 3].0 }
        guard let digests = messages.withRawBuffers({ Sha256.multiBufferDigests($0) }) else {
            // No AVX-512 here: the batch API must still answer, through OpenSSL.
            let digests = Sha256.digests(of: messages)
            for (i, d) in digests.enumerated() { #expect(Self.hex(d) == cases[i % 3].1) }
            return
        }
        #expect(digests.count == 17)
        for (i, d) in digests.enumerated() { #expect(Self.hex(d) == cases[i % 3].1, "message \(i)") }
        #expect(messages.withRawBuffers({ Sha256.multiBufferDigests(Array($0.prefix(1))) })?.map(Self.hex) == [cases[0].1])
    }

    @Test("kernel equals OpenSSL on every padding edge and on mixed lengths", arguments: [1, 2, 3, 5, 8, 9, 15, 16, 17, 33, 64])
    func matchesOpenSSL(count: Int) throws {
        // Lengths around the one/two tail-block boundary (55/56), block multiples, and large
        // messages mixed with tiny ones so lanes finish at different times and take new work.
        let edges = [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000, 4096, 262_158, 100_000]
        let messages = (0..<count).map { i in Self.bytes(edges[(i * 7 + count) % edges.count], seed: UInt64(i + 1)) }
        let expected = messages.map { Sha256.digest($0) }
        if let kernel = messages.withRawBuffers({ Sha256.multiBufferDigests($0) }) {
            #expect(kernel == expected)
        }
        #expect(Sha256.digests(of: messages) == expected)
        let slices = messages.map { $0.dropFirst(min(1, $0.count)) }
        #expect(Sha256.digests(of: slices) == slices.map { Sha256.digest($0) })
    }

    @Test("verifyAll agrees with verifies(_:) item by item: good, flipped, truncated, other and unsupported functions")
    func verifyAll() throws {
        var items: [(multihash: Multihash, data: [UInt8])] = []
        for i in 0..<40 {
            let data = Self.bytes(1000 + i * 333, seed: UInt64(100 + i))
            let function: HashFunction = i % 5 == 4 ? .sha2_512 : .sha2_256
            var multihash = try Multihash.hash(data, with: function)
            if i % 7 == 3 {
                var digest = multihash.digest
                digest[5] ^= 1
                multihash = try Multihash(code: function.rawValue, digest: digest)
            }
            if i % 11 == 6 { multihash = try Multihash.hash(data, with: .sha2_256, truncatedTo: 20) }
            items.append((multihash, data))
        }
        items.append((try Multihash(code: 0x1e, digest: [UInt8](repeating: 1, count: 32)), [1, 2, 3]))
        items.append((try Multihash.hash([9, 9], with: .identity), [9, 9]))
        let expected = items.map { $0.multihash.verifies($0.data) }
        #expect(expected.contains(false) && expected.contains(true))
        #expect(Multihash.verifyAll(items) == expected)
        #expect(Multihash.verifyAll([]) == [])
    }

    @Test("Multihash batch hashing equals one-by-one hashing for SHA2-256 and others")
    func multihashBatch() throws {
        let messages = (0..<20).map { Self.bytes($0 * 97, seed: UInt64($0)) }
        for function in [HashFunction.sha2_256, .sha2_512, .blake2b_256, .identity] {
            let batch = try Multihash.hash(batch: messages, with: function)
            #expect(batch == (try messages.map { try Multihash.hash($0, with: function) }), "\(function)")
        }
        #expect(throws: MultihashError.self) { try Multihash.hash(batch: messages, with: HashFunction(rawValue: 0x1e)) }
    }
}

extension Array where Element == [UInt8] {
    fileprivate func withRawBuffers<R>(_ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        Multiformats.withRawBuffers(self, body)
    }
}
