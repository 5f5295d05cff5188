"""v2 hugetlb: ``hugetlb.<size>.max``."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups.v1.hugetlb import apply_with
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "apply"]


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    apply_with(r, d, fs, "max")


CONTROLLER = Controller("hugetlb", apply)
