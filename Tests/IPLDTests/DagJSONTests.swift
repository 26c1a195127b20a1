import Foundation
import Multiformats
import Testing

@testable import IPLD
import TestSupport

@Suite("DAG-JSON", .onBlockingPool)
struct DagJSONTests {
    static func decode(_ text: String, strict: Bool = false) throws(DagJSONError) -> IPLDValue {
        try DagJSON.decode(Array(text.utf8), strict: strict)
    }

    static func encode(_ value: IPLDValue) throws(DagJSONError) -> String {
        String(decoding: try DagJSON.encode(value), as: UTF8.self)
    }

    @Test("floats: shortest round-trip digits in JavaScript layout, always float-looking", arguments: [
        (0.1, "0.1"), (1.0, "1.0"), (100.0, "100.0"), (-0.5, "-0.5"), (0.0, "0.0"), (-0.0, "-0.0"),
        (1e20, "100000000000000000000.0"), (1e21, "1e+21"), (1.2345678901234568e20, "123456789012345680000.0"),
        (1e-6, "0.000001"), (1.5e-6, "0.0000015"), (1e-7, "1e-7"), (1.5e-7, "1.5e-7"), (Double(bitPattern: 1), "5e-324"),
        (Double(bitPattern: 2), "1e-323"), (8.940696716308594e-8, "8.940696716308594e-8"), (1.7976931348623157e308, "1.7976931348623157e+308"),
        (123.456, "123.456"), (9007199254740992.0, "9007199254740992.0"), (0.000123, "0.000123"),
        (1.1111111111111112, "1.1111111111111112"), (82497.63712086187, "82497.63712086187"), (2.5e25, "2.5e+25"),
    ])
    func floats(value: Double, text: String) throws {
        #expect(try Self.encode(.float(value)) == text)
        let decoded = try Self.decode(text, strict: true)
        #expect(decoded == .float(value))
    }

    @Test("integers cover -2^64 … 2^64-1 and nothing more")
    func integers() throws {
        #expect(try Self.decode("18446744073709551615") == .integer(.max))
        #expect(try Self.decode("-18446744073709551616") == .integer(.min))
        #expect(try Self.encode(.integer(.min)) == "-18446744073709551616")
        #expect(try Self.decode("-0") == 0)
        #expect(try Self.decode("-9223372036854775808") == .int(Int64.min))
        for text in ["18446744073709551616", "-18446744073709551617", "99999999999999999999999"] {
            #expect(throws: DagJSONError.self, "\(text)") { try Self.decode(text) }
        }
        #expect(try Self.decode("1e5") == 100000.0)
        #expect(try Self.decode("1E-2") == 0.01)
        #expect(throws: DagJSONError.self) { try Self.decode("1e400") }
    }

    @Test("malformed JSON is rejected", arguments: [
        "", " ", "01", "1.", ".5", "-", "+1", "1e", "1e+", "[1,]", "[1 2]", "{\"a\"}", "{\"a\":1,}", "{a:1}", "[", "{",
        "\"abc", "tru", "nul", "falsey", "1 2", "{}x", "\"a\u{1}\"", "\"\\x\"", "\"\\u12\"", "\"\\ud83d\"", "\"\\ude00\"",
        "\"\\ud83d\\u0041\"", "'a'", "NaN", "Infinity", "[-]",
    ])
    func malformed(text: String) {
        #expect(throws: DagJSONError.self, "\(text)") { try Self.decode(text) }
    }

    @Test("invalid UTF-8 in a string is rejected")
    func invalidUTF8() {
        #expect(throws: DagJSONError.self) { try DagJSON.decode([0x22, 0xc3, 0x28, 0x22]) }
        #expect(throws: DagJSONError.self) { try DagJSON.decode([0x22, 0xed, 0xa0, 0x80, 0x22]) }
    }

    @Test("strings: escapes in and out")
    func strings() throws {
        #expect(try Self.encode("a\"b\\c\n\t\r\u{8}\u{c}\u{1}\u{1f}\u{7f}é水𐅑") == "\"a\\\"b\\\\c\\n\\t\\r\\b\\f\\u0001\\u001f\u{7f}é水𐅑\"")
        #expect(try Self.decode(#""\u00e9\/\ud83d\ude00\u0041""#) == "é/😀A")
        let nfc = "\u{e9}", nfd = "e\u{301}"
        let both = try Self.decode("{\"\(nfc)\":1,\"\(nfd)\":2}")
        #expect(both.mapValue?.count == 2, "keys compare by bytes, not canonical equivalence")
    }

