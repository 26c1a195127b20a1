"""Private networks (libp2p PSK v1, Kubo's ``swarm.key``) against Kubo 0.22.

A jz-node daemon and a Kubo node holding the same ``swarm.key`` connect in both directions; a
node without the key, or with another key, jz-node or Kubo, is refused by both, in both
directions. ``LIBP2P_FORCE_PNET=1`` stops a daemon without a key from starting. The key's
fingerprint printed by jz-node equals one computed here independently (Salsa20 written out in
Python, SHAKE-128 from hashlib), the algorithm Kubo prints at start.
"""

from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import time

import pytest

from conftest import JzDaemon
from kubo import KuboError


def salsa20_block(key: bytes, nonce8: bytes, counter: int) -> bytes:
    """One 64-byte Salsa20 block (D. J. Bernstein's specification), for the fingerprint check."""
    def rotl(v: int, c: int) -> int:
        return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))

    c = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    k = list(struct.unpack("<8I", key))
    n = list(struct.unpack("<2I", nonce8))
    state = [c[0], *k[:4], c[1], *n, counter & 0xFFFFFFFF, counter >> 32, c[2], *k[4:], c[3]]
    x = list(state)
    for _ in range(10):
        for a, b, d, e in ((0, 4, 8, 12), (5, 9, 13, 1), (10, 14, 2, 6), (15, 3, 7, 11)):
            x[b] ^= rotl((x[a] + x[e]) & 0xFFFFFFFF, 7)
            x[d] ^= rotl((x[b] + x[a]) & 0xFFFFFFFF, 9)
            x[e] ^= rotl((x[d] + x[b]) & 0xFFFFFFFF, 13)
            x[a] ^= rotl((x[e] + x[d]) & 0xFFFFFFFF, 18)
        for a, b, d, e in ((0, 1, 2, 3), (5, 6, 7, 4), (10, 11, 8, 9), (15, 12, 13, 14)):
            x[b] ^= rotl((x[a] + x[e]) & 0xFFFFFFFF, 7)
            x[d] ^= rotl((x[b] + x[a]) & 0xFFFFFFFF, 9)
            x[e] ^= rotl((x[d] + x[b]) & 0xFFFFFFFF, 13)
            x[a] ^= rotl((x[e] + x[d]) & 0xFFFFFFFF, 18)
    return struct.pack("<16I", *[(x[i] + state[i]) & 0xFFFFFFFF for i in range(16)])


def kubo_fingerprint(key: bytes) -> str:
    """Kubo's pnetFingerprint: SHAKE-128/16 of the first 64 Salsa20 bytes under nonce 'finprint'."""
    return hashlib.shake_128(salsa20_block(key, b"finprint", 0)).hexdigest(16)


def key_file(key: bytes) -> str:
    return f"/key/swarm/psk/1.0.0/\n/base16/\n{key.hex()}\n"


def wait_until(pred, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def start_jz(jz, name: str, key: bytes | None) -> JzDaemon:
    d = JzDaemon(jz(name))
    d.configure()
    if key is not None:
        (d.node.home / "swarm.key").write_text(key_file(key))
    return d.start()


def start_kubo(kubo, name: str, key: bytes | None):
    node = kubo(name)
    if key is not None:
        (node.repo / "swarm.key").write_text(key_file(key))
    node.run()
    return node


def test_same_key_connects_both_ways_and_others_are_refused(jz, kubo):
    net_key = os.urandom(32)
    other_key = os.urandom(32)
    jz_priv = start_jz(jz, "jz-private", net_key)
    kubo_priv = start_kubo(kubo, "kubo-private", net_key)
    jz_public = start_jz(jz, "jz-public", None)
    kubo_public = start_kubo(kubo, "kubo-public", None)
    jz_other = start_jz(jz, "jz-other", other_key)
    try:
        log = jz_priv.log_text()
        assert "Swarm is limited to private network of peers with the swarm key" in log
        assert f"Swarm key fingerprint: {kubo_fingerprint(net_key)}" in log
        shown = jz_priv.cli("swarm", "key", "show", "--json").json()
        assert shown["Fingerprint"] == kubo_fingerprint(net_key)

        # Same key: jz dials Kubo, then Kubo dials jz.
        jz_priv.connect(kubo_priv.dial_addr())
        assert kubo_priv.peer_id() in jz_priv.peer_ids()
        assert wait_until(lambda: jz_priv.peer_id in kubo_priv.peer_ids())
        jz_priv.disconnect(kubo_priv.peer_id())
        assert wait_until(lambda: jz_priv.peer_id not in kubo_priv.peer_ids())
        kubo_priv.connect(jz_priv.dial_addr())
        assert wait_until(lambda: kubo_priv.peer_id() in jz_priv.peer_ids())
        # ... and the connection carries protocols: identify saw Kubo's agent.
        verbose = jz_priv.cli("swarm", "peers", "--verbose", "--json").json()["Peers"]
        assert any(p["Identify"]["AgentVersion"].startswith("kubo/") for p in verbose)

        # Without the key or with another key: refused by both, in both directions.
        outsiders = [("jz-public", jz_public), ("jz-other", jz_other)]
        for name, outsider in outsiders:
            for target in (kubo_priv.dial_addr(), jz_priv.dial_addr()):
                r = outsider.connect(target, check=False)
                assert r.returncode != 0, f"{name} connected to {target}: {r.stdout}"
            r = jz_priv.connect(outsider.dial_addr(), check=False)
            assert r.returncode != 0, f"private jz connected to {name}"
            with pytest.raises(KuboError):
                kubo_priv.connect(outsider.dial_addr(), timeout=30)
        r = jz_priv.connect(kubo_public.dial_addr(), check=False)
        assert r.returncode != 0, "private jz connected to a public Kubo"
        with pytest.raises(KuboError):
            kubo_public.connect(jz_priv.dial_addr(), timeout=30)
        # The public pair still talk to each other (the refusals were about the key).
        jz_public.connect(kubo_public.dial_addr())
        assert kubo_public.peer_id() in jz_public.peer_ids()
        assert set(jz_priv.peer_ids()) <= {kubo_priv.peer_id()}
    finally:
        for d in (jz_priv, jz_public, jz_other):
            d.stop()


def test_force_pnet_refuses_to_start_without_a_key(jz):
    d = JzDaemon(jz("forced"))
    d.configure()
    env = dict(os.environ, LIBP2P_FORCE_PNET="1", JZ_PATH=str(d.node.home), HOME=str(d.node.home.parent))
    p = subprocess.run([d.node.binary, "daemon", "--repo-dir", str(d.node.home)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "LIBP2P_FORCE_PNET" in p.stderr and "swarm.key" in p.stderr
    # `swarm key gen --write` makes one; then the forced daemon starts.
    out = d.cli("swarm", "key", "gen", "--write").stdout
    assert "fingerprint" in out
    text = (d.node.home / "swarm.key").read_text()
    assert text.startswith("/key/swarm/psk/1.0.0/\n/base16/\n")
    assert oct((d.node.home / "swarm.key").stat().st_mode & 0o777) == "0o600"
    assert d.cli("swarm", "key", "gen", "--write", check=False).returncode != 0  # no silent replace
    key = bytes.fromhex(text.splitlines()[2])
    assert d.cli("swarm", "key", "show", "--json").json()["Fingerprint"] == kubo_fingerprint(key)
    os.environ["LIBP2P_FORCE_PNET"] = "1"
    try:
        d.start()
        assert d.alive()
    finally:
        del os.environ["LIBP2P_FORCE_PNET"]
        d.stop()
