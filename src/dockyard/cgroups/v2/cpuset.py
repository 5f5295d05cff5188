"""v2 cpuset: ``cpuset.cpus`` / ``cpuset.mems`` (empty inherits the parent's, no copy needed)."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller
from dockyard.cgroups._fs import CgroupFs
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "apply"]


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    c = r.cpu
    if c is None:
        return
    if c.cpus:
        fs.write(d / "cpuset.cpus", c.cpus)
    if c.mems:
        fs.write(d / "cpuset.mems", c.mems)


CONTROLLER = Controller("cpuset", apply)
