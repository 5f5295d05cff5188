"""The exact mount sequence of the config ``dockyard run`` produces by default.

The config is built here from :mod:`dockyard.runtime.defaults` the way
``dockyard.engine.spec.build_spec`` builds it (the runtime must not import the engine):
default mounts plus the three ``/etc`` binds, a new cgroup namespace, ``rprivate``
rootfs propagation, the default masked and read-only paths, a writable root. The host's
cgroup hierarchies are a fixed hybrid layout, so the sequence is the same on every host.
Every destination is a descriptor resolved in the rootfs, recorded as ``fd:<its path>``
(``fd_recording.py``); only ``/`` and the rootfs's bind onto itself are paths.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fd_recording import FdRecordingSyscalls

from dockyard.linux import constants as c
from dockyard.oci.runtime_spec import parse_spec
from dockyard.runtime import mounts
from dockyard.runtime.defaults import (
    DEFAULT_CAPS,
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
    default_mounts,
)
from dockyard.runtime.mounts import RootfsContext

NOSUID, NODEV, NOEXEC, RDONLY = c.MS_NOSUID, c.MS_NODEV, c.MS_NOEXEC, c.MS_RDONLY
HYBRID = [  # (mount point, fstype, controllers, own path below it)
    ("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "cpu,cpuacct", "/user.slice"),
    ("/sys/fs/cgroup/memory", "cgroup", "memory", "/user.slice"),
    ("/sys/fs/cgroup/pids", "cgroup", "pids", "/user.slice"),
    ("/sys/fs/cgroup/perf_event", "cgroup", "perf_event", "/"),
    ("/sys/fs/cgroup/systemd", "cgroup", "name=systemd", "/user.slice"),
    ("/sys/fs/cgroup/unified", "cgroup2", "", "/user.slice"),
]
JOINED = frozenset({"cpu", "cpuacct", "memory", "pids"})


def default_run_config(rootfs: str, files_dir: str) -> dict[str, Any]:
    """What build_spec gives for ``dockyard run busybox true`` (no flags)."""
    caps = list(DEFAULT_CAPS)
    mounts_ = default_mounts()
    for name in ("hostname", "hosts", "resolv.conf"):
        mounts_.append({"destination": f"/etc/{name}", "type": "bind",
                        "source": os.path.join(files_dir, name),
                        "options": ["rbind", "rprivate"]})  # fmt: skip
    return {
        "ociVersion": "1.2.0",
        "process": {
            "terminal": False, "user": {"uid": 0, "gid": 0}, "args": ["true"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/", "capabilities": {k: caps for k in ("bounding", "effective", "permitted")},
            "rlimits": [], "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": False},
        "hostname": "abc123",
        "mounts": mounts_,
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "cgroup",
                                                 "network")],
            "cgroupsPath": "dockyard/abc123",
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "maskedPaths": list(DEFAULT_MASKED_PATHS),
            "readonlyPaths": list(DEFAULT_READONLY_PATHS),
            "sysctl": {},
            "rootfsPropagation": "rprivate",
        },
    }  # fmt: skip


@pytest.fixture
def spec_and_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str, str]:
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    files = tmp_path / "files"
    files.mkdir()
    for name in ("hostname", "hosts", "resolv.conf"):
        (files / name).write_text("x\n")
    monkeypatch.setattr(mounts, "_host_hierarchies", lambda: list(HYBRID))
    return parse_spec(default_run_config(str(rootfs), str(files))), str(rootfs), str(files)


def test_prepare_rootfs_exact_mounts(spec_and_root: tuple[Any, str, str]) -> None:
    spec, r, files = spec_and_root
    sc = FdRecordingSyscalls()
    ctx = RootfsContext(r, r, cgroupns=True, joined=JOINED)
    mounts.prepare_rootfs(sc, spec, ctx)
    cg = f"fd:{r}/sys/fs/cgroup"
    cg_flags = NOSUID | NOEXEC | NODEV
    assert sc.of("mount") == [
        (None, "/", None, c.MS_PRIVATE | c.MS_REC, None),
        (r, r, "bind", c.MS_BIND | c.MS_REC, None),
        ("proc", f"fd:{r}/proc", "proc", NOSUID | NOEXEC | NODEV, None),
        ("tmpfs", f"fd:{r}/dev", "tmpfs", NOSUID | c.MS_STRICTATIME, "mode=755,size=65536k"),
        ("devpts", f"fd:{r}/dev/pts", "devpts", NOSUID | NOEXEC,
         "newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ("sysfs", f"fd:{r}/sys", "sysfs", NOSUID | NOEXEC | NODEV | RDONLY, None),
        # only the hierarchies the container joined, each a fresh mount (cgroup namespace)
        ("tmpfs", cg, "tmpfs", cg_flags, "mode=755"),
        ("cgroup", f"{cg}/cpu,cpuacct", "cgroup", cg_flags | RDONLY, "cpu,cpuacct"),
        ("cgroup", f"{cg}/memory", "cgroup", cg_flags | RDONLY, "memory"),
        ("cgroup", f"{cg}/pids", "cgroup", cg_flags | RDONLY, "pids"),
        ("tmpfs", cg, None, cg_flags | RDONLY | c.MS_REMOUNT, "mode=755"),
        ("mqueue", f"fd:{r}/dev/mqueue", "mqueue", NOSUID | NOEXEC | NODEV, None),
        ("shm", f"fd:{r}/dev/shm", "tmpfs", NOSUID | NOEXEC | NODEV,
         "mode=1777,size=67108864"),
        (f"fd:{files}/hostname", f"fd:{r}/etc/hostname", "bind", c.MS_BIND | c.MS_REC, None),
        (None, f"fd:{r}/etc/hostname", None, c.MS_PRIVATE | c.MS_REC, None),
        (f"fd:{files}/hosts", f"fd:{r}/etc/hosts", "bind", c.MS_BIND | c.MS_REC, None),
        (None, f"fd:{r}/etc/hosts", None, c.MS_PRIVATE | c.MS_REC, None),
        (f"fd:{files}/resolv.conf", f"fd:{r}/etc/resolv.conf", "bind",
         c.MS_BIND | c.MS_REC, None),
        (None, f"fd:{r}/etc/resolv.conf", None, c.MS_PRIVATE | c.MS_REC, None),
    ]  # fmt: skip
    assert [(a[0], a[2]) for a in sc.of("mknod")] == [
        (f"fd:{r}/dev/{n}", os.makedev(ma, mi))
        for n, ma, mi in (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
                          ("urandom", 1, 9), ("tty", 5, 0))
    ]  # fmt: skip
    assert sc.names().count("mount") == len(sc.calls) - 6  # mounts and the 6 mknods only
    assert os.path.isfile(f"{r}/etc/resolv.conf")  # bind targets made as files


def test_enter_and_finish_exact_mounts(
    spec_and_root: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After pivot_root: the default masked paths (/dev/null on files, a read-only tmpfs
    on directories, nothing where the path is absent) and read-only paths. The paths are
    this host's (the test runs outside a container), so what exists is asked here too."""
    spec, r, _ = spec_and_root
    locked = NOSUID | NODEV | NOEXEC
    monkeypatch.setattr(mounts, "_locked_flags", lambda _path: locked)
    sc = FdRecordingSyscalls()
    mounts.enter_rootfs(sc, r)
    assert sc.calls == [
        ("chdir", (r,)),
        ("pivot_root", (".", ".")),
        ("mount", (None, ".", None, c.MS_SLAVE | c.MS_REC, None)),
        ("umount2", (".", c.MNT_DETACH)),
        ("chdir", ("/",)),
    ]
    sc = FdRecordingSyscalls()
    mounts.finish_rootfs(sc, spec)
    want: list[tuple[object, ...]] = []
    for p in DEFAULT_MASKED_PATHS:
        at = "fd:" + os.path.realpath(p)  # resolved in / (the container's, in a container)
        if os.path.isdir(p):
            want.append(("tmpfs", at, "tmpfs", RDONLY, None))
        elif os.path.exists(p):
            want.append(("fd:/dev/null", at, None, c.MS_BIND, None))  # checked to be 1:3
    for p in DEFAULT_READONLY_PATHS:
        if os.path.exists(p):
            at = "fd:" + os.path.realpath(p)
            want.append((at, at, None, c.MS_BIND | c.MS_REC, None))
            # the remount: on the new mount, the path resolved again
            want.append((at, at, None, locked | RDONLY | c.MS_BIND | c.MS_REMOUNT | c.MS_REC,
                         None))  # fmt: skip
    assert sc.of("mount") == want
    assert "fd:/proc/sys" in [m[1] for m in want]  # the host has it: the check is not empty
    assert sc.names() == ["mount"] * len(want)  # root stays writable, rprivate needs nothing
