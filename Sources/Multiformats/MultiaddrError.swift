/// Why a multiaddr (string or binary form) or a component could not be decoded.
///
/// String errors quote the whole input and name the component; binary errors give the
/// byte offset. `description` reads e.g.
/// `invalid multiaddr "/ip4/1.2.3/tcp/1": component ip4: "1.2.3" is not an IPv4 address`.
public enum MultiaddrError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No components: `""`, `"/"` or zero bytes.
    case empty
    /// The string does not start with `/`.
    case missingLeadingSlash(input: String)
    /// A name that is not in the protocol registry.
    case unknownProtocol(name: String, input: String)
    /// A protocol that takes a value is the last part of the string.
    case missingValue(protocol: String, input: String)
    /// A value that the protocol rejects; `reason` follows the quoted value
    /// (e.g. `is not a port number (0-65535)`).
    case invalidValue(protocol: String, value: String, reason: String, input: String)
    /// A protocol code that is not in the registry (binary form).
    case unknownCode(UInt64, offset: Int)
    /// A malformed varint (binary form).
    case invalidVarint(VarintError, offset: Int)
    /// The input ends inside a component's value (binary form).
    case truncated(protocol: String, needed: Int, available: Int, offset: Int)
    /// A value that the protocol rejects (binary form); `reason` follows `value 0x…`.
    case invalidBytes(protocol: String, value: [UInt8], reason: String, offset: Int)
    /// A component follows a path component such as `unix` (binary form).
    case componentAfterPath(path: String, next: String, offset: Int)

    public var description: String {
        switch self {
        case .empty:
            return "invalid multiaddr: empty"
        case let .missingLeadingSlash(input):
            return "invalid multiaddr \(quoted(input)): must begin with \"/\""
        case let .unknownProtocol(name, input):
            return "invalid multiaddr \(quoted(input)): unknown protocol \(quoted(name))"
        case let .missingValue(proto, input):
            return "invalid multiaddr \(quoted(input)): component \(proto): missing value"
        case let .invalidValue(proto, value, reason, input):
            return "invalid multiaddr \(quoted(input)): component \(proto): \(quoted(value)) \(reason)"
        case let .unknownCode(code, offset):
            return "invalid multiaddr bytes at offset \(offset): unknown protocol code 0x\(String(code, radix: 16))"
        case let .invalidVarint(error, offset):
            return "invalid multiaddr bytes at offset \(offset): \(error)"
        case let .truncated(proto, needed, available, offset):
            return "invalid multiaddr bytes at offset \(offset): component \(proto): value needs \(needed) bytes, \(available) left"
        case let .invalidBytes(proto, value, reason, offset):
            let shown = value.count > 48 ? Hex.encode(value.prefix(48)) + "…" : Hex.encode(value)
            return "invalid multiaddr bytes at offset \(offset): component \(proto): value 0x\(shown) \(reason)"
        case let .componentAfterPath(path, next, offset):
            return "invalid multiaddr bytes at offset \(offset): component \(next) follows path component \(path)"
        }
    }
}

private func quoted(_ s: String) -> String {
    var out = "\""
    for ch in s.unicodeScalars {
        switch ch {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(ch)
        }
    }
    return out + "\""
}
