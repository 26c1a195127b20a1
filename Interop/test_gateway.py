"""The HTTP gateway of a real `jz-node daemon`, driven with `curl` (issue 14): a file byte-equal,
Range and HEAD answers, and a CAR of a directory checked block by block by the small CARv1
parser below (independent of jz-node's code: varints, CIDs and sha2-256 by hand)."""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import JzDaemon

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def curl(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", "--max-time", str(int(timeout)), *args],
                          capture_output=True, timeout=timeout + 5)


def headers_of(raw: bytes) -> tuple[int, dict[str, str]]:
    """Status and headers (lower-case names) of the last response in `curl -D -` output."""
    text = raw.decode("latin-1").strip().split("\r\n\r\n")[-1]
    lines = text.split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields[name.strip().lower()] = value.strip()
    return status, fields


# ----- a tiny CARv1 parser ------------------------------------------------------------------------
def varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def parse_cid(data: bytes, pos: int) -> tuple[bytes, int, int, bytes, int]:
    """(cid bytes, codec, hash code, digest, next position)."""
    start = pos
    if data[pos] == 0x12 and data[pos + 1] == 0x20:  # CIDv0: a bare sha2-256 multihash
        return data[pos:pos + 34], 0x70, 0x12, data[pos + 2:pos + 34], pos + 34
    version, pos = varint(data, pos)
    assert version == 1, f"CID version {version}"
    codec, pos = varint(data, pos)
    code, pos = varint(data, pos)
    length, pos = varint(data, pos)
    digest = data[pos:pos + length]
    return data[start:pos + length], codec, code, digest, pos + length


def parse_car(data: bytes) -> tuple[bytes, list[tuple[bytes, int, bytes]]]:
    """(header bytes, [(cid bytes, codec, block bytes)]); every block's sha2-256 is checked."""
    length, pos = varint(data, 0)
    header = data[pos:pos + length]
    pos += length
    blocks = []
    while pos < len(data):
        length, pos = varint(data, pos)
        end = pos + length
        cid, codec, code, digest, pos = parse_cid(data, pos)
        block = data[pos:end]
        assert code == 0x12, f"hash function {code:#x}"
        assert hashlib.sha256(block).digest() == digest, f"block {cid.hex()} does not match its CID"
        blocks.append((cid, codec, block))
        pos = end
    return header, blocks


def base32_cid(cid: bytes) -> str:
    import base64
    return "b" + base64.b32encode(cid).decode().lower().rstrip("=")


# ----- fixtures ----------------------------------------------------------------------------------
@pytest.fixture
def gateway(jz, work_dir):
    """A daemon with a file (3 MiB + 17 bytes, 256 KiB chunks) and a folder added offline first;
    yields (base URL, daemon, {"file": cid, "dir": cid, "bytes": content, "folder": Path})."""
    d = JzDaemon(jz("gw"))
    d.configure()
    d.cli("config", "--json", "Gateway.NoFetch", "true")
    rng = random.Random(14)
    content = rng.randbytes(3 * 1024 * 1024 + 17)
    src = work_dir / "file.bin"
    src.write_bytes(content)
    folder = work_dir / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("hello gateway\n")
    (folder / "sub" / "b.bin").write_bytes(rng.randbytes(600_000))
    (folder / "sub" / "c.csv").write_text("x,y\n1,2\n")
    file_cid = d.cli("add", "-Q", "--cid-version", "1", str(src)).stdout.strip()
    dir_cid = d.cli("add", "-Q", "-r", "--cid-version", "1", str(folder)).stdout.strip()
    d.start()
    try:
        address = (d.node.home / "gateway").read_text().strip()
        parts = address.split("/")
        base = f"http://{parts[2]}:{parts[4]}"
        yield base, d, {"file": file_cid, "dir": dir_cid, "bytes": content, "folder": folder}
    finally:
        d.stop()


# ----- tests -------------------------------------------------------------------------------------
def test_file_byte_equal_with_headers(gateway, work_dir):
    base, _, c = gateway
    out = work_dir / "got.bin"
    r = curl("-D", "-", "-o", str(out), f"{base}/ipfs/{c['file']}")
    assert r.returncode == 0, r.stderr
    status, h = headers_of(r.stdout)
    assert status == 200
    assert out.read_bytes() == c["bytes"]
    assert h["content-length"] == str(len(c["bytes"]))
    assert h["etag"] == f'"{c["file"]}"'
    assert h["cache-control"] == "public, max-age=29030400, immutable"
    assert h["x-ipfs-path"] == f"/ipfs/{c['file']}"
    assert h["x-ipfs-roots"] == c["file"]
    # If-None-Match with the Etag: 304, no body.
    r = curl("-D", "-", "-o", "/dev/null", "-H", f"If-None-Match: {h['etag']}", f"{base}/ipfs/{c['file']}")
    assert headers_of(r.stdout)[0] == 304


