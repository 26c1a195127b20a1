import Foundation
import Testing
@testable import JZNode
import TestSupport

@Suite("RPC API access rules (Kubo's)", .onBlockingPool)
struct APIAccessTests {
    let defaults = APIAccess().boundTo(port: 5101)

    func status(_ d: APIAccess.Decision) -> Int {
        switch d {
        case .allow: return 200
        case .deny(let status, _, _): return status
        }
    }

    func body(_ d: APIAccess.Decision) -> String? {
        if case .deny(_, let body, _) = d { return body }
        return nil
    }

    func headers(_ d: APIAccess.Decision) -> [String: String] {
        let list: [APIAccess.Header]
        switch d {
        case .allow(let h): list = h
        case .deny(_, _, let h): list = h
        }
        return Dictionary(list.map { ($0.name, $0.value) }, uniquingKeysWith: { a, b in a + ", " + b })
    }

    @Test("a POST without Origin or Referer (curl, the CLI) is allowed")
    func plainPost() {
        #expect(status(defaults.decide(method: "POST", path: "/api/v0/id", headers: [("User-Agent", "curl/8")])) == 200)
        #expect(status(defaults.decide(method: "POST", path: "/api/v0/id", headers: [])) == 200)
    }

    @Test("GET, PUT and HEAD get 405 with Kubo's text and Allow header")
    func methods() {
        for method in ["GET", "PUT", "HEAD", "DELETE"] {
            let d = defaults.decide(method: method, path: "/api/v0/shutdown", headers: [])
            #expect(status(d) == 405)
            #expect(body(d) == "405 - Method Not Allowed")
            #expect(headers(d)["Allow"] == "OPTIONS, POST")
        }
        let options = defaults.decide(method: "OPTIONS", path: "/api/v0/id", headers: [])
        #expect(status(options) == 204)
        #expect(headers(options)["Allow"] == "OPTIONS, POST")
    }

    @Test("paths outside /api/v0/ are 404")
    func notFound() {
        #expect(status(defaults.decide(method: "POST", path: "/webui", headers: [])) == 404)
    }

    @Test("a foreign Origin gets 403; the API's own origins and the Companion extension are allowed")
    func origins() {
        let foreign = defaults.decide(method: "POST", path: "/api/v0/shutdown", headers: [("Origin", "https://evil.example")])
        #expect(status(foreign) == 403)
        #expect(body(foreign) == "403 - Forbidden")
        #expect(headers(foreign)["Access-Control-Allow-Origin"] == nil)
        for own in ["http://127.0.0.1:5101", "http://localhost:5101", "https://[::1]:5101", "chrome-extension://nibjojkomfdiaoajekhjakgkdhaomnch"] {
            let d = defaults.decide(method: "POST", path: "/api/v0/id", headers: [("origin", own)])
            #expect(status(d) == 200, "\(own)")
            #expect(headers(d)["Access-Control-Allow-Origin"] == own)
        }
        // Another port of the same host is another origin.
        #expect(status(defaults.decide(method: "POST", path: "/api/v0/id", headers: [("Origin", "http://127.0.0.1:8080")])) == 403)
        // Until bound, `<port>` matches nothing real.
        #expect(status(APIAccess().decide(method: "POST", path: "/api/v0/id", headers: [("Origin", "http://127.0.0.1:5101")])) == 403)
    }

