"""pids: ``pids.max`` (the same files on v1 and v2)."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller, StatsFields
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import read_int
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "apply", "stats"]


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    if r.pids is None:
        return
    fs.write(d / "pids.max", "max" if r.pids.limit <= 0 else str(r.pids.limit))


def stats(d: FsPath, fs: CgroupFs) -> StatsFields:
    return {
        "pids_current": read_int(fs, d / "pids.current") or 0,
        "pids_limit": read_int(fs, d / "pids.max"),
    }


CONTROLLER = Controller("pids", apply, stats)
