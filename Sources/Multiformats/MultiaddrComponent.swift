/// One `/protocol/value` part of a multiaddr.
///
/// `value` holds the binary value exactly as it appears in the binary form (without the
/// protocol code and without the length prefix); it is always valid for `protocol`.
public struct MultiaddrComponent: Hashable, Sendable, CustomStringConvertible {
    /// The protocol.
    public let `protocol`: MultiaddrProtocol
    /// The binary value; empty for protocols without a value.
    public let value: [UInt8]

    /// A component from a binary value, validated like the binary decoder does.
    public init(_ proto: MultiaddrProtocol, value: [UInt8] = []) throws(MultiaddrError) {
        do {
            try proto.validate(value)
        } catch {
            throw .invalidBytes(protocol: proto.name, value: value, reason: error.reason, offset: 0)
        }
        self.protocol = proto
        self.value = value
    }

    /// A component from the text form of its value (`"127.0.0.1"` for `.ip4`,
    /// `"/tmp/sock"` for `.unix`, `""` for protocols without a value).
    public init(_ proto: MultiaddrProtocol, valueString: String) throws(MultiaddrError) {
        do {
            self.value = try proto.parse(valueString[...])
        } catch {
            let input = "/" + proto.name + (valueString.isEmpty ? "" : "/" + valueString)
            throw .invalidValue(protocol: proto.name, value: valueString, reason: error.reason, input: input)
        }
        self.protocol = proto
    }

    /// Already validated.
    init(unchecked proto: MultiaddrProtocol, value: [UInt8]) {
        self.protocol = proto
        self.value = value
    }

    /// The text form of the value (`""` for protocols without a value). For `p2p` it is
    /// the base58btc multihash, for `certhash` base64url multibase, for `unix` the path
    /// with its leading `/`.
    public var valueString: String { self.protocol.format(value) }

    /// The binary form: code varint, length varint (variable-size protocols only), value.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        appendBytes(to: &out)
        return out
    }

    func appendBytes(to out: inout [UInt8]) {
        Varint.encode(self.protocol.code, into: &out)
        if self.protocol.size == .variable {
            Varint.encode(UInt64(value.count), into: &out)
        }
        out += value
    }

    /// The string form, e.g. `/tcp/443` or `/unix/tmp/sock`.
    public var description: String {
        var out = "/" + self.protocol.name
        guard self.protocol.hasValue else { return out }
        let v = valueString
        if !(self.protocol.isPath && v.hasPrefix("/")) { out += "/" }
        out += v
        return out
    }
}

/// Why a value was rejected; `reason` is phrased to follow the value (`is empty`).
struct MultiaddrValueError: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

// MARK: - Transcoders (after go-multiaddr transcoders.go)

