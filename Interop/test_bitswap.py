"""Bitswap interop (issue 6): `jz-node fetch` and the daemon's Bitswap server against Kubo 0.22,
py-libp2p 0.8.1 and other jz-nodes.

- ``test_reference_*`` need no jz-node: py-libp2p <-> py-libp2p (CIDv1 raw-leaves DAG, corrupt
  mode) and py-libp2p <- Kubo. They prove the harness and pin down the reference behaviour (which
  stream replies come on, see the pyp2p_peer.py docstring).
- ``test_fetch_*`` / ``test_*_from_jz`` / ``test_jz_*``: the CLI of contract6 (``fetch``,
  ``bitswap stat|wantlist|ledger``). They FAIL, never skip, when the binary lacks ``fetch``.

Nodes are shared per module (``Interop/.work/bitswap/``): one Kubo (``kubo``), one py-libp2p
peer for serving/fetching (``py``), jz daemons ``p1`` (the 64 MiB file ``jz64.bin``, the nested
directory ``tree`` and ``big.bin``), ``p2`` and ``p3`` (``big.bin``) and ``jzf`` (a daemon that
fetches). One-shot fetches use fresh homes under ``oneshot-*``. A provider killed by a test is
restarted by the next one that needs it. Sizes: ``BITSWAP_MIB`` (default 64) for the Kubo and
py-libp2p transfers, ``BITSWAP_BIG_MIB`` (default 256) for the jz <-> jz ones (the kill and
resume tests must interrupt a transfer that is still running: raise it if they say the fetch
finished too early).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, WORK_ROOT, JzDaemon, jz_has_command
from jznode import JzNode, Result
from kubo import KuboNode
from pyp2p_peer import PyPeer

MIB = 1 << 20
CHUNK = 262144
SIZE_MIB = int(os.environ.get("BITSWAP_MIB", "64"))
BIG_MIB = int(os.environ.get("BITSWAP_BIG_MIB", "256"))
FETCH_TIMEOUT = 240.0       # wall-clock bound of one fetch run (the CLI gets --timeout below it)
FETCH_KEYS = {"Root", "Blocks", "BlocksFetched", "BlocksPresent", "BytesFetched", "Seconds",
              "Pinned", "Output", "Providers", "DroppedPeers"}
STAT_KEYS = {"BlocksReceived", "DataReceived", "BlocksSent", "DataSent", "DupBlksReceived",
             "DupDataReceived", "MessagesReceived", "Wantlist", "Peers", "ProvideBufLen"}
LEDGER_KEYS = {"Peer", "Value", "Sent", "Recv", "Exchanged"}


# ================================================ helpers ================================================

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def write_random(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MIB)
            f.write(os.urandom(n))
            left -= n
    return path


def balanced_blocks(size: int, max_links: int = 174) -> int:
    """Blocks of a balanced UnixFS DAG of SIZE bytes in 256 KiB chunks (Kubo's and py-libp2p's
    builders agree on this count below 174^2 leaves)."""
    level = total = max(1, math.ceil(size / CHUNK))
    while level > 1:
        level = math.ceil(level / max_links)
        total += level
    return total


def raw_cid_v1(data: bytes) -> str:
    """CIDv1 raw sha2-256 in base32 (a CID nobody has when DATA is random)."""
    digest = hashlib.sha256(data).digest()
    return "b" + base64.b32encode(b"\x01\x55\x12\x20" + digest).decode().lower().rstrip("=")


def assert_same_tree(expected: Path, got: Path) -> None:
    exp = sorted(p.relative_to(expected) for p in expected.rglob("*"))
    have = sorted(p.relative_to(got) for p in got.rglob("*"))
    assert have == exp, f"{got}: entries {have}, expected {exp}"
    for rel in exp:
        if (expected / rel).is_file():
            assert (got / rel).is_file(), f"{got / rel} is not a file"
            assert sha256_file(got / rel) == sha256_file(expected / rel), f"{rel} differs"


def wait_until(pred, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


def describe(res: Result) -> str:
    return (f"`{' '.join(res.args)}` exited {res.returncode}\nstdout: {res.stdout[-3000:]}\n"
            f"stderr: {res.stderr[-3000:]}")


def fetch_json(res: Result) -> dict:
    """The one JSON object `fetch --json` prints, checked for the contract's keys."""
    assert res.returncode == 0, describe(res)
    try:
        out = json.loads(res.stdout)
    except ValueError as e:
        pytest.fail(f"fetch --json did not print one JSON object ({e}):\n{describe(res)}")
    assert isinstance(out, dict) and FETCH_KEYS <= out.keys(), \
        f"fetch JSON misses {FETCH_KEYS - set(out)}: {out}"
    for p in out["Providers"]:
        assert {"Peer", "Blocks", "Bytes"} <= p.keys(), p
    for p in out["DroppedPeers"]:
        assert {"Peer", "Reason"} <= p.keys(), p
    return out


