"""The Manager contract against fake v1 (hybrid) and v2 filesystems."""

from __future__ import annotations

from pathlib import Path

import pytest
from cgroups_contract import CgroupContract, Env
from cgroups_fakefs import V1_OWN_MEMORY, V2_OWN, FakeCgroupFs, make_v1_root, make_v2_root

from dockyard.cgroups import Manager, create_manager


class TestV1Fake(CgroupContract):
    @pytest.fixture
    def env(self, tmp_path: Path) -> Env:
        root, own = make_v1_root(tmp_path)
        fs = FakeCgroupFs()

        def quota(m: Manager) -> str:
            d = m.paths()["cpu"]
            return f"{(d / 'cpu.cfs_quota_us').read_text()} {(d / 'cpu.cfs_period_us').read_text()}"

        def own_dirs() -> list[Path]:
            out = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
            return [*out, root / "memory" / V1_OWN_MEMORY.lstrip("/")]

        return Env(
            lambda p: create_manager(p, root=root, mode="v1", own_cgroups=own, fs=fs),
            quota,
            own_dirs,
        )


class TestV2Fake(CgroupContract):
    @pytest.fixture
    def env(self, tmp_path: Path) -> Env:
        root, own = make_v2_root(tmp_path)
        fs = FakeCgroupFs()
        return Env(
            lambda p: create_manager(p, root=root, mode="v2", own_cgroups=own, fs=fs),
            lambda m: (m.paths()[""] / "cpu.max").read_text(),
            lambda: [root / V2_OWN.lstrip("/")],
        )
