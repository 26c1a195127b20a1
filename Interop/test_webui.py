"""The repository web page (`/webui/` on the gateway port), opened in headless Chromium (Debian's
`chromium`): the repository list, a commit page, a diff page and a CSV preview render the expected
text. Screenshots of each are saved in the test's work folder (`Interop/.work/<test>/*.png`)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import JzDaemon

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def gateway_url(d: JzDaemon) -> str:
    """http://host:port from `<home>/gateway` (a multiaddr /ip4/H/tcp/P, written by the daemon)."""
    parts = (d.node.home / "gateway").read_text().strip().split("/")
    return f"http://{parts[2]}:{parts[4]}"


def chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", "--user-data-dir=/tmp/jz-chromium-profile", *args],
                          capture_output=True, text=True, timeout=timeout)


def render(url: str, screenshot: Path) -> str:
    """The DOM Chromium builds for `url` (and a screenshot of it)."""
    chromium(f"--screenshot={screenshot}", "--window-size=1280,900", url)
    return chromium("--dump-dom", url).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/deps.sh installs it)")
def test_web_page_in_headless_chromium(jz, work_dir):
    d = JzDaemon(jz("site"))
    d.start()
    try:
        data = work_dir / "data"
        (data / "tables").mkdir(parents=True)
        (data / "tables" / "stations.csv").write_text("station,temp\nOslo,1.5\nLima,19.0\n")
        (data / "notes.txt").write_text("first line\nsecond line\n")
        d.cli("repo", "create", "climate")
        first = d.cli("commit", "climate", str(data), "-m", "raw station data").stdout.strip()
        (data / "tables" / "stations.csv").write_text("station,temp\nOslo,1.5\nLima,21.0\n")
        (data / "notes.txt").write_text("first line\nsecond line, fixed\n")
        second = d.cli("commit", "climate", str(data), "-m", "fix Lima", "--input", first,
                       "--param", "threshold=0.5", "--code", "clean.py@1a2b").stdout.strip()
        base = gateway_url(d)

        listing = render(f"{base}/webui/", work_dir / "repositories.png")
        assert "climate" in listing and "fix Lima" in listing, listing[:2000]

        commit = render(f"{base}/webui/repo/climate/commit/{second}", work_dir / "commit.png")
        assert "clean.py@1a2b" in commit and "threshold" in commit and "tables/stations.csv" in commit, commit[:2000]

        diff = render(f"{base}/webui/repo/climate/diff?from=main~1&to=main", work_dir / "diff.png")
        assert "second line, fixed" in diff and "second line" in diff and "Lima" in diff, diff[:2000]

        csv = render(f"{base}/webui/repo/climate/tree/main/tables/stations.csv", work_dir / "csv.png")
        assert "<th>station</th>" in csv and "<td>21.0</td>" in csv, csv[:2000]
        for name in ("repositories", "commit", "diff", "csv"):
            shot = work_dir / f"{name}.png"
            assert shot.exists() and shot.stat().st_size > 1000, f"no screenshot {shot}"
    finally:
        d.stop()
