"""v1 cpuacct: CPU usage in nanoseconds (nothing to apply)."""

from __future__ import annotations

import os

from dockyard.cgroups._controller import Controller, StatsFields
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import flat_keyed, read_int
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "stats"]


def _apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    return None


def stats(d: FsPath, fs: CgroupFs) -> StatsFields:
    user = read_int(fs, d / "cpuacct.usage_user")
    system = read_int(fs, d / "cpuacct.usage_sys")
    if user is None or system is None:
        # Older kernels: cpuacct.stat in USER_HZ ticks.
        ticks = flat_keyed(fs, d / "cpuacct.stat")
        ns_per_tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        user = ticks.get("user", 0) * ns_per_tick
        system = ticks.get("system", 0) * ns_per_tick
    return {
        "cpu_usage_ns": read_int(fs, d / "cpuacct.usage") or 0,
        "cpu_user_ns": user,
        "cpu_system_ns": system,
    }


CONTROLLER = Controller("cpuacct", _apply, stats)
