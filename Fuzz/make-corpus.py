#!/usr/bin/env python3
"""Writes the seed corpora Fuzz/Corpus/<target>/ from the spec vectors (../shared/vectors, the
copies in Tests/*/Fixtures) and, for the wire formats that have no published vectors (yamux,
mplex, multistream, identify, envelopes, Bitswap, DHT, Noise payloads), from messages built here
after the specs. Needs `cryptography` (the Interop venv has it):
    Interop/.venv/bin/python Fuzz/make-corpus.py
Seeds larger than MAX bytes are skipped (the fuzzer grows inputs itself)."""
import csv, hashlib, json, os, shutil, struct, sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parent.parent
VEC = ROOT.parent / "shared" / "vectors"
if not VEC.is_dir():
    VEC = Path("/work/shared/vectors")
FIX = ROOT / "Tests"
OUT = ROOT / "Fuzz" / "Corpus"
MAX = 16 * 1024

seeds = {}


def add(target, data, name=None):
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX:
        return
    seeds.setdefault(target, {})[name or hashlib.sha1(data).hexdigest()[:16]] = data


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, value):
    """A protobuf field: int → varint (wire type 0), bytes/str → length-delimited (wire type 2)."""
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(num << 3 | 2) + varint(len(value)) + value


def pb(*fields):
    return b"".join(field(n, v) for n, v in fields)


def hexbytes(h):
    return bytes.fromhex(h)


# --- multiformats -------------------------------------------------------------------------
v = json.load(open(VEC / "multiformats/varint.json"))
for case in v.get("valid", []) + v.get("invalid", []):
    if "hex" in case:
        add("varint", hexbytes(case["hex"]))

cids = json.load(open(VEC / "multiformats/cid-examples.json"))
for c in cids["cids"]:
    add("cid", c["input"])
    for key, val in c.items():
        if key.endswith("_hex") and key != "digest_hex" and isinstance(val, str):
            add("cid", hexbytes(val))
for c in cids.get("invalid", []) if isinstance(cids.get("invalid"), list) else []:
    if isinstance(c, dict) and "input" in c:
        add("cid", c["input"])
# CIDs of the codec fixtures (file names are CIDs): binary forms via the multibase decoding below.
for d in sorted((VEC / "ipld/codec-fixtures/fixtures").iterdir())[:40]:
    for f in d.iterdir():
        if f.stem.startswith("bafy") or f.stem.startswith("Qm"):
            add("cid", f.stem)

ma = json.load(open(VEC / "multiformats/multiaddr-cases.json"))


