"""Smoke test of bench/refdocker.py: a private dockerd in its own network and mount
namespaces runs busybox with and without networking, builds, and leaves nothing behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import Dockyard

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.refdocker import docker_daemon, missing_tools

pytestmark = [pytest.mark.root, pytest.mark.anchors, pytest.mark.slow]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Unix socket paths live under the harness's work dir: pytest's tmp_path is long."""
    d = Path(tempfile.mkdtemp(prefix="dyb-t-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [m for line in f if (m := line.split()[4]).startswith(str(path) + "/")]


def _running(pid: int, *names: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return False
    return any(cmdline.endswith(n) for n in names)


def _in_netns(link: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if os.readlink(d / "ns" / "net") == link:
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def test_private_dockerd_runs_builds_and_cleans_up(dy: Dockyard, short_dir: Path) -> None:
    reason = missing_tools()
    if reason is not None:
        pytest.skip(reason)
    tar = short_dir / "busybox.tar"
    subprocess.run(
        dy.argv("save", "--format", "docker", "-o", str(tar), "busybox:latest"),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    work = short_dir / "d"
    why: list[str] = []
    with docker_daemon(work, why) as env:
        if env is None:
            pytest.fail(f"dockerd did not start: {why}")
        own_net = os.readlink("/proc/self/ns/net")
        daemon_net = os.readlink(env.netns)
        dockerd, containerd = env.dockerd_pid, env.containerd_pid
        parent = env.cgroup_parent
        assert daemon_net != own_net
        assert env.load(tar) == ["busybox:latest"]
        env.run("run", "--rm", "busybox", "true")
        env.run("run", "--rm", "--network", "none", "busybox", "true")
        ctx = short_dir / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo hi > /hi\n")
        env.run("build", "-q", "-t", "dybench-smoke:1", str(ctx), env={"DOCKER_BUILDKIT": "0"})
        out = env.run("run", "--rm", "dybench-smoke:1", "cat", "/hi").stdout
        assert out.strip() == "hi"
        env.run("run", "-d", "busybox", "sleep", "600")  # left for teardown to remove
        # the daemon's mounts stay in its own mount namespace
        assert _mounts_under(work) == []
        assert "docker0" not in os.listdir("/sys/class/net")
    assert not work.exists()
    assert _mounts_under(work) == []
    assert not _running(dockerd, "dockerd")
    assert not _running(containerd, "containerd")
    assert _in_netns(daemon_net) == []
    rel = parent.strip("/")
    assert [p for p in Path("/sys/fs/cgroup").glob(f"*/{rel}") if p.exists()] == []
