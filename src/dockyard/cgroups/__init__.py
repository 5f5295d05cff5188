"""dockyard.cgroups — one :class:`Manager` per container cgroup, on v1, hybrid and v2 hosts.

See docs/cgroups.md for terms, the lifecycle, the placement policy and the v1/v2 mapping.
"""

from __future__ import annotations

from dockyard.cgroups._base import Clock
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._manager import Manager, NullManager, create_manager
from dockyard.cgroups._paths import LEAF, Mode, detect_mode, own_cgroups, parse_proc_cgroup
from dockyard.cgroups.stats import CgroupStats

__all__ = [
    "LEAF",
    "CgroupFs",
    "CgroupStats",
    "Clock",
    "Manager",
    "Mode",
    "NullManager",
    "create_manager",
    "detect_mode",
    "own_cgroups",
    "parse_proc_cgroup",
]
