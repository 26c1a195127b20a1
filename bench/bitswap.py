#!/usr/bin/env python3
"""Bitswap benchmark (issue 6): jz-node against Kubo 0.22, all in one run, on loopback.

Four transfers of a random file (256 MiB by default), each from a peer that holds it to a peer
that does not:
  kubo<-kubo   Kubo `Download` from Kubo (the baseline)
  jz<-kubo     one-shot `jz-node fetch CID --peer KUBO -o OUT` from Kubo
  kubo<-jz     Kubo `Download` from a jz-node daemon
  jz<-jz       one-shot `jz-node fetch` from a jz-node daemon
Rates are file bytes / wall seconds of the call (Kubo's C call; the whole jz-node process, start
and dial included); every output is checked with sha256. Targets: jz<-jz >= 10x kubo<-kubo,
kubo<-jz >= kubo<-kubo, jz<-kubo >= kubo<-kubo. `--pin` adds Kubo `PinCID` (no file written)
from Kubo and from jz. `--rss`: a one-shot fetch of a 1 GiB DAG (`--big-mib`) from a jz daemon,
peak RSS of the fetching jz-node from /usr/bin/time (target < 200 MiB).

Run it with the Interop venv (Kubo comes from Interop/kubo.py):
  Interop/.venv/bin/python bench/bitswap.py [--mib 256] [--bin PATH] [--rss] [--json]
Without --bin it builds `swift build -c release --scratch-path .build-bench --product jz-node`.
When the binary has no `fetch` command (or with --kubo-only) only kubo<-kubo runs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Interop"))
from conftest import JzDaemon, jz_has_command  # noqa: E402
from jznode import JzNode  # noqa: E402
from kubo import KuboNode  # noqa: E402

MIB = 1 << 20
TIMEOUT = 900.0


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def write_random(path: Path, mib: int) -> Path:
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(MIB))
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def build_release() -> Path:
    scratch = ROOT / ".build-bench"
    log(f"building jz-node (release, {scratch}) ...")
    subprocess.run(["swift", "build", "-c", "release", "--scratch-path", str(scratch),
                    "--product", "jz-node"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    binpath = subprocess.run(["swift", "build", "-c", "release", "--scratch-path", str(scratch),
                              "--show-bin-path"], cwd=ROOT, check=True, capture_output=True,
                             text=True).stdout.strip()
    return Path(binpath) / "jz-node"


def kubo_node(work: Path, name: str) -> KuboNode:
    node = KuboNode(work / name, timeout=TIMEOUT)
    node.configure_loopback()
    node.run()
    return node


def oneshot_home(binary: Path, work: Path, name: str) -> JzNode:
    node = JzNode(binary, work / name, timeout=TIMEOUT)
    JzDaemon(node).configure()  # init + loopback-only config, no daemon
    return node


def jz_fetch(node: JzNode, cid: str, peer: str, out: Path, rss: bool = False) -> dict:
    """One-shot fetch; returns {"seconds", "json", "rss_mib"?}."""
    argv = [node.binary, "fetch", cid, "--peer", peer, "-o", str(out), "--json", "-q",
            "--timeout", str(int(TIMEOUT - 30)), "--repo-dir", str(node.home)]
    if rss:
        argv = ["/usr/bin/time", "-f", "RSS_KIB %M", *argv]
    env = dict(os.environ, JZ_PATH=str(node.home), HOME=str(node.home.parent))
    t0 = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=TIMEOUT)
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    res: dict = {"seconds": seconds}
    try:
        res["json"] = json.loads(p.stdout)
    except ValueError:
        res["json"] = None
    if rss:
        lines = [ln for ln in p.stderr.splitlines() if ln.startswith("RSS_KIB ")]
        res["rss_mib"] = int(lines[-1].split()[1]) / 1024
    return res


def kubo_get(kubo: KuboNode, how: str, cid: str, out: Path) -> float:
    t0 = time.perf_counter()
    if how == "download":
        kubo.download(cid, out, timeout=TIMEOUT)
    else:
        kubo.pin(cid, timeout=TIMEOUT)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=256, help="file size in MiB (default 256)")
    ap.add_argument("--big-mib", type=int, default=1024, help="--rss DAG size (default 1024)")
    ap.add_argument("--bin", help="jz-node binary (default: build a release one)")
    ap.add_argument("--kubo-only", action="store_true", help="only the kubo<-kubo baseline")
    ap.add_argument("--pin", action="store_true", help="also Kubo PinCID from Kubo and from jz")
    ap.add_argument("--rss", action="store_true", help="also peak RSS of a 1 GiB fetch")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()

    binary: Path | None = None
    if not args.kubo_only:
        binary = Path(args.bin).resolve() if args.bin else build_release()
        if not os.access(binary, os.X_OK):
            sys.exit(f"jz-node binary not found at {binary}")
        if "debug" in binary.parts:
            log(f"warning: {binary} is a debug build; figures are not meaningful")
        if not jz_has_command(binary, "fetch"):
            log(f"{binary} has no `fetch` command: only kubo<-kubo runs")
            binary = None

    work = Path(tempfile.mkdtemp(prefix="jz-bench-bitswap-", dir=os.environ.get("BENCH_DIR", "/tmp")))
    rates: dict[str, dict] = {}
    extra: dict = {}
    nodes: list = []
    try:
        size = args.mib * MIB
        mb = size / 1e6
        x = write_random(work / "x.bin", args.mib)   # held by Kubo
        y = write_random(work / "y.bin", args.mib)   # held by jz
        x_sha, y_sha = sha256_file(x), sha256_file(y)

        def record(name: str, seconds: float, out: Path | None, want_sha: str, **more) -> None:
            if out is not None:
                got = sha256_file(out)
                if got != want_sha:
                    raise RuntimeError(f"{name}: output sha256 {got} != {want_sha}")
            rates[name] = dict({"MBps": mb / seconds, "seconds": seconds}, **more)
            log(f"{name:14s} {mb / seconds:9.1f} MB/s  ({seconds:.2f} s)")

        k1 = kubo_node(work, "kubo1")
        nodes.append(k1)
        k2 = kubo_node(work, "kubo2")
        nodes.append(k2)
        t0 = time.perf_counter()
        x_cid = k1.add_file(x, timeout=TIMEOUT)
        extra["kubo_add_MBps"] = mb / (time.perf_counter() - t0)
        k2.connect(k1.dial_addr())
        record("kubo<-kubo", kubo_get(k2, "download", x_cid, work / "k2-x.bin"), work / "k2-x.bin",
               x_sha)
        (work / "k2-x.bin").unlink()
        if args.pin:
            k3 = kubo_node(work, "kubo3")
            nodes.append(k3)
            k3.connect(k1.dial_addr())
            record("kubo<-kubo pin", kubo_get(k3, "pin", x_cid, work / "-"), None, x_sha)

        if binary is not None:
            jz = JzDaemon(JzNode(binary, work / "jz-provider", timeout=TIMEOUT))
            nodes.append(jz)
            jz.start()
            t0 = time.perf_counter()
            y_cid = jz.cli("add", "-Q", str(y), timeout=TIMEOUT).stdout.strip()
            extra["jz_add_MBps"] = mb / (time.perf_counter() - t0)

            home = oneshot_home(binary, work, "jz-from-kubo")
            r = jz_fetch(home, x_cid, k1.dial_addr(), work / "jz-x.bin")
            record("jz<-kubo", r["seconds"], work / "jz-x.bin", x_sha, fetch=r["json"])
            (work / "jz-x.bin").unlink()

            k2.connect(jz.dial_addr())
            record("kubo<-jz", kubo_get(k2, "download", y_cid, work / "k2-y.bin"),
                   work / "k2-y.bin", y_sha)
            (work / "k2-y.bin").unlink()
            if args.pin:
                k3.connect(jz.dial_addr())
                record("kubo<-jz pin", kubo_get(k3, "pin", y_cid, work / "-"), None, y_sha)

            home = oneshot_home(binary, work, "jz-from-jz")
            r = jz_fetch(home, y_cid, jz.dial_addr(), work / "jz-y.bin")
            record("jz<-jz", r["seconds"], work / "jz-y.bin", y_sha, fetch=r["json"])
            (work / "jz-y.bin").unlink()

            if args.rss:
                big = write_random(work / "big.bin", args.big_mib)
                big_sha = sha256_file(big)
                big_cid = jz.cli("add", "-Q", str(big), timeout=TIMEOUT).stdout.strip()
                home = oneshot_home(binary, work, "jz-rss")
                r = jz_fetch(home, big_cid, jz.dial_addr(), work / "jz-big.bin", rss=True)
                if sha256_file(work / "jz-big.bin") != big_sha:
                    raise RuntimeError("rss fetch: output differs")
                extra["rss"] = {"mib": args.big_mib, "peak_rss_mib": r["rss_mib"],
                                "MBps": args.big_mib * MIB / 1e6 / r["seconds"],
                                "target_mib": 200, "ok": r["rss_mib"] < 200}
                log(f"jz fetch {args.big_mib} MiB peak RSS {r['rss_mib']:.1f} MiB (target < 200)")
    finally:
        for n in reversed(nodes):
            try:
                n.stop() if isinstance(n, JzDaemon) else n.close()
            except Exception as e:  # keep tearing down
                log(f"teardown: {e}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    base = rates["kubo<-kubo"]["MBps"]
    targets = {"jz<-jz": 10.0, "kubo<-jz": 1.0, "jz<-kubo": 1.0}
    ratios = {k: v["MBps"] / base for k, v in rates.items() if k != "kubo<-kubo"}
    report = {"mib": args.mib, "binary": str(binary) if binary else None, "rates": rates,
              "ratios_vs_kubo_kubo": ratios,
              "targets": {k: {"ratio": t, "ok": (ratios[k] >= t) if k in ratios else None}
                          for k, t in targets.items()}, **extra}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"file: {args.mib} MiB random, loopback, one run")
        for k, v in rates.items():
            line = f"{k:14s} {v['MBps']:9.1f} MB/s  ({v['seconds']:.2f} s)"
            if k in ratios:
                line += f"   {ratios[k]:.2f}x kubo<-kubo"
                if k in targets:
                    ok = ratios[k] >= targets[k]
                    line += f" (target >= {targets[k]:g}x: {'ok' if ok else 'MISSED'})"
            print(line)
        if "rss" in extra:
            r = extra["rss"]
            print(f"jz fetch {r['mib']} MiB peak RSS {r['peak_rss_mib']:.1f} MiB "
                  f"(target < 200 MiB: {'ok' if r['ok'] else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
