"""Escape attempts against a default ``dockyard run`` container: each must fail, for the
reason the secure defaults give (no capability, seccomp, read-only or masked paths, the
device cgroup, the pid namespace, no-new-privileges, the container's own cgroups only).

Each test runs the CLI against the session's private root (``conftest.dy``) and checks
the error the attempt met, not only that it failed.
"""

from __future__ import annotations

import os
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Dockyard

pytestmark = pytest.mark.root


def sh(dy: Dockyard, script: str, *flags: str, image: str = "busybox") -> tuple[int, str]:
    """Run ``script`` in a default container; (exit code, stdout+stderr)."""
    out = dy.run("run", "--rm", *flags, image, "sh", "-c", script)
    # the CLI's own warnings (e.g. ip_forward off on a bridge network) are not the container's
    err = "".join(x for x in out.stderr.splitlines(keepends=True) if not x.startswith("WARNING: "))
    return out.returncode, out.stdout + err


def _eperm(text: str) -> bool:
    """EPERM as busybox words it (``mount`` says "permission denied (are you root?)")."""
    low = text.lower()
    return "operation not permitted" in low or "permission denied (are you root?)" in low


def test_mounting_a_filesystem_is_refused(dy: Dockyard) -> None:
    rc, out = sh(dy, "mkdir -p /mnt/x; mount -t tmpfs none /mnt/x; "
                     "grep -c ' /mnt/x ' /proc/self/mountinfo")  # fmt: skip
    assert _eperm(out), out
    assert out.splitlines()[0] == "0", out  # nothing mounted
    # the reason: no CAP_SYS_ADMIN (bit 21) in the effective set
    rc, out = sh(dy, "grep CapEff /proc/self/status")
    assert rc == 0 and not int(out.split()[1], 16) & (1 << 21), out


def test_writing_sysrq_trigger_is_refused(dy: Dockyard) -> None:
    rc, out = sh(dy, "echo h > /proc/sysrq-trigger")
    assert rc != 0, out
    if Path("/proc/sysrq-trigger").exists():
        assert "Read-only file system" in out, out  # readonlyPaths
    else:  # this kernel has none; the container must not have one either
        assert "nonexistent directory" in out or "No such file" in out, out


def test_writing_proc_sys_is_refused(dy: Dockyard) -> None:
    for path, value in (("/proc/sys/kernel/core_pattern", "|/tmp/pwn"),
                        ("/proc/sys/vm/overcommit_memory", "0"),
                        ("/proc/sys/kernel/hostname", "pwned")):  # fmt: skip
        rc, out = sh(dy, f"echo '{value}' > {path}")
        assert rc != 0 and "Read-only file system" in out, (path, out)
    assert "|/tmp/pwn" not in Path("/proc/sys/kernel/core_pattern").read_text()


def test_proc_kcore_and_friends_are_masked(dy: Dockyard) -> None:
    for path in ("/proc/kcore", "/proc/timer_list", "/proc/keys", "/proc/sched_debug"):
        rc, out = sh(dy, f"stat -c '%s %t:%T' {path} && head -c 16 {path} | wc -c")
        if not Path(path).exists():  # not on this kernel: nothing to mask
            assert rc != 0 and "No such file" in out, (path, out)
            continue
        assert rc == 0, out
        assert out.split() == ["0", "1:3", "0"], (path, out)  # /dev/null bound over it


def test_loading_a_kernel_module_is_refused(dy: Dockyard) -> None:
    rc, out = sh(dy, "echo notamodule > /tmp/m.ko; insmod /tmp/m.ko")
    assert rc != 0, out
    # EPERM (seccomp and no CAP_SYS_MODULE), not "invalid module format" (a parsed module)
    assert "Operation not permitted" in out and "format" not in out, out


def test_cgroupfs_release_agent_cannot_be_reached(dy: Dockyard) -> None:
    """CVE-2022-0492: mount a cgroup hierarchy, set release_agent, trigger it."""
    rc, out = sh(dy, "mkdir -p /tmp/cg; mount -t cgroup -o rdma cgroup /tmp/cg || "
                     "mount -t cgroup -o memory cgroup /tmp/cg")  # fmt: skip
    assert rc != 0 and _eperm(out), out
    # v1: a hierarchy's notify_on_release; v2 (no release_agent at all): its own files
    rc, out = sh(dy, "find /sys/fs/cgroup -name release_agent | wc -l; "
                     "f=/sys/fs/cgroup/memory/notify_on_release; "
                     "[ -e /sys/fs/cgroup/cgroup.controllers ] && "
                     "f=/sys/fs/cgroup/cgroup.subtree_control; echo 1 > $f")  # fmt: skip
    assert out.split("\n", 1)[0].strip() == "0", out  # no hierarchy root is visible
    assert rc != 0 and "Read-only file system" in out, out