def check_complete(out: dict, *, root: str | None, blocks: int | None, size: int,
                   fresh: bool = True, pinned: bool = True, output: Path | None = None) -> None:
    """Counters of a complete fetch (fresh: nothing was in the store before)."""
    if root is not None:
        assert out["Root"] == root, out
    if blocks is not None:
        assert out["Blocks"] == blocks, f"Blocks {out['Blocks']}, the DAG has {blocks}: {out}"
    assert out["BlocksFetched"] + out["BlocksPresent"] == out["Blocks"], out
    if fresh:
        assert out["BlocksPresent"] == 0 and out["BlocksFetched"] == out["Blocks"], out
        assert out["BytesFetched"] >= size, out
    assert out["Pinned"] is pinned, out
    if output is not None:
        assert out["Output"] is not None and Path(out["Output"]).resolve() == output.resolve(), out
    delivered = sum(p["Blocks"] for p in out["Providers"])
    assert delivered >= out["BlocksFetched"], f"Providers account for {delivered} blocks: {out}"
    assert isinstance(out["Seconds"], (int, float)) and out["Seconds"] >= 0, out


def provider_blocks(out: dict) -> dict[str, int]:
    return {p["Peer"]: p["Blocks"] for p in out["Providers"]}


def stat(d: JzDaemon) -> dict:
    res = d.cli("bitswap", "stat", "--json", check=False)
    assert res.returncode == 0, describe(res)
    s = res.json()
    assert STAT_KEYS <= s.keys(), f"bitswap stat misses {STAT_KEYS - set(s)}: {s}"
    return s


def keys_of(wantlist_json: dict | None) -> list[str]:
    keys = (wantlist_json or {}).get("Keys") or []
    return [k["/"] for k in keys]


# ================================================ nodes ================================================

class Swarm:
    """Module-wide nodes, started on first use, closed at module teardown."""

    def __init__(self, root: Path, jz_bin: Path | None):
        self.root = root
        self.jz_bin = jz_bin
        self.data = root / "data"
        self._files: dict[str, Path] = {}
        self._kubo: KuboNode | None = None
        self.kubo_cids: dict[str, str] = {}
        self._py: PyPeer | None = None
        self._daemons: dict[str, JzDaemon] = {}
        self.jz_cids: dict[str, str] = {}
        self._fetch_ok: bool | None = None
        self._oneshots = 0

    # -- data --
    def file(self, name: str) -> Path:
        if name not in self._files:
            if name == "tree" or name == "ktree":
                base = self.data / name
                shutil.rmtree(base, ignore_errors=True)
                write_random(base / "a.bin", 3 * CHUNK + 17)       # multi-block file
                write_random(base / "empty-ish.bin", 1)
                write_random(base / "sub" / "b.bin", 100_000)
                write_random(base / "sub" / "deep" / "c.bin", 2 * MIB + 5)
                (base / "sub" / "deep" / "note.txt").write_text(f"{name} {os.urandom(8).hex()}\n")
                self._files[name] = base
            else:
                size = {"kubo64.bin": SIZE_MIB * MIB, "jz64.bin": SIZE_MIB * MIB + 4321,
                        "py64.bin": SIZE_MIB * MIB + 99, "big.bin": BIG_MIB * MIB,
                        "mid.bin": 3 * MIB + 5, "small.txt": 0}[name]
                path = self.data / name
                if name == "small.txt":
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("".join(os.urandom(32).hex() + "\n" for _ in range(3000)))
                else:
                    write_random(path, size)
                self._files[name] = path
        return self._files[name]

    # -- Kubo: one node holding kubo64.bin, ktree, small.txt, mid.bin (CIDv0, dag-pb leaves) --
    def kubo(self) -> KuboNode:
        if self._kubo is None:
            node = KuboNode(self.root / "kubo", timeout=300)
            self._kubo = node
            node.configure_loopback()
            node.run()
            for name in ("kubo64.bin", "ktree", "small.txt", "mid.bin"):
                self.kubo_cids[name] = node.add_file(self.file(name))
        return self._kubo

    # -- py-libp2p: serves py64.bin as a CIDv1 raw-leaves DAG --
    def py(self) -> PyPeer:
        if self._py is None:
            self._py = PyPeer(self.root / "py", timeout=120)
            r = self._py.bitswap_add(self.file("py64.bin"))
            self.py_cid = r["cid"]
            assert r["sha256"] == sha256_file(self.file("py64.bin"))
        return self._py

    def new_py(self, name: str) -> PyPeer:
        return PyPeer(self.root / name, timeout=120)

    # -- jz-node --
    def require_fetch(self) -> Path:
        if self.jz_bin is None:
            pytest.fail("jz-node binary not found: set JZ_NODE_BIN or build .build/debug/jz-node",
                        pytrace=False)
        if self._fetch_ok is None:
            self._fetch_ok = jz_has_command(self.jz_bin, "fetch")
        if not self._fetch_ok:
            pytest.fail(f"{self.jz_bin} has no `fetch` command (contract6)", pytrace=False)
        return self.jz_bin

    def daemon(self, name: str) -> JzDaemon:
        """p1 (jz64.bin, tree, big.bin), p2/p3 (big.bin), jzf (empty, fetches). Restarted (same
        home) if a test killed it."""
        binary = self.require_fetch()
        d = self._daemons.get(name)
        if d is None or not d.alive():
            fresh = d is None
            node = JzNode(binary, self.root / name, timeout=120)
            d = JzDaemon(node)
            self._daemons[name] = d
            d.start()
            if fresh:
                adds = {"p1": ["jz64.bin", "tree", "big.bin"], "p2": ["big.bin"],
                        "p3": ["big.bin"]}.get(name, [])
                for f in adds:
                    path = self.file(f)
                    args = ["add", "-Q"] + (["-r"] if path.is_dir() else []) + [str(path)]
                    res = d.cli(*args, check=False, timeout=300)
                    assert res.returncode == 0, describe(res)
                    cid = res.stdout.strip().splitlines()[-1]
                    if self.jz_cids.setdefault(f, cid) != cid:
                        pytest.fail(f"{name} added {f} as {cid}, another jz as {self.jz_cids[f]}")
        return d

    def oneshot(self, tag: str) -> JzNode:
        """A fresh jz-node home (init, loopback-only config) that never runs a daemon."""
        binary = self.require_fetch()
        self._oneshots += 1
        node = JzNode(binary, self.root / f"oneshot-{self._oneshots}-{tag}", timeout=FETCH_TIMEOUT)
        JzDaemon(node).configure()
        return node

    def close(self) -> None:
        for d in self._daemons.values():
            d.stop()
        if self._py is not None:
            self._py.close()
        if self._kubo is not None:
            self._kubo.close()


