"""A py-libp2p 0.8.1 peer in a child process, driven with JSON lines (like kubo.py).

Child: ``python pyp2p_peer.py --security noise|tls --muxer yamux|mplex --key ed25519|rsa|secp256k1``
listens on /ip4/127.0.0.1/tcp/0 with exactly ONE security transport and ONE muxer, serves
identify (/ipfs/id/1.0.0, with a signed peer record), identify push and ping, then prints
``{"event": "ready", ...}`` and answers requests ``{"id": N, "cmd": NAME, "args": {...}}`` on stdin
with ``{"id": N, "ok": true, "result": ...}`` or ``{"id": N, "ok": false, "error": "..."}``.

Commands: ``info``, ``connect {maddr}``, ``ping {peer, count}``, ``identify {peer}``, ``peers``,
``disconnect {peer}``, ``quit``. Every command runs under a timeout (``timeout`` arg, default 20 s).

Bitswap commands (py-libp2p's own ``libp2p.bitswap`` package; the Bitswap service starts on the
first of them, so peers that never use Bitswap do not announce it):
``bitswap-add {path}`` builds a CIDv1 raw-leaves UnixFS DAG of a file with py-libp2p's own
builder (``MerkleDag.add_file``: 256 KiB chunks, balanced layout, 174 links) and serves its
blocks; ``bitswap-mode {mode}`` is ``honest`` or ``corrupt`` (answer EVERY want, want-have or
want-block, with wrong bytes under the wanted CID's prefix, whether it holds the block or not);
``get-block {cid, peer}``; ``fetch-file {cid, peer, out}`` (``MerkleDag.fetch_file``, whole file
in memory, written to OUT); ``bitswap-stat`` (counters, see ``PyPeer.bitswap_stat``).

What py-libp2p 0.8.1's Bitswap does on the wire (read from its source, checked against Kubo and
itself in test_bitswap.py):
- Protocol IDs: handles and dials ``/ipfs/bitswap/1.2.0``, ``/1.1.0``, ``/1.0.0`` (that order).
  NOT the bare ``/ipfs/bitswap`` that Kubo still lists.
- Server: answers on the stream the requester opened (never a stream of its own), after each
  incoming message. A want (want-have OR want-block) for a block it has gets the whole block;
  a block it lacks gets DONT_HAVE when ``wantType == Have`` or ``sendDontHave``, else nothing.
  It never sends HAVE in reply to a wantlist. Blocks go as ``payload`` (prefix + data) on 1.1.0+,
  ``blocks`` on 1.0.0, batched into messages of about 60,000 bytes (a bigger block goes alone).
  The prefix of a CIDv0 block is EMPTY (b""): a receiver must read an empty prefix as CIDv0
  (dag-pb, sha2-256). Messages over 4 MiB are refused (read and write); ``add_block`` refuses
  blocks over 512 KiB (so it cannot store or serve a 1 MiB chunk), but received blocks are
  stored without a size check.
- Client: one persistent outbound stream per peer (``BitswapMessageQueue``, 15 ms debounce);
  it reads replies on that stream and also accepts messages on streams the peer opens (Go
  style). ``Session.get_blocks_batch``: batches of 32; when a peer is given it sends WANT-BLOCK
  with sendDontHave=true straight away, priority 1; otherwise WANT-HAVE broadcasts, then
  WANT-BLOCK to up to 3 peers that said HAVE; re-sends after 1 s, 1.5 s, 2.25 s... (cap 10 s).
  Cancels after each block. Received blocks are checked only by recomputing the CID from
  prefix + data (v1.1.0+), or matched against the CIDs expected from that peer (v1.0.0).
- Idle timeouts: its reader of a stream closes it after 30 s (client) / 60 s (server) idle.

Parent: ``PyPeer(work_dir, security=..., muxer=..., key=...)`` spawns the child (its own process
group, stderr and py-libp2p logs in ``work_dir/pyp2p.log``), waits for "ready", and offers
``info()``, ``connect()``, ``ping()``, ``identify()``, ``peers()``, ``disconnect()``, ``close()``.
A call that does not answer in time SIGKILLs the child and raises PyPeerTimeout.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 20.0
START_TIMEOUT = 30.0
IDENTIFY_LIMIT = 64 * 1024
PEER_RECORD_DOMAIN = "libp2p-peer-record"


# ======================================= parent side ===========================================

class PyPeerError(RuntimeError):
    """A command failed in the py-libp2p child (the child's error text is in the message)."""


class PyPeerTimeout(PyPeerError):
    """The child did not answer in time; it has been killed."""


class PyPeer:
    """One py-libp2p host in its own killable child process."""

    def __init__(self, work_dir: str | os.PathLike, *, security: str = "noise",
                 muxer: str = "yamux", key: str = "ed25519", timeout: float = DEFAULT_TIMEOUT,
                 python: str | None = None):
        self.work_dir = Path(work_dir).resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.security, self.muxer, self.key = security, muxer, key
        self.timeout = timeout
        self._next_id = 0
        self._buf = b""
        self.log_path = self.work_dir / "pyp2p.log"
        self._log = open(self.log_path, "ab")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        self._proc = subprocess.Popen(
            [python or sys.executable, "-u", str(Path(__file__).resolve()),
             "--security", security, "--muxer", muxer, "--key", key],
            cwd=self.work_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            start_new_session=True, env=env,
        )
        try:
            ready = self._read_line(START_TIMEOUT, "startup")
        except BaseException:
            self.kill()
            raise
        if ready.get("event") != "ready":
            self.kill()
            raise PyPeerError(f"unexpected first line {ready}; see {self.log_path}")
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
                raise PyPeerTimeout(f"py-libp2p peer: no answer to {what} in {timeout:.0f}s; "
                                    f"child killed (log: {self.log_path})")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    try:
                        self._proc.wait(5)
                    except subprocess.TimeoutExpired:
                        pass
                    raise PyPeerError(f"py-libp2p child exited ({self._proc.returncode}) "
                                      f"during {what}; see {self.log_path}")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, cmd: str, timeout: float | None = None, **args: Any) -> Any:
        """Send one command; the child applies ``timeout`` itself and we wait 5 s longer."""
        if self._proc.poll() is not None:
            raise PyPeerError(f"py-libp2p child exited ({self._proc.returncode}); "
                              f"see {self.log_path}")
        timeout = self.timeout if timeout is None else timeout
        self._next_id += 1
        req = {"id": self._next_id, "cmd": cmd, "args": dict(args, timeout=timeout)}
        try:
            self._proc.stdin.write((json.dumps(req) + "\n").encode())
            self._proc.stdin.flush()
        except BrokenPipeError as e:
            raise PyPeerError(f"py-libp2p child died; see {self.log_path}") from e
        resp = self._read_line(timeout + 5.0, cmd)
        if resp.get("id") != req["id"]:
            raise PyPeerError(f"answer {resp} does not match request {req}")
        if not resp["ok"]:
            raise PyPeerError(f"{cmd} {args}: {resp['error']}")
        return resp["result"]

    # ----- commands ----------------------------------------------------------------------------

    def info(self) -> dict:
        """{"peer_id", "addrs" (with /p2p/), "protocols"}."""
        return self.request("info")

    def dial_addr(self) -> str:
        """The 127.0.0.1 TCP address with /p2p/<id>, for jz-node or Kubo to dial."""
        for a in self.addrs:
            if a.startswith("/ip4/127.0.0.1/tcp/"):
                return a if "/p2p/" in a else f"{a}/p2p/{self.peer_id}"
        raise PyPeerError(f"no loopback address in {self.addrs}")

    def connect(self, maddr: str, timeout: float | None = None) -> str:
        """Dial MADDR (ending in /p2p/<id>); returns the remote peer ID."""
        return self.request("connect", timeout, maddr=maddr)

    def ping(self, peer: str, count: int = 3, timeout: float | None = None) -> list[float]:
        """Ping over /ipfs/ping/1.0.0 (must be connected or have the addr); RTTs in ms."""
        return self.request("ping", timeout, peer=peer, count=count)

    def identify(self, peer: str, timeout: float | None = None) -> dict:
        """Run /ipfs/id/1.0.0 against PEER: {"agent_version", "protocol_version", "protocols",
        "listen_addrs", "observed_addr", "public_key_matches", "signed_peer_record": {"present",
        "valid", "error", "peer_id", "seq", "addrs"}}."""
        return self.request("identify", timeout, peer=peer)

    def peers(self) -> list[dict]:
        """[{"peer_id", "addrs": [remote transport addrs]}] of open connections."""
        return self.request("peers")

    def peer_ids(self) -> list[str]:
        return [p["peer_id"] for p in self.peers()]

    def disconnect(self, peer: str, timeout: float | None = None) -> None:
        self.request("disconnect", timeout, peer=peer)

    # ----- bitswap -----------------------------------------------------------------------------

    def bitswap_add(self, path: str | os.PathLike, timeout: float | None = None) -> dict:
        """CIDv1 raw-leaves DAG of PATH, served over Bitswap: {"cid", "blocks", "size",
        "sha256"} (blocks = all blocks now in the peer's store)."""
        return self.request("bitswap-add", timeout, path=str(Path(path).resolve()))

    def bitswap_mode(self, mode: str) -> str:
        """"honest" (default) or "corrupt": from now on every want is answered with wrong
        bytes under the wanted CID's prefix."""
        return self.request("bitswap-mode", mode=mode)

    def get_block(self, cid: str, peer: str | None = None, timeout: float | None = None) -> dict:
        """One block over Bitswap (from PEER if given, else any connected peer):
        {"cid", "size", "sha256", "data_b64", "verified"} (verified: data hashes to CID)."""
        return self.request("get-block", timeout, cid=cid, peer=peer)

    def fetch_file(self, cid: str, out: str | os.PathLike, peer: str | None = None,
                   timeout: float | None = None) -> dict:
        """A UnixFS file (dag-pb or raw leaves) over Bitswap, written to OUT:
        {"size", "sha256", "filename", "seconds"}."""
        return self.request("fetch-file", timeout, cid=cid, peer=peer,
                            out=str(Path(out).resolve()))

    def bitswap_stat(self) -> dict:
        """{"started", "mode", "protocols" (handled), "negotiated" {peer: protocol of the last
        stream}, "blocks_sent", "bytes_sent", "corrupt_blocks_sent", "wants_received"
        {"have", "block", "cancel"}, "send_dont_have_received", "want_peers", "messages_received"
        {"inbound", "outbound"} (streams the peer opened / we opened), "blocks_received"
        {"inbound", "outbound"}, "presences_received" {"have", "dont_have"}, "store_blocks"}."""
        return self.request("bitswap-stat")

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
        """Ask the child to quit (bounded), then make sure it is gone."""
        if self.alive():
            try:
                self.request("quit", timeout=5.0)
            except PyPeerError:
                pass
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def __enter__(self) -> "PyPeer":
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