def _host_disk() -> tuple[str, int, int]:
    for dev in sorted(Path("/sys/block").iterdir()):
        if dev.name.startswith(("loop", "ram", "zram", "dm-", "nbd")):
            continue
        major, minor = (dev / "dev").read_text().split(":")
        return dev.name, int(major), int(minor)
    pytest.skip("no block device on this host")


def test_mknod_of_the_host_disk_cannot_be_read(dy: Dockyard) -> None:
    name, major, minor = _host_disk()
    _, out = sh(dy, f"mknod /tmp/{name} b {major} {minor} && echo made; "
                     f"head -c 512 /tmp/{name} | wc -c")  # fmt: skip
    # CAP_MKNOD is in Docker's default set: the node can be made, but the device cgroup
    # refuses to open it
    assert "made" in out.splitlines(), out
    assert f"head: /tmp/{name}: Operation not permitted" in out, out
    assert "0" in out.splitlines(), out


def test_writing_under_sys_is_refused(dy: Dockyard) -> None:
    for path in ("/sys/kernel/uevent_helper", "/sys/kernel/profiling", "/sys/kernel/mm/ksm/run"):
        if Path(path).exists():
            rc, out = sh(dy, f"echo 1 > {path}")
            assert rc != 0 and "Read-only file system" in out, (path, out)
    rc, out = sh(dy, "touch /sys/x")
    assert rc != 0 and "Read-only file system" in out, out


def test_unshare_of_new_namespaces_is_refused(dy: Dockyard) -> None:
    for flags in ("-U -r", "-m", "-n", "-p -f", "-i", "-u"):
        rc, out = sh(dy, f"unshare {flags} true")
        assert rc != 0 and _eperm(out), (flags, out)  # seccomp without CAP_SYS_ADMIN


def test_no_host_process_is_visible_or_traceable(dy: Dockyard) -> None:
    """ptrace needs a pid: none outside the container has one in its pid namespace, and
    /proc leads nowhere outside (/proc/1 is the container's init)."""
    host = subprocess.Popen(["sleep", "61.234"])
    try:
        hp = host.pid
        script = (
            "echo pids=$(ls -d /proc/[0-9]* | wc -l); "
            f"ls /proc/{hp}/ >/dev/null 2>&1 && echo HOST''VISIBLE; "
            f"kill -0 {hp} 2>&1; "
            "cat /proc/1/cmdline | tr '\\0' ' '; echo; "
            "readlink /proc/1/ns/pid; readlink /proc/self/ns/pid; "
            "ls /proc/1/root/ | tr '\\n' ' '; echo; "
            "grep -l '61[.]234' /proc/[0-9]*/cmdline 2>/dev/null | wc -l"
        )
        _, out = sh(dy, script)
        assert "HOSTVISIBLE" not in out, out
        assert "No such process" in out, out
        lines = out.splitlines()
        assert int(lines[0].split("=")[1]) < 10, out
        ns = [line for line in lines if line.startswith("pid:[")]
        assert len(ns) == 2 and ns[0] == ns[1], out  # /proc/1 is in our pid namespace
        assert ns[0] != os.readlink("/proc/self/ns/pid")
        assert lines[-1].strip() == "0", out  # the host's sleep is nowhere in /proc
    finally:
        host.kill()
        host.wait()