@pytest.fixture(scope="module")
def swarm():
    root = WORK_ROOT / "bitswap"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    path = Path(os.environ.get("JZ_NODE_BIN") or REPO_ROOT / ".build/debug/jz-node")
    if not path.is_absolute():
        path = (REPO_ROOT / path).resolve()
    s = Swarm(root, path if os.access(path, os.X_OK) else None)
    yield s
    s.close()


def fetch(node: JzNode, target: str, *peers: str, out: Path | None = None,
          extra: tuple[str, ...] = (), timeout: float = FETCH_TIMEOUT) -> Result:
    args = ["fetch", target]
    for p in peers:
        args += ["--peer", p]
    if out is not None:
        args += ["-o", str(out)]
    args += [*extra, "--json"]
    if "--timeout" not in extra:
        args += ["--timeout", str(int(timeout - 20))]
    return node.run(*args, check=False, timeout=timeout)


def popen_fetch(node: JzNode, target: str, *peers: str, out: Path) -> subprocess.Popen:
    """Background one-shot fetch (own process group, output to files beside the home)."""
    argv = [node.binary, "fetch", target]
    for p in peers:
        argv += ["--peer", p]
    argv += ["-o", str(out), "--json", "--timeout", str(int(FETCH_TIMEOUT - 20)),
             "--repo-dir", str(node.home)]
    env = dict(os.environ, JZ_PATH=str(node.home), HOME=str(node.home.parent))
    log = open(node.home.parent / f"{node.home.name}-fetch.log", "ab")
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=env,
                            start_new_session=True)


def kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(10)


# ============================================ reference (no jz-node) ============================================

def test_reference_py_to_py_raw_leaves_and_corrupt_mode(swarm, tmp_path):
    """py-libp2p's own builder makes a CIDv1 raw-leaves DAG; another py-libp2p peer fetches the
    file over Bitswap; replies arrive on the fetcher's own outbound stream (py-libp2p answers
    where it was asked). In corrupt mode the server sends wrong bytes and the fetch fails."""
    src = swarm.file("py64.bin")
    server = swarm.py()
    client = swarm.new_py("py-ref-client")
    try:
        assert swarm.py_cid.startswith("bafy")
        assert client.connect(server.dial_addr()) == server.peer_id
        got = client.fetch_file(swarm.py_cid, tmp_path / "out.bin", peer=server.peer_id)
        assert got["sha256"] == sha256_file(src)
        st = client.bitswap_stat()
        assert st["negotiated"][server.peer_id] == "/ipfs/bitswap/1.2.0", st
        assert st["blocks_received"]["outbound"] >= balanced_blocks(src.stat().st_size) - 1, st
        assert st["blocks_received"]["inbound"] == 0, st
        # Corrupt mode: a peer that answers every want with wrong bytes under the wanted CID's
        # prefix. The same builder gives the same root CID; the client accepts nothing from it.
        other = swarm.new_py("py-ref-corrupt")
        try:
            assert other.bitswap_add(src)["cid"] == swarm.py_cid
            other.bitswap_mode("corrupt")
            client.connect(other.dial_addr())
            with pytest.raises(Exception, match="timeout"):
                client.get_block(raw_cid_v1(os.urandom(64)), peer=other.peer_id, timeout=4)
            assert other.bitswap_stat()["corrupt_blocks_sent"] >= 1
        finally:
            other.close()
    finally:
        client.close()


def test_reference_py_fetches_from_kubo(swarm, tmp_path):
    """py-libp2p fetches Kubo's CIDv0 dag-pb-leaves file: Kubo answers on a stream of its own
    (py-libp2p counts the blocks on inbound streams)."""
    kubo = swarm.kubo()
    client = swarm.new_py("py-ref-kubo")
    try:
        client.connect(kubo.dial_addr())
        got = client.fetch_file(swarm.kubo_cids["mid.bin"], tmp_path / "mid.bin",
                                peer=kubo.peer_id())
        assert got["sha256"] == sha256_file(swarm.file("mid.bin"))
        st = client.bitswap_stat()
        assert st["blocks_received"]["inbound"] >= 1 and st["blocks_received"]["outbound"] == 0, st
    finally:
        client.close()


