"""The cgroup v1 (and hybrid) manager: one directory per hierarchy.

Hybrid hosts also get a directory in the cgroup2 mount at ``<root>/unified``; it carries
``unified`` keys and any controller that only cgroup2 has there (hugetlb on some hosts),
and nothing else.
"""

from __future__ import annotations

from dockyard.cgroups._base import BaseManager, Clock
from dockyard.cgroups._controller import Controller
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._needs import needed_controllers
from dockyard.cgroups._paths import V1_CONTROLLERS, place, relative_path, v1_mounts
from dockyard.cgroups.stats import CgroupStats
from dockyard.cgroups.v1 import (
    blkio,
    cpu,
    cpuacct,
    cpuset,
    devices,
    freezer,
    hugetlb,
    memory,
    net_cls,
    net_prio,
    pids,
)
from dockyard.cgroups.v2 import hugetlb as hugetlb_v2
from dockyard.cgroups.v2 import unified
from dockyard.errors import Unavailable
from dockyard.linux.fspath import FsPath

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from pathlib import Path

    from dockyard.oci.resources import LinuxResources

__all__ = ["V1Manager"]

CONTROLLERS: dict[str, Controller] = {
    m.CONTROLLER.name: m.CONTROLLER
    for m in (cpuset, cpu, cpuacct, memory, pids, blkio, devices, freezer, hugetlb)
}
CONTROLLERS |= {m.CONTROLLER.name: m.CONTROLLER for m in (net_cls, net_prio)}

# Where pids() reads membership from, best first (freezer and pids hold every task).
_PROCS_ORDER = ("freezer", "pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "blkio")


class V1Manager(BaseManager):
    """v1 manager; ``hybrid`` adds the directory in the cgroup2 mount."""

    def __init__(
        self,
        path: str,
        *,
        root: str | os.PathLike[str],
        own: dict[str, str],
        hybrid: bool = False,
        fs: CgroupFs | None = None,
        clock: Clock | None = None,
    ) -> None:
        rel = relative_path(path)
        root = FsPath(root)
        super().__init__(path, rel, fs, clock)
        self._dirs = {
            c: place(mount, own[c], rel)
            for c, mount in v1_mounts(root).items()
            if c in own and c in V1_CONTROLLERS
        }
        self._unified: FsPath | None = None
        if hybrid and "" in own:
            self._unified = place(root / "unified", own[""], rel)

    # -- layout --------------------------------------------------------------------------

    def _leaves(self) -> list[tuple[FsPath, bool]]:
        seen: dict[FsPath, bool] = {}
        for c in V1_CONTROLLERS:
            if c in self._dirs:
                seen.setdefault(self._dirs[c], False)
        if self._unified is not None:
            seen.setdefault(self._unified, True)
        return list(seen.items())

    def _skip(self, leaf: FsPath) -> None:
        if leaf == self._unified:
            self._unified = None

    def _after_mkdir(self, d: FsPath, leaf: bool) -> None:
        cs = self._dirs.get("cpuset")
        if cs is not None and cs.is_relative_to(d):
            cpuset.on_create(d, self._fs)

    def _procs_dir(self) -> FsPath | None:
        for c in _PROCS_ORDER:
            if c in self._dirs:
                return self._dirs[c]
        return None

    def paths(self) -> dict[str, Path]:
        out = {c: d.to_path() for c, d in self._dirs.items()}
        if self._unified is not None:
            out[""] = self._unified.to_path()
        return out

    # -- limits --------------------------------------------------------------------------

    def _check(self, r: LinuxResources) -> None:
        if r.unified and self._unified is None:
            raise Unavailable(f"apply unified to cgroup {self.path}: needs cgroup v2")
        missing = needed_controllers(r) - set(self._dirs)
        if "hugetlb" in missing and self._unified is not None:
            missing.discard("hugetlb")
        if missing:
            names = ", ".join(sorted(missing))
            raise Unavailable(f"apply resources to cgroup {self.path}: no {names} hierarchy")
        if r.cpu is not None and "cpu" in self._dirs:
            cpu.check_realtime(r.cpu, self._dirs["cpu"], self._fs)

    def apply(self, resources: LinuxResources) -> None:
        self._check(resources)
        for c in V1_CONTROLLERS:
            if c in self._dirs:
                CONTROLLERS[c].apply(resources, self._dirs[c], self._fs)
        if self._unified is not None:
            if resources.hugepage_limits and "hugetlb" not in self._dirs:
                hugetlb_v2.apply(resources, self._unified, self._fs)
            unified.apply(resources.unified, self._unified, self._fs)

    # -- freezer ---------------------------------------------------------------------------

    def _freezable(self) -> bool:
        return "freezer" in self._dirs

    def _request_freeze(self, frozen: bool) -> None:
        freezer.request(self._dirs["freezer"], self._fs, frozen)

    def frozen(self) -> bool:
        d = self._dirs.get("freezer")
        return d is not None and freezer.state(d, self._fs) == "FROZEN"

    # -- stats -----------------------------------------------------------------------------

    def stats(self) -> CgroupStats:
        st = CgroupStats()
        for c in V1_CONTROLLERS:
            if c in self._dirs:
                st = self._merge(st, CONTROLLERS[c].stats(self._dirs[c], self._fs))
        return st

    def oom_kill_count(self) -> int:
        d = self._dirs.get("memory")
        return 0 if d is None else memory.oom_kills(d, self._fs)
