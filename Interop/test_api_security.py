"""The daemon's RPC API is safe from web pages, as Kubo 0.22's is (issue 14, "Safe by default").

A real ``jz-node daemon`` on 127.0.0.1 (port 0) is driven with http.client only:
- a cross-origin POST to /api/v0/shutdown gets 403 ``403 - Forbidden`` and the daemon keeps running;
- GET gets 405 ``405 - Method Not Allowed`` with ``Allow: OPTIONS, POST``;
- an origin listed in API.HTTPHeaders["Access-Control-Allow-Origin"] gets 200 and the CORS
  header; the API's own origin (http://127.0.0.1:<port>) is allowed without configuration;
- a foreign Referer gets 403, an allowed one 200; a CORS preflight answers 204 with headers only
  for an allowed origin;
- API.Authorizations: no or a wrong Authorization header → 403 with Kubo's text; the right one →
  200; a secret scoped to /api/v0/id cannot call /api/v0/shutdown; the CLI still works (it
  authenticates with the home's own secret, or $JZ_API_AUTH);
- a body larger than the API limit (4 MiB) → 413.
"""

from __future__ import annotations

import http.client
import json

import pytest

from conftest import JzDaemon

ACCESS_DENIED = ("Kubo RPC Access Denied: Please provide a valid authorization token as defined "
                 "in the API.Authorizations configuration.")


def api_port(d: JzDaemon) -> int:
    return int(d.api_path.read_text().strip().split("/")[4])


