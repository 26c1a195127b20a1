"""`jz-node add` reproduces all 14 CIDs of the IPIP-499 import profiles
(Tests/UnixFSTests/Fixtures/importer-profiles.json, from ipfs/specs and Kubo's cid_profiles_test.go).

Inputs are regenerated with the published rules: ChaCha20 keystream (RFC 8439, zero nonce,
counter 0) keyed with SHA-256(seed), and file-name lists drawn from the same stream."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

ROOT = Path(__file__).resolve().parent.parent
PROFILES = json.loads((ROOT / "Tests/UnixFSTests/Fixtures/importer-profiles.json").read_text())
ALPHABET = "abcdefghijklmnopqrstuvwxyz01234567890-_"
PROFILE_FLAGS = {"unixfs-v0-2015": [], "unixfs-v1-2025": ["--profile", "unixfs-v1-2025"]}
MIB = 1 << 20


def keystream(seed: str):
    key = hashlib.sha256(seed.encode()).digest()
    # cryptography's ChaCha20 takes a 16-byte nonce: 4-byte little-endian counter, then the
    # 12-byte RFC 8439 nonce; both zero here.
    return Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()


def write_deterministic(path: Path, size: int, seed: str) -> None:
    enc = keystream(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MIB)
            f.write(enc.update(bytes(n)))
            left -= n


def write_directory(path: Path, seed: str, count: int, name_len: int, last_len: int) -> None:
    enc = keystream(seed)
    path.mkdir()
    for i in range(count):
        n = last_len if i == count - 1 else name_len
        name = "".join(ALPHABET[b % len(ALPHABET)] for b in enc.update(bytes(n)))
        (path / name).write_bytes(b"x")


def eval_product(term: str) -> int:
    result = 1
    for factor in term.split("*"):
        result *= int(factor.strip())
    return result


def parse_input(text: str):
    """('file', size, seed) or ('dir', seed, count, nameLen, lastLen) from the vector's description."""
    if text.startswith("bytes 'hello world'"):
        return ("hello",)
    if text.startswith("deterministic_bytes("):
        args = text[len("deterministic_bytes("):text.index(")")]
        size_expr, seed = args.rsplit(",", 1)
        # e.g. "1024*1048576+1": a sum of products of integers.
        size = sum(eval_product(term) for term in size_expr.split("+"))
        return ("file", size, seed.strip().strip("'"))
    if text.startswith("directory: filenames("):
        args = text[len("directory: filenames("):text.index(")")]
        seed, count, name_len, last_len = [a.strip() for a in args.split(",")]
        return ("dir", seed.strip("'"), int(count), int(name_len), int(last_len))
    raise ValueError(f"unknown input {text!r}")


CASES = [(profile, case["cid"], case["input"])
         for profile in PROFILE_FLAGS for case in PROFILES[profile]["cases"]]


@pytest.mark.parametrize("profile,cid,description", CASES, ids=[c[1][:16] for c in CASES])
def test_profile_cid(profile, cid, description, work_dir, jz):
    node = jz("jz")
    node.init()
    spec = parse_input(description)
    flags = PROFILE_FLAGS[profile]
    if spec[0] == "hello":
        path = work_dir / "hello"
        path.write_bytes(b"hello world")
        args = ["add", "-Q", *flags, str(path)]
    elif spec[0] == "file":
        _, size, seed = spec
        path = work_dir / "data.bin"
        write_deterministic(path, size, seed)
        # The 1 GiB inputs are hashed without storing them (same importer, no disk writes).
        args = ["add", "-Q", *flags, *(["--only-hash"] if size > 256 * MIB else []), str(path)]
    else:
        _, seed, count, name_len, last_len = spec
        path = work_dir / "dir"
        write_directory(path, seed, count, name_len, last_len)
        args = ["add", "-r", "-Q", *flags, str(path)]
    got = node.run(*args, timeout=600).stdout.strip()
    assert got == cid, f"{profile} {description}: got {got}"
