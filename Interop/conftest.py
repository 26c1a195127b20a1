"""Fixtures for the interop tests: the jz-node binary, per-test work dirs, Kubo and jz-node
factories. Everything a test starts is killed at teardown."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from jznode import JzNode, JzNodeError
from kubo import KuboNode

INTEROP_DIR = Path(__file__).resolve().parent
REPO_ROOT = INTEROP_DIR.parent
WORK_ROOT = Path(os.environ.get("INTEROP_WORK", INTEROP_DIR / ".work"))


@pytest.fixture(scope="session")
def jz_node_bin() -> Path:
    """The jz-node binary: $JZ_NODE_BIN, else <repo>/.build/debug/jz-node."""
    path = Path(os.environ.get("JZ_NODE_BIN") or REPO_ROOT / ".build/debug/jz-node")
    if not path.is_absolute():
        path = (REPO_ROOT / path).resolve()
    if not os.access(path, os.X_OK):
        pytest.fail(f"jz-node binary not found at {path}: run `swift build` or set JZ_NODE_BIN",
                    pytrace=False)
    return path


@pytest.fixture
def work_dir(request) -> Path:
    """Interop/.work/<test name>/, emptied at the start and kept afterwards for post-mortems
    (Kubo's logs are in <node>/kubo.log and <node>/kubo-child.log)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:100]
    path = WORK_ROOT / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


@pytest.fixture
def kubo(work_dir):
    """Factory: ``kubo(name="kubo", loopback=True, identity=None, run=False)`` -> KuboNode.

    Spawns a child with a fresh repo (CreateRepo: RSA-2048 identity) in work_dir/name; with
    ``loopback`` it gets Bootstrap=[], a free 127.0.0.1 TCP swarm port, no mDNS and no NAT port
    mapping; ``identity=(peer_id, priv_key_b64)`` replaces its key; ``run`` calls RunNode.
    """
    nodes: list[KuboNode] = []

    def make(name: str = "kubo", *, loopback: bool = True,
             identity: tuple[str, str] | None = None, run: bool = False,
             timeout: float = 30.0) -> KuboNode:
        node = KuboNode(work_dir / name, timeout=timeout)
        nodes.append(node)
        if loopback:
            node.configure_loopback()
        if identity is not None:
            node.set_identity(*identity)
        if run:
            node.run()
        return node

    yield make
    for node in reversed(nodes):
        node.close()


@pytest.fixture
def jz(jz_node_bin, work_dir):
    """Factory: ``jz(name="jz")`` -> JzNode with its home at work_dir/name (not yet created)."""

    def make(name: str = "jz") -> JzNode:
        return JzNode(jz_node_bin, work_dir / name)

    return make


# ----- networking: jz-node daemon ----------------------------------------------------------------
DAEMON_READY = "Daemon is ready"
SECURITY_CONFIG = {"noise": "Noise", "tls": "TLS"}
MUXER_CONFIG = {"yamux": "Yamux", "mplex": "Mplex"}


def jz_has_command(binary: Path, *words: str) -> bool:
    """True when ``jz-node WORDS --help`` shows that subcommand's own usage (an unknown
    subcommand prints the root help and exits 0, so the exit code alone proves nothing)."""
    try:
        p = subprocess.run([str(binary), *words, "--help"], capture_output=True, text=True,
                           timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0 and f"USAGE: jz-node {' '.join(words)}" in p.stdout


class JzDaemon:
    """A jz-node home plus a running ``jz-node daemon`` (the networking contract of issue 5).

    ``start()`` configures Addresses.Swarm/API on 127.0.0.1 port 0, Bootstrap [] and the chosen
    security transports/muxers (``config --json``: a number is a priority, lower first; false
    disables), launches the daemon with stdout/stderr into ``<home>/../<name>-daemon.log``, and
    waits for ``Daemon is ready`` and the ``api`` file. ``stop()`` sends SIGINT and returns the exit
    code. CLI calls go through the same JzNode (``--repo-dir``).
    """

    def __init__(self, node: JzNode, *, security=("noise", "tls"), muxers=("yamux", "mplex"),
                 algorithm: str = "ed25519", start_timeout: float = 30.0):
        self.node = node
        self.security = list(security)
        self.muxers = list(muxers)
        self.algorithm = algorithm
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.log_path = node.home.parent / f"{node.home.name}-daemon.log"
        self.peer_id = ""       # from `id --json` once the daemon runs
        self.init_peer_id = ""  # from `init --json`
        self._ready = threading.Event()
        self._pump: threading.Thread | None = None

    def cli(self, *args: str, check: bool = True, timeout: float | None = None):
        return self.node.run(*args, check=check, timeout=timeout)

    def configure(self) -> None:
        self.init_peer_id = self.peer_id = self.node.init(self.algorithm)["PeerID"]
        j = lambda v: json.dumps(v)  # noqa: E731
        self.cli("config", "--json", "Addresses.Swarm", j(["/ip4/127.0.0.1/tcp/0"]))
        self.cli("config", "--json", "Addresses.API", j("/ip4/127.0.0.1/tcp/0"))
        self.cli("config", "--json", "Addresses.Gateway", j("/ip4/127.0.0.1/tcp/0"))
        self.cli("config", "--json", "Bootstrap", j([]))
        for name, key in SECURITY_CONFIG.items():
            v = 100 + 100 * self.security.index(name) if name in self.security else False
            self.cli("config", "--json", f"Swarm.Transports.Security.{key}", j(v))
        for name, key in MUXER_CONFIG.items():
            v = 100 + 100 * self.muxers.index(name) if name in self.muxers else False
            self.cli("config", "--json", f"Swarm.Transports.Multiplexers.{key}", j(v))

    def start(self) -> "JzDaemon":
        if not self.node.config_path.exists():
            self.configure()
        self._ready.clear()  # a restart waits for the new daemon's line
        argv = [*self.node.wrap, self.node.binary, "daemon", "--repo-dir", str(self.node.home)]
        env = dict(os.environ, JZ_PATH=str(self.node.home), HOME=str(self.node.home.parent))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=env,
                                     start_new_session=True)

        def pump() -> None:  # copy stdout into the log, flag readiness
            assert self.proc is not None and self.proc.stdout is not None
            for raw in self.proc.stdout:
                log.write(raw)
                log.flush()
                if DAEMON_READY.encode() in raw:
                    self._ready.set()
            log.close()

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise JzNodeError(f"jz-node daemon not ready (exit {self.proc.returncode}); "
                                  f"log {self.log_path}:\n{self.log_tail()}")
        while not self.api_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.peer_id = self.id()["ID"]
        return self

    @property
    def api_path(self) -> Path:
        return self.node.home / "api"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def id(self, peer: str | None = None) -> dict:
        args = ["id"] + ([peer] if peer else []) + ["--json"]
        return self.cli(*args).json()

    def listen_addrs(self) -> list[str]:
        """Loopback TCP addresses (with /p2p/<id>) from ``jz-node id --json``."""
        return [a if "/p2p/" in a else f"{a}/p2p/{self.peer_id}" for a in self.id()["Addresses"]
                if a.startswith("/ip4/127.0.0.1/tcp/")]

    def dial_addr(self) -> str:
        addrs = self.listen_addrs()
        if not addrs:
            raise JzNodeError(f"jz-node id shows no 127.0.0.1 TCP address: {self.id()}")
        return addrs[0]

    def swarm_port(self) -> int:
        return int(self.dial_addr().split("/")[4])

    def connect(self, maddr: str, check: bool = True):
        return self.cli("swarm", "connect", maddr, check=check)

    def peers(self) -> list[dict]:
        """``swarm peers --json`` -> Kubo's shape {"Peers": [{"Addr", "Peer", ...}]} (null when
        empty)."""
        out = self.cli("swarm", "peers", "--json").json()
        return (out or {}).get("Peers") or []

    def peer_ids(self) -> list[str]:
        return [p["Peer"] for p in self.peers()]

    def disconnect(self, target: str, check: bool = True):
        return self.cli("swarm", "disconnect", target, check=check)

    def ping(self, target: str, count: int = 3, check: bool = True):
        return self.cli("ping", target, "-n", str(count), check=check)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGINT, wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        if self._pump is not None:
            self._pump.join(5)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
