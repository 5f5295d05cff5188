"""The Manager protocol, the null manager, and :func:`create_manager`."""

from __future__ import annotations

import os

from dockyard.cgroups._base import Clock
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._paths import Mode, detect_mode, relative_path
from dockyard.cgroups.stats import CgroupStats
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.fspath import FsPath

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Protocol

    from dockyard.oci.resources import LinuxResources
else:
    Protocol = object  # the protocol is for the type checker; typing costs a start-up

_SIGKILL = 9

__all__ = ["Manager", "NullManager", "create_manager"]


class Manager(Protocol):
    """One container's cgroup, in every hierarchy the host has.

    Terms: the *own cgroup* is the cgroup the calling process runs in (per hierarchy, from
    ``/proc/self/cgroup``); the container's *path* is placed beneath it, whether relative or
    absolute: ``<mount>/<own>/<path>``. A *leaf* is that directory in one hierarchy.

    Lifecycle::

        m = create_manager("dockyard/abc123")
        m.create()                # mkdir the leaves (v1: cpuset copies cpus/mems)
        m.apply(resources)        # write limits; may be called again to update
        m.add(pid)                # the container's init joins before it execs
        m.joined()                # the hierarchies add() put it in (v1 names, "" = cgroup2)
        m.stats(); m.freeze(); m.thaw(); m.pids()
        m.kill_all()              # SIGKILL everything, until the cgroup is empty
        m.destroy()               # rmdir the leaves; idempotent

    Errors: :class:`InvalidArgument` for impossible values (and a kernel EINVAL naming the
    file and value), :class:`Unavailable` for what this host cannot do (missing controller,
    realtime, unified keys on v1), :class:`PermissionDenied` for EPERM,
    :class:`FailedPrecondition` when destroy finds the cgroup still busy,
    :class:`NotFound` when the own cgroup is gone.
    """

    path: str

    def create(self) -> None: ...
    def apply(self, resources: LinuxResources) -> None: ...
    def add(self, pid: int) -> None: ...
    def pids(self) -> list[int]: ...
    def freeze(self) -> None: ...
    def thaw(self) -> None: ...
    def frozen(self) -> bool: ...
    def stats(self) -> CgroupStats: ...
    def oom_kill_count(self) -> int: ...
    def kill_all(self, sig: int = _SIGKILL) -> None: ...
    def destroy(self) -> None: ...
    def paths(self) -> dict[str, Path]: ...
    def joined(self) -> list[str]: ...


class NullManager:
    """ "No cgroups" (rootless without delegation, or ``--cgroups=disabled``): every call is a
    no-op, limits are ignored, stats are zero; only freeze/thaw refuse, since pausing
    without a freezer cannot be faked."""

    def __init__(self, path: str = "") -> None:
        self.path = path

    def create(self) -> None:
        return None

    def apply(self, resources: LinuxResources) -> None:
        return None

    def add(self, pid: int) -> None:
        return None

    def pids(self) -> list[int]:
        return []

    def freeze(self) -> None:
        raise Unavailable(f"freeze cgroup {self.path}: cgroups are disabled")

    def thaw(self) -> None:
        raise Unavailable(f"thaw cgroup {self.path}: cgroups are disabled")

    def frozen(self) -> bool:
        return False

    def stats(self) -> CgroupStats:
        return CgroupStats()

    def oom_kill_count(self) -> int:
        return 0

    def kill_all(self, sig: int = _SIGKILL) -> None:
        return None

    def destroy(self) -> None:
        return None

    def paths(self) -> dict[str, Path]:
        return {}

    def joined(self) -> list[str]:
        return []


def create_manager(
    path: str,
    *,
    root: str | os.PathLike[str] = "/sys/fs/cgroup",
    mode: Mode | None = None,
    own_cgroups: dict[str, str] | None = None,
    fs: CgroupFs | None = None,
    clock: Clock | None = None,
) -> Manager:
    """The manager for ``path`` on this host (``mode`` detected from ``root`` when None).

    ``own_cgroups`` (controller → path, ``""`` for v2) overrides ``/proc/self/cgroup``;
    ``fs`` and ``clock`` are seams for tests. Nothing is created until :meth:`Manager.create`.
    """
    from dockyard.cgroups import _paths

    if fs is None and os.environ.get("DOCKYARD_CGROUPS") == "disabled":  # rootless, no delegation
        return NullManager(path)
    root = FsPath(root)
    if "/" not in path and path.count(":") == 2:  # slice:prefix:name, the systemd driver
        from dockyard.cgroups.systemd import SystemdManager

        if (mode or detect_mode(root)) != "v2":
            raise Unavailable(f"create cgroup {path}: the systemd cgroup driver needs cgroup v2")
        return SystemdManager(path, root=root, fs=fs, clock=clock)
    relative_path(path)
    mode = mode or detect_mode(root)
    own = own_cgroups if own_cgroups is not None else _paths.own_cgroups()
    if mode == "v2":
        from dockyard.cgroups.v2.manager import V2Manager

        return V2Manager(path, root=root, own=own, fs=fs, clock=clock)
    if mode in ("v1", "hybrid"):
        from dockyard.cgroups.v1.manager import V1Manager

        return V1Manager(path, root=root, own=own, hybrid=mode == "hybrid", fs=fs, clock=clock)
    raise InvalidArgument(f"create cgroup manager {path}: unknown mode {mode!r}")
