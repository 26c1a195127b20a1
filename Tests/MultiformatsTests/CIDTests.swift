import Foundation
import Testing
@testable import Multiformats
import TestSupport

@Suite("CID", .onBlockingPool)
struct CIDTests {
    struct Example: Decodable {
        let input: String
        let source: String
        let version: Int
        let codec: String
        let multihash_code: String
        let digest_length: Int
        let digest_hex: String
        let binary_hex: String
        let binary_form: String
        let derived: [String: String]
    }

    struct Examples: Decodable { let cids: [Example] }

    static func examples() throws -> [Example] {
        try JSONDecoder().decode(Examples.self, from: Fixture.data("cid-examples.json")).cids
    }

    /// "0x70 dag-pb" → (0x70, "dag-pb")
    static func code(_ field: String) throws -> (code: UInt64, name: String) {
        let parts = field.split(separator: " ")
        try #require(parts.count == 2 && parts[0].hasPrefix("0x"), "bad field \(field)")
        return (try #require(UInt64(parts[0].dropFirst(2), radix: 16)), String(parts[1]))
    }

    static let derivedBases: [(key: String, base: Multibase)] = [
        ("cidv1_base32", .base32), ("cidv1_base58btc", .base58btc), ("cidv1_base36", .base36), ("cidv1_base16", .base16),
    ]

    // MARK: vectors

    @Test("cid-examples.json: every CID parses to its parts and prints its derived forms")
    func examples() throws {
        let examples = try Self.examples()
        #expect(examples.count == 16)
        for e in examples {
            let codec = try Self.code(e.codec)
            let hash = try Self.code(e.multihash_code)
            let digest = try #require(Hex.decode(e.digest_hex))
            let binary = try #require(Hex.decode(e.binary_hex))
            let multihash = try Multihash(code: hash.code, digest: digest)
            #expect(Multicodec(rawValue: codec.code).name == codec.name)
            #expect(multihash.function.name == hash.name)
            #expect(digest.count == e.digest_length)

            if e.version == 0 && e.binary_form == "bare multihash" && !e.input.hasPrefix("Qm") {
                // A legacy peer ID (bare base58 multihash, not a CID): not parseable as a CID string.
                #expect(throws: CIDError.self, "\(e.input)") { try CID(e.input) }
                #expect(try Multihash(base58: e.input).bytes == binary)
                #expect(e.derived["peer_id_legacy_base58"] == e.input)
                let v1 = try CID(version: .v1, codec: Multicodec(rawValue: codec.code), multihash: multihash)
                try checkDerived(v1, e)
                continue
            }

            let cid = try CID(e.input)
            #expect(cid.version.rawValue == e.version, "\(e.input)")
            #expect(cid.codec.rawValue == codec.code)
            #expect(cid.multihash == multihash)
            #expect(cid.bytes == binary, "\(e.input)")
            #expect(try CID(bytes: binary) == cid)
            #expect(try CID(version: cid.version, codec: cid.codec, multihash: multihash) == cid)
            if cid.version == .v0 {
                #expect(cid.description == e.input)
                #expect(try cid.string(base: .base58btc) == e.input)
            } else {
                #expect(cid.description == e.derived["cidv1_base32"])
                if let peer = e.derived["peer_id_legacy_base58"] {
                    #expect(cid.multihash.base58 == peer)
                }
            }
            try checkDerived(cid, e)
        }
    }

    /// Checks the v1 strings in every base, the v0 form (or its absence) and that each parses back.
    func checkDerived(_ cid: CID, _ e: Example) throws {
        let v1 = cid.toV1()
        #expect(v1.version == .v1)
        #expect(v1.toV1() == v1)
        for (key, base) in Self.derivedBases {
            let expected = try #require(e.derived[key], "\(e.input) lacks \(key)")
            #expect(try v1.string(base: base) == expected, "\(e.input) \(key)")
            #expect(try CID(expected) == v1, "\(expected)")
        }
        if let v0String = e.derived["cidv0"] {
            let v0 = try cid.toV0()
            #expect(v0.version == .v0)
            #expect(v0.description == v0String)
            #expect(try CID(v0String) == v0)
            #expect(v0.toV1() == v1)
            #expect(try v1.toV0() == v0)
            #expect(v0 != v1)
        } else {
            #expect(throws: CIDError.self, "\(e.input) has no v0 form") { try cid.toV0() }
        }
    }

    @Test("v1 round-trips through every textual multibase")
    func everyBase() throws {
        let cids = try [
            CID("bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
            CID("bafkqaddwgevxmmraojswg33smq"),
            CID("k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs"),
        ]
        for cid in cids {
            for base in Multibase.allCases where base != .identity {
                let string = try cid.string(base: base)
                #expect(string.hasPrefix(base.prefix))
                #expect(try CID(string) == cid, "\(base): \(string)")
            }
            #expect(throws: CIDError.unsupportedBase(.identity)) { try cid.string(base: .identity) }
        }
        // base32 is case-insensitive: the upper-case form with its own prefix parses to the same CID.
        #expect(try CID("BAFYBEIHDWDCEFGH4DQKJV67UZCMW7OJEE6XEDZDETOJUZJEVTENXQUVYKU") == cids[0])
    }

    // MARK: strictness

    static let v0 = "QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n"
    static let v0Bytes = Hex.decode("1220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") ?? []
    static let v1Bytes = Hex.decode("01711220ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") ?? []

    @Test("v0 strings: exactly 46 bare base58btc characters of a dag-pb sha2-256 multihash")
    func v0Strings() throws {
        #expect(throws: CIDError.empty) { try CID("") }
        #expect(throws: CIDError.invalidV0String(length: 45)) { try CID(String(Self.v0.dropLast())) }
        #expect(throws: CIDError.invalidV0String(length: 47)) { try CID(Self.v0 + "1") }
        // '0' and 'l' are not base58 characters.
        #expect(throws: CIDError.self) { try CID(String(Self.v0.dropLast()) + "0") }
        #expect(throws: CIDError.self) { try CID(String(Self.v0.dropLast()) + "l") }
        // Decodes to 0x12 0x22 …: a 34-byte digest declared with only 32 bytes present.
        #expect(throws: CIDError.multihash(.truncatedDigest(declared: 34, available: 32, offset: 2))) {
            try CID("Qm" + String(repeating: "z", count: 44))
        }
        // Decodes to 0x12 0x1e …: a 30-byte digest and 2 stray bytes.
        #expect(throws: CIDError.trailingBytes(count: 2, offset: 32)) { try CID("Qm" + String(repeating: "1", count: 44)) }
    }

    @Test("a CIDv0 multihash in any multibase is rejected (version byte 0x12 is ambiguous)")
    func multibaseEncodedV0() throws {
        #expect(throws: CIDError.multibaseEncodedV0(base: .base58btc)) { try CID("z" + Self.v0) }
        #expect(throws: CIDError.multibaseEncodedV0(base: .base32)) {
            try CID("bciqohmgeikmpyhautl57jsezn64sij5oihsgjg4tjssjlgi3pbjlqvi")
        }
        #expect(throws: CIDError.multibaseEncodedV0(base: .base16)) { try CID("f" + Hex.encode(Self.v0Bytes)) }
        let v0 = try CID(Self.v0)
        #expect(throws: CIDError.v0RequiresBase58btc(.base32)) { try v0.string(base: .base32) }
    }

