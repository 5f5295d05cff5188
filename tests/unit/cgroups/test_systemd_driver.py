"""The systemd cgroup driver (dockyard.cgroups.systemd) against a fake bus and cgroupfs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cgroups_fakefs import V2_CONTROLLERS, FakeCgroupFs

from dockyard.cgroups import create_manager
from dockyard.cgroups.systemd import SystemdManager, parse_systemd_path, slice_dir
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.oci.resources import CPU, LinuxResources, Memory, Pids


class FakeBus:
    """systemd's side: a started scope is a cgroup under its slice holding the PIDs."""

    def __init__(self, root: Path, fs: FakeCgroupFs) -> None:
        self.root, self.fs = root, fs
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def start_scope(self, unit: str, properties: list[tuple[str, tuple[str, Any]]]) -> None:
        props = {k: v[1] for k, v in properties}
        self.calls.append(("start", unit, props))
        d = self.root / slice_dir(props["Slice"]) / unit
        self.fs.mkdir(d)
        for pid in props["PIDs"]:
            self.fs.write(d / "cgroup.procs", str(pid))

    def set_properties(self, unit: str, properties: list[tuple[str, tuple[str, Any]]]) -> None:
        self.calls.append(("set", unit, {k: v[1] for k, v in properties}))

    def stop_unit(self, unit: str) -> None:
        self.calls.append(("stop", unit, {}))


@pytest.fixture
def host(tmp_path: Path) -> Path:
    root = tmp_path / "cgroup2"
    for d in (root, root / "system.slice"):
        d.mkdir(parents=True)
        (d / "cgroup.controllers").write_text(V2_CONTROLLERS)
        (d / "cgroup.subtree_control").write_text(V2_CONTROLLERS)
        (d / "cgroup.procs").write_text("")
        for f, v in {"memory.max": "max", "pids.max": "max", "cpu.max": "max 100000"}.items():
            (d / f).write_text(v)
    return root


LIMITS = LinuxResources(
    memory=Memory(limit=64 << 20), pids=Pids(limit=20), cpu=CPU(quota=50_000, period=100_000)
)


def test_the_scope_is_started_with_the_init_and_the_limits(host: Path) -> None:
    fs = FakeCgroupFs()
    bus = FakeBus(host, fs)
    m = SystemdManager("system.slice:dockyard:abc", root=host, fs=fs, bus=bus)
    m.create()
    m.apply(LIMITS)
    assert bus.calls == []  # a scope needs a process: nothing before add()
    m.add(os.getpid())
    kind, unit, props = bus.calls[0]
    assert (kind, unit) == ("start", "dockyard-abc.scope")
    assert props["PIDs"] == [os.getpid()] and props["Delegate"] is True
    assert props["Slice"] == "system.slice"
    assert (props["MemoryMax"], props["TasksMax"], props["CPUQuotaPerSecUSec"]) == (
        64 << 20,
        20,
        500_000,
    )
    scope = host / "system.slice" / "dockyard-abc.scope"
    box = scope / "container"  # the container's processes and limits, beneath the scope
    assert (box / "memory.max").read_text() == str(64 << 20)
    assert (box / "pids.max").read_text() == "20"
    assert m.pids() == [os.getpid()]
    assert m.paths() == {"": box}
    assert (scope / "cgroup.procs").read_text().split() == []  # no internal process


def test_update_sets_the_properties_and_the_files(host: Path) -> None:
    fs = FakeCgroupFs()
    bus = FakeBus(host, fs)
    m = SystemdManager("system.slice:dockyard:abc", root=host, fs=fs, bus=bus)
    m.add(os.getpid())
    m.apply(LinuxResources(memory=Memory(limit=32 << 20)))
    assert bus.calls[-1] == ("set", "dockyard-abc.scope", {"MemoryMax": 32 << 20})
    box = host / "system.slice" / "dockyard-abc.scope" / "container"
    assert (box / "memory.max").read_text() == str(32 << 20)


def test_a_later_manager_finds_the_running_scope(host: Path) -> None:
    fs = FakeCgroupFs()
    bus = FakeBus(host, fs)
    SystemdManager("system.slice:dockyard:abc", root=host, fs=fs, bus=bus).add(os.getpid())
    again = create_manager("system.slice:dockyard:abc", root=host, mode="v2", fs=fs)
    assert again.pids() == [os.getpid()]


def test_a_keeper_holds_the_scope_after_the_container_is_gone(
    host: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder (the caller) joins <scope>/supervisor: when the container's last process
    ends, the scope is not empty, systemd keeps it, and its OOM count can still be read."""
    import subprocess
    import sys

    monkeypatch.setenv("DOCKYARD_SCOPE_KEEPER", "1")
    fs = FakeCgroupFs()
    bus = FakeBus(host, fs)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        m = SystemdManager("system.slice:dockyard:k", root=host, fs=fs, bus=bus)
        m.add(child.pid)
        scope = host / "system.slice" / "dockyard-k.scope"
        assert bus.calls[0][2]["PIDs"] == [child.pid, os.getpid()]
        assert m.pids() == [child.pid]
        assert fs.read(scope / "supervisor" / "cgroup.procs").split() == [str(os.getpid())]
        child.kill()
        child.wait()
        assert m.pids() == [] and m.oom_kill_count() == 0  # still readable
    finally:
        child.kill()
        child.wait()


def test_destroy_stops_the_unit(host: Path) -> None:
    fs = FakeCgroupFs()
    bus = FakeBus(host, fs)
    m = SystemdManager("system.slice:dockyard:abc", root=host, fs=fs, bus=bus)
    m.destroy()  # never started: nothing to stop
    assert bus.calls == []


@pytest.mark.parametrize(
    ("slice_", "path"),
    [
        ("system.slice", "system.slice"),
        ("a-b-c.slice", "a.slice/a-b.slice/a-b-c.slice"),
        ("-.slice", ""),
    ],
)
def test_slice_dir(slice_: str, path: str) -> None:
    assert slice_dir(slice_) == path


def test_paths_are_checked() -> None:
    assert parse_systemd_path(":dockyard:abc") == ("system.slice", "dockyard-abc.scope")
    for bad in ("system.slice:dockyard:", "nope:dockyard:abc", "a.slice:x y:abc"):
        with pytest.raises(InvalidArgument):
            parse_systemd_path(bad)


def test_the_systemd_driver_needs_cgroup_v2(host: Path) -> None:
    with pytest.raises(Unavailable, match="needs cgroup v2"):
        create_manager("system.slice:dockyard:abc", root=host, mode="hybrid")
