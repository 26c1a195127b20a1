"""Hardening (issue 15): sockets that never authenticate must not keep real peers out.

300 idle TCP connections to a jz-node daemon's swarm port, opened before and kept open, must not
stop Kubo 0.22 from connecting (both directions work, at once), and the daemon drops the idle
sockets after its handshake deadline instead of holding them.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import JzDaemon
from jznode import JzNode


IDLE_SOCKETS = 300


def open_idle(port: int, count: int) -> list[socket.socket]:
    """Opens ``count`` connections and sends nothing (the daemon may reset some at once)."""
    socks = []
    for _ in range(count):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            pass
    return socks


def closed_by_peer(s: socket.socket) -> bool:
    """True once the daemon closed or reset the socket (what it wrote first, its multistream
    header, is read and dropped)."""
    s.setblocking(False)
    try:
        while True:
            if s.recv(4096) == b"":
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def test_idle_sockets_do_not_lock_out_real_peers(jz, kubo):
    d = JzDaemon(jz("jz")).start()
    node = kubo("kubo", run=True)
    socks: list[socket.socket] = []
    try:
        socks = open_idle(d.swarm_port(), IDLE_SOCKETS)
        # Kubo dials jz while 300 sockets sit idle in their handshake.
        start = time.monotonic()
        node.connect(d.dial_addr(), timeout=30)
        took = time.monotonic() - start
        assert node.peer_id() in d.peer_ids()
        assert took < 10, f"Kubo's dial took {took:.1f} s"
        d.disconnect(node.peer_id())
        # ... and jz dials Kubo, too.
        d.connect(node.dial_addr())
        assert node.peer_id() in d.peer_ids()
        # The idle sockets are dropped after the handshake deadline (a few seconds), not kept.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(closed_by_peer(s) for s in socks):
            time.sleep(0.5)
        still_open = sum(not closed_by_peer(s) for s in socks)
        assert still_open == 0, f"{still_open} idle sockets still held by the daemon"
        assert d.alive()
    finally:
        for s in socks:
            s.close()
        d.stop()


# ----- storage across processes ------------------------------------------------------------------
GC_ROUNDS = int(os.environ.get("GC_ROUNDS", "2"))


def write_random(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
    return path


def gc_loop(node: JzNode, stop: threading.Event, errors: list[str]) -> int:
    """Runs ``store gc`` again and again (its own process each time) until ``stop``."""
    runs = 0
    while not stop.is_set():
        r = node.run("store", "gc", "--json", check=False, timeout=120)
        runs += 1
        if r.returncode != 0:
            errors.append(f"store gc: {r.stderr.strip()}")
    return runs


def test_gc_in_another_process_never_removes_what_a_writer_stored(jz, tmp_path):
    """``add`` of a 16 MiB file and ``dag import`` of a CAR, each in its own process, while
    ``store gc`` runs again and again in a third: every add succeeds and its DAG is complete
    (before: "block … is not in the store" once GC swept blocks stored but not yet pinned)."""
    node = jz("offline")
    node.init()
    for round_ in range(GC_ROUNDS):
        stop = threading.Event()
        errors: list[str] = []
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            gc = pool.submit(gc_loop, node, stop, errors)
            try:
                roots = []
                for i in range(3):
                    f = write_random(tmp_path / f"r{round_}-{i}.bin", 16 << 20)
                    r = node.run("add", "-Q", str(f), check=False, timeout=300)
                    assert r.returncode == 0, f"round {round_}: add failed beside GC: {r.stderr}"
                    roots.append(r.stdout.strip())
            finally:
                stop.set()
            runs = gc.result()
        assert not errors, errors
        assert runs >= 1
        for root in roots:
            node.run("dag", "stat", root)  # every block present
        node.run("store", "verify", timeout=600)  # exits non-zero on a missing or corrupt block


def test_daemon_fetch_add_and_gc_from_three_processes(jz, kubo, tmp_path):
    """A daemon fetching a 64 MiB DAG from Kubo, an ``add`` and ``store gc`` at once, each its
    own process; then every pinned DAG and the fetched one are complete."""
    src = kubo("kubo", run=True)
    d = JzDaemon(jz("daemon")).start()
    for round_ in range(GC_ROUNDS):
        big = write_random(tmp_path / f"kubo-{round_}.bin", 64 << 20)
        cid = src.add_file(big)
        stop = threading.Event()
        errors: list[str] = []
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            gc = pool.submit(gc_loop, d.node, stop, errors)
            fetch = pool.submit(d.cli, "fetch", cid, "--peer", src.dial_addr(), "--json", check=False, timeout=300)
            try:
                f = write_random(tmp_path / f"add-{round_}.bin", 16 << 20)
                added = d.cli("add", "-Q", str(f), check=False, timeout=300)
                fetched = fetch.result()
            finally:
                stop.set()
            gc.result()
        assert added.returncode == 0, f"add beside GC: {added.stderr}"
        assert fetched.returncode == 0, f"fetch beside GC: {fetched.stderr}"
        assert not errors, errors
        for root in (added.stdout.strip(), cid):
            d.cli("dag", "stat", root)
        out = tmp_path / f"out-{round_}.bin"
        d.cli("get", cid, "-o", str(out))
        assert out.read_bytes() == big.read_bytes()
    d.cli("store", "verify", timeout=600)
    d.stop()


# ----- floods from one hostile peer --------------------------------------------------------------
def daemon_memory_kib(d: JzDaemon) -> tuple[int, int]:
    """(VmRSS, VmHWM) of the daemon process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{d.proc.pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def test_stream_and_connection_flood_leaves_the_daemon_serving_others(jz, kubo, jz_node_bin, tmp_path):
    """One peer opens 300 idle sockets, 1,000 authenticated connections and 10,000 streams at
    once; meanwhile Kubo connects and fetches from the daemon, the API answers, and the daemon
    stays under 300 MiB."""
    bench = Path(jz_node_bin).parent / "jz-bench"
    if not bench.exists():
        pytest.skip(f"{bench} not built")
    d = JzDaemon(jz("jz")).start()
    node = kubo("kubo", run=True)
    data = tmp_path / "served.bin"
    data.write_bytes(os.urandom(2 << 20))
    cid = d.cli("add", "-Q", str(data)).stdout.strip()
    flood = subprocess.Popen(
        [str(bench), "flood", "--target", d.dial_addr(), "--idle", "300", "--connections", "1000",
         "--streams", "10000", "--hold", "30", "--timeout", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = flood.stdout.readline()  # printed once everything is open; then it holds
        assert line, f"flood printed nothing: {flood.stderr.read() if flood.poll() is not None else ''}"
        report = json.loads(line)
        # The daemon refused what is beyond its limits instead of serving it.
        assert report["IdleOpened"] == 300
        assert report["ConnectionsStillOpen"] <= 16, report  # the per-peer limit (8) closes the rest
        assert report["StreamsNegotiated"] <= 600, report
        # While the flood holds everything open: Kubo connects and fetches, the API answers.
        node.connect(d.dial_addr(), timeout=30)
        out = tmp_path / "fetched.bin"
        node.download(cid, out, timeout=60)
        assert out.read_bytes() == data.read_bytes()
        assert node.peer_id() in d.peer_ids()
        rss, peak = daemon_memory_kib(d)
        assert peak < 300 * 1024, f"daemon peak memory {peak // 1024} MiB"
        print(f"flood: {report}; daemon RSS {rss // 1024} MiB, peak {peak // 1024} MiB")
    finally:
        flood.kill()
        flood.wait(10)
        d.stop()
