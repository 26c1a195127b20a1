import COpenSSL
import CSodium
import Foundation
import P2PCore

/// A private network's pre-shared key (libp2p PSK v1, as Kubo's `swarm.key`).
///
/// Every connection of a node that has one is wrapped in `PrivateNetworkStream` before anything
/// else is said: each side sends a random 24-byte nonce, then everything it writes is XORed with
/// the XSalsa20 key stream of (key, its nonce). A peer without the same key reads noise, so
/// multistream-select fails and the connection is dropped before security negotiation.
/// Spec: https://github.com/libp2p/specs/blob/master/pnet/Private-Networks-PSK-V1.md
public struct PreSharedKey: Sendable, Equatable, CustomStringConvertible {
    /// The 32 key bytes.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(PreSharedKeyError) {
        guard bytes.count == 32 else { throw .badLength(bytes.count) }
        self.bytes = bytes
    }

    /// A fresh random key.
    public static func generate() -> PreSharedKey {
        var key = [UInt8](repeating: 0, count: 32)
        randombytes_buf(&key, 32)
        return try! PreSharedKey(bytes: key)  // 32 bytes by construction
    }

    /// The first line of a v1 key file.
    public static let header = "/key/swarm/psk/1.0.0/"

    /// Parses a key file: the header line, an encoding line (`/base16/`, `/base64/` or `/bin/`),
    /// then the key (as go-libp2p's `DecodeV1PSK`: 32 decoded bytes, the rest ignored).
    public static func parse(_ file: [UInt8]) throws(PreSharedKeyError) -> PreSharedKey {
        var rest = file[...]
        func line() -> String? {
            guard let newline = rest.firstIndex(of: 0x0A) else { return nil }
            var text = String(decoding: rest[..<newline], as: UTF8.self)
            if text.hasSuffix("\r") { text.removeLast() }
            rest = rest[(newline + 1)...]
            return text
        }
        guard let first = line(), first == header else { throw .badHeader }
        guard let encoding = line() else { throw .badEncoding("") }
        switch encoding {
        case "/bin/":
            guard rest.count >= 32 else { throw .badLength(rest.count) }
            return try PreSharedKey(bytes: Array(rest.prefix(32)))
        case "/base16/":
            let text = String(decoding: rest, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text.count >= 64 else { throw .badLength(text.count / 2) }
            var key: [UInt8] = []
            var index = text.startIndex
            for _ in 0..<32 {
                let next = text.index(index, offsetBy: 2)
                guard let byte = UInt8(text[index..<next], radix: 16) else { throw .badKey("not hexadecimal") }
                key.append(byte)
                index = next
            }
            return try PreSharedKey(bytes: key)
        case "/base64/":
            let text = String(decoding: rest, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard let data = Data(base64Encoded: String(text.prefix(44))) else { throw .badKey("not base64") }
            guard data.count >= 32 else { throw .badLength(data.count) }
            return try PreSharedKey(bytes: Array(data.prefix(32)))
        default:
            throw .badEncoding(String(encoding.prefix(40)))
        }
    }

    /// The key file text, base16 as `ipfs-swarm-key-gen` writes it.
    public var fileText: String {
        "\(Self.header)\n/base16/\n" + bytes.map { String(format: "%02x", $0) }.joined() + "\n"
    }

    /// Kubo's and rust-libp2p's fingerprint: SHAKE-128 (16 bytes) of 64 bytes of the Salsa20 key
    /// stream under the key with the nonce `finprint`. It names the network without revealing
    /// the key; Kubo prints it at start as "Swarm key fingerprint: <hex>".
    public var fingerprint: [UInt8] {
        var stream = [UInt8](repeating: 0, count: 64)
        let nonce = Array("finprint".utf8)
        crypto_stream_salsa20(&stream, 64, nonce, bytes)
        var out = [UInt8](repeating: 0, count: 16)
        let ctx = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(ctx) }
        EVP_DigestInit_ex(ctx, EVP_shake128(), nil)
        EVP_DigestUpdate(ctx, stream, 64)
        EVP_DigestFinalXOF(ctx, &out, 16)
        return out
    }

    public var fingerprintHex: String { fingerprint.map { String(format: "%02x", $0) }.joined() }

    public var description: String { "PreSharedKey(fingerprint \(fingerprintHex))" }
}

