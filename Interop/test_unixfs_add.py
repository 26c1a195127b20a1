"""`jz-node add` produces the same CIDs as real Kubo 0.22 (`AddFile` = `ipfs add` defaults:
CIDv0, sha2-256, 256 KiB chunks, balanced DAG, 174 links per node, dag-pb leaves)."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

CHUNK = 262144
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 174 * CHUNK, 174 * CHUNK + 1, 50 * 1024 * 1024]


def write_random(path: Path, size: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(rng.randbytes(n))
            left -= n


@pytest.fixture
def kubo_node(kubo):
    node = kubo("kubo", run=True)
    return node


@pytest.fixture
def jz_home(jz):
    node = jz("jz")
    node.init()
    return node


@pytest.mark.parametrize("size", SIZES, ids=[str(s) for s in SIZES])
def test_file_cids_equal_kubo(size, work_dir, kubo_node, jz_home):
    path = work_dir / f"file-{size}.bin"
    write_random(path, size, seed=size)
    expected = kubo_node.add_file(path, timeout=120)
    got = jz_home.run("add", "-Q", str(path), timeout=120).stdout.strip()
    assert got == expected, f"size {size}: jz-node {got} != kubo {expected}"
    # Durable and pinned: the bytes come back out of jz-node's store.
    out = work_dir / f"file-{size}.out"
    jz_home.run("get", got, "-o", str(out), timeout=120)
    assert out.read_bytes() == path.read_bytes()


def build_tree(root: Path) -> None:
    """Nested folders, unicode names, empty folders, small and multi-chunk files."""
    (root / "empty").mkdir(parents=True)
    (root / "a" / "b" / "c").mkdir(parents=True)
    (root / "a" / "b" / "empty-inner").mkdir()
    (root / "données").mkdir()
    (root / "数据 集").mkdir()
    (root / "a" / "hello.txt").write_bytes(b"hello world\n")
    (root / "a" / "b" / "c" / "zero").write_bytes(b"")
    write_random(root / "a" / "b" / "big.bin", 3 * CHUNK + 17, seed=7)
    (root / "données" / "café ☕.txt").write_text("ümlaut ✓\n", encoding="utf-8")
    (root / "数据 集" / "文件.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    for i in range(40):
        (root / "a" / f"f{i:03d}").write_bytes(bytes([i]) * i)


def test_directory_cids_equal_kubo(work_dir, kubo_node, jz_home):
    tree = work_dir / "tree"
    build_tree(tree)
    expected = kubo_node.add_file(tree, timeout=120)
    got = jz_home.run("add", "-r", "-Q", str(tree), timeout=120).stdout.strip()
    assert got == expected, f"jz-node {got} != kubo {expected}"
    # Sub-paths resolve through the directories, and `ls` names every entry.
    listing = jz_home.run("ls", f"/ipfs/{got}/données").stdout
    assert "café ☕.txt" in listing
    cat = jz_home.run("cat", f"/ipfs/{got}/a/hello.txt").stdout
    assert cat == "hello world\n"


def test_hamt_directory_cid_equals_kubo(work_dir, kubo_node, jz_home):
    """A folder big enough that Kubo 0.22 shards it (HAMT) when its block would exceed 256 KiB."""
    tree = work_dir / "wide"
    tree.mkdir()
    for i in range(6000):
        (tree / f"entry-{i:05d}-{'x' * 20}").write_bytes(str(i).encode())
    expected = kubo_node.add_file(tree, timeout=180)
    got = jz_home.run("add", "-r", "-Q", str(tree), timeout=180).stdout.strip()
    assert got == expected
    ls = jz_home.run("ls", got, timeout=60).stdout.splitlines()
    assert len(ls) == 6000
