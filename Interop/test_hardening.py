"""Hardening (issue 15): sockets that never authenticate must not keep real peers out.

300 idle TCP connections to a jz-node daemon's swarm port, opened before and kept open, must not
stop Kubo 0.22 from connecting (both directions work, at once), and the daemon drops the idle
sockets after its handshake deadline instead of holding them.
"""

from __future__ import annotations

import socket
import time

import pytest

from conftest import JzDaemon


IDLE_SOCKETS = 300


def open_idle(port: int, count: int) -> list[socket.socket]:
    """Opens ``count`` connections and sends nothing (the daemon may reset some at once)."""
    socks = []
    for _ in range(count):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            pass
    return socks


def closed_by_peer(s: socket.socket) -> bool:
    """True once the daemon closed or reset the socket (what it wrote first, its multistream
    header, is read and dropped)."""
    s.setblocking(False)
    try:
        while True:
            if s.recv(4096) == b"":
                return True
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def test_idle_sockets_do_not_lock_out_real_peers(jz, kubo):
    d = JzDaemon(jz("jz")).start()
    node = kubo("kubo", run=True)
    socks: list[socket.socket] = []
    try:
        socks = open_idle(d.swarm_port(), IDLE_SOCKETS)
        # Kubo dials jz while 300 sockets sit idle in their handshake.
        start = time.monotonic()
        node.connect(d.dial_addr(), timeout=30)
        took = time.monotonic() - start
        assert node.peer_id() in d.peer_ids()
        assert took < 10, f"Kubo's dial took {took:.1f} s"
        d.disconnect(node.peer_id())
        # ... and jz dials Kubo, too.
        d.connect(node.dial_addr())
        assert node.peer_id() in d.peer_ids()
        # The idle sockets are dropped after the handshake deadline (a few seconds), not kept.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(closed_by_peer(s) for s in socks):
            time.sleep(0.5)
        still_open = sum(not closed_by_peer(s) for s in socks)
        assert still_open == 0, f"{still_open} idle sockets still held by the daemon"
        assert d.alive()
    finally:
        for s in socks:
            s.close()
        d.stop()
