"""Drive the jz-node CLI from the interop tests: one node home per JzNode, every run bounded."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 30.0


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class JzNodeError(RuntimeError):
    pass


class JzNode:
    """A jz-node home folder plus the binary to run against it (``--repo-dir`` on every call)."""

    def __init__(self, binary: str | os.PathLike, home: str | os.PathLike,
                 timeout: float = DEFAULT_TIMEOUT, wrap: list[str] | None = None):
        """``wrap``: a command prefix for every run (``ip netns exec NS`` runs the CLI and the
        daemon in a network namespace)."""
        self.wrap = list(wrap or [])
        self.binary = str(binary)
        self.home = Path(home).resolve()
        self.timeout = timeout

    def run(self, *args: str, check: bool = True, timeout: float | None = None) -> Result:
        """Run ``jz-node <args...> --repo-dir HOME``. HOME and JZ_PATH point into the test's
        work dir so a missing --repo-dir can never touch the real ~/.jz."""
        argv = [*self.wrap, self.binary, *args, "--repo-dir", str(self.home)]
        env = dict(os.environ, JZ_PATH=str(self.home), HOME=str(self.home.parent))
        p = subprocess.run(argv, capture_output=True, text=True, env=env,
                           timeout=self.timeout if timeout is None else timeout)
        res = Result(argv, p.returncode, p.stdout, p.stderr)
        if check and p.returncode != 0:
            raise JzNodeError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
        return res

    def init(self, algorithm: str = "ed25519") -> dict:
        """``jz-node init --algorithm ALG --empty-bootstrap --json`` -> {"Path", "PeerID"}."""
        return self.run("init", "--algorithm", algorithm, "--empty-bootstrap", "--json").json()

    def id(self) -> dict:
        """``jz-node id --json`` -> {"ID", "PublicKey", "Addresses", "AgentVersion", ...}."""
        return self.run("id", "--json").json()

    # The config file is plain JSON with Kubo's key names; tests edit it directly.
    @property
    def config_path(self) -> Path:
        return self.home / "config"

    def read_config(self) -> dict:
        return json.loads(self.config_path.read_text())

    def write_config(self, cfg: dict) -> None:
        self.config_path.write_text(json.dumps(cfg, indent=2) + "\n")

    def identity(self) -> tuple[str, str]:
        """(Identity.PeerID, Identity.PrivKey) from the config."""
        ident = self.read_config()["Identity"]
        return ident["PeerID"], ident["PrivKey"]

    def set_identity(self, peer_id: str, priv_key_b64: str) -> None:
        cfg = self.read_config()
        cfg["Identity"]["PeerID"] = peer_id
        cfg["Identity"]["PrivKey"] = priv_key_b64
        self.write_config(cfg)