    @Test("a foreign Referer gets 403 (checked even with an allowed Origin); an allowed one passes")
    func referers() {
        #expect(status(defaults.decide(method: "POST", path: "/api/v0/id", headers: [("Referer", "https://evil.example/page?x=1")])) == 403)
        #expect(status(defaults.decide(method: "POST", path: "/api/v0/id", headers: [("Referer", "http://127.0.0.1:5101/webui/")])) == 200)
        #expect(status(defaults.decide(method: "POST", path: "/api/v0/id", headers: [("Referer", "http://[::1]:5101/x")])) == 200)
        #expect(
            status(defaults.decide(
                method: "POST", path: "/api/v0/id", headers: [("Origin", "http://localhost:5101"), ("Referer", "https://evil.example/")])) == 403)
        #expect(status(defaults.decide(method: "POST", path: "/api/v0/id", headers: [("Referer", "::not a url")])) == 403)
    }

    @Test("a browser POST without Origin or Referer is refused; Electron is not")
    func userAgents() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
        #expect(status(defaults.decide(method: "POST", path: "/api/v0/id", headers: [("User-Agent", firefox)])) == 403)
        #expect(status(defaults.decide(method: "POST", path: "/api/v0/id", headers: [("User-Agent", firefox + " Electron/28")])) == 200)
        #expect(
            status(defaults.decide(method: "POST", path: "/api/v0/id", headers: [("User-Agent", firefox), ("Origin", "http://localhost:5101")])) == 200)
    }

    @Test("API.HTTPHeaders: configured origins, * and extra headers")
    func httpHeaders() throws {
        let config = NodeConfig(root: [
            "API": ["HTTPHeaders": [
                "Access-Control-Allow-Origin": ["https://app.example"], "X-Special": ["yes"],
            ]],
        ])
        let access = try APIAccess(config: config).boundTo(port: 7)
        let d = access.decide(method: "POST", path: "/api/v0/id", headers: [("Origin", "https://app.example")])
        #expect(status(d) == 200)
        #expect(headers(d)["Access-Control-Allow-Origin"] == "https://app.example")
        #expect(headers(d)["X-Special"] == "yes")
        #expect(status(access.decide(method: "POST", path: "/api/v0/id", headers: [("Origin", "https://other.example")])) == 403)
        #expect(status(access.decide(method: "POST", path: "/api/v0/id", headers: [("Origin", "http://localhost:7")])) == 200)

        let star = try APIAccess(config: NodeConfig(root: ["API": ["HTTPHeaders": ["Access-Control-Allow-Origin": ["*"]]]]))
        let any = star.decide(method: "POST", path: "/api/v0/id", headers: [("Origin", "https://anything.example")])
        #expect(status(any) == 200)
        #expect(headers(any)["Access-Control-Allow-Origin"] == "*")
        #expect(headers(any)["X-Special"] == nil)

        #expect(throws: NodeError.self) { try APIAccess(config: NodeConfig(root: ["API": ["HTTPHeaders": ["X": "not a list"]]])) }
    }

    @Test("CORS preflight: 204, headers only for an allowed origin, method and request headers")
    func preflight() {
        let good = defaults.decide(
            method: "OPTIONS", path: "/api/v0/id",
            headers: [("Origin", "http://localhost:5101"), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "content-type")])
        #expect(status(good) == 204)
        #expect(headers(good)["Access-Control-Allow-Origin"] == "http://localhost:5101")
        #expect(headers(good)["Access-Control-Allow-Methods"] == "POST")
        #expect(headers(good)["Access-Control-Allow-Headers"] == "content-type")
        let foreign = defaults.decide(
            method: "OPTIONS", path: "/api/v0/id", headers: [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST")])
        #expect(status(foreign) == 204)
        #expect(headers(foreign)["Access-Control-Allow-Origin"] == nil)
        let get = defaults.decide(
            method: "OPTIONS", path: "/api/v0/id", headers: [("Origin", "http://localhost:5101"), ("Access-Control-Request-Method", "GET")])
        #expect(headers(get)["Access-Control-Allow-Origin"] == nil)
        let odd = defaults.decide(
            method: "OPTIONS", path: "/api/v0/id",
            headers: [("Origin", "http://localhost:5101"), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "X-Custom")])
        #expect(headers(odd)["Access-Control-Allow-Origin"] == nil)
    }

    @Test("Kubo's ConvertAuthSecret")
    func secrets() {
        #expect(APIAccess.authorizationHeader(secret: "basic:user:pass") == "Basic dXNlcjpwYXNz")
        #expect(APIAccess.authorizationHeader(secret: "basic:dXNlcjpwYXNz") == "Basic dXNlcjpwYXNz")
        #expect(APIAccess.authorizationHeader(secret: "bearer:tok") == "Bearer tok")
        #expect(APIAccess.authorizationHeader(secret: "tok") == "Bearer tok")
        #expect(APIAccess.authorizationHeader(secret: "user:pass") == nil)
        #expect(APIAccess.authorizationHeader(secret: "") == nil)
        #expect(APIAccess.authorizationHeader(secret: "bearer:a\r\nX: y") == nil)
    }

    @Test("API.Authorizations: prefix-scoped secrets, version always, 403 otherwise")
    func authorizations() throws {
        let config = NodeConfig(root: [
            "API": ["Authorizations": [
                "admin": ["AuthSecret": "bearer:root", "AllowedPaths": ["/api/v0"]],
                "reader": ["AuthSecret": "basic:alice:pw", "AllowedPaths": ["/api/v0/id", "/api/v0/cat"]],
                "nothing": ["AuthSecret": "bearer:none"],
                "unknown": ["AuthSecret": "digest:x", "AllowedPaths": ["/api/v0"]],
            ]],
        ])
        let access = try APIAccess(config: config).boundTo(port: 1)
        #expect(access.authorizations.map(\.name) == ["admin", "nothing", "reader"])
        let alice = "Basic " + Data("alice:pw".utf8).base64EncodedString()
        func check(_ auth: String?, _ path: String, method: String = "POST") -> Int {
            status(access.decide(method: method, path: path, headers: auth.map { [("Authorization", $0)] } ?? []))
        }
        #expect(check(nil, "/api/v0/id") == 403)
        #expect(body(access.decide(method: "POST", path: "/api/v0/id", headers: [])) == APIAccess.accessDeniedBody)
        #expect(check("Bearer wrong", "/api/v0/id") == 403)
        #expect(check("bearer root", "/api/v0/id") == 403)
        #expect(check("Bearer root", "/api/v0/shutdown") == 200)
        #expect(check(alice, "/api/v0/id") == 200)
        #expect(check(alice, "/api/v0/cat") == 200)
        #expect(check(alice, "/api/v0/shutdown") == 403)
        #expect(check("Bearer none", "/api/v0/id") == 403)
        #expect(check("Bearer none", "/api/v0/version") == 200)
        #expect(check(nil, "/api/v0/version") == 403)
        // Authorization comes first, as Kubo's wrapper: a GET without it is 403, with it 405.
        #expect(check(nil, "/api/v0/id", method: "GET") == 403)
        #expect(check("Bearer root", "/api/v0/id", method: "GET") == 405)

        #expect(throws: NodeError.self) {
            try APIAccess(config: NodeConfig(root: ["API": ["Authorizations": ["x": ["AllowedPaths": ["/api/v0"]]]]]))
        }
    }

    @Test("the CLI's authorization: $JZ_API_AUTH, else the full-access secret of the home's config")
    func clientAuthorization() {
        let config = NodeConfig(root: [
            "API": ["Authorizations": [
                "a-reader": ["AuthSecret": "bearer:r", "AllowedPaths": ["/api/v0/id"]],
                "b-admin": ["AuthSecret": "bearer:root", "AllowedPaths": ["/api/v0"]],
            ]],
        ])
        #expect(APIAccess.clientAuthorization(config: config, environment: [:]) == "Bearer root")
        #expect(APIAccess.clientAuthorization(config: config, environment: ["JZ_API_AUTH": "basic:u:p"]) == "Basic dTpw")
        #expect(APIAccess.clientAuthorization(config: NodeConfig(root: [:]), environment: [:]) == nil)
        #expect(APIAccess.clientAuthorization(config: nil, environment: [:]) == nil)
    }
}
