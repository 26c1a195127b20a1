"""With a daemon running, the CLI sends Kubo-named commands to its RPC API, as Kubo's CLI does
(issue 14); offline it works on the node home.

The daemon's config has an `API.Authorizations` secret before it starts. With a wrong
`$JZ_API_AUTH` every command below fails with the daemon's 403 (so it did not read the store
itself); with the home's own secret (the CLI's default) it works, and its output equals the
output of the same command in a second home with no daemon: the same CIDs, the same listing, the
same bytes (a 64 MiB file through `cat`, a folder through `get`, a CAR through `dag export`).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess

import pytest

from conftest import JzDaemon

SECRET = "bearer:cli-via-daemon-token"


def cli(node, *args: str, auth: str | None = None, stdin: bytes | None = None, check: bool = True,
        timeout: float = 120) -> subprocess.CompletedProcess:
    """`jz-node ARGS --repo-dir HOME` with bytes out; `auth` sets $JZ_API_AUTH."""
    env = dict(os.environ, JZ_PATH=str(node.home), HOME=str(node.home.parent))
    env.pop("JZ_API_AUTH", None)
    if auth is not None:
        env["JZ_API_AUTH"] = auth
    p = subprocess.run([node.binary, *args, "--repo-dir", str(node.home)], input=stdin, capture_output=True,
                       env=env, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"jz-node {' '.join(args)} exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    return p


def text(p: subprocess.CompletedProcess) -> str:
    return p.stdout.decode()


def lines_json(p: subprocess.CompletedProcess) -> list:
    return [json.loads(line) for line in text(p).splitlines() if line.strip()]


def write_tree(root):
    rnd = random.Random(14)
    (root / "sub" / "deeper").mkdir(parents=True)
    files = {
        "a.txt": b"hello through the daemon\n",
        "sub/b.bin": rnd.randbytes(600_000),
        "sub/deeper/c.txt": b"deep\n" * 100,
        "empty.txt": b"",
        ".hidden": b"left out unless -H\n",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    os.symlink("a.txt", root / "link")
    return files


def tree_of(root) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            out[rel] = ("link", os.readlink(path)) if os.path.islink(path) else open(path, "rb").read()
    return out


@pytest.fixture
def homes(jz):
    node = jz("jz")
    daemon = JzDaemon(node)
    daemon.configure()
    node.run("config", "--json", "API.Authorizations",
             json.dumps({"cli": {"AuthSecret": SECRET, "AllowedPaths": ["/api/v0"]}}))
    daemon.start()
    ref = jz("ref")
    ref.init()
    yield daemon, ref
    assert daemon.stop() == 0, daemon.log_tail()


def test_wrong_secret_is_refused_for_every_command(homes, work_dir):
    """Each command reaches the daemon: a wrong secret gets its 403; the right one works."""
    daemon, _ = homes
    node = daemon.node
    f = work_dir / "f.txt"
    f.write_bytes(b"refused\n")
    cid = text(cli(node, "add", "-Q", str(f))).strip()
    doc = work_dir / "doc.json"
    doc.write_text('{"a": 1}')
    dag = text(cli(node, "dag", "put", str(doc))).strip()
    commands = [
        ["add", "-Q", str(f)], ["cat", cid], ["ls", cid], ["get", cid, "-o", str(work_dir / "g")],
        ["pin", "ls"], ["pin", "add", cid], ["block", "stat", cid], ["block", "get", cid],
        ["dag", "get", dag], ["dag", "stat", dag], ["dag", "resolve", dag], ["key", "list"],
        ["key", "gen", "nope"], ["config", "Addresses.API"], ["config", "show"], ["bootstrap", "list"],
        ["store", "gc"], ["store", "stat"], ["store", "verify"],
    ]
    for args in commands:
        p = cli(node, *args, auth="bearer:wrong", check=False)
        err = p.stderr.decode(errors="replace")
        assert p.returncode != 0, (args, text(p))
        assert "403" in err or "Access Denied" in err, (args, err)
    for args in commands[:-3]:
        if args[0] == "get":
            continue
        cli(node, *args, auth=SECRET)
    # The home's own secret is the default.
    assert text(cli(node, "cat", cid)) == "refused\n"


def test_outputs_equal_offline(homes, work_dir):
    daemon, ref = homes
    node = daemon.node
    folder = work_dir / "d"
    files = write_tree(folder)

    # --- add: a folder (hidden names out unless -H), the same CIDs and names as offline
    for options in ([], ["--cid-version", "1"], ["-H", "--chunker", "size-1024"], ["-w"]):
        got = lines_json(cli(node, "add", "-r", "--json", *options, str(folder)))
        want = lines_json(cli(ref, "add", "-r", "--json", *options, str(folder)))
        assert got == want, (options, got, want)
    added = {e["Name"]: e["Hash"] for e in lines_json(cli(node, "add", "-r", "--json", str(folder)))}
    assert "d/.hidden" not in added and "d/link" in added
    dir_cid = added["d"]
    assert text(cli(node, "add", "-r", "-Q", str(folder))) == text(cli(ref, "add", "-r", "-Q", str(folder)))
    assert text(cli(node, "add", "-q", str(folder / "a.txt"))) == text(cli(ref, "add", "-q", str(folder / "a.txt")))
    # standard input
    for options in (["-Q"], [], ["--json"]):
        assert text(cli(node, "add", *options, stdin=b"from stdin\n")) == text(cli(ref, "add", *options, stdin=b"from stdin\n"))

    # --- cat of a 64 MiB file, byte-equal
    big = work_dir / "big.bin"
    with open(big, "wb") as out:
        rnd = random.Random(64)
        for _ in range(64):
            out.write(rnd.randbytes(1 << 20))
    big_cid = text(cli(node, "add", "-Q", str(big), timeout=300)).strip()
    assert big_cid == text(cli(ref, "add", "-Q", "--only-hash", str(big), timeout=300)).strip()
    got = cli(node, "cat", big_cid, timeout=300).stdout
    assert len(got) == 64 << 20 and hashlib.sha256(got).digest() == hashlib.sha256(big.read_bytes()).digest()
    assert cli(node, "cat", big_cid, "--offset", "1000", "--length", "5000").stdout == big.read_bytes()[1000:6000]

    # --- ls, get
    cli(ref, "add", "-r", str(folder))
    for options in ([], ["--json"], ["-l"]):
        assert text(cli(node, "ls", dir_cid, *options)) == text(cli(ref, "ls", dir_cid, *options)), options
    assert text(cli(node, "ls", f"/ipfs/{dir_cid}/sub")) == text(cli(ref, "ls", f"/ipfs/{dir_cid}/sub"))
    assert text(cli(node, "ls", added["d/a.txt"])) == text(cli(ref, "ls", added["d/a.txt"])) == ""  # a file: nothing
    cli(node, "get", dir_cid, "-o", str(work_dir / "via-daemon"), "-q")
    cli(ref, "get", dir_cid, "-o", str(work_dir / "offline"), "-q")
    assert tree_of(work_dir / "via-daemon") == tree_of(work_dir / "offline")
    assert tree_of(work_dir / "via-daemon")["sub/b.bin"] == files["sub/b.bin"]
    cli(node, "get", f"/ipfs/{dir_cid}/a.txt", "-o", str(work_dir / "one.txt"), "-q")
    assert (work_dir / "one.txt").read_bytes() == files["a.txt"]

    # --- pin add | ls | rm
    a_cid = added["d/a.txt"]
    assert text(cli(node, "pin", "add", a_cid)) == f"pinned {a_cid} recursively\n"
    pins = cli(node, "pin", "ls", "--json").stdout
    assert json.loads(pins)["Keys"][a_cid] == {"Type": "recursive"}
    assert f"{a_cid} recursive" in text(cli(node, "pin", "ls", "-t", "recursive"))
    assert text(cli(node, "pin", "rm", a_cid)) == f"unpinned {a_cid}\n"
    assert a_cid not in json.loads(cli(node, "pin", "ls", "--json", "-t", "recursive").stdout)["Keys"]
    assert json.loads(cli(node, "pin", "ls", "--json").stdout)["Keys"][a_cid] == {"Type": "indirect"}

    # --- block put | get | stat | rm
    raw = work_dir / "block.bin"
    raw.write_bytes(b"a raw block\n")
    for options in ([], ["--json"], ["--cid-codec", "raw", "--mhtype", "sha2-512"]):
        assert text(cli(node, "block", "put", *options, str(raw))) == text(cli(ref, "block", "put", *options, str(raw)))
    key = text(cli(node, "block", "put", str(raw))).strip()
    assert cli(node, "block", "get", key).stdout == raw.read_bytes()
    assert text(cli(node, "block", "stat", key)) == text(cli(ref, "block", "stat", key))
    assert text(cli(node, "block", "rm", key)) == f"removed {key}\n"
    assert cli(node, "block", "stat", key, check=False).returncode != 0
    assert cli(node, "block", "rm", dir_cid, check=False).returncode != 0  # pinned

    # --- dag put | get | resolve | stat | export | import
    doc = work_dir / "doc.json"
    doc.write_text(json.dumps({"hello": "world", "n": [1, 2, 3], "link": {"/": dir_cid}}))
    dag = text(cli(node, "dag", "put", "--pin", str(doc))).strip()
    assert dag == text(cli(ref, "dag", "put", str(doc))).strip()
    assert cli(node, "dag", "get", dag).stdout == cli(ref, "dag", "get", dag).stdout
    assert cli(node, "dag", "get", f"{dag}/n/1").stdout == b"2"
    for path in (dag, f"{dag}/link/sub", f"/ipfs/{dag}/hello"):
        for options in ([], ["--json"]):
            assert text(cli(node, "dag", "resolve", path, *options)) == text(cli(ref, "dag", "resolve", path, *options))
    for options in ([], ["--json"]):
        assert text(cli(node, "dag", "stat", dir_cid, dag, *options)) == text(cli(ref, "dag", "stat", dir_cid, dag, *options))
    car = cli(node, "dag", "export", dir_cid).stdout
    assert car == cli(ref, "dag", "export", dir_cid).stdout
    other = jz_fresh_car(work_dir, ref)
    imported = cli(node, "dag", "import", "--json", str(other))
    assert imported.returncode == 0
    want = cli(ref, "dag", "import", "--json", str(other))
    assert json.loads(imported.stdout) == json.loads(want.stdout)

    # --- key gen | list | rename | rm | import (export stays local, as Kubo's)
    made = json.loads(cli(node, "key", "gen", "--json", "k1").stdout)
    assert made["Name"] == "k1" and made["Id"].startswith("k51")
    assert "k1" in text(cli(node, "key", "list")).split()
    renamed = json.loads(cli(node, "key", "rename", "--json", "k1", "k2").stdout)
    assert renamed == {"Was": "k1", "Now": "k2", "Id": made["Id"], "Overwrite": False}
    exported = work_dir / "k2.key"
    cli(node, "key", "export", "k2", "-o", str(exported))
    assert text(cli(node, "key", "rm", "k2")) == "k2\n"
    assert text(cli(node, "key", "import", "k3", str(exported))).strip() == made["Id"]
    assert f"{made['Id']} k3" in text(cli(node, "key", "list", "-l"))

    # --- standard input for block put, dag put, key import
    assert text(cli(node, "block", "put", stdin=b"piped block")) == text(cli(ref, "block", "put", stdin=b"piped block"))
    assert text(cli(node, "dag", "put", stdin=b'{"piped": true}')) == text(cli(ref, "dag", "put", stdin=b'{"piped": true}'))
    assert text(cli(node, "key", "import", "k4", "-", stdin=exported.read_bytes())).strip() == made["Id"]

    # --- config: get, set, show (secrets hidden), replace
    replacement = json.loads(cli(node, "config", "show").stdout)
    replacement["Datastore"]["StorageMax"] = "25GB"
    (work_dir / "replacement.json").write_text(json.dumps(replacement))
    cli(node, "config", "replace", str(work_dir / "replacement.json"))
    assert text(cli(node, "config", "Datastore.StorageMax")) == "25GB\n"
    # the secret `show` hid is kept, so the CLI still gets in
    assert node.read_config()["API"]["Authorizations"]["cli"]["AuthSecret"] == SECRET
    assert text(cli(node, "config", "Datastore.StorageMax")) == "25GB\n"
    cli(node, "config", "Datastore.StorageMax", "30GB")
    assert text(cli(node, "config", "Datastore.StorageMax")) == "30GB\n"
    cli(node, "config", "--json", "Experimental.Via", "[1, 2]")
    assert json.loads(cli(node, "config", "--json", "Experimental.Via").stdout) == [1, 2]
    shown = json.loads(cli(node, "config", "show").stdout)
    assert shown["Datastore"]["StorageMax"] == "30GB"
    assert "PrivKey" not in shown["Identity"]
    assert shown["API"]["Authorizations"] == {"cli": {"AllowedPaths": ["/api/v0"]}}
    assert SECRET.split(":")[1] not in cli(node, "config", "show").stdout.decode()
    assert cli(node, "config", "Identity.PrivKey", check=False).returncode != 0

    # --- bootstrap add | list | rm
    peer = "/ip4/10.9.8.7/tcp/4001/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"
    assert text(cli(node, "bootstrap", "add", peer)) == f"added {peer}\n"
    assert json.loads(cli(node, "bootstrap", "list", "--json").stdout) == {"Peers": [peer]}
    assert text(cli(node, "bootstrap", "rm", "--all")) == f"removed {peer}\n"
    assert text(cli(node, "bootstrap", "list")) == ""

    # --- store stat | gc | verify
    stat = json.loads(cli(node, "store", "stat", "--json").stdout)
    assert stat["NumObjects"] > 0 and stat["StorageMax"] == "30GB" and stat["RepoPath"].startswith(str(node.home))
    garbage = work_dir / "garbage.bin"
    garbage.write_bytes(b"collect me\n")
    gone = text(cli(node, "block", "put", str(garbage))).strip()
    gc = json.loads(cli(node, "store", "gc", "--json").stdout)
    assert gone in gc["Removed"] and dir_cid not in gc["Removed"]
    assert "all good" in text(cli(node, "store", "verify"))
    assert cli(node, "cat", big_cid, "--length", "10").stdout == big.read_bytes()[:10]


def jz_fresh_car(work_dir, ref):
    """A CAR of content neither home has yet, written by a third, offline home."""
    src = work_dir / "car-src"
    src.mkdir()
    (src / "x.txt").write_bytes(b"inside a CAR\n" * 50)
    maker = type(ref)(ref.binary, work_dir / "maker")
    maker.init()
    root = maker.run("add", "-r", "-Q", str(src)).stdout.strip()
    car = work_dir / "fresh.car"
    with open(car, "wb") as out:
        subprocess.run([maker.binary, "dag", "export", root, "--repo-dir", str(maker.home)], stdout=out, check=True,
                       env=dict(os.environ, JZ_PATH=str(maker.home), HOME=str(maker.home.parent)), timeout=60)
    return car
