#!/usr/bin/env python3
"""UnixFS add/cat benchmark: jz-node against Kubo 0.22 in the same run, on the same file.

Measures (one run, 256 MiB of random bytes by default):
  * `jz-node add` (durable in its SQLite store) vs Kubo `AddFile` (flatfs + fsync)   target >= 3x
  * `jz-node add --only-hash`                                                       target >= 600 MB/s
  * `jz-node cat` of the added file to /dev/null                                     target >= 1 GB/s
  * peak RSS of `jz-node add` of a 1 GiB file                                        target < 150 MiB
Run it with the Interop venv (it starts Kubo through Interop/kubo.py):
  Interop/.venv/bin/python bench/add.py [--mib 256] [--big-mib 1024] [--bin PATH]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Interop"))
from kubo import KuboNode  # noqa: E402


def write_random(path: Path, mib: int) -> None:
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))


def timed(argv: list[str], env: dict, stdout=subprocess.PIPE) -> tuple[float, str]:
    start = time.perf_counter()
    p = subprocess.run(argv, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {p.stderr.strip()}")
    return elapsed, (p.stdout or "").strip() if stdout == subprocess.PIPE else ""


def peak_rss_mib(argv: list[str], env: dict) -> float:
    p = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {p.stderr.strip()}")
    return int(p.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--bin", default=None, help="jz-node binary (default: release build)")
    args = ap.parse_args()

    if args.bin:
        binary = args.bin
    else:
        subprocess.run(["swift", "build", "-c", "release", "--product", "jz-node"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        binpath = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT,
                                 check=True, capture_output=True, text=True).stdout.strip()
        binary = str(Path(binpath) / "jz-node")

    work = Path(tempfile.mkdtemp(prefix="jz-bench-add-", dir=os.environ.get("BENCH_DIR", "/tmp")))
    try:
        data = work / "data.bin"
        write_random(data, args.mib)
        size = data.stat().st_size
        env = dict(os.environ, JZ_PATH=str(work / "jz"))
        subprocess.run([binary, "init", "--empty-bootstrap"], env=env, check=True, stdout=subprocess.DEVNULL)

        with KuboNode(work / "kubo", timeout=600) as kubo:
            kubo.configure_loopback()
            kubo.run()
            start = time.perf_counter()
            kubo_cid = kubo.add_file(data, timeout=600)
            kubo_s = time.perf_counter() - start

        jz_s, jz_cid = timed([binary, "add", "-Q", str(data)], env)
        hash_s, hash_cid = timed([binary, "add", "-Q", "--only-hash", str(data)], env)
        cat_s, _ = timed([binary, "cat", jz_cid], env, stdout=subprocess.DEVNULL)
        if not (jz_cid == kubo_cid == hash_cid):
            sys.exit(f"CIDs differ: jz-node {jz_cid}, only-hash {hash_cid}, kubo {kubo_cid}")

        big = work / "big.bin"
        write_random(big, args.big_mib)
        rss = peak_rss_mib([binary, "add", "-Q", str(big)], env)

        mb = size / 1e6
        kubo_rate, jz_rate = mb / kubo_s, mb / jz_s
        print(f"file: {args.mib} MiB random, CID {jz_cid} (equal to Kubo's)")
        print(f"kubo AddFile            {kubo_rate:8.1f} MB/s  ({kubo_s:.2f} s)")
        print(f"jz-node add             {jz_rate:8.1f} MB/s  ({jz_s:.2f} s)   ratio {jz_rate / kubo_rate:.2f}x (target >= 3x)")
        print(f"jz-node add --only-hash {mb / hash_s:8.1f} MB/s  ({hash_s:.2f} s)   (target >= 600 MB/s)")
        print(f"jz-node cat > /dev/null {mb / cat_s:8.1f} MB/s  ({cat_s:.2f} s)   (target >= 1000 MB/s)")
        print(f"jz-node add {args.big_mib} MiB peak RSS {rss:8.1f} MiB   (target < 150 MiB)")
        sha = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", "16384", "-seconds", "2"],
                             capture_output=True, text=True).stdout.strip().splitlines()[-1].split()[-1]
        print(f"machine: openssl sha256 one core {float(sha.rstrip('k')) / 1000:.1f} MB/s, {os.cpu_count()} cores")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
