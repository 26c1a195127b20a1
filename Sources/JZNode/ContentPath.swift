import Multiformats

/// A path into content: `/ipfs/<cid>/a/b`, `<cid>/a/b` or a bare CID.
public struct ContentPath: Hashable, Sendable, CustomStringConvertible {
    public let root: CID
    /// Path components after the root, without empty segments.
    public let components: [String]

    public init(root: CID, components: [String] = []) {
        self.root = root
        self.components = components
    }

    /// Parses a path.
    /// - Throws: `ContentPathError` naming the bad part.
    public init(_ string: String) throws(ContentPathError) {
        var parts = string.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if string.hasPrefix("/") {
            guard let namespace = parts.first else { throw .empty }
            guard namespace == "ipfs" else { throw .unsupportedNamespace(namespace) }
            parts.removeFirst()
        }
        guard let first = parts.first else { throw .empty }
        do {
            root = try CID(first)
        } catch {
            throw .invalidCID(first, reason: "\(error)")
        }
        components = Array(parts.dropFirst())
    }

    /// The name and the rest of an `/ipns/NAME[/rest]` path (`rest` empty or starting with `/`);
    /// nil for any other path. The name is not checked.
    public static func ipnsParts(_ path: String) -> (name: String, rest: String)? {
        guard path.hasPrefix("/ipns/") else { return nil }
        let tail = path.dropFirst("/ipns/".count)
        let name = tail.prefix { $0 != "/" }
        guard !name.isEmpty else { return nil }
        return (String(name), String(tail.dropFirst(name.count)))
    }

    public var description: String {
        "/ipfs/\(root)" + components.map { "/" + $0 }.joined()
    }
}

/// Why a content path could not be parsed.
public enum ContentPathError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case unsupportedNamespace(String)
    case invalidCID(String, reason: String)

    public var description: String {
        switch self {
        case .empty: return "empty path: give a CID or /ipfs/<cid>/path"
        case let .unsupportedNamespace(ns):
            return ns == "ipns"
                ? "/ipns/ paths must be resolved first (`jz-node name resolve`); here use /ipfs/<cid>/path"
                : "/\(ns)/ paths are not supported here: use /ipfs/<cid>/path or /ipns/<name>/path"
        case let .invalidCID(s, reason): return "\(s) is not a CID: \(reason)"
        }
    }
}
