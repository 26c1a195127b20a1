"""Misbehaving libp2p peers on raw sockets, for robustness tests of jz-node (and parity checks
against Kubo). Blocking sockets, every wait bounded. Targets on loopback or on a private test
network (`netns.PublicNetwork`) only.

Pieces, each small and independent of py-libp2p:
- multistream-select 1.0 initiator (``ms_select``),
- a Noise XX initiator (Noise_XX_25519_ChaChaPoly_SHA256, libp2p payload with an Ed25519 identity;
  ``noise_connect``) giving a ``NoiseConn`` with 2-byte-length framed transport messages,
- a yamux frame writer/reader (``YamuxFrame``, ``yamux_frames``).

Attacks (each returns a dict describing what the target did, and never raises on the target's
reaction, only on our own setup failing):
1. ``random_peer_id()``: dial a real peer's address with this ID -> the dialer must refuse;
   ``noise_connect(..., forge_identity=True)``: a handshake that claims a peer ID whose key did not
   sign the Noise static key -> the listener must refuse (``forged_identity``).
2. ``garbled_frame_after_noise``: a completed Noise handshake, then a frame that does not decrypt.
3. ``yamux_oversized_frame``: after noise+yamux, a data frame header announcing 64 MiB.
4. ``yamux_stream_flood``: 3,000 yamux SYNs as fast as possible.
5. ``BitswapLiar``: holds a connection, accepts the target's Bitswap streams and answers every
   want with a HAVE and a block whose bytes do not match the CID (bad blocks).
6. ``hostile_peer`` (also ``python netadversary.py hostile --target HOST:PORT:PEER ...``): a
   liar on every target for the whole run, plus rounds of attacks 2-4 against each target.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keys import b58decode, b58encode, decode_key, peer_id_from_public_key

DEFAULT_TIMEOUT = 10.0
MULTISTREAM = "/multistream/1.0.0"
NOISE_PROTOCOL = b"Noise_XX_25519_ChaChaPoly_SHA256"
NOISE_SIG_PREFIX = b"noise-libp2p-static-key:"


class AdversaryError(RuntimeError):
    """Our own side failed (connect refused, handshake refused, protocol not supported...)."""


class PeerClosed(AdversaryError):
    """The target closed or reset the connection."""


# ----- small codecs ---------------------------------------------------------------------------

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


def pb_bytes(field: int, data: bytes) -> bytes:
    return uvarint(field << 3 | 2) + uvarint(len(data)) + data


def pb_parse(buf: bytes) -> dict[int, bytes | int]:
    """Minimal protobuf reader: {field: value} (last one wins), varint and bytes fields only."""
    out: dict[int, bytes | int] = {}
    i = 0
    while i < len(buf):
        tag, i = _read_uvarint(buf, i)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            out[field], i = _read_uvarint(buf, i)
        elif wire == 2:
            n, i = _read_uvarint(buf, i)
            if i + n > len(buf):
                raise AdversaryError("truncated protobuf")
            out[field], i = buf[i:i + n], i + n
        else:
            raise AdversaryError(f"unsupported wire type {wire}")
    return out


def _read_uvarint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise AdversaryError("bad varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def random_peer_id() -> str:
    """A fresh, valid Ed25519 peer ID that nobody runs: dialing it at a real address must fail."""
    return Identity.generate().peer_id


# ----- identities -----------------------------------------------------------------------------

@dataclass
class Identity:
    key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> "Identity":
        return cls(Ed25519PrivateKey.generate())

    @property
    def public_protobuf(self) -> bytes:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return b"\x08\x01" + pb_bytes(2, raw)  # KeyType Ed25519 = 1, Data

    @property
    def peer_id(self) -> str:
        return peer_id_from_public_key(self.public_protobuf)


# ----- byte pipes -----------------------------------------------------------------------------

class RawConn:
    """A TCP connection with exact reads, all bounded by ``timeout``."""

    def __init__(self, host: str, port: int, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise AdversaryError(f"connect {host}:{port}: {e}") from e
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise PeerClosed(f"send: {e}") from e

    def recv_exact(self, n: int, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"waited for {n} bytes, have {len(self._buf)}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout as e:
                raise TimeoutError(f"waited for {n} bytes, have {len(self._buf)}") from e
            except OSError as e:  # ECONNRESET
                raise PeerClosed(f"recv: {e}") from e
            if not chunk:
                raise PeerClosed(f"EOF after {len(self._buf)} of {n} bytes")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def recv_uvarint(self) -> int:
        shift = value = 0
        for _ in range(10):
            b = self.recv_exact(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
        raise AdversaryError("varint too long")

    def wait_closed(self, timeout: float) -> dict:
        """Read and discard until EOF/reset or ``timeout``: {"closed", "how", "bytes", "after"}."""
        t0 = time.monotonic()
        got = len(self._buf)
        self._buf = b""
        while True:
            left = timeout - (time.monotonic() - t0)
            if left <= 0:
                return {"closed": False, "how": "timeout", "bytes": got, "after": timeout}
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                return {"closed": True, "how": f"reset ({e})", "bytes": got,
                        "after": time.monotonic() - t0}
            if not chunk:
                return {"closed": True, "how": "eof", "bytes": got,
                        "after": time.monotonic() - t0}
            got += len(chunk)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def ms_select(conn, protocol: str) -> None:
    """multistream-select 1.0 as initiator on ``conn`` (RawConn or NoiseConn): header and
    proposal pipelined; raises AdversaryError on "na"."""
    def msg(text: str) -> bytes:
        body = (text + "\n").encode()
        return uvarint(len(body)) + body

    conn.send(msg(MULTISTREAM) + msg(protocol))
    for want in (MULTISTREAM, protocol):
        n = conn.recv_uvarint()
        if n > 1024:
            raise AdversaryError(f"multistream message of {n} bytes")
        got = conn.recv_exact(n).decode(errors="replace").rstrip("\n")
        if got != want:
            raise AdversaryError(f"multistream: wanted {want!r}, got {got!r}")


# ----- Noise XX -------------------------------------------------------------------------------

def _hkdf2(ck: bytes, ikm: bytes) -> tuple[bytes, bytes]:
    temp = hmac.new(ck, ikm, hashlib.sha256).digest()
    o1 = hmac.new(temp, b"\x01", hashlib.sha256).digest()
    o2 = hmac.new(temp, o1 + b"\x02", hashlib.sha256).digest()
    return o1, o2


def _nonce(n: int) -> bytes:
    return b"\x00\x00\x00\x00" + struct.pack("<Q", n)


class _Symmetric:
    def __init__(self) -> None:
        self.h = NOISE_PROTOCOL  # exactly 32 bytes: used as is
        self.ck = self.h
        self.k: bytes | None = None
        self.n = 0
        self.mix_hash(b"")  # empty prologue

    def mix_hash(self, data: bytes) -> None:
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key(self, ikm: bytes) -> None:
        self.ck, k = _hkdf2(self.ck, ikm)
        self.k, self.n = k, 0

    def encrypt_and_hash(self, pt: bytes) -> bytes:
        if self.k is None:
            ct = pt
        else:
            ct = ChaCha20Poly1305(self.k).encrypt(_nonce(self.n), pt, self.h)
            self.n += 1
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, ct: bytes) -> bytes:
        if self.k is None:
            pt = ct
        else:
            pt = ChaCha20Poly1305(self.k).decrypt(_nonce(self.n), ct, self.h)
            self.n += 1
        self.mix_hash(ct)
        return pt


class NoiseConn:
    """Transport phase of a libp2p Noise session (initiator side) over a RawConn."""

    MAX_PLAINTEXT = 65535 - 16

    def __init__(self, raw: RawConn, k_send: bytes, k_recv: bytes, remote_peer: str):
        self.raw = raw
        self._send = ChaCha20Poly1305(k_send)
        self._recv = ChaCha20Poly1305(k_recv)
        self._ns = self._nr = 0
        self._buf = b""
        self.remote_peer = remote_peer
        self._lock = threading.Lock()

    def send(self, data: bytes) -> None:
        out = bytearray()
        with self._lock:
            for i in range(0, max(len(data), 1), self.MAX_PLAINTEXT):
                ct = self._send.encrypt(_nonce(self._ns), data[i:i + self.MAX_PLAINTEXT], b"")
                self._ns += 1
                out += struct.pack(">H", len(ct)) + ct
            self.raw.send(bytes(out))

    def send_raw_frame(self, body: bytes) -> None:
        """A length-prefixed frame whose body is NOT a valid ciphertext (the garbling attack)."""
        with self._lock:
            self.raw.send(struct.pack(">H", len(body)) + body)

    def recv_exact(self, n: int, timeout: float | None = None) -> bytes:
        while len(self._buf) < n:
            head = self.raw.recv_exact(2, timeout)
            size = struct.unpack(">H", head)[0]
            try:
                ct = self.raw.recv_exact(size, timeout)
            except TimeoutError:
                self.raw._buf = head + self.raw._buf  # whole frames only: try again later
                raise
            try:
                self._buf += self._recv.decrypt(_nonce(self._nr), ct, b"")
            except Exception as e:
                raise AdversaryError(f"frame from the target does not decrypt: {e}") from e
            self._nr += 1
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    recv_uvarint = RawConn.recv_uvarint  # reads through this stream's recv_exact

    def wait_closed(self, timeout: float) -> dict:
        return self.raw.wait_closed(timeout)

    def close(self) -> None:
        self.raw.close()


def noise_connect(host: str, port: int, *, expected_peer: str | None = None,
                  identity: Identity | None = None, forge_identity: bool = False,
                  timeout: float = DEFAULT_TIMEOUT) -> NoiseConn:
    """TCP connect, multistream ``/noise``, Noise XX as initiator with a libp2p payload.

    ``forge_identity``: send a *different* identity key than the one that signs the static key
    (a peer claiming another peer's ID); a correct listener aborts the handshake.
    Checks the responder's peer ID against ``expected_peer`` if given, and its static-key
    signature when its identity key is Ed25519 (other key types: not verified here).
    """
    identity = identity or Identity.generate()
    raw = RawConn(host, port, timeout)
    try:
        ms_select(raw, "/noise")
        ss = _Symmetric()
        e = X25519PrivateKey.generate()
        s = X25519PrivateKey.generate()
        e_pub = e.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        s_pub = s.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

        def send_msg(body: bytes) -> None:
            raw.send(struct.pack(">H", len(body)) + body)

        def recv_msg() -> bytes:
            n = struct.unpack(">H", raw.recv_exact(2))[0]
            return raw.recv_exact(n)

        # -> e
        ss.mix_hash(e_pub)
        msg1 = e_pub + ss.encrypt_and_hash(b"")
        send_msg(msg1)
        # <- e, ee, s, es, payload
        m2 = recv_msg()
        if len(m2) < 32 + 48:
            raise AdversaryError(f"noise message 2 too short ({len(m2)} bytes)")
        re_pub = m2[:32]
        ss.mix_hash(re_pub)
        re = X25519PublicKey.from_public_bytes(re_pub)
        ss.mix_key(e.exchange(re))
        rs_pub = ss.decrypt_and_hash(m2[32:80])
        rs = X25519PublicKey.from_public_bytes(rs_pub)
        ss.mix_key(e.exchange(rs))
        payload = pb_parse(ss.decrypt_and_hash(m2[80:]))
        remote_key = payload.get(1)
        remote_sig = payload.get(2)
        if not isinstance(remote_key, bytes) or not isinstance(remote_sig, bytes):
            raise AdversaryError("responder payload lacks identity_key/identity_sig")
        key_type, key_data = decode_key(remote_key)
        if key_type == "Ed25519":
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
            try:
                Ed25519PublicKey.from_public_bytes(key_data).verify(
                    remote_sig, NOISE_SIG_PREFIX + rs_pub)
            except Exception as ex:
                raise AdversaryError(f"responder's static key signature is invalid: {ex}") from ex
        remote_peer = peer_id_from_public_key(remote_key)
        if expected_peer is not None and remote_peer != expected_peer:
            raise AdversaryError(f"responder is {remote_peer}, expected {expected_peer}")
        # -> s, se, payload
        c_s = ss.encrypt_and_hash(s_pub)
        ss.mix_key(s.exchange(re))
        signer = Identity.generate() if forge_identity else identity
        sig = signer.key.sign(NOISE_SIG_PREFIX + s_pub)
        my_payload = pb_bytes(1, identity.public_protobuf) + pb_bytes(2, sig)
        send_msg(c_s + ss.encrypt_and_hash(my_payload))
        k1, k2 = _hkdf2(ss.ck, b"")
        return NoiseConn(raw, k1, k2, remote_peer)
    except BaseException:
        raw.close()
        raise


# ----- yamux ----------------------------------------------------------------------------------

YAMUX_DATA, YAMUX_WINDOW, YAMUX_PING, YAMUX_GOAWAY = 0, 1, 2, 3
SYN, ACK, FIN, RST = 1, 2, 4, 8


@dataclass
class YamuxFrame:
    type: int
    flags: int
    stream: int
    length: int

    def encode(self) -> bytes:
        return struct.pack(">BBHII", 0, self.type, self.flags, self.stream, self.length)

    @classmethod
    def read(cls, conn, timeout: float | None = None) -> "YamuxFrame":
        hdr = conn.recv_exact(12, timeout) if timeout is not None else conn.recv_exact(12)
        ver, typ, flags, stream, length = struct.unpack(">BBHII", hdr)
        if ver != 0:
            raise AdversaryError(f"yamux version {ver}")
        return cls(typ, flags, stream, length)


def noise_yamux_connect(host: str, port: int, *, expected_peer: str | None = None,
                        timeout: float = DEFAULT_TIMEOUT) -> NoiseConn:
    """noise_connect + multistream ``/yamux/1.0.0`` inside the secure channel."""
    conn = noise_connect(host, port, expected_peer=expected_peer, timeout=timeout)
    try:
        ms_select(conn, "/yamux/1.0.0")
    except BaseException:
        conn.close()
        raise
    return conn


def yamux_ping(conn: NoiseConn, opaque: int = 0x1234, timeout: float = 5.0) -> float:
    """Send a yamux ping (SYN) and wait for its ACK, skipping other frames; RTT in ms."""
    t0 = time.monotonic()
    conn.send(YamuxFrame(YAMUX_PING, SYN, 0, opaque).encode())
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no yamux ping ACK")
        f = YamuxFrame.read(conn, left)
        if f.type == YAMUX_DATA and f.length:
            conn.recv_exact(f.length, left)
        if f.type == YAMUX_PING and f.flags & ACK and f.length == opaque:
            return (time.monotonic() - t0) * 1000.0
        if f.type == YAMUX_GOAWAY:
            raise PeerClosed(f"go-away code {f.length}")


# ----- attacks --------------------------------------------------------------------------------

def forged_identity(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Attack 1b: complete our side of the handshake claiming an identity whose key did not sign
    our Noise static key. Result: {"refused": bool, "detail": ...}. A correct listener closes."""
    try:
        conn = noise_connect(host, port, forge_identity=True, timeout=timeout)
    except (AdversaryError, TimeoutError, OSError) as e:
        return {"refused": True, "detail": f"during handshake: {e}"}
    try:
        # The listener only sees our payload after message 3; give it time to close on us.
        try:
            ms_select(conn, "/yamux/1.0.0")
        except (AdversaryError, TimeoutError, OSError) as e:
            return {"refused": True, "detail": f"after handshake: {e}"}
        return {"refused": False, "detail": "listener accepted a forged identity and spoke yamux"}
    finally:
        conn.close()


def garbled_frame_after_noise(host: str, port: int, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Attack 2: finish a Noise handshake, then send a frame that fails authentication.
    Result from ``wait_closed`` ({"closed": True, ...} is the correct reaction)."""
    conn = noise_connect(host, port, timeout=timeout)
    try:
        conn.send_raw_frame(os.urandom(200))
        return conn.wait_closed(timeout)
    finally:
        conn.close()


def yamux_oversized_frame(host: str, port: int, length: int = 64 * 1024 * 1024,
                          timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Attack 3: after noise+yamux, a data frame (SYN, stream 1) announcing ``length`` bytes,
    followed by 256 KiB + 1 of filler (beyond the initial 256 KiB window).
    Result: {"goaway": code or None, "closed": bool, ...}."""
    conn = noise_yamux_connect(host, port, timeout=timeout)
    try:
        conn.send(YamuxFrame(YAMUX_DATA, SYN, 1, length).encode())
        try:
            for _ in range(5):
                conn.send(os.urandom(64 * 1024))
            conn.send(b"\x00")
        except PeerClosed:
            pass
        goaway = None
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                f = YamuxFrame.read(conn, max(0.1, deadline - time.monotonic()))
                if f.type == YAMUX_DATA and f.length:
                    conn.recv_exact(f.length, max(0.1, deadline - time.monotonic()))
                if f.type == YAMUX_GOAWAY:
                    goaway = f.length
                    break
        except (PeerClosed, TimeoutError, AdversaryError):
            pass
        closed = conn.wait_closed(max(0.5, deadline - time.monotonic()))
        return dict(closed, goaway=goaway)
    finally:
        conn.close()


def yamux_stream_flood(host: str, port: int, count: int = 3000,
                       timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Attack 4: open ``count`` yamux streams (window-update SYN frames, odd IDs) without using
    them, while a reader thread counts the answers. Then check the connection still answers a
    yamux ping. Result: {"sent", "acked", "reset", "goaway", "closed", "ping_ms" or None}."""
    conn = noise_yamux_connect(host, port, timeout=timeout)
    stats = {"sent": 0, "acked": 0, "reset": 0, "goaway": None, "closed": False,
             "ping_ms": None, "error": None}
    stop = threading.Event()
    pong = threading.Event()
    opaque = 0xF100D

    def reader() -> None:
        try:
            while not stop.is_set():
                try:
                    f = YamuxFrame.read(conn, 0.5)
                except TimeoutError:
                    continue
                if f.type == YAMUX_DATA and f.length:
                    conn.recv_exact(f.length, timeout)
                if f.type in (YAMUX_DATA, YAMUX_WINDOW):
                    if f.flags & ACK:
                        stats["acked"] += 1
                    if f.flags & RST:
                        stats["reset"] += 1
                elif f.type == YAMUX_PING and f.flags & ACK and f.length == opaque:
                    pong.set()
                elif f.type == YAMUX_PING and f.flags & SYN:
                    conn.send(YamuxFrame(YAMUX_PING, ACK, 0, f.length).encode())
                elif f.type == YAMUX_GOAWAY:
                    stats["goaway"] = f.length
        except PeerClosed:
            stats["closed"] = True
        except Exception as e:  # report
            stats["error"] = f"{type(e).__name__}: {e}"
            stats["closed"] = True

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        batch = bytearray()
        for i in range(count):
            batch += YamuxFrame(YAMUX_WINDOW, SYN, 2 * i + 1, 0).encode()
            if len(batch) >= 12 * 100:
                conn.send(bytes(batch))
                stats["sent"] += len(batch) // 12
                batch.clear()
        if batch:
            conn.send(bytes(batch))
            stats["sent"] += len(batch) // 12
    except PeerClosed:
        stats["closed"] = True
    if not stats["closed"]:
        t0 = time.monotonic()
        try:
            conn.send(YamuxFrame(YAMUX_PING, SYN, 0, opaque).encode())
            if pong.wait(timeout):
                stats["ping_ms"] = (time.monotonic() - t0) * 1000.0
        except PeerClosed:
            stats["closed"] = True
    time.sleep(0.2)
    stop.set()
    t.join(timeout + 2)
    conn.close()
    return stats


# ----- bad blocks -----------------------------------------------------------------------------

BITSWAP_PROTOCOLS = ("/ipfs/bitswap/1.2.0", "/ipfs/bitswap/1.1.0")


def pb_fields(buf: bytes) -> list[tuple[int, bytes | int]]:
    """Every (field, value) of a protobuf message in order (repeated fields kept)."""
    out: list[tuple[int, bytes | int]] = []
    i = 0
    while i < len(buf):
        tag, i = _read_uvarint(buf, i)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = _read_uvarint(buf, i)
        elif wire == 2:
            n, i = _read_uvarint(buf, i)
            if i + n > len(buf):
                raise AdversaryError("truncated protobuf")
            value, i = buf[i:i + n], i + n
        elif wire == 1:
            value, i = int.from_bytes(buf[i:i + 8], "little"), i + 8
        elif wire == 5:
            value, i = int.from_bytes(buf[i:i + 4], "little"), i + 4
        else:
            raise AdversaryError(f"unsupported wire type {wire}")
        out.append((field, value))
    return out


def cid_prefix(cid: bytes) -> bytes:
    """Bitswap's block prefix of a binary CID: version, codec, multihash code and length."""
    if len(cid) == 34 and cid[0] == 0x12 and cid[1] == 0x20:  # CIDv0
        return bytes([0x00, 0x70, 0x12, 0x20])
    version, i = _read_uvarint(cid, 0)
    codec, i = _read_uvarint(cid, i)
    code, i = _read_uvarint(cid, i)
    length, i = _read_uvarint(cid, i)
    return uvarint(version) + uvarint(codec) + uvarint(code) + uvarint(length)


def bitswap_wants(message: bytes) -> list[bytes]:
    """The CIDs a Bitswap message wants (cancels left out)."""
    wants = []
    for field, wantlist in pb_fields(message):
        if field != 1 or not isinstance(wantlist, bytes):
            continue
        for f, entry in pb_fields(wantlist):
            if f != 1 or not isinstance(entry, bytes):
                continue
            e = dict(pb_fields(entry))
            if isinstance(e.get(1), bytes) and not e.get(3):
                wants.append(e[1])
    return wants


def bad_blocks_message(cids: list[bytes], size: int) -> bytes:
    """A Bitswap 1.2.0 message claiming HAVE for every CID and carrying, for each, a block of
    ``size`` random bytes under the CID's prefix: the bytes never hash to the CID."""
    body = b""
    for cid in cids:
        body += pb_bytes(4, pb_bytes(1, cid) + b"\x10\x00")            # blockPresences: Have
        body += pb_bytes(3, pb_bytes(1, cid_prefix(cid)) + pb_bytes(2, os.urandom(size)))
    return body


class BitswapLiar:
    """One connection (Noise + yamux, as initiator) to a target that sends it wants: every
    stream the target opens is answered by multistream-select (Bitswap 1.2.0/1.1.0 accepted,
    everything else refused), and every want on it gets a HAVE and a bad block on the same
    stream (jz-node reads replies on the streams it opened). Runs until ``stop`` is set,
    dialing again (at most ``max_dials`` times) when the target drops the connection.
    ``stats``: dials, streams, wants, bad_blocks, closed (by the target), errors."""

    WINDOW = 256 * 1024

    def __init__(self, host: str, port: int, *, expected_peer: str | None = None,
                 block_size: int = 1024, max_dials: int = 50, timeout: float = DEFAULT_TIMEOUT):
        self.host, self.port = host, port
        self.expected_peer = expected_peer
        self.block_size = block_size
        self.max_dials = max_dials
        self.timeout = timeout
        self.stats = {"target": f"{host}:{port}", "dials": 0, "streams": 0, "wants": 0,
                      "bad_blocks": 0, "closed": 0, "errors": []}

    def run(self, stop: threading.Event) -> dict:
        while not stop.is_set() and self.stats["dials"] < self.max_dials:
            self.stats["dials"] += 1
            try:
                conn = noise_yamux_connect(self.host, self.port, expected_peer=self.expected_peer,
                                           timeout=self.timeout)
            except (AdversaryError, TimeoutError, OSError) as e:
                if len(self.stats["errors"]) < 5:
                    self.stats["errors"].append(f"dial: {e}")
                stop.wait(1.0)
                continue
            try:
                self._serve(conn, stop)
            except (PeerClosed, AdversaryError, OSError) as e:
                self.stats["closed"] += 1
                if len(self.stats["errors"]) < 5:
                    self.stats["errors"].append(f"{type(e).__name__}: {e}")
                stop.wait(0.5)
            finally:
                conn.close()
        return self.stats

    def _serve(self, conn: NoiseConn, stop: threading.Event) -> None:
        streams: dict[int, dict] = {}
        while not stop.is_set():
            try:
                f = YamuxFrame.read(conn, 0.5)
            except TimeoutError:
                continue
            payload = conn.recv_exact(f.length) if f.type == YAMUX_DATA and f.length else b""
            if f.type == YAMUX_PING:
                if f.flags & SYN:
                    conn.send(YamuxFrame(YAMUX_PING, ACK, 0, f.length).encode())
                continue
            if f.type == YAMUX_GOAWAY:
                raise PeerClosed(f"go-away code {f.length}")
            if f.type not in (YAMUX_DATA, YAMUX_WINDOW):
                continue
            sid = f.stream
            if f.flags & SYN and sid not in streams:
                streams[sid] = {"buf": b"", "phase": "header", "window": self.WINDOW}
                self.stats["streams"] += 1
                conn.send(YamuxFrame(YAMUX_WINDOW, ACK, sid, 0).encode())
            st = streams.get(sid)
            if st is None:
                continue
            if f.type == YAMUX_WINDOW:
                st["window"] += f.length
            if payload:
                conn.send(YamuxFrame(YAMUX_WINDOW, 0, sid, len(payload)).encode())
                st["buf"] += payload
                self._handle(conn, sid, st)
            if f.flags & (FIN | RST):
                if f.flags & FIN:
                    conn.send(YamuxFrame(YAMUX_WINDOW, FIN, sid, 0).encode())
                streams.pop(sid, None)

    def _send(self, conn: NoiseConn, sid: int, st: dict, data: bytes) -> None:
        if len(data) > st["window"]:
            return  # the target's window is full: drop the reply rather than break yamux
        st["window"] -= len(data)
        conn.send(YamuxFrame(YAMUX_DATA, 0, sid, len(data)).encode() + data)

    def _handle(self, conn: NoiseConn, sid: int, st: dict) -> None:
        while True:
            buf = st["buf"]
            try:
                n, i = _read_uvarint(buf, 0)
            except AdversaryError:
                return  # length not complete yet
            if len(buf) < i + n:
                return
            msg, st["buf"] = buf[i:i + n], buf[i + n:]
            if st["phase"] in ("header", "select"):
                line = msg.decode(errors="replace").rstrip("\n")
                if st["phase"] == "header":
                    st["phase"] = "select"
                    self._send(conn, sid, st, uvarint(len(msg)) + msg)
                elif line in BITSWAP_PROTOCOLS:
                    st["phase"] = "bitswap"
                    self._send(conn, sid, st, uvarint(len(msg)) + msg)
                else:
                    self._send(conn, sid, st, uvarint(3) + b"na\n")
                continue
            try:
                wants = bitswap_wants(msg)
            except AdversaryError:
                continue
            if not wants:
                continue
            self.stats["wants"] += len(wants)
            reply = bad_blocks_message(wants[:32], self.block_size)
            before = st["window"]
            self._send(conn, sid, st, uvarint(len(reply)) + reply)
            if st["window"] < before:
                self.stats["bad_blocks"] += len(wants[:32])


def hostile_peer(targets: list[tuple[str, int, str]], stop: threading.Event, *,
                 flood: int = 1000, oversized: int = 64 * 1024 * 1024, pause: float = 5.0,
                 max_rounds: int = 20, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """One hostile peer against ``targets`` ((host, port, peer ID)) until ``stop`` is set: a
    ``BitswapLiar`` on each target the whole time, and rounds (every ``pause`` seconds, at most
    ``max_rounds`` sets in all) of a garbled Noise frame, an oversized yamux frame and a ``flood``-stream
    yamux flood against each target. Returns what each target did."""
    liars = [BitswapLiar(h, p, expected_peer=peer, timeout=timeout) for h, p, peer in targets]
    threads = [threading.Thread(target=liar.run, args=(stop,), daemon=True) for liar in liars]
    for t in threads:
        t.start()
    rounds: list[dict] = []
    while not stop.is_set() and len(rounds) < max_rounds:
        for h, p, _ in targets:
            if stop.is_set():
                break
            r: dict = {"target": f"{h}:{p}"}
            for name, attack in (("garbage", lambda: garbled_frame_after_noise(h, p, timeout)),
                                 ("oversized", lambda: yamux_oversized_frame(h, p, oversized, timeout)),
                                 ("flood", lambda: yamux_stream_flood(h, p, flood, timeout))):
                try:
                    r[name] = attack()
                except (AdversaryError, TimeoutError, OSError) as e:
                    r[name] = {"error": f"{type(e).__name__}: {e}"}
            rounds.append(r)
        stop.wait(pause)
    for t in threads:
        t.join(timeout + 2)
    return {"liars": [liar.stats for liar in liars], "rounds": rounds}


__all__ = [
    "AdversaryError", "PeerClosed", "Identity", "RawConn", "NoiseConn", "YamuxFrame",
    "b58decode", "b58encode", "ms_select", "noise_connect", "noise_yamux_connect", "yamux_ping",
    "random_peer_id", "forged_identity", "garbled_frame_after_noise", "yamux_oversized_frame",
    "yamux_stream_flood", "BitswapLiar", "hostile_peer", "bitswap_wants", "cid_prefix",
    "bad_blocks_message",
]


# ===== resource limits (issue 15, "Resource limits"): a Bitswap peer that wants too much =========

class _YamuxStream:
    """One outbound yamux stream over a NoiseConn, enough for ``ms_select`` and writes: data
    frames for it are buffered; pings are answered; streams the target opens are reset; other
    frames are skipped. Reads are single-threaded (call ``serve_in_background`` after the
    exchange to keep answering pings)."""

    def __init__(self, conn: NoiseConn, stream_id: int = 1):
        self.conn = conn
        self.id = stream_id
        self._opened = False
        self._buf = b""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def send(self, data: bytes) -> None:
        for i in range(0, max(len(data), 1), 64 * 1024):
            chunk = data[i:i + 64 * 1024]
            flags = 0 if self._opened else SYN
            self._opened = True
            self.conn.send(YamuxFrame(YAMUX_DATA, flags, self.id, len(chunk)).encode() + chunk)

    def _pump(self, timeout: float | None) -> None:
        f = YamuxFrame.read(self.conn, timeout)
        payload = self.conn.recv_exact(f.length, timeout) if f.type == YAMUX_DATA and f.length else b""
        if f.type == YAMUX_PING and f.flags & SYN:
            self.conn.send(YamuxFrame(YAMUX_PING, ACK, 0, f.length).encode())
        elif f.type == YAMUX_GOAWAY:
            raise PeerClosed(f"go-away code {f.length}")
        elif f.type in (YAMUX_DATA, YAMUX_WINDOW) and f.flags & SYN and f.stream != self.id:
            self.conn.send(YamuxFrame(YAMUX_WINDOW, RST, f.stream, 0).encode())
        elif f.stream == self.id and f.type == YAMUX_DATA:
            self._buf += payload

    def recv_exact(self, n: int, timeout: float | None = None) -> bytes:
        while len(self._buf) < n:
            self._pump(timeout if timeout is not None else DEFAULT_TIMEOUT)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    recv_uvarint = RawConn.recv_uvarint  # reads through this stream's recv_exact

    def serve_in_background(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self._pump(3600)  # close() shuts the socket down, which ends the wait
                except (AdversaryError, OSError):
                    return
                self._buf = b""
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        try:
            self.conn.raw.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()
        if self._thread:
            self._thread.join(5)


def bitswap_want_message(count: int) -> bytes:
    """A length-prefixed Bitswap message wanting ``count`` random raw CIDs (want-block, no
    DONT_HAVE asked: the target keeps each want until the block arrives or we cancel)."""
    entries = b""
    for _ in range(count):
        cid = b"\x01\x55\x12\x20" + os.urandom(32)
        entry = pb_bytes(1, cid) + b"\x10" + uvarint(1)  # block, priority 1, wantType block (0)
        entries += pb_bytes(1, entry)
    msg = pb_bytes(1, entries)
    return uvarint(len(msg)) + msg


def bitswap_want_flood(host: str, port: int, count: int = 1000,
                       timeout: float = DEFAULT_TIMEOUT) -> tuple[str, _YamuxStream]:
    """Connects (noise, yamux), opens ``/ipfs/bitswap/1.2.0`` and sends one wantlist of ``count``
    entries. Returns (our peer ID, the open stream); the connection stays open, answering pings,
    until the caller closes the stream."""
    me = Identity.generate()
    conn = noise_connect(host, port, identity=me, timeout=timeout)
    try:
        ms_select(conn, "/yamux/1.0.0")
        stream = _YamuxStream(conn)
        ms_select(stream, "/ipfs/bitswap/1.2.0")
        stream.send(bitswap_want_message(count))
        stream.serve_in_background()
    except BaseException:
        conn.close()
        raise
    return me.peer_id, stream


__all__ += ["bitswap_want_message", "bitswap_want_flood"]


def _main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import signal as _signal
    ap = argparse.ArgumentParser(description="A hostile libp2p peer (see the module docstring).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hostile", help="liars and attack rounds until SIGTERM or --duration")
    h.add_argument("--target", action="append", required=True, help="HOST:PORT:PEERID")
    h.add_argument("--duration", type=float, default=600.0)
    h.add_argument("--flood", type=int, default=1000)
    h.add_argument("--pause", type=float, default=5.0)
    h.add_argument("--max-rounds", type=int, default=20)
    args = ap.parse_args(argv)
    stop = threading.Event()
    _signal.signal(_signal.SIGTERM, lambda *_: stop.set())
    _signal.signal(_signal.SIGINT, lambda *_: stop.set())
    timer = threading.Timer(args.duration, stop.set)
    timer.daemon = True
    timer.start()
    targets = []
    for t in args.target:
        host, port, peer = t.rsplit(":", 2)
        targets.append((host, int(port), peer))
    print("hostile: running", flush=True)
    report = hostile_peer(targets, stop, flood=args.flood, pause=args.pause, max_rounds=args.max_rounds)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
