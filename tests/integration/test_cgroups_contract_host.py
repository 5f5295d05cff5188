"""The Manager contract on the real host (v1, hybrid or v2), beneath our own cgroup.

Every cgroup made here is named ``dockyard-test-<random>`` beneath the caller's own
cgroup and removed by the fixture even when the test fails.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit" / "cgroups"))

from cgroups_contract import CgroupContract, Env

from dockyard.cgroups import Manager, create_manager, detect_mode
from dockyard.cgroups._paths import own_cgroups, place, v1_mounts

pytestmark = pytest.mark.root

ROOT = Path("/sys/fs/cgroup")


def host_own_dirs() -> list[Path]:
    own = own_cgroups()  # a dockyard-leaf stands for its parent (cgroups/delegate.py)
    mode = detect_mode(ROOT)
    if mode == "v2":
        return [place(ROOT, own[""], Path())]  # type: ignore[arg-type]
    dirs = [place(m, own[c], Path()) for c, m in v1_mounts(ROOT).items() if c in own]  # type: ignore[arg-type]
    if mode == "hybrid" and "" in own:
        dirs.append(place(ROOT / "unified", own[""], Path()))  # type: ignore[arg-type]
    return sorted(set(dirs))


def host_quota(m: Manager) -> str:
    paths = m.paths()
    if "cpu" in paths:
        d = paths["cpu"]
        quota = (d / "cpu.cfs_quota_us").read_text().strip()
        return f"{quota} {(d / 'cpu.cfs_period_us').read_text().strip()}"
    return (paths[""] / "cpu.max").read_text().strip()


def host_usable() -> str | None:
    """Why the host cannot run these tests, or None."""
    if os.geteuid() != 0:
        return "needs root"
    if not ROOT.is_dir():
        return "no cgroup filesystem"
    if detect_mode(ROOT) == "v2":
        own = own_cgroups()[""]
        enabled = (ROOT / own.lstrip("/") / "cgroup.subtree_control").read_text().split()
        if not {"memory", "cpu", "pids"} <= set(enabled):
            return f"cgroup v2: memory, cpu, pids not delegated to {own}"
    return None


class TestHost(CgroupContract):
    @pytest.fixture
    def env(self) -> Env:
        reason = host_usable()
        if reason:
            pytest.skip(reason)
        return Env(create_manager, host_quota, host_own_dirs)
