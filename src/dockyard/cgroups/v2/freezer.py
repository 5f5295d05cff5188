"""v2 freezer: ``cgroup.freeze`` requests, ``cgroup.events`` ``frozen`` reports."""

from __future__ import annotations

from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import flat_keyed
from dockyard.linux.fspath import FsPath

__all__ = ["is_frozen", "request"]


def request(d: FsPath, fs: CgroupFs, frozen: bool) -> None:
    fs.write(d / "cgroup.freeze", "1" if frozen else "0")


def is_frozen(d: FsPath, fs: CgroupFs) -> bool:
    return flat_keyed(fs, d / "cgroup.events").get("frozen", 0) == 1
