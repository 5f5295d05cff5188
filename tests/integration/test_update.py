"""``dockyard update`` on a running container: the cgroup changes, the record keeps it, a
restart keeps it, bad input is one line."""

from __future__ import annotations

import pytest

from conftest import Dockyard

pytestmark = pytest.mark.root

MEM = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"
PIDS = "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"


def _exec(dy: Dockyard, name: str, script: str) -> str:
    return dy.run("exec", name, "sh", "-c", script, check=True).stdout.strip()


def test_update_changes_a_running_containers_limits(dy: Dockyard) -> None:
    name = "upd-test"
    dy.run("run", "-d", "--name", name, "--memory", "64m", "--pids-limit", "50",
           "busybox", "sleep", "300", check=True)  # fmt: skip
    try:
        assert _exec(dy, name, MEM) == str(64 << 20)
        out = dy.run("update", "--memory", "32m", "--memory-swap", "64m", "--pids-limit", "10",
                     "--restart", "on-failure:3", name, check=True)  # fmt: skip
        assert out.stdout.strip() == name
        assert _exec(dy, name, MEM) == str(32 << 20)
        assert _exec(dy, name, PIDS) == "10"
        fmt = "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}"
        got = dy.run("inspect", "-f", fmt, name, check=True).stdout.strip()
        assert got == f"{32 << 20} 10 on-failure"
        dy.run("restart", "-t", "1", name, check=True)
        assert _exec(dy, name, MEM) == str(32 << 20)  # the bundle kept it
    finally:
        dy.run("rm", "-f", name)


def test_bad_updates_are_one_line(dy: Dockyard) -> None:
    r = dy.run("update", "no-such-container-xyz", "--memory", "32m")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = dy.run("update", "no-such-container-xyz")
    assert r.returncode != 0 and "one or more flags" in r.stderr
    r = dy.run("update", "--memory", "lots", "x")
    assert r.returncode != 0 and "--memory" in r.stderr and "Traceback" not in r.stderr
