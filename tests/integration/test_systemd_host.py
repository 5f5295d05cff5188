"""dockyard on a systemd host with pure cgroup v2, as a user runs it (issue: no limit worked on
Debian 12): the CLI's auto-start from a login session, the installed dockyard.service, limits
in transient scopes, and ``systemctl restart dockyard`` keeping containers and their logs.

These run only where systemd is PID 1 on cgroup v2: in the guest of ``make test-cgroup2``
(tools/cgroup2-guest), on the device machine, on a user's Debian 12. Elsewhere they skip.
They use the guest's own systemd and default roots: never run them on a shared machine.
Containers run with ``--network none``: every daemon here shares the guest's network
namespace, where one state root's default bridge would clash with the next one's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(
        not (
            os.path.isdir("/run/systemd/system")
            and os.path.exists("/sys/fs/cgroup/cgroup.controllers")
            and os.environ.get("DOCKYARD_SYSTEMD_TESTS") == "1"
        ),
        reason="needs systemd as PID 1 on cgroup v2 and DOCKYARD_SYSTEMD_TESTS=1 "
        "(make test-cgroup2 sets it in its guest)",
    ),
]

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / ".cache" / "images" / "busybox_latest.tar"
CLI = [sys.executable, "-m", "dockyard.cli.main"]


def _scope(*argv: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run ``argv`` as a login shell would: in a transient scope of its own, outside the
    test's delegated leaf, so the CLI's auto-start goes through systemd."""
    p = subprocess.run(["systemd-run", "--scope", "--quiet", "--collect", "--", *argv],
                       capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, **(env or {})}, check=False)  # fmt: skip
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p.stdout


