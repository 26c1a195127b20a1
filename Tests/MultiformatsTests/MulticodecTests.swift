import Foundation
import Testing
@testable import Multiformats
import TestSupport

@Suite("Multicodec", .onBlockingPool)
struct MulticodecTests {
    /// multiformats/multicodec table.csv: `name, tag, code, status, description` → name: code.
    static func table() throws -> [String: UInt64] {
        let lines = try Fixture.text("multicodec-table.csv").split(whereSeparator: \.isNewline)
        var table: [String: UInt64] = [:]
        for line in lines.dropFirst() {
            let f = line.split(separator: ",", maxSplits: 4, omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count >= 3, f[2].hasPrefix("0x"), let code = UInt64(f[2].dropFirst(2), radix: 16) else {
                Issue.record("bad table row: \(line)")
                continue
            }
            #expect(table[f[0]] == nil, "duplicate name \(f[0])")
            table[f[0]] = code
        }
        return table
    }

    @Test("every named code matches the multicodec registry table")
    func matchesTable() throws {
        let table = try Self.table()
        #expect(table.count > 500)
        let known = Multicodec.known
        #expect(known.count >= 40)
        for codec in known {
            let name = try #require(codec.name)
            #expect(table[name] == codec.rawValue, "\(name): 0x\(String(codec.rawValue, radix: 16))")
            #expect(Multicodec(name: name) == codec)
        }
        // The computed blake2b / blake2s families.
        for bytes in 1...64 {
            let name = "blake2b-\(bytes * 8)"
            let codec = try #require(Multicodec(name: name))
            #expect(table[name] == codec.rawValue, "\(name)")
            #expect(codec.name == name)
        }
        for bytes in 1...32 {
            let name = "blake2s-\(bytes * 8)"
            let codec = try #require(Multicodec(name: name))
            #expect(table[name] == codec.rawValue, "\(name)")
            #expect(codec.name == name)
        }
    }

    @Test("the constants the node uses")
    func constants() throws {
        let expected: [(Multicodec, String, UInt64)] = [
            (.identity, "identity", 0x00), (.raw, "raw", 0x55), (.dagPB, "dag-pb", 0x70), (.dagCBOR, "dag-cbor", 0x71),
            (.dagJSON, "dag-json", 0x0129), (.libp2pKey, "libp2p-key", 0x72), (.cbor, "cbor", 0x51),
            (.json, "json", 0x0200), (.car, "car", 0x0202), (.sha2_256, "sha2-256", 0x12),
            (.sha2_512, "sha2-512", 0x13), (.sha3_256, "sha3-256", 0x16), (.sha3_512, "sha3-512", 0x14),
            (.blake2b_256, "blake2b-256", 0xb220), (.sha1, "sha1", 0x11), (.ipnsRecord, "ipns-record", 0x0300),
            (.libp2pPeerRecord, "libp2p-peer-record", 0x0301), (.ed25519Pub, "ed25519-pub", 0xed),
            (.transportBitswap, "transport-bitswap", 0x0900), (.protobuf, "protobuf", 0x50),
        ]
        let table = try Self.table()
        for (codec, name, code) in expected {
            #expect(codec.rawValue == code)
            #expect(codec.name == name)
            #expect(codec.description == name)
            #expect(table[name] == code)
        }
    }

    @Test("hash function constants agree with the registry")
    func hashFunctions() throws {
        let table = try Self.table()
        let functions: [HashFunction] = [
            .identity, .sha1, .sha2_256, .sha2_512, .sha3_224, .sha3_256, .sha3_384, .sha3_512,
            .sha2_224, .sha2_384, .blake2b_256, .blake2b_512,
        ]
        for function in functions {
            let name = try #require(function.name)
            #expect(table[name] == function.rawValue, "\(name)")
            #expect(HashFunction(name: name) == function)
            #expect(function.isSupported)
            #expect(function.multicodec.rawValue == function.rawValue)
        }
    }

    @Test("unknown names and codes")
    func unknown() {
        #expect(Multicodec(name: "no-such-codec") == nil)
        #expect(Multicodec(name: "blake2b-0") == nil)
        #expect(Multicodec(name: "blake2b-520") == nil)
        #expect(Multicodec(name: "blake2b-12") == nil)
        #expect(Multicodec(name: "blake2b-x") == nil)
        #expect(HashFunction(name: "sha4") == nil)
        let unknown = Multicodec(rawValue: 0x3f_ffff)
        #expect(unknown.name == nil)
        #expect(unknown.description == "0x3fffff")
    }
}
