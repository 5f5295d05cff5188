"""The Manager contract: the same tests for v1 fake-fs, v2 fake-fs and the real host.

A subclass provides the ``env`` fixture (an :class:`Env`); everything else is shared.
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.cgroups import Manager
from dockyard.errors import InvalidArgument
from dockyard.oci.resources import CPU, LinuxResources, Memory, Pids

LIMITS = LinuxResources(
    memory=Memory(limit=64 << 20),
    cpu=CPU(quota=50000, period=100000),
    pids=Pids(limit=20),
)


@dataclass
class Env:
    make: Callable[[str], Manager]
    cpu_quota: Callable[[Manager], str]  # "50000 100000" whatever the version
    own_dirs: Callable[[], list[Path]]  # the caller's own cgroup in each hierarchy


def unique_path() -> str:
    return f"dockyard-test-{uuid.uuid4().hex[:10]}/ctr"


class CgroupContract:
    @pytest.fixture
    def env(self) -> Env:
        raise NotImplementedError

    @pytest.fixture
    def sleeper(self) -> Iterator[subprocess.Popen[bytes]]:
        child = subprocess.Popen(["sleep", "60"])
        try:
            yield child
        finally:
            child.kill()
            child.wait()

    @pytest.fixture
    def manager(self, env: Env) -> Iterator[Manager]:
        m = env.make(unique_path())
        try:
            m.create()
            yield m
        finally:
            m.kill_all()
            m.destroy()
        top = m.path.split("/")[0]
        assert not [d for d in env.own_dirs() if (d / top).exists()], "cgroup dirs left behind"

    def test_create_places_beneath_own_cgroup(self, env: Env, manager: Manager) -> None:
        own = env.own_dirs()
        for d in manager.paths().values():
            assert d.is_dir()
            assert any(d.is_relative_to(o) and d != o for o in own), d
            assert str(d).endswith(manager.path)

    def test_create_is_idempotent(self, manager: Manager) -> None:
        manager.create()
        assert all(d.is_dir() for d in manager.paths().values())

    def test_absolute_path_is_placed_beneath_own_too(self, env: Env) -> None:
        m = env.make("/" + unique_path())
        m.create()
        try:
            assert any(d.is_relative_to(o) for d in m.paths().values() for o in env.own_dirs())
        finally:
            m.destroy()
        assert not any(d.exists() for d in m.paths().values())

    def test_apply_and_stats(self, env: Env, manager: Manager) -> None:
        manager.apply(LIMITS)
        st = manager.stats()
        assert st.memory_limit == 64 << 20
        assert st.pids_limit == 20
        assert env.cpu_quota(manager) == "50000 100000"

    def test_unlimited(self, manager: Manager) -> None:
        manager.apply(LIMITS)
        manager.apply(LinuxResources(memory=Memory(limit=-1), pids=Pids(limit=0)))
        st = manager.stats()
        assert st.memory_limit is None
        assert st.pids_limit is None

    def test_impossible_swap_is_invalid(self, manager: Manager) -> None:
        with pytest.raises(InvalidArgument, match="swap"):
            manager.apply(LinuxResources(memory=Memory(limit=64 << 20, swap=32 << 20)))

    def test_member_lifecycle(self, manager: Manager, sleeper: subprocess.Popen[bytes]) -> None:
        manager.apply(LIMITS)
        manager.add(sleeper.pid)
        assert manager.pids() == [sleeper.pid]
        assert manager.stats().pids_current in (0, 1)  # the fakes do not count
        manager.freeze()
        assert manager.frozen()
        manager.thaw()
        assert not manager.frozen()
        manager.kill_all()
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
        assert manager.pids() == []

    def test_kill_all_while_frozen(
        self, manager: Manager, sleeper: subprocess.Popen[bytes]
    ) -> None:
        manager.add(sleeper.pid)
        manager.freeze()
        manager.kill_all()
        assert sleeper.wait(timeout=10) == -signal.SIGKILL
        assert manager.pids() == []

    def test_kill_all_other_signal_once(
        self, manager: Manager, sleeper: subprocess.Popen[bytes]
    ) -> None:
        manager.add(sleeper.pid)
        manager.kill_all(signal.SIGTERM)
        assert sleeper.wait(timeout=10) == -signal.SIGTERM

    def test_destroy_is_idempotent(self, env: Env) -> None:
        m = env.make(unique_path())
        m.create()
        m.destroy()
        m.destroy()
        assert not any(d.exists() for d in m.paths().values())

    def test_stats_empty_cgroup(self, manager: Manager) -> None:
        st = manager.stats()
        assert st.cpu_usage_ns >= 0
        assert manager.oom_kill_count() >= 0
