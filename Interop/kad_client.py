"""A Kademlia DHT client (and optional toy server) on py-libp2p 0.8.1, in a child process.

Built from py-libp2p's host (Noise + yamux, Ed25519 key) and its Kademlia protobuf
(``libp2p/kad_dht/pb/kademlia_pb2.py``: the same fields as Go's ``dht.proto``, plus py-libp2p's
``senderRecord`` (11) and ``Peer.signedRecord`` (4), which Go ignores). The framing is our own
(uvarint length + message) so that any protocol ID can be spoken (``/ipfs/kad/1.0.0`` and Kubo's
``/ipfs/lan/kad/1.0.0``) and hostile frames can be sent. py-libp2p's own ``KadDHT`` is not
used: it speaks only ``/ipfs/kad/1.0.0``, keeps a routing table and answers requests itself.

Parent side: ``KadClient(work_dir, serve=None)`` spawns ``python kad_client.py`` (own process
group, log in ``work_dir/kad.log``), waits for it to be ready and offers:

- ``find_node(peer, key, proto)`` -> ``{"type", "closer": [{"id", "addrs", "connection"}]}``
  where ``key`` is a peer ID (base58) or ``bytes``.
- ``get_providers(peer, cid, proto)`` -> ``{"type", "key", "providers": [...], "closer": [...]}``.
- ``add_provider(peer, cid, proto, provider=None, addrs=None)``: ADD_PROVIDER (no answer is
  expected, as in Go); ``provider`` defaults to our own ID, ``addrs`` to our listen addresses.
  Returns ``{"end": ...}`` (how the stream ended, see below).
- ``put_value(peer, key, value, proto)`` / ``get_value(peer, key, proto)`` -> ``{"end",
  "reply"}`` / the reply with ``record``.
- ``ping_dht(peer, proto)``.
- ``raw(peer, proto, frames=[bytes], declared=None, size=None)``: writes arbitrary frames (or
  one frame that DECLARES ``declared`` bytes and carries ``size`` bytes), then reads: returns
  ``{"wrote", "write_error", "end", "reply"}``.
- ``add_provider_burst(peer, proto, count)``: COUNT ADD_PROVIDER messages (random keys) on one
  stream, as fast as the stream takes them: ``{"sent", "seconds", "end", "keys": first 5}``.
- ``find_node_with_flood(peer, key, proto, count)``: a FIND_NODE request that itself carries
  COUNT junk closer peers.
- ``serve_stats()``: what the toy server received.

``peer`` is a peer ID the child is connected to, or a full multiaddr ending in ``/p2p/ID``
(dialled first). ``end`` is one of ``"reply"`` (a message came back), ``"eof"`` (the server
closed its side), ``"reset"``, ``"timeout"`` (nothing in ``read_timeout`` seconds, stream still
open) or ``"error: ..."``.

Toy server (``serve="honest"`` or ``serve="flood"``, with ``serve_protocols``): registers the
Kademlia protocol IDs before the host starts (so identify announces them) and answers
FIND_NODE / GET_PROVIDERS / GET_VALUE with no closer peers (honest) or with ``flood`` fake
peers (fresh random Ed25519-looking IDs at 127.0.0.1 ports where nothing listens), PING with
PING, and nothing to ADD_PROVIDER / PUT_VALUE. Used to be admitted into a routing table (Kubo
and jz-node check a new DHT peer with a FIND_NODE) and as a hostile peer.

Every command is bounded by a timeout inside the child; the parent waits 5 s longer and then
SIGKILLs the child (``KadClientTimeout``).

Run ``python kad_client.py --selftest`` to check it against a Kubo 0.22 node with forced
public reachability (WAN DHT served) and against its LAN DHT.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from keys import b58decode, b58encode  # noqa: E402  (one base58 for the Interop helpers)

WAN = "/ipfs/kad/1.0.0"
LAN = "/ipfs/lan/kad/1.0.0"
DEFAULT_TIMEOUT = 20.0
START_TIMEOUT = 30.0
MAX_MESSAGE = 4 << 20          # go-libp2p's network.MessageSizeMax
MSG_TYPES = {0: "PUT_VALUE", 1: "GET_VALUE", 2: "ADD_PROVIDER", 3: "GET_PROVIDERS",
             4: "FIND_NODE", 5: "PING"}


# ======================================= shared helpers ========================================

_B32 = "abcdefghijklmnopqrstuvwxyz234567"


def uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_uvarint(buf: bytes, i: int = 0) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def cid_multihash(cid: str) -> bytes:
    """The multihash inside a CID (the DHT's provider key): CIDv0 ``Qm…`` or CIDv1 in base32
    (``b…``) or base58btc (``z…``)."""
    if cid.startswith("Qm") and len(cid) == 46:
        return b58decode(cid)
    if cid[0] == "b":
        s = cid[1:].lower()
        bits = acc = 0
        out = bytearray()
        for ch in s:
            acc = (acc << 5) | _B32.index(ch)
            bits += 5
            if bits >= 8:
                bits -= 8
                out.append((acc >> bits) & 0xFF)
        raw = bytes(out)
    elif cid[0] == "z":
        raw = b58decode(cid[1:])
    elif cid[0] == "k":  # base36 (IPNS names: k51…)
        digits = cid[1:]
        n = int(digits, 36)
        raw = b"\0" * (len(digits) - len(digits.lstrip("0"))) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    else:
        raise ValueError(f"unsupported CID encoding: {cid}")
    version, i = read_uvarint(raw)
    if version != 1:
        raise ValueError(f"CID version {version}")
    _codec, i = read_uvarint(raw, i)
    return raw[i:]


def peer_id_bytes(peer_id: str) -> bytes:
    return b58decode(peer_id)


def kad_distance(a: bytes, b: bytes) -> int:
    """XOR distance of two DHT keys in the Kademlia keyspace (sha2-256 of the raw keys)."""
    return int.from_bytes(hashlib.sha256(a).digest(), "big") ^ \
        int.from_bytes(hashlib.sha256(b).digest(), "big")


def random_peer_id_bytes() -> bytes:
    """An Ed25519-shaped peer ID (identity multihash of a PublicKey protobuf) nobody runs."""
    return b"\x00\x24\x08\x01\x12\x20" + os.urandom(32)


def random_peer_id() -> str:
    return b58encode(random_peer_id_bytes())


def random_cid_v1() -> str:
    """A raw-codec CIDv1 of random bytes (base32): a key nobody provides."""
    mh = b"\x12\x20" + hashlib.sha256(os.urandom(32)).digest()
    raw = b"\x01\x55" + mh
    bits = acc = 0
    out = ""
    for byte in raw:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            out += _B32[(acc >> bits) & 31]
    if bits:
        out += _B32[(acc << (5 - bits)) & 31]
    return "b" + out


def closed_tcp_ports(n: int) -> list[int]:
    """Loopback ports where nothing listens right now (a dial to them is refused at once)."""
    ports = []
    for _ in range(n):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    return ports


# ======================================= parent side ===========================================

class KadClientError(RuntimeError):
    """A command failed in the child (its error text is in the message)."""


class KadClientTimeout(KadClientError):
    """The child did not answer in time; it has been killed."""


def _enc_key(key: str | bytes) -> dict:
    if isinstance(key, bytes):
        return {"key_b64": base64.b64encode(key).decode()}
    return {"key_text": key}


class KadClient:
    """One py-libp2p host speaking Kademlia, in its own killable child process."""

    def __init__(self, work_dir: str | os.PathLike, *, serve: str | None = None,
                 serve_protocols: tuple[str, ...] = (WAN, LAN), flood: int = 1000,
                 timeout: float = DEFAULT_TIMEOUT, python: str | None = None):
        self.work_dir = Path(work_dir).resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self._next_id = 0
        self._buf = b""
        self.log_path = self.work_dir / "kad.log"
        self._log = open(self.log_path, "ab")
        argv = [python or sys.executable, "-u", str(Path(__file__).resolve()), "--child",
                "--serve", serve or "none", "--flood", str(flood)]
        for p in serve_protocols:
            argv += ["--serve-protocol", p]
        self._proc = subprocess.Popen(
            argv, cwd=self.work_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, start_new_session=True,
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        try:
            ready = self._read_line(START_TIMEOUT, "startup")
        except BaseException:
            self.kill()
            raise
        if ready.get("event") != "ready":
            self.kill()
            raise KadClientError(f"unexpected first line {ready}; see {self.log_path}")
        self.peer_id: str = ready["peer_id"]
        self.addrs: list[str] = ready["addrs"]

    # ----- channel -----------------------------------------------------------------------------

    def _read_line(self, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise KadClientTimeout(f"kad client: no answer to {what} in {timeout:.0f}s; "
                                       f"child killed (log: {self.log_path})")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    try:
                        self._proc.wait(5)
                    except subprocess.TimeoutExpired:
                        pass
                    raise KadClientError(f"kad client child exited ({self._proc.returncode}) "
                                         f"during {what}; see {self.log_path}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, cmd: str, timeout: float | None = None, **args: Any) -> Any:
        if self._proc.poll() is not None:
            raise KadClientError(f"kad client child exited ({self._proc.returncode}); "
                                 f"see {self.log_path}")
        timeout = self.timeout if timeout is None else timeout
        self._next_id += 1
        req = {"id": self._next_id, "cmd": cmd, "args": dict(args, timeout=timeout)}
        try:
            self._proc.stdin.write((json.dumps(req) + "\n").encode())
            self._proc.stdin.flush()
        except BrokenPipeError as e:
            raise KadClientError(f"kad client child died; see {self.log_path}") from e
        resp = self._read_line(timeout + 5.0, cmd)
        if resp.get("id") != req["id"]:
            raise KadClientError(f"answer {resp} does not match request {req}")
        if not resp["ok"]:
            raise KadClientError(f"{cmd}: {resp['error']}")
        return resp["result"]

    # ----- commands ----------------------------------------------------------------------------

    def dial_addr(self) -> str:
        for a in self.addrs:
            if a.startswith("/ip4/127.0.0.1/tcp/"):
                return a if "/p2p/" in a else f"{a}/p2p/{self.peer_id}"
        raise KadClientError(f"no loopback address in {self.addrs}")

    def connect(self, maddr: str, timeout: float | None = None) -> str:
        return self.request("connect", timeout, maddr=maddr)

    def protocols(self, peer: str, timeout: float | None = None) -> list[str]:
        """Protocols PEER announced in identify (as py-libp2p's peerstore has them)."""
        return self.request("protocols", timeout, peer=peer)

    def find_node(self, peer: str, key: str | bytes, proto: str = WAN,
                  timeout: float | None = None) -> dict:
        return self.request("find-node", timeout, peer=peer, proto=proto, **_enc_key(key))

    def get_providers(self, peer: str, cid: str, proto: str = WAN,
                      timeout: float | None = None) -> dict:
        return self.request("get-providers", timeout, peer=peer, proto=proto,
                            key_b64=base64.b64encode(cid_multihash(cid)).decode())

    def add_provider(self, peer: str, cid: str, proto: str = WAN, provider: str | None = None,
                     addrs: list[str] | None = None, timeout: float | None = None) -> dict:
        return self.request("add-provider", timeout, peer=peer, proto=proto, provider=provider,
                            addrs=addrs, key_b64=base64.b64encode(cid_multihash(cid)).decode())

    def put_value(self, peer: str, key: str | bytes, value: bytes, proto: str = WAN,
                  timeout: float | None = None) -> dict:
        k = key if isinstance(key, bytes) else key.encode()
        return self.request("put-value", timeout, peer=peer, proto=proto,
                            key_b64=base64.b64encode(k).decode(),
                            value_b64=base64.b64encode(value).decode())

    def get_value(self, peer: str, key: str | bytes, proto: str = WAN,
                  timeout: float | None = None) -> dict:
        k = key if isinstance(key, bytes) else key.encode()
        return self.request("get-value", timeout, peer=peer, proto=proto,
                            key_b64=base64.b64encode(k).decode())

    def ping_dht(self, peer: str, proto: str = WAN, timeout: float | None = None) -> dict:
        return self.request("ping-dht", timeout, peer=peer, proto=proto)

    def raw(self, peer: str, proto: str = WAN, frames: list[bytes] = (), *,
            declared: int | None = None, size: int | None = None, read_timeout: float = 5.0,
            timeout: float | None = None) -> dict:
        return self.request("raw", timeout, peer=peer, proto=proto,
                            frames_b64=[base64.b64encode(f).decode() for f in frames],
                            declared=declared, size=size, read_timeout=read_timeout)

    def add_provider_burst(self, peer: str, count: int, proto: str = WAN,
                           timeout: float | None = None) -> dict:
        return self.request("add-provider-burst", timeout, peer=peer, proto=proto, count=count)

    def find_node_with_flood(self, peer: str, key: str | bytes, count: int, proto: str = WAN,
                             timeout: float | None = None) -> dict:
        return self.request("find-node", timeout, peer=peer, proto=proto, junk_closer=count,
                            **_enc_key(key))

    def serve_stats(self) -> dict:
        """{"requests": {"<proto> <TYPE>": n}, "streams": n, "fake_peers_sent": n,
        "fake_peers": [first 200 fake IDs sent]}."""
        return self.request("serve-stats")

    def disconnect(self, peer: str) -> None:
        self.request("disconnect", peer=peer)

    # ----- teardown ----------------------------------------------------------------------------

    def alive(self) -> bool:
        return self._proc.poll() is None

    def kill(self) -> None:
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

    def close(self) -> None:
        if self.alive():
            try:
                self.request("quit", timeout=5.0)
            except KadClientError:
                pass
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def __enter__(self) -> "KadClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


# ======================================== child side ===========================================

def _load_pb():
    """py-libp2p's kademlia_pb2, loaded from its file: importing ``libp2p.kad_dht`` would pull
    in py-libp2p's whole DHT."""
    import importlib.util
    from importlib import metadata

    path = Path(metadata.distribution("libp2p").locate_file("libp2p/kad_dht/pb/kademlia_pb2.py"))
    spec = importlib.util.spec_from_file_location("_kad_pb2", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Reader:
    """Buffered reads of uvarint-framed messages from a py-libp2p stream."""

    def __init__(self, stream):
        self.stream = stream
        self.buf = b""

    async def _more(self) -> None:
        chunk = await self.stream.read(65536)
        if not chunk:
            from libp2p.network.stream.exceptions import StreamEOF
            raise StreamEOF("end of stream")
        self.buf += chunk

    async def message(self, limit: int = MAX_MESSAGE) -> bytes:
        while True:
            try:
                n, i = read_uvarint(self.buf)
                break
            except ValueError:
                if len(self.buf) > 10:
                    raise
                await self._more()
        if n > limit:
            raise ValueError(f"message of {n} bytes announced (limit {limit})")
        while len(self.buf) < i + n:
            await self._more()
        msg, self.buf = self.buf[i:i + n], self.buf[i + n:]
        return msg


def _classify(e: BaseException) -> str:
    from libp2p.network.stream.exceptions import StreamClosed, StreamEOF, StreamReset
    if isinstance(e, StreamReset):
        return "reset"
    if isinstance(e, StreamEOF):
        return "eof"
    if isinstance(e, StreamClosed):
        return "reset"  # py-libp2p reports a remote reset on a half-closed stream this way
    name = type(e).__name__
    text = str(e).lower()
    if "reset" in text or "reset" in name.lower():
        return "reset"
    if "eof" in name.lower() or "closed" in text:
        return "eof"
    return f"error: {name}: {e}"


async def _child_main(opts: argparse.Namespace) -> None:
    import multiaddr
    import trio

    from libp2p import new_host
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.crypto.x25519 import create_new_key_pair as new_x25519
    from libp2p.custom_types import TProtocol
    from libp2p.network.config import ConnectionConfig
    from libp2p.peer.id import ID
    from libp2p.peer.peerinfo import info_from_p2p_addr
    from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID, Transport as Noise
    from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID, Yamux

    pb = _load_pb()
    Message = pb.Message
    key_pair = create_new_key_pair()
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    host = new_host(key_pair=key_pair, sec_opt={NOISE_ID: Noise(key_pair,
                                                                noise_privkey=new_x25519().private_key)},
                    muxer_opt={TProtocol(YAMUX_ID): Yamux}, listen_addrs=listen,
                    enable_mDNS=False, enable_upnp=False, negotiate_timeout=15,
                    connection_config=ConnectionConfig(min_connections=0))
    me = host.get_id()

    chan = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def send(obj: dict) -> None:
        chan.write(json.dumps(obj) + "\n")
        chan.flush()

    def my_addrs() -> list[str]:
        out = []
        for a in host.get_addrs():
            s = str(a)
            out.append(s if "/p2p/" in s else f"{s}/p2p/{me}")
        return out

    def peer_json(p) -> dict:
        try:
            pid = ID(p.id).to_base58()
        except Exception:
            pid = f"<bad id {p.id.hex()}>"
        addrs = []
        for a in p.addrs:
            try:
                addrs.append(str(multiaddr.Multiaddr(a)))
            except Exception:
                addrs.append(f"<undecodable {a.hex()}>")
        return {"id": pid, "addrs": addrs, "connection": int(p.connection)}

    def msg_json(m) -> dict:
        out: dict[str, Any] = {"type": MSG_TYPES.get(m.type, m.type),
                               "key_b64": base64.b64encode(m.key).decode(),
                               "closer": [peer_json(p) for p in m.closerPeers],
                               "providers": [peer_json(p) for p in m.providerPeers]}
        if m.HasField("record"):
            out["record"] = {"key_b64": base64.b64encode(m.record.key).decode(),
                             "value_b64": base64.b64encode(m.record.value).decode(),
                             "timeReceived": m.record.timeReceived}
        return out

    # ----- toy server -----
    closed_ports = closed_tcp_ports(8)
    stats: dict[str, Any] = {"requests": {}, "streams": 0, "fake_peers_sent": 0,
                             "fake_peers": []}

    def fake_peers(n: int) -> list:
        out = []
        for k in range(n):
            pid = random_peer_id_bytes()
            if len(stats["fake_peers"]) < 200:
                stats["fake_peers"].append(b58encode(pid))
            port = closed_ports[k % len(closed_ports)]
            out.append(Message.Peer(id=pid, addrs=[multiaddr.Multiaddr(
                f"/ip4/127.0.0.1/tcp/{port}").to_bytes()], connection=0))
        stats["fake_peers_sent"] += n
        return out

    def make_handler(proto: str):
        async def handler(stream) -> None:
            stats["streams"] += 1
            reader = _Reader(stream)
            try:
                while True:
                    with trio.fail_after(60):
                        raw = await reader.message()
                    req = Message()
                    req.ParseFromString(raw)
                    name = f"{proto} {MSG_TYPES.get(req.type, req.type)}"
                    stats["requests"][name] = stats["requests"].get(name, 0) + 1
                    if req.type in (Message.FIND_NODE, Message.GET_PROVIDERS,
                                    Message.GET_VALUE):
                        resp = Message(type=req.type, key=req.key,
                                       clusterLevelRaw=req.clusterLevelRaw)
                        if opts.serve == "flood":
                            resp.closerPeers.extend(fake_peers(opts.flood))
                    elif req.type == Message.PING:
                        resp = Message(type=Message.PING)
                    else:
                        continue
                    body = resp.SerializeToString()
                    await stream.write(uvarint(len(body)) + body)
            except BaseException as e:  # noqa: BLE001  end of the peer's stream, or garbage
                if isinstance(e, trio.Cancelled):
                    raise
            finally:
                try:
                    await stream.close()
                except Exception:
                    pass
        return handler

    if opts.serve != "none":
        for proto in opts.serve_protocol:
            host.set_stream_handler(TProtocol(proto), make_handler(proto))

    # ----- client -----
    async def resolve_peer(a: dict) -> ID:
        target = a["peer"]
        if target.startswith("/"):
            info = info_from_p2p_addr(multiaddr.Multiaddr(target))
            if not host.get_network().get_connections(info.peer_id):
                await host.connect(info)
            return info.peer_id
        return ID.from_base58(target)

    def key_of(a: dict) -> bytes:
        if a.get("key_b64") is not None:
            return base64.b64decode(a["key_b64"])
        return ID.from_base58(a["key_text"]).to_bytes()

    async def open_stream(a: dict):
        peer = await resolve_peer(a)
        return await host.new_stream(peer, [TProtocol(a["proto"])])

    async def close_quietly(stream) -> None:
        try:
            await stream.close()
        except Exception:
            pass

    async def read_reply(reader: _Reader, read_timeout: float) -> tuple[str, Any]:
        try:
            with trio.fail_after(read_timeout):
                raw = await reader.message()
        except trio.TooSlowError:
            return "timeout", None
        except Exception as e:  # noqa: BLE001
            return _classify(e), None
        m = Message()
        m.ParseFromString(raw)
        return "reply", msg_json(m)

    async def rpc(a: dict, msg) -> dict:
        stream = await open_stream(a)
        try:
            body = msg.SerializeToString()
            await stream.write(uvarint(len(body)) + body)
            end, reply = await read_reply(_Reader(stream), float(a.get("read_timeout",
                                                                       a["timeout"] - 1)))
        finally:
            await close_quietly(stream)
        if end != "reply":
            raise RuntimeError(f"no answer to {MSG_TYPES[msg.type]} over {a['proto']}: {end}")
        return reply

    async def cmd_find_node(a: dict) -> dict:
        m = Message(type=Message.FIND_NODE, key=key_of(a))
        if a.get("junk_closer"):
            m.closerPeers.extend(fake_peers(int(a["junk_closer"])))
        return await rpc(a, m)

    async def cmd_get_providers(a: dict) -> dict:
        return await rpc(a, Message(type=Message.GET_PROVIDERS, key=key_of(a)))

    async def cmd_get_value(a: dict) -> dict:
        stream = await open_stream(a)
        try:
            body = Message(type=Message.GET_VALUE, key=key_of(a)).SerializeToString()
            await stream.write(uvarint(len(body)) + body)
            end, reply = await read_reply(_Reader(stream), float(a.get("read_timeout", 5)))
        finally:
            await close_quietly(stream)
        return {"end": end, "reply": reply}

    async def cmd_ping_dht(a: dict) -> dict:
        return await rpc(a, Message(type=Message.PING))

    def provider_peer(a: dict):
        pid = ID.from_base58(a["provider"]).to_bytes() if a.get("provider") else me.to_bytes()
        addrs = a.get("addrs")
        if addrs is None:
            addrs = [str(x) for x in host.get_addrs()]
        raw = [multiaddr.Multiaddr(x.split("/p2p/")[0]).to_bytes() for x in addrs]
        return Message.Peer(id=pid, addrs=raw, connection=0)

    async def cmd_add_provider(a: dict) -> dict:
        m = Message(type=Message.ADD_PROVIDER, key=key_of(a))
        m.providerPeers.append(provider_peer(a))
        stream = await open_stream(a)
        try:
            body = m.SerializeToString()
            await stream.write(uvarint(len(body)) + body)
            # Go's server sends nothing back; wait a little to see whether it closes or resets.
            end, reply = await read_reply(_Reader(stream), float(a.get("read_timeout", 0.5)))
        finally:
            await close_quietly(stream)
        return {"end": end, "reply": reply}

    async def cmd_put_value(a: dict) -> dict:
        key = key_of(a)
        rec = pb.Record(key=key, value=base64.b64decode(a["value_b64"]))
        m = Message(type=Message.PUT_VALUE, key=key, record=rec)
        stream = await open_stream(a)
        try:
            body = m.SerializeToString()
            await stream.write(uvarint(len(body)) + body)
            end, reply = await read_reply(_Reader(stream), float(a.get("read_timeout", 5)))
        finally:
            await close_quietly(stream)
        return {"end": end, "reply": reply}

    async def cmd_raw(a: dict) -> dict:
        stream = await open_stream(a)
        wrote, write_error = 0, None
        try:
            try:
                for f in a.get("frames_b64") or []:
                    data = base64.b64decode(f)
                    await stream.write(data)
                    wrote += len(data)
                if a.get("declared") is not None:
                    head = uvarint(int(a["declared"]))
                    await stream.write(head)
                    wrote += len(head)
                    left = int(a.get("size") or 0)
                    block = b"\x0a" * 65536  # field 1 varint 10: parses as junk, never valid
                    with trio.fail_after(float(a.get("read_timeout", 5)) + 10):
                        while left > 0:
                            n = min(left, len(block))
                            await stream.write(block[:n])
                            wrote += n
                            left -= n
            except Exception as e:  # noqa: BLE001
                write_error = _classify(e)
            end, reply = await read_reply(_Reader(stream), float(a.get("read_timeout", 5)))
        finally:
            await close_quietly(stream)
        return {"wrote": wrote, "write_error": write_error, "end": end, "reply": reply}

    async def cmd_add_provider_burst(a: dict) -> dict:
        stream = await open_stream(a)
        sent, keys, error = 0, [], None
        t0 = time.monotonic()
        prov = provider_peer(a)
        try:
            try:
                for _ in range(int(a["count"])):
                    key = b"\x12\x20" + os.urandom(32)
                    m = Message(type=Message.ADD_PROVIDER, key=key)
                    m.providerPeers.append(prov)
                    body = m.SerializeToString()
                    await stream.write(uvarint(len(body)) + body)
                    sent += 1
                    if len(keys) < 5:
                        keys.append(base64.b64encode(key).decode())
            except Exception as e:  # noqa: BLE001
                error = _classify(e)
            seconds = time.monotonic() - t0
            end, _ = await read_reply(_Reader(stream), 1.0)
        finally:
            await close_quietly(stream)
        return {"sent": sent, "seconds": seconds, "write_error": error, "end": end,
                "keys_b64": keys}

    async def cmd_connect(a: dict) -> str:
        info = info_from_p2p_addr(multiaddr.Multiaddr(a["maddr"]))
        await host.connect(info)
        return str(info.peer_id)

    async def cmd_protocols(a: dict) -> list[str]:
        peer = await resolve_peer(a)
        with trio.move_on_after(float(a["timeout"]) - 1):
            while True:
                try:
                    protos = host.get_peerstore().get_protocols(peer)
                except Exception:
                    protos = []
                if protos:
                    return [str(p) for p in protos]
                await trio.sleep(0.1)
        return []

    async def cmd_disconnect(a: dict) -> None:
        await host.disconnect(ID.from_base58(a["peer"]))

    commands = {"connect": cmd_connect, "protocols": cmd_protocols,
                "find-node": cmd_find_node, "get-providers": cmd_get_providers,
                "add-provider": cmd_add_provider, "put-value": cmd_put_value,
                "get-value": cmd_get_value, "ping-dht": cmd_ping_dht, "raw": cmd_raw,
                "add-provider-burst": cmd_add_provider_burst, "disconnect": cmd_disconnect}

    async def handle(req: dict) -> None:
        args = req.get("args", {})
        cmd = req.get("cmd")
        resp: dict[str, Any] = {"id": req.get("id")}
        try:
            with trio.fail_after(float(args.get("timeout", DEFAULT_TIMEOUT))):
                if cmd == "info":
                    result: Any = {"peer_id": str(me), "addrs": my_addrs()}
                elif cmd == "serve-stats":
                    result = stats
                elif cmd in commands:
                    result = await commands[cmd](args)
                else:
                    raise ValueError(f"unknown command {cmd!r}")
            resp.update(ok=True, result=result)
        except trio.TooSlowError:
            resp.update(ok=False, error=f"timeout: {cmd} took longer than "
                                        f"{args.get('timeout', DEFAULT_TIMEOUT)} s")
        except Exception as e:  # noqa: BLE001  report, keep serving
            resp.update(ok=False, error=f"{type(e).__name__}: {e}")
        send(resp)

    async def command_loop() -> None:
        stdin = trio.lowlevel.FdStream(os.dup(0))
        buf = b""
        while True:
            while b"\n" not in buf:
                chunk = await stdin.receive_some(65536)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            if req.get("cmd") == "quit":
                send({"id": req.get("id"), "ok": True, "result": None})
                return
            await handle(req)

    async with host.run(listen_addrs=listen):
        with trio.move_on_after(5):
            while not host.get_addrs():
                await trio.sleep(0.02)
        send({"event": "ready", "peer_id": str(me), "addrs": my_addrs()})
        await command_loop()


def _child(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--child", action="store_true")
    p.add_argument("--serve", choices=["none", "honest", "flood"], default="none")
    p.add_argument("--serve-protocol", action="append", default=[])
    p.add_argument("--flood", type=int, default=1000)
    opts = p.parse_args(argv)
    import logging
    logging.basicConfig(level=os.environ.get("KAD_LOG", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import trio
    try:
        trio.run(_child_main, opts)
    finally:
        sys.stderr.flush()
        os._exit(0)


# ======================================== self-test ============================================

def selftest(work: Path) -> int:
    """FIND_NODE / ADD_PROVIDER / GET_PROVIDERS against Kubo 0.22 (WAN DHT forced on)."""
    import shutil
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from kubo import KuboNode

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    kubo = KuboNode(work / "kubo")
    other = KuboNode(work / "kubo-other")
    client = None
    try:
        kubo.configure_loopback()
        kubo.update_config(lambda c: c.setdefault("Internal", {}).update(
            Libp2pForceReachability="public"))
        kubo.run()
        other.configure_loopback()
        other.run()
        other.connect(kubo.dial_addr())
        client = KadClient(work / "py")
        target = kubo.dial_addr()
        for proto in (WAN, LAN):
            fn = client.find_node(target, other.peer_id(), proto)
            print(f"{proto} FIND_NODE(other) -> {json.dumps(fn['closer'])}")
            cid = random_cid_v1()
            print(f"{proto} ADD_PROVIDER -> {client.add_provider(target, cid, proto)}")
            gp = client.get_providers(target, cid, proto)
            print(f"{proto} GET_PROVIDERS -> providers {json.dumps(gp['providers'])}")
            ok = any(p["id"] == client.peer_id for p in gp["providers"])
            print(f"{proto}: {'OK' if ok else 'MISSING'} our provider record")
        print("protocols:", client.protocols(kubo.peer_id()))
        return 0
    finally:
        if client is not None:
            client.close()
        other.close()
        kubo.close()


if __name__ == "__main__":
    if "--child" in sys.argv:
        _child(sys.argv[1:])
    elif "--selftest" in sys.argv:
        sys.exit(selftest(Path(__file__).resolve().parent / ".work" / "kad-selftest"))
    else:
        print(f"usage: {sys.argv[0]} --selftest   (the client is driven by KadClient)",
              file=sys.stderr)
        sys.exit(2)