    @Test("binary form: versions, trailing bytes, truncation")
    func binaryErrors() throws {
        #expect(try CID(bytes: Self.v0Bytes).version == .v0)
        #expect(try CID(bytes: Self.v1Bytes).version == .v1)
        #expect(throws: CIDError.empty) { try CID(bytes: []) }
        #expect(throws: CIDError.unsupportedVersion(2, offset: 0)) { try CID(bytes: [0x02] + Self.v1Bytes.dropFirst()) }
        #expect(throws: CIDError.unsupportedVersion(3, offset: 0)) { try CID(bytes: [0x03] + Self.v1Bytes.dropFirst()) }
        #expect(throws: CIDError.unsupportedVersion(0, offset: 0)) { try CID(bytes: [0x00] + Self.v1Bytes.dropFirst()) }
        // 0x12 not followed by 0x20 cannot be a CIDv0, and version 18 is reserved.
        #expect(throws: CIDError.unsupportedVersion(0x12, offset: 0)) { try CID(bytes: [0x12, 0x14] + [UInt8](repeating: 1, count: 20)) }
        #expect(throws: CIDError.multibaseEncodedV0(base: .base16)) { try CID("f1214" + String(repeating: "01", count: 20)) }
        #expect(throws: CIDError.trailingBytes(count: 1, offset: 36)) { try CID(bytes: Self.v1Bytes + [0]) }
        #expect(throws: CIDError.trailingBytes(count: 2, offset: 34)) { try CID(bytes: Self.v0Bytes + [0, 0]) }
        #expect(throws: CIDError.multihash(.truncatedDigest(declared: 32, available: 31, offset: 4))) {
            try CID(bytes: Array(Self.v1Bytes.dropLast()))
        }
        #expect(throws: CIDError.multihash(.truncatedDigest(declared: 32, available: 31, offset: 2))) {
            try CID(bytes: Array(Self.v0Bytes.dropLast()))
        }
        #expect(throws: CIDError.varint(.truncated, field: .codec, offset: 1)) { try CID(bytes: [0x01, 0x80]) }
        #expect(throws: CIDError.varint(.empty, field: .codec, offset: 1)) { try CID(bytes: [0x01]) }
        #expect(throws: CIDError.varint(.notMinimal, field: .version, offset: 0)) { try CID(bytes: [0x81, 0x00, 0x55]) }
        #expect(throws: CIDError.multihash(.varint(.empty, field: .code, offset: 2))) { try CID(bytes: [0x01, 0x55]) }
        // Same truncation reached from a string.
        #expect(throws: CIDError.multihash(.truncatedDigest(declared: 32, available: 31, offset: 4))) {
            try CID("f" + Hex.encode(Self.v1Bytes.dropLast()))
        }
    }

    @Test("unknown multibase prefixes and bad characters are rejected")
    func badStrings() throws {
        for s in ["X" + "afybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "/ipfs/bafy", "1abc", "bafy!",
                  " bafybeihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "b"] {
            #expect(throws: CIDError.self, "\(s)") { try CID(s) }
        }
        #expect(throws: CIDError.multibase(.unknownPrefix("X"))) { try CID("Xabc") }
    }

    @Test("v0 construction and conversion rules")
    func v0Rules() throws {
        let sha = try Multihash.hash(Array("x".utf8), with: .sha2_256)
        #expect(try CID(version: .v0, codec: .dagPB, multihash: sha).version == .v0)
        #expect(throws: CIDError.invalidV0(codec: .raw, hash: .sha2_256, digestLength: 32)) {
            try CID(version: .v0, codec: .raw, multihash: sha)
        }
        let sha512 = try Multihash.hash(Array("x".utf8), with: .sha2_512)
        #expect(throws: CIDError.invalidV0(codec: .dagPB, hash: .sha2_512, digestLength: 64)) {
            try CID(version: .v0, codec: .dagPB, multihash: sha512)
        }
        let short = try Multihash.hash(Array("x".utf8), with: .sha2_256, truncatedTo: 20)
        #expect(throws: CIDError.invalidV0(codec: .dagPB, hash: .sha2_256, digestLength: 20)) {
            try CID(version: .v0, codec: .dagPB, multihash: short)
        }
        #expect(throws: CIDError.notConvertibleToV0(codec: .raw, hash: .sha2_256, digestLength: 32)) {
            try CID(version: .v1, codec: .raw, multihash: sha).toV0()
        }
        #expect(throws: CIDError.notConvertibleToV0(codec: .dagPB, hash: .sha2_256, digestLength: 20)) {
            try CID(version: .v1, codec: .dagPB, multihash: short).toV0()
        }
        let identity = try Multihash.hash(Array("x".utf8), with: .identity)
        #expect(throws: CIDError.notConvertibleToV0(codec: .dagPB, hash: .identity, digestLength: 1)) {
            try CID(version: .v1, codec: .dagPB, multihash: identity).toV0()
        }
        #expect(throws: CIDError.codecTooLarge(.max)) {
            try CID(version: .v1, codec: Multicodec(rawValue: .max), multihash: sha)
        }
        let v1 = try CID(version: .v1, codec: .dagPB, multihash: sha)
        #expect(try v1.toV0().toV0() == v1.toV0())
        // Errors say what is wrong.
        let description = CIDError.invalidV0(codec: .raw, hash: .sha2_256, digestLength: 32).description
        #expect(description.contains("raw") && description.contains("dag-pb"))
        #expect(CIDError.unsupportedVersion(2, offset: 0).description.contains("version 2"))
    }

    @Test("read(from:) reads consecutive CIDs; ordering is by bytes")
    func readAndOrder() throws {
        var reader = ByteReader(Self.v0Bytes + Self.v1Bytes + [0x01])
        let a = try CID.read(from: &reader)
        let b = try CID.read(from: &reader)
        #expect(a.version == .v0 && b.version == .v1)
        #expect(reader.offset == 34 + 36)
        #expect(throws: CIDError.varint(.empty, field: .codec, offset: 71)) { try CID.read(from: &reader) }
        #expect(b < a)  // 0x01… sorts before 0x12…
        #expect([a, b].sorted() == [b, a])
        #expect(Set([a, a.toV1(), b]).count == 3)
    }

    @Test("codec values outside the known table are kept")
    func unknownCodec() throws {
        let sha = try Multihash.hash([], with: .sha2_256)
        let cid = try CID(version: .v1, codec: Multicodec(rawValue: 0x3f_ffff), multihash: sha)
        let parsed = try CID(cid.description)
        #expect(parsed.codec.rawValue == 0x3f_ffff)
        #expect(parsed.codec.name == nil)
        #expect(parsed == cid)
    }
}
