#!/usr/bin/env python3
"""Gateway benchmark: a `jz-node daemon`'s HTTP gateway on loopback (issue 14).

Measures, in one run, beside the machine's own limits (memcpy and sha256 speed, cores):
  * a 1 GiB file through `curl` to a file, byte-equal (sha256 compared)          target >= 1 GB/s
  * 1,000 concurrent small requests (keep-alive connections; 200 by default)     target p99 < 50 ms
    and the daemon's CPU time per request (utime + stime from /proc/PID/stat before and after
    each burst, divided by the requests): independent of what else runs on the machine, unlike
    the latencies, so the load average is printed beside them
Usage:
  python3 bench/gateway.py [--mib 1024] [--requests 1000] [--connections 200] [--bin PATH]
  (--mib 0 skips the large file: the small requests only)
Without --bin it builds the release binary: swift build -c release --product jz-node --scratch-path .build-bench
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def machine_limits() -> dict:
    """memcpy (bytes copy) and sha256 speed of this machine, in GB/s, and its cores."""
    buf = os.urandom(256 << 20)
    dst = bytearray(len(buf))
    view = memoryview(dst)
    view[:] = buf  # fault the pages in first
    start = time.perf_counter()
    for _ in range(4):
        view[:] = buf
    memcpy = 4 * len(buf) / (time.perf_counter() - start) / 1e9
    start = time.perf_counter()
    hashlib.sha256(buf).digest()
    sha = len(buf) / (time.perf_counter() - start) / 1e9
    return {"cores": os.cpu_count(), "memcpy_GBps": round(memcpy, 2), "sha256_GBps_python_openssl": round(sha, 2)}


def jz(binary: str, home: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([binary, *args, "--repo-dir", str(home)], capture_output=True, text=True, check=True, **kw)


def start_daemon(binary: str, home: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([binary, "daemon", "--repo-dir", str(home)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Daemon is ready" in line:
            break
        if time.monotonic() > deadline:
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    gateway_file = home / "gateway"
    while not gateway_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            sys.exit("the daemon did not start its gateway")
        time.sleep(0.05)
    parts = gateway_file.read_text().strip().split("/")
    return proc, f"{parts[2]}:{parts[4]}"


def daemon_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads, living and ended), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_request(pid: int, before: float, requests: int) -> str:
    return f"daemon CPU {(daemon_cpu_seconds(pid) - before) / requests * 1e6:.0f} µs/request"


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def small_requests(address: str, paths: list[str], total: int, connections: int) -> tuple[list[float], float]:
    """`total` GETs spread over `connections` threads, each with one keep-alive connection, all
    started together; returns the per-request latencies (s) and the wall time."""
    host, port = address.split(":")
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(connections + 1)
    errors: list[str] = []

    def worker(index: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        mine = []
        barrier.wait()
        for n in range(index, total, connections):
            start = time.perf_counter()
            conn.request("GET", paths[n % len(paths)])
            response = conn.getresponse()
            body = response.read()
            mine.append(time.perf_counter() - start)
            if response.status != 200 or not body:
                errors.append(f"{paths[n % len(paths)]}: {response.status}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if errors:
        sys.exit(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return latencies, wall


def curl_parallel(address: str, paths: list[str], total: int, connections: int, work: Path) -> tuple[list[float], float]:
    """`total` GETs by one `curl --parallel` (C client, up to `connections` at once); returns
    each transfer's total time (s) and the wall time."""
    config = work / "curl.cfg"
    with open(config, "w") as f:
        for n in range(total):
            f.write(f'url = "http://{address}{paths[n % len(paths)]}"\noutput = "/dev/null"\n')
    start = time.perf_counter()
    p = subprocess.run(["curl", "-sS", "--parallel", "--parallel-immediate", "--parallel-max", str(connections),
                        "-K", str(config), "-w", "%{http_code} %{time_total}\n"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    lines = [line.split() for line in p.stdout.splitlines() if line.strip()]
    bad = [line for line in lines if line[0] != "200"]
    if p.returncode != 0 or bad or len(lines) != total:
        sys.exit(f"curl --parallel: exit {p.returncode}, {len(bad)} non-200, {len(lines)} answers: {p.stderr[:300]}")
    return [float(line[1]) for line in lines], wall


def add_large_file(binary: str, home: Path, work: Path, mib: int) -> tuple[str, bytes]:
    """Adds `mib` MiB of random bytes; returns the CID and the bytes' sha256."""
    big = work / "big.bin"
    digest = hashlib.sha256()
    with open(big, "wb") as f:
        for _ in range(mib):
            chunk = os.urandom(1 << 20)
            digest.update(chunk)
            f.write(chunk)
    cid = jz(binary, home, "add", "-Q", str(big)).stdout.strip()
    big.unlink()
    return cid, digest.digest()


def read_large_file(binary: str, home: Path, address: str, work: Path, big_cid: str, digest: bytes, mib: int) -> None:
    """Checks the large file through the gateway byte for byte, then times it to /dev/null."""
    # Byte-equality: once to a file (not timed: the disk would be measured).
    out = work / "out.bin"
    subprocess.run(["curl", "-sS", "-o", str(out), f"http://{address}/ipfs/{big_cid}"], check=True)
    h = hashlib.sha256()
    with open(out, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    if h.digest() != digest:
        sys.exit("the file read through the gateway differs from the one added")
    out.unlink()
    size = mib << 20
    runs = []
    for _ in range(3):
        p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                            f"http://{address}/ipfs/{big_cid}"], check=True, capture_output=True, text=True)
        got, seconds = p.stdout.split()
        if int(got) != size:
            sys.exit(f"curl got {got} bytes of {size}")
        runs.append(float(seconds))
    best = min(runs)
    print(f"1 file of {mib} MiB via curl: byte-equal (sha256); to /dev/null {size / best / 1e9:.2f} GB/s best of "
          f"{len(runs)} ({', '.join(f'{size / r / 1e9:.2f}' for r in runs)} GB/s); target >= 1 GB/s")
    catted = time.perf_counter()
    subprocess.run([binary, "cat", big_cid, "--repo-dir", str(home)], stdout=subprocess.DEVNULL, check=False)
    print(f"for comparison, `jz-node cat` of the same file to /dev/null while the daemon runs: "
          f"{size / (time.perf_counter() - catted) / 1e9:.2f} GB/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--bin", default=None, help="jz-node binary (default: release build in .build-bench)")
    args = ap.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is needed: apt-get install curl")
    binary = args.bin
    if binary is None:
        subprocess.run(["swift", "build", "-c", "release", "--product", "jz-node", "--scratch-path", ".build-bench"],
                       cwd=ROOT, check=True)
        binary = str(ROOT / ".build-bench" / "release" / "jz-node")
    binary = str(Path(binary).resolve())

    limits = machine_limits()
    print(f"machine: {json.dumps(limits)}")
    with tempfile.TemporaryDirectory(prefix="jz-gw-bench-") as tmp:
        work = Path(tmp)
        home = work / "home"
        jz(binary, home, "init")
        for key, value in [("Addresses.Swarm", ["/ip4/127.0.0.1/tcp/0"]), ("Addresses.API", "/ip4/127.0.0.1/tcp/0"),
                           ("Addresses.Gateway", "/ip4/127.0.0.1/tcp/0"), ("Bootstrap", []), ("Gateway.NoFetch", True)]:
            jz(binary, home, "config", "--json", key, json.dumps(value))
        big = add_large_file(binary, home, work, args.mib) if args.mib > 0 else None
        small = work / "small"
        small.mkdir()
        for i in range(100):
            (small / f"f{i:03}.txt").write_bytes(os.urandom(1024 + i))
        small_cid = jz(binary, home, "add", "-Q", "-r", str(small)).stdout.strip()
        proc, address = start_daemon(binary, home)
        try:
            if big is not None:
                read_large_file(binary, home, address, work, *big, args.mib)
            paths = [f"/ipfs/{small_cid}/f{i:03}.txt" for i in range(100)]
            small_requests(address, paths, 200, 20)  # warm-up
            cpu = daemon_cpu_seconds(proc.pid)
            latencies, wall = small_requests(address, paths, args.requests, args.connections)
            print(f"{args.requests} small requests over {args.connections} concurrent connections: "
                  f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms, "
                  f"max {max(latencies) * 1000:.1f} ms, {args.requests / wall:.0f} req/s (Python client threads); "
                  f"{cpu_per_request(proc.pid, cpu, args.requests)}; {load_average()}; target p99 < 50 ms")
            cpu = daemon_cpu_seconds(proc.pid)
            latencies, wall = curl_parallel(address, paths, args.requests, args.connections, work)
            print(f"{args.requests} small requests by curl --parallel (up to {args.connections} at once): "
                  f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms, "
                  f"max {max(latencies) * 1000:.1f} ms, {args.requests / wall:.0f} req/s; "
                  f"{cpu_per_request(proc.pid, cpu, args.requests)}; {load_average()}; target p99 < 50 ms")
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
