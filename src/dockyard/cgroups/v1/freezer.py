"""v1 freezer: ``freezer.state`` (THAWED, FREEZING, FROZEN); the manager drives it."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import read_optional
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "request", "state"]


def _apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    return None


def request(d: FsPath, fs: CgroupFs, frozen: bool) -> None:
    fs.write(d / "freezer.state", "FROZEN" if frozen else "THAWED")


def state(d: FsPath, fs: CgroupFs) -> str:
    return read_optional(fs, d / "freezer.state") or "THAWED"


CONTROLLER = Controller("freezer", _apply)
