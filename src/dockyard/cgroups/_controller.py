"""The shape every controller module has: ``apply`` limits, report ``stats``."""

from __future__ import annotations

from dockyard.cgroups._fs import CgroupFs
from dockyard.linux.fspath import FsPath
from dockyard.records import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from dockyard.oci.resources import LinuxResources

__all__ = ["Controller", "StatsFields", "no_stats"]

StatsFields = dict[str, int | None]


def no_stats(d: FsPath, fs: CgroupFs) -> StatsFields:
    return {}


@record
class Controller:
    """One controller: ``apply(resources, dir, fs)`` and ``stats(dir, fs)`` (fields of
    :class:`~dockyard.cgroups.stats.CgroupStats`); ``on_create(dir, fs)`` runs after mkdir."""

    name: str
    apply: Callable[[LinuxResources, FsPath, CgroupFs], None]
    stats: Callable[[FsPath, CgroupFs], StatsFields] = no_stats
    on_create: Callable[[FsPath, CgroupFs], None] | None = None
