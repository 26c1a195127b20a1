"""Independent libp2p key / peer-ID helpers for the interop tests (no dependency on jz-node).

Spec: https://github.com/libp2p/specs/blob/master/peer-ids/peer-ids.md
  PublicKey/PrivateKey protobuf: field 1 = KeyType (varint), field 2 = Data (bytes).
  Peer ID = multihash of the serialized PublicKey: identity (0x00) when it is <= 42 bytes
  (Ed25519), else sha2-256 (0x12), printed base58btc (12D3KooW… / Qm…).
"""

from __future__ import annotations

import base64
import hashlib

KEY_TYPES = {0: "RSA", 1: "Ed25519", 2: "Secp256k1", 3: "ECDSA"}

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    n = 0
    for ch in text:
        n = n * 58 + _B58.index(ch)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def decode_key(pb: bytes) -> tuple[str, bytes]:
    """Decode a libp2p PublicKey/PrivateKey protobuf into (type name, Data). Strict."""
    i, key_type, data = 0, None, None
    while i < len(pb):
        tag, i = _varint(pb, i)
        field, wire = tag >> 3, tag & 7
        if field == 1 and wire == 0:
            key_type, i = _varint(pb, i)
        elif field == 2 and wire == 2:
            n, i = _varint(pb, i)
            data, i = pb[i:i + n], i + n
            if len(data) != n:
                raise ValueError("truncated key data")
        else:
            raise ValueError(f"unexpected protobuf field {field} wire type {wire}")
    if key_type is None or data is None:
        raise ValueError("key protobuf lacks Type or Data")
    return KEY_TYPES.get(key_type, f"unknown({key_type})"), data


def decode_key_b64(text: str) -> tuple[str, bytes]:
    return decode_key(base64.b64decode(text, validate=True))


def peer_id_from_public_key(pub_pb: bytes) -> str:
    """The peer ID (base58btc multihash) of a serialized PublicKey protobuf."""
    if len(pub_pb) <= 42:
        mh = bytes([0x00, len(pub_pb)]) + pub_pb
    else:
        mh = bytes([0x12, 0x20]) + hashlib.sha256(pub_pb).digest()
    return b58encode(mh)
