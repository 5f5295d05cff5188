"""The daemon's v2 subtree (dockyard.cgroups.delegate) against a fake that enforces the
kernel's no-internal-process rule (EBUSY): the rule that made every limit fail on Debian 12."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cgroups_fakefs import V2_CONTROLLERS, FakeCgroupFs

from dockyard.cgroups import create_manager
from dockyard.cgroups._paths import base_of
from dockyard.cgroups.delegate import LEAF, enter_leaf
from dockyard.errors import Conflict, Unavailable
from dockyard.oci.resources import LinuxResources, Memory, Pids

OWN = "/system.slice/dockyard.service"


def _cg(d: Path, controllers: str, procs: str = "") -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "cgroup.controllers").write_text(controllers)
    (d / "cgroup.subtree_control").write_text("")
    (d / "cgroup.procs").write_text(procs)
    (d / "cgroup.events").write_text("populated 0\nfrozen 0\n")
    for f, v in {"memory.max": "max", "pids.max": "max", "cpu.max": "max 100000"}.items():
        (d / f).write_text(v)


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A v2 root delegating everything to the unit ``OWN``, which holds this process."""
    root = tmp_path / "cgroup2"
    _cg(root, V2_CONTROLLERS)
    (root / "cgroup.subtree_control").write_text(V2_CONTROLLERS)
    _cg(root / "system.slice", V2_CONTROLLERS)
    (root / "system.slice" / "cgroup.subtree_control").write_text(V2_CONTROLLERS)
    _cg(root / OWN.lstrip("/"), V2_CONTROLLERS, f"{os.getpid()}\n")
    return root


@pytest.fixture
def neighbour() -> Iterator[int]:
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield p.pid
    finally:
        p.kill()
        p.wait()


LIMITS = LinuxResources(memory=Memory(limit=64 << 20), pids=Pids(limit=20))


def test_without_a_leaf_the_kernel_refuses_controllers_for_containers(host: Path) -> None:
    """The bug as the kernel shows it: the daemon's own cgroup holds the daemon."""
    fs = FakeCgroupFs()
    with pytest.raises(Conflict, match="busy"):
        fs.write(host / OWN.lstrip("/") / "cgroup.subtree_control", "+memory")
    m = create_manager("dockyard/c1", root=host, mode="v2", own_cgroups={"": OWN}, fs=fs)
    m.create()
    with pytest.raises(Unavailable, match="controller memory, pids not enabled"):
        m.apply(LIMITS)


def test_enter_leaf_moves_the_daemon_and_delegates_to_its_siblings(host: Path) -> None:
    fs = FakeCgroupFs()
    d = enter_leaf(host, proc_cgroup=f"0::{OWN}\n", fs=fs)
    assert (d.base, d.leaf, d.problem) == (OWN, f"{OWN}/{LEAF}", "")
    assert {"cpu", "memory", "pids", "io"} <= set(d.enabled)
    unit = host / OWN.lstrip("/")
    assert fs.read(unit / LEAF / "cgroup.procs").split() == [str(os.getpid())]
    assert fs.read(unit / "cgroup.procs").split() == []
    # a process in the leaf places containers beneath the base, where limits now work
    own = base_of(f"{OWN}/{LEAF}")
    m = create_manager("dockyard/c1", root=host, mode="v2", own_cgroups={"": own}, fs=fs)
    m.create()
    m.apply(LIMITS)
    assert (unit / "dockyard" / "c1" / "memory.max").read_text() == str(64 << 20)
    assert (unit / "dockyard" / "c1" / "pids.max").read_text() == "20"


def test_enter_leaf_is_idempotent_for_a_restarted_daemon(host: Path) -> None:
    fs = FakeCgroupFs()
    enter_leaf(host, proc_cgroup=f"0::{OWN}\n", fs=fs)
    again = enter_leaf(host, proc_cgroup=f"0::{OWN}/{LEAF}\n", fs=fs)
    assert (again.base, again.problem) == (OWN, "")


def test_a_shared_cgroup_is_reported_not_forced(host: Path, neighbour: int) -> None:
    """A login session's scope holds the shell too: dockyard never moves what is not its
    own; it says why limits cannot work and how to fix it."""
    unit = host / OWN.lstrip("/")
    (unit / "cgroup.procs").write_text(f"{os.getpid()}\n{neighbour}\n")
    d = enter_leaf(host, proc_cgroup=f"0::{OWN}\n", fs=FakeCgroupFs())
    assert f"pids {neighbour}" in d.problem and "dockyard system install" in d.problem
    assert str(neighbour) in (unit / "cgroup.procs").read_text()


def test_an_undelegated_unit_is_reported(host: Path) -> None:
    (host / "system.slice" / "cgroup.subtree_control").write_text("")
    (host / OWN.lstrip("/") / "cgroup.controllers").write_text("")
    d = enter_leaf(host, proc_cgroup=f"0::{OWN}\n", fs=FakeCgroupFs())
    assert "not delegated" in d.problem and "Delegate=yes" in d.problem


def test_the_root_cgroup_is_exempt_and_nothing_moves(host: Path) -> None:
    (host / "cgroup.subtree_control").write_text("")
    d = enter_leaf(host, proc_cgroup="0::/\n", fs=FakeCgroupFs())
    assert (d.base, d.leaf, d.problem) == ("/", "", "")
    assert not (host / LEAF).exists()
    assert "memory" in (host / "cgroup.subtree_control").read_text()


@pytest.mark.parametrize(
    ("path", "base"),
    [
        ("/a/b", "/a/b"),
        (f"/a/b/{LEAF}", "/a/b"),
        (f"/{LEAF}", "/"),
        ("/", "/"),
        (f"/a/{LEAF}x", f"/a/{LEAF}x"),
    ],
)
def test_base_of(path: str, base: str) -> None:
    assert base_of(path) == base