def _make_key_pair(kind: str):
    if kind == "ed25519":
        from libp2p.crypto.ed25519 import create_new_key_pair
        return create_new_key_pair()
    if kind == "rsa":
        from libp2p.crypto.rsa import create_new_key_pair
        return create_new_key_pair(2048)
    if kind == "secp256k1":
        from libp2p.crypto.secp256k1 import create_new_key_pair
        return create_new_key_pair()
    raise ValueError(f"unknown key type {kind}")


def _decode_addrs(raw: list[bytes]) -> list[str]:
    import multiaddr
    out = []
    for b in raw:
        try:
            out.append(str(multiaddr.Multiaddr(b)))
        except Exception as e:  # report, keep going
            out.append(f"<undecodable {b.hex()}: {e}>")
    return out


def _bitswap_client_class():
    """BitswapClient subclass that counts what crosses the wire (per stream direction) and can
    serve corrupt blocks. Built lazily: importing libp2p.bitswap is slow."""
    import hashlib

    from libp2p.bitswap import BitswapClient
    from libp2p.bitswap.cid import get_cid_prefix, parse_cid
    from libp2p.bitswap.config import BITSWAP_PROTOCOL_V100
    from libp2p.bitswap.pb.bitswap_pb2 import Message

    class InstrumentedBitswap(BitswapClient):
        def __init__(self, host, **kw):
            super().__init__(host, **kw)
            self.mode = "honest"
            self._outbound: set[int] = set()  # id() of streams we opened
            self.counters: dict[str, Any] = {
                "negotiated": {}, "blocks_sent": 0, "bytes_sent": 0, "corrupt_blocks_sent": 0,
                "wants_received": {"have": 0, "block": 0, "cancel": 0},
                "send_dont_have_received": 0, "want_peers": set(),
                "messages_received": {"inbound": 0, "outbound": 0},
                "blocks_received": {"inbound": 0, "outbound": 0},
                "presences_received": {"have": 0, "dont_have": 0},
            }

        def _on_message_queue_stream_opened(self, stream, peer_id) -> None:
            self._outbound.add(id(stream))
            proto = stream.get_protocol()
            if proto:
                self.counters["negotiated"][str(peer_id)] = str(proto)
            super()._on_message_queue_stream_opened(stream, peer_id)

        async def _handle_stream(self, stream) -> None:
            proto = stream.get_protocol()
            if proto:
                self.counters["negotiated"][str(stream.muxed_conn.peer_id)] = str(proto)
            await super()._handle_stream(stream)

        async def _process_message(self, msg, peer_id, stream) -> None:
            c = self.counters
            way = "outbound" if id(stream) in self._outbound else "inbound"
            c["messages_received"][way] += 1
            c["blocks_received"][way] += len(msg.blocks) + len(msg.payload)
            for e in msg.wantlist.entries:
                c["want_peers"].add(str(peer_id))
                if e.cancel:
                    c["wants_received"]["cancel"] += 1
                elif e.wantType == Message.Wantlist.Have:
                    c["wants_received"]["have"] += 1
                else:
                    c["wants_received"]["block"] += 1
                if e.sendDontHave:
                    c["send_dont_have_received"] += 1
            for pr in msg.blockPresences:
                c["presences_received"]["have" if pr.type == Message.Have else "dont_have"] += 1
            await super()._process_message(msg, peer_id, stream)

        async def _write_message(self, stream, msg) -> None:
            await super()._write_message(stream, msg)
            self.counters["blocks_sent"] += len(msg.blocks) + len(msg.payload)
            self.counters["bytes_sent"] += (sum(len(b) for b in msg.blocks)
                                           + sum(len(b.data) for b in msg.payload))

        async def _process_wantlist(self, wantlist, peer_id, stream) -> None:
            if self.mode != "corrupt":
                await super()._process_wantlist(wantlist, peer_id, stream)
                return
            # Corrupt: every want gets a block under the wanted CID's prefix whose bytes do
            # not hash to that CID (the real block with its first byte flipped, or 256 KiB
            # of bytes derived from the CID when we do not hold it).
            v100, v110 = [], []
            proto = self._peer_protocols.get(peer_id, BITSWAP_PROTOCOL_V100)
            for e in wantlist.entries:
                if e.cancel:
                    continue
                try:
                    cid = parse_cid(e.block)
                except Exception:
                    continue
                data = await self.block_store.get_block(cid)
                if data:
                    bad = bytes([data[0] ^ 0xFF]) + data[1:]
                else:
                    seed = hashlib.sha256(b"corrupt" + bytes(e.block)).digest()
                    bad = (seed * (262144 // len(seed)))
                if proto == BITSWAP_PROTOCOL_V100:
                    v100.append(bad)
                else:
                    v110.append((get_cid_prefix(cid), bad))
                self.counters["corrupt_blocks_sent"] += 1
            if v100 or v110:
                try:
                    await self._send_wantlist_responses_inline(stream, peer_id, v100, v110, [])
                except Exception:
                    pass

        def stat(self) -> dict:
            c = dict(self.counters)
            c["want_peers"] = sorted(c["want_peers"])
            c["mode"] = self.mode
            c["protocols"] = list(self.supported_protocols)
            c["store_blocks"] = len(self.block_store.get_all_cids())
            return c

    return InstrumentedBitswap


async def _child_main(opts: argparse.Namespace) -> None:
    import multiaddr
    import trio

    from libp2p import new_host
    from libp2p.crypto.serialization import deserialize_public_key
    from libp2p.crypto.x25519 import create_new_key_pair as new_x25519
    from libp2p.custom_types import TProtocol
    from libp2p.host.ping import ID as PING_ID, PING_LENGTH
    from libp2p.identity.identify.identify import ID as IDENTIFY_ID
    from libp2p.identity.identify.pb.identify_pb2 import Identify
    from libp2p.network.config import ConnectionConfig
    from libp2p.peer.envelope import consume_envelope
    from libp2p.peer.id import ID
    from libp2p.peer.peerinfo import info_from_p2p_addr
    from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID, Transport as Noise
    from libp2p.security.tls.transport import PROTOCOL_ID as TLS_ID, TLSTransport
    from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
    from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID, Yamux

    key_pair = _make_key_pair(opts.key)
    if opts.security == "noise":
        sec = {NOISE_ID: Noise(key_pair, noise_privkey=new_x25519().private_key)}
    else:
        sec = {TLS_ID: TLSTransport(key_pair)}
    if opts.muxer == "yamux":
        mux = {TProtocol(YAMUX_ID): Yamux}
    else:
        mux = {TProtocol(MPLEX_PROTOCOL_ID): Mplex}
    listen = [multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]
    # min_connections=0: py-libp2p's auto-connector (default floor 50) must never re-dial a
    # peer a test has just disconnected.
    host = new_host(key_pair=key_pair, sec_opt=sec, muxer_opt=mux, listen_addrs=listen,
                    enable_mDNS=False, enable_upnp=False, negotiate_timeout=15,
                    connection_config=ConnectionConfig(min_connections=0))
    me = host.get_id()

    chan = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # stray prints from libraries go to the log, not into our channel
    sys.stdout = sys.stderr

    def send(obj: dict) -> None:
        chan.write(json.dumps(obj) + "\n")
        chan.flush()

    def addrs() -> list[str]:
        out = []
        for a in host.get_addrs():
            s = str(a)
            out.append(s if "/p2p/" in s else f"{s}/p2p/{me}")
        return out

    async def read_all(stream, limit: int) -> bytes:
        from libp2p.network.stream.exceptions import StreamEOF
        data = b""
        while True:
            try:
                chunk = await stream.read(limit + 1 - len(data))
            except StreamEOF:  # py-libp2p raises at EOF instead of returning b""
                return data
            if not chunk:
                return data
            data += chunk
            if len(data) > limit:
                raise ValueError(f"message longer than {limit} bytes")

    async def ensure_stream(peer: ID, proto):
        return await host.new_stream(peer, [proto])

    async def cmd_connect(a: dict) -> str:
        info = info_from_p2p_addr(multiaddr.Multiaddr(a["maddr"]))
        await host.connect(info)
        if not host.get_network().get_connections(info.peer_id):
            raise RuntimeError(f"no connection to {info.peer_id} after connect")
        return str(info.peer_id)

    async def cmd_ping(a: dict) -> list[float]:
        import secrets
        from libp2p.io.utils import read_exactly
        peer = ID.from_base58(a["peer"])
        stream = await ensure_stream(peer, PING_ID)
        rtts = []
        try:
            for _ in range(int(a.get("count", 3))):
                payload = secrets.token_bytes(PING_LENGTH)
                t0 = time.perf_counter()
                await stream.write(payload)
                echo = await read_exactly(stream, PING_LENGTH)
                rtts.append((time.perf_counter() - t0) * 1000.0)
                if echo != payload:
                    raise ValueError(f"ping echo mismatch from {peer}: {echo.hex()}")
        finally:
            try:
                await stream.close()
            except Exception:
                pass
        return rtts

    async def cmd_identify(a: dict) -> dict:
        from libp2p.utils import decode_varint_with_size
        peer = ID.from_base58(a["peer"])
        stream = await ensure_stream(peer, IDENTIFY_ID)
        raw = await read_all(stream, IDENTIFY_LIMIT)
        try:
            await stream.close()
        except Exception:
            pass
        # Messages are uvarint-length-prefixed; a peer may send several (fields merge).
        msg = Identify()
        i, count = 0, 0
        while i < len(raw):
            n, size = decode_varint_with_size(raw[i:])
            if size == 0 or i + size + n > len(raw):
                raise ValueError(f"truncated identify message at offset {i} ({len(raw)} bytes)")
            part = Identify()
            part.ParseFromString(raw[i + size:i + size + n])
            msg.MergeFrom(part)
            i += size + n
            count += 1
        out: dict[str, Any] = {
            "messages": count,
            "agent_version": msg.agent_version,
            "protocol_version": msg.protocol_version,
            "protocols": list(msg.protocols),
            "listen_addrs": _decode_addrs(list(msg.listen_addrs)),
            "observed_addr": _decode_addrs([msg.observed_addr])[0] if msg.observed_addr else None,
            "public_key_matches": False,
        }
        if msg.HasField("public_key"):
            try:
                pk = deserialize_public_key(msg.public_key)
                out["public_key_matches"] = ID.from_pubkey(pk) == peer
            except Exception as e:
                out["public_key_error"] = f"{type(e).__name__}: {e}"
        rec: dict[str, Any] = {"present": bool(msg.signedPeerRecord), "valid": False}
        if msg.signedPeerRecord:
            try:
                env, record = consume_envelope(msg.signedPeerRecord, PEER_RECORD_DOMAIN)
                rec["peer_id"] = str(record.peer_id)
                rec["seq"] = int(record.seq)
                rec["addrs"] = [str(x) for x in record.addrs]
                signer = ID.from_pubkey(env.public_key)
                rec["signer"] = str(signer)
                rec["valid"] = record.peer_id == peer and signer == peer
                if not rec["valid"]:
                    rec["error"] = "record/signer peer ID differs from the identified peer"
            except Exception as e:
                rec["error"] = f"{type(e).__name__}: {e}"
        out["signed_peer_record"] = rec
        return out

    def cmd_peers(_a: dict) -> list[dict]:
        out = []
        net = host.get_network()
        for pid in host.get_connected_peers():
            remote = []
            for conn in net.get_connections(pid):
                try:
                    remote += [str(x) for x in (conn.get_transport_addresses() or [])]
                except Exception:
                    pass
            out.append({"peer_id": str(pid), "addrs": remote})
        return out

    async def cmd_disconnect(a: dict) -> None:
        await host.disconnect(ID.from_base58(a["peer"]))

    # ----- bitswap (started on first use, in the command loop's nursery) -----
    bs: dict[str, Any] = {"client": None, "dag": None, "nursery": None}

    async def bitswap():
        if bs["client"] is None:
            from libp2p.bitswap.dag import MerkleDag
            client = _bitswap_client_class()(host)
            client.set_nursery(bs["nursery"])
            await client.start()
            bs["client"], bs["dag"] = client, MerkleDag(client)
        return bs["client"], bs["dag"]

    def sha256_file(path: str) -> str:
        import hashlib
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    async def cmd_bitswap_add(a: dict) -> dict:
        from libp2p.bitswap.cid import cid_to_text
        client, dag = await bitswap()
        root = await dag.add_file(a["path"])
        return {"cid": cid_to_text(root), "blocks": len(client.block_store.get_all_cids()),
                "size": os.path.getsize(a["path"]), "sha256": sha256_file(a["path"])}

    async def cmd_bitswap_mode(a: dict) -> str:
        if a["mode"] not in ("honest", "corrupt"):
            raise ValueError(f"mode must be honest or corrupt, not {a['mode']!r}")
        client, _ = await bitswap()
        client.mode = a["mode"]
        return client.mode

    async def cmd_get_block(a: dict) -> dict:
        import base64
        import hashlib
        from libp2p.bitswap.cid import cid_to_text, parse_cid, verify_cid
        client, _ = await bitswap()
        cid = parse_cid(a["cid"])
        peer = ID.from_base58(a["peer"]) if a.get("peer") else None
        data = await client.new_session().get_block(cid, peer,
                                                    timeout=float(a.get("timeout", 20)))
        return {"cid": cid_to_text(cid), "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "data_b64": base64.b64encode(data).decode(), "verified": verify_cid(cid, data)}

    async def cmd_fetch_file(a: dict) -> dict:
        import hashlib
        from libp2p.bitswap.cid import parse_cid
        _, dag = await bitswap()
        peer = ID.from_base58(a["peer"]) if a.get("peer") else None
        t0 = time.perf_counter()
        data, filename = await dag.fetch_file(parse_cid(a["cid"]).buffer, peer_id=peer,
                                              timeout=float(a.get("timeout", 20)))
        seconds = time.perf_counter() - t0
        with open(a["out"], "wb") as f:
            f.write(data)
        return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                "filename": filename, "seconds": seconds}

    async def cmd_bitswap_stat(_a: dict) -> dict:
        if bs["client"] is None:
            return {"started": False}
        return dict(bs["client"].stat(), started=True)

    async def command_loop() -> None:
        stdin = trio.lowlevel.FdStream(os.dup(0))
        buf = b""
        while True:
            while b"\n" not in buf:
                chunk = await stdin.receive_some(65536)
                if not chunk:
                    return  # parent gone
                buf += chunk
            line, buf = buf.split(b"\n", 1)
            req = json.loads(line)
            args = req.get("args", {})
            cmd = req.get("cmd")
            resp: dict[str, Any] = {"id": req.get("id")}
            try:
                with trio.fail_after(float(args.get("timeout", DEFAULT_TIMEOUT))):
                    if cmd == "info":
                        result: Any = {"peer_id": str(me), "addrs": addrs(),
                                       "protocols": sorted(str(p) for p in
                                                           host.get_mux().get_protocols()
                                                           if p is not None)}
                    elif cmd == "connect":
                        result = await cmd_connect(args)
                    elif cmd == "ping":
                        result = await cmd_ping(args)
                    elif cmd == "identify":
                        result = await cmd_identify(args)
                    elif cmd == "peers":
                        result = cmd_peers(args)
                    elif cmd == "disconnect":
                        result = await cmd_disconnect(args)
                    elif cmd == "bitswap-add":
                        result = await cmd_bitswap_add(args)
                    elif cmd == "bitswap-mode":
                        result = await cmd_bitswap_mode(args)
                    elif cmd == "get-block":
                        result = await cmd_get_block(args)
                    elif cmd == "fetch-file":
                        result = await cmd_fetch_file(args)
                    elif cmd == "bitswap-stat":
                        result = await cmd_bitswap_stat(args)
                    elif cmd == "quit":
                        send(dict(resp, ok=True, result=None))
                        return
                    else:
                        raise ValueError(f"unknown command {cmd!r}")
                resp.update(ok=True, result=result)
            except trio.TooSlowError:
                resp.update(ok=False, error=f"timeout: {cmd} took longer than "
                                            f"{args.get('timeout', DEFAULT_TIMEOUT)} s")
            except Exception as e:  # report, keep serving
                resp.update(ok=False, error=f"{type(e).__name__}: {e}")
            send(resp)

    async with host.run(listen_addrs=listen):
        # Listeners may take a moment to show up in get_addrs().
        with trio.move_on_after(5):
            while not host.get_addrs():
                await trio.sleep(0.02)
        send({"event": "ready", "peer_id": str(me), "addrs": addrs(),
              "security": opts.security, "muxer": opts.muxer, "key": opts.key})

        async with trio.open_nursery() as nursery:
            bs["nursery"] = nursery
            await command_loop()
            nursery.cancel_scope.cancel()


def main() -> None:
    p = argparse.ArgumentParser(description="py-libp2p peer driven by JSON lines on stdin")
    p.add_argument("--security", choices=["noise", "tls"], default="noise")
    p.add_argument("--muxer", choices=["yamux", "mplex"], default="yamux")
    p.add_argument("--key", choices=["ed25519", "rsa", "secp256k1"], default="ed25519")
    opts = p.parse_args()
    import logging
    logging.basicConfig(level=os.environ.get("PYP2P_LOG", "WARNING"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import trio
    try:
        trio.run(_child_main, opts)
    finally:
        # trio may leave py-libp2p system tasks; do not hang in interpreter teardown.
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
