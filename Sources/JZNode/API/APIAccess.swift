import Foundation

/// Who may call the RPC API, decided as Kubo 0.22 decides it (`core/corehttp/commands.go` and
/// go-ipfs-cmds' HTTP handler), without sockets: the server hands in the method, path and headers
/// and writes the answer.
///
/// The order is Kubo's: `API.Authorizations` (403 unless the `Authorization` header matches a
/// secret whose `AllowedPaths` prefix the path; `/api/v0/version` needs only a valid secret), then
/// a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`: 204, CORS headers when the
/// origin and method are allowed), then the path (404 outside `/api/v0/`), then the method (`OPTIONS` → 204, anything but `POST` → 405),
/// then `Origin`, `Referer` and browser `User-Agent` checks (403, against CSRF).
public struct APIAccess: Sendable, Equatable {
    /// One `API.Authorizations` entry: the `Authorization` header value its secret stands for.
    public struct Authorization: Sendable, Equatable {
        public var name: String
        /// E.g. `Bearer token` or `Basic dXNlcjpwYXNz`.
        public var header: String
        /// Path prefixes allowed, e.g. `/api/v0/id`; `/api/v0` allows every command.
        public var allowedPaths: [String]

        public init(name: String, header: String, allowedPaths: [String]) {
            self.name = name
            self.header = header
            self.allowedPaths = allowedPaths
        }
    }

    /// What to answer.
    public enum Decision: Sendable, Equatable {
        /// Run the command; add `headers` to its answer.
        case allow(headers: [Header])
        /// Answer `status` with the plain-text `body` (Kubo's `http.Error`) and `headers`.
        case deny(status: Int, body: String, headers: [Header])
    }