def test_no_host_pid_is_visible_through_sys_fs_cgroup(dy: Dockyard) -> None:
    """Only the hierarchies the container joined are mounted, each at its own cgroup:
    every ``cgroup.procs`` lists the container's processes only, and hierarchies it did
    not join (``name=systemd``, perf_event, …) are absent — not the caller's. The hybrid
    cgroup2 leaf is joined (it carries the device filter, docs/cgroups.md), so it is there,
    at the container's own leaf: its ``cgroup.procs`` is among those read above."""
    script = (
        "cat /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/cgroup.procs 2>/dev/null "
        "| sort -un | tr '\\n' ' '; echo; "
        "ls /sys/fs/cgroup | tr '\\n' ' '; echo; "
        "grep -c cgroup2 /proc/self/mountinfo; "
        "grep -c name=systemd /proc/self/mountinfo; "
        "ls -d /proc/[0-9]* | sed 's,/proc/,,' | sort -n | tr '\\n' ' '"
    )
    rc, out = sh(dy, script)
    assert rc == 0, out
    procs, dirs, n_v2, n_systemd, mine = out.splitlines()
    seen = {int(p) for p in procs.split()}
    # pids of the container's pid namespace only (the pipeline's own have exited since)
    assert 1 in seen and max(seen) <= max(int(p) for p in mine.split()), out
    assert 0 not in seen, out  # a member outside our pid namespace reads as 0
    own = Path("/proc/self/cgroup").read_text()
    if "name=systemd" in own:
        assert "systemd" not in dirs.split() and n_systemd == "0", out
    if "\n0::" in "\n" + own and any(":memory:" in line for line in own.splitlines()):
        assert "unified" in dirs.split() and n_v2 == "1", out  # hybrid: the filter's leaf
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():  # pure v2: the one hierarchy
        assert "cgroup.controllers" in dirs.split() and n_v2 == "1", out
    else:
        assert {"memory", "pids", "cpu", "freezer"} <= set(dirs.split()) or dirs == "", out


_EUID_ELF_CODE = bytes.fromhex(
    "b86b000000"  # mov eax, 107 (geteuid)
    "0f05"  # syscall
    "89c7"  # mov edi, eax
    "b83c000000"  # mov eax, 60 (exit)
    "0f05"  # syscall
)


def _euid_elf() -> bytes:
    """A static x86-64 ELF that exits with its effective uid (& 0xff): 0 means root."""
    base, entry = 0x400000, 64 + 56
    size = entry + len(_EUID_ELF_CODE)
    ehdr = (
        b"\x7fELF\x02\x01\x01\x00"
        + bytes(8)
        + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, base + entry, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    )
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    return ehdr + phdr + _EUID_ELF_CODE


@pytest.fixture(scope="module")
def suid_image(dy_session: Dockyard, tmp_path_factory: pytest.TempPathFactory) -> str:
    if os.uname().machine != "x86_64":
        pytest.skip("the setuid probe is x86-64 machine code")
    ctx = tmp_path_factory.mktemp("suid")
    (ctx / "euid").write_bytes(_euid_elf())
    (ctx / "Dockerfile").write_text(
        "FROM busybox:latest\nCOPY euid /euid\n"
        "RUN chown 0:0 /euid /bin/busybox && cp /bin/busybox /suid-busybox && "
        "chmod 4755 /euid /suid-busybox\n"
    )
    tag = "dy-escape-suid:1"
    dy_session.run("build", "-q", "-t", tag, str(ctx), timeout=300, check=True)
    return tag


def test_setuid_binary_does_not_regain_privileges(dy: Dockyard, suid_image: str) -> None:
    rc, out = sh(dy, "ls -l /euid; /euid", "-u", "1000:1000", image=suid_image)
    assert out.startswith("-rwsr-xr-x"), out  # the bit is there
    assert rc == 1000 & 0xFF, out  # euid stayed 1000
    rc, out = sh(dy, "/euid; echo rc=$?; grep -E '^(Uid|NoNewPrivs)' /proc/self/status",
                 "-u", "1000:1000", image=suid_image)  # fmt: skip
    assert "rc=232" in out and "NoNewPrivs:\t1" in out, out
    assert "Uid:\t1000\t1000\t1000\t1000" in out, out
    # the reason is no-new-privileges: without it the same binary becomes root
    rc, out = sh(dy, "/euid", "-u", "1000:1000", "--security-opt", "no-new-privileges=false",
                 image=suid_image)  # fmt: skip
    assert rc == 0, out


def test_waiting_for_a_second_does_not_reveal_new_host_processes(dy: Dockyard) -> None:
    """A long-lived container sees host processes started after it neither."""
    proc = dy.popen("run", "--rm", "busybox", "sh", "-c",
                    "sleep 1; ls -d /proc/[0-9]* | wc -l")  # fmt: skip
    later = subprocess.Popen(["sleep", "5"])
    try:
        time.sleep(0.1)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert int(out.strip()) < 10, out
    finally:
        later.kill()
        later.wait()