# ============================================ jz <- Kubo, jz <- py ============================================

def test_fetch_from_kubo_oneshot(swarm, tmp_path):
    """Kubo adds a 64 MiB random file (CIDv0, dag-pb leaves); `jz-node fetch CID --peer KUBO -o OUT
    --json` without a daemon gets, stores, pins and writes it; sha256 equal."""
    kubo = swarm.kubo()
    src, cid = swarm.file("kubo64.bin"), swarm.kubo_cids["kubo64.bin"]
    node = swarm.oneshot("kubo")
    out = tmp_path / "out.bin"
    res = fetch(node, cid, kubo.dial_addr(), out=out)
    j = fetch_json(res)
    check_complete(j, root=cid, blocks=balanced_blocks(src.stat().st_size),
                   size=src.stat().st_size, output=out)
    assert sha256_file(out) == sha256_file(src)
    assert provider_blocks(j).get(kubo.peer_id(), 0) == j["BlocksFetched"], j
    assert j["DroppedPeers"] == [], j
    pins = node.run("pin", "ls", "--json").json()["Keys"]
    assert pins.get(cid, {}).get("Type") == "recursive", pins
    # Stored: an offline cat reproduces the file.
    p = subprocess.run([node.binary, "cat", cid, "--repo-dir", str(node.home)],
                       capture_output=True, timeout=120,
                       env=dict(os.environ, JZ_PATH=str(node.home), HOME=str(node.home.parent)))
    assert p.returncode == 0 and hashlib.sha256(p.stdout).hexdigest() == sha256_file(src)
    # Again: everything is present, nothing is fetched.
    j2 = fetch_json(fetch(node, cid, kubo.dial_addr(), extra=("--no-pin",)))
    assert j2["BlocksPresent"] == j2["Blocks"] and j2["BlocksFetched"] == 0, j2


def test_fetch_from_kubo_through_daemon(swarm, tmp_path):
    """Same file, through a running jz daemon (`fetch` while the daemon runs at the home)."""
    kubo = swarm.kubo()
    src, cid = swarm.file("kubo64.bin"), swarm.kubo_cids["kubo64.bin"]
    jzf = swarm.daemon("jzf")
    before = stat(jzf)["BlocksReceived"]
    out = tmp_path / "out.bin"
    j = fetch_json(fetch(jzf.node, cid, kubo.dial_addr(), out=out))
    check_complete(j, root=cid, blocks=balanced_blocks(src.stat().st_size),
                   size=src.stat().st_size, output=out)
    assert sha256_file(out) == sha256_file(src)
    assert kubo.peer_id() in jzf.peer_ids(), "the daemon did not dial Kubo itself"
    assert stat(jzf)["BlocksReceived"] - before >= j["BlocksFetched"], "not fetched by the daemon"


def test_fetch_directory_and_path_from_kubo(swarm, tmp_path):
    """Kubo's nested directory: `fetch DIR -o OUTDIR` writes the tree; `fetch /ipfs/DIR/sub/deep/c.bin`
    gets one file by path."""
    kubo = swarm.kubo()
    tree, cid = swarm.file("ktree"), swarm.kubo_cids["ktree"]
    node = swarm.oneshot("kubo-dir")
    j = fetch_json(fetch(node, cid, kubo.dial_addr(), out=tmp_path / "tree"))
    check_complete(j, root=cid, blocks=None, size=0, output=tmp_path / "tree")
    assert_same_tree(tree, tmp_path / "tree")
    node2 = swarm.oneshot("kubo-path")
    out = tmp_path / "c.bin"
    j2 = fetch_json(fetch(node2, f"/ipfs/{cid}/sub/deep/c.bin", kubo.dial_addr(), out=out))
    assert j2["BlocksFetched"] + j2["BlocksPresent"] == j2["Blocks"], j2
    assert sha256_file(out) == sha256_file(tree / "sub" / "deep" / "c.bin")


def test_fetch_from_py_libp2p_raw_leaves(swarm, tmp_path):
    """py-libp2p builds a CIDv1 raw-leaves DAG of a 64 MiB file and serves it (replies on the
    stream jz-node opened; CIDv1 prefixes); `jz-node fetch` gets equal bytes."""
    py = swarm.py()
    src = swarm.file("py64.bin")
    node = swarm.oneshot("py")
    out = tmp_path / "out.bin"
    j = fetch_json(fetch(node, swarm.py_cid, py.dial_addr(), out=out))
    check_complete(j, root=swarm.py_cid, blocks=balanced_blocks(src.stat().st_size),
                   size=src.stat().st_size, output=out)
    assert sha256_file(out) == sha256_file(src)
    assert provider_blocks(j).get(py.peer_id, 0) == j["BlocksFetched"], j
    assert py.bitswap_stat()["blocks_sent"] >= j["BlocksFetched"]


