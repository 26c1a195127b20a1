#!/usr/bin/env python3
"""`add` of one big file through the daemon's RPC API against offline `add --only-hash`.

Makes a random file of --size bytes, a fresh node home, hashes the file offline
(`add --only-hash`), starts the daemon with its own TMPDIR, then times `jz-node add -Q FILE`
(which goes through the daemon's API as a multipart upload) while sampling every 0.1 s the
bytes under the daemon's TMPDIR (`du`) and its peak RSS (VmHWM). Prints one JSON document: both
CIDs (they must be equal), the times, the peaks, and how long the upload folder outlived the
answer. With --only-hash the daemon hashes without storing. Finally the daemon is stopped and
an offline `add` of the same file into a second, empty home is timed for comparison.
Usage:
  python3 bench/upload.py [--size 1610612736] [--only-hash] [--bin PATH] [--work DIR]
--bin defaults to the debug build (.build/debug/jz-node).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1536 << 20)
    parser.add_argument("--only-hash", action="store_true")
    parser.add_argument("--bin", default=str(ROOT / ".build/debug/jz-node"))
    parser.add_argument("--work", default="/tmp/jz-bench-upload")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    home, other, tmp, big = work / "home", work / "home2", work / "tmp", work / "big.bin"
    subprocess.run(["rm", "-rf", str(home), str(other), str(tmp)], check=True)
    tmp.mkdir(parents=True)
    if not big.exists() or big.stat().st_size != args.size:
        subprocess.run(f"head -c {args.size} /dev/urandom > {big}", shell=True, check=True)

    def cli(h: pathlib.Path, *a: str) -> str:
        return subprocess.run([args.bin, *a, "--repo-dir", str(h)], capture_output=True, text=True, check=True).stdout

    for h in (home, other):
        cli(h, "init")
        for key, value in [("Addresses.Swarm", ["/ip4/127.0.0.1/tcp/0"]), ("Addresses.API", "/ip4/127.0.0.1/tcp/0"),
                           ("Addresses.Gateway", "/ip4/127.0.0.1/tcp/0"), ("Bootstrap", [])]:
            cli(h, "config", "--json", key, json.dumps(value))
    start = time.monotonic()
    offline = cli(home, "add", "--only-hash", "-Q", str(big)).strip()
    offline_s = time.monotonic() - start

    daemon = subprocess.Popen([args.bin, "daemon", "--repo-dir", str(home)], stdout=subprocess.DEVNULL,
                              stderr=open(work / "daemon.log", "w"), env=dict(os.environ, TMPDIR=str(tmp)))
    try:
        deadline = time.monotonic() + 60
        while not (home / "api").exists():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"daemon not ready; see {work / 'daemon.log'}")
            time.sleep(0.1)
        peak = {"tmp": 0, "rss": 0}
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                du = subprocess.run(["du", "-sb", str(tmp)], capture_output=True, text=True).stdout.split()
                peak["tmp"] = max(peak["tmp"], int(du[0]) if du else 0)
                for line in open(f"/proc/{daemon.pid}/status"):
                    if line.startswith("VmHWM:"):
                        peak["rss"] = int(line.split()[1]) * 1024
                stop.wait(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        start = time.monotonic()
        online = cli(home, "add", *(["--only-hash"] if args.only_hash else []), "-Q", str(big)).strip()
        online_s = time.monotonic() - start
        stop.set()
        sampler.join()
        start = time.monotonic()
        while list(tmp.iterdir()) and time.monotonic() - start < 10:
            time.sleep(0.05)
        removed_s = time.monotonic() - start
        left = [p.name for p in tmp.iterdir()]
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    start = time.monotonic()
    cli(other, "add", "-Q", str(big))
    offline_store_s = time.monotonic() - start
    print(json.dumps({
        "size": args.size, "only_hash": args.only_hash, "offline_cid": offline, "daemon_cid": online,
        "same": offline == online, "offline_only_hash_s": round(offline_s, 2), "daemon_add_s": round(online_s, 2),
        "offline_add_s": round(offline_store_s, 2), "peak_tmp_bytes": peak["tmp"], "daemon_peak_rss_bytes": peak["rss"],
        "upload_folder_removed_after_s": round(removed_s, 2), "left_in_tmp": left,
    }, indent=1))


if __name__ == "__main__":
    main()
