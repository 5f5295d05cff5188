"""The shape every controller module has: ``apply`` limits, report ``stats``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.cgroups._fs import CgroupFs
from dockyard.records import record

if TYPE_CHECKING:
    from dockyard.oci.resources import LinuxResources

__all__ = ["Controller", "StatsFields", "no_stats"]

StatsFields = dict[str, int | None]


def no_stats(d: Path, fs: CgroupFs) -> StatsFields:
    return {}


@record
class Controller:
    """One controller: ``apply(resources, dir, fs)`` and ``stats(dir, fs)`` (fields of
    :class:`~dockyard.cgroups.stats.CgroupStats`); ``on_create(dir, fs)`` runs after mkdir."""

    name: str
    apply: Callable[[LinuxResources, Path, CgroupFs], None]
    stats: Callable[[Path, CgroupFs], StatsFields] = no_stats
    on_create: Callable[[Path, CgroupFs], None] | None = None
