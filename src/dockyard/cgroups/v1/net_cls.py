"""v1 net_cls: ``net_cls.classid``."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller
from dockyard.cgroups._fs import CgroupFs
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "apply"]


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    if r.network is not None and r.network.class_id is not None:
        fs.write(d / "net_cls.classid", str(r.network.class_id))


CONTROLLER = Controller("net_cls", apply)
