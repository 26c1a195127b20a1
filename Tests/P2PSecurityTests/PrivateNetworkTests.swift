import Foundation
import P2PCore
import Testing
@testable import P2PSecurity
import TestSupport

@Suite("Private networks (PSK v1)", .onBlockingPool)
struct PrivateNetworkTests {
    static let hex = "6189c5cf0b87fb800c1a9feeda73c6ab5e998db48fb9e6a978575c770ceef683"
    static var keyBytes: [UInt8] {
        stride(from: 0, to: hex.count, by: 2).map { i in
            let start = hex.index(hex.startIndex, offsetBy: i)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2)], radix: 16)!
        }
    }

    @Test("key files: base16 (as ipfs-swarm-key-gen writes it), base64, bin, CRLF lines")
    func parse() throws {
        let expected = try PreSharedKey(bytes: Self.keyBytes)
        #expect(try PreSharedKey.parse(Array("/key/swarm/psk/1.0.0/\n/base16/\n\(Self.hex)".utf8)) == expected)
        #expect(try PreSharedKey.parse(Array("/key/swarm/psk/1.0.0/\r\n/base16/\r\n\(Self.hex)\r\n".utf8)) == expected)
        let b64 = Data(Self.keyBytes).base64EncodedString()
        #expect(try PreSharedKey.parse(Array("/key/swarm/psk/1.0.0/\n/base64/\n\(b64)\n".utf8)) == expected)
        #expect(try PreSharedKey.parse(Array("/key/swarm/psk/1.0.0/\n/bin/\n".utf8) + Self.keyBytes) == expected)
        #expect(try PreSharedKey.parse(Array(expected.fileText.utf8)) == expected)
        let fresh = PreSharedKey.generate()
        #expect(try PreSharedKey.parse(Array(fresh.fileText.utf8)) == fresh)
        #expect(fresh != expected)
    }

    @Test("bad key files are refused with the line at fault")
    func refused() {
        #expect(throws: PreSharedKeyError.badHeader) { try PreSharedKey.parse(Array("/key/swarm/psk/2.0.0/\n/base16/\n\(Self.hex)".utf8)) }
        #expect(throws: PreSharedKeyError.badHeader) { try PreSharedKey.parse([]) }
        #expect(throws: PreSharedKeyError.badEncoding("/base58/")) { try PreSharedKey.parse(Array("/key/swarm/psk/1.0.0/\n/base58/\nabc".utf8)) }
        #expect(throws: PreSharedKeyError.badLength(3)) { try PreSharedKey.parse(Array("/key/swarm/psk/1.0.0/\n/base16/\n0a0b0c".utf8)) }
        #expect(throws: PreSharedKeyError.badKey("not hexadecimal")) {
            try PreSharedKey.parse(Array("/key/swarm/psk/1.0.0/\n/base16/\n\(String(Self.hex.dropLast(2)))zz".utf8))
        }
        #expect(throws: PreSharedKeyError.badLength(31)) { try PreSharedKey.parse(Array("/key/swarm/psk/1.0.0/\n/bin/\n".utf8) + [UInt8](repeating: 1, count: 31)) }
        #expect(throws: PreSharedKeyError.badLength(16)) { try PreSharedKey(bytes: [UInt8](repeating: 0, count: 16)) }
    }

    @Test("the key stream is the same however the bytes are split")
    func keyStreamSplits() {
        let key = Self.keyBytes
        let nonce = (0..<24).map { UInt8($0 * 3) }
        let plain = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var whole = plain
        var one = XSalsa20Stream(key: key, nonce: nonce)
        one.apply(&whole)
        #expect(whole != plain)
        for cuts in [[1, 63, 64, 65, 1000], [7, 7, 7, 200, 3], [64, 128, 1], [4999]] {
            var pieces = XSalsa20Stream(key: key, nonce: nonce)
            var out: [UInt8] = []
            var offset = 0
            for cut in cuts + [plain.count] where offset < plain.count {
                let end = min(offset + cut, plain.count)
                var piece = Array(plain[offset..<end])
                pieces.apply(&piece)
                out += piece
                offset = end
            }
            #expect(out == whole, "cuts \(cuts)")
        }
        var back = whole
        var decrypt = XSalsa20Stream(key: key, nonce: nonce)
        decrypt.apply(&back)
        #expect(back == plain)
    }

    @Test("peers with the same key talk; a peer with another key reads noise")
    func streams() async throws {
        let key = try PreSharedKey(bytes: Self.keyBytes)
        let (a, b) = MemoryByteStream.pair()
        let pa = PrivateNetworkStream(base: a, key: key)
        let pb = PrivateNetworkStream(base: b, key: key)
        try await pa.write(Array("/multistream/1.0.0\n".utf8))
        try await pa.write(Array("hello".utf8))
        var got: [UInt8] = []
        while got.count < 24 { got += try await pb.read() ?? [] }
        #expect(String(decoding: got, as: UTF8.self) == "/multistream/1.0.0\nhello")
        try await pb.write(Array("back".utf8))
        #expect(try await pa.read() == Array("back".utf8))

        // On the wire: the 24-byte nonce, then ciphertext (never the plain text).
        let (c, d) = MemoryByteStream.pair()
        let pc = PrivateNetworkStream(base: c, key: key)
        try await pc.write(Array("/multistream/1.0.0\n".utf8))
        let wire = try await d.read() ?? []
        #expect(wire.count == 24 + 19)
        #expect(Array(wire[24...]) != Array("/multistream/1.0.0\n".utf8))

        let (e, f) = MemoryByteStream.pair()
        let pe = PrivateNetworkStream(base: e, key: key)
        let other = PrivateNetworkStream(base: f, key: PreSharedKey.generate())
        try await pe.write(Array("/multistream/1.0.0\n".utf8))
        let noise = try await other.read() ?? []
        #expect(noise != Array("/multistream/1.0.0\n".utf8))
    }

    @Test("a connection that ends inside the nonce is an error, not an empty stream")
    func truncatedNonce() async throws {
        let (a, b) = MemoryByteStream.pair()
        try await a.write([1, 2, 3])
        try await a.closeWrite()
        let protected = PrivateNetworkStream(base: b, key: PreSharedKey.generate())
        await #expect(throws: StreamError.unexpectedEOF(what: "private network nonce")) { _ = try await protected.read() }
    }
}
