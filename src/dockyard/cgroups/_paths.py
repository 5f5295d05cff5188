"""Where cgroups live: the host's mode, the caller's own cgroups, and placement beneath them."""

from __future__ import annotations

from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.fspath import FsPath

__all__ = [
    "LEAF",
    "Mode",
    "V1_CONTROLLERS",
    "base_of",
    "detect_mode",
    "own_cgroups",
    "parse_proc_cgroup",
    "place",
    "relative_path",
    "v1_mounts",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from typing import Literal

    Mode = Literal["v1", "hybrid", "v2"]
else:
    Mode = str

# The v1 controllers dockyard drives, in the order they are created and written.
V1_CONTROLLERS = (
    "cpuset",
    "cpu",
    "cpuacct",
    "memory",
    "pids",
    "blkio",
    "devices",
    "freezer",
    "hugetlb",
    "net_cls",
    "net_prio",
)


def detect_mode(root: str | os.PathLike[str] = "/sys/fs/cgroup") -> Mode:
    """``v2`` when ``root`` is a cgroup2 mount, ``hybrid`` when a cgroup2 mount sits at
    ``root/unified`` beside v1 hierarchies, else ``v1``."""
    root = FsPath(root)
    if (root / "cgroup.controllers").exists():
        return "v2"
    if (root / "unified" / "cgroup.controllers").exists():
        return "hybrid"
    if not root.is_dir():
        raise Unavailable(f"detect cgroup mode: {root}: not mounted")
    return "v1"


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as controller → path; the v2 entry is keyed ``""``,
    named v1 hierarchies as ``name=<name>``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            out[""] = path
            continue
        for c in controllers.split(","):
            out[c] = path
    return out


# The leaf a daemon moves itself into on cgroup v2 (dockyard.cgroups.delegate): a process
# in ``<base>/dockyard-leaf`` places containers beneath ``<base>``.
LEAF = "dockyard-leaf"


def base_of(v2_path: str) -> str:
    """The cgroup containers go beneath for a process in the v2 cgroup ``v2_path``: its
    parent when it sits in a ``dockyard-leaf`` (see :mod:`dockyard.cgroups.delegate`),
    else itself."""
    head, _, name = v2_path.rstrip("/").rpartition("/")
    if name == LEAF:
        return head or "/"
    return v2_path


def own_cgroups() -> dict[str, str]:
    """The calling process's cgroups (``/proc/self/cgroup``) as placement sees them: on the
    v2 hierarchy a ``dockyard-leaf`` stands for its parent, the delegated base."""
    with open("/proc/self/cgroup", encoding="utf-8") as f:  # utf-8: no codec to import
        own = parse_proc_cgroup(f.read())
    if "" in own:
        own[""] = base_of(own[""])
    return own


def relative_path(path: str) -> FsPath:
    """Validate a container cgroup path (relative or absolute) and make it relative.

    Placement is beneath the ``own`` cgroups the manager is given: the caller's, or, for
    an absolute OCI ``cgroupsPath``, the hierarchy roots (the runtime passes ``/`` for
    every hierarchy: docs/cgroups.md, placement policy).
    """
    if not path or not path.strip("/"):
        raise InvalidArgument(f"cgroup path {path!r}: empty")
    if "/" not in path and path.count(":") == 2:
        raise InvalidArgument(f"cgroup path {path!r}: the systemd cgroup driver is not supported")
    rel = FsPath(path.lstrip("/"))
    if any(part in ("..", ".") for part in path.split("/")) or "\0" in path:
        raise InvalidArgument(f"cgroup path {path!r}: must not contain '.' or '..'")
    return rel


def place(mount: FsPath, own: str, rel: FsPath) -> FsPath:
    """``<mount>/<own>/<rel>``."""
    return mount / own.lstrip("/") / rel


def v1_mounts(root: FsPath) -> dict[str, FsPath]:
    """v1 controller → hierarchy mount directory, found by the directory names under ``root``
    (``cpu,cpuacct`` serves both; the usual ``cpu`` → ``cpu,cpuacct`` links resolve the same)."""
    out: dict[str, FsPath] = {}
    try:
        # Real directories first, so "cpu,cpuacct" wins over its "cpu" link.
        entries = sorted(root.iterdir(), key=lambda e: (e.is_symlink(), e.name))
    except OSError:
        return out
    for entry in entries:
        if entry.name == "unified" or not entry.is_dir():
            continue
        for name in entry.name.split(","):
            if name in V1_CONTROLLERS:
                out.setdefault(name, entry)
    return out
