"""hugetlb: ``hugetlb.<size>.limit_in_bytes`` on v1, ``hugetlb.<size>.max`` on v2."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller
from dockyard.cgroups._fs import CgroupFs
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "apply_with", "limit_file"]


def limit_file(d: FsPath, fs: CgroupFs, size: str, suffix: str) -> FsPath:
    if not size or "/" in size or not size[0].isdigit():
        raise InvalidArgument(f"apply hugetlb: invalid page size {size!r}")
    path = d / f"hugetlb.{size}.{suffix}"
    if not fs.exists(path):
        raise Unavailable(f"apply hugetlb {size} to {d}: page size not supported here")
    return path


def apply_with(r: LinuxResources, d: FsPath, fs: CgroupFs, suffix: str) -> None:
    for h in r.hugepage_limits:
        fs.write(limit_file(d, fs, h.page_size, suffix), str(h.limit))


def _apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    apply_with(r, d, fs, "limit_in_bytes")


CONTROLLER = Controller("hugetlb", _apply)
