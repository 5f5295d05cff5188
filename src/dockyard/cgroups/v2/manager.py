"""The cgroup v2 manager: one directory in the unified hierarchy.

Controllers are enabled in ``cgroup.subtree_control`` of the directories this manager
places between the caller's own cgroup and the leaf, never in the caller's own cgroup:
what the leaf can use is what the caller's cgroup delegates.
"""

from __future__ import annotations

from dockyard.cgroups._base import BaseManager, Clock
from dockyard.cgroups._controller import Controller
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._needs import needed_controllers
from dockyard.cgroups._paths import place, relative_path
from dockyard.cgroups._util import read_optional
from dockyard.cgroups.stats import CgroupStats
from dockyard.cgroups.v2 import cpu, cpuset, freezer, hugetlb, io, memory, pids, unified
from dockyard.errors import Unavailable
from dockyard.linux.fspath import FsPath

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from pathlib import Path

    from dockyard.oci.resources import LinuxResources

__all__ = ["V2Manager"]

CONTROLLERS: dict[str, Controller] = {
    m.CONTROLLER.name: m.CONTROLLER for m in (cpuset, cpu, memory, pids, io, hugetlb)
}
# v1 names of what resources need → v2 controller (devices: a BPF program, no controller).
_V2_NAME = {"blkio": "io", "devices": "", "net_cls": "-", "net_prio": "-"}


class V2Manager(BaseManager):
    def __init__(
        self,
        path: str,
        *,
        root: str | os.PathLike[str],
        own: dict[str, str],
        fs: CgroupFs | None = None,
        clock: Clock | None = None,
    ) -> None:
        rel = relative_path(path)
        super().__init__(path, rel, fs, clock)
        if "" not in own:
            raise Unavailable(f"create cgroup {path}: the caller has no cgroup v2 membership")
        self._dir = place(FsPath(root), own[""], rel)

    def _leaves(self) -> list[tuple[FsPath, bool]]:
        return [(self._dir, False)]

    def _procs_dir(self) -> FsPath | None:
        return self._dir

    def paths(self) -> dict[str, Path]:
        return {"": self._dir.to_path()}

    def joined(self) -> list[str]:
        """The one hierarchy, ``""``."""
        return [""]

    def _after_mkdir(self, d: FsPath, leaf: bool) -> None:
        if leaf:
            return  # no internal processes: the leaf holds tasks, not children
        available = (read_optional(self._fs, d / "cgroup.controllers") or "").split()
        enabled = set((read_optional(self._fs, d / "cgroup.subtree_control") or "").split())
        wanted = [c for c in available if c in CONTROLLERS and c not in enabled]
        if wanted:
            self._fs.write(d / "cgroup.subtree_control", " ".join(f"+{c}" for c in wanted))

    # -- limits ----------------------------------------------------------------------------

    def _check(self, r: LinuxResources) -> None:
        needed = {_V2_NAME.get(c, c) for c in needed_controllers(r)} - {""}
        if "-" in needed:
            raise Unavailable(f"apply network classes to cgroup {self.path}: not on cgroup v2")
        have = set((read_optional(self._fs, self._dir / "cgroup.controllers") or "").split())
        missing = needed - have
        if missing:
            names = ", ".join(sorted(missing))
            own = self._own_of(self._dir)
            raise Unavailable(
                f"apply resources to cgroup {self.path}: controller {names} not enabled"
                f" (delegate it in {own}/cgroup.subtree_control)"
            )

    def apply(self, resources: LinuxResources) -> None:
        self._check(resources)
        from dockyard.linux.userns import running_in_userns

        code = None
        # in a user namespace (rootless) no device program can be loaded (CAP_BPF on the
        # host's namespace) and none is needed: no device node can be made, and those bound
        # from the host keep its permissions (runc and crun skip it too)
        if resources.devices and not running_in_userns():  # built first: bad rules change nothing
            from dockyard.cgroups.v2 import devices

            code = devices.program(resources.devices)
        for c in CONTROLLERS.values():
            c.apply(resources, self._dir, self._fs)
        unified.apply(resources.unified, self._dir, self._fs)
        if code is not None:
            self._fs.attach_device_filter(self._dir, code)

    # -- freezer -----------------------------------------------------------------------------

    def _freezable(self) -> bool:
        return self._fs.exists(self._dir / "cgroup.freeze")

    def _request_freeze(self, frozen: bool) -> None:
        freezer.request(self._dir, self._fs, frozen)

    def frozen(self) -> bool:
        return freezer.is_frozen(self._dir, self._fs)

    def _kill_file(self) -> FsPath | None:
        f = self._dir / "cgroup.kill"
        return f if self._fs.exists(f) else None

    # -- stats -------------------------------------------------------------------------------

    def stats(self) -> CgroupStats:
        st = CgroupStats()
        for c in CONTROLLERS.values():
            st = self._merge(st, c.stats(self._dir, self._fs))
        return st

    def oom_kill_count(self) -> int:
        return memory.oom_kills(self._dir, self._fs)
