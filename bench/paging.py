#!/usr/bin/env python3
"""Paged directory listings on a 100,000-entry directory (issue 14): the repository web page's
file browser and the gateway's HTML listing, first page against a deep page, in one run.

Builds a folder of N empty files, commits it to a repository (the web page reads the commit's
tree) and adds it (the gateway lists the CID), starts the daemon, then times (median of
--repeat GETs on one keep-alive connection):
  * web page: page 1, and the page after entry ~N-1000 (`?after=NAME`)
  * gateway: every listing page (1,000 entries each), by following the "next" links; page 1,
    the last page and the median of all are reported
Usage:
  python3 bench/paging.py [--entries 100000] [--repeat 5] [--bin PATH] [--reference-bin PATH]
--bin defaults to the debug build (.build/debug/jz-node). --reference-bin runs the same pages
against another binary on the same node home (e.g. one that pages by offset: `?page=N`).
"""
from __future__ import annotations

import argparse
import html
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import jz, start_daemon  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NEXT = re.compile(r'<a href="([^"]*)">next[^<]*»</a>')


def timed_get(conn: http.client.HTTPConnection, path: str, repeat: int) -> tuple[float, str]:
    """Median seconds of `repeat` GETs of `path`, and the last body."""
    times = []
    body = ""
    for _ in range(repeat):
        start = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        data = response.read()
        times.append(time.perf_counter() - start)
        if response.status != 200:
            sys.exit(f"GET {path}: {response.status} {data[:200]!r}")
        body = data.decode()
    return statistics.median(times), body


def next_link(body: str) -> str | None:
    match = NEXT.search(body)
    return html.unescape(match.group(1)) if match else None


def measure(binary: str, home: Path, cid: str, entries: int, repeat: int, reference: bool) -> dict:
    proc, address = start_daemon(binary, home)
    try:
        host, port = address.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=600)
        out: dict = {"binary": binary, "load_average_before": os.getloadavg()}
        # Gateway: every page by its "next" link (a reference binary lists everything at once).
        pages = []
        path: str | None = f"/ipfs/{cid}/"
        cursors = []
        while path:
            seconds, body = timed_get(conn, path, 1)
            pages.append(seconds)
            cursors.append(path)
            path = next_link(body)
        out["gateway_pages"] = len(pages)
        deep = cursors[-1]
        first_s, _ = timed_get(conn, f"/ipfs/{cid}/", repeat)
        deep_s, _ = timed_get(conn, deep, repeat)
        out["gateway_page1_ms"] = round(first_s * 1000, 1)
        out["gateway_last_page_ms"] = round(deep_s * 1000, 1)
        out["gateway_walk_all_pages_median_ms"] = round(statistics.median(pages) * 1000, 1)
        # Web page: page 1 and the page that starts ~1,000 entries before the end.
        base = "/webui/repo/big/tree/main"
        first_s, body = timed_get(conn, base, repeat)
        if reference:
            deep_path = f"{base}?page={(entries - 1000) // 100}"
        else:
            after = urllib.parse.parse_qs(urllib.parse.urlparse(deep).query)["after"][0]
            deep_path = f"{base}?after={urllib.parse.quote(after, safe='')}&page={(entries - 1000) // 100}"
        deep_s, deep_body = timed_get(conn, deep_path, repeat)
        summary = re.search(r'<p class="muted">([^<]*)</p>', deep_body)
        out["web_page1_ms"] = round(first_s * 1000, 1)
        out["web_deep_page_ms"] = round(deep_s * 1000, 1)
        out["web_deep_page"] = html.unescape(summary.group(1)) if summary else None
        out["load_average_after"] = os.getloadavg()
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--bin", default=str(ROOT / ".build" / "debug" / "jz-node"))
    ap.add_argument("--reference-bin", default=None)
    args = ap.parse_args()
    binary = str(Path(args.bin).resolve())
    with tempfile.TemporaryDirectory(prefix="jz-paging-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        jz(binary, home, "init")
        for key, value in [("Addresses.Swarm", ["/ip4/127.0.0.1/tcp/0"]), ("Addresses.API", "/ip4/127.0.0.1/tcp/0"),
                           ("Addresses.Gateway", "/ip4/127.0.0.1/tcp/0"), ("Bootstrap", []), ("Gateway.NoFetch", True)]:
            jz(binary, home, "config", "--json", key, json.dumps(value))
        folder = work / "big"
        folder.mkdir()
        for i in range(args.entries):
            (folder / f"file-{i:06}.txt").touch()
        start = time.perf_counter()
        jz(binary, home, "repo", "create", "big")
        jz(binary, home, "commit", "big", str(folder), "-m", "many files")
        cid = jz(binary, home, "add", "-Q", "-r", str(folder)).stdout.strip()
        print(f"{args.entries} entries committed and added in {time.perf_counter() - start:.1f} s: {cid}")
        runs = [measure(binary, home, cid, args.entries, args.repeat, reference=False)]
        if args.reference_bin:
            runs.append(measure(str(Path(args.reference_bin).resolve()), home, cid, args.entries, args.repeat, reference=True))
        for run in runs:
            print(json.dumps(run, indent=1))


if __name__ == "__main__":
    main()