def request(d: JzDaemon, method: str, path: str, headers: dict | None = None,
            body: bytes | None = None):
    """One request; returns (status, headers (lower-case names), body text)."""
    conn = http.client.HTTPConnection("127.0.0.1", api_port(d), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read().decode(errors="replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def configure(d: JzDaemon, key: str, value) -> None:
    d.cli("config", "--json", key, json.dumps(value))


@pytest.fixture
def daemon(jz):
    daemons: list[JzDaemon] = []

    def make(settings: dict | None = None) -> JzDaemon:
        d = JzDaemon(jz())
        daemons.append(d)
        d.configure()
        for key, value in (settings or {}).items():
            configure(d, key, value)
        return d.start()

    yield make
    for d in daemons:
        d.stop()


def test_default_api_address_is_loopback(jz):
    node = jz()
    node.init()
    cfg = json.loads(node.config_path.read_text())
    assert cfg["Addresses"]["API"].startswith("/ip4/127.0.0.1/tcp/")


def test_cross_origin_post_is_forbidden_and_daemon_keeps_running(daemon):
    d = daemon()
    status, headers, body = request(d, "POST", "/api/v0/shutdown",
                                    {"Origin": "https://evil.example"})
    assert (status, body) == (403, "403 - Forbidden\n")
    assert "access-control-allow-origin" not in headers
    assert d.alive()
    assert d.id()["ID"] == d.peer_id  # still answering


def test_get_is_method_not_allowed(daemon):
    d = daemon()
    status, headers, body = request(d, "GET", "/api/v0/shutdown")
    assert (status, body) == (405, "405 - Method Not Allowed\n")
    assert headers["allow"] == "OPTIONS, POST"
    assert d.alive()


def test_plain_post_without_origin_is_allowed(daemon):
    d = daemon()
    status, _, body = request(d, "POST", "/api/v0/id")
    assert status == 200
    assert json.loads(body)["ID"] == d.peer_id


def test_browser_post_without_origin_is_forbidden(daemon):
    d = daemon()
    status, _, _ = request(d, "POST", "/api/v0/id",
                           {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"})
    assert status == 403


def test_allowed_origin_gets_cors_header(daemon):
    d = daemon({"API.HTTPHeaders": {"Access-Control-Allow-Origin": ["https://app.example"],
                                    "X-Extra": ["1"]}})
    status, headers, body = request(d, "POST", "/api/v0/id", {"Origin": "https://app.example"})
    assert status == 200, body
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["x-extra"] == "1"
    assert json.loads(body)["ID"] == d.peer_id
    # The API's own origin is allowed without configuration (Kubo's localhost defaults).
    own = f"http://127.0.0.1:{api_port(d)}"
    status, headers, _ = request(d, "POST", "/api/v0/id", {"Origin": own})
    assert (status, headers["access-control-allow-origin"]) == (200, own)
    status, _, _ = request(d, "POST", "/api/v0/id", {"Origin": "https://other.example"})
    assert status == 403


def test_wildcard_origin_allows_all(daemon):
    d = daemon({"API.HTTPHeaders": {"Access-Control-Allow-Origin": ["*"]}})
    status, headers, _ = request(d, "POST", "/api/v0/id", {"Origin": "https://any.example"})
    assert (status, headers["access-control-allow-origin"]) == (200, "*")


def test_cors_preflight(daemon):
    d = daemon({"API.HTTPHeaders": {"Access-Control-Allow-Origin": ["https://app.example"]}})
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    status, headers, body = request(d, "OPTIONS", "/api/v0/id", {"Origin": "https://app.example", **ask})
    assert (status, body) == (204, "")
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-allow-methods"] == "POST"
    status, headers, _ = request(d, "OPTIONS", "/api/v0/id", {"Origin": "https://evil.example", **ask})
    assert status == 204
    assert "access-control-allow-origin" not in headers


def test_referer_rule(daemon):
    d = daemon()
    status, _, body = request(d, "POST", "/api/v0/shutdown",
                              {"Referer": "https://evil.example/page.html"})
    assert (status, body) == (403, "403 - Forbidden\n")
    assert d.alive()
    own = f"http://127.0.0.1:{api_port(d)}/webui/"
    status, _, _ = request(d, "POST", "/api/v0/id", {"Referer": own})
    assert status == 200


AUTH = {"API.Authorizations": {
    "admin": {"AuthSecret": "bearer:s3cret", "AllowedPaths": ["/api/v0"]},
    "reader": {"AuthSecret": "basic:alice:pw", "AllowedPaths": ["/api/v0/id"]},
}}


def test_missing_authorization_is_forbidden(daemon):
    d = daemon(AUTH)
    status, _, body = request(d, "POST", "/api/v0/shutdown")
    assert (status, body) == (403, ACCESS_DENIED + "\n")
    assert d.alive()


def test_wrong_authorization_is_forbidden(daemon):
    d = daemon(AUTH)
    for value in ("Bearer nope", "Basic YWxpY2U6d3Jvbmc=", "s3cret"):
        status, _, body = request(d, "POST", "/api/v0/id", {"Authorization": value})
        assert (status, body) == (403, ACCESS_DENIED + "\n"), value
    # A valid secret outside its AllowedPaths.
    status, _, _ = request(d, "POST", "/api/v0/shutdown",
                           {"Authorization": "Basic YWxpY2U6cHc="})  # alice:pw
    assert status == 403
    assert d.alive()


def test_right_authorization_is_allowed(daemon):
    d = daemon(AUTH)
    status, _, body = request(d, "POST", "/api/v0/id", {"Authorization": "Basic YWxpY2U6cHc="})
    assert status == 200 and json.loads(body)["ID"] == d.peer_id
    status, _, _ = request(d, "POST", "/api/v0/version", {"Authorization": "Basic YWxpY2U6cHc="})
    assert status == 200
    status, _, _ = request(d, "POST", "/api/v0/id", {"Authorization": "Bearer s3cret"})
    assert status == 200


def test_cli_authenticates_with_the_home_secret_or_env(daemon, monkeypatch):
    d = daemon(AUTH)  # start() itself runs `jz-node id` through the API
    assert d.id()["ID"] == d.peer_id
    monkeypatch.setenv("JZ_API_AUTH", "bearer:wrong")
    r = d.cli("id", "--json", check=False)
    assert r.returncode != 0 and "Access Denied" in (r.stderr + r.stdout)
    monkeypatch.setenv("JZ_API_AUTH", "basic:alice:pw")
    assert d.id()["ID"] == d.peer_id


def test_oversized_body_is_413(daemon):
    d = daemon()
    status, _, body = request(d, "POST", "/api/v0/id", body=b"x" * (4 * 1024 * 1024 + 1))
    assert status == 413
    assert "larger than the API limit" in json.loads(body)["Message"]
    assert d.alive()
