"""Sites that fail and heal (issue 15), short form: the scenario of ``sites_scenario.py`` with
4 sites in network namespaces, a 12 MiB dataset, 3 link failures, 1 SIGKILL and the hostile
peer. The full size (200 MiB) is run by hand: ``bash scripts/sites-scenario.sh --full``.

Skipped without root, iproute2 or tc (network namespaces and ``tc tbf`` are needed).
"""
from __future__ import annotations

import os
import shutil

import pytest

import netns
from sites_scenario import ScenarioConfig, run_scenario, summary


def test_sites_fail_and_heal(jz_node_bin, work_dir):
    ok, why = netns.available()
    if not ok:
        pytest.skip(why)
    if shutil.which("tc") is None:
        pytest.skip("tc (iproute2) is not installed: links cannot be rate-limited")
    cfg = ScenarioConfig(binary=jz_node_bin, work=work_dir,
                         mib=float(os.environ.get("SITES_MIB", "12")), rate_mbit=24.0,
                         step_timeout=120.0, converge_timeout=120.0)
    report = run_scenario(cfg)
    print("\n" + summary(report))
    assert report.ok, report.failures
    assert len(report.link_failures) == 3 and len(report.kills) == 1
    assert report.hostile.get("bad_blocks_sent", 0) > 0, report.hostile
    assert report.converge_seconds is not None