    @Test("bytes and links")
    func bytesAndLinks() throws {
        #expect(try Self.encode(.bytes([1, 2, 3])) == #"{"/":{"bytes":"AQID"}}"#)
        #expect(try Self.encode(.bytes([])) == #"{"/":{"bytes":""}}"#)
        #expect(try Self.decode(#"{"/":{"bytes":"AQI"}}"#) == .bytes([1, 2]))
        #expect(try Self.decode(#"{"/":{"bytes":"AQI="}}"#) == .bytes([1, 2]), "padding tolerated")
        #expect(throws: DagJSONError.self) { try Self.decode(#"{"/":{"bytes":"AQI="}}"#, strict: true) }
        let v0 = "QmQg1v4o9xdT3Q14wh4S7dxZkDjyZ9ssFzFzyep1YrVJBY"
        let cid = try CID(v0)
        #expect(try Self.encode(.link(cid)) == "{\"/\":\"\(v0)\"}")
        #expect(try Self.decode("{\"/\":\"\(v0)\"}") == .link(cid))
        let v1 = cid.toV1()
        #expect(try Self.encode(.link(v1)) == "{\"/\":\"\(v1.description)\"}")
        let base58 = try v1.string(base: .base58btc)
        #expect(try Self.decode("{\"/\":\"\(base58)\"}") == .link(v1), "other multibases accepted on decode")
        #expect(throws: DagJSONError.self) { try Self.decode("{\"/\":\"\(base58)\"}", strict: true) }
    }

    @Test("reserved namespace (spec examples)")
    func reservedNamespace() throws {
        for invalid in [
            #"{"/":"foo","bar":"baz"}"#, #"{"/":{"bytes":"foo","bar":"baz"}}"#, #"{"/":{"bytes":"AQID"},"bar":"baz"}"#,
            #"{"/":"not a cid"}"#, #"{"/":{"bytes":"!!!!"}}"#,
        ] {
            #expect(throws: DagJSONError.self, "\(invalid)") { try Self.decode(invalid) }
        }
        for valid in [#"{"/":true,"bar":"baz"}"#, #"{"/":{"abar":"baz","bytes":"foo"}}"#, #"{"/":{"bytes":true},"bar":"baz"}"#] {
            let value = try Self.decode(valid)
            #expect(value.kind == .map)
            #expect(try Self.decode(Self.encode(value)) == value)
        }
        // Data-model maps the decoder would read back as a link or bytes cannot be encoded.
        for unencodable: IPLDValue in [["/": "x"], ["/": "x", "a": 1], ["/": ["bytes": "AQID"]], ["/": ["bytes": "x", "c": 1]]] {
            #expect(throws: DagJSONError.self, "\(unencodable)") { try DagJSON.encode(unencodable) }
        }
        // "/" not first after sorting: fine
        #expect(try Self.encode(["/": "x", "!": 1]) == #"{"!":1,"/":"x"}"#)
    }

    @Test("maps sort bytewise; duplicates rejected")
    func maps() throws {
        #expect(try Self.encode(["b": 1, "aa": 2, "a": 3, "B": 4]) == #"{"B":4,"a":3,"aa":2,"b":1}"#)
        #expect(throws: DagJSONError.self) { try DagJSON.encode(.map(IPLDMap([("a", 1), ("a", 2)]))) }
        #expect(throws: DagJSONError.self) { try Self.decode(#"{"a":1,"b":2,"a":3}"#) }
    }

    @Test("whitespace and key order: accepted by default, rejected when strict")
    func lenient() throws {
        let text = " { \"b\" : [ 1 , 2.5 ] ,\n\t\"a\" : null } \r\n"
        let value = try Self.decode(text)
        #expect(value == ["b": [1, 2.5], "a": nil])
        #expect(throws: DagJSONError.self) { try Self.decode(text, strict: true) }
        #expect(try Self.encode(value) == #"{"a":null,"b":[1,2.5]}"#)
        #expect(throws: DagJSONError.self) { try Self.decode(#"{"b":1,"a":2}"#, strict: true) }
    }

    @Test("nesting is bounded")
    func depth() throws {
        let deep = String(repeating: "[", count: DagJSON.maxNestingDepth + 1) + String(repeating: "]", count: DagJSON.maxNestingDepth + 1)
        #expect(throws: DagJSONError.self) { try Self.decode(deep) }
        let ok = String(repeating: "[", count: DagJSON.maxNestingDepth) + String(repeating: "]", count: DagJSON.maxNestingDepth)
        #expect(try Self.encode(Self.decode(ok)) == ok)
    }

    @Test("links(in:) lists links depth first in block order")
    func linkOrder() throws {
        let a = try Block(data: [1], codec: .raw).cid
        let b = try Block(data: [2], codec: .raw).cid
        let value: IPLDValue = ["x": [.link(b), ["y": .link(a)]], "a": .link(a)]
        let bytes = try DagJSON.encode(value)
        #expect(try DagJSON.links(in: bytes) == [a, b, a])
        #expect(try IPLDCodecs.links(in: bytes, codec: .dagJSON) == [a, b, a])
    }

    @Test("NaN and infinities cannot be encoded")
    func nonFinite() {
        for value in [Double.nan, .infinity, -.infinity] {
            #expect(throws: DagJSONError.self) { try DagJSON.encode(.float(value)) }
        }
    }
}
