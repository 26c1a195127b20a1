"""The WAN DHT (`/ipfs/kad/1.0.0`) against Kubo 0.22, on addresses that read as public.

On 127.0.0.1 everything goes through the LAN DHT: Kubo's WAN table ignores loopback peers. Here
each node runs in its own network namespace on a private bridge with addresses of 20.0.0.0/24
(public to libp2p, unreachable from anywhere else): Kubo, with
`Internal.Libp2pForceReachability = "public"`, serves its WAN DHT, and jz-node in `auto` mode
serves both tables because it listens on a public address. Skipped without root or iproute2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import netns
from conftest import JzDaemon
from jznode import JzNode
from kubo import KuboNode
from test_dht import (describe, fetch_json, parse_providers, require_routing, sha256, wait_until,
                      write_random)


def public_kubo(work_dir: Path, name: str, net: netns.PublicNetwork, i: int) -> KuboNode:
    node = KuboNode(work_dir / name, wrap=net.wrap(i))

    def edit(cfg: dict) -> None:
        cfg["Bootstrap"] = []
        cfg.setdefault("Addresses", {}).update(Swarm=[f"/ip4/{net.ip(i)}/tcp/4001"], Announce=[], NoAnnounce=[])
        cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
        cfg.setdefault("Swarm", {})["DisableNatPortMap"] = True
        cfg.setdefault("Internal", {})["Libp2pForceReachability"] = "public"

    node.update_config(edit)
    node.run()
    return node


def kubo_addr(node: KuboNode, net: netns.PublicNetwork, i: int) -> str:
    return f"/ip4/{net.ip(i)}/tcp/4001/p2p/{node.peer_id()}"


def tables(d: JzDaemon) -> dict[str, set[str]]:
    res = d.cli("stats", "dht", "--json", check=False, timeout=20)
    if res.returncode != 0:
        return {}
    return {t["Name"]: {p["ID"] for p in t.get("Peers") or []} for t in json.loads(res.stdout)}


@pytest.fixture
def public_network():
    ok, why = netns.available()
    if not ok:
        pytest.skip(why)
    with netns.PublicNetwork(3) as net:
        yield net


def test_wan_dht_between_jz_and_kubo_on_public_addresses(jz_node_bin, work_dir, public_network):
    """Kubo B (20.0.0.10) is the hub; Kubo C (20.0.0.11) and jz daemon J (20.0.0.12) know only B.
    J's WAN table admits B (its LAN table does not: the address is public); J finds C's file by
    `routing findprovs` and fetches it without --peer; C downloads a file J added, found through
    B's WAN provider records."""
    require_routing(jz_node_bin)
    net = public_network
    nodes: list = []
    try:
        b = public_kubo(work_dir, "B", net, 0)
        nodes.append(b)
        c = public_kubo(work_dir, "C", net, 1)
        nodes.append(c)
        c.connect(kubo_addr(b, net, 0))
        j = JzDaemon(JzNode(jz_node_bin, work_dir / "J", wrap=net.wrap(2)))
        j.configure()
        j.cli("config", "--json", "Addresses.Swarm", json.dumps([f"/ip4/{net.ip(2)}/tcp/4101"]))
        j.start()
        nodes.append(j)
        j.connect(kubo_addr(b, net, 0))

        seen = wait_until(lambda: b.peer_id() in tables(j).get("wan", set()), 30, 0.3)
        assert seen, f"B never joined J's WAN table: {tables(j)}\n{j.log_tail()}"
        assert b.peer_id() not in tables(j).get("lan", set()), "a public peer in the LAN table"
        assert "wan" in j.cli("stats", "dht").stdout.lower()

        # J finds and fetches what C adds.
        src = write_random(work_dir / "c.bin")
        cid = c.add_file(str(src))
        found = wait_until(lambda: [p for p in parse_providers(j.cli(
            "routing", "findprovs", cid, "-n", "1", "--json", check=False, timeout=60))
            if p["ID"] == c.peer_id()], 30, 0.5)
        assert found, f"J never found C as provider of {cid}\n{j.log_tail()}"
        assert any(a.startswith(f"/ip4/{net.ip(1)}/") for a in found[0]["Addrs"]), found
        out = work_dir / "fetched.bin"
        res = j.cli("fetch", cid, "-o", str(out), "--json", "--timeout", "60", check=False, timeout=90)
        report = fetch_json(res)
        assert sha256(out) == sha256(src), describe(res)
        assert c.peer_id() in [p["Peer"] for p in report["Providers"]], report

        # C downloads what J adds (J announces it on the WAN table, with its public address).
        src2 = write_random(work_dir / "j.bin")
        res = j.cli("add", "-Q", str(src2), check=False, timeout=60)
        assert res.returncode == 0, describe(res)
        cid2 = res.stdout.strip()
        dest = work_dir / "downloaded.bin"
        c.download(cid2, str(dest), timeout=90)
        assert sha256(dest) == sha256(src2), "C's download from J differs"
    finally:
        for n in reversed(nodes):
            if isinstance(n, JzDaemon):
                n.stop()
            else:
                n.close()
