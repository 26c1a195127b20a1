"""The versioning commands over the daemon's RPC API, and the CLI going through the daemon.

(a) Plain HTTP POSTs (http.client, no client library) drive a `jz-node daemon`: repo/create,
    commit of a folder by path and by a multipart body (as Kubo clients send `add`), log, diff,
    branch, tag, merge, show, lineage, checkout, remotes; errors are Kubo's error documents with
    400 (a bad argument, named) or 500 (a failure), never 404.
(b) The CLI goes through the daemon when one runs: with API.Authorizations set, `jz-node log`
    with a wrong JZ_API_AUTH is refused by the daemon, with the right one it works; and every
    versioning command prints the same output (text and --json) with the daemon as offline.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from pathlib import Path

from conftest import JzDaemon


def api_port(d: JzDaemon) -> int:
    return int(d.api_path.read_text().strip().split("/")[4])


def post(d: JzDaemon, command: str, *args: str, body: bytes | None = None,
         content_type: str | None = None, headers: dict | None = None, **options):
    """POST /api/v0/<command>?arg=…&option=… -> (status, parsed JSON)."""
    query = [("arg", a) for a in args]
    for key, value in options.items():
        for v in (value if isinstance(value, list) else [value]):
            query.append((key.replace("_", "-"), str(v).lower() if isinstance(v, bool) else v))
    path = f"/api/v0/{command}" + ("?" + urllib.parse.urlencode(query) if query else "")
    conn = http.client.HTTPConnection("127.0.0.1", api_port(d), timeout=60)
    try:
        hdrs = dict(headers or {})
        if content_type:
            hdrs["Content-Type"] = content_type
        conn.request("POST", path, body=body or b"", headers=hdrs)
        r = conn.getresponse()
        data = r.read().decode()
        return r.status, json.loads(data) if data.strip() else None
    finally:
        conn.close()


def ok(d: JzDaemon, command: str, *args: str, **kw):
    status, answer = post(d, command, *args, **kw)
    assert status == 200, (command, status, answer)
    return answer


def multipart_folder(root: Path, name: str) -> tuple[bytes, str]:
    """A folder as aioipfs sends it to `add`: a directory part `name`, then `name/…` parts
    (directories as application/x-directory), names percent-encoded."""
    boundary = "jzversioningboundary"
    out = bytearray()

    def part(filename: str, data: bytes, ctype: str) -> None:
        out.extend(f"--{boundary}\r\nContent-Type: {ctype}\r\n"
                   f"Content-Disposition: form-data; name=\"file\"; "
                   f"filename=\"{urllib.parse.quote(filename, safe='')}\"\r\n\r\n".encode())
        out.extend(data)
        out.extend(b"\r\n")

    part(name, b"", "application/x-directory")
    for path in sorted(root.rglob("*")):
        rel = f"{name}/{path.relative_to(root).as_posix()}"
        if path.is_dir():
            part(rel, b"", "application/x-directory")
        else:
            part(rel, path.read_bytes(), "application/octet-stream")
    out.extend(f"--{boundary}--\r\n".encode())
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_versioning_over_plain_http(jz, work_dir):
    d = JzDaemon(jz("jz")).start()
    try:
        ds = work_dir / "ds"
        write(ds, {"raw/a.csv": "id,value\n1,10\n", "meta/schema.txt": "v1\n"})
        assert ok(d, "repo/create", "data") == {"Name": "data", "DefaultBranch": "main"}
        assert ok(d, "repo/ls") == [{"Name": "data", "DefaultBranch": "main"}]

        # By path (the daemon's host is ours).
        c1 = ok(d, "commit", "data", path=str(ds), message="initial", param="source=survey")
        assert c1["Message"] == "initial" and c1["Lineage"]["Parameters"] == {"source": "survey"}
        assert ok(d, "branch/create", "data", "dev")["Target"] == c1["Cid"]

        # By multipart: the folder changed on dev.
        dev = work_dir / "dev"
        write(dev, {"raw/a.csv": "id,value\n1,11\n", "raw/c.csv": "id,value\n3,30\n",
                    "meta/schema.txt": "v1\n"})
        body, ctype = multipart_folder(dev, "dev")
        c2 = ok(d, "commit", "data@dev", body=body, content_type=ctype, message="dev: a fixed, c added")
        assert c2["Parents"] == [c1["Cid"]]
        # The same folder committed by path gives the same tree.
        ok(d, "branch/create", "data", "check")
        same = ok(d, "commit", "data@check", path=str(dev), message="same by path")
        assert same["Tree"] == c2["Tree"]

        log = ok(d, "log", "data@dev")
        assert [c["Cid"] for c in log] == [c2["Cid"], c1["Cid"]]
        assert len(ok(d, "log", "data@dev", n=1)) == 1

        diff = ok(d, "diff", "data@main", "data@dev")
        assert sorted((c["Path"], c["Kind"]) for c in diff["Changes"]) == [
            ("raw/a.csv", "modified"), ("raw/c.csv", "added")]
        folder_diff = ok(d, "diff", "data@dev", folder=str(ds))
        assert sorted(c["Path"] for c in folder_diff["Changes"]) == ["raw/a.csv", "raw/c.csv"]

        assert ok(d, "branch/ls", "data") == {"main": c1["Cid"], "dev": c2["Cid"], "check": same["Cid"]}
        assert ok(d, "tag/create", "data", "v1")["Target"] == c1["Cid"]
        assert ok(d, "tag/ls", "data") == {"v1": c1["Cid"]}

        merge = ok(d, "merge", "data", "dev")
        assert merge["Result"] == "fast-forward" and merge["Head"] == c2["Cid"]
        show = ok(d, "show", "data")
        assert show["Cid"] == c2["Cid"] and show["Signature"]["Reason"] == "unsigned"
        assert sorted(c["Path"] for c in show["Changes"]) == ["raw/a.csv", "raw/c.csv"]
        assert [n["Cid"] for n in ok(d, "lineage", "data")] == [c2["Cid"]]

        out = work_dir / "out"
        co = ok(d, "checkout", "data@v1", path=str(out))
        assert co["Tree"] == c1["Tree"] and (out / "raw/a.csv").read_text() == "id,value\n1,10\n"
        co = ok(d, "checkout", "data@main", path=str(out))
        assert co["Previous"] == c1["Tree"] and (out / "raw/c.csv").read_text() == "id,value\n3,30\n"

        peer = d.peer_id
        added = ok(d, "remote/add", "data", "site-b", peer, follow=True)
        assert added["Follow"] is True and added["Address"].startswith("/ipns/")
        assert [r["Name"] for r in ok(d, "remote/ls", "data")] == ["site-b"]
        assert ok(d, "remote/show", "data", "site-b")["Refs"] == []
        ok(d, "remote/rm", "data", "site-b")
        repo = ok(d, "repo/show", "data")
        assert repo["Branches"]["main"] == c2["Cid"] and repo["Remotes"] == []

        # Errors: Kubo's document; 400 names the argument; a missing repository is 500, not 404.
        status, doc = post(d, "repo/create")
        assert status == 400 and doc["Type"] == "error" and doc["Message"] == 'argument "name" is required'
        status, doc = post(d, "log", "nope")
        assert status == 500 and doc["Type"] == "error" and "nope" in doc["Message"]
        status, doc = post(d, "commit", "data", message="no folder")
        assert status == 400 and '"path"' in doc["Message"]
        status, doc = post(d, "merge", "data", "dev", strategy="maybe")
        assert status == 400 and '"strategy"' in doc["Message"]

        # The CLI through the daemon prints the daemon's answer.
        assert d.cli("log", "data", "--json").json() == ok(d, "log", "data")
    finally:
        assert d.stop() == 0, d.log_tail()


AUTH = {"admin": {"AuthSecret": "bearer:s3cret", "AllowedPaths": ["/api/v0"]}}


def test_cli_goes_through_the_daemon(jz, work_dir, monkeypatch):
    d = JzDaemon(jz("jz"))
    d.configure()
    d.cli("config", "--json", "API.Authorizations", json.dumps(AUTH))
    ds = work_dir / "ds"
    write(ds, {"a.txt": "one\n", "sub/b.txt": "two\n"})
    # Offline: build a repository and record what the CLI prints.
    d.cli("repo", "create", "data")
    d.cli("commit", "data", str(ds), "-m", "first", "--param", "k=v")
    d.cli("branch", "create", "data", "dev")
    write(ds, {"a.txt": "one, changed\n"})
    d.cli("commit", "data@dev", str(ds), "-m", "second")
    d.cli("tag", "create", "data", "v1", "--at", "dev")
    commands = [
        ["log", "data@dev"], ["log", "data@dev", "--oneline"], ["show", "data@dev"], ["repo", "show", "data"],
        ["repo", "list"], ["branch", "list", "data"], ["tag", "list", "data"], ["diff", "data@main", "data@dev", "--stat"],
        ["lineage", "data@dev"], ["log", "data", "--show-signature"],
    ]
    offline = {tuple(c): (d.cli(*c).stdout, d.cli(*c, "--json").stdout) for c in commands}
    d.start()
    try:
        # A wrong secret: the daemon refuses the CLI (so the CLI did not open the home itself).
        monkeypatch.setenv("JZ_API_AUTH", "bearer:wrong")
        r = d.cli("log", "data", check=False)
        assert r.returncode != 0 and "Access Denied" in r.stderr + r.stdout, (r.stdout, r.stderr)
        r = d.cli("commit", "data", str(ds), "-m", "refused", check=False)
        assert r.returncode != 0 and "Access Denied" in r.stderr + r.stdout
        # The right one: the same output as offline, text and JSON.
        monkeypatch.setenv("JZ_API_AUTH", "bearer:s3cret")
        for c in commands:
            assert (d.cli(*c).stdout, d.cli(*c, "--json").stdout) == offline[tuple(c)], c
        # Writes through the daemon: a commit by path, a merge with a conflict reported the same way.
        write(ds, {"c.txt": "three\n"})
        head = d.cli("commit", "data@dev", str(ds), "-m", "third").stdout.strip()
        assert d.cli("log", "data@dev", "-n", "1", "--oneline").stdout.startswith(head)
        merged = d.cli("merge", "data", "dev")
        assert merged.stdout.startswith("fast-forward to " + head)
        r = d.cli("log", "nope", check=False)
        assert r.returncode != 0 and "no repository named 'nope'" in r.stderr
    finally:
        assert d.stop() == 0, d.log_tail()
    # Offline again: the CLI sees what the daemon wrote.
    monkeypatch.delenv("JZ_API_AUTH")
    assert d.cli("log", "data", "-n", "1", "--oneline").stdout.startswith(head)
