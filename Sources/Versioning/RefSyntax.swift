import Multiformats

/// A ref with an optional first-parent ancestor count: `main`, `v1.0~2`, `bafy…~1`.
public struct RefExpression: Hashable, Sendable, CustomStringConvertible {
    /// A branch, a tag or a commit CID.
    public var base: String
    /// How many first parents to walk back (`~N`, summed when repeated; a bare `~` is 1).
    public var generations: Int

    public init(base: String, generations: Int = 0) {
        self.base = base
        self.generations = generations
    }

    public var description: String { generations == 0 ? base : "\(base)~\(generations)" }
}

/// A parsed `REPO[@REF][:PATH]`.
public struct RefSpec: Hashable, Sendable, CustomStringConvertible {
    public var repository: String
    /// Nil: the repository's default branch.
    public var ref: RefExpression?
    /// A path inside the commit's tree, without leading or trailing `/`; nil for the root.
    public var path: String?

    public init(repository: String, ref: RefExpression? = nil, path: String? = nil) {
        self.repository = repository
        self.ref = ref
        self.path = path
    }

    public var description: String {
        var s = repository
        if let ref { s += "@\(ref)" }
        if let path { s += ":\(path)" }
        return s
    }
}

/// Parsing `REPO@REF[:PATH]` and checking repository, branch and tag names.
public enum RefSyntax {
    /// Parses `REPO`, `REPO@REF`, `REPO:PATH` or `REPO@REF:PATH`, where REF is a branch, a tag,
    /// a commit CID or `REF~N`.
    public static func parse(_ text: String) throws(VersioningError) -> RefSpec {
        var head = Substring(text)
        var path: String?
        if let colon = head.firstIndex(of: ":") {
            let rawPath = head[head.index(after: colon)...]
            head = head[..<colon]
            let components = rawPath.split(separator: "/", omittingEmptySubsequences: true)
            for component in components where component == "." || component == ".." {
                throw .invalidRefSyntax(text: text, reason: "path component '\(component)' is not allowed")
            }
            path = components.isEmpty ? nil : components.joined(separator: "/")
        }
        var repo = head
        var ref: RefExpression?
        if let at = head.firstIndex(of: "@") {
            repo = head[..<at]
            let refText = head[head.index(after: at)...]
            guard !refText.isEmpty else { throw .invalidRefSyntax(text: text, reason: "empty ref after '@'") }
            ref = try parseRef(String(refText), in: text)
        }
        guard !repo.isEmpty else { throw .invalidRefSyntax(text: text, reason: "missing repository name") }
        do {
            try validateRepositoryName(String(repo))
        } catch {
            throw .invalidRefSyntax(text: text, reason: error.description)
        }
        return RefSpec(repository: String(repo), ref: ref, path: path)
    }

    /// Parses `BASE(~N)*`.
    public static func parseRef(_ text: String, in whole: String? = nil) throws(VersioningError) -> RefExpression {
        let context = whole ?? text
        let parts = text.split(separator: "~", omittingEmptySubsequences: false)
        guard let base = parts.first, !base.isEmpty else {
            throw .invalidRefSyntax(text: context, reason: "missing ref before '~'")
        }
        var generations = 0
        for part in parts.dropFirst() {
            if part.isEmpty {
                generations += 1
            } else {
                guard part.allSatisfy(\.isASCII), let n = Int(part), n >= 0, n <= 1_000_000_000 else {
                    throw .invalidRefSyntax(text: context, reason: "'~\(part)' is not a generation count")
                }
                generations += n
            }
        }
        return RefExpression(base: String(base), generations: generations)
    }

    /// Repository names: 1–100 of `A–Z a–z 0–9 . _ -`, not starting with `.` or `-`.
    public static func validateRepositoryName(_ name: String) throws(VersioningError) {
        try validateComponent(name, kind: "repository")
    }

    /// Remote names: as repository names (`origin`, `site-b`).
    public static func validateRemoteName(_ name: String) throws(VersioningError) {
        try validateComponent(name, kind: "remote")
    }

    /// Branch and tag names: `/`-separated components as repository names (`feature/x`),
    /// at most 255 bytes; `kind` is "branch" or "tag" for the error.
    public static func validateRefName(_ name: String, kind: String) throws(VersioningError) {
        guard !name.isEmpty else { throw .invalidName(kind: kind, name: name, reason: "empty") }
        guard name.utf8.count <= 255 else { throw .invalidName(kind: kind, name: name, reason: "longer than 255 bytes") }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            do {
                try validateComponent(String(component), kind: kind)
            } catch {
                throw .invalidName(kind: kind, name: name, reason: "component '\(component)': \(reasonOf(error))")
            }
        }
        if name.hasSuffix(".lock") { throw .invalidName(kind: kind, name: name, reason: "ends with '.lock'") }
    }

    private static func reasonOf(_ error: VersioningError) -> String {
        if case let .invalidName(_, _, reason) = error { return reason }
        return error.description
    }

    private static func validateComponent(_ name: String, kind: String) throws(VersioningError) {
        guard !name.isEmpty else { throw .invalidName(kind: kind, name: name, reason: "empty") }
        guard name.utf8.count <= 100 else { throw .invalidName(kind: kind, name: name, reason: "longer than 100 bytes") }
        if name.hasPrefix(".") || name.hasPrefix("-") {
            throw .invalidName(kind: kind, name: name, reason: "starts with '\(name.prefix(1))'")
        }
        if name.contains("..") { throw .invalidName(kind: kind, name: name, reason: "contains '..'") }
        for scalar in name.unicodeScalars {
            let v = scalar.value
            let ok = (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5a) || (v >= 0x61 && v <= 0x7a)
                || v == 0x2e || v == 0x5f || v == 0x2d
            guard ok else {
                throw .invalidName(kind: kind, name: name, reason: "character '\(scalar)' is not allowed (use A-Z a-z 0-9 . _ -)")
            }
        }
    }
}
