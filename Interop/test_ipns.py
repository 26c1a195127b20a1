"""IPNS records against real peers: tampered records are refused by Kubo and by a jz DHT server,
and `name resolve` never returns them; records made by jz-node pass py-libp2p's IPNS validator.

The records are made by jz-node itself in a separate node home with no daemon (`key gen`, then
`name publish --allow-offline --key forge`, read back from `<home>/dht.sqlite`): a good one, one
with a lower sequence, one already expired; the bad-signature and oversized (> 10 KiB) ones are the
good one with a signature byte flipped, and with 11 KiB of an unknown protobuf field appended. The
py-libp2p kad client sends each with PUT_VALUE, then GET_VALUE shows what each server kept.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time

import pytest

from conftest import JzDaemon, jz_has_command
from kad_client import LAN, b58encode, cid_multihash, uvarint
from test_dht import (daemons, describe, kad, kubo_hub_with_two_jz, require_routing, wait_until,  # noqa: F401
                      write_random)


class Forge:
    """A jz-node home with no daemon that signs records for its key `forge`."""

    def __init__(self, jz):
        self.node = jz("forge")
        self.node.init()
        self.node.run("key", "gen", "forge")

    def publish(self, value: str, sequence: int, lifetime: str = "48h") -> tuple[str, bytes]:
        res = self.node.run("name", "publish", "--allow-offline", "--key", "forge", "--sequence", str(sequence),
                            "--lifetime", lifetime, "--json", value, timeout=60)
        name = res.json()["Name"]
        db = sqlite3.connect(self.node.home / "dht.sqlite")
        try:
            (record,) = db.execute("SELECT record FROM ipns_published").fetchone()
        finally:
            db.close()
        return name, bytes(record)


def bad_signature(record: bytes) -> bytes:
    """`record` with one byte of signatureV2 (field 8, 64 bytes for Ed25519) flipped."""
    i = record.index(b"\x42\x40") + 2 + 10
    return record[:i] + bytes([record[i] ^ 0xFF]) + record[i + 1:]


def oversized(record: bytes) -> bytes:
    """`record` with an 11 KiB unknown field (15, bytes) appended: signed data intact, > 10 KiB."""
    pad = b"\0" * (11 * 1024)
    return record + b"\x7a" + uvarint(len(pad)) + pad


def test_tampered_records_are_refused_and_never_resolved(jz_node_bin, jz, kubo, kad, daemons, work_dir):
    require_routing(jz_node_bin)
    if not jz_has_command(jz_node_bin, "name"):
        pytest.skip("no `name` command")
    forge = Forge(jz)
    src = jz("src")
    src.init()
    cids = {k: src.run("add", "-Q", "--only-hash", str(write_random(work_dir / f"{k}.bin", 500))).stdout.strip()
            for k in ("expired", "lower", "good")}
    name, expired = forge.publish(f"/ipfs/{cids['expired']}", 1, lifetime="1s")
    _, lower = forge.publish(f"/ipfs/{cids['lower']}", 2)
    _, good = forge.publish(f"/ipfs/{cids['good']}", 10)
    key = b"/ipns/" + cid_multihash(name)

    b, a, c = kubo_hub_with_two_jz(jz, kubo, daemons)
    q = kad("py-q")
    servers = {"Kubo B": b.dial_addr(), "jz A": a.dial_addr()}
    time.sleep(1.1)  # the first record's 1 s lifetime is over

    def stored(addr: str) -> bytes | None:
        rec = (q.get_value(addr, key, LAN).get("reply") or {}).get("record")
        return None if rec is None else base64.b64decode(rec["value_b64"])

    for who, addr in servers.items():
        q.put_value(addr, key, good, LAN)
        assert wait_until(lambda: stored(addr) == good, 10, 0.2), f"{who} did not keep the good record"
        for what, bad in (("bad signature", bad_signature(good)), ("lower sequence", lower),
                          ("expired", expired), ("oversized", oversized(good))):
            r = q.put_value(addr, key, bad, LAN)
            echoed = r.get("end") == "reply" and "record" in (r.get("reply") or {})
            assert not echoed, f"{who} accepted the {what} record: {r}"
            assert stored(addr) == good, f"{who} replaced the good record by the {what} one"

    # C (connected to B only) resolves the name to the good record's path, fresh (no cache).
    res = c.cli("name", "resolve", "--nocache", name, "--json", check=False, timeout=60)
    assert res.returncode == 0, describe(res)
    assert res.json()["Path"] == f"/ipfs/{cids['good']}", res.stdout

    # Records made by jz-node pass py-libp2p's own IPNS validator.
    from libp2p.records.ipns import IPNSValidator
    v = IPNSValidator()
    pid = b58encode(cid_multihash(name))
    v.validate(f"/ipns/{pid}", good)
    v.validate(f"/ipns/{pid}", lower)
    assert v.select(f"/ipns/{pid}", [lower, good]) == 1
    for bad in (bad_signature(good), oversized(good), expired):
        with pytest.raises(Exception):
            v.validate(f"/ipns/{pid}", bad)


def test_offline_publish_is_served_and_republished_by_the_daemon(jz_node_bin, jz, kubo, kad, daemons, work_dir):
    """`name publish --allow-offline` with no daemon keeps the record in the node home; the daemon,
    once started with a peer, serves it and puts it on the network (Kubo B then serves it), and
    `cat /ipns/NAME` on another node reads the content through the name."""
    require_routing(jz_node_bin)
    if not jz_has_command(jz_node_bin, "name"):
        pytest.skip("no `name` command")
    b, a, c = kubo_hub_with_two_jz(jz, kubo, daemons)
    # D's home is made (and configured with B as its bootstrap peer) before its daemon starts.
    d = JzDaemon(jz("D"))
    daemons.append(d)
    d.configure()
    d.cli("config", "--json", "Bootstrap", json.dumps([b.dial_addr()]))
    d_node = d.node
    text = "published while offline, read through the name\n" * 50
    src = work_dir / "payload.txt"
    src.write_text(text)
    res = d_node.run("name", "publish", "/ipfs/bafkqaaa", check=False)
    assert res.returncode != 0 and "--allow-offline" in res.stderr, describe(res)
    cid = d_node.run("add", "-Q", str(src)).stdout.strip()
    pub = d_node.run("name", "publish", "--allow-offline", cid, "--json").json()
    # With no daemon, /ipns/ paths resolve through the local record.
    assert d_node.run("name", "resolve", pub["Name"]).stdout.strip() == f"/ipfs/{cid}"
    assert d_node.run("cat", f"/ipns/{pub['Name']}").stdout == text
    d.start()
    q = kad("py-q")
    key = b"/ipns/" + cid_multihash(pub["Name"])
    got = wait_until(lambda: (q.get_value(b.dial_addr(), key, LAN).get("reply") or {}).get("record"), 60, 0.5)
    assert got, "the daemon did not put the offline record on the network (Kubo B does not hold it)"
    res = c.cli("name", "resolve", "--nocache", pub["Name"], "--json", check=False, timeout=60)
    assert res.returncode == 0 and res.json()["Path"] == f"/ipfs/{cid}", describe(res)
    res = c.cli("cat", f"/ipns/{pub['Name']}/", check=False, timeout=120)
    assert res.returncode == 0 and res.stdout == text, describe(res)
    assert d.alive()