@pytest.fixture
def roots(tmp_path: Path) -> Iterator[tuple[str, str]]:
    root, run_root = str(tmp_path / "root"), str(tmp_path / "run")
    cli = [*CLI, "--root", root, "--run-root", run_root]
    try:
        yield root, run_root
    finally:
        if os.path.exists(os.path.join(run_root, "dockyard.sock")):
            ids = subprocess.run([*cli, "ps", "-aq"], capture_output=True, text=True,
                                 check=False, timeout=60).stdout.split()  # fmt: skip
            if ids:
                subprocess.run([*cli, "rm", "-f", *ids], capture_output=True, check=False)
        units = subprocess.run(["systemctl", "list-units", "--plain", "--no-legend",
                                "dockyardd-*.service"], capture_output=True, text=True,
                               check=False).stdout  # fmt: skip
        for line in units.splitlines():
            subprocess.run(["systemctl", "stop", line.split()[0]], check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_a_login_shell_gets_limits_through_a_delegated_daemon(roots: tuple[str, str]) -> None:
    root, run_root = roots
    cli = [*CLI, "--root", root, "--run-root", run_root]
    _scope(*cli, "load", "-i", str(IMAGE))
    info = _scope(*cli, "info", "-f", "{{.CgroupDriver}} {{.CgroupVersion}}")
    assert info.split() == ["systemd", "2"], info
    # the daemon is a unit of its own, not a child of the caller's scope
    units = subprocess.run(["systemctl", "list-units", "--plain", "--no-legend",
                            "dockyardd-*.service"], capture_output=True, text=True,
                           check=True).stdout  # fmt: skip
    assert "running" in units, units
    script = ("cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; "
              "cat /proc/self/cgroup")  # fmt: skip
    out = _scope(*cli, "run", "--rm", "--memory", "64m", "--pids-limit", "20", "--cpus",
                 "0.5", "--network", "none", "busybox", "sh", "-c", script)  # fmt: skip
    assert out.split()[:4] == [str(64 << 20), "20", "50000", "100000"], out
    name = "oom-sd"
    p = subprocess.run(["systemd-run", "--scope", "--quiet", "--", *cli, "run", "--name", name,
                        "--memory", "64m", "busybox", "dd", "if=/dev/zero", "of=/dev/null",
                        "bs=256M", "count=1"], capture_output=True, text=True, check=False,
                       timeout=120)  # fmt: skip
    assert p.returncode == 137, p.stderr
    state = _scope(*cli, "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", name)
    assert state.split() == ["true", "137"]


def test_mknod_of_the_disk_is_refused(roots: tuple[str, str]) -> None:
    root, run_root = roots
    cli = [*CLI, "--root", root, "--run-root", run_root]
    _scope(*cli, "load", "-i", str(IMAGE))
    disk = next(d for d in ("/dev/vda", "/dev/sda", "/dev/nvme0n1") if os.path.exists(d))
    st = os.stat(disk)
    script = (f"mknod /dev/x b {os.major(st.st_rdev)} {os.minor(st.st_rdev)} && "
              "head -c 512 /dev/x | wc -c")  # fmt: skip
    p = subprocess.run(["systemd-run", "--scope", "--quiet", "--", *cli, "run", "--rm",
                        "--network", "none", "busybox", "sh", "-c", script],
                       capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
    assert "Operation not permitted" in p.stderr, (p.stdout, p.stderr)
    assert p.stdout.strip() in ("", "0")


def _counter(i: int) -> list[str]:
    return ["run", "-d", "--name", f"c{i}", "--network", "none", "busybox", "sh", "-c",
            "i=0; while :; do echo $i; i=$((i+1)); sleep 0.02; done"]  # fmt: skip


def test_systemctl_restart_keeps_containers_and_every_log_line() -> None:
    """The installed unit (default roots, as a user installs it)."""
    cli = [*CLI]
    subprocess.run([*cli, "system", "install"], check=True, capture_output=True, timeout=120)
    try:
        unit = Path("/etc/systemd/system/dockyard.service").read_text()
        assert "Delegate=yes" in unit and "KillMode=process" in unit
        _scope(*cli, "load", "-i", str(IMAGE))
        for i in range(3):
            _scope(*cli, *_counter(i))
        old = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value",
                              "dockyard.service"], capture_output=True, text=True,
                             check=True).stdout.strip()  # fmt: skip
        subprocess.run(["systemctl", "restart", "dockyard.service"], check=True, timeout=120)
        new = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value",
                              "dockyard.service"], capture_output=True, text=True,
                             check=True).stdout.strip()  # fmt: skip
        assert new not in (old, "0")
        # the CLI waits for the new daemon (it starts the unit if it is not up yet)
        running = _scope(*cli, "ps", "--format", "{{.Names}} {{.Status}}")
        for i in range(3):
            assert re.search(rf"^c{i} Up", running, re.M), running
        time.sleep(0.5)  # a few more lines written after the restart
        for i in range(3):
            lines = _scope(*cli, "logs", f"c{i}").split()
            nums = [int(x) for x in lines]
            assert nums == list(range(nums[0], nums[0] + len(nums))), "a log line was lost"
            assert nums[0] == 0 and len(nums) > 10
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            subprocess.run([*cli, "rm", "-f", "c0", "c1", "c2"], capture_output=True,
                           check=False, timeout=60)  # fmt: skip
        subprocess.run([*cli, "system", "uninstall"], capture_output=True, check=False)


def test_the_cgroupfs_driver_limits_beneath_a_delegated_subtree(roots: tuple[str, str]) -> None:
    """``--cgroup-manager cgroupfs`` on a v2 host: the daemon (forked from this test, which
    sits in a leaf of its delegated scope) enters the leaf and its containers, beneath the
    base, get their limits (the no-internal-process rule made every one fail before)."""
    root, run_root = roots
    cli = [*CLI, "--root", root, "--run-root", run_root]
    env = {**os.environ, "DOCKYARD_CGROUP_MANAGER": "cgroupfs", "DOCKYARD_AUTOSTART": "fork"}

    def run(*argv: str) -> str:
        p = subprocess.run([*cli, *argv], capture_output=True, text=True, env=env,
                           timeout=300, check=False)  # fmt: skip
        assert p.returncode == 0, p.stderr
        return p.stdout

    try:
        run("load", "-i", str(IMAGE))
        assert run("info", "-f", "{{.CgroupDriver}}").strip() == "cgroupfs"
        files = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max"]
        out = run("run", "--rm", "--network", "none", "--memory", "64m", "--pids-limit", "20",
                  "busybox", "cat", *files)  # fmt: skip
        assert out.split() == [str(64 << 20), "20"], out
    finally:
        pid = Path(run_root, "dockyard.pid")
        if pid.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid.read_text()), 15)