def walk(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, list):
        for x in obj:
            yield from walk(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from walk(x)


for s in walk(ma):
    if s.startswith("/"):
        add("multiaddr", s)
    elif all(ch in "0123456789abcdef" for ch in s) and len(s) % 2 == 0 and len(s) >= 4:
        add("multiaddr", hexbytes(s))

for f in (VEC / "multiformats/multibase-tests").glob("*.csv"):
    for row in csv.reader(open(f), skipinitialspace=True):
        if len(row) == 2 and row[0] not in ("encoding", "non-canonical encoding"):
            add("multibase", row[1])

mh = json.load(open(VEC / "multiformats/multihash-js-fixtures.json"))
for case in mh.get("valid", []):
    code, size, digest = case.get("code"), case.get("size"), case.get("hex")
    if isinstance(code, int) and isinstance(size, int) and isinstance(digest, str):
        add("multihash", varint(code) + varint(size) + hexbytes(digest))
for case in mh.get("invalid", []):
    if isinstance(case.get("hex"), str):
        add("multihash", hexbytes(case["hex"]))

# --- IPLD ---------------------------------------------------------------------------------
for d in sorted((VEC / "ipld/codec-fixtures/fixtures").iterdir()):
    for f in d.iterdir():
        target = {".dag-pb": "dag-pb", ".dag-cbor": "dag-cbor", ".dag-json": "dag-json"}.get(f.suffix)
        if target:
            add(target, f.read_bytes())
            if target == "dag-pb":
                add("hamt", f.read_bytes())
neg = VEC / "ipld/codec-fixtures/negative-fixtures"
for f in neg.rglob("*.json"):
    try:
        cases = json.load(open(f))
    except Exception:
        continue
    codec = "dag-cbor" if "cbor" in str(f) else "dag-json" if "json" in str(f) else "dag-pb" if "pb" in str(f) else None
    for case in cases if isinstance(cases, list) else []:
        if codec and isinstance(case, dict):
            if "hex" in case:
                add(codec, hexbytes(case["hex"]))
            elif isinstance(case.get("dag-json"), str) and codec == "dag-json" and "decode" in str(f):
                add(codec, case["dag-json"])

for f in list((VEC / "car/go-car").glob("*.car")) + list((VEC / "car/ipld-spec").glob("*.car")) + \
        list((VEC / "car/go-car").glob("*.carindex")):
    add("car", f.read_bytes(), f.name)

# --- UnixFS data and HAMT shards (dag-pb blocks of the CAR fixtures) ----------------------
def car_blocks(data):
    """Blocks of a CARv1 payload (CARv2: the inner v1)."""
    if data[:11] == bytes.fromhex("0aa16776657273696f6e02"):
        off, size = struct.unpack("<QQ", data[11 + 16:11 + 32])
        data = data[off:off + size]
    i = 0

    def uv(i):
        n = s = 0
        while True:
            b = data[i]
            n |= (b & 0x7F) << s
            i += 1
            s += 7
            if b < 0x80:
                return n, i

    n, i = uv(i)
    i += n
    while i < len(data):
        n, j = uv(i)
        sec = data[j:j + n]
        i = j + n
        if n == 0:
            break
        # CID: v0 (0x12 0x20 …) or v1 (1, codec, mh)
        if sec[0] == 0x12:
            yield 0x70, sec[34:]
            continue
        k = 1
        codec, k2 = 0, k
        codec = sec[k]; k += 1
        if codec & 0x80:
            codec = (codec & 0x7F) | (sec[k] << 7); k += 1
        k += 1  # hash code (sha2-256 / identity, one byte)
        ln = sec[k]; k += 1 + ln
        yield codec, sec[k:]


def pb_data_field(block):
    """The Data field (1) of a dag-pb block."""
    i = 0
    while i < len(block):
        key = block[i]; i += 1
        if key & 7 != 2:
            return None
        n = s = 0
        while True:
            b = block[i]; i += 1
            n |= (b & 0x7F) << s; s += 7
            if b < 0x80:
                break
        if key >> 3 == 1:
            return block[i:i + n]
        i += n
    return None


unixfs_cars = list((FIX / "GatewayTests/Fixtures").glob("*.car")) + [VEC / "car/go-car/sample-unixfs-v2.car", VEC / "car/go-car/simple-unixfs.car"]
for f in unixfs_cars:
    n = 0
    for codec, block in car_blocks(f.read_bytes()):
        if codec != 0x70 or n >= 40:
            continue
        n += 1
        add("hamt", block)
        d = pb_data_field(block)
        if d is not None:
            add("unixfs", d)

# --- keys, TLS, Noise ---------------------------------------------------------------------
keys = json.load(open(VEC / "libp2p/peer-id-keys.json"))
for k in keys["keys"]:
    for name in ("private_key_protobuf_hex", "public_key_protobuf_hex"):
        if name in k:
            add("key", hexbytes(k[name]))
for f in (VEC / "libp2p/crypto-test_data").iterdir():
    if f.suffix in (".priv", ".pub"):
        add("key", f.read_bytes())

certs = json.load(open(VEC / "libp2p/tls-certificates.json"))
for c in certs["certificates"]:
    add("tls", hexbytes(c["certificate_der_hex"]))

ed = Ed25519PrivateKey.generate()
raw_pub = ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
key_pb = pb((1, 1), (2, raw_pub))  # crypto.pb.PublicKey{Type: Ed25519, Data}
peer_id = b"\x00" + bytes([len(key_pb)]) + key_pb  # identity multihash
add("key", key_pb)
# A bare SignedKey ::= SEQUENCE { OCTET STRING key, OCTET STRING signature } (the extension body).
signed_key = b"\x04" + bytes([len(key_pb)]) + key_pb + b"\x04\x40" + b"\x11" * 64
add("tls", b"\x30" + bytes([len(signed_key)]) + signed_key)
static = bytes(range(32))
sig = ed.sign(b"noise-libp2p-static-key:" + static)
add("noise", pb((1, key_pb), (2, sig)))
add("noise", pb((1, key_pb), (2, sig), (4, pb((2, "/yamux/1.0.0"), (2, "/mplex/6.7.0")))))
add("noise", bytes(range(32)))  # a first handshake message (e)
add("noise", bytes(range(48)))

# --- multistream, yamux, mplex --------------------------------------------------------------
def ms(text):
    body = text.encode() + b"\n"
    return varint(len(body)) + body


add("multistream", ms("/multistream/1.0.0") + ms("/yamux/1.0.0"))
add("multistream", ms("/multistream/1.0.0") + ms("ls") + ms("/noise"))
add("multistream", ms("/multistream/1.0.0") + ms("na") + ms("/tls/1.0.0"))
inner = ms("/noise") + ms("/yamux/1.0.0") + b"\n"
add("multistream", ms("/multistream/1.0.0") + varint(len(inner)) + inner)


def yamux(typ, flags, sid, length, payload=b""):
    return struct.pack(">BBHII", 0, typ, flags, sid, length) + payload


add("yamux", yamux(1, 1, 1, 0) + yamux(0, 0, 1, 5, b"hello") + yamux(2, 1, 0, 7) + yamux(3, 0, 0, 0))
add("yamux", yamux(0, 2, 2, 3, b"abc") + yamux(1, 4, 2, 262144) + yamux(0, 8, 2, 0))


def mplex(sid, flag, payload=b""):
    return varint(sid << 3 | flag) + varint(len(payload)) + payload


add("mplex", mplex(0, 0, b"0") + mplex(0, 2, b"hello") + mplex(0, 4) + mplex(1, 1, b"x") + mplex(1, 6))
add("mplex", mplex(12345, 0, b"stream") + mplex(12345, 3, b"data") + mplex(12345, 5))

# --- identify, envelopes, peer records ------------------------------------------------------
addr1 = bytes.fromhex("047f000001") + bytes.fromhex("06") + struct.pack(">H", 4001)  # /ip4/127.0.0.1/tcp/4001
addr2 = bytes.fromhex("29") + b"\x00" * 15 + b"\x01" + bytes.fromhex("0601bb")      # /ip6/::1/tcp/443
record = pb((1, peer_id), (2, 1700000000), (3, pb((1, addr1))), (3, pb((1, addr2))))
payload_type = b"\x03\x01"
domain = b"libp2p-peer-record"
signed = varint(len(domain)) + domain + varint(len(payload_type)) + payload_type + varint(len(record)) + record
envelope = pb((1, key_pb), (2, payload_type), (3, record), (5, ed.sign(signed)))
add("envelope", envelope)
add("envelope", record)
add("identify", pb((5, "ipfs/0.1.0"), (6, "jz-fuzz/0.1"), (1, key_pb), (2, addr1), (2, addr2), (4, addr1),
                   (3, "/ipfs/id/1.0.0"), (3, "/ipfs/kad/1.0.0"), (8, envelope)))
add("identify", pb((6, "kubo/0.22.0"), (3, "/ipfs/bitswap/1.2.0")))

# --- Bitswap and DHT --------------------------------------------------------------------
cid_v1 = bytes.fromhex("01551220") + hashlib.sha256(b"hello world").digest()
cid_v0 = bytes.fromhex("1220") + hashlib.sha256(b"x").digest()
want = pb((1, pb((1, cid_v1), (2, 10), (4, 1), (5, 1))), (1, pb((1, cid_v0), (3, 1))), (2, 1))
add("bitswap", pb((1, want)))
add("bitswap", pb((3, pb((1, bytes.fromhex("01551220")), (2, b"hello world"))), (4, pb((1, cid_v1), (2, 1))), (5, 1024)))
add("bitswap", pb((2, b"hello world")))
add("dht", pb((1, 4), (2, hashlib.sha256(b"key").digest()), (10, 0)))
add("dht", pb((1, 1), (2, cid_v1[2:]), (9, pb((1, peer_id), (2, addr1), (3, 1))), (8, pb((1, peer_id), (2, addr2)))))
add("dht", pb((1, 0), (2, b"/pk/" + peer_id), (3, pb((1, b"/pk/" + peer_id), (2, key_pb), (5, "2026-01-01T00:00:00Z")))))

# --- IPNS and the node config -----------------------------------------------------------
for f in (VEC / "ipns").glob("*.ipns-record"):
    add("ipns", f.read_bytes(), f.name[:60])
for f in (VEC / "gateway/ipns_records").glob("*"):
    if f.is_file() and f.suffix != ".md":
        add("ipns", f.read_bytes())

config = {
    "Identity": {"PeerID": "12D3KooWJp1234", "PrivKey": "CAESQA=="},
    "Addresses": {"Swarm": ["/ip4/0.0.0.0/tcp/4001"], "API": "/ip4/127.0.0.1/tcp/5001", "Gateway": "/ip4/127.0.0.1/tcp/8080"},
    "Bootstrap": ["/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"],
    "Datastore": {"JournalMode": "rollback", "Sync": "full", "StorageMax": "10GB", "StorageGCWatermark": 90, "GCPeriod": "1h"},
    "Routing": {"Type": "dht"},
    "Swarm": {"ConnMgr": {"LowWater": 32, "HighWater": 96, "GracePeriod": "20s"}, "DisableNatPortMap": True},
}
add("config", json.dumps(config, indent=2))
add("config", '{"Swarm": {"ConnMgr": {"LowWater": -1, "HighWater": 1e309, "GracePeriod": "1h30m"}}, "Routing": {"Type": "none"}}')

if OUT.exists():
    for d in OUT.iterdir():
        if d.is_dir():
            shutil.rmtree(d)
for target, files in sorted(seeds.items()):
    (OUT / target).mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (OUT / target / name).write_bytes(data)
    print(f"{target}: {len(files)} seeds, {sum(map(len, files.values()))} bytes")
