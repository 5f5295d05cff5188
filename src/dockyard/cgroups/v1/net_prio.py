"""v1 net_prio: ``net_prio.ifpriomap`` (one ``<interface> <priority>`` per write)."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller
from dockyard.cgroups._fs import CgroupFs
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "apply"]


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    if r.network is None:
        return
    for iface, prio in r.network.priorities:
        fs.write(d / "net_prio.ifpriomap", f"{iface} {prio}")


CONTROLLER = Controller("net_prio", apply)
