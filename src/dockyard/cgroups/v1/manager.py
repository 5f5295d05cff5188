"""The cgroup v1 (and hybrid) manager: one directory per hierarchy.

Which hierarchies a container joins (creating a directory and writing ``cgroup.procs`` costs
a few syscalls per hierarchy, on every start):

* always, the ones in :data:`JOINED`: its limits live there and the engine reads stats
  (cpuacct, memory, pids, blkio), pauses (freezer) and lists members from them;
* on demand, the ones in :data:`ON_DEMAND` (hugetlb, net_cls, net_prio) and, on hybrid
  hosts, the cgroup2 leaf at ``<root>/unified``: only when the resources given to
  :meth:`V1Manager.apply` need them (``hugepageLimits``, ``network``, ``unified`` keys,
  hugetlb limits where only cgroup2 has that controller, or device rules: the leaf then
  carries the v2 device filter, defence in depth on top of the v1 devices hierarchy).
  Joined after the container's processes were added (``update``), the current members are
  moved in while frozen.
* never ``name=systemd``, ``perf_event``, ``rdma``, ``misc``: dockyard sets nothing there.

Controller modules are imported when a controller is used, not up front.
"""

from __future__ import annotations

from dockyard.cgroups._base import BaseManager, Clock
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._needs import needed_controllers
from dockyard.cgroups._paths import V1_CONTROLLERS, place, relative_path, v1_mounts
from dockyard.cgroups.stats import CgroupStats
from dockyard.errors import NotFound, PermissionDenied, Unavailable
from dockyard.linux.fspath import FsPath

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from pathlib import Path

    from dockyard.cgroups._controller import Controller
    from dockyard.oci.resources import LinuxResources

__all__ = ["JOINED", "ON_DEMAND", "V1Manager", "controller"]

JOINED = ("cpuset", "cpu", "cpuacct", "memory", "pids", "blkio", "devices", "freezer")
ON_DEMAND = ("hugetlb", "net_cls", "net_prio")