public enum PreSharedKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case badHeader
    case badEncoding(String)
    case badKey(String)
    case badLength(Int)

    public var description: String {
        switch self {
        case .badHeader: return "swarm key: the first line must be \(PreSharedKey.header)"
        case .badEncoding(let e): return "swarm key: unknown encoding \"\(e)\" on line 2 (want /base16/, /base64/ or /bin/)"
        case .badKey(let why): return "swarm key: the key on line 3 is \(why)"
        case .badLength(let n): return "swarm key: the key must be 32 bytes, found \(n)"
        }
    }
}

/// XSalsa20 as a stream cipher from any byte position (libsodium's block-counter API).
struct XSalsa20Stream {
    private let key: [UInt8]
    private let nonce: [UInt8]
    private var position: UInt64 = 0

    init(key: [UInt8], nonce: [UInt8]) {
        precondition(key.count == 32 && nonce.count == 24)
        self.key = key
        self.nonce = nonce
    }

    /// XORs `data` in place with the next `data.count` bytes of the key stream.
    mutating func apply(_ data: inout [UInt8]) {
        guard !data.isEmpty else { return }
        let count = data.count
        var done = 0
        let inBlock = Int(position % 64)
        if inBlock != 0 {
            // Finish the current 64-byte block from its key stream.
            var block = [UInt8](repeating: 0, count: 64)
            crypto_stream_xsalsa20_xor_ic(&block, block, 64, nonce, position / 64, key)
            done = min(64 - inBlock, count)
            for i in 0..<done { data[i] ^= block[inBlock + i] }
            position += UInt64(done)
        }
        if done < count {
            let start = position / 64
            data.withUnsafeMutableBufferPointer { buffer in
                let p = buffer.baseAddress! + done
                _ = crypto_stream_xsalsa20_xor_ic(p, p, UInt64(count - done), nonce, start, key)
            }
            position += UInt64(count - done)
        }
    }
}

/// A raw connection protected by a pre-shared key (see `PreSharedKey`). Our nonce goes out with
/// our first write; the remote's is the first 24 bytes read.
public final class PrivateNetworkStream: ByteStream, @unchecked Sendable {
    private let base: any ByteStream
    private let key: PreSharedKey
    // One reader and one writer at a time (the ByteStream contract): each side's state is
    // touched by its own task only.
    private var readCipher: XSalsa20Stream?
    private var pendingNonce: [UInt8] = []
    private var writeCipher: XSalsa20Stream?

    public init(base: any ByteStream, key: PreSharedKey) {
        self.base = base
        self.key = key
    }

    public func read() async throws -> [UInt8]? {
        while true {
            guard var bytes = try await base.read() else {
                if readCipher == nil && !pendingNonce.isEmpty {
                    throw StreamError.unexpectedEOF(what: "private network nonce")
                }
                return nil
            }
            if readCipher == nil {
                let needed = 24 - pendingNonce.count
                pendingNonce += bytes.prefix(needed)
                bytes.removeFirst(min(needed, bytes.count))
                guard pendingNonce.count == 24 else { continue }
                readCipher = XSalsa20Stream(key: key.bytes, nonce: pendingNonce)
                if bytes.isEmpty { continue }
            }
            readCipher!.apply(&bytes)
            return bytes
        }
    }

    public func write(_ bytes: [UInt8]) async throws {
        var out = bytes
        var prefix: [UInt8] = []
        if writeCipher == nil {
            var nonce = [UInt8](repeating: 0, count: 24)
            randombytes_buf(&nonce, 24)
            writeCipher = XSalsa20Stream(key: key.bytes, nonce: nonce)
            prefix = nonce
        }
        writeCipher!.apply(&out)
        try await base.write(prefix.isEmpty ? out : prefix + out)
    }

    public func closeWrite() async throws { try await base.closeWrite() }
    public func close() async { await base.close() }
    public func reset() async { await base.reset() }
}
