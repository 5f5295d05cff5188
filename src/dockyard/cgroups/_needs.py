"""Which controllers a set of resources needs (v1 names; v2 says ``io`` for ``blkio``)."""

from __future__ import annotations

from dockyard.oci.resources import LinuxResources

__all__ = ["needed_controllers"]


def needed_controllers(r: LinuxResources) -> set[str]:
    out: set[str] = set()
    if r.memory is not None:
        out.add("memory")
    c = r.cpu
    if c is not None:
        if any((c.shares, c.quota, c.period, c.burst, c.realtime_runtime, c.realtime_period)):
            out.add("cpu")
        if c.idle is not None:
            out.add("cpu")
        if c.cpus or c.mems:
            out.add("cpuset")
    if r.pids is not None:
        out.add("pids")
    if r.block_io is not None:
        out.add("blkio")
    if r.devices:
        out.add("devices")
    if r.hugepage_limits:
        out.add("hugetlb")
    if r.network is not None:
        if r.network.class_id is not None:
            out.add("net_cls")
        if r.network.priorities:
            out.add("net_prio")
    return out
