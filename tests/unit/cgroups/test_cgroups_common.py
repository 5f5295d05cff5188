"""Placement, mode detection, errors, timeouts, the null manager and the public API."""

from __future__ import annotations

import errno
import signal
from pathlib import Path

import pytest
from cgroups_fakefs import V2_OWN, FakeCgroupFs, make_v1_root, make_v2_root

import dockyard.cgroups
from dockyard.cgroups import Clock, NullManager, create_manager, detect_mode, parse_proc_cgroup
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._paths import relative_path
from dockyard.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from dockyard.oci.resources import LinuxResources, Memory


class FakeClock(Clock):
    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(lambda: self.now, self._sleep)

    def _sleep(self, s: float) -> None:
        self.now += s


def test_exported_members() -> None:
    assert set(dockyard.cgroups.__all__) == {
        "LEAF",
        "CgroupFs",
        "CgroupStats",
        "Clock",
        "Manager",
        "Mode",
        "NullManager",
        "create_manager",
        "detect_mode",
        "own_cgroups",
        "parse_proc_cgroup",
    }


def test_parse_proc_cgroup() -> None:
    text = "9:name=systemd:/\n4:memory:/process_api/x\n1:cpu,cpuacct:/a\n0::/u\n"
    assert parse_proc_cgroup(text) == {
        "name=systemd": "/",
        "memory": "/process_api/x",
        "cpu": "/a",
        "cpuacct": "/a",
        "": "/u",
    }


def test_detect_mode(tmp_path: Path) -> None:
    assert detect_mode(make_v2_root(tmp_path / "a")[0]) == "v2"
    v1 = make_v1_root(tmp_path / "b")[0]
    assert detect_mode(v1) == "v1"
    (v1 / "unified").mkdir()
    (v1 / "unified" / "cgroup.controllers").write_text("")
    assert detect_mode(v1) == "hybrid"
    with pytest.raises(Unavailable):
        detect_mode(tmp_path / "none")


@pytest.mark.parametrize(
    ("path", "rel"), [("a/b", "a/b"), ("/a/b", "a/b"), ("//x/", "x"), ("c", "c")]
)
def test_relative_path(path: str, rel: str) -> None:
    assert str(relative_path(path)) == rel


@pytest.mark.parametrize("path", ["", "/", "a/../b", "./a", "system.slice:docker:", "x:docker:abc"])
def test_bad_paths(path: str) -> None:
    with pytest.raises(InvalidArgument, match="cgroup path"):
        create_manager(path, mode="v2", own_cgroups={"": "/"})


def test_own_cgroup_missing_is_not_found(tmp_path: Path) -> None:
    root, _ = make_v2_root(tmp_path)
    m = create_manager("c", root=root, mode="v2", own_cgroups={"": "/gone"}, fs=FakeCgroupFs())
    with pytest.raises(NotFound, match="parent cgroup"):
        m.create()


def test_destroy_busy_times_out_with_failed_precondition(tmp_path: Path) -> None:
    root, _ = make_v2_root(tmp_path)
    clock = FakeClock()
    m = create_manager(
        "c", root=root, mode="v2", own_cgroups={"": V2_OWN}, fs=FakeCgroupFs(), clock=clock
    )
    m.create()
    (m.paths()[""] / "child").mkdir()
    with pytest.raises(FailedPrecondition, match="still busy"):
        m.destroy()
    assert clock.now >= 2.0


def test_shared_parent_stays_while_used_and_goes_with_the_last(tmp_path: Path) -> None:
    root, own = make_v2_root(tmp_path)
    fs = FakeCgroupFs()
    a = create_manager("dockyard/a", root=root, mode="v2", own_cgroups=own, fs=fs)
    b = create_manager("dockyard/b", root=root, mode="v2", own_cgroups=own, fs=fs)
    a.create()
    b.create()
    parent = b.paths()[""].parent
    a.destroy()
    assert b.paths()[""].is_dir() and parent.is_dir()  # b still uses dockyard/
    b.destroy()  # the last container leaves nothing behind, whoever created dockyard/
    assert not parent.exists()
    assert parent.parent.is_dir()  # our own cgroup is never removed


def test_kill_all_gives_up_with_unavailable(tmp_path: Path) -> None:
    root, own = make_v2_root(tmp_path)
    fs = FakeCgroupFs()
    clock = FakeClock()
    m = create_manager("c", root=root, mode="v2", own_cgroups=own, fs=fs, clock=clock)
    m.create()
    (m.paths()[""] / "cgroup.kill").unlink()  # an older kernel: signal pids instead
    sent: list[tuple[int, int]] = []
    m._kill = lambda pid, sig: sent.append((pid, sig))  # type: ignore[attr-defined]
    # pid 1 is alive and never dies here
    (m.paths()[""] / "cgroup.procs").write_text("1\n")
    with pytest.raises(Unavailable, match="processes left"):
        m.kill_all()
    assert sent and all(s == (1, signal.SIGKILL) for s in sent)
    assert not m.frozen()


def test_errno_mapping(tmp_path: Path) -> None:
    f = tmp_path / "x"
    with pytest.raises(Unavailable, match=r"write .*x = 1: no such file"):
        CgroupFs().write(f, "1")
    with pytest.raises(NotFound):
        CgroupFs().read(f)


def test_failed_write_einval(tmp_path: Path) -> None:
    root, own = make_v2_root(tmp_path)
    fs = FakeCgroupFs()
    fs.fail["memory.max"] = errno.EINVAL
    m = create_manager("c", root=root, mode="v2", own_cgroups=own, fs=fs)
    m.create()
    with pytest.raises(InvalidArgument, match=r"memory.max = 4096: invalid argument$"):
        m.apply(LinuxResources(memory=Memory(limit=4096)))


def test_null_manager() -> None:
    m = NullManager("x")
    m.create()
    m.apply(LinuxResources(memory=Memory(limit=1)))
    m.add(1)
    m.kill_all()
    m.destroy()
    assert m.pids() == [] and m.paths() == {} and not m.frozen()
    assert m.stats().cpu_usage_ns == 0 and m.oom_kill_count() == 0
    with pytest.raises(Unavailable, match="freeze cgroup x"):
        m.freeze()


def test_kill_all_refuses_to_kill_the_caller(tmp_path: Path) -> None:
    import os

    root, own = make_v2_root(tmp_path)
    m = create_manager("c", root=root, mode="v2", own_cgroups=own, fs=FakeCgroupFs())
    m.create()
    (m.paths()[""] / "cgroup.procs").write_text(f"{os.getpid()}\n")
    with pytest.raises(FailedPrecondition, match="calling process"):
        m.kill_all()


def test_joined_of_null_and_v2_managers(tmp_path: Path) -> None:
    assert NullManager("x").joined() == []
    root = tmp_path / "v2"
    root.mkdir()
    m = create_manager("c", root=root, mode="v2", own_cgroups={"": "/"}, fs=FakeCgroupFs())
    assert m.joined() == [""]
