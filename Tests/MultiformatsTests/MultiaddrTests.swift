import Foundation
import Testing
@testable import Multiformats
import TestSupport

@Suite("Multiaddr", .onBlockingPool)
struct MultiaddrTests {
    // MARK: Fixtures

    struct Pair: Sendable, CustomStringConvertible {
        let string: String
        let hex: String
        var description: String { string.count > 80 ? String(string.prefix(80)) + "…" : string }
    }

    struct Cases {
        var goValid: [String] = []
        var goInvalid: [String] = []
        var goStringToBytes: [Pair] = []
        var goBytesToString: [Pair] = []
        var rustPairs: [Pair] = []
        var rustInvalid: [String] = []
    }

    static func cases() throws -> Cases {
        let root = try #require(try Fixture.json("multiaddr/multiaddr-cases.json") as? [String: Any])
        let go = try #require(root["go_multiaddr"] as? [String: Any])
        let rust = try #require(root["rust_multiaddr"] as? [String: Any])
        func strings(_ d: [String: Any], _ key: String) throws -> [String] {
            try #require(d[key] as? [String], "\(key) missing")
        }
        func pairs(_ d: [String: Any], _ key: String) throws -> [Pair] {
            try #require(d[key] as? [[String: String]], "\(key) missing").map {
                Pair(string: $0["string"] ?? "", hex: $0["hex"] ?? "")
            }
        }
        return Cases(
            goValid: try strings(go, "valid_strings"),
            goInvalid: try strings(go, "invalid_strings"),
            goStringToBytes: try pairs(go, "string_to_bytes"),
            goBytesToString: try pairs(go, "bytes_to_string"),
            rustPairs: try pairs(rust, "string_and_bytes"),
            rustInvalid: try strings(rust, "invalid_strings"))
    }

    /// Parsing, then bytes → parse and string → parse give the same multiaddr, and the
    /// printed form is a fixed point.
    static func checkRoundTrips(_ s: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let m = try Multiaddr(s)
        #expect(!m.isEmpty, sourceLocation: sourceLocation)
        #expect(try Multiaddr(bytes: m.bytes) == m, "bytes round trip \(s)", sourceLocation: sourceLocation)
        let printed = m.description
        let reparsed = try Multiaddr(printed)
        #expect(reparsed == m, "string round trip \(s) → \(printed)", sourceLocation: sourceLocation)
        #expect(reparsed.description == printed, sourceLocation: sourceLocation)
        #expect(m.bytes == m.components.flatMap(\.bytes), sourceLocation: sourceLocation)
    }

    // MARK: Vector files

    @Test func goValidStringsParseAndRoundTrip() throws {
        let cases = try Self.cases()
        #expect(cases.goValid.count == 93)
        for s in cases.goValid {
            try Self.checkRoundTrips(s)
        }
    }

    @Test func goInvalidStringsAreRejected() throws {
        let cases = try Self.cases()
        #expect(cases.goInvalid.count == 66)
        for s in cases.goInvalid {
            #expect(throws: MultiaddrError.self, "\(s.prefix(90))") { try Multiaddr(s) }
        }
    }

    @Test func goStringToBytes() throws {
        let cases = try Self.cases()
        #expect(cases.goStringToBytes.count == 7)
        for p in cases.goStringToBytes {
            #expect(Hex.encode(try Multiaddr(p.string).bytes) == p.hex, "\(p)")
        }
    }

    @Test func goBytesToString() throws {
        let cases = try Self.cases()
        #expect(cases.goBytesToString.count == 7)
        for p in cases.goBytesToString {
            let bytes = try #require(Hex.decode(p.hex))
            let m = try Multiaddr(bytes: bytes)
            #expect(m.description == p.string, "\(p)")
            #expect(m.bytes == bytes)
        }
    }

    @Test func rustStringAndBytesPairs() throws {
        let cases = try Self.cases()
        #expect(cases.rustPairs.count == 45)
        for p in cases.rustPairs {
            let m = try Multiaddr(p.string)
            #expect(Hex.encode(m.bytes) == p.hex, "\(p)")
            let bytes = try #require(Hex.decode(p.hex))
            let decoded = try Multiaddr(bytes: bytes)
            #expect(decoded == m)
            #expect(decoded.description == p.string, "\(p)")
        }
    }

    @Test func rustInvalidStringsAreRejected() throws {
        let cases = try Self.cases()
        #expect(cases.rustInvalid.count == 42)
        for s in cases.rustInvalid {
            #expect(throws: MultiaddrError.self, "\(s)") { try Multiaddr(s) }
        }
    }

    @Test func registryMatchesProtocolsCSV() throws {
        let csv = try Fixture.text("multiaddr/multiaddr-protocols.csv")
        var rows = 0
        for line in csv.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 3, let code = UInt64(fields[0]) else { continue }
            rows += 1
            let byName = try #require(MultiaddrProtocol(name: fields[2]), "\(fields[2]) missing")
            #expect(byName.code == code, "\(fields[2])")
            let byCode = try #require(MultiaddrProtocol(code: code))
            #expect(byCode == byName)
            let expectedSize: MultiaddrProtocol.Size =
                switch fields[1] {
                case "V": .variable
                case "0": .none
                default: .fixed(bits: Int(fields[1]) ?? -1)
                }
            if byName == .memory {
                // The registry says V; go-multiaddr and rust-multiaddr (the implementations
                // peers run) encode memory as a fixed 64-bit big-endian value. We follow them.
                #expect(byName.size == .fixed(bits: 64))
                #expect(expectedSize == .variable)
            } else {
                #expect(byName.size == expectedSize, "\(fields[2])")
            }
        }
        #expect(rows == 41)
        #expect(MultiaddrProtocol(name: "ipfs") == .p2p)
        #expect(MultiaddrProtocol.unix.isPath)
        #expect(Set(MultiaddrProtocol.all.map(\.code)).count == MultiaddrProtocol.all.count)
        #expect(MultiaddrProtocol(name: "nope") == nil)
        #expect(MultiaddrProtocol(code: 0x99999) == nil)
    }

    /// multiaddr.feature: packed form, string form and per-component fields.
    @Test func featureScenarios() throws {
        let text = try Fixture.text("multiaddr/multiaddr.feature")
        var given: String?
        var header: [String] = []
        var tables = 0
        var checks = 0
        var current: Multiaddr?
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("Given the multiaddr ") {
                let v = String(line.dropFirst("Given the multiaddr ".count))
                given = v
                header = []
                if v.hasPrefix("0x") {
                    current = try Multiaddr(bytes: try #require(Hex.decode(v.dropFirst(2))))
                } else {
                    current = try Multiaddr(v)
                }
            } else if line.hasPrefix("Then the packed form is ") || line.hasPrefix("And the packed form is ") {
                let hex = try #require(line.split(separator: " ").last).dropFirst(2)
                #expect(Hex.encode(try #require(current).bytes) == String(hex), "\(given ?? "")")
                checks += 1
            } else if line.contains("the string form is ") {
                let s = try #require(line.split(separator: " ").last)
                #expect(try #require(current).description == String(s))
                checks += 1
            } else if line.contains("the packed size is ") || line.contains("the string size is ") {
                let words = line.split(separator: " ")
                let n = try #require(Int(words[words.count - 2]))
                let m = try #require(current)
                #expect((line.contains("packed") ? m.bytes.count : m.description.utf8.count) == n)
                checks += 1
            } else if line.hasPrefix("|") {
                let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                    .map { $0.trimmingCharacters(in: .whitespaces) }
                if header.isEmpty {
                    header = cells
                    tables += 1
                    continue
                }
                var row: [String: String] = [:]
                for (k, v) in zip(header, cells) { row[k] = v }
                let m = try #require(current)
                let rowString = try #require(row["string"])
                let c = try #require(m.components.first { $0.description == rowString }, "\(rowString)")
                #expect(c.description.utf8.count == Int(row["stringSize"] ?? ""))
                #expect("0x" + Hex.encode(c.bytes) == row["packed"])
                #expect(c.bytes.count == Int(row["packedSize"] ?? ""))
                #expect(c.valueString == row["value"])
                #expect(c.value.count == Int(row["valueSize"] ?? ""))
                #expect(c.protocol.name == row["protocol"])
                #expect(String(c.protocol.code) == row["codec"])
                #expect("0x" + Hex.encode(Varint.encode(c.protocol.code)) == row["uvarint"])
                #expect("0x" + Hex.encode(c.value) == row["rawValue"])
                if let prefix = row["lengthPrefix"], !prefix.isEmpty {
                    #expect("0x" + Hex.encode(Varint.encode(UInt64(c.value.count))) == prefix)
                } else {
                    #expect(c.protocol.size != .variable)
                }
                checks += 1
            }
        }
        #expect(tables == 2)
        #expect(checks == 8)
    }

    // MARK: Canonical printing

    @Test(arguments: [
        ("/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"),
        ("/p2p/k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl7", "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"),
        ("/p2p/bafzbeigvf25ytwc3akrijfecaotc74udrhcxzh2cx3we5qqnw5vgrei4bm", "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"),
        ("/p2p/k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs", "/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV"),
        ("/p2p/bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u", "/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV"),
        ("/ip4/127.0.0.1/tcp/1234/", "/ip4/127.0.0.1/tcp/1234"),
        ("/ip4/127.0.0.1/tcp/01234", "/ip4/127.0.0.1/tcp/1234"),
        ("/certhash/b2uaraocy6yrdblb4sfptaddgimjmmpy", "/certhash/u1QEQOFj2IjCsPJFfMAxmQxLGPw"),
        ("/certhash/zQmbWTwYGcmdyK9CYfNBcfs9nhZs17a6FQ4Y8oea278xx41", "/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g"),
        ("/ip6/2001:0DB8:0000:0000:0000:0000:0000:0001", "/ip6/2001:db8::1"),
        ("/ip6/1:0:0:1:0:0:0:1", "/ip6/1:0:0:1::1"),
        ("/ip6/1:0:0:1:1:0:0:1", "/ip6/1::1:1:0:0:1"),
        ("/ip6/1:0:1:0:1:0:1:0", "/ip6/1:0:1:0:1:0:1:0"),
        ("/ip6/0:0:0:0:0:0:0:0", "/ip6/::"),
        ("/ip6/fe80::", "/ip6/fe80::"),
        ("/ip6/::ffff:7f00:1", "/ip6/::ffff:127.0.0.1"),
        ("/ip6/1.2.3.4", "/ip6/::ffff:1.2.3.4"),
        ("/ip6/::1.2.3.4", "/ip6/::102:304"),
        ("/ip6/64:ff9b::192.0.2.33", "/ip6/64:ff9b::c000:221"),
        ("/onion/TIMAQ4YGG2IEGCI7:1234", "/onion/timaq4ygg2iegci7:1234"),
        ("/http-path/a+b%2fc", "/http-path/a+b%2Fc"),
        ("/unix/a//b", "/unix/a//b"),
        ("/memory/18446744073709551615", "/memory/18446744073709551615"),
    ] as [(String, String)])
    func canonicalString(input: String, expected: String) throws {
        let m = try Multiaddr(input)
        #expect(m.description == expected)
        #expect(try Multiaddr(expected) == m)
    }

    /// go-multiaddr TestRoundTrip, TestIPFSvP2P, TestHTTPPath round trips.
    @Test(arguments: [
        "/unix/a/b/c/d",
        "/ip6/::ffff:127.0.0.1/tcp/111",
        "/ip4/127.0.0.1/tcp/123",
        "/ip4/127.0.0.1/tcp/123/tls",
        "/ip4/127.0.0.1/udp/123",
        "/ip4/127.0.0.1/udp/123/ip6/::",
        "/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
        "/p2p/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP",
        "/p2p/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP/unix/a/b/c",
        "/http-path/tmp%2Fbar",
        "/http-path/tmp%2Fbar%2Fbaz",
        "/ip4/127.0.0.1/tcp/443/tls/sni/example.com/http/http-path/foo",
        "/dns/example.com/tcp/443/wss",
        "/dns4/example.com/tcp/80/ws/p2p-websocket-star",
        "/dns6/example.com/udp/4001/quic-v1/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV/p2p-circuit",
        "/ip4/1.2.3.4/udp/4001/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g",
        "/dnsaddr/bootstrap.libp2p.io/p2p-stardust",
        "/ip4/1.2.3.4/tcp/80/plaintextv2",
        "/ip4/1.2.3.4/dccp/5/ipcidr/0",
    ])
    func exactRoundTrip(_ s: String) throws {
        #expect(try Multiaddr(s).description == s)
        try Self.checkRoundTrips(s)
    }

    // MARK: Errors

    @Test func errorsNameTheComponent() throws {
        do {
            _ = try Multiaddr("/ip4/1.2.3/tcp/1")
            Issue.record("should have thrown")
        } catch {
            #expect(error == .invalidValue(protocol: "ip4", value: "1.2.3", reason: "is not an IPv4 address", input: "/ip4/1.2.3/tcp/1"))
            #expect(error.description == #"invalid multiaddr "/ip4/1.2.3/tcp/1": component ip4: "1.2.3" is not an IPv4 address"#)
        }
        #expect(throws: MultiaddrError.empty) { try Multiaddr("") }
        #expect(throws: MultiaddrError.empty) { try Multiaddr("/") }
        #expect(throws: MultiaddrError.empty) { try Multiaddr("///") }
        #expect(throws: MultiaddrError.missingLeadingSlash(input: "ip4/1.2.3.4")) { try Multiaddr("ip4/1.2.3.4") }
        #expect(throws: MultiaddrError.unknownProtocol(name: "1234", input: "/ip4/127.0.0.1/quic/1234")) {
            try Multiaddr("/ip4/127.0.0.1/quic/1234")
        }
        #expect(throws: MultiaddrError.unknownProtocol(name: "", input: "/ip4/1.2.3.4//tcp/1")) {
            try Multiaddr("/ip4/1.2.3.4//tcp/1")
        }
        #expect(throws: MultiaddrError.missingValue(protocol: "tcp", input: "/ip4/127.0.0.1/tcp")) {
            try Multiaddr("/ip4/127.0.0.1/tcp")
        }
        #expect(throws: MultiaddrError.invalidValue(
            protocol: "tcp", value: "65536", reason: "is not a port number (0-65535)", input: "/tcp/65536")
        ) { try Multiaddr("/tcp/65536") }
        #expect(throws: MultiaddrError.invalidValue(protocol: "dns", value: "", reason: "is empty", input: "/dns//tcp/1")) {
            try Multiaddr("/dns//tcp/1")
        }
        #expect(throws: MultiaddrError.invalidValue(protocol: "ip6zone", value: "", reason: "is empty", input: "/ip6zone//ip6/fe80::1")) {
            try Multiaddr("/ip6zone//ip6/fe80::1")
        }
        let unknown = MultiaddrError.unknownProtocol(name: "p2p-webcrt-direct", input: "/ip4/127.0.0.1/tcp/9090/http/p2p-webcrt-direct")
        #expect(unknown.description == #"invalid multiaddr "/ip4/127.0.0.1/tcp/9090/http/p2p-webcrt-direct": unknown protocol "p2p-webcrt-direct""#)
    }

    @Test(arguments: [
        "/ip4/01.2.3.4", "/ip4/1.2.3.256", "/ip4/1.2.3.4.5", "/ip4/1..3.4", "/ip4/ 1.2.3.4", "/ip4/::ffff:1.2.3.4",
        "/ip6/1:2:3:4:5:6:7:8:9", "/ip6/1:2:3:4:5:6:7::8", "/ip6/1::2::3", "/ip6/12345::", "/ip6/:1", "/ip6/1:",
        "/ip6/::g", "/ip6/fe80::1%eth0", "/ip6/1:2:3:4:5:6:1.2.3.4:5", "/ip6/1:2:3:4:5:1.2.3.4", "/ip6/::01.2.3.4",
        "/tcp/+1", "/tcp/", "/udp/-0", "/ipcidr/256", "/memory/18446744073709551616", "/memory/x",
        "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1:2",
        "/garlic32/566NIXIMLXDZPANMN4QOUUCVUA3K7NENIWSS47LI5R6UGOERTZUQ",
        "/garlic64/jT~IyX==",
        "/http-path/a%2", "/http-path/a%zz", "/http-path/",
        "/certhash/uEiDDq4", "/certhash/!nope",
        "/p2p/k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl-",
        "/p2p/?unknownmultibase",
        "/p2p/k2jmtxwoe2phm1hbqp0e7nufqf6umvuu2e9qd7ana7h411a0haqj6i2z",
        "/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNK0",
        "/p2p/1", "/p2p-circuit/50", "/unix/", "/unix", "/webtransport/x", "/dns4",
    ])
    func rejects(_ s: String) {
        #expect(throws: MultiaddrError.self) { try Multiaddr(s) }
    }

    // MARK: Binary form

    @Test func zoneBytes() throws {
        // go-multiaddr TestZone
        let bytes: [UInt8] = [0x2a, 4, 0x65, 0x74, 0x68, 0x30, 0x29] + [UInt8](repeating: 0, count: 15) + [1]
        #expect(try Multiaddr("/ip6zone/eth0/ip6/::1").bytes == bytes)
        #expect(try Multiaddr(bytes: bytes).description == "/ip6zone/eth0/ip6/::1")
    }

    @Test func dnsBytes() throws {
        // go-multiaddr TestDNS: "7" = 0x37 dns6, "*" = 42 bytes of name.
        let m = try Multiaddr(bytes: Array("7*000000000000000000000000000000000000000000".utf8))
        #expect(m.description == "/dns6/000000000000000000000000000000000000000000")
        #expect(try Multiaddr(m.description) == m)
    }

    @Test(arguments: [
        "",  // empty
        "04",  // ip4 without value
        "047f0000",  // ip4 value truncated
        "0604",  // tcp value truncated
        "91",  // varint truncated
        "9100",  // varint not minimal
        "ff7f",  // unknown code 16383
        "00",  // unknown code 0
        "3500",  // dns with zero length
        "3505616263",  // dns length 5, 3 bytes
        "35022f61",  // dns "/a"
        "3502ff61",  // dns not UTF-8
        "a503221221c05877cbae039d70a5e600ea02c6f9f2942439285c9e344e26f8d280c850fad6",  // go TestInvalidP2PAddrBytes
        "a50302aabb",  // p2p not a multihash
        "a50304d5010100",  // p2p md5 multihash
        "a5030412011234",  // p2p sha2-256 with 1-byte digest
        "d203021200",  // certhash 0x12 length 0 → ok structure? length byte 0, no digest: valid, followed by nothing — see below
        "d2030412010000",  // certhash digest longer than declared
        "900302612f",  // unix "a/" (no leading slash)
        "9003032f612f",  // unix "/a/"
        "9003022f61047f000001",  // component after unix
        "bc0300000000000000000000000000",  // onion port 0 (+ extra)
        "bc03000000000000000000000000",  // onion port 0
        "2b",  // ipcidr truncated
        "2b0102",  // trailing garbage (unknown code 2)
        "cc0300",  // quic followed by code 0
        "be0301ff",  // garlic64 too short
        "bf030401020304",  // garlic32 4 bytes
        "e10300",  // http-path empty
        "890601",  // memory truncated
    ])
    func rejectsBytes(_ hex: String) throws {
        let bytes = try #require(Hex.decode(hex))
        if hex == "d203021200" {
            // A multihash with an empty digest is structurally valid (go accepts it too).
            #expect(try Multiaddr(bytes: bytes).description == "/certhash/uEgA")
            return
        }
        #expect(throws: MultiaddrError.self) { try Multiaddr(bytes: bytes) }
    }

    @Test func binaryErrorsSayWhere() throws {
        #expect(throws: MultiaddrError.empty) { try Multiaddr(bytes: []) }
        #expect(throws: MultiaddrError.unknownCode(0x3fff, offset: 5)) { try Multiaddr(bytes: [4, 1, 2, 3, 4, 0xff, 0x7f]) }
        #expect(throws: MultiaddrError.truncated(protocol: "tcp", needed: 2, available: 1, offset: 6)) {
            try Multiaddr(bytes: [4, 1, 2, 3, 4, 6, 0])
        }
        #expect(throws: MultiaddrError.invalidVarint(.notMinimal, offset: 0)) { try Multiaddr(bytes: [0x84, 0x00]) }
        #expect(throws: MultiaddrError.componentAfterPath(path: "unix", next: "tcp", offset: 5)) {
            try Multiaddr(bytes: [0x90, 0x03, 2, 0x2f, 0x61, 6, 0, 1])
        }
        let e = MultiaddrError.invalidBytes(protocol: "dns", value: [0x2f, 0x61], reason: "contains \"/\"", offset: 2)
        #expect(throws: e) { try Multiaddr(bytes: [0x35, 2, 0x2f, 0x61]) }
        #expect(e.description == #"invalid multiaddr bytes at offset 2: component dns: value 0x2f61 contains "/""#)
    }

    /// Every prefix and every single-byte corruption of valid binary multiaddrs either
    /// fails cleanly or decodes to something that round-trips.
    @Test func mutatedBytesNeverCrash() throws {
        let cases = try Self.cases()
        var rng = MultiaddrTestRNG(seed: 0x6d61_6464_72)
        var parsed = 0
        for s in cases.goValid + cases.rustPairs.map(\.string) {
            let bytes = try Multiaddr(s).bytes
            var inputs: [[UInt8]] = (0..<bytes.count).map { Array(bytes[..<$0]) }
            for _ in 0..<20 {
                var b = bytes
                b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
                inputs.append(b)
            }
            for input in inputs {
                guard let m = try? Multiaddr(bytes: input) else { continue }
                parsed += 1
                #expect(m.bytes == input)
                if !m.components.dropLast().contains(where: { $0.protocol.isPath }) {
                    #expect(try Multiaddr(m.description) == m, "\(m)")
                }
            }
        }
        #expect(parsed > 100)
    }

    // MARK: Encapsulate / decapsulate / lookups

    @Test func encapsulateAndDecapsulate() throws {
        // go-multiaddr TestEncapsulate
        let m = try Multiaddr("/ip4/127.0.0.1/udp/1234")
        let b = m.encapsulate(try Multiaddr("/udp/5678"))
        #expect(b.description == "/ip4/127.0.0.1/udp/1234/udp/5678")
        let c = b.decapsulate(try Multiaddr("/udp/5678"))
        #expect(c.description == "/ip4/127.0.0.1/udp/1234")
        let d = c.decapsulate(try Multiaddr("/ip4/127.0.0.1"))
        #expect(d.isEmpty)
        #expect(d.description == "")
        #expect(d.bytes == [])
        #expect(m.decapsulate(Multiaddr([])) == m)
        #expect(Multiaddr([]).encapsulate(m) == m)
    }

    /// go-multiaddr TestDecapsulate ("" = nothing left).
    @Test(arguments: [
        ("/ip4/1.2.3.4/tcp/1234", "/ip4/1.2.3.4", ""),
        ("/ip4/1.2.3.4", "/ip4/1.2.3.4/tcp/1234", "/ip4/1.2.3.4"),
        ("/ip4/1.2.3.5/tcp/1234", "/ip4/5.3.2.1", "/ip4/1.2.3.5/tcp/1234"),
        ("/ip4/1.2.3.5/udp/1234/quic-v1", "/udp/1234", "/ip4/1.2.3.5"),
        ("/ip4/1.2.3.6/udp/1234/quic-v1", "/udp/1234/quic-v1", "/ip4/1.2.3.6"),
        ("/ip4/1.2.3.7/tcp/1234", "/ws", "/ip4/1.2.3.7/tcp/1234"),
        ("/dnsaddr/wss.com/tcp/4001", "/ws", "/dnsaddr/wss.com/tcp/4001"),
        ("/dnsaddr/wss.com/tcp/4001/ws", "/wss", "/dnsaddr/wss.com/tcp/4001/ws"),
        ("/dnsaddr/wss.com/ws", "/wss", "/dnsaddr/wss.com/ws"),
        ("/dnsaddr/wss.com/ws", "/dnsaddr/wss.com", ""),
        ("/dnsaddr/wss.com/tcp/4001/wss", "/wss", "/dnsaddr/wss.com/tcp/4001"),
        ("/ip4/1.2.3.4/tcp/1/ip4/1.2.3.4/tcp/1/ws", "/ip4/1.2.3.4/tcp/1", "/ip4/1.2.3.4/tcp/1"),
        ("/ip4/1.2.3.4/tcp/1/ws", "/ip4/1.2.3.4/tcp/2", "/ip4/1.2.3.4/tcp/1/ws"),
    ] as [(String, String, String)])
    func decapsulate(left: String, right: String, expected: String) throws {
        let result = try Multiaddr(left).decapsulate(try Multiaddr(right))
        #expect(result.description == expected)
    }

    @Test func decapsulateProtocol() throws {
        let m = try Multiaddr("/ip4/1.2.3.4/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/p2p-circuit/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV")
        #expect(m.decapsulate(protocol: .p2p).description == "/ip4/1.2.3.4/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/p2p-circuit")
        #expect(m.decapsulate(protocol: .p2pCircuit).description == "/ip4/1.2.3.4/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")
        #expect(m.decapsulate(protocol: .ip4).isEmpty)
        #expect(m.decapsulate(protocol: .udp) == m)
    }

    @Test func valueForProtocol() throws {
        // go-multiaddr TestGetValue
        let a = try Multiaddr("/ip4/127.0.0.1/utp/tcp/5555/udp/1234/tls/utp/ipfs/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP")
        #expect(a.value(for: .ip4)?.valueString == "127.0.0.1")
        #expect(a.value(for: .utp)?.valueString == "")
        #expect(a.value(for: .tls)?.valueString == "")
        #expect(a.value(for: .tcp)?.valueString == "5555")
        #expect(a.value(for: .udp)?.valueString == "1234")
        #expect(a.value(for: .p2p)?.valueString == "QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP")
        #expect(a.value(for: .ip6) == nil)
        #expect(try Multiaddr("/ip4/0.0.0.0/ip4/1.1.1.1").value(for: .ip4)?.valueString == "0.0.0.0")
        #expect(try Multiaddr("/ip4/0.0.0.0/unix/a/b/c/d").value(for: .unix)?.valueString == "/a/b/c/d")
        let path = try #require(try Multiaddr("/http-path/tmp%2Fbar/p2p-circuit").value(for: .httpPath))
        #expect(path.valueString == "tmp%2Fbar")
        #expect(path.value == Array("tmp/bar".utf8))
        #expect(a.protocols == [.ip4, .utp, .tcp, .udp, .tls, .utp, .p2p])
    }

    @Test func peerIDMultihash() throws {
        let m = try Multiaddr("/ip4/1.2.3.4/tcp/1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/p2p-circuit/p2p/k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs")
        #expect(m.peerIDMultihash.map(Hex.encode) == "002408011220" + "2d3de6d16ae87f7a933fe1552162a2d3f04951e90e8051e4ee2c18f002dd0fb4")
        #expect(try Multiaddr("/ip4/1.2.3.4").peerIDMultihash == nil)
    }

    @Test func componentConstructors() throws {
        let tcp = try MultiaddrComponent(.tcp, valueString: "4001")
        #expect(tcp.value == [0x0f, 0xa1])
        #expect(tcp.description == "/tcp/4001")
        #expect(try MultiaddrComponent(.tcp, value: [0x0f, 0xa1]) == tcp)
        #expect(try MultiaddrComponent(.quicV1).description == "/quic-v1")
        #expect(try MultiaddrComponent(.unix, valueString: "/tmp/s").description == "/unix/tmp/s")
        #expect(throws: MultiaddrError.self) { try MultiaddrComponent(.tcp, value: [1]) }
        #expect(throws: MultiaddrError.self) { try MultiaddrComponent(.ws, value: [1]) }
        #expect(throws: MultiaddrError.self) { try MultiaddrComponent(.ws, valueString: "x") }
        #expect(throws: MultiaddrError.self) { try MultiaddrComponent(.ip6, valueString: "1.2.3") }
        let built = Multiaddr([try MultiaddrComponent(.ip4, valueString: "10.0.0.1"), tcp])
        #expect(built == (try Multiaddr("/ip4/10.0.0.1/tcp/4001")))
    }
}

/// Deterministic generator for the mutation test.
struct MultiaddrTestRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
