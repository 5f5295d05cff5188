"""The cgroup warmer (dockyard.cgroups.warm) against a plain file posing as cgroup.procs."""

from __future__ import annotations

import os
import time
from pathlib import Path

from dockyard.cgroups.warm import SharedWarmer, own_procs_file


def test_cgroup_warmer_writes_own_pid_until_stopped(tmp_path: Path) -> None:
    nothing = SharedWarmer("")  # no writable cgroup.procs: nothing runs
    nothing.hold()
    assert not nothing._running
    target = tmp_path / "cgroup.procs"
    target.write_text("")
    shared = SharedWarmer(str(target))
    w = shared.hold()
    deadline = time.monotonic() + 5
    while target.read_text() != str(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.01)
    w.stop()
    deadline = time.monotonic() + 5
    while shared._running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not shared._running
    assert target.read_text() == str(os.getpid())


def test_own_procs_file_names_a_cgroup_procs_or_nothing() -> None:
    path = own_procs_file()
    assert path == "" or path.endswith("/cgroup.procs")


def test_shared_warmer_runs_one_thread_while_anyone_holds_it(tmp_path: Path) -> None:
    target = tmp_path / "cgroup.procs"
    target.write_text("")
    shared = SharedWarmer(str(target))
    a, b = shared.hold(), shared.hold()
    deadline = time.monotonic() + 5
    while target.read_text() != str(os.getpid()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert target.read_text() == str(os.getpid())
    a.stop()
    a.stop()  # idempotent
    assert shared._running  # b still holds it
    b.stop()
    deadline = time.monotonic() + 5
    while shared._running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not shared._running
    assert SharedWarmer("").hold() is not None  # nothing writable: a hold that does nothing
