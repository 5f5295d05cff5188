"""v1 cpuset: ``cpuset.cpus`` / ``cpuset.mems``; a new cgroup inherits its parent's.

A v1 cpuset cgroup starts with empty cpus and mems and refuses tasks until both are
set, so :func:`on_create` copies them from the parent before anything joins.
"""

from __future__ import annotations

from dockyard.cgroups._controller import Controller
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import read_optional
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "apply", "on_create"]


def on_create(d: FsPath, fs: CgroupFs) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        if read_optional(fs, d / name):
            continue
        parent = read_optional(fs, d.parent / name)
        if parent:
            fs.write(d / name, parent)


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    c = r.cpu
    if c is None:
        return
    if c.cpus:
        fs.write(d / "cpuset.cpus", c.cpus)
    if c.mems:
        fs.write(d / "cpuset.mems", c.mems)


CONTROLLER = Controller("cpuset", apply, on_create=on_create)