    /// One response header.
    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Origins always allowed besides the configured ones (Kubo's `defaultLocalhostOrigins`, with
    /// `<port>` the API's bound port, and the IPFS Companion extensions).
    public static let defaultOrigins = [
        "http://127.0.0.1:<port>", "https://127.0.0.1:<port>", "http://[::1]:<port>", "https://[::1]:<port>",
        "http://localhost:<port>", "https://localhost:<port>",
        "chrome-extension://nibjojkomfdiaoajekhjakgkdhaomnch", "chrome-extension://hjoieblefckbooibpepigmacodalfndh",
    ]
    /// Kubo's texts.
    public static let forbiddenBody = "403 - Forbidden"
    public static let notFoundBody = "404 page not found"
    public static let methodNotAllowedBody = "405 - Method Not Allowed"
    public static let accessDeniedBody =
        "Kubo RPC Access Denied: Please provide a valid authorization token as defined in the API.Authorizations configuration."
    /// Request headers a preflight may ask for (Kubo's list; `Origin` is always allowed).
    static let allowedRequestHeaders: Set<String> = ["origin", "accept", "content-type", "x-requested-with"]

    /// `API.HTTPHeaders["Access-Control-Allow-Origin"]` followed by `defaultOrigins`; `*` allows all.
    public var allowedOrigins: [String]
    /// CORS methods (`API.HTTPHeaders["Access-Control-Allow-Methods"]`, default `POST`).
    public var corsMethods: [String]
    /// `API.HTTPHeaders["Access-Control-Allow-Credentials"]` is `true`.
    public var allowCredentials: Bool
    /// The other `API.HTTPHeaders`, added to every answered command.
    public var extraHeaders: [Header]
    /// `API.Authorizations` with a usable secret; empty: no authorization needed.
    public var authorizations: [Authorization]

    /// Kubo's defaults: no configured origins, POST, no authorizations.
    public init(
        configuredOrigins: [String] = [], corsMethods: [String]? = nil, allowCredentials: Bool = false,
        extraHeaders: [Header] = [], authorizations: [Authorization] = []
    ) {
        allowedOrigins = configuredOrigins + Self.defaultOrigins
        self.corsMethods = corsMethods ?? ["POST"]
        self.allowCredentials = allowCredentials
        self.extraHeaders = extraHeaders
        self.authorizations = authorizations
    }

    /// The same rules with `<port>` in the origins replaced by the API's bound port.
    public func boundTo(port: Int) -> APIAccess {
        var copy = self
        copy.allowedOrigins = allowedOrigins.map { $0.replacingOccurrences(of: "<port>", with: String(port)) }
        return copy
    }

    /// Kubo's `config.ConvertAuthSecret`: `basic:user:pass` (or `basic:<base64>`), `bearer:token`,
    /// or a bare `token` (bearer) → the `Authorization` header value; nil for an unknown type.
    public static func authorizationHeader(secret: String) -> String? {
        guard !secret.isEmpty, !secret.contains(where: \.isNewline) else { return nil }
        guard let colon = secret.firstIndex(of: ":") else { return "Bearer " + secret }
        let value = String(secret[secret.index(after: colon)...])
        if secret.hasPrefix("basic:") {
            return "Basic " + (value.contains(":") ? Data(value.utf8).base64EncodedString() : value)
        }
        if secret.hasPrefix("bearer:") { return "Bearer " + value }
        return nil
    }

    /// Decides one request. `path` is the URL path without the query; header names are matched
    /// case-insensitively.
    public func decide(method: String, path: String, headers: [(String, String)]) -> Decision {
        func header(_ name: String) -> String? {
            headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
        }
        // API.Authorizations (Kubo's withAuthSecrets wraps everything else).
        if !authorizations.isEmpty {
            let given = header("Authorization") ?? ""
            let granted = authorizations.first { $0.header == given }.map { auth in
                path == "/api/v0/version" || auth.allowedPaths.contains { path.hasPrefix($0) }
            } ?? false
            guard granted else { return .deny(status: 403, body: Self.accessDeniedBody, headers: []) }
        }
        let origin = header("Origin") ?? ""
        let upperMethod = method.uppercased()
        // CORS preflight (rs/cors answers it before the command handler).
        if upperMethod == "OPTIONS", let requested = header("Access-Control-Request-Method"), !requested.isEmpty {
            var out = [
                Header("Vary", "Origin"), Header("Vary", "Access-Control-Request-Method"),
                Header("Vary", "Access-Control-Request-Headers"),
            ]
            let requestedHeaders = (header("Access-Control-Request-Headers") ?? "").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            if !origin.isEmpty, corsAllows(origin: origin), corsAllows(method: requested),
                requestedHeaders.allSatisfy({ Self.allowedRequestHeaders.contains($0.lowercased()) })
            {
                out.append(Header("Access-Control-Allow-Origin", allowsAll ? "*" : origin))
                out.append(Header("Access-Control-Allow-Methods", requested.uppercased()))
                if !requestedHeaders.isEmpty {
                    out.append(Header("Access-Control-Allow-Headers", requestedHeaders.joined(separator: ", ")))
                }
                if allowCredentials { out.append(Header("Access-Control-Allow-Credentials", "true")) }
            }
            return .deny(status: 204, body: "", headers: out)
        }
        // CORS headers of an actual request.
        var cors = [Header("Vary", "Origin")]
        if !origin.isEmpty, corsAllows(origin: origin), corsAllows(method: upperMethod) {
            cors.append(Header("Access-Control-Allow-Origin", allowsAll ? "*" : origin))
            if allowCredentials { cors.append(Header("Access-Control-Allow-Credentials", "true")) }
        }
        // go-ipfs-cmds' prefix handler: only `/api/v0/…` is the API.
        guard path.hasPrefix("/api/v0/") else { return .deny(status: 404, body: Self.notFoundBody, headers: cors) }
        let allow = Header("Allow", "OPTIONS, POST")
        switch upperMethod {
        case "OPTIONS": return .deny(status: 204, body: "", headers: cors + [allow])
        case "POST": break
        default: return .deny(status: 405, body: Self.methodNotAllowedBody, headers: cors + [allow])
        }
        guard allows(origin: origin), allows(referer: header("Referer") ?? ""),
            allows(userAgent: header("User-Agent") ?? "", origin: origin, referer: header("Referer") ?? "")
        else { return .deny(status: 403, body: Self.forbiddenBody, headers: cors) }
        return .allow(headers: cors + extraHeaders)
    }

    private var allowsAll: Bool { allowedOrigins.contains("*") }

    /// rs/cors: origins compare case-insensitively.
    private func corsAllows(origin: String) -> Bool {
        allowsAll || allowedOrigins.contains { $0.caseInsensitiveCompare(origin) == .orderedSame }
    }

    private func corsAllows(method: String) -> Bool {
        let m = method.uppercased()
        return m == "OPTIONS" || corsMethods.contains { $0.uppercased() == m }
    }

    /// go-ipfs-cmds `allowOrigin`: no Origin (curl, the CLI) or an exact match.
    private func allows(origin: String) -> Bool {
        origin.isEmpty || allowsAll || allowedOrigins.contains(origin)
    }

    /// go-ipfs-cmds `allowReferer`: the Referer's `scheme://host[:port]` must be an allowed origin.
    private func allows(referer: String) -> Bool {
        guard !referer.isEmpty else { return true }
        guard let url = URLComponents(string: referer), let scheme = url.scheme, let host = url.percentEncodedHost else {
            return false
        }
        let hostPort = (host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host) + (url.port.map { ":\($0)" } ?? "")
        let refererOrigin = scheme + "://" + hostPort
        return allowsAll || allowedOrigins.contains(refererOrigin)
    }

    /// go-ipfs-cmds `allowUserAgent`: a POST without Origin and Referer from a browser
    /// (`Mozilla…`, except Electron) is refused.
    private func allows(userAgent: String, origin: String, referer: String) -> Bool {
        guard origin.isEmpty, referer.isEmpty else { return true }
        return userAgent.contains("Electron") || !userAgent.hasPrefix("Mozilla")
    }
}

extension APIAccess {
    /// Reads `API.HTTPHeaders` and `API.Authorizations` (Kubo's shapes); errors name the key.
    public init(config: NodeConfig) throws(NodeError) {
        var origins: [String] = []
        var methods: [String]?
        var credentials = false
        var extra: [Header] = []
        if let value = config.value(at: "API.HTTPHeaders"), value != .null {
            guard case .object(let fields) = value else {
                throw .invalidConfigValue(key: "API.HTTPHeaders", reason: "must be an object of header name → list of values")
            }
            for (name, raw) in fields.sorted(by: { $0.key < $1.key }) {
                guard let values = raw.stringArray else {
                    throw .invalidConfigValue(key: "API.HTTPHeaders.\(name)", reason: "must be a list of strings")
                }
                switch name.lowercased() {
                case "access-control-allow-origin": origins = values
                case "access-control-allow-methods": methods = values
                case "access-control-allow-credentials": credentials = values.last?.lowercased() == "true"
                default: extra += values.map { Header(name, $0) }
                }
            }
        }
        var auths: [Authorization] = []
        if let value = config.value(at: "API.Authorizations"), value != .null {
            guard case .object(let entries) = value else {
                throw .invalidConfigValue(key: "API.Authorizations", reason: "must be an object of name → {AuthSecret, AllowedPaths}")
            }
            for (name, entry) in entries.sorted(by: { $0.key < $1.key }) {
                let key = "API.Authorizations.\(name)"
                guard let secret = entry["AuthSecret"]?.stringValue else {
                    throw .invalidConfigValue(key: "\(key).AuthSecret", reason: "must be a string such as \"bearer:TOKEN\" or \"basic:USER:PASSWORD\"")
                }
                let paths: [String]
                switch entry["AllowedPaths"] {
                case nil, .null?: paths = []
                case let v?:
                    guard let list = v.stringArray else {
                        throw .invalidConfigValue(key: "\(key).AllowedPaths", reason: "must be a list of path prefixes such as \"/api/v0\"")
                    }
                    paths = list
                }
                // Kubo skips secrets of an unknown type; so do we.
                if let header = Self.authorizationHeader(secret: secret) {
                    auths.append(Authorization(name: name, header: header, allowedPaths: paths))
                }
            }
        }
        self.init(configuredOrigins: origins, corsMethods: methods, allowCredentials: credentials, extraHeaders: extra, authorizations: auths)
    }

    /// The `Authorization` header the CLI sends to the daemon of `config`: `$JZ_API_AUTH` (a secret
    /// in `AuthSecret` form) when set, else the secret of the first `API.Authorizations` entry
    /// that allows every command (`/api/v0`), else the first entry by name; nil without any.
    public static func clientAuthorization(config: NodeConfig?, environment: [String: String]) -> String? {
        if let secret = environment["JZ_API_AUTH"], !secret.isEmpty { return authorizationHeader(secret: secret) }
        guard let config, let access = try? APIAccess(config: config) else { return nil }
        let full = access.authorizations.first { $0.allowedPaths.contains { "/api/v0".hasPrefix($0) || $0 == "/api/v0/" } }
        return (full ?? access.authorizations.first)?.header
    }
}
