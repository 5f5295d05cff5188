"""A temporary directory that poses as cgroupfs (v1 hierarchies, or a v2 tree).

It mimics what the managers rely on: mkdir fills a new cgroup with its parent's interface
files (v2: only the controllers the parent enabled in ``cgroup.subtree_control``); writing
a pid to ``cgroup.procs`` adds it; reading lists only live (non-zombie) members; writing
``cgroup.kill`` kills them; ``cgroup.freeze`` updates ``cgroup.events``; rmdir refuses a
cgroup with children or live members (EBUSY); writes to absent files fail with ENOENT
and ``fail`` injects an errno per file name.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

from dockyard.cgroups import CgroupFs
from dockyard.cgroups._fs import os_error

V1_OWN_MEMORY = "/process_api/abc"
V2_OWN = "/user.slice/test"
V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids"

V1_FILES: dict[str, dict[str, str]] = {
    "cpu,cpuacct": {
        "cpu.shares": "1024",
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_quota_us": "-1",
        "cpu.cfs_burst_us": "0",
        "cpu.idle": "0",
        "cpu.stat": "nr_periods 4\nnr_throttled 2\nthrottled_time 7000\n",
        "cpuacct.usage": "1500",
        "cpuacct.usage_user": "1000",
        "cpuacct.usage_sys": "500",
        "cpuacct.stat": "user 1\nsystem 0\n",
    },
    "cpuset": {"cpuset.cpus": "0-1", "cpuset.mems": "0"},
    "memory": {
        "memory.limit_in_bytes": "9223372036854771712",
        "memory.memsw.limit_in_bytes": "9223372036854771712",
        "memory.soft_limit_in_bytes": "9223372036854771712",
        "memory.kmem.tcp.limit_in_bytes": "9223372036854771712",
        "memory.usage_in_bytes": "4096",
        "memory.max_usage_in_bytes": "8192",
        "memory.stat": "cache 100\nrss 200\ntotal_cache 300\n",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        "memory.swappiness": "60",
        "memory.use_hierarchy": "1",
    },
    "pids": {"pids.max": "max", "pids.current": "0"},
    "blkio": {
        "blkio.bfq.weight": "100",
        "blkio.bfq.weight_device": "",
        "blkio.throttle.read_bps_device": "",
        "blkio.throttle.write_bps_device": "",
        "blkio.throttle.read_iops_device": "",
        "blkio.throttle.write_iops_device": "",
        "blkio.throttle.io_service_bytes_recursive": "8:0 Read 10\n8:0 Write 20\nTotal 30\n",
    },
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
    "freezer": {"freezer.state": "THAWED"},
    "hugetlb": {"hugetlb.2MB.limit_in_bytes": "9223372036854771712"},
    "net_cls,net_prio": {"net_cls.classid": "0", "net_prio.ifpriomap": ""},
}
V1_LINKS = {"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "net_cls": "net_cls,net_prio"}
V1_LINKS |= {"net_prio": "net_cls,net_prio"}

V2_FILES = {
    "cgroup.controllers": V2_CONTROLLERS,
    "cgroup.subtree_control": V2_CONTROLLERS,
    "cgroup.procs": "",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.freeze": "0",
    "cgroup.kill": "",
    "cpu.max": "max 100000",
    "cpu.max.burst": "0",
    "cpu.weight": "100",
    "cpu.idle": "0",
    "cpu.stat": "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 4\n"
    "nr_throttled 1\nthrottled_usec 9\n",
    "cpuset.cpus": "",
    "cpuset.mems": "",
    "memory.max": "max",
    "memory.low": "0",
    "memory.high": "max",
    "memory.swap.max": "max",
    "memory.current": "4096",
    "memory.peak": "8192",
    "memory.stat": "anon 10\nfile 300\n",
    "memory.events": "low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n",
    "pids.max": "max",
    "pids.current": "0",
    "io.weight": "default 100",
    "io.max": "",
    "io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=2\n8:16 rbytes=1 wbytes=2\n",
    "hugetlb.2MB.max": "max",
}
_ALWAYS_V2 = {"cpu.stat", "cpu.weight", "cpu.max", "cpu.max.burst", "cpu.idle"}


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _fill(d: Path, files: dict[str, str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (d / name).write_text(content)


def make_v1_root(tmp: Path) -> tuple[Path, dict[str, str]]:
    root = tmp / "cgroup"
    own: dict[str, str] = {}
    for hierarchy, files in V1_FILES.items():
        base = root / hierarchy
        for c in hierarchy.split(","):
            own[c] = V1_OWN_MEMORY if c == "memory" else "/"
        mine = base / own[hierarchy.split(",")[0]].lstrip("/")
        _fill(mine, {"cgroup.procs": "", "tasks": "", **files})
    for link, target in V1_LINKS.items():
        (root / link).symlink_to(target)
    (root / "systemd").mkdir()
    own["name=systemd"] = "/"
    return root, own


def make_v2_root(tmp: Path) -> tuple[Path, dict[str, str]]:
    root = tmp / "cgroup2"
    _fill(root, {"cgroup.controllers": V2_CONTROLLERS, "cgroup.subtree_control": V2_CONTROLLERS})
    _fill(root / V2_OWN.lstrip("/"), V2_FILES)
    (root / "user.slice" / "cgroup.controllers").write_text(V2_CONTROLLERS)
    (root / "user.slice" / "cgroup.subtree_control").write_text(V2_CONTROLLERS)
    return root, {"": V2_OWN}


class FakeCgroupFs(CgroupFs):
    def __init__(self) -> None:
        self.fail: dict[str, int] = {}
        self.writes: list[tuple[str, str]] = []
        self.device_filters: dict[str, list[bytes]] = {}  # cgroup → programs attached, in order

    # -- the kernel's side -------------------------------------------------------------

    def mkdir(self, path: Path) -> bool:
        path = Path(path)  # the managers pass FsPath strings
        created = super().mkdir(path)
        if created:
            self._populate(path)
        return created

    def _populate(self, d: Path) -> None:
        parent = d.parent
        if (parent / "cgroup.controllers").exists():
            enabled = set((parent / "cgroup.subtree_control").read_text().split())
            for f in parent.iterdir():
                if f.is_file() and (
                    f.name.split(".")[0] in enabled | {"cgroup"} or f.name in _ALWAYS_V2
                ):
                    (d / f.name).write_text(f.read_text())
            (d / "cgroup.controllers").write_text(" ".join(sorted(enabled)))
            (d / "cgroup.subtree_control").write_text("")
            (d / "cgroup.events").write_text("populated 0\nfrozen 0\n")
            (d / "cgroup.procs").write_text("")
            return
        for f in parent.iterdir():
            if f.is_file():
                (d / f.name).write_text(f.read_text())
        for name in ("cgroup.procs", "tasks", "cpuset.cpus", "cpuset.mems"):
            if (d / name).exists():
                (d / name).write_text("")
        if (d / "freezer.state").exists():
            (d / "freezer.state").write_text("THAWED")

    def rmdir(self, path: Path) -> None:
        path = Path(path)  # the managers pass FsPath strings
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, "no such directory", str(path))
        if any(p.is_dir() for p in path.iterdir()) or self._members(path):
            raise OSError(errno.EBUSY, "device or resource busy", str(path))
        for f in path.iterdir():
            f.unlink()
        path.rmdir()

    def _members(self, d: Path) -> list[int]:
        f = d / "cgroup.procs"
        if not f.exists():
            return []
        return [int(x) for x in f.read_text().split() if _alive(int(x))]

    def read(self, path: Path) -> str:
        path = Path(path)  # the managers pass FsPath strings
        if path.name == "cgroup.procs" and path.exists():
            return "".join(f"{p}\n" for p in self._members(path.parent))
        return super().read(path)

    def write(self, path: Path, value: str) -> None:
        path = Path(path)  # the managers pass FsPath strings
        self.writes.append((str(path), value))
        if path.name in self.fail:
            exc = OSError(self.fail[path.name], os.strerror(self.fail[path.name]))
            raise os_error(f"write {path} = {value}", exc)
        if not path.exists():
            super().write(path, value)  # raises the ENOENT error
        handler = getattr(self, "_on_" + path.name.replace(".", "_"), None)
        if handler is not None:
            handler(path, value)
        else:
            super().write(path, value)

    def _is_v2_child(self, d: Path) -> bool:
        """A v2 cgroup other than the hierarchy's root (the root is exempt from the
        no-internal-process rule)."""
        return (d / "cgroup.controllers").exists() and (d.parent / "cgroup.controllers").exists()

    def _leave_others(self, d: Path, pid: int) -> None:
        """A v2 process is in one cgroup: moving it takes it out of the one it was in."""
        top = d
        while (top.parent / "cgroup.controllers").exists():
            top = top.parent
        for procs in top.rglob("cgroup.procs"):
            if procs.parent != d and pid in (members := self._members(procs.parent)):
                procs.write_text("".join(f"{p}\n" for p in members if p != pid))

    def _busy(self, path: Path, value: str) -> None:
        exc = OSError(errno.EBUSY, "device or resource busy")
        raise os_error(f"write {path} = {value}", exc)

    def _on_cgroup_procs(self, path: Path, value: str) -> None:
        # the kernel: a v2 cgroup that enables controllers for children takes no process
        if (
            self._is_v2_child(path.parent)
            and (path.parent / "cgroup.subtree_control").read_text().split()
        ):
            self._busy(path, value)
        if self._is_v2_child(path.parent):
            self._leave_others(path.parent, int(value))
        members = self._members(path.parent)
        path.write_text("".join(f"{p}\n" for p in [*members, int(value)]))

    def _on_cgroup_kill(self, path: Path, value: str) -> None:
        for pid in self._members(path.parent):
            os.kill(pid, signal.SIGKILL)

    def _on_cgroup_freeze(self, path: Path, value: str) -> None:
        path.write_text(value)
        populated = 1 if self._members(path.parent) else 0
        (path.parent / "cgroup.events").write_text(f"populated {populated}\nfrozen {value}\n")

    def _on_cgroup_subtree_control(self, path: Path, value: str) -> None:
        # the kernel: no internal processes, so a v2 cgroup with members enables nothing
        if self._is_v2_child(path.parent) and "+" in value and self._members(path.parent):
            self._busy(path, value)
        available = set((path.parent / "cgroup.controllers").read_text().split())
        enabled = set(path.read_text().split())
        for token in value.split():
            name = token[1:]
            if name not in available:
                exc = OSError(errno.ENOENT, "no such file or directory")
                raise os_error(f"write {path} = {value}", exc)
            enabled = enabled | {name} if token[0] == "+" else enabled - {name}
        path.write_text(" ".join(sorted(enabled)))
        # the kernel: the children's cgroup.controllers and controller files follow at once
        d = path.parent
        for child in (c for c in d.iterdir() if c.is_dir()):
            (child / "cgroup.controllers").write_text(" ".join(sorted(enabled)))
            for f in d.iterdir():
                ctl = f.name.split(".")[0]
                if f.is_file() and ctl in enabled and not (child / f.name).exists():
                    (child / f.name).write_text(f.read_text())

    # -- the v2 device filter: recorded, never loaded ----------------------------------

    def attach_device_filter(self, path: Path, program: bytes) -> None:
        """Records ``program`` as the filter of ``path``; the kernel's refusals: ENOENT
        for a missing cgroup, EBADF for a directory that is no cgroup2 one; ``fail["bpf"]``
        injects an errno (as ``bpf(2)`` would raise it)."""
        from dockyard.linux.syscalls import errno_error

        path = Path(path)
        if "bpf" in self.fail:
            raise errno_error(self.fail["bpf"], f"attach bpf program to {path}")
        if not path.is_dir():
            raise errno_error(errno.ENOENT, f"attach device filter to cgroup {path}")
        if not (path / "cgroup.controllers").exists():
            raise errno_error(errno.EBADF, f"attach bpf program to {path}")
        self.device_filters.setdefault(str(path), []).append(program)