# Where pids() reads membership from, best first (freezer and pids hold every task).
_PROCS_ORDER = ("freezer", "pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "blkio")


def controller(name: str) -> Controller:
    """The v1 controller ``name`` (its module is imported on first use)."""
    module = __import__(f"dockyard.cgroups.v1.{name}", fromlist=["CONTROLLER"])
    c: Controller = module.CONTROLLER
    return c


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
        """Every leaf this manager may have made; the on-demand ones are optional (joined
        only if they exist)."""
        seen: dict[FsPath, bool] = {}
        for c in V1_CONTROLLERS:
            if c in self._dirs:
                optional = c not in JOINED
                seen[self._dirs[c]] = seen.get(self._dirs[c], True) and optional
        if self._unified is not None:
            seen.setdefault(self._unified, True)
        return list(seen.items())

    def create(self) -> None:
        """mkdir the leaves of the always-joined hierarchies (the others: see :meth:`apply`)."""
        for leaf, optional in self._leaves():
            if not optional:
                self._create_chain(leaf)

    def _joined(self, c: str) -> bool:
        return c in self._dirs and (c in JOINED or self._fs.exists(self._dirs[c]))

    def _skip(self, leaf: FsPath) -> None:
        if leaf == self._unified:
            self._unified = None

    def _after_mkdir(self, d: FsPath, leaf: bool) -> None:
        cs = self._dirs.get("cpuset")
        if cs is not None and cs.is_relative_to(d):
            from dockyard.cgroups.v1 import cpuset

            cpuset.on_create(d, self._fs)

    def _procs_dir(self) -> FsPath | None:
        for c in _PROCS_ORDER:
            if c in self._dirs:
                return self._dirs[c]
        return None

    def paths(self) -> dict[str, Path]:
        """The leaves of the hierarchies joined (the on-demand ones once they exist)."""
        out = {c: d.to_path() for c, d in self._dirs.items() if self._joined(c)}
        if self._unified is not None and self._fs.exists(self._unified):
            out[""] = self._unified.to_path()
        return out

    def joined(self) -> list[str]:
        """The controllers whose hierarchy a container in this cgroup is a member of
        (:data:`JOINED`, and the on-demand ones once made); ``""`` for the hybrid cgroup2
        leaf. The init mounts only these into the container's ``/sys/fs/cgroup``."""
        out = [c for c in self._dirs if self._joined(c)]
        if self._unified is not None and self._fs.exists(self._unified):
            out.append("")
        return out

    # -- limits --------------------------------------------------------------------------

    def _check(self, r: LinuxResources) -> None:
        if r.unified and self._unified is None:
            raise Unavailable(f"apply unified to cgroup {self.path}: needs cgroup v2")
        missing = needed_controllers(r) - set(self._dirs)
        if self._unified is not None:  # cgroup2 has hugetlb; a BPF program does devices
            missing -= {"hugetlb", "devices"}
        if missing:
            names = ", ".join(sorted(missing))
            raise Unavailable(f"apply resources to cgroup {self.path}: no {names} hierarchy")
        if r.cpu is not None and "cpu" in self._dirs:
            from dockyard.cgroups.v1 import cpu

            cpu.check_realtime(r.cpu, self._dirs["cpu"], self._fs)

    def apply(self, resources: LinuxResources) -> None:
        self._check(resources)
        code = None
        if resources.devices and self._unified is not None:  # built first: bad rules change nothing
            from dockyard.cgroups.v2 import devices

            code = devices.program(resources.devices)
        needed = needed_controllers(resources)
        uses_unified = self._unified is not None and bool(
            resources.unified or (resources.hugepage_limits and "hugetlb" not in self._dirs)
        )
        late = [self._dirs[c] for c in ON_DEMAND if c in needed and c in self._dirs]
        if uses_unified:
            assert self._unified is not None
            late.append(self._unified)
        self._join_late(late)
        for c in V1_CONTROLLERS:
            if c in self._dirs and c in needed:
                controller(c).apply(resources, self._dirs[c], self._fs)
        if uses_unified:
            from dockyard.cgroups.v2 import hugetlb as hugetlb_v2
            from dockyard.cgroups.v2 import unified

            assert self._unified is not None
            if resources.hugepage_limits and "hugetlb" not in self._dirs:
                hugetlb_v2.apply(resources, self._unified, self._fs)
            unified.apply(resources.unified, self._unified, self._fs)
        if code is not None:
            self._apply_device_filter(code)

    def _apply_device_filter(self, code: bytes) -> None:
        """The v2 device filter on the cgroup2 leaf, which the container joins for it. With
        a v1 devices hierarchy (which already enforces the same rules) a host that cannot
        make the leaf or attach the program is tolerated; without one it is an error."""
        assert self._unified is not None
        try:
            self._join_late([self._unified])
            self._fs.attach_device_filter(self._unified, code)
        except (Unavailable, PermissionDenied, NotFound):
            if "devices" not in self._dirs:
                raise

    def _join_late(self, leaves: list[FsPath]) -> None:
        """Create the on-demand leaves not there yet; move the container's current members
        in (none while it is being created; frozen meanwhile for an ``update``)."""
        new = list(dict.fromkeys(d for d in leaves if not self._fs.exists(d)))
        if not new:
            return
        for d in new:
            self._create_chain(d)
        members = self.pids()
        if not members:
            return
        freeze = self._freezable() and not self.frozen()
        if freeze:
            self.freeze()
        try:
            for pid in self.pids():
                for d in new:
                    self._fs.write(d / "cgroup.procs", str(pid))
        finally:
            if freeze:
                self.thaw()

    # -- freezer ---------------------------------------------------------------------------

    def _freezable(self) -> bool:
        return "freezer" in self._dirs

    def _request_freeze(self, frozen: bool) -> None:
        from dockyard.cgroups.v1 import freezer

        freezer.request(self._dirs["freezer"], self._fs, frozen)

    def frozen(self) -> bool:
        from dockyard.cgroups.v1 import freezer

        d = self._dirs.get("freezer")
        return d is not None and freezer.state(d, self._fs) == "FROZEN"

    # -- stats -----------------------------------------------------------------------------

    def stats(self) -> CgroupStats:
        st = CgroupStats()
        for c in V1_CONTROLLERS:
            if self._joined(c):
                st = self._merge(st, controller(c).stats(self._dirs[c], self._fs))
        return st

    def oom_kill_count(self) -> int:
        from dockyard.cgroups.v1 import memory

        d = self._dirs.get("memory")
        return 0 if d is None else memory.oom_kills(d, self._fs)
