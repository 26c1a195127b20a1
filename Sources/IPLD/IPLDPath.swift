import Multiformats

/// A path through IPLD data: segments separated by `/` (`a/b/0`, `Links/0/Hash`, a dag-pb link
/// name). Empty segments are dropped, so leading, trailing and doubled slashes do not matter.
public struct IPLDPath: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var segments: [String]

    public init(segments: [String]) {
        self.segments = segments
    }

    /// Splits `string` on `/`.
    public init(_ string: String) {
        self.segments = string.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public var isEmpty: Bool { segments.isEmpty }

    /// The segments joined with `/` (no leading slash).
    public var description: String { segments.joined(separator: "/") }
}

/// Where a walk inside one block stopped.
public enum IPLDStep: Hashable, Sendable {
    /// Every segment was consumed; this is the value reached.
    case value(IPLDValue)
    /// A link was reached after `consumed` segments with more segments left: continue in the
    /// block `cid` with `segments[consumed...]`.
    case link(CID, consumed: Int)
}

/// Why a path could not be followed.
public enum IPLDPathError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A map without the key, a dag-pb node without a link of that name.
    case noSuchKey(String, at: IPLDPath, cid: CID?)
    /// A list index that is not a decimal integer or is out of range.
    case noSuchIndex(String, at: IPLDPath, count: Int, cid: CID?)
    /// A scalar (string, int, bytes …) cannot be walked into.
    case notTraversable(IPLDKind, segment: String, at: IPLDPath, cid: CID?)
    /// A link on the path points to a block the source does not have.
    case missingBlock(CID, at: IPLDPath)
    /// A block on the path could not be decoded.
    case codec(IPLDCodecError)
    /// The block source failed.
    case source(CID, reason: String)

    public var description: String {
        func inBlock(_ cid: CID?) -> String { cid.map { " in block \($0)" } ?? "" }
        func at(_ path: IPLDPath) -> String { path.isEmpty ? "at the root" : "at \"\(path)\"" }
        switch self {
        case let .noSuchKey(key, path, cid):
            return "path: no key or link named \"\(key)\" \(at(path))\(inBlock(cid))"
        case let .noSuchIndex(segment, path, count, cid):
            return "path: no index \"\(segment)\" in a list of \(count) \(at(path))\(inBlock(cid))"
        case let .notTraversable(kind, segment, path, cid):
            return "path: cannot look up \"\(segment)\" in a \(kind.rawValue) \(at(path))\(inBlock(cid))"
        case let .missingBlock(cid, path):
            return "path: block \(cid) (reached \(at(path))) is not available"
        case let .codec(error):
            return "path: \(error)"
        case let .source(cid, reason):
            return "path: reading block \(cid) failed: \(reason)"
        }
    }
}

extension IPLDValue {
    /// Walks `path` inside this value (one block), stopping at a link when segments remain.
    ///
    /// Maps are walked by key, lists by decimal index. With `dagPBNamedLinks` (the value is the
    /// data-model form of a dag-pb node), a first segment that names a link resolves to that
    /// link's `Hash` — as Kubo paths `/ipfs/<dir>/<name>` — and takes precedence over the
    /// `Data` / `Links` fields; otherwise the data-model form applies (`Links/0/Hash`).
    /// - Parameters:
    ///   - cid: the block this value came from, for error messages.
    ///   - prefix: segments already walked before this block, for error messages.
    public func walk(
        _ path: IPLDPath, dagPBNamedLinks: Bool = false, cid: CID? = nil, prefix: IPLDPath = IPLDPath(segments: [])
    ) throws(IPLDPathError) -> IPLDStep {
        var current = self
        var walked = prefix
        for (index, segment) in path.segments.enumerated() {
            if case let .link(target) = current { return .link(target, consumed: index) }
            if index == 0, dagPBNamedLinks, let hash = current.dagPBLink(named: segment) {
                current = .link(hash)
            } else {
                current = try current.child(segment, at: walked, cid: cid)
            }
            walked.segments.append(segment)
        }
        return .value(current)
    }

