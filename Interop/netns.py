"""A small private network of Linux network namespaces for tests that need addresses other than
127.0.0.1: a bridge in the root namespace and one namespace per node, each joined to the bridge
by a veth pair and given an address of ``SUBNET.x/24``. The default subnet, 20.0.0.0/24, reads as
a public address to libp2p (go-multiaddr's ``manet.IsPublicAddr`` and jz-node's ``AddressScope``),
so the WAN DHT (``/ipfs/kad/1.0.0``) serves and admits these peers, while nothing leaves the
machine: the namespaces have no route but their own subnet.

    with PublicNetwork(3) as net:
        net.wrap(0)   # ["ip", "netns", "exec", "<ns0>"]: prefix for a command run in node 0
        net.ip(0)     # "20.0.0.10"

Each node's link to the bridge can be rate-limited (``shape``: ``tc tbf`` on both ends of its
veth pair) and taken down and brought back (``set_link``); ``counters`` reads the bytes that
crossed it, from the root namespace, without running a command.

    net.shape(1, rate_mbit=40)   # node 1 sends and receives at most 40 Mbit/s
    net.set_link(1, False)       # node 1 is cut off (its TCP connections stall), ...
    net.set_link(1, True)        # ... and joins again
    net.counters(1)              # (bytes into node 1, bytes out of node 1)

Needs root and iproute2 (``available()`` tells; ``tc`` for ``shape``); every namespace, veth and
the bridge are removed on exit, and processes still running in the namespaces are killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path


def available() -> tuple[bool, str]:
    """(usable, why not)."""
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    if shutil.which("ip") is None:
        return False, "iproute2 (`ip`) is not installed"
    probe = f"jzprobe{os.getpid() % 100000}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return False, f"`ip netns add` failed: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return True, ""


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")


class PublicNetwork:
    """``count`` namespaces on one bridge, addresses ``subnet.(10+i)``."""

    def __init__(self, count: int, subnet: str = "20.0.0"):
        tag = os.getpid() % 10000
        self.prefix = f"jz{tag}"          # interface names must stay under 16 characters
        self.count = count
        self.subnet = subnet
        self.bridge = f"{self.prefix}br"
        self.namespaces = [f"{self.prefix}n{i}" for i in range(count)]

    def ip(self, i: int) -> str:
        return f"{self.subnet}.{10 + i}"

    def wrap(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[i]]

    def link(self, i: int) -> str:
        """Node i's end of the link in the root namespace (the bridge port)."""
        return f"{self.prefix}v{i}"

    def set_link(self, i: int, up: bool) -> None:
        """Takes node i's link down (no carrier: nothing reaches it or leaves it) or brings it
        back. Its sockets stay open; TCP retransmits until the link returns or gives up."""
        _ip("link", "set", self.link(i), "up" if up else "down")

    def shape(self, i: int, rate_mbit: float, burst_kib: int = 64, latency_ms: int = 100) -> None:
        """``tc tbf`` on both ends of node i's veth pair: at most ``rate_mbit`` in each direction,
        bursts of ``burst_kib``, packets queued at most ``latency_ms`` (then dropped)."""
        if shutil.which("tc") is None:
            raise RuntimeError("tc (iproute2) is not installed")
        tbf = ["root", "tbf", "rate", f"{rate_mbit}mbit", "burst", f"{burst_kib}kb",
               "latency", f"{latency_ms}ms"]
        for argv in (["tc", "qdisc", "replace", "dev", self.link(i), *tbf],
                     ["tc", "-n", self.namespaces[i], "qdisc", "replace", "dev", f"{self.prefix}p{i}", *tbf]):
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")

    def counters(self, i: int) -> tuple[int, int]:
        """(bytes delivered into node i, bytes node i sent) over its link so far."""
        stats = Path("/sys/class/net") / self.link(i) / "statistics"
        return int((stats / "tx_bytes").read_text()), int((stats / "rx_bytes").read_text())

    def __enter__(self) -> "PublicNetwork":
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("link", "set", self.bridge, "up")
            for i, ns in enumerate(self.namespaces):
                outside, inside = f"{self.prefix}v{i}", f"{self.prefix}p{i}"
                _ip("netns", "add", ns)
                _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
                _ip("link", "set", outside, "master", self.bridge)
                _ip("link", "set", outside, "up")
                _ip("link", "set", inside, "netns", ns)
                _ip("-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev", inside)
                _ip("-n", ns, "link", "set", inside, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for ns in self.namespaces:
            # Anything still running in our namespaces was started by the test: kill it, or the
            # namespace outlives `ip netns del`.
            r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in r.stdout.split() if r.returncode == 0 else []:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        for i, ns in enumerate(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["ip", "link", "del", f"{self.prefix}v{i}"], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