def test_fetch_cidv0_blocks_from_py_libp2p(swarm, tmp_path):
    """py-libp2p serving CIDv0 (dag-pb) blocks, which it got from Kubo: on 1.1.0/1.2.0 it sends
    them with an EMPTY prefix (libp2p.bitswap.cid.get_cid_prefix returns b"" for CIDv0), which
    must be read as CIDv0 (dag-pb, sha2-256), not rejected as a malformed message."""
    kubo = swarm.kubo()
    src, cid = swarm.file("mid.bin"), swarm.kubo_cids["mid.bin"]
    py = swarm.new_py("py-v0")
    try:
        py.connect(kubo.dial_addr())
        assert py.fetch_file(cid, tmp_path / "py-mid.bin", peer=kubo.peer_id())["sha256"] \
            == sha256_file(src)
        py.disconnect(kubo.peer_id())
        node = swarm.oneshot("py-v0")
        out = tmp_path / "mid.bin"
        j = fetch_json(fetch(node, cid, py.dial_addr(), out=out))
        check_complete(j, root=cid, blocks=balanced_blocks(src.stat().st_size),
                       size=src.stat().st_size, output=out)
        assert sha256_file(out) == sha256_file(src)
        assert provider_blocks(j).get(py.peer_id, 0) == j["BlocksFetched"], j
        assert j["DroppedPeers"] == [], j
    finally:
        py.close()


# ============================================ Kubo <- jz, py <- jz ============================================

def test_kubo_downloads_from_jz(swarm, tmp_path):
    """jz daemon p1 added a 64 MiB file and a nested directory; Kubo connects to it and
    `Download`s both over Bitswap; bytes and tree equal."""
    p1 = swarm.daemon("p1")
    kubo = swarm.kubo()
    kubo.connect(p1.dial_addr())
    before = stat(p1)["BlocksSent"]
    kubo.download(swarm.jz_cids["jz64.bin"], tmp_path / "jz64.bin", timeout=300)
    assert sha256_file(tmp_path / "jz64.bin") == sha256_file(swarm.file("jz64.bin"))
    kubo.download(swarm.jz_cids["tree"], tmp_path / "tree", timeout=120)
    assert_same_tree(swarm.file("tree"), tmp_path / "tree")
    assert stat(p1)["BlocksSent"] - before >= balanced_blocks(swarm.file("jz64.bin").stat().st_size)


def test_py_libp2p_fetches_from_jz(swarm, tmp_path):
    """py-libp2p (its own client: want-block + sendDontHave, replies read on its outbound stream
    and on streams jz opens) gets a block and whole files from jz daemon p1."""
    p1 = swarm.daemon("p1")
    client = swarm.new_py("py-from-jz")
    try:
        client.connect(p1.dial_addr())
        root = swarm.jz_cids["jz64.bin"]
        blk = client.get_block(root, peer=p1.peer_id, timeout=30)
        assert blk["verified"] and blk["size"] > 0, {k: v for k, v in blk.items() if k != "data_b64"}
        got = client.fetch_file(root, tmp_path / "jz64.bin", peer=p1.peer_id, timeout=120)
        assert got["sha256"] == sha256_file(swarm.file("jz64.bin"))
        # A file inside the directory, by its own CID.
        res = p1.cli("add", "-Q", "-n", str(swarm.file("tree") / "sub" / "deep" / "c.bin"))
        got2 = client.fetch_file(res.stdout.strip(), tmp_path / "c.bin", peer=p1.peer_id)
        assert got2["sha256"] == sha256_file(swarm.file("tree") / "sub" / "deep" / "c.bin")
        tree_root = client.get_block(swarm.jz_cids["tree"], peer=p1.peer_id)
        assert tree_root["verified"]
        st = client.bitswap_stat()
        print("py <- jz:", json.dumps({k: st[k] for k in ("negotiated", "blocks_received",
                                                          "messages_received")}))
    finally:
        client.close()


# ============================================ jz <-> jz ============================================

def providers(swarm, *names: str) -> list[JzDaemon]:
    return [swarm.daemon(n) for n in names]


def test_jz_fetch_spreads_over_three_providers(swarm, tmp_path):
    """p1, p2, p3 hold big.bin; a one-shot fetch with --peer x3 takes blocks from all three
    (Providers), and each provider's `bitswap stat` shows blocks sent."""
    ps = providers(swarm, "p1", "p2", "p3")
    src, cid = swarm.file("big.bin"), swarm.jz_cids["big.bin"]
    before = {d.peer_id: stat(d)["BlocksSent"] for d in ps}
    node = swarm.oneshot("spread")
    out = tmp_path / "big.bin"
    j = fetch_json(fetch(node, cid, *[d.dial_addr() for d in ps], out=out))
    check_complete(j, root=cid, blocks=balanced_blocks(src.stat().st_size),
                   size=src.stat().st_size, output=out)
    assert sha256_file(out) == sha256_file(src)
    got = provider_blocks(j)
    for d in ps:
        assert got.get(d.peer_id, 0) > 0, f"no blocks from {d.peer_id}: {j['Providers']}"
        assert stat(d)["BlocksSent"] > before[d.peer_id], f"{d.peer_id} sent nothing"
    assert j["DroppedPeers"] == [], j


