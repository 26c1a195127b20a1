#!/usr/bin/env python3
"""Versioning measurements (issue 4), one run, release build:
  * dedup: commit a 1 GiB folder of 1,000 files, change one file, commit again:
    the store must grow by less than 2 MiB plus the changed file;
  * diff cost: two commits of a 100,000-file tree differing in one file: `diff` must read
    fewer than 100 blocks and answer in under a second;
  * refs are crash-safe: `commit` killed with SIGKILL at random moments leaves the branch at the
    old or the new commit, and `store verify` passes.
  python3 bench/versioning.py [--bin PATH] [--files 1000] [--file-mib 1] [--tree 100000] [--kills 10]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--file-mib", type=int, default=1)
    ap.add_argument("--tree", type=int, default=100_000)
    ap.add_argument("--kills", type=int, default=10)
    args = ap.parse_args()
    if args.bin:
        binary = args.bin
    else:
        subprocess.run(["swift", "build", "-c", "release", "--product", "jz-node"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        binary = str(Path(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT,
                                         check=True, capture_output=True, text=True).stdout.strip()) / "jz-node")
    work = Path(tempfile.mkdtemp(prefix="jz-bench-vcs-"))
    env = dict(os.environ, JZ_PATH=str(work / "home"))

    def jz(*a: str, check: bool = True) -> str:
        p = subprocess.run([binary, *a], env=env, capture_output=True, text=True)
        if check and p.returncode != 0:
            sys.exit(f"jz-node {' '.join(a)} failed: {p.stderr.strip()}")
        return p.stdout

    def block_bytes() -> int:
        return json.loads(jz("store", "stat", "--json"))["BlockBytes"]

    try:
        jz("init", "--empty-bootstrap")
        jz("repo", "create", "big")
        # --- dedup
        ds = work / "ds"
        ds.mkdir()
        size = args.file_mib << 20
        for i in range(args.files):
            (ds / f"part-{i:04d}.bin").write_bytes(os.urandom(size))
        t = time.perf_counter()
        jz("commit", "big", str(ds), "-m", "v1")
        commit_s = time.perf_counter() - t
        before = block_bytes()
        changed = ds / "part-0500.bin"
        changed.write_bytes(os.urandom(size))
        jz("commit", "big", str(ds), "-m", "v2")
        growth = block_bytes() - before
        limit = (2 << 20) + size
        print(f"dedup: {args.files} files x {args.file_mib} MiB committed in {commit_s:.1f} s; "
              f"one file changed -> store grew {growth / 2**20:.3f} MiB (limit {limit / 2**20:.1f} MiB) "
              f"{'OK' if growth < limit else 'FAIL'}")
        # --- diff cost
        jz("repo", "create", "wide")
        tree = work / "tree"
        per_dir = 1000
        for i in range(args.tree):
            d = tree / f"d{i // per_dir:03d}"
            if i % per_dir == 0:
                d.mkdir(parents=True)
            (d / f"f{i:06d}.txt").write_text(f"row {i}\n")
        jz("commit", "wide", str(tree), "-m", "t1")
        (tree / "d042" / "f042042.txt").write_text("changed\n")
        jz("commit", "wide", str(tree), "-m", "t2")
        t = time.perf_counter()
        out = json.loads(jz("diff", "wide@main~1", "wide@main", "--json"))
        diff_s = time.perf_counter() - t
        blocks = out["BlocksRead"]
        ok = blocks < 100 and diff_s < 1.0 and len(out["Changes"]) == 1
        print(f"diff: {args.tree} files, one changed -> {len(out['Changes'])} change, {blocks} blocks read, "
              f"{diff_s * 1000:.0f} ms (process included) {'OK' if ok else 'FAIL'}")
        # --- crash safety of refs
        heads = set()
        for k in range(args.kills):
            old = jz("log", "big", "-n", "1", "--oneline").split()[0]
            (ds / f"part-{k:04d}.bin").write_bytes(os.urandom(size))
            p = subprocess.Popen([binary, "commit", "big", str(ds), "-m", f"k{k}"], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            time.sleep(random.uniform(0.05, commit_s * 1.3))  # some kills land after the ref moved
            p.send_signal(signal.SIGKILL)
            out_text, _ = p.communicate()
            new = jz("log", "big", "-n", "1", "--oneline").split()[0]
            parents = json.loads(jz("show", f"big@{new}", "--json"))["Parents"]
            if new != old and parents != [old]:
                sys.exit(f"crash {k}: branch at {new}, neither old {old} nor a child of it")
            if jz("store", "verify", check=False).find("all good") < 0:
                sys.exit(f"crash {k}: store verify failed")
            heads.add("moved" if new != old else "unchanged")
        print(f"refs: {args.kills} commits killed with SIGKILL -> branch always at old or new "
              f"({', '.join(sorted(heads))}); store verify clean OK")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
