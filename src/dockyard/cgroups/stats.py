"""What a cgroup reports, the same on v1 and v2.

Units are fixed: CPU time in nanoseconds, memory and I/O in bytes. A limit of ``None``
means unlimited. Fields a controller cannot report (for example ``memory_oom_events``
on v1, where only the OOM kill count exists) fall back as documented per field.
"""

from __future__ import annotations

from dockyard.records import record

__all__ = ["CgroupStats"]


@record
class CgroupStats:
    """A snapshot of one cgroup's counters.

    cpu_usage_ns, cpu_user_ns, cpu_system_ns
        CPU time used by all tasks (v1 cpuacct, v2 ``cpu.stat`` usage/user/system_usec).
    cpu_periods, cpu_throttled_periods, cpu_throttled_ns
        CFS bandwidth periods elapsed, periods throttled, time throttled.
    memory_usage, memory_limit, memory_max_usage, memory_cache
        Bytes charged now, the hard limit (None: unlimited), the high-water mark
        (v2: ``memory.peak`` where the kernel has it, else 0), page cache bytes.
    memory_oom_events, memory_oom_kill_events
        Times the limit was hit and reclaim failed (v1: the oom-kill count stands in),
        processes killed by the OOM killer.
    pids_current, pids_limit
        Tasks now in the cgroup and the limit (None: unlimited).
    blkio_read_bytes, blkio_write_bytes
        Bytes read and written on block devices, summed over devices.
    """

    cpu_usage_ns: int = 0
    cpu_user_ns: int = 0
    cpu_system_ns: int = 0
    cpu_periods: int = 0
    cpu_throttled_periods: int = 0
    cpu_throttled_ns: int = 0
    memory_usage: int = 0
    memory_limit: int | None = None
    memory_max_usage: int = 0
    memory_cache: int = 0
    memory_oom_events: int = 0
    memory_oom_kill_events: int = 0
    pids_current: int = 0
    pids_limit: int | None = None
    blkio_read_bytes: int = 0
    blkio_write_bytes: int = 0
