"""Fixtures for the interop tests: the jz-node binary, per-test work dirs, Kubo and jz-node
factories. Everything a test starts is killed at teardown."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from jznode import JzNode
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
