"""A small private network of Linux network namespaces for tests that need addresses other than
127.0.0.1: a bridge in the root namespace and one namespace per node, each joined to the bridge
by a veth pair and given an address of ``SUBNET.x/24``. The default subnet, 20.0.0.0/24, reads as
a public address to libp2p (go-multiaddr's ``manet.IsPublicAddr`` and jz-node's ``AddressScope``),
so the WAN DHT (``/ipfs/kad/1.0.0``) serves and admits these peers, while nothing leaves the
machine: the namespaces have no route but their own subnet.

    with PublicNetwork(3) as net:
        net.wrap(0)   # ["ip", "netns", "exec", "<ns0>"]: prefix for a command run in node 0
        net.ip(0)     # "20.0.0.10"

Needs root and iproute2 (``available()`` tells); every namespace, veth and the bridge are removed
on exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess


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
        for i, ns in enumerate(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["ip", "link", "del", f"{self.prefix}v{i}"], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