def test_range_and_head(gateway):
    base, _, c = gateway
    data = c["bytes"]
    r = curl("-D", "/dev/stderr", "-r", "1000000-1999999", f"{base}/ipfs/{c['file']}")
    status, h = headers_of(r.stderr)
    assert status == 206
    assert r.stdout == data[1000000:2000000]
    assert h["content-range"] == f"bytes 1000000-1999999/{len(data)}"
    r = curl("-D", "/dev/stderr", "-r", "-100", f"{base}/ipfs/{c['file']}")
    assert headers_of(r.stderr)[0] == 206 and r.stdout == data[-100:]
    r = curl("-D", "/dev/stderr", "-r", f"{len(data)}-", f"{base}/ipfs/{c['file']}")
    status, h = headers_of(r.stderr)
    assert status == 416 and h["content-range"] == f"bytes */{len(data)}"
    r = curl("-I", f"{base}/ipfs/{c['file']}")
    status, h = headers_of(r.stdout)
    assert status == 200 and h["content-length"] == str(len(data)) and h["accept-ranges"] == "bytes"
    # A path into the folder; content type by extension; a directory listing.
    r = curl("-D", "/dev/stderr", f"{base}/ipfs/{c['dir']}/sub/c.csv")
    status, h = headers_of(r.stderr)
    assert status == 200 and r.stdout == b"x,y\n1,2\n" and h["content-type"].startswith("text/csv")
    r = curl("-L", f"{base}/ipfs/{c['dir']}/sub")
    assert b"b.bin" in r.stdout and b"c.csv" in r.stdout


def test_car_of_a_directory_verified_block_by_block(gateway, work_dir):
    base, d, c = gateway
    r = curl("-D", "/dev/stderr", "-H", "Accept: application/vnd.ipld.car", f"{base}/ipfs/{c['dir']}")
    status, h = headers_of(r.stderr)
    assert status == 200, r.stderr
    assert h["content-type"] == "application/vnd.ipld.car; version=1; order=dfs; dups=n"
    header, blocks = parse_car(r.stdout)
    cids = [base32_cid(cid) for cid, _, _ in blocks]
    assert cids[0] == c["dir"], "the root block comes first (depth-first order)"
    assert b"\x00" + blocks[0][0] in header  # the root: a binary CID (tag 42, identity prefix)
    assert len(set(cids)) == len(cids), "no duplicates"
    # The same block set as `dag export` (each block was already checked against its CID above).
    exported = work_dir / "export.car"
    with open(exported, "wb") as f:
        subprocess.run([str(d.node.binary), "dag", "export", "--repo-dir", str(d.node.home), c["dir"]],
                       stdout=f, check=True, timeout=60)
    _, expected = parse_car(exported.read_bytes())
    assert [b[0] for b in blocks] == [b[0] for b in expected]
    # 600,000 bytes in 256 KiB raw leaves: 3 leaves + the file node; plus a.txt, c.csv, 2 dirs.
    assert len(blocks) == 2 + 1 + 4 + 1
    # dag-scope=block on a path: the path's blocks and the terminal block only.
    r = curl(f"{base}/ipfs/{c['dir']}/sub/b.bin?format=car&dag-scope=block")
    _, blocks = parse_car(r.stdout)
    assert len(blocks) == 3 and base32_cid(blocks[0][0]) == c["dir"]
    # A raw block.
    r = curl("-D", "/dev/stderr", f"{base}/ipfs/{c['dir']}?format=raw")
    assert headers_of(r.stderr)[1]["content-type"] == "application/vnd.ipld.raw"
    assert hashlib.sha256(r.stdout).digest() == parse_cid(bytes(blocks[0][0]), 0)[3]


def test_missing_root_is_404_with_nofetch(gateway):
    base, _, _ = gateway
    missing = base32_cid(bytes([1, 0x55, 0x12, 0x20]) + hashlib.sha256(b"not in the store").digest())
    r = curl("-D", "/dev/stderr", "-o", "/dev/null", f"{base}/ipfs/{missing}")
    assert headers_of(r.stderr)[0] == 404


@pytest.mark.parametrize("key,what", [("Addresses.Gateway", "the gateway"), ("Addresses.API", "the RPC API")])
def test_daemon_fails_to_start_when_its_port_is_taken(jz, key, what):
    """As Kubo: a gateway (or API) address that cannot be bound stops the daemon with an error
    naming the address, instead of running without it."""
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        d = JzDaemon(jz("taken"))
        d.configure()
        d.cli("config", "--json", key, json.dumps(f"/ip4/127.0.0.1/tcp/{port}"))
        env = dict(os.environ, JZ_PATH=str(d.node.home), HOME=str(d.node.home.parent))
        p = subprocess.run([*d.node.wrap, str(d.node.binary), "daemon", "--repo-dir", str(d.node.home)],
                           capture_output=True, text=True, timeout=60, env=env)
        assert p.returncode != 0, p.stdout
        assert "Daemon is ready" not in p.stdout
        assert f"127.0.0.1:{port}" in p.stderr and key in p.stderr and what in p.stderr, p.stderr
        assert "already in use" in p.stderr, p.stderr
        assert not (d.node.home / "api").exists() and not (d.node.home / "gateway").exists()
    finally:
        holder.close()
