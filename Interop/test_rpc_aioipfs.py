"""A jz-node daemon driven only through aioipfs 0.7.1 (a Kubo RPC client library from PyPI).

Every command of issue 14's acceptance list goes through aioipfs against a real `jz-node daemon`:
add (a file and a folder, CIDv0 and CIDv1), cat (whole, offset/length), get (tar, extracted by
aioipfs), ls, pin add|ls|rm, block put|get|stat, dag put|get, id, swarm peers, bootstrap list,
config (get, set, show), repo stat|gc, key list|gen, name publish|resolve, routing findprovs.
CIDs are compared with the CLI's `jz-node add` of the same data in a second node home with no
daemon; bytes are compared with the files.
"""

from __future__ import annotations

import asyncio
import json
import os
import random

import pytest

from conftest import JzDaemon

aioipfs = pytest.importorskip("aioipfs")


def write_tree(root):
    """A folder with nested files (no hidden names: aioipfs skips them by default)."""
    rnd = random.Random(14)
    (root / "sub" / "deeper").mkdir(parents=True)
    files = {
        "a.txt": b"hello from aioipfs\n",
        "sub/b.bin": rnd.randbytes(300_000),   # more than one 256 KiB chunk
        "sub/deeper/c.txt": b"deep\n" * 100,
        "empty.txt": b"",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


def cli_add(ref, path, *options, sizes: bool = False) -> dict:
    """`jz-node add --json` in the reference home -> {Name: Hash} (or {Name: (Hash, Size)})."""
    out = ref.run("add", "-r", "--json", *options, str(path)).stdout
    return {d["Name"]: (d["Hash"], d["Size"]) if sizes else d["Hash"] for d in map(json.loads, out.splitlines()) if d}


async def collect(agen):
    return [x async for x in agen]


def test_rpc_through_aioipfs(jz, work_dir):
    node = jz("jz")
    daemon = JzDaemon(node).start()
    ref = jz("ref")
    ref.init()
    try:
        asyncio.run(asyncio.wait_for(drive(daemon, ref, work_dir), 120))
    finally:
        assert daemon.stop() == 0, daemon.log_tail()


async def drive(daemon: JzDaemon, ref, work_dir):
    api = daemon.api_path.read_text().strip()
    port = int(api.split("/")[4])
    client = aioipfs.AsyncIPFS(host="127.0.0.1", port=port)
    try:
        await check_all(client, daemon, ref, work_dir)
    finally:
        await client.close()


async def check_all(client, daemon: JzDaemon, ref, work_dir):
    folder = work_dir / "d"
    files = write_tree(folder)
    single = work_dir / "single.bin"
    single.write_bytes(random.Random(1).randbytes(700_000))

    # --- add: one file, CIDv0 and CIDv1 (raw leaves), equal to the CLI's
    added = await collect(client.core.add(str(single)))
    assert [e["Name"] for e in added] == ["single.bin"], added
    file_cid = added[-1]["Hash"]
    assert file_cid == cli_add(ref, single)["single.bin"]
    assert int(added[-1]["Size"]) > 700_000
    added1 = await collect(client.core.add(str(single), cid_version=1))
    assert added1[-1]["Hash"] == cli_add(ref, single, "--cid-version", "1")["single.bin"]
    assert added1[-1]["Hash"].startswith("bafy")

    # --- add: a folder, every entry's CID equal to the CLI's; small chunks too
    added_dir = await collect(client.core.add(str(folder)))
    got = {e["Name"]: e["Hash"] for e in added_dir}
    want = cli_add(ref, folder)
    assert got == want, (got, want)
    dir_cid = got["d"]
    assert {e["Name"]: (e["Hash"], e["Size"]) for e in added_dir} == cli_add(ref, folder, sizes=True)
    chunked = await collect(client.core.add(str(folder), chunker="size-1024", cid_version=1))
    assert {e["Name"]: e["Hash"] for e in chunked} == cli_add(ref, folder, "--chunker", "size-1024", "--cid-version", "1")
    wrapped = await collect(client.core.add(str(single), wrap_with_directory=True))
    cli_wrapped = ref.run("add", "-w", "-Q", str(single)).stdout.strip()
    assert wrapped[-1]["Hash"] == cli_wrapped
    assert len(wrapped) == 2 and wrapped[0]["Hash"] == file_cid

    # --- add --only-hash: the same CID, nothing stored
    objects = (await client.repo.stat())["NumObjects"]
    other = work_dir / "other.bin"
    other.write_bytes(b"only hashed\n" * 1000)
    hashed = await collect(client.core.add(str(other), only_hash=True))
    assert hashed[-1]["Hash"] == cli_add(ref, other, "--only-hash")["other.bin"]
    assert (await client.repo.stat())["NumObjects"] == objects
    assert hashed[-1]["Hash"] not in (await client.pin.ls())["Keys"]

    # --- cat: whole, with offset and length
    assert await client.core.cat(file_cid) == single.read_bytes()
    assert await client.core.cat(f"/ipfs/{dir_cid}/sub/b.bin") == files["sub/b.bin"]
    assert await client.core.cat(file_cid, offset=1000, length=5000) == single.read_bytes()[1000:6000]

    # --- get: a tar that aioipfs extracts
    out = work_dir / "got"
    out.mkdir()
    await client.core.get(dir_cid, dstdir=str(out))
    for name, data in files.items():
        assert (out / dir_cid / name).read_bytes() == data, name
    await client.core.get(file_cid, dstdir=str(out))
    assert (out / file_cid).read_bytes() == single.read_bytes()

    # --- ls: Kubo's Objects/Links
    listing = await client.core.ls(dir_cid)
    links = {l["Name"]: l for l in listing["Objects"][0]["Links"]}
    assert set(links) == {"a.txt", "empty.txt", "sub"}
    assert links["sub"]["Type"] == 1 and links["a.txt"]["Type"] == 2
    assert links["a.txt"]["Size"] == len(files["a.txt"])
    assert links["sub"]["Hash"] == want["d/sub"]
    assert (await client.core.ls(file_cid))["Objects"][0]["Links"] == []

    # --- pin add | ls | rm
    pins = await client.pin.ls(pintype="recursive")
    assert dir_cid in pins["Keys"] and file_cid in pins["Keys"]
    await client.pin.rm(file_cid)
    assert file_cid not in (await client.pin.ls(pintype="recursive"))["Keys"]
    pinned = await collect(client.pin.add(file_cid))
    assert pinned[-1]["Pins"] == [file_cid]
    assert (await client.pin.ls(pintype="recursive"))["Keys"][file_cid]["Type"] == "recursive"

    # --- block put | get | stat
    raw = work_dir / "block.bin"
    raw.write_bytes(b"a raw block\n")
    put = await client.block.put(str(raw))
    want_block = ref.run("block", "put", "--json", str(raw)).json()
    assert put["Key"] == want_block["Key"] and put["Size"] == len(raw.read_bytes())
    assert await client.block.get(put["Key"]) == raw.read_bytes()
    stat = await client.block.stat(put["Key"])
    assert stat == {"Key": put["Key"], "Size": 12}

    # --- dag put | get
    doc = work_dir / "doc.json"
    doc.write_text(json.dumps({"hello": "world", "n": 14, "link": {"/": dir_cid}}))
    dag = await client.dag.put(str(doc))
    want_dag = ref.run("dag", "put", str(doc)).stdout.strip()
    assert dag["Cid"]["/"] == want_dag
    back = json.loads(await client.dag.get(dag["Cid"]["/"]))
    assert back == {"hello": "world", "n": 14, "link": {"/": dir_cid}}
    assert json.loads(await client.dag.get(dag["Cid"]["/"] + "/hello")) == "world"

    # --- id, swarm peers, bootstrap list
    ident = await client.core.id()
    assert ident["ID"] == daemon.peer_id
    peers = await client.swarm.peers()
    assert peers["Peers"] is None or isinstance(peers["Peers"], list)
    assert (await client.bootstrap.list())["Peers"] == []

    # --- config: get, set, show
    got_api = await client.config.config("Addresses.API")
    assert got_api["Key"] == "Addresses.API" and got_api["Value"] == "/ip4/127.0.0.1/tcp/0"
    await client.config.config("Datastore.StorageMax", "20GB")
    assert (await client.config.config("Datastore.StorageMax"))["Value"] == "20GB"
    await client.config.config("Experimental.Thing", "true", boolean=True)
    assert (await client.config.config("Experimental.Thing"))["Value"] is True
    shown = await client.config.show()
    assert shown["Datastore"]["StorageMax"] == "20GB"
    assert "PrivKey" not in json.dumps(shown.get("Identity", {})) or shown["Identity"].get("PrivKey") in (None, "")
    with pytest.raises(aioipfs.APIError):
        await client.config.config("Identity.PrivKey")

    # --- repo stat | gc: an unpinned block goes, pinned data stays
    before = await client.repo.stat()
    assert before["NumObjects"] > 0 and before["RepoSize"] > 0
    assert before["StorageMax"] == 20_000_000_000
    garbage = work_dir / "garbage.bin"
    garbage.write_bytes(b"collect me\n")
    gone = (await client.block.put(str(garbage), pin=False))["Key"]
    removed = [e["Key"]["/"] for e in await collect(client.repo.gc())]
    assert gone in removed
    assert dir_cid not in removed and file_cid not in removed
    assert await client.core.cat(file_cid) == single.read_bytes()
    with pytest.raises(aioipfs.APIError):
        await client.block.get(gone)

    # --- key list | gen
    keys = (await client.key.list())["Keys"]
    assert keys[0]["Name"] == "self"
    made = await client.key.gen("rpc-test")
    assert made["Name"] == "rpc-test" and made["Id"].startswith("k51")
    names = {k["Name"]: k["Id"] for k in (await client.key.list())["Keys"]}
    assert names["rpc-test"] == made["Id"]
    cli_keys = {k["Name"]: k["Id"] for k in daemon.cli("key", "list", "--json").json()["Keys"]}
    assert cli_keys == names

    # --- name publish | resolve (offline: no peers)
    published = await client.name.publish(f"/ipfs/{dir_cid}", key="rpc-test", allow_offline=True)
    assert published["Name"] == made["Id"] and published["Value"] == f"/ipfs/{dir_cid}"
    resolved = await client.name.resolve(made["Id"])
    assert resolved["Path"] == f"/ipfs/{dir_cid}"
    assert await client.core.cat(f"/ipns/{made['Id']}/a.txt") == files["a.txt"]

    # --- routing findprovs: answers (no peers, so at most ourselves)
    found = await collect(client.routing.findprovs(file_cid, numproviders=1))
    for event in found:
        for r in event.get("Responses") or []:
            assert r["ID"] == daemon.peer_id

    # --- errors: Kubo's error documents reach aioipfs as APIError
    with pytest.raises(aioipfs.APIError):
        await client.core.cat("not-a-cid")
