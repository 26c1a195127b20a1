"""Sites that fail and heal (issue 15): a versioned dataset replicated between jz-node sites in
network namespaces while links fail, a daemon is killed and a hostile peer attacks.

Every site is a jz-node daemon in its own namespace (``netns.PublicNetwork``: one veth link per
site to a bridge, rate-limited with ``tc tbf``), with an empty bootstrap list; the sites are
joined by ``swarm connect``. One more namespace holds the hostile peer (``netadversary.py
hostile``: a Bitswap liar answering every want with a bad block, plus rounds of garbled Noise
frames, oversized yamux frames and yamux stream floods; and ``jz-bench flood`` when built).

1. Site A commits a dataset to repository ``r`` and publishes it (``publish --auto``); the other
   sites clone it by name at once. Link failure 1: B's link goes down mid-clone and comes back.
   A clone that failed is resumed with ``pull`` (bounded retries); then every site follows A
   (``remote follow``, ``Versioning.FollowInterval``).
2. A rewrites part of the files, adds some, removes one and commits: the daemons pull by
   themselves. Mid-transfer (by the bytes crossing each site's link): C's link goes down and
   comes back, D's daemon is killed with SIGKILL (its refs are checked offline: never at an
   incomplete commit), restarted and re-joined, then A's own link goes down and comes back.
3. Once the last link is back, every site must reach A's head (time to converge after the
   last heal). Then, daemons stopped: ``store verify`` is clean on every site, every branch and
   remote-tracking ref points at a complete DAG (``dag stat`` offline) and a checkout of
   ``r@main`` equals A's folder byte for byte.

Printed: dataset size, failures injected, converge time after the last heal, peak memory
(VmHWM, sampled from /proc) per daemon, bad blocks the sites rejected, wall time.

    python Interop/sites_scenario.py --sites 4 --mib 200          # by hand (root)
    bash scripts/sites-scenario.sh --full                          # the same, full size

``Interop/test_sites.py`` runs the short form in CI through ``run_scenario``.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import netns  # noqa: E402
from conftest import JzDaemon  # noqa: E402
from jznode import JzNode, JzNodeError  # noqa: E402
from test_sync import make_dataset, same_tree, wait_for  # noqa: E402

SWARM_PORT = 4001
REPO = "r"


@dataclass
class ScenarioConfig:
    binary: Path
    work: Path
    sites: int = 4
    mib: float = 12.0
    file_kib: int = 256
    change: float = 0.3           # fraction of the files rewritten by the second commit
    rate_mbit: float = 40.0       # tc tbf rate of every site's link, each direction
    down_seconds: float = 3.0     # how long each link failure lasts
    link_failures: int = 3
    kill: bool = True
    hostile: bool = True
    flood_streams: int = 1000     # yamux SYNs per flood round of the hostile peer
    bench_flood: bool = True      # also `jz-bench flood` from the hostile namespace
    follow_interval: str = "1s"
    allow_redial: bool = False    # converging only after the mesh is dialed again is not a failure
    step_timeout: float = 300.0   # bound of every wait for a transfer
    converge_timeout: float = 300.0

    @property
    def files(self) -> int:
        return max(10, int(self.mib * 1024 / self.file_kib))


@dataclass
class Report:
    sites: int = 0
    dataset_mib: float = 0.0
    change_mib: float = 0.0
    files: int = 0
    link_failures: list = field(default_factory=list)
    kills: list = field(default_factory=list)
    hostile: dict = field(default_factory=dict)
    clone_retries: dict = field(default_factory=dict)
    converge_seconds: float | None = None
    redialed_mesh: bool = False   # the sites had to be dialed again to converge
    heads: dict = field(default_factory=dict)
    peak_rss_mib: dict = field(default_factory=dict)
    bad_blocks_rejected: dict = field(default_factory=dict)
    verify: dict = field(default_factory=dict)
    dags: dict = field(default_factory=dict)
    checkouts_equal: dict = field(default_factory=dict)
    crashes: list = field(default_factory=list)
    wall_seconds: float = 0.0
    ok: bool = False
    failures: list = field(default_factory=list)


def log(msg: str) -> None:
    print(f"[sites {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Site:
    """One jz-node daemon in namespace ``index`` of ``net``, swarm on ``IP:4001``."""

    def __init__(self, name: str, index: int, net: netns.PublicNetwork, cfg: ScenarioConfig):
        self.name, self.index, self.net = name, index, net
        self.ip = net.ip(index)
        self.node = JzNode(cfg.binary, cfg.work / name, timeout=120, wrap=net.wrap(index))
        self.daemon = JzDaemon(self.node, start_timeout=120)
        self.cfg = cfg
        self.peak_kib: list[int] = []   # VmHWM of each incarnation of the daemon
        self.killed_on_purpose = False  # the sampler does not count this exit as a crash

    def cli(self, *args: str, check: bool = True, timeout: float | None = None):
        return self.node.run(*args, check=check, timeout=timeout)

    def configure(self) -> None:
        self.daemon.configure()
        self.cli("config", "--json", "Addresses.Swarm", json.dumps([f"/ip4/{self.ip}/tcp/{SWARM_PORT}"]))
        self.cli("config", "--json", "Versioning.FollowInterval", json.dumps(self.cfg.follow_interval))

    def start(self) -> None:
        self.daemon.start()
        self.peak_kib.append(0)

    @property
    def pid(self) -> int | None:
        return self.daemon.proc.pid if self.daemon.alive() else None

    def sample_memory(self) -> None:
        pid = self.pid
        if pid is None:
            return
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kib[-1] = max(self.peak_kib[-1], int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            pass

    def addr(self) -> str:
        return f"/ip4/{self.ip}/tcp/{SWARM_PORT}/p2p/{self.daemon.peer_id}"

    def spawn(self, *args: str) -> subprocess.Popen:
        argv = [*self.node.wrap, self.node.binary, *args, "--repo-dir", str(self.node.home)]
        env = dict(os.environ, JZ_PATH=str(self.node.home), HOME=str(self.node.home.parent))
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def head(self, ref: str = REPO) -> str | None:
        r = self.cli("log", ref, "--oneline", "-n", "1", check=False, timeout=60)
        return r.stdout.split()[0] if r.returncode == 0 and r.stdout.strip() else None

    def received(self) -> int:
        return self.net.counters(self.index)[0]


class Scenario:
    def __init__(self, cfg: ScenarioConfig):
        self.cfg = cfg
        self.report = Report(sites=cfg.sites)
        self.sites: list[Site] = []
        self.hostile_proc: subprocess.Popen | None = None
        self.bench_proc: subprocess.Popen | None = None
        self._sampling = threading.Event()
        self._lock = threading.Lock()
        self.last_heal = 0.0

    # ----- helpers ------------------------------------------------------------------------
    def sampler(self) -> None:
        while not self._sampling.wait(0.25):
            for s in self.sites:
                s.sample_memory()
                if s.daemon.proc is not None and s.daemon.proc.poll() is not None \
                        and not s.killed_on_purpose:
                    msg = f"{s.name}: daemon exited with {s.daemon.proc.returncode}"
                    if msg not in self.report.crashes:
                        self.report.crashes.append(msg)

    def connect_mesh(self, only: Site | None = None) -> None:
        """``swarm connect`` every pair (or ``only`` to every other site); a pair already
        connected is a no-op."""
        for s in self.sites:
            for t in self.sites:
                if t.index >= s.index and only is None:
                    continue
                if only is not None and (s is not only or t is only):
                    continue
                for _ in range(3):
                    if s.cli("swarm", "connect", t.addr(), check=False, timeout=60).returncode == 0:
                        break
                    time.sleep(0.5)

    def link_failure(self, site: Site, reason: str, watched: Site, target: str) -> None:
        """Takes ``site``'s link down for ``down_seconds`` (a deliberate outage: the sleep is
        its length), brings it back and records it, with whether ``watched`` was still short
        of ``target`` (mid-transfer) when the link went down."""
        t0 = time.monotonic()
        self.net.set_link(site.index, False)
        log(f"link of {site.name} DOWN ({reason})")
        head = watched.head(f"{REPO}@origin/main")  # through its daemon, over loopback
        time.sleep(max(0.0, self.cfg.down_seconds - (time.monotonic() - t0)))
        self.net.set_link(site.index, True)
        with self._lock:
            self.last_heal = max(self.last_heal, time.monotonic())
        log(f"link of {site.name} UP after {time.monotonic() - t0:.1f} s")
        self.report.link_failures.append({"site": site.name, "when": reason, "mid_transfer": head != target,
                                          "down_seconds": round(time.monotonic() - t0, 2)})

    def wait_received(self, site: Site, base: int, nbytes: int, what: str) -> bool:
        """Waits (bounded) until ``nbytes`` more crossed into ``site``; False on timeout."""
        try:
            wait_for(lambda: site.received() - base >= nbytes, self.cfg.step_timeout, what, step=0.02)
            return True
        except AssertionError:
            log(f"timed out waiting for {what}")
            return False

    # ----- phases -------------------------------------------------------------------------
    def setup(self, net: netns.PublicNetwork) -> None:
        self.net = net
        cfg = self.cfg
        for i in range(cfg.sites + 1):
            net.shape(i, cfg.rate_mbit)
        self.sites = [Site(f"site-{chr(97 + i)}", i, net, cfg) for i in range(cfg.sites)]
        errors: list[BaseException] = []

        def boot(s: Site) -> None:
            try:
                s.configure()
                s.start()
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=boot, args=(s,)) for s in self.sites]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        if errors:
            raise errors[0]
        threading.Thread(target=self.sampler, daemon=True).start()
        self.connect_mesh()
        log(f"{cfg.sites} daemons up, links {cfg.rate_mbit} Mbit/s: " +
            ", ".join(f"{s.name} {s.ip}" for s in self.sites))

    def start_hostile(self) -> None:
        cfg = self.cfg
        h = cfg.sites  # the extra namespace
        argv = [*self.net.wrap(h), sys.executable, str(HERE / "netadversary.py"), "hostile",
                "--flood", str(cfg.flood_streams), "--duration", str(cfg.step_timeout * 4),
                "--max-rounds", "400"]
        for s in self.sites:
            argv += ["--target", f"{s.ip}:{SWARM_PORT}:{s.daemon.peer_id}"]
        self.hostile_proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.hostile_proc.stdout.readline() if self.hostile_proc.stdout else ""
        if "running" not in line:
            raise RuntimeError(f"hostile peer did not start: {line} {self.hostile_proc.stderr.read()}")
        log(f"hostile peer at {self.net.ip(h)}: bad blocks, garbage, oversized frames, stream floods")

    def start_bench_flood(self, target: Site) -> None:
        bench = Path(self.cfg.binary).parent / "jz-bench"
        if not (self.cfg.hostile and self.cfg.bench_flood and os.access(bench, os.X_OK)):
            return
        argv = [*self.net.wrap(self.cfg.sites), str(bench), "flood", "--target", target.addr(),
                "--idle", "100", "--connections", "50", "--streams", "2000", "--hold", "5", "--timeout", "60"]
        self.bench_proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        log(f"jz-bench flood against {target.name}")

    def stop_hostile(self) -> None:
        if self.hostile_proc is not None and self.hostile_proc.poll() is None:
            self.hostile_proc.send_signal(signal.SIGTERM)
            try:
                out, err = self.hostile_proc.communicate(timeout=60)
                lines = [ln for ln in out.splitlines() if ln.startswith("{")]
                raw = json.loads(lines[-1]) if lines else {"error": err[-2000:]}
            except (subprocess.TimeoutExpired, json.JSONDecodeError) as e:
                self.hostile_proc.kill()
                raw = {"error": f"{type(e).__name__}"}
            liars = raw.get("liars", [])
            rounds = raw.get("rounds", [])
            self.report.hostile = {
                "bad_blocks_sent": sum(x.get("bad_blocks", 0) for x in liars),
                "wants_seen": sum(x.get("wants", 0) for x in liars),
                "liar_dials": sum(x.get("dials", 0) for x in liars),
                "liar_connections_closed_by_sites": sum(x.get("closed", 0) for x in liars),
                "attack_sets": len(rounds),  # garbage + oversized + flood against one site
                "garbage_closed": sum(1 for r in rounds if r.get("garbage", {}).get("closed")),
                "oversized_closed": sum(1 for r in rounds if r.get("oversized", {}).get("closed")
                                        or r.get("oversized", {}).get("goaway") is not None),
                "flood_syns_sent": sum(r.get("flood", {}).get("sent", 0) for r in rounds),
                "flood_resets": sum(r.get("flood", {}).get("reset", 0) for r in rounds),
            }
            if "error" in raw:
                self.report.hostile["error"] = raw["error"]
        if self.bench_proc is not None:
            try:
                out, _ = self.bench_proc.communicate(timeout=90)
                self.report.hostile["jz_bench_flood"] = json.loads(out.strip().splitlines()[0])
            except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError) as e:
                self.bench_proc.kill()
                self.report.hostile["jz_bench_flood"] = {"error": type(e).__name__}

    def replicate(self, site: Site, name: str, want: str, attempts: int = 10) -> int:
        """Makes ``site`` hold ``want`` at origin/main: resumes a failed clone with ``pull`` (a
        clone that stops keeps the repository and its remote). Returns the retries used."""
        for attempt in range(attempts):
            if site.head(f"{REPO}@origin/main") == want:
                return attempt
            has_repo = site.cli("remote", "list", REPO, "--json", check=False, timeout=60).returncode == 0
            args = ("pull", REPO, "--json") if has_repo else ("clone", name, "--json")
            r = site.cli(*args, check=False, timeout=self.cfg.step_timeout)
            if r.returncode != 0:
                log(f"{site.name}: {args[0]} failed ({r.stderr.strip()[:200]}); again")
                time.sleep(1)
        raise AssertionError(f"{site.name} never got {want} after {attempts} attempts")

    def first_version(self, data: Path) -> tuple[str, str]:
        cfg = self.cfg
        a = self.sites[0]
        make_dataset(data, cfg.files, cfg.file_kib)
        self.report.files = cfg.files
        self.report.dataset_mib = round(cfg.files * cfg.file_kib / 1024, 1)
        a.cli("repo", "create", REPO)
        v1 = a.cli("commit", REPO, str(data), "-m", "first", timeout=600).stdout.strip()
        name = a.cli("publish", REPO, "--auto", "--json", timeout=120).json()["Name"]
        log(f"A committed {self.report.dataset_mib} MiB in {cfg.files} files ({v1}), published {name}")
        if cfg.hostile:
            self.start_hostile()
        total = cfg.files * cfg.file_kib * 1024
        clones = {s.name: s.spawn("clone", name, "--json") for s in self.sites[1:]}
        b = self.sites[1]
        base = b.received()
        if cfg.link_failures >= 1 and self.wait_received(b, base, total // 4, "B's clone to be a quarter done"):
            self.link_failure(b, "B mid-clone", b, v1)
        for s in self.sites[1:]:
            p = clones[s.name]
            try:
                _, err = p.communicate(timeout=cfg.step_timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
            if p.returncode != 0:
                log(f"{s.name}: clone exited {p.returncode}: {err.strip()[:300]}")
        for s in self.sites[1:]:
            self.report.clone_retries[s.name] = self.replicate(s, name, v1)
            s.cli("remote", "follow", REPO, "origin", timeout=60)
        log(f"every site holds v1 (retries {self.report.clone_retries}); all follow A")
        return name, v1

    def second_version(self, data: Path) -> str:
        """A's second commit, replicated by the followers while links fail and D is killed."""
        cfg = self.cfg
        a = self.sites[0]
        files = sorted(p for p in data.rglob("*.bin"))
        changed = files[::max(1, round(1 / cfg.change))] if cfg.change > 0 else []
        for p in changed:
            p.write_bytes(os.urandom(cfg.file_kib * 1024))
        extra = max(1, len(files) // 10)
        (data / "added").mkdir(exist_ok=True)
        for i in range(extra):
            (data / "added" / f"new{i:04d}.bin").write_bytes(os.urandom(cfg.file_kib * 1024))
        files[-1].unlink()
        change_bytes = (len(changed) + extra) * cfg.file_kib * 1024
        self.report.change_mib = round(change_bytes / 2**20, 1)
        bases = {s.name: s.received() for s in self.sites}
        v2 = a.cli("commit", REPO, str(data), "-m", "second: part rewritten, files added, one removed",
                   timeout=600).stdout.strip()
        log(f"A committed v2 ({v2}): {len(changed)} files rewritten, {extra} added, 1 removed "
            f"({self.report.change_mib} MiB new)")
        if len(self.sites) > 1:
            self.start_bench_flood(self.sites[1])

        events: list[threading.Thread] = []
        errors: list[BaseException] = []

        def guarded(fn, *args):
            def run():
                try:
                    fn(*args)
                except BaseException as e:  # reported by the caller
                    errors.append(e)
            t = threading.Thread(target=run)
            events.append(t)
            t.start()

        def fail_link(victim: Site, watched: Site, fraction: float) -> None:
            self.wait_received(watched, bases[watched.name], int(change_bytes * fraction),
                               f"{watched.name} to receive {fraction:.0%} of the change")
            self.link_failure(victim, f"{watched.name} mid-pull of v2", watched, v2)

        # Link failures 2.. : C's own link, then A's (the source) while B pulls, then round-robin.
        plan = []
        for k in range(1, cfg.link_failures):
            victim = self.sites[[2, 0, 1][(k - 1) % 3] % len(self.sites)]
            watched = victim if victim.index != 0 else self.sites[1]
            plan.append((victim, watched, [0.1, 0.5, 0.3][(k - 1) % 3]))
        for victim, watched, fraction in plan:
            guarded(fail_link, victim, watched, fraction)
        if cfg.kill and len(self.sites) > 1:
            guarded(self.kill_mid_pull, self.sites[min(3, len(self.sites) - 1)], bases, change_bytes, v2)
        for t in events:
            t.join(cfg.step_timeout + 120)
        if errors:
            raise errors[0]
        return v2

    def kill_mid_pull(self, site: Site, bases: dict, change_bytes: int, v2: str) -> None:
        self.wait_received(site, bases[site.name], int(change_bytes * 0.15),
                           f"{site.name} to receive 15% of the change")
        site.killed_on_purpose = True
        site.sample_memory()
        site.daemon.kill()
        before = site.head(f"{REPO}@origin/main")   # offline: the daemon is gone
        main = site.head()
        mid = before != v2
        log(f"{site.name}'s daemon KILLED (SIGKILL) {'mid-pull' if mid else 'after its pull'}: "
            f"origin/main {before}, main {main}")
        ok_refs = before is not None and main is not None
        site.start()
        site.killed_on_purpose = False
        self.connect_mesh(only=site)
        with self._lock:
            self.last_heal = max(self.last_heal, time.monotonic())
        self.report.kills.append({"site": site.name, "mid_pull": mid, "refs_readable_after_kill": ok_refs,
                                  "origin_main_after_kill": before})
        log(f"{site.name}'s daemon restarted and re-joined")

    def converge(self, v2: str) -> None:
        cfg = self.cfg
        start = self.last_heal or time.monotonic()
        redialed = False

        def all_at_head() -> bool:
            nonlocal redialed
            heads = {s.name: s.head() for s in self.sites}
            self.report.heads = heads
            if not redialed and time.monotonic() - start > 20:
                # Still apart 20 s after the heal: dial the mesh again (as a peering list would).
                log(f"not converged 20 s after the last heal ({heads}); dialing the mesh again")
                self.connect_mesh()
                redialed = True
            return all(h == v2 for h in heads.values())

        try:
            wait_for(all_at_head, cfg.converge_timeout, "every site at A's head", step=0.3)
        finally:
            self.report.heads = {s.name: s.head() for s in self.sites}
        self.report.converge_seconds = round(time.monotonic() - start, 2)
        self.report.redialed_mesh = redialed
        log(f"all {len(self.sites)} sites at {v2}, {self.report.converge_seconds} s after the last heal")

    def check(self, data: Path, v2: str) -> None:
        for s in self.sites:
            r = s.cli("bitswap", "stat", "--json", check=False, timeout=60)
            if r.returncode == 0:
                self.report.bad_blocks_rejected[s.name] = r.json().get("BadBlocksReceived")
        self.stop_hostile()
        for s in self.sites:
            s.sample_memory()
        self._sampling.set()
        for s in self.sites:
            code = s.daemon.stop(60)
            if code not in (0, None) and code != -signal.SIGINT:
                self.report.crashes.append(f"{s.name}: daemon exited {code} on SIGINT")
            self.report.peak_rss_mib[s.name] = [round(k / 1024, 1) for k in s.peak_kib]
        # Offline from here: nothing can be fetched, so an incomplete DAG fails.
        for s in self.sites:
            v = s.cli("store", "verify", "--json", check=False, timeout=1800)
            self.report.verify[s.name] = v.returncode == 0 and json.loads(v.stdout or "{}").get("OK") is True
            refs = dict(s.cli("branch", "list", REPO, "--json", timeout=60).json())
            if s.index > 0:
                for ref in s.cli("remote", "show", REPO, "origin", "--json", timeout=60).json().get("Refs", []):
                    refs[f"origin/{ref['Name']}"] = s.head(f"{REPO}@origin/{ref['Name']}")
            dags = {}
            for ref, cid in refs.items():
                st = s.cli("dag", "stat", "--json", cid, check=False, timeout=600)
                dags[ref] = st.json()["DagStats"][0]["NumBlocks"] if st.returncode == 0 else f"INCOMPLETE: {st.stderr.strip()[:200]}"
            self.report.dags[s.name] = dags
            out = self.cfg.work / f"checkout-{s.name}"
            s.cli("checkout", f"{REPO}@main", str(out), timeout=1800)
            self.report.checkouts_equal[s.name] = same_tree(out, data)
        r = self.report
        problems = [f"{n}: store verify failed" for n, ok in r.verify.items() if not ok]
        problems += [f"{n} {ref}: {v}" for n, d in r.dags.items() for ref, v in d.items() if not isinstance(v, int)]
        problems += [f"{n}: checkout differs from A's folder" for n, ok in r.checkouts_equal.items() if not ok]
        problems += [f"{n}: head {h} is not {v2}" for n, h in r.heads.items() if h != v2]
        problems += r.crashes
        if r.redialed_mesh and not self.cfg.allow_redial:
            problems.append("the sites converged only after the scenario dialed the mesh again")
        if self.cfg.hostile and not any((v or 0) > 0 for v in r.bad_blocks_rejected.values()):
            problems.append("the hostile peer's bad blocks never reached a site (no BadBlocksReceived)")
        r.failures = problems
        r.ok = not problems

    def run(self) -> Report:
        t0 = time.monotonic()
        data = self.cfg.work / "dataset"
        with netns.PublicNetwork(self.cfg.sites + 1) as net:
            try:
                self.setup(net)
                name, _ = self.first_version(data)
                v2 = self.second_version(data)
                self.converge(v2)
                self.check(data, v2)
            finally:
                self._sampling.set()
                if self.hostile_proc is not None and self.hostile_proc.poll() is None:
                    self.hostile_proc.kill()
                if self.bench_proc is not None and self.bench_proc.poll() is None:
                    self.bench_proc.kill()
                for s in self.sites:
                    s.daemon.kill()
                self.report.wall_seconds = round(time.monotonic() - t0, 1)
        return self.report


def run_scenario(cfg: ScenarioConfig) -> Report:
    """Builds the network, runs the scenario, removes the network (also on failure)."""
    ok, why = netns.available()
    if not ok:
        raise RuntimeError(f"network namespaces unavailable: {why}")
    cfg.work.mkdir(parents=True, exist_ok=True)
    return Scenario(cfg).run()


def summary(r: Report) -> str:
    lines = [
        f"sites: {r.sites} + 1 hostile peer; dataset {r.dataset_mib} MiB in {r.files} files, "
        f"second commit {r.change_mib} MiB new",
        f"failures injected: {len(r.link_failures)} link failures "
        f"({sum(f['mid_transfer'] for f in r.link_failures)} mid-transfer), {len(r.kills)} SIGKILL "
        f"({sum(k['mid_pull'] for k in r.kills)} mid-pull), "
        f"hostile peer: {r.hostile.get('bad_blocks_sent', 0)} bad blocks sent, "
        f"{r.hostile.get('attack_sets', 0)} attack sets (garbage, oversized frame, flood) on sites, {r.hostile.get('flood_syns_sent', 0)} flood SYNs",
        f"converged {r.converge_seconds} s after the last heal"
        f"{' (after dialing the mesh again)' if r.redialed_mesh else ''}; wall time {r.wall_seconds} s",
        "peak memory (VmHWM, MiB, per daemon incarnation): " +
        ", ".join(f"{n} {v}" for n, v in r.peak_rss_mib.items()),
        f"bad blocks rejected per site: {r.bad_blocks_rejected}",
        f"store verify: {r.verify}; checkouts equal: {r.checkouts_equal}",
        "RESULT: " + ("OK" if r.ok else "FAILED: " + "; ".join(r.failures)),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--full", action="store_true", help="full size: 4 sites, 200 MiB, 1 MiB files, 100 Mbit/s, 8 s outages")
    ap.add_argument("--sites", type=int)
    ap.add_argument("--mib", type=float)
    ap.add_argument("--file-kib", type=int)
    ap.add_argument("--change", type=float)
    ap.add_argument("--rate-mbit", type=float)
    ap.add_argument("--down-seconds", type=float)
    ap.add_argument("--link-failures", type=int)
    ap.add_argument("--no-kill", action="store_true")
    ap.add_argument("--no-hostile", action="store_true")
    ap.add_argument("--flood-streams", type=int)
    ap.add_argument("--allow-redial", action="store_true",
                    help="do not fail when the sites converge only after the mesh is dialed again")
    ap.add_argument("--work", type=Path, default=HERE / ".work" / "sites-scenario")
    ap.add_argument("--json", action="store_true", help="print the report as JSON too")
    args = ap.parse_args(argv)
    binary = Path(os.environ.get("JZ_NODE_BIN") or HERE.parent / ".build/debug/jz-node").resolve()
    cfg = ScenarioConfig(binary=binary, work=args.work)
    if args.full:
        cfg.mib, cfg.file_kib, cfg.rate_mbit, cfg.down_seconds, cfg.flood_streams = 200, 1024, 100, 8, 3000
        cfg.step_timeout, cfg.converge_timeout = 900, 900
    for key in ("sites", "mib", "file_kib", "change", "rate_mbit", "down_seconds", "link_failures", "flood_streams"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    cfg.kill, cfg.hostile, cfg.allow_redial = not args.no_kill, not args.no_hostile, args.allow_redial
    if cfg.sites < 2:
        ap.error("at least 2 sites")
    import shutil
    shutil.rmtree(cfg.work, ignore_errors=True)

    def terminate(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)
    report = run_scenario(cfg)
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    print(summary(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
