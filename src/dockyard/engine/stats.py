"""Container stats in the Docker Engine API's shape, from the cgroup and /proc.

``snapshot`` reads the container's cgroup (CPU, memory, pids, block I/O through
:meth:`dockyard.cgroups.Manager.stats`) and the network counters of the
container's network namespace (``/proc/<pid>/net/dev``). CPU % is computed by the
client as docker's: Δcontainer CPU / Δsystem CPU x online CPUs x 100.
"""

from __future__ import annotations

import os
import time
from typing import Any

__all__ = ["cpu_percent", "snapshot", "system_cpu_ns"]


def system_cpu_ns() -> int:
    """Total CPU time of the host (``/proc/stat`` first line: user to softirq, as docker
    sums it), in nanoseconds."""
    from dockyard.linux.procfs import cpu_times

    ticks = sum(cpu_times()[:7])
    return ticks * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def _net(pid: int) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.readlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        v = [int(x) for x in rest.split()]
        name = name.strip()
        if name == "lo" or len(v) < 16:
            continue
        out[name] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                     "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10],
                     "tx_dropped": v[11]}  # fmt: skip
    return out


def snapshot(cgroup_path: str, pid: int, name: str, cid: str) -> dict[str, Any]:
    from dockyard.cgroups import create_manager
    from dockyard.engine.logfile import format_time

    s = create_manager(cgroup_path).stats()
    ncpu = os.cpu_count() or 1
    mem_limit = s.memory_limit
    if mem_limit is None or mem_limit > (1 << 60):
        mem_limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "read": format_time(time.time_ns()),
        "name": "/" + name,
        "id": cid,
        "pids_stats": {"current": s.pids_current, "limit": s.pids_limit},
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": s.cpu_usage_ns,
                "usage_in_usermode": s.cpu_user_ns,
                "usage_in_kernelmode": s.cpu_system_ns,
            },
            "system_cpu_usage": system_cpu_ns(),
            "online_cpus": ncpu,
            "throttling_data": {
                "periods": s.cpu_periods,
                "throttled_periods": s.cpu_throttled_periods,
                "throttled_time": s.cpu_throttled_ns,
            },
        },
        "memory_stats": {
            "usage": s.memory_usage,
            "max_usage": s.memory_max_usage,
            "limit": mem_limit,
            "stats": {"cache": s.memory_cache},
        },
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 0, "minor": 0, "op": "read", "value": s.blkio_read_bytes},
                {"major": 0, "minor": 0, "op": "write", "value": s.blkio_write_bytes},
            ]
        },
        "networks": _net(pid) if pid else {},
    }


def cpu_percent(prev: dict[str, Any], cur: dict[str, Any]) -> float:
    """Docker's CPU %: the container's share of the host's CPU time, times online CPUs."""
    try:
        dc = (
            cur["cpu_stats"]["cpu_usage"]["total_usage"]
            - prev["cpu_stats"]["cpu_usage"]["total_usage"]
        )
        ds = cur["cpu_stats"]["system_cpu_usage"] - prev["cpu_stats"]["system_cpu_usage"]
        n = cur["cpu_stats"].get("online_cpus") or 1
    except (KeyError, TypeError):
        return 0.0
    if ds <= 0 or dc < 0:
        return 0.0
    return float(dc / ds * n * 100.0)
