"""Identity interop: keys made by Kubo 0.22 work in jz-node and keys made by jz-node work in Kubo.

Every assertion compares exact peer IDs. Loopback only; each test takes a few seconds.
"""

from __future__ import annotations

import base64

import pytest

from keys import decode_key_b64, peer_id_from_public_key
from kubo import KuboError


def test_kubo_rsa_identity_in_jz_node(kubo, jz):
    """Kubo's RSA-2048 key in a jz-node home -> `jz-node id` prints exactly Kubo's Qm… ID.

    Proves jz-node parses Kubo's RSA PrivateKey encoding, derives the public key, serializes it
    byte-for-byte as Go does (the Qm… ID is the sha2-256 of those bytes) and hashes it right.
    """
    k = kubo(run=True)
    kubo_id, kubo_priv = k.identity()
    assert kubo_id.startswith("Qm"), kubo_id
    assert decode_key_b64(kubo_priv)[0] == "RSA"
    assert k.peer_id() == kubo_id  # the running Kubo node uses that key

    node = jz()
    node.init()
    node.set_identity(kubo_id, kubo_priv)
    out = node.id()

    assert out["ID"] == kubo_id
    key_type, der = decode_key_b64(out["PublicKey"])
    assert key_type == "RSA"
    assert der[:1] == b"\x30"  # PKIX SubjectPublicKeyInfo, a DER SEQUENCE
    # The printed PublicKey is the exact byte string whose sha2-256 is Kubo's peer ID.
    assert peer_id_from_public_key(base64.b64decode(out["PublicKey"])) == kubo_id
    assert all(a.endswith(f"/p2p/{kubo_id}") for a in out["Addresses"]), out["Addresses"]


@pytest.mark.parametrize("algorithm,prefix", [("ed25519", "12D3KooW"), ("rsa", "Qm")])
def test_jz_node_identity_in_kubo(kubo, jz, algorithm, prefix):
    """A jz-node key written into a Kubo repo before RunNode -> Kubo runs as jz-node's peer ID,
    and a second Kubo node can connect to it (its Noise handshake checks the key's signature
    against the peer ID we dialed)."""
    node = jz()
    info = node.init(algorithm)
    jz_id, jz_priv = node.identity()
    assert jz_id == info["PeerID"]
    assert jz_id.startswith(prefix), jz_id
    assert node.id()["ID"] == jz_id

    k = kubo("kubo", identity=(jz_id, jz_priv), run=True)
    assert k.peer_id() == jz_id
    assert k.multiaddrs(), k.log_tail()

    other = kubo("other", run=True)
    other.connect(k.dial_addr())
    assert jz_id in other.peer_ids()
    assert other.peer_id() in k.peer_ids()


@pytest.mark.parametrize("bad_peer_id", ["foreign", "garbage"])
def test_tampered_peer_id_is_rejected(jz, bad_peer_id):
    """Identity.PeerID that does not belong to Identity.PrivKey -> `jz-node id` fails with a
    one-line error on stderr and prints nothing on stdout."""
    node = jz("jz")
    node.init()
    real_id, priv = node.identity()
    if bad_peer_id == "foreign":
        other = jz("other")
        other.init()
        bad = other.identity()[0]
    else:
        bad = real_id[:-4] + "xxxx"
    assert bad != real_id
    node.set_identity(bad, priv)

    for args in (("id", "--json"), ("id",)):
        res = node.run(*args, check=False)
        assert res.returncode != 0, res
        assert res.stdout == "", res
        err = res.stderr.strip()
        assert err and "\n" not in err, repr(res.stderr)


def test_kubo_rejects_the_same_tampered_identity(kubo, jz):
    """Parity with the reference: Kubo refuses to start when Identity.PeerID does not match
    Identity.PrivKey ("private key in config does not match id"), as jz-node does."""
    a, b = jz("a"), jz("b")
    a.init()
    b.init()
    k = kubo(identity=(b.identity()[0], a.identity()[1]))
    with pytest.raises(KuboError):
        k.run()
    assert "does not match id" in k.log_tail()