extension MultiaddrProtocol {
    /// Text value → binary value (validated).
    func parse(_ s: Substring) throws(MultiaddrValueError) -> [UInt8] {
        let bytes: [UInt8]
        switch self {
        case _ where size == .none:
            guard s.isEmpty else { throw .init("is given to \(name), which takes no value") }
            return []
        case .ip4:
            guard let b = MultiaddrCodecs.parseIPv4(s) else { throw .init("is not an IPv4 address") }
            bytes = b
        case .ip6:
            guard let b = MultiaddrCodecs.parseIPv6(s) else { throw .init("is not an IPv6 address") }
            bytes = b
        case .tcp, .udp, .dccp, .sctp:
            guard let port = MultiaddrCodecs.parseDecimal(s, max: 0xffff) else {
                throw .init("is not a port number (0-65535)")
            }
            bytes = [UInt8(port >> 8), UInt8(port & 0xff)]
        case .ipcidr:
            guard let mask = MultiaddrCodecs.parseDecimal(s, max: 0xff) else {
                throw .init("is not a CIDR mask length (0-255)")
            }
            bytes = [UInt8(mask)]
        case .memory:
            guard let v = MultiaddrCodecs.parseDecimal(s, max: .max) else {
                throw .init("is not an unsigned 64-bit number")
            }
            bytes = (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) }
        case .onion, .onion3:
            bytes = try Self.parseOnion(s, hostLength: self == .onion ? 16 : 56)
        case .garlic64:
            guard let b = MultiaddrCodecs.decodeGarlic64(s) else {
                throw .init("is not I2P base64 (alphabet A-Za-z0-9-~, padded with =)")
            }
            bytes = b
        case .garlic32:
            guard let b = MultiaddrCodecs.decodeRFC4648(Array(s.utf8), alphabet: MultiaddrCodecs.base32Lower, bits: 5)
            else { throw .init("is not lowercase base32") }
            bytes = b
        case .p2p:
            bytes = try Self.parsePeerID(s)
        case .certhash:
            let decoded: [UInt8]
            do {
                decoded = try Multibase.decode(s).bytes
            } catch {
                throw .init("is not a multibase string: \(error)")
            }
            bytes = decoded
        case .httpPath:
            guard let b = MultiaddrCodecs.queryUnescape(s) else {
                throw .init("is not a valid percent-encoded path")
            }
            bytes = b
        default:  // dns, dns4, dns6, dnsaddr, sni, ip6zone, unix: the text itself
            bytes = Array(s.utf8)
        }
        try validate(bytes)
        return bytes
    }

    /// Checks a binary value.
    func validate(_ b: [UInt8]) throws(MultiaddrValueError) {
        switch size {
        case .none:
            guard b.isEmpty else { throw .init("is given to \(name), which takes no value") }
            return
        case .fixed(let bits):
            guard b.count == bits / 8 else { throw .init("has \(b.count) bytes, expected \(bits / 8)") }
        case .variable:
            guard !b.isEmpty else { throw .init("is empty") }
        }
        let slash = UInt8(ascii: "/")
        switch self {
        case .dns, .dns4, .dns6, .dnsaddr, .sni, .ip6zone:
            guard !b.contains(slash) else { throw .init("contains \"/\"") }
            guard String(validating: b, as: UTF8.self) != nil else { throw .init("is not UTF-8") }
        case .unix:
            guard b.count >= 2, b.first == slash else { throw .init("is not a path starting with \"/\"") }
            guard b.last != slash else { throw .init("ends with \"/\"") }
            guard String(validating: b, as: UTF8.self) != nil else { throw .init("is not UTF-8") }
        case .onion:
            guard b[10] != 0 || b[11] != 0 else { throw .init("has port 0") }
        case .onion3:
            guard b[35] != 0 || b[36] != 0 else { throw .init("has port 0") }
        case .garlic64:
            guard b.count >= 386 else { throw .init("has \(b.count) bytes, an I2P destination has at least 386") }
        case .garlic32:
            guard b.count == 32 || b.count >= 35 else {
                throw .init("has \(b.count) bytes, an I2P base32 address has 32 or at least 35")
            }
        case .p2p:
            try Self.validatePeerIDMultihash(b)
        case .certhash:
            guard MultiaddrCodecs.multihashParts(b) != nil else { throw .init("is not a multihash") }
        default:
            break
        }
    }

    /// Binary value → text value. `b` must be valid (see `validate`).
    func format(_ b: [UInt8]) -> String {
        switch self {
        case _ where size == .none:
            return ""
        case .ip4:
            return MultiaddrCodecs.formatIPv4(b)
        case .ip6:
            return MultiaddrCodecs.formatIPv6(b)
        case .tcp, .udp, .dccp, .sctp:
            return String(UInt16(b[0]) << 8 | UInt16(b[1]))
        case .ipcidr:
            return String(b[0])
        case .memory:
            return String(b.reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        case .onion, .onion3:
            let hostCount = b.count - 2
            let host = MultiaddrCodecs.encodeRFC4648(Array(b[0..<hostCount]), alphabet: MultiaddrCodecs.base32Lower, bits: 5)
            let port = UInt16(b[hostCount]) << 8 | UInt16(b[hostCount + 1])
            return String(decoding: host, as: UTF8.self) + ":" + String(port)
        case .garlic64:
            return MultiaddrCodecs.encodeGarlic64(b)
        case .garlic32:
            return String(decoding: MultiaddrCodecs.encodeRFC4648(b, alphabet: MultiaddrCodecs.base32Lower, bits: 5), as: UTF8.self)
        case .p2p:
            return Base58.encode(b)
        case .certhash:
            return Multibase.base64url.encode(b)
        case .httpPath:
            return MultiaddrCodecs.queryEscape(b)
        default:
            return String(decoding: b, as: UTF8.self)
        }
    }

    /// `host:port` with a base32 host of `hostLength` characters (any case) and port 1-65535.
    private static func parseOnion(_ s: Substring, hostLength: Int) throws(MultiaddrValueError) -> [UInt8] {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .init("is not host:port") }
        guard parts[0].utf8.count == hostLength,
            var host = MultiaddrCodecs.decodeRFC4648(
                Array(parts[0].lowercased().utf8), alphabet: MultiaddrCodecs.base32Lower, bits: 5)
        else { throw .init("does not have a \(hostLength)-character base32 onion host") }
        guard let port = MultiaddrCodecs.parseDecimal(parts[1], max: 0xffff), port != 0 else {
            throw .init("does not have a port number (1-65535)")
        }
        host.append(UInt8(port >> 8))
        host.append(UInt8(port & 0xff))
        return host
    }

    /// A peer ID: base58btc multihash (`Qm…`, `1…`, `12D3Koo…`) or a CIDv1 with the
    /// libp2p-key codec in any multibase (`k51…`, `bafz…`).
    private static func parsePeerID(_ s: Substring) throws(MultiaddrValueError) -> [UInt8] {
        if s.hasPrefix("Qm") || s.hasPrefix("1") {
            do {
                return try Base58.decode(s)
            } catch {
                throw .init("is not a base58btc peer ID: \(error)")
            }
        }
        let cid: CID
        do {
            cid = try CID(String(s))
        } catch {
            throw .init("is neither a base58btc peer ID nor a CID: \(error)")
        }
        guard cid.codec == .libp2pKey else {
            throw .init("is a CID with codec 0x\(String(cid.codec.rawValue, radix: 16)), expected libp2p-key (0x72)")
        }
        return cid.multihash.bytes
    }

    /// Peer IDs are sha2-256 (32-byte digest) or identity multihashes.
    private static func validatePeerIDMultihash(_ b: [UInt8]) throws(MultiaddrValueError) {
        guard let (code, length) = MultiaddrCodecs.multihashParts(b) else {
            throw .init("is not a multihash")
        }
        switch code {
        case 0x00:
            break
        case 0x12:
            guard length == 32 else { throw .init("is a sha2-256 multihash with a \(length)-byte digest, expected 32") }
        default:
            throw .init("is a multihash with code 0x\(String(code, radix: 16)), expected sha2-256 or identity")
        }
    }
}
