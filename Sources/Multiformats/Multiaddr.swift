/// A self-describing network address (multiformats/multiaddr), e.g.
/// `/ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…`.
///
/// Parsing (string and binary) validates every value and follows go-multiaddr: `ipfs`
/// is read as `p2p`, trailing slashes are ignored, `unix` takes the rest of the string
/// and must be last, `p2p` accepts base58 multihashes and libp2p-key CIDs and prints
/// base58btc, `certhash` accepts any multibase and prints base64url.
///
/// An empty multiaddr (no components) can result from `decapsulate` or be built from
/// `[]`; it prints as `""` and has no bytes, but neither parser accepts it.
public struct Multiaddr: Hashable, Sendable, CustomStringConvertible {
    /// The components, outermost first.
    public var components: [MultiaddrComponent]

    /// A multiaddr made of `components` (not re-validated; a path component such as
    /// `unix` should be last for the string form to parse back).
    public init(_ components: [MultiaddrComponent]) {
        self.components = components
    }

    /// Parses the string form.
    public init(_ string: String) throws(MultiaddrError) {
        var s = Substring(string)
        while s.last == "/" { s.removeLast() }
        var parts = s.split(separator: "/", omittingEmptySubsequences: false)[...]
        guard parts.first?.isEmpty == true else { throw .missingLeadingSlash(input: string) }
        parts.removeFirst()
        guard !parts.isEmpty else { throw .empty }

        var components: [MultiaddrComponent] = []
        while let name = parts.popFirst() {
            guard let proto = MultiaddrProtocol(name: name) else {
                throw .unknownProtocol(name: String(name), input: string)
            }
            guard proto.hasValue else {
                components.append(MultiaddrComponent(unchecked: proto, value: []))
                continue
            }
            guard let first = parts.popFirst() else {
                throw .missingValue(protocol: proto.name, input: string)
            }
            var valueText = first
            if proto.isPath {
                // The rest of the string, slashes included, with a leading "/".
                let start = first.startIndex
                let end = parts.last?.endIndex ?? first.endIndex
                valueText = string[string.index(before: start)..<end]
                parts.removeAll()
            }
            do {
                let value = try proto.parse(valueText)
                components.append(MultiaddrComponent(unchecked: proto, value: value))
            } catch {
                throw .invalidValue(protocol: proto.name, value: String(valueText), reason: error.reason, input: string)
            }
        }
        self.components = components
    }

    /// Parses the binary form. Rejects empty input, unknown codes, bad varints, truncated
    /// or invalid values, trailing bytes and components after a path component.
    public init(bytes: [UInt8]) throws(MultiaddrError) {
        guard !bytes.isEmpty else { throw .empty }
        var reader = ByteReader(bytes)
        var components: [MultiaddrComponent] = []
        while !reader.isAtEnd {
            let start = reader.offset
            let code: UInt64
            do {
                code = try reader.readVarint()
            } catch {
                throw Self.binaryError(error, protocol: nil)
            }
            guard let proto = MultiaddrProtocol(code: code) else {
                throw .unknownCode(code, offset: start)
            }
            if let last = components.last, last.protocol.isPath {
                throw .componentAfterPath(path: last.protocol.name, next: proto.name, offset: start)
            }
            let length: Int
            switch proto.size {
            case .none:
                length = 0
            case .fixed(let bits):
                length = bits / 8
            case .variable:
                let declared: UInt64
                do {
                    declared = try reader.readVarint()
                } catch {
                    throw Self.binaryError(error, protocol: proto)
                }
                guard declared <= UInt64(reader.remainingCount) else {
                    throw .truncated(
                        protocol: proto.name, needed: Int(clamping: declared), available: reader.remainingCount,
                        offset: reader.offset)
                }
                length = Int(declared)
            }
            let valueOffset = reader.offset
            let value: [UInt8]
            do {
                value = try reader.readBytes(length)
            } catch {
                throw Self.binaryError(error, protocol: proto)
            }
            do {
                try proto.validate(value)
            } catch {
                throw .invalidBytes(protocol: proto.name, value: value, reason: error.reason, offset: valueOffset)
            }
            components.append(MultiaddrComponent(unchecked: proto, value: value))
        }
        self.components = components
    }

    private static func binaryError(_ error: ByteReaderError, protocol proto: MultiaddrProtocol?) -> MultiaddrError {
        switch error {
        case let .varint(e, offset):
            return .invalidVarint(e, offset: offset)
        case let .truncated(needed, available, offset):
            return .truncated(protocol: proto?.name ?? "?", needed: needed, available: available, offset: offset)
        }
    }

    /// The binary form.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        for c in components { c.appendBytes(to: &out) }
        return out
    }

    /// The canonical string form (`""` when empty).
    public var description: String {
        components.map(\.description).joined()
    }

    /// Whether there are no components.
    public var isEmpty: Bool { components.isEmpty }

    /// The protocols of the components, in order.
    public var protocols: [MultiaddrProtocol] { components.map(\.protocol) }

    /// `self` followed by `other` (go-multiaddr `Encapsulate`).
    public func encapsulate(_ other: Multiaddr) -> Multiaddr {
        Multiaddr(components + other.components)
    }

    /// Everything before the last occurrence of `other`'s components (go-multiaddr
    /// `Decapsulate`): `/ip4/1.2.3.4/tcp/80` minus `/tcp/80` is `/ip4/1.2.3.4`; an empty
    /// multiaddr if `other` occurs at the start; `self` if `other` does not occur or is empty.
    public func decapsulate(_ other: Multiaddr) -> Multiaddr {
        let right = other.components
        guard !right.isEmpty, right.count <= components.count else { return self }
        var i = components.count - right.count
        while i >= 0 {
            if components[i..<(i + right.count)].elementsEqual(right) {
                return Multiaddr(Array(components[..<i]))
            }
            i -= 1
        }
        return self
    }

    /// Everything before the last component of protocol `proto` (js-multiaddr
    /// `decapsulateCode`); `self` if there is none.
    public func decapsulate(protocol proto: MultiaddrProtocol) -> Multiaddr {
        guard let i = components.lastIndex(where: { $0.protocol == proto }) else { return self }
        return Multiaddr(Array(components[..<i]))
    }

    /// The first component of protocol `proto` (go-multiaddr `ValueForProtocol`), or nil.
    public func value(for proto: MultiaddrProtocol) -> MultiaddrComponent? {
        components.first { $0.protocol == proto }
    }

    /// The raw multihash bytes of the peer ID in the last `/p2p` component, or nil.
    public var peerIDMultihash: [UInt8]? {
        components.last { $0.protocol == .p2p }?.value
    }
}
