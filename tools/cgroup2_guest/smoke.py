"""``make cgroup2-smoke``: the checks run inside the guest, one line each, exit 1 on any failure.

Run as ``.venv/bin/python tools/cgroup2_guest/smoke.py`` in the guest (through
``tools/cgroup2-guest run``): that the venv runs at all is the first check. Then:

- the host is what users run: systemd is PID 1, ``/sys/fs/cgroup`` is cgroup2 and
  nothing else is mounted as a cgroup hierarchy, we are in a login session's scope;
- the share works for what the tests need: root ownership, setuid/sticky modes and
  symlinks on files made through 9p, and ``/tmp`` is on the guest's own disk (overlayfs
  upper dirs cannot be on 9p);
- ``dockyard run --rm --network none busybox true`` works (image from ``.cache/images``), a
  ``--memory``/``--pids-limit`` run shows its limits, and mknod of the guest's disk is refused.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = REPO / ".cache" / "images" / "busybox_latest.tar"


def _mounts() -> list[tuple[str, str]]:
    """(mount point, fs type) of every mount, from mountinfo."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            _, _, after = line.partition(" - ")
            fields = line.split()
            found.append((fields[4], after.split()[0]))
    return found


def _fstype(path: str) -> str:
    best = ("", "")
    for point, fstype in _mounts():
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, fstype)
    return best[1]


def check_systemd_cgroup2() -> str:
    pid1 = Path("/proc/1/comm").read_text().strip()
    assert pid1 == "systemd", f"PID 1 is {pid1}"
    assert _fstype("/sys/fs/cgroup") == "cgroup2", "/sys/fs/cgroup is not cgroup2"
    v1 = [p for p, t in _mounts() if t == "cgroup"]
    assert not v1, f"cgroup v1 hierarchies mounted: {v1}"
    own = Path("/proc/self/cgroup").read_text().strip()
    assert own.startswith("0::/user.slice/user-0.slice/session-"), f"own cgroup {own}"
    return own


def check_share() -> str:
    assert _fstype(str(REPO)) == "9p", f"{REPO} is not the 9p share"
    probe_dir = Path(tempfile.mkdtemp(prefix="smoke-", dir=REPO / ".cache" / "cgroup2-guest"))
    try:
        probe = probe_dir / "setuid"
        probe.write_bytes(b"#!/bin/sh\n")
        os.chown(probe, 0, 0)
        probe.chmod(0o4755)
        (probe_dir / "sticky").mkdir(mode=0o1777)
        (probe_dir / "sticky").chmod(0o1777)
        (probe_dir / "link").symlink_to("setuid")
        st = probe.stat()
        assert (st.st_uid, st.st_gid) == (0, 0), f"owner {st.st_uid}:{st.st_gid}"
        assert stat.S_IMODE(st.st_mode) == 0o4755, f"mode {oct(st.st_mode)}"
        assert stat.S_IMODE((probe_dir / "sticky").stat().st_mode) == 0o1777, "sticky dir"
        assert os.readlink(probe_dir / "link") == "setuid", "symlink"
    finally:
        shutil.rmtree(probe_dir)
    tmp = tempfile.gettempdir()
    assert _fstype(tmp) not in ("9p", "tmpfs"), f"{tmp} is {_fstype(tmp)}"
    free = shutil.disk_usage(tmp).free / 2**30
    assert free > 2, f"{tmp} has {free:.1f} GiB free"
    return f"root-owned setuid file, sticky dir, symlink; {tmp} on {_fstype(tmp)}, {free:.1f} GiB"


def check_dockyard_run() -> str:
    assert BUSYBOX.is_file(), f"{BUSYBOX} is missing (make images on the host)"
    base = Path(tempfile.mkdtemp(prefix="smoke-dy-"))
    cli = [sys.executable, "-m", "dockyard.cli.main", "--root", str(base / "root"),
           "--run-root", str(base / "run")]  # fmt: skip
    steps = (["load", "-i", str(BUSYBOX)], ["run", "--rm", "--network", "none", "busybox", "true"])
    try:
        for argv in steps:
            began = time.monotonic()
            done = subprocess.run([*cli, *argv], capture_output=True, text=True, timeout=300,
                                  check=False)  # fmt: skip
            why = (done.stderr.strip().splitlines() or ["no message"])[-1]
            assert done.returncode == 0, f"dockyard {argv[0]}: exit {done.returncode}: {why}"
        took = time.monotonic() - began
        # the limits reach the container's cgroup (the bug: none did on a systemd v2 host)
        limits = subprocess.run(
            [*cli, "run", "--rm", "--network", "none", "--memory", "64m", "--pids-limit", "20",
             "busybox", "cat", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert limits.stdout.split() == [str(64 << 20), "20"], f"limits: {limits.stderr}"
        # and the device filter refuses the guest's own disk to root in a container
        disk = os.stat("/dev/vda").st_rdev
        attack = f"mknod /dev/x b {os.major(disk)} {os.minor(disk)} && head -c 1 /dev/x"
        done = subprocess.run([*cli, "run", "--rm", "--network", "none", "busybox", "sh", "-c",
                               attack], capture_output=True, text=True, timeout=300,
                              check=False)  # fmt: skip
        assert "Operation not permitted" in done.stderr, f"mknod attack: {done.stderr}"
        return f"run --rm busybox true in {took:.1f} s; --memory/--pids-limit set; mknod refused"
    finally:
        shutil.rmtree(base, ignore_errors=True)


CHECKS: tuple[Callable[[], str], ...] = (check_systemd_cgroup2, check_share, check_dockyard_run)


def main() -> int:
    print(f"ok   venv: {sys.prefix} (Python {sys.version.split()[0]})")
    failed = 0
    for check in CHECKS:
        name = check.__name__.removeprefix("check_")
        try:
            print(f"ok   {name}: {check()}", flush=True)
        except (AssertionError, OSError, subprocess.SubprocessError) as e:
            failed += 1
            print(f"FAIL {name}: {e}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
