import Foundation
import Testing

@testable import UnixFS
import TestSupport

/// The 14 CIDs of IPIP-499 / Kubo's cid_profiles_test.go (Fixtures/importer-profiles.json).
@Suite("Importer profiles (IPIP-499)", .onBlockingPool)
struct ImporterProfileTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let profile: String
        let cid: String
        let input: String
        var testDescription: String { "\(profile): \(input)" }
    }

    static let cases: [Case] = {
        guard let url = Bundle.module.url(forResource: "importer-profiles", withExtension: "json", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [] }
        var out: [Case] = []
        for profile in ["unixfs-v0-2015", "unixfs-v1-2025"] {
            guard let section = json[profile] as? [String: Any], let cases = section["cases"] as? [[String: String]] else { continue }
            for c in cases {
                if let cid = c["cid"], let input = c["input"] { out.append(Case(profile: profile, cid: cid, input: input)) }
            }
        }
        return out
    }()

    @Test("the fixture lists 14 cases")
    func count() {
        #expect(Self.cases.count == 14)
    }

    @Test("reproduces the profile CID", arguments: cases)
    func reproduce(_ c: Case) throws {
        let options = try #require(ImportOptions.profile(named: c.profile))
        let importer = try Importer(options: options, sink: nil)
        let result: ImportResult
        if c.input.hasPrefix("bytes 'hello world'") {
            result = try importer.add(bytes: Array("hello world".utf8))
        } else if c.input.hasPrefix("deterministic_bytes(") {
            let (size, seed) = try Self.parseBytes(c.input)
            result = try importer.add(source: ChaChaSource(seed: seed, size: size))
        } else if c.input.hasPrefix("directory: filenames(") {
            let (seed, count, nameLength, lastLength) = try Self.parseNames(c.input)
            let names = deterministicNames(seed: seed, count: count, nameLength: nameLength, lastNameLength: lastLength)
            let files = names.map { ImportNode.file(name: $0, contents: Array("x".utf8)) }
            result = try importer.add(tree: .directory(name: "dir", children: files))
            let sharded = c.input.hasSuffix("-> HAMT")
            #expect(try DirectoryTestSupport.isHAMT(result.root.cid, options: options, files: names) == sharded)
        } else {
            Issue.record("unknown input \(c.input)")
            return
        }
        #expect(result.root.cid.description == c.cid)
    }

    /// "deterministic_bytes(174*262144+1, 'v0-seed')" → (size, seed)
    static func parseBytes(_ input: String) throws -> (UInt64, String) {
        let inner = try #require(input.split(separator: "(", maxSplits: 1).last?.split(separator: ")").first)
        let parts = inner.split(separator: ",", maxSplits: 1)
        let expression = parts[0].trimmingCharacters(in: .whitespaces)
        var size: UInt64 = 0
        for term in expression.split(separator: "+") {
            var product: UInt64 = 1
            for factor in term.split(separator: "*") { product *= try #require(UInt64(factor)) }
            size += product
        }
        let seed = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: " '"))
        return (size, seed)
    }

    /// "directory: filenames('hamt-unixfs-v0-2015', 4096, 30, 30) -> …"
    static func parseNames(_ input: String) throws -> (String, Int, Int, Int) {
        let inner = try #require(input.split(separator: "(", maxSplits: 1).last?.split(separator: ")").first)
        let parts = inner.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " '")) }
        return (parts[0], try #require(Int(parts[1])), try #require(Int(parts[2])), try #require(Int(parts[3])))
    }
}

enum DirectoryTestSupport {
    /// Re-imports with a store and checks whether the root is a HAMT (and lists every name back).
    static func isHAMT(_ root: CID, options: ImportOptions, files: [String]) throws -> Bool {
        let (result, store) = try importTreeToStore(
            options, tree: .directory(name: "dir", children: files.map { .file(name: $0, contents: Array("x".utf8)) }))
        #expect(result.root.cid == root)
        let exporter = Exporter(source: store)
        let info = try exporter.stat(root)
        let names = try exporter.entries(root).map(\.name)
        #expect(Set(names) == Set(files))
        #expect(names.count == files.count)
        return info.isSharded
    }
}

import Multiformats
