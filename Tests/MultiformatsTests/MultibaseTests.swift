import Foundation
import Testing
@testable import Multiformats
import TestSupport

@Suite("Multibase", .onBlockingPool)
struct MultibaseTests {
    /// Parses the multibase test CSVs: first row `encoding, "input"`, then `name, "encoded"`.
    static func csv(_ name: String) throws -> (input: [UInt8], rows: [(String, String)]) {
        let lines = try Fixture.text("multibase-tests/\(name)").split(whereSeparator: \.isNewline)
        func split(_ line: Substring) -> (String, String) {
            let comma = line.firstIndex(of: ",") ?? line.endIndex
            let name = line[..<comma].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: comma)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            return (name, value)
        }
        let header = split(lines[0]).1
        return (unescape(header), lines.dropFirst().map(split))
    }

    /// The CSV headers write NUL bytes as `\x00`.
    static func unescape(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var chars = Array(s.utf8)[...]
        while let c = chars.first {
            if c == UInt8(ascii: "\\"), chars.count >= 4, chars.dropFirst().first == UInt8(ascii: "x"),
               let b = Hex.decode(String(decoding: chars.dropFirst(2).prefix(2), as: UTF8.self)) {
                out += b
                chars = chars.dropFirst(4)
            } else {
                out.append(c)
                chars = chars.dropFirst()
            }
        }
        return out
    }

    @Test(arguments: ["basic.csv", "leading_zero.csv", "two_leading_zeros.csv"])
    func canonicalVectorsRoundTrip(file: String) throws {
        let (input, rows) = try Self.csv(file)
        #expect(rows.count >= 20)
        for (name, encoded) in rows {
            let base = try #require(Multibase(name: name), "unknown base \(name)")
            #expect(base.encode(input) == encoded, "\(name) encode")
            let decoded = try Multibase.decode(encoded)
            #expect(decoded.base == base)
            #expect(decoded.bytes == input, "\(name) decode")
        }
    }

    @Test func caseInsensitiveDecoding() throws {
        let (input, rows) = try Self.csv("case_insensitivity.csv")
        #expect(rows.count == 12)
        for (name, encoded) in rows {
            let decoded = try Multibase.decode(encoded)
            #expect(decoded.base.name == name)
            #expect(decoded.bytes == input, "\(name)")
        }
    }

    @Test func registryPrefixesMatchTheTable() throws {
        let lines = try Fixture.text("multibase.csv").split(whereSeparator: \.isNewline).dropFirst()
        var seen = 0
        for line in lines {
            let cols = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard cols.count >= 3, let base = Multibase(name: cols[2]) else { continue }
            let scalar = try #require(UInt32(cols[0].dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init))
            #expect(base.prefix == String(Character(scalar)), "\(cols[2])")
            seen += 1
        }
        // The table lists identity (NUL) as "none"; every other base is matched by name.
        #expect(seen == Multibase.allCases.count - 1)
        #expect(Multibase.identity.prefix == "\u{0}")
    }

    @Test func emptyInputRoundTrips() throws {
        for base in Multibase.allCases {
            let s = base.encode([])
            #expect(try Multibase.decode(s).bytes == [], "\(base)")
        }
    }

    @Test func randomRoundTrips() throws {
        var rng = SystemRandomNumberGenerator()
        for length in [1, 2, 3, 4, 5, 7, 31, 32, 33, 64] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            for base in Multibase.allCases where base != .identity {
                #expect(try Multibase.decode(base.encode(bytes)).bytes == bytes, "\(base) \(length)")
            }
        }
    }

    @Test func base2AcceptsNonCanonicalLength() throws {
        #expect(try Multibase.base2.decodeBare("011010") == [0x1a])
    }

    @Test func base10Examples() throws {
        #expect(Multibase.base10.encode([0x00, 0x01]) == "901")
        #expect(Multibase.base10.encode([0x00, 0x00, 0xff]) == "900255")
        #expect(Multibase.base10.encode([0x01, 0x00]) == "9256")
        #expect(try Multibase.decode("90256").bytes == [0x00, 0x01, 0x00])
    }

    @Test func base45RFCExamples() throws {
        // RFC 9285 section 4.3.
        #expect(Multibase.base45.encodeBare(Array("AB".utf8)) == "BB8")
        #expect(Multibase.base45.encodeBare(Array("Hello!!".utf8)) == "%69 VD92EX0")
        #expect(Multibase.base45.encodeBare(Array("base-45".utf8)) == "UJCLQE7W581")
        #expect(try Multibase.base45.decodeBare("QED8WEX0") == Array("ietf!".utf8))
        #expect(throws: MultibaseError.self) { try Multibase.base45.decodeBare("GGW") }  // 65535 + 1
    }

    @Test func invalidInputsAreRejected() {
        #expect(throws: MultibaseError.empty) { try Multibase.decode("") }
        #expect(throws: MultibaseError.unknownPrefix("x")) { try Multibase.decode("xabc") }
        #expect(throws: MultibaseError.self) { try Multibase.decode("z0OIl") }          // not base58
        #expect(throws: MultibaseError.self) { try Multibase.decode("f0g") }            // not hex, odd
        #expect(throws: MultibaseError.self) { try Multibase.decode("fabc") }           // odd hex length
        #expect(throws: MultibaseError.self) { try Multibase.decode("ba") }             // 5 bits: no byte
        #expect(throws: MultibaseError.self) { try Multibase.decode("bab=") }           // padding in unpadded base
        #expect(throws: MultibaseError.self) { try Multibase.decode("cab") }            // padded base without padding
        #expect(throws: MultibaseError.self) { try Multibase.decode("mA") }             // one base64 char
        #expect(throws: MultibaseError.self) { try Multibase.decode("u+/8") }           // std chars in url base
        #expect(throws: MultibaseError.self) { try Multibase.decode("🚀a") }           // not an emoji of the table
        #expect(throws: MultibaseError.self) { try Multibase.decode("k!") }
    }

    @Test func errorsNameTheOffset() {
        #expect(throws: MultibaseError.invalidCharacter("0", base: .base58btc, offset: 2)) {
            try Multibase.decode("z110")
        }
    }
}
