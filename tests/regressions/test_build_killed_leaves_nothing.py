"""Regression: a builder killed with SIGKILL during a RUN step left the step's container,
its cgroup (``dockyard/build-*`` in every hierarchy) and its overlay mount behind, for good.
The next build on the same run root now removes what a dead builder left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / ".cache" / "images" / "busybox_latest.tar"


def _cgroup_dirs(name: str) -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup").rglob(name) if p.is_dir()]


@pytest.mark.root
def test_the_next_build_removes_what_a_killed_builder_left(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if not IMAGE.exists():
        pytest.skip("needs the cached busybox image (make setup)")
    from dockyard.build.runner import sweep_abandoned
    from dockyard.runtime import Runtime

    cli = [sys.executable, "-m", "dockyard.cli.main", "--root", str(tmp_path / "r"),
           "--run-root", str(tmp_path / "rr")]  # fmt: skip
    subprocess.run([*cli, "load", "-i", str(IMAGE)], check=True, capture_output=True)
    slow, quick = tmp_path / "slow", tmp_path / "quick"
    for ctx, run in ((slow, "sleep 120"), (quick, "true")):
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM busybox:latest\nRUN {run}\n")
    rt = Runtime(tmp_path / "rr" / "runtime")
    builder = subprocess.Popen([*cli, "build", "--network", "none", str(slow)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not [s for s in rt.list() if s.status == "running"]:
            assert time.monotonic() < deadline, "the RUN step never started"
            assert builder.poll() is None, "the build ended early"
            time.sleep(0.05)
        (left,) = rt.list()
        builder.send_signal(signal.SIGKILL)
        builder.wait()
        name = left.cgroup_path.rsplit("/", 1)[-1]
        assert _cgroup_dirs(name), "the killed builder's step has a cgroup"
        assert os.path.ismount(left.rootfs)
        done = subprocess.run([*cli, "build", "--network", "none", str(quick)],
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert [s.id for s in rt.list()] == []
        assert not _cgroup_dirs(name), "its cgroup was left"
        assert not os.path.ismount(left.rootfs)
        from dockyard.runtime.state import pid_start_time

        info = pid_start_time(left.pid)  # gone, or a zombie its new parent has not reaped
        assert info is None or info[1] == "Z", "its RUN process still runs"
    finally:
        if builder.poll() is None:
            builder.kill()
            builder.wait()
        sweep_abandoned(tmp_path / "rr")
