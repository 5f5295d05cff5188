"""``unified``: raw cgroup v2 key → value writes (``memory.high``, ``cpu.pressure``…)."""

from __future__ import annotations

from dockyard.cgroups._fs import CgroupFs
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.fspath import FsPath

__all__ = ["apply"]


# Membership and state files: set through the manager, never as a resource.
_CORE = frozenset(
    {
        "cgroup.procs",
        "cgroup.threads",
        "cgroup.kill",
        "cgroup.freeze",
        "cgroup.subtree_control",
        "cgroup.type",
        "cgroup.events",
        "cgroup.controllers",
    }
)


def _check_key(key: str) -> None:
    if not key or "/" in key or key.startswith(".") or "\0" in key or "." not in key:
        raise InvalidArgument(f"apply unified key {key!r}: not a cgroup file name")
    if key in _CORE:
        raise InvalidArgument(
            f"apply unified key {key!r}: set through the cgroup manager, not as a resource"
        )


def apply(unified: dict[str, str], d: FsPath, fs: CgroupFs) -> None:
    for key in unified:
        _check_key(key)
    for key, value in unified.items():
        if not fs.exists(d / key):
            controller = key.split(".", 1)[0]
            raise Unavailable(f"apply unified {key}={value}: controller {controller} not enabled")
        fs.write(d / key, value)