def test_jz_fetch_survives_killed_provider(swarm, tmp_path):
    """SIGKILL one of three providers while a one-shot fetch is running: the fetch completes
    from the other two, verified."""
    ps = providers(swarm, "p1", "p2", "p3")
    victim = ps[2]
    src, cid = swarm.file("big.bin"), swarm.jz_cids["big.bin"]
    base = stat(victim)["BlocksSent"]
    addrs = [d.dial_addr() for d in ps]
    node = swarm.oneshot("kill-provider")
    out = tmp_path / "big.bin"
    proc = popen_fetch(node, cid, *addrs, out=out)
    try:
        started = wait_until(lambda: proc.poll() is not None
                             or stat(victim)["BlocksSent"] > base, timeout=60, step=0.02)
        still_running = proc.poll() is None
        victim.kill()
        assert started, "the victim provider sent nothing within 60 s"
        assert still_running, (f"the fetch finished before the provider could be killed; raise "
                               f"BITSWAP_BIG_MIB (now {BIG_MIB})")
        stdout, _ = proc.communicate(timeout=FETCH_TIMEOUT)
    finally:
        kill_group(proc)
    res = Result(proc.args, proc.returncode, stdout.decode(), "(see *-fetch.log)")
    j = fetch_json(res)
    check_complete(j, root=cid, blocks=balanced_blocks(src.stat().st_size),
                   size=src.stat().st_size, output=out)
    assert sha256_file(out) == sha256_file(src)
    got = provider_blocks(j)
    assert got.get(ps[0].peer_id, 0) + got.get(ps[1].peer_id, 0) > 0, j


@pytest.mark.parametrize("cid_version", [0, 1], ids=["cidv0", "cidv1"])
def test_jz_fetch_drops_corrupt_provider(swarm, tmp_path, cid_version):
    """Two honest jz providers and a py-libp2p peer that answers every want with wrong bytes:
    the fetch completes, verified, and DroppedPeers names the corrupt peer. cidv0: big.bin as
    added by default (py-libp2p then sends the wrong bytes with an EMPTY prefix); cidv1: p1 and
    p2 add it with --cid-version 1 (raw leaves; the wrong bytes come with a real prefix)."""
    honest = providers(swarm, "p1", "p2")
    src, cid = swarm.file("big.bin"), swarm.jz_cids["big.bin"]
    if cid_version == 1:
        for d in honest:
            res = d.cli("add", "-Q", "--cid-version", "1", str(src), check=False, timeout=300)
            assert res.returncode == 0, describe(res)
            cid = res.stdout.strip()
    bad = swarm.new_py(f"py-corrupt-v{cid_version}")
    try:
        bad.bitswap_mode("corrupt")
        node = swarm.oneshot("corrupt")
        out = tmp_path / "big.bin"
        j = fetch_json(fetch(node, cid, bad.dial_addr(), *[d.dial_addr() for d in honest],
                             out=out))
        check_complete(j, root=cid, blocks=balanced_blocks(src.stat().st_size),
                       size=src.stat().st_size, output=out)
        assert sha256_file(out) == sha256_file(src)
        sent = bad.bitswap_stat()
        assert sent["corrupt_blocks_sent"] > 0, f"jz-node never asked the corrupt peer: {sent}"
        dropped = {p["Peer"]: p["Reason"] for p in j["DroppedPeers"]}
        assert bad.peer_id in dropped and dropped[bad.peer_id], j
        assert provider_blocks(j).get(bad.peer_id, 0) == 0, j
        assert all(p not in dropped for p in (d.peer_id for d in honest)), j
    finally:
        bad.close()


