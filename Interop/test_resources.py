"""Resource limits (issue 15): a peer over a limit is refused, not served at the expense of others.

A hostile peer (a Python Noise/yamux peer) sends one Bitswap wantlist far over the daemon's
``Swarm.ResourceMgr.MaxWantlistEntriesPerPeer``: the daemon keeps the limit's worth and ignores the
rest, ``jz-node swarm resources --json`` shows the use and the refusals (for the node and for that
peer), and Kubo 0.22 is served meanwhile (it connects and fetches a file from the daemon).
"""

from __future__ import annotations

import json
import os
import time

from conftest import JzDaemon
from netadversary import bitswap_want_flood

LIMIT = 100
WANTS = 1000


def resources(d: JzDaemon) -> dict:
    return json.loads(d.cli("swarm", "resources", "--json", "--peers", "0").stdout)


def peer_entry(report: dict, peer: str) -> dict:
    for entry in report["Peers"]:
        if entry["Peer"] == peer:
            return entry["Resources"]
    return {}


def test_wantlist_over_the_limit_is_refused_and_kubo_is_served(jz, kubo, tmp_path):
    d = JzDaemon(jz("jz"))
    d.configure()
    d.cli("config", "--json", "Swarm.ResourceMgr.MaxWantlistEntriesPerPeer", str(LIMIT))
    d.start()
    node = kubo("kubo", run=True)
    data = tmp_path / "served.bin"
    data.write_bytes(os.urandom(1 << 20))
    cid = d.cli("add", "-Q", str(data)).stdout.strip()
    host, port = "127.0.0.1", d.swarm_port()
    hostile, stream = bitswap_want_flood(host, port, count=WANTS)
    try:
        # The daemon handles the message asynchronously: wait (bounded) for its wants to show.
        deadline = time.monotonic() + 20
        report = resources(d)
        while time.monotonic() < deadline and peer_entry(report, hostile).get("WantlistEntries", {}).get("Used", 0) < LIMIT:
            time.sleep(0.2)
            report = resources(d)
        mine = peer_entry(report, hostile)
        assert mine["WantlistEntries"] == {"Used": LIMIT, "Limit": LIMIT, "Refused": WANTS - LIMIT}, report
        assert report["System"]["WantlistEntries"]["Used"] == LIMIT
        # Refusals count against the limit that made them: the per-peer one, not the node's.
        assert report["System"]["WantlistEntries"]["Refused"] == 0
        # Other resources are reported against their limits too.
        assert report["System"]["PendingInboundBytes"]["Limit"] == 128 << 20
        assert mine["ConnsInbound"]["Used"] == 1 and mine["ConnsInbound"]["Limit"] == 8
        assert report["Protocols"]["/ipfs/bitswap/1.2.0"]["StreamsInbound"]["Limit"] == 1024
        # Kubo is served while the hostile peer stays connected with its wants.
        node.connect(d.dial_addr(), timeout=30)
        out = tmp_path / "fetched.bin"
        node.download(cid, out, timeout=60)
        assert out.read_bytes() == data.read_bytes()
        assert hostile in d.peer_ids() and node.peer_id() in d.peer_ids()
        text = d.cli("swarm", "resources").stdout
        assert "WantlistEntries" in text and f"peer {hostile}" in text, text
        print(text)
    finally:
        stream.close()
        d.stop()
