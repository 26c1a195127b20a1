"""Networking interop (issue 5): jz-node's libp2p host against Kubo 0.22 and py-libp2p 0.8.1.

Three groups:
- ``test_reference_*``: the harness itself (py-libp2p peer <-> Kubo, forced security/muxer
  combinations, identify with signed peer records, the raw-socket adversaries against Kubo). These
  need no jz-node and show that what the jz tests demand is what the reference peers do.
- ``test_jz_*``: jz-node's ``daemon`` driven through its CLI (``swarm connect/peers/disconnect``,
  ``id PEER``, ``ping``): the matrix noise|tls x yamux|mplex x both dial directions, against Kubo
  (RSA and Ed25519 identities) and py-libp2p; identify both ways; ping both ways (Kubo's C API
  cannot ping, so Kubo -> jz ping is not tested); wrong peer ID refused; adversaries survived.
  They are skipped while the binary has no ``daemon`` command.

Nodes are shared per module (one Kubo per combination and key type, one py-libp2p peer and one
jz daemon per combination); every test leaves its connections closed. Work folders:
``Interop/.work/network/``.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import time
from pathlib import Path

import pytest

import netadversary as adv
from conftest import REPO_ROOT, WORK_ROOT, JzDaemon, jz_has_command
from jznode import JzNode
from kubo import KuboNode, generate_ed25519_identity
from pyp2p_peer import PyPeer

COMBOS = [("noise", "yamux"), ("tls", "yamux"), ("noise", "mplex"), ("tls", "mplex")]
COMBO_IDS = [f"{s}+{m}" for s, m in COMBOS]
# py-libp2p identity per combination: cover Ed25519, RSA and secp256k1 peers.
PY_KEYS = {("noise", "yamux"): "ed25519", ("tls", "yamux"): "rsa",
           ("noise", "mplex"): "secp256k1", ("tls", "mplex"): "ed25519"}
MUXER_IDS = {"yamux": "/yamux/1.0.0", "mplex": "/mplex/6.7.0"}
KUBO_AGENT = "kubo/0.22.0/"
CORE_PROTOCOLS = {"/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"}
PONG = re.compile(r"Pong received: time=[0-9.]+ ms")
# What a log line about a rejected peer/connection/stream is expected to contain (any of these).
REJECTION_WORDS = re.compile(r"reject|refus|fail|error|invalid|mismatch|reset|denied|limit|bad|"
                             r"protocol|exceed|too (large|big|many)", re.IGNORECASE)


def wait_until(pred, timeout: float = 5.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(step)


class Net:
    """Module-wide registry of lazily started nodes; everything is closed at module teardown."""

    def __init__(self, root, jz_bin):
        self.root = root
        self.jz_bin = jz_bin
        self._kubos: dict = {}
        self._pys: dict = {}
        self._jzs: dict = {}
        self._daemon_ok: bool | None = None

    # -- Kubo: one per (combination, key type) --
    def kubo(self, combo, key: str = "rsa") -> KuboNode:
        if (combo, key) not in self._kubos:
            node = KuboNode(self.root / f"kubo-{combo[0]}-{combo[1]}-{key}")
            self._kubos[(combo, key)] = node
            node.configure_loopback()
            node.set_transports(combo[0], combo[1])
            if key == "ed25519":
                node.set_identity(*generate_ed25519_identity())
            node.run()
        return self._kubos[(combo, key)]

    # -- py-libp2p: one per combination, all started in parallel on first use --
    def py(self, combo) -> PyPeer:
        if not self._pys:
            def start(c):
                return c, PyPeer(self.root / f"py-{c[0]}-{c[1]}", security=c[0], muxer=c[1],
                                 key=PY_KEYS[c])
            with concurrent.futures.ThreadPoolExecutor(len(COMBOS)) as ex:
                for c, peer in ex.map(start, COMBOS):
                    self._pys[c] = peer
        return self._pys[combo]

    # -- jz-node daemon: one per combination --
    def require_daemon(self) -> None:
        if self._daemon_ok is None:
            self._daemon_ok = self.jz_bin is not None and jz_has_command(self.jz_bin, "daemon")
        if not self._daemon_ok:
            pytest.skip("jz-node has no `daemon` command yet (networking CLI of issue 5)")

    def jz(self, combo) -> JzDaemon:
        self.require_daemon()
        if combo not in self._jzs:
            d = JzDaemon(JzNode(self.jz_bin, self.root / f"jz-{combo[0]}-{combo[1]}"),
                         security=[combo[0]], muxers=[combo[1]])
            self._jzs[combo] = d
            d.start()
        d = self._jzs[combo]
        if not d.alive():
            pytest.fail(f"jz-node daemon {combo} died; log:\n{d.log_tail()}")
        return d

    def close(self) -> None:
        for d in self._jzs.values():
            d.stop()
        for p in self._pys.values():
            p.close()
        for k in self._kubos.values():
            k.close()


@pytest.fixture(scope="module")
def net():
    root = WORK_ROOT / "network"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    path = Path(os.environ.get("JZ_NODE_BIN") or REPO_ROOT / ".build/debug/jz-node")
    if not path.is_absolute():
        path = (REPO_ROOT / path).resolve()
    jz_bin = path if os.access(path, os.X_OK) else None
    registry = Net(root, jz_bin)
    yield registry
    registry.close()


# ==================================== reference (no jz-node) ====================================

@pytest.mark.parametrize("combo", COMBOS, ids=COMBO_IDS)
def test_reference_py_and_kubo(net, combo):
    """py-libp2p and Kubo with only ``combo`` enabled on both sides connect both ways, identify
    (Kubo's signed peer record validates in py-libp2p) and ping. Proves the harness and Kubo's
    Swarm.Transports.* keys (Mplex must be enabled explicitly in Kubo 0.22)."""
    py = net.py(combo)
    k_rsa, k_ed = net.kubo(combo, "rsa"), net.kubo(combo, "ed25519")

    kid = k_rsa.peer_id()
    assert py.connect(k_rsa.dial_addr()) == kid
    info = py.identify(kid)
    assert info["agent_version"] == KUBO_AGENT
    assert info["public_key_matches"]
    assert info["signed_peer_record"]["valid"], info["signed_peer_record"]
    assert CORE_PROTOCOLS <= set(info["protocols"])
    assert len(py.ping(kid, 3)) == 3
    py.disconnect(kid)
    assert wait_until(lambda: kid not in py.peer_ids())

    k_ed.connect(py.dial_addr())
    assert py.peer_id in k_ed.peer_ids()
    assert wait_until(lambda: k_ed.peer_id() in py.peer_ids())
    assert k_ed.peer_id().startswith("12D3KooW")
    py.disconnect(k_ed.peer_id())


def test_reference_adversaries_against_kubo(net):
    """The raw attacks behave as expected against Kubo (noise+yamux): forged identity refused,
    garbled frame and 64 MiB frame end the connection, a 3,000-SYN flood is mostly reset while
    the connection still answers pings, and Kubo keeps accepting handshakes."""
    k = net.kubo(("noise", "yamux"), "rsa")
    port = k.swarm_port
    conn = adv.noise_yamux_connect("127.0.0.1", port, expected_peer=k.peer_id())
    assert adv.yamux_ping(conn) >= 0
    conn.close()
    assert adv.forged_identity("127.0.0.1", port)["refused"]
    assert adv.garbled_frame_after_noise("127.0.0.1", port)["closed"]
    assert adv.yamux_oversized_frame("127.0.0.1", port)["closed"]
    flood = adv.yamux_stream_flood("127.0.0.1", port, count=3000)
    assert flood["reset"] > 0 or flood["closed"], flood
    conn = adv.noise_yamux_connect("127.0.0.1", port, expected_peer=k.peer_id())
    assert adv.yamux_ping(conn) >= 0
    conn.close()


# ======================================== jz-node daemon ========================================

def test_jz_daemon_lifecycle(net):
    """`daemon` prints "Daemon is ready", writes <repo>/api, `id --json` shows live addresses and
    protocols; SIGINT exits 0 and removes the api file."""
    net.require_daemon()
    d = JzDaemon(JzNode(net.jz_bin, net.root / "jz-lifecycle"))
    try:
        d.start()
        assert d.api_path.exists(), d.log_tail()
        assert d.api_path.read_text().strip().startswith("/ip4/127.0.0.1/tcp/")
        out = d.id()
        for key in ("ID", "PublicKey", "Addresses", "AgentVersion", "ProtocolVersion",
                    "Protocols"):
            assert key in out, out
        assert out["ID"] == d.init_peer_id == d.peer_id
        assert d.listen_addrs() and not d.dial_addr().endswith("/tcp/0/p2p/" + d.peer_id)
        assert CORE_PROTOCOLS <= set(out["Protocols"] or []), out["Protocols"]
    finally:
        code = d.stop()
    assert code == 0, d.log_tail()
    assert not d.api_path.exists()


def _assert_jz_sees(d: JzDaemon, peer: str, connected: bool = True) -> None:
    ok = wait_until(lambda: (peer in d.peer_ids()) == connected)
    assert ok, f"jz-node peers {d.peer_ids()} (want {peer} connected={connected})"


@pytest.mark.parametrize("direction", ["jz-dials", "kubo-dials"])
@pytest.mark.parametrize("kubo_key", ["rsa", "ed25519"])
@pytest.mark.parametrize("combo", COMBOS, ids=COMBO_IDS)
def test_jz_and_kubo(net, combo, kubo_key, direction):
    """jz-node <-> Kubo with one security transport and one muxer: connect, both list the other,
    jz identifies Kubo (agent kubo/0.22.0/) and pings it; `swarm disconnect` closes it on both."""
    d = net.jz(combo)
    k = net.kubo(combo, kubo_key)
    kid = k.peer_id()
    assert kid not in d.peer_ids()
    try:
        if direction == "jz-dials":
            d.connect(k.dial_addr())
        else:
            k.connect(d.dial_addr())
        _assert_jz_sees(d, kid)
        assert wait_until(lambda: d.peer_id in k.peer_ids()), k.peer_ids()

        verbose = d.cli("swarm", "peers", "--verbose", "--json").json()
        for p in (verbose or {}).get("Peers") or []:
            if p.get("Peer") == kid and p.get("Muxer"):
                assert p["Muxer"] == MUXER_IDS[combo[1]], p

        info = d.id(kid)
        assert info["ID"] == kid
        assert info["AgentVersion"] == KUBO_AGENT, info
        assert CORE_PROTOCOLS <= set(info.get("Protocols") or []), info
        res = d.ping(kid, 3)
        assert len(PONG.findall(res.stdout)) == 3, res.stdout
    finally:
        d.disconnect(f"{k.dial_addr()}", check=False)
    _assert_jz_sees(d, kid, connected=False)
    assert wait_until(lambda: d.peer_id not in k.peer_ids()), k.peer_ids()


@pytest.mark.parametrize("direction", ["jz-dials", "py-dials"])
@pytest.mark.parametrize("combo", COMBOS, ids=COMBO_IDS)
def test_jz_and_py_libp2p(net, combo, direction):
    """jz-node <-> py-libp2p: connect both ways; py-libp2p identifies jz-node (public key matches,
    signed peer record valid, listen addrs include jz's port) and pings it; jz identifies and
    pings py-libp2p; disconnect by peer ID."""
    d = net.jz(combo)
    py = net.py(combo)
    assert py.peer_id not in d.peer_ids()
    try:
        if direction == "jz-dials":
            d.connect(py.dial_addr())
        else:
            assert py.connect(d.dial_addr()) == d.peer_id
        _assert_jz_sees(d, py.peer_id)

        info = py.identify(d.peer_id)
        assert info["public_key_matches"], info
        rec = info["signed_peer_record"]
        assert rec["present"] and rec["valid"], rec
        assert CORE_PROTOCOLS <= set(info["protocols"]), info["protocols"]
        port = str(d.swarm_port())
        assert any(f"/tcp/{port}" in a for a in info["listen_addrs"]), info["listen_addrs"]
        assert any(f"/tcp/{port}" in a for a in rec["addrs"]), rec
        assert info["agent_version"], info
        assert len(py.ping(d.peer_id, 3)) == 3

        jinfo = d.id(py.peer_id)
        assert jinfo["ID"] == py.peer_id
        assert jinfo["AgentVersion"].startswith("py-libp2p"), jinfo
        res = d.ping(py.peer_id, 3)
        assert len(PONG.findall(res.stdout)) == 3, res.stdout
    finally:
        d.disconnect(py.peer_id, check=False)
    _assert_jz_sees(d, py.peer_id, connected=False)
    assert wait_until(lambda: d.peer_id not in py.peer_ids()), py.peers()


@pytest.mark.parametrize("target", ["py-libp2p", "kubo"])
def test_jz_refuses_wrong_peer_id(net, target):
    """Dialing a real listener under a peer ID it cannot prove -> `swarm connect` fails (non-zero)
    and no connection stays open; jz-node keeps serving."""
    combo = ("noise", "yamux")
    d = net.jz(combo)
    if target == "kubo":
        addr = net.kubo(combo).dial_addr()
    else:
        addr = net.py(combo).dial_addr()
    wrong = adv.random_peer_id()
    bad = addr.rsplit("/p2p/", 1)[0] + f"/p2p/{wrong}"
    res = d.connect(bad, check=False)
    assert res.returncode != 0, res
    assert res.stderr.strip(), res
    assert wrong not in d.peer_ids()
    _jz_still_serves(net, d)


def _jz_still_serves(net, d: JzDaemon) -> None:
    """A fresh raw noise+yamux session gets a yamux pong, and py-libp2p can connect and ping."""
    assert d.alive(), d.log_tail()
    conn = adv.noise_yamux_connect("127.0.0.1", d.swarm_port(), expected_peer=d.peer_id)
    try:
        assert adv.yamux_ping(conn) >= 0
    finally:
        conn.close()
    py = net.py(("noise", "yamux"))
    py.connect(d.dial_addr())
    try:
        assert len(py.ping(d.peer_id, 1)) == 1
    finally:
        py.disconnect(d.peer_id)
        wait_until(lambda: py.peer_id not in d.peer_ids())


@pytest.mark.parametrize("attack", ["forged-identity", "garbled-frame", "oversized-yamux-frame",
                                    "stream-flood"])
def test_jz_survives_adversary(net, attack):
    """Attacks on jz-node (noise+yamux): the offending connection is refused or closed (the flood
    may instead be answered with resets), jz-node logs it, stays up and keeps serving."""
    d = net.jz(("noise", "yamux"))
    port = d.swarm_port()
    log_before = len(d.log_text())
    if attack == "forged-identity":
        out = adv.forged_identity("127.0.0.1", port)
        assert out["refused"], out
    elif attack == "garbled-frame":
        out = adv.garbled_frame_after_noise("127.0.0.1", port)
        assert out["closed"], out
    elif attack == "oversized-yamux-frame":
        out = adv.yamux_oversized_frame("127.0.0.1", port)
        assert out["closed"], out
    else:
        out = adv.yamux_stream_flood("127.0.0.1", port, count=3000)
        assert out["reset"] > 0 or out["closed"], out
        if not out["closed"]:
            assert out["ping_ms"] is not None, out  # the connection still works
    logged = wait_until(lambda: REJECTION_WORDS.search(d.log_text()[log_before:]), 3.0)
    new_log = d.log_text()[log_before:]
    assert logged, f"no rejection logged for {attack}:\n{new_log[-2000:]}"
    _jz_still_serves(net, d)
