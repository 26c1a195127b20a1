#!/usr/bin/env python3
"""libp2p networking benchmark: a thin wrapper around `jz-bench net` (release build).

`jz-bench net` runs two LibP2PHosts in one process on 127.0.0.1 (real TCP) and measures
single-stream throughput over noise+yamux, tls+yamux, noise+mplex, 64 parallel noise+yamux streams,
raw loopback TCP (POSIX sockets, the baseline) and jz's TCPTransport alone, in the same run
(512 MiB per case, best of 3 runs; MB/s, % of raw TCP, process CPU %). Diagnostic cases
(noise-only, tls-only, yamux-only, mplex-only, noise+yamux-nohost, tls+mplex, tls+yamux-xN) are
chosen with `--cases`. This script finds the binary, runs it under a time limit and prints its table
unchanged; extra arguments go to `jz-bench net` (e.g. `-- --mib 256 --json`).

  python3 bench/net.py [--bin PATH] [--timeout SECONDS] [-- jz-bench net args...]

Binary: --bin, else $JZ_BENCH_BIN, else the newer of .build/release/jz-bench and
.build-bench/release/jz-bench (build it first with `swift build -c release --product jz-bench`),
else .build/debug/jz-bench
(slow: numbers not meaningful). Exit code: jz-bench's (1 when a case failed), or 2 when the binary
or its `net` mode is missing.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def find_binary(explicit: str | None) -> Path | None:
    for c in (explicit, os.environ.get("JZ_BENCH_BIN")):
        if c and os.access(c, os.X_OK):
            return Path(c)
    # Of the release builds, the newest (a stale one in another scratch folder must not win).
    release = [p for p in (ROOT / ".build/release/jz-bench", ROOT / ".build-bench/release/jz-bench")
               if os.access(p, os.X_OK)]
    if release:
        return max(release, key=lambda p: p.stat().st_mtime)
    debug = ROOT / ".build/debug/jz-bench"
    return debug if os.access(debug, os.X_OK) else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", help="jz-bench binary")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    p.add_argument("args", nargs="*", help="passed to `jz-bench net`")
    opts = p.parse_args()
    binary = find_binary(opts.bin)
    if binary is None:
        print("jz-bench not found: build it (swift build -c release --product jz-bench) "
              "or pass --bin / JZ_BENCH_BIN", file=sys.stderr)
        return 2
    if "debug" in binary.parts:
        print(f"warning: {binary} is a debug build; throughput figures are not meaningful",
              file=sys.stderr)
    try:
        proc = subprocess.run([str(binary), "net", *opts.args], text=True,
                              capture_output=True, timeout=opts.timeout)
    except subprocess.TimeoutExpired:
        print(f"jz-bench net did not finish in {opts.timeout:.0f} s", file=sys.stderr)
        return 1
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode == 2 and "jz-bench net" not in proc.stderr:
        print("this jz-bench has no `net` mode yet", file=sys.stderr)
        return 2
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