def test_jz_fetch_resumes_after_sigkill(swarm, tmp_path):
    """SIGKILL a one-shot fetch mid-way; the second run finds blocks present and fetches only
    the rest (BlocksFetched + BlocksPresent == Blocks); output verified."""
    ps = providers(swarm, "p1", "p2", "p3")
    src, cid = swarm.file("big.bin"), swarm.jz_cids["big.bin"]
    total = balanced_blocks(src.stat().st_size)
    addrs = [d.dial_addr() for d in ps]
    # One `bitswap stat` per poll (p1 alone) keeps the polling fast: with the wants spread over
    # three providers, p1 having sent 1/16 of the DAG means about a fifth of it has arrived. The
    # kill also waits for the fetcher's first stored batch (a committed row in its store): on a
    # slow disk the first batch's fsync may still be running at that point, and then there is
    # nothing to resume from.
    base = stat(ps[0])["BlocksSent"]
    node = swarm.oneshot("resume")
    out = tmp_path / "big.bin"
    proc = popen_fetch(node, cid, *addrs, out=out)

    def stored_blocks() -> int:
        try:
            with sqlite3.connect(f"file:{node.home / 'store.sqlite'}?mode=ro", uri=True, timeout=0.05) as db:
                return db.execute("SELECT count(*) FROM blocks").fetchone()[0]
        except sqlite3.Error:
            return 0  # not created yet, or the writer holds the lock: ask again

    try:
        wait_until(lambda: proc.poll() is not None
                   or (stat(ps[0])["BlocksSent"] - base >= max(1, total // 16) and stored_blocks() > 0),
                   timeout=120, step=0.02)
        running = proc.poll() is None
        kill_group(proc)
    finally:
        kill_group(proc)
    assert running, ("the first fetch ended before it could be killed (exit "
                     f"{proc.returncode}); raise BITSWAP_BIG_MIB (now {BIG_MIB})")
    j = fetch_json(fetch(node, cid, *addrs, out=out))
    check_complete(j, root=cid, blocks=total, size=src.stat().st_size, fresh=False, output=out)
    assert j["BlocksPresent"] > 0, f"nothing kept from the killed run: {j}"
    assert j["BlocksFetched"] < total, j
    assert sha256_file(out) == sha256_file(src)


# ============================================ stat, wantlist, ledger ============================================

def test_jz_bitswap_stat_wantlist_ledger(swarm, tmp_path):
    """After the daemon jzf fetched a 16 MiB file from p1: `bitswap stat` (Kubo keys) on both sides,
    `bitswap wantlist` empty, `bitswap ledger` both ways agree with the transfer."""
    p1, jzf = swarm.daemon("p1"), swarm.daemon("jzf")
    # Content only p1 has (jzf may be connected to Kubo, which by now holds jz64.bin).
    src = write_random(tmp_path / "stat.bin", 16 * MIB + 3)
    res = p1.cli("add", "-Q", str(src), check=False, timeout=120)
    assert res.returncode == 0, describe(res)
    cid = res.stdout.strip()
    size, blocks = src.stat().st_size, balanced_blocks(src.stat().st_size)
    j = fetch_json(fetch(jzf.node, cid, p1.dial_addr(), extra=("--no-pin",)))
    check_complete(j, root=cid, blocks=blocks, size=size, pinned=False)

    s = stat(jzf)
    for k in STAT_KEYS - {"Wantlist", "Peers"}:
        assert isinstance(s[k], int) and s[k] >= 0, (k, s)
    assert isinstance(s["Wantlist"], list) and isinstance(s["Peers"], list), s
    assert s["BlocksReceived"] >= blocks and s["DataReceived"] >= size, s
    assert p1.peer_id in s["Peers"], s
    sp = stat(p1)
    assert sp["BlocksSent"] >= blocks and sp["DataSent"] >= size, sp
    assert jzf.peer_id in sp["Peers"], sp

    wl = jzf.cli("bitswap", "wantlist", "--json").json()
    assert isinstance(wl, dict) and "Keys" in wl and keys_of(wl) == [], wl

    lf = jzf.cli("bitswap", "ledger", p1.peer_id, "--json").json()
    assert LEDGER_KEYS <= lf.keys(), lf
    assert lf["Peer"] == p1.peer_id and lf["Recv"] >= size and lf["Exchanged"] >= blocks, lf
    assert isinstance(lf["Value"], (int, float)) and isinstance(lf["Sent"], int), lf
    lp = p1.cli("bitswap", "ledger", jzf.peer_id, "--json").json()
    assert LEDGER_KEYS <= lp.keys(), lp
    assert lp["Peer"] == jzf.peer_id and lp["Sent"] >= size and lp["Exchanged"] >= blocks, lp


def test_jz_wantlist_while_waiting(swarm, tmp_path):
    """A daemon fetch of a CID nobody has: while it waits, the CID is in the daemon's
    `bitswap wantlist` and `bitswap stat` Wantlist, and in the connected provider's
    `bitswap wantlist --peer`; after --timeout it fails and the want is gone."""
    p1, jzf = swarm.daemon("p1"), swarm.daemon("jzf")
    jzf.connect(p1.dial_addr())
    cid = raw_cid_v1(os.urandom(64))
    argv = [jzf.node.binary, "fetch", cid, "--timeout", "8", "--json",
            "--repo-dir", str(jzf.node.home)]
    env = dict(os.environ, JZ_PATH=str(jzf.node.home), HOME=str(jzf.node.home.parent))
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        mine = wait_until(lambda: cid in keys_of(jzf.cli("bitswap", "wantlist", "--json").json()),
                          timeout=6)
        in_stat = cid in [w["/"] for w in stat(jzf)["Wantlist"]] if mine else False
        theirs = wait_until(lambda: cid in keys_of(p1.cli("bitswap", "wantlist", "--peer",
                                                          jzf.peer_id, "--json").json()),
                            timeout=4)
        _, err = proc.communicate(timeout=20)
        elapsed = time.monotonic() - t0
    finally:
        kill_group(proc)
    assert mine, "the pending CID never showed in the daemon's `bitswap wantlist`"
    assert in_stat, "the pending CID is not in `bitswap stat` Wantlist"
    assert theirs, "p1's `bitswap wantlist --peer JZF` never showed the CID"
    assert proc.returncode != 0 and err.strip(), (proc.returncode, err)
    assert elapsed < 14, f"--timeout 8 took {elapsed:.1f} s"
    assert wait_until(lambda: cid not in keys_of(jzf.cli("bitswap", "wantlist", "--json").json()),
                      timeout=5), "the want stayed after the fetch failed"


def test_interrupted_cli_stops_the_daemon_fetch(swarm):
    """Ctrl-C on `jz-node fetch` through the daemon (a CID nobody has, no --timeout): the daemon
    notices the client is gone, stops the fetch and cancels its wants at the provider."""
    p1, jzf = swarm.daemon("p1"), swarm.daemon("jzf")
    jzf.connect(p1.dial_addr())
    cid = raw_cid_v1(os.urandom(64))
    argv = [jzf.node.binary, "fetch", cid, "--json", "--repo-dir", str(jzf.node.home)]
    env = dict(os.environ, JZ_PATH=str(jzf.node.home), HOME=str(jzf.node.home.parent))
    # As a shell does for a foreground command: Ctrl-C's default action, even when this test
    # runs where SIGINT is ignored (a background job inherits SIG_IGN, and so would the CLI).
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert wait_until(lambda: cid in keys_of(jzf.cli("bitswap", "wantlist", "--json").json()),
                          timeout=10), "the fetch never started"
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        kill_group(proc)
    assert wait_until(lambda: cid not in keys_of(jzf.cli("bitswap", "wantlist", "--json").json()),
                      timeout=15), "the daemon kept fetching for a client that went away"
    assert wait_until(lambda: cid not in keys_of(p1.cli("bitswap", "wantlist", "--peer",
                                                        jzf.peer_id, "--json").json()),
                      timeout=10), "the provider still holds the cancelled want"


# ============================================ bad input, timeouts ============================================

def test_fetch_bad_cid_fails_clearly(swarm):
    node = swarm.oneshot("bad-cid")
    t0 = time.monotonic()
    res = node.run("fetch", "not-a-cid", "--json", check=False, timeout=30)
    assert res.returncode != 0, describe(res)
    assert time.monotonic() - t0 < 10, "a malformed CID must fail at once"
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and ("cid" in lines[0].lower() or "not-a-cid" in lines[0]), describe(res)
    assert res.stdout.strip() == "", describe(res)


def test_fetch_missing_cid_times_out(swarm):
    """A CID nobody has, one peer (Kubo) connected, --timeout 5: non-zero within ~10 s, one-shot
    and through the daemon."""
    kubo = swarm.kubo()
    cid = raw_cid_v1(os.urandom(64))
    node = swarm.oneshot("missing")
    for label, runner in (("one-shot", node), ("daemon", swarm.daemon("jzf").node)):
        t0 = time.monotonic()
        res = runner.run("fetch", cid, "--peer", kubo.dial_addr(), "--timeout", "5", "--json",
                         check=False, timeout=60)
        elapsed = time.monotonic() - t0
        assert res.returncode != 0, f"{label}: " + describe(res)
        assert res.stderr.strip(), f"{label}: no error message"
        assert elapsed < 12, f"{label}: --timeout 5 took {elapsed:.1f} s"


# ============================================ cat / get through the daemon ============================================

def test_cat_and_get_fetch_missing_blocks_through_daemon(swarm, tmp_path):
    """With the daemon running and connected to Kubo, `cat` and `get` of Kubo-only content fetch
    the missing blocks over Bitswap."""
    kubo = swarm.kubo()
    jzf = swarm.daemon("jzf")
    jzf.connect(kubo.dial_addr())
    res = jzf.cli("cat", swarm.kubo_cids["small.txt"], check=False, timeout=120)
    assert res.returncode == 0, describe(res)
    assert res.stdout == swarm.file("small.txt").read_text()
    res = jzf.cli("get", swarm.kubo_cids["ktree"], "-o", str(tmp_path / "ktree"), check=False,
                  timeout=120)
    assert res.returncode == 0, describe(res)
    assert_same_tree(swarm.file("ktree"), tmp_path / "ktree")


def test_dag_and_block_commands_fetch_through_daemon(swarm, tmp_path):
    """With the daemon running and connected to a provider, `dag get` (a path across two blocks),
    `dag stat`, `dag resolve`, `block stat` and `block get` of blocks only the provider has fetch
    them over Bitswap."""
    p1, jzf = swarm.daemon("p1"), swarm.daemon("jzf")
    jzf.connect(p1.dial_addr())
    marker = os.urandom(8).hex()
    (tmp_path / "leaf.json").write_text(json.dumps({"marker": marker, "n": [1, 2, 3]}))
    leaf = p1.cli("dag", "put", str(tmp_path / "leaf.json"), check=False, timeout=60)
    assert leaf.returncode == 0, describe(leaf)
    leaf_cid = leaf.stdout.strip()
    (tmp_path / "root.json").write_text(json.dumps({"child": {"/": leaf_cid}, "marker": marker}))
    root = p1.cli("dag", "put", "--pin", str(tmp_path / "root.json"), check=False, timeout=60)
    assert root.returncode == 0, describe(root)
    root_cid = root.stdout.strip()

    res = jzf.cli("dag", "get", f"{root_cid}/child/n/1", check=False, timeout=120)
    assert res.returncode == 0, describe(res)
    assert res.stdout.strip() == "2"
    res = jzf.cli("dag", "resolve", f"{root_cid}/child/marker", "--json", check=False, timeout=60)
    assert res.returncode == 0, describe(res)
    assert res.json()["Cid"]["/"] == leaf_cid
    res = jzf.cli("dag", "stat", root_cid, "--json", check=False, timeout=60)
    assert res.returncode == 0, describe(res)
    assert res.json()["DagStats"][0]["NumBlocks"] == 2

    raw = os.urandom(3000)
    (tmp_path / "raw.bin").write_bytes(raw)
    put = p1.cli("block", "put", str(tmp_path / "raw.bin"), check=False, timeout=60)
    assert put.returncode == 0, describe(put)
    raw_cid = put.stdout.strip()
    res = jzf.cli("block", "stat", raw_cid, "--json", check=False, timeout=60)
    assert res.returncode == 0, describe(res)
    assert res.json()["Size"] == 3000
    got = subprocess.run([str(jzf.node.binary), "block", "get", raw_cid, "--repo-dir", str(jzf.node.home)],
                         capture_output=True, timeout=60)
    assert got.returncode == 0, got.stderr
    assert got.stdout == raw
