import COpenSSL
import Foundation
import Testing
@testable import Multiformats
import TestSupport

@Suite("Multihash", .onBlockingPool)
struct MultihashTests {
    // MARK: fixtures

    /// multiformats/multihash tests/values/test_cases.csv: `algorithm,bits,input,multihash`.
    static func testCases() throws -> [(function: HashFunction, bits: Int, input: String, hex: String)] {
        let lines = try Fixture.text("multihash-tests/test_cases.csv").split(whereSeparator: \.isNewline)
        #expect(lines.first == "algorithm,bits,input,multihash")
        return try lines.dropFirst().map { line in
            let f = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            try #require(f.count == 4, "bad row \(line)")
            let function: HashFunction = f[0] == "sha3" ? .sha3_512 : try #require(HashFunction(name: f[0]), "\(f[0])")
            return (function, try #require(Int(f[1])), f[2], f[3])
        }
    }

    struct JSFixtures: Decodable {
        struct Encoding: Decodable { let code: UInt64; let name: String; let varint: String? }
        struct Valid: Decodable { let encoding: Encoding; let hex: String; let size: Int }
        struct Invalid: Decodable { let code: UInt64; let size: Int; let hex: String; let message: String }
        let valid: [Valid]
        let invalid: [Invalid]
    }

    static func jsFixtures() throws -> JSFixtures {
        try JSONDecoder().decode(JSFixtures.self, from: Fixture.data("multihash-js-fixtures.json"))
    }

    static func hex(_ s: String) throws -> [UInt8] { try #require(Hex.decode(s), "bad hex \(s)") }

    // MARK: vector files

    @Test("multihash test_cases.csv: 260 truncated sha1/sha2/sha3 digests")
    func multihashTestCases() throws {
        let cases = try Self.testCases()
        #expect(cases.count == 260)
        for c in cases {
            let input = Array(c.input.utf8)
            let mh = try Multihash.hash(input, with: c.function, truncatedTo: c.bits / 8)
            #expect(Hex.encode(mh.bytes) == c.hex, "\(c.function) \(c.bits) \(c.input)")
            let parsed = try Multihash(bytes: try Self.hex(c.hex))
            #expect(parsed == mh)
            #expect(parsed.code == c.function.rawValue)
            #expect(parsed.digest.count == c.bits / 8)
            #expect(parsed.verifies(input))
            #expect(!parsed.verifies(input + [0]))
        }
    }

    @Test("random_vals.csv: identity round trip, streaming == one-shot, verification")
    func randomValues() throws {
        let values = try Fixture.text("multihash-tests/random_vals.csv")
            .split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(values.count == 20)
        let inputs = Set(try Self.testCases().map(\.input))
        for value in values {
            #expect(inputs.contains(value), "random value \(value) is an input of test_cases.csv")
            let data = Array(value.utf8)
            let identity = try Multihash.hash(data, with: .identity)
            #expect(identity.bytes == [0x00, UInt8(data.count)] + data)
            #expect(try Multihash(bytes: identity.bytes) == identity)
            let hasher = Sha256.Hasher()
            for i in stride(from: 0, to: data.count, by: 7) { hasher.update(data[i..<min(i + 7, data.count)]) }
            let streamed = hasher.finalize()
            #expect(streamed == Sha256.digest(data))
            #expect(try Multihash(code: 0x12, digest: streamed).verifies(data))
        }
    }

    @Test("js-multiformats valid multihash fixtures decode and round-trip")
    func jsValid() throws {
        let fixtures = try Self.jsFixtures()
        #expect(fixtures.valid.count == 15)
        for v in fixtures.valid {
            let digest = try Self.hex(v.hex)
            #expect(digest.count == v.size)
            if let varint = v.encoding.varint {
                #expect(Hex.encode(Varint.encode(v.encoding.code)) == varint)
            }
            let bytes = Varint.encode(v.encoding.code) + Varint.encode(UInt64(v.size)) + digest
            let mh = try Multihash(bytes: bytes)
            #expect(mh.code == v.encoding.code)
            #expect(mh.digest == digest)
            #expect(mh.bytes == bytes)
            // The fixture predates the registry renaming 0x22 "murmur3-128" to "murmur3-x64-64".
            let name = v.encoding.name == "murmur3-128" ? "murmur3-x64-64" : v.encoding.name
            #expect(mh.function.name == name)
            #expect(HashFunction(name: name)?.rawValue == v.encoding.code)
            #expect(try Multihash(code: v.encoding.code, digest: digest) == mh)
            #expect(try Multihash(base58: mh.base58) == mh)
        }
    }

    @Test("js-multiformats invalid multihash fixtures are rejected")
    func jsInvalid() throws {
        let fixtures = try Self.jsFixtures()
        #expect(fixtures.invalid.count == 7)
        for v in fixtures.invalid {
            let bytes = try Self.hex(v.hex)
            #expect(throws: MultihashError.self, "\(v.hex): \(v.message)") { try Multihash(bytes: bytes) }
        }
    }

    // MARK: hash functions

    static let knownAnswers: [(HashFunction, String, String)] = [
        (.sha1, "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        (.sha1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (.sha2_224, "", "d14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f"),
        (.sha2_224, "abc", "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"),
        (.sha2_256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (.sha2_256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (.sha2_384, "", "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b"),
        (.sha2_384, "abc", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"),
        (.sha2_512, "", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
        (.sha2_512, "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        (.sha3_224, "", "6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7"),
        (.sha3_224, "abc", "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"),
        (.sha3_256, "", "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"),
        (.sha3_256, "abc", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"),
        (.sha3_384, "", "0c63a75b845e4f7d01107d852e4c2485c51a50aaaa94fc61995e71bbee983a2ac3713831264adb47fb6bd1e058d5f004"),
        (.sha3_384, "abc", "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf228376d25"),
        (.sha3_512, "", "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26"),
        (.sha3_512, "abc", "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0"),
        (.blake2b_256, "", "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"),
        (.blake2b_256, "abc", "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"),
        (.blake2b_512, "", "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"),
        (.blake2b_512, "abc", "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"),
        (HashFunction(rawValue: 0xb210), "", "cae66941d9efbd404e4d88758ea67670"),
        (HashFunction(rawValue: 0xb210), "abc", "cf4ab791c62b8d2b2109c90275287816"),
    ]

    @Test("known answers for every computable function (Python hashlib)")
    func knownAnswerDigests() throws {
        for (function, input, expected) in Self.knownAnswers {
            let data = Array(input.utf8)
            let mh = try Multihash.hash(data, with: function)
            #expect(Hex.encode(mh.digest) == expected, "\(function)(\"\(input)\")")
            #expect(mh.digest.count == function.digestLength)
            #expect(mh.verifies(data))
            let viaPointer = try data.withUnsafeBytes { try Multihash.hash($0, with: function) }
            #expect(viaPointer == mh)
        }
        #expect(HashFunction(rawValue: 0xb210).name == "blake2b-128")
        #expect(HashFunction.blake2b_256.name == "blake2b-256")
    }

    @Test("1 MiB buffer: one-shot, streaming in odd chunks, blake2b (Python hashlib)")
    func largeBuffer() throws {
        let data = (0..<((1 << 20) + 13)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let expected = "78943c02dd1b4ee1e6790aafaf42fef70eee83b7c94db610b92dd1249a1aa40f"
        #expect(Hex.encode(Sha256.digest(data)) == expected)
        #expect(Hex.encode(data.withUnsafeBytes { Sha256.digest($0) }) == expected)
        let hasher = Sha256.Hasher()
        var i = 0
        var step = 1
        while i < data.count {
            let end = min(i + step, data.count)
            data.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[i..<end])) }
            i = end
            step = step * 3 + 1
        }
        #expect(Hex.encode(hasher.finalize()) == expected)
        // finalize resets: the same hasher hashes the next message from scratch.
        hasher.update(Array("abc".utf8))
        #expect(Hex.encode(hasher.finalize()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Hex.encode(hasher.finalize()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Hex.encode(try Multihash.hash(data, with: .blake2b_256).digest)
            == "b253f646daafa188330a39c4c80c371b5026f156eb72c7d5e9b0ae81fbe785c2")
    }

    @Test("non-contiguous collections hash like arrays")
    func nonContiguous() {
        let data = Array("hello world".utf8)
        #expect(Sha256.digest(data.reversed().reversed()) == Sha256.digest(data))
        #expect(Sha256.digest(data[2...]) == Sha256.digest(Array(data[2...])))
    }

    // MARK: construction rules and errors

    @Test("truncation rules")
    func truncation() throws {
        let data = Array("abc".utf8)
        #expect(try Multihash.hash(data, with: .sha2_256, truncatedTo: 32).digest.count == 32)
        #expect(try Multihash.hash(data, with: .sha2_256, truncatedTo: 1).digest == [0xba])
        #expect(throws: MultihashError.invalidTruncation(function: .sha2_256, requested: 33, available: 32)) {
            try Multihash.hash(data, with: .sha2_256, truncatedTo: 33)
        }
        #expect(throws: MultihashError.invalidTruncation(function: .sha2_256, requested: 0, available: 32)) {
            try Multihash.hash(data, with: .sha2_256, truncatedTo: 0)
        }
        #expect(throws: MultihashError.invalidTruncation(function: .identity, requested: 2, available: 3)) {
            try Multihash.hash(data, with: .identity, truncatedTo: 2)
        }
        #expect(try Multihash.hash(data, with: .identity, truncatedTo: 3).digest == data)
        #expect(try Multihash.hash([], with: .identity).bytes == [0, 0])
    }

    @Test("unsupported functions parse but cannot be computed or verified")
    func unsupported() throws {
        let murmur = HashFunction(rawValue: 0x22)
        #expect(murmur.name == "murmur3-x64-64")
        #expect(!murmur.isSupported)
        #expect(murmur.digestLength == nil)
        #expect(throws: MultihashError.unsupportedHashFunction(murmur)) { try Multihash.hash([1], with: murmur) }
        let mh = try Multihash(code: 0x22, digest: [1, 2, 3, 4])
        #expect(!mh.verifies([1]))
        #expect(!HashFunction(rawValue: 0xb201).isSupported)  // blake2b-8: below libsodium's minimum
        #expect(HashFunction(rawValue: 0xb201).name == "blake2b-8")
        #expect(HashFunction.sha2_256.isSupported && HashFunction.identity.isSupported)
        // An empty non-identity digest proves nothing.
        #expect(!(try Multihash(code: 0x12, digest: [])).verifies([]))
        #expect(try Multihash(code: 0x00, digest: []).verifies([]))
    }

    @Test("decode errors name the field and offset")
    func decodeErrors() throws {
        #expect(throws: MultihashError.varint(.empty, field: .code, offset: 0)) { try Multihash(bytes: []) }
        #expect(throws: MultihashError.varint(.empty, field: .digestLength, offset: 1)) { try Multihash(bytes: [0x12]) }
        #expect(throws: MultihashError.varint(.truncated, field: .code, offset: 0)) { try Multihash(bytes: [0x80]) }
        #expect(throws: MultihashError.varint(.notMinimal, field: .code, offset: 0)) { try Multihash(bytes: [0x92, 0x00, 0x00]) }
        #expect(throws: MultihashError.varint(.notMinimal, field: .digestLength, offset: 1)) {
            try Multihash(bytes: [0x12, 0x81, 0x00])
        }
        #expect(throws: MultihashError.truncatedDigest(declared: 32, available: 2, offset: 2)) {
            try Multihash(bytes: [0x12, 0x20, 1, 2])
        }
        let full = try Multihash.hash([], with: .sha2_256).bytes
        #expect(throws: MultihashError.trailingBytes(count: 2, offset: 34)) { try Multihash(bytes: full + [0, 0]) }
        #expect(throws: MultihashError.digestTooLong(function: .sha2_256, length: 33, maximum: 32)) {
            try Multihash(bytes: [0x12, 0x21] + [UInt8](repeating: 7, count: 33))
        }
        #expect(throws: MultihashError.digestTooLong(function: .blake2b_256, length: 33, maximum: 32)) {
            try Multihash(code: 0xb220, digest: [UInt8](repeating: 7, count: 33))
        }
        #expect(throws: MultihashError.codeTooLarge(UInt64.max)) { try Multihash(code: .max, digest: []) }
        #expect(throws: MultihashError.self) { try Multihash(base58: "0OIl") }
        // Descriptions say what and where.
        let error = MultihashError.truncatedDigest(declared: 32, available: 2, offset: 2)
        #expect(error.description.contains("offset 2") && error.description.contains("32"))
        #expect(MultihashError.varint(.empty, field: .digestLength, offset: 1).description.contains("digest length"))
    }

    @Test("read(from:) consumes one multihash and leaves the rest")
    func readSequence() throws {
        let a = try Multihash.hash(Array("a".utf8), with: .sha2_256)
        let b = try Multihash.hash(Array("b".utf8), with: .identity)
        var reader = ByteReader(a.bytes + b.bytes + [0xff])
        #expect(try Multihash.read(from: &reader) == a)
        #expect(try Multihash.read(from: &reader) == b)
        #expect(reader.remainingCount == 1)
        #expect(throws: MultihashError.varint(.truncated, field: .code, offset: 37)) { try Multihash.read(from: &reader) }
    }

    @Test("base58 string form (legacy peer IDs)")
    func base58() throws {
        let peer = "12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV"
        let mh = try Multihash(base58: peer)
        #expect(mh.function == .identity)
        #expect(mh.digest.count == 36)
        #expect(mh.base58 == peer)
        #expect(mh.description == peer)
    }

    /// Throughput check for a 256 MiB buffer; opt-in (`JZ_PERF=1`) as it needs quiet cores.
    @Test("SHA-256 of 256 MiB runs at direct OpenSSL EVP_Digest speed", .enabled(if: ProcessInfo.processInfo.environment["JZ_PERF"] != nil))
    func throughput() throws {
        let size = 256 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
        defer { buffer.deallocate() }
        for i in stride(from: 0, to: size, by: 4096) { buffer[i] = UInt8(truncatingIfNeeded: i >> 12) }
        let clock = ContinuousClock()
        var digest: [UInt8] = []
        let oneShot = clock.measure { digest = Sha256.digest(UnsafeRawBufferPointer(buffer)) }
        let hasher = Sha256.Hasher()
        let streamed = clock.measure {
            for offset in stride(from: 0, to: size, by: 1 << 20) {
                hasher.update(UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + (1 << 20)]))
            }
        }
        #expect(hasher.finalize() == digest)
        // The same buffer straight through OpenSSL's one-shot EVP_Digest, as the yardstick.
        var direct = [UInt8](repeating: 0, count: 32)
        let md = EVP_MD_fetch(nil, "SHA256", nil)
        defer { EVP_MD_free(md) }
        let reference = clock.measure {
            var length: UInt32 = 0
            _ = EVP_Digest(buffer.baseAddress, size, &direct, &length, md, nil)
        }
        #expect(direct == digest)
        let small = [UInt8](repeating: 1, count: 32)
        let smallTime = clock.measure { for _ in 0..<200_000 { _ = Sha256.digest(small) } }
        func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18 }
        // Generous margin: the cores are shared, so timings are noisy.
        #expect(seconds(oneShot) < seconds(reference) * 1.5 + 0.05)
        print("SHA-256 256 MiB: EVP_Digest \(Int(256 / seconds(reference))) MiB/s, one-shot \(Int(256 / seconds(oneShot))) MiB/s, "
            + "streaming (1 MiB updates) \(Int(256 / seconds(streamed))) MiB/s; "
            + "32-byte input: \(Int(seconds(smallTime) / 200_000 * 1e9)) ns/call")
    }
}
