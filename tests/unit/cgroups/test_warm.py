"""The cgroup warmer (dockyard.cgroups.warm) against a plain file posing as cgroup.procs."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dockyard.cgroups.warm import CgroupWarmer, own_procs_file


def test_cgroup_warmer_writes_own_pid_until_stopped(tmp_path: Path) -> None:
    assert not CgroupWarmer("").on  # no writable cgroup.procs: nothing runs
    target = tmp_path / "cgroup.procs"
    target.write_text("")
    with CgroupWarmer(str(target)) as w:
        deadline = time.monotonic() + 5
        while target.read_text() != str(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert not w.on
    assert target.read_text() == str(os.getpid())


def test_own_procs_file_names_a_cgroup_procs_or_nothing() -> None:
    path = own_procs_file()
    assert path == "" or path.endswith("/cgroup.procs")