    /// The `Hash` of the first link named `name` in a dag-pb data-model node.
    func dagPBLink(named name: String) -> CID? {
        guard case let .list(links)? = self["Links"] else { return nil }
        for link in links {
            if case let .string(linkName)? = link["Name"], linkName.utf8.elementsEqual(name.utf8),
                case let .link(hash)? = link["Hash"]
            {
                return hash
            }
        }
        return nil
    }

    private func child(_ segment: String, at path: IPLDPath, cid: CID?) throws(IPLDPathError) -> IPLDValue {
        switch self {
        case let .map(map):
            guard let value = map[segment] else { throw .noSuchKey(segment, at: path, cid: cid) }
            return value
        case let .list(list):
            guard let index = Self.listIndex(segment), index < list.count else {
                throw .noSuchIndex(segment, at: path, count: list.count, cid: cid)
            }
            return list[index]
        default:
            throw .notTraversable(kind, segment: segment, at: path, cid: cid)
        }
    }

    /// A canonical non-negative decimal (`0`, `17`; not `+1`, `01`, `-0`).
    private static func listIndex(_ segment: String) -> Int? {
        let utf8 = segment.utf8
        guard let first = utf8.first, first != UInt8(ascii: "0") || utf8.count == 1 else { return nil }
        guard utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(segment)
    }
}

/// Follows paths across blocks, as `dag get` / `dag resolve` do.
public struct IPLDResolver: Sendable {
    /// Where blocks come from.
    public let source: any BlockSource

    public init(source: any BlockSource) {
        self.source = source
    }

    /// The end of a resolved path.
    public struct Resolution: Hashable, Sendable {
        /// The last block the path reached.
        public var cid: CID
        /// The part of the path inside that block (empty when the path ends on the block itself).
        public var remainder: IPLDPath

        public init(cid: CID, remainder: IPLDPath) {
            self.cid = cid
            self.remainder = remainder
        }
    }

    /// Resolves `path` from `root` like boxo's `ResolveToLastNode` (Kubo `dag resolve`): links
    /// met along the way are followed, and a path that ends on a link resolves to the linked
    /// block. dag-pb nodes are also walked by link name (see `IPLDValue.walk`).
    public func resolve(_ root: CID, path: IPLDPath) throws(IPLDPathError) -> Resolution {
        guard !path.isEmpty else { return Resolution(cid: root, remainder: path) }
        var cid = root
        var remaining = path.segments[...]
        var walked = IPLDPath(segments: [])
        while true {
            let value = try load(cid, at: walked)
            let step = try value.walk(
                IPLDPath(segments: Array(remaining)), dagPBNamedLinks: cid.codec == .dagPB, cid: cid, prefix: walked)
            switch step {
            case let .link(target, consumed):
                walked.segments.append(contentsOf: remaining.prefix(consumed))
                remaining = remaining.dropFirst(consumed)
                cid = target
            case let .value(.link(target)):
                return Resolution(cid: target, remainder: IPLDPath(segments: []))
            case .value:
                return Resolution(cid: cid, remainder: IPLDPath(segments: Array(remaining)))
            }
        }
    }

    /// The value at `path` from `root` (Kubo `dag get`): resolves the path, then decodes the
    /// final block and walks the remainder inside it.
    public func get(_ root: CID, path: IPLDPath) throws(IPLDPathError) -> IPLDValue {
        let resolution = try resolve(root, path: path)
        let value = try load(resolution.cid, at: path)
        switch try value.walk(resolution.remainder, dagPBNamedLinks: resolution.cid.codec == .dagPB, cid: resolution.cid) {
        case let .value(result): return result
        case let .link(target, _): return .link(target)  // unreachable: resolve stopped before any link
        }
    }

    /// Reads and decodes one block (an identity-hash CID carries its block inline).
    public func load(_ cid: CID, at path: IPLDPath) throws(IPLDPathError) -> IPLDValue {
        let block: Block?
        do {
            if cid.multihash.code == HashFunction.identity.rawValue {
                block = Block(cid: cid, data: cid.multihash.digest)
            } else {
                block = try source.block(for: cid)
            }
        } catch {
            throw .source(cid, reason: "\(error)")
        }
        guard let block else { throw .missingBlock(cid, at: path) }
        do {
            return try IPLDCodecs.decode(block)
        } catch {
            throw .codec(error)
        }
    }
}
