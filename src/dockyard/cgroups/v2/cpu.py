"""v2 cpu: ``cpu.weight`` (converted from shares), ``cpu.max``, ``cpu.max.burst``, ``cpu.idle``."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller, StatsFields
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import flat_keyed, read_optional, write_if
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import CPU, LinuxResources

__all__ = ["CONTROLLER", "apply", "cpu_max", "shares_to_weight", "stats"]


def shares_to_weight(shares: int) -> int:
    """v1 shares (2..262144) → v2 weight (1..10000), the formula runc uses."""
    if shares < 2 or shares > 262144:
        raise InvalidArgument(f"apply cpu shares {shares}: must be in 2..262144")
    return 1 + ((shares - 2) * 9999) // 262142


def cpu_max(c: CPU, current: str | None) -> str | None:
    """The ``cpu.max`` line for the OCI quota/period, keeping what is not given."""
    if not c.quota and not c.period:
        return None
    cur = (current or "max 100000").split()
    quota = cur[0] if c.quota is None or c.quota == 0 else str(c.quota)
    if c.quota is not None and c.quota < 0:
        quota = "max"
    period = str(c.period) if c.period else (cur[1] if len(cur) > 1 else "100000")
    return f"{quota} {period}"


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    c = r.cpu
    if c is None:
        return
    if c.realtime_runtime or c.realtime_period:
        raise Unavailable(f"apply cpu realtime to {d}: cgroup v2 has no realtime budget")
    if c.shares:
        fs.write(d / "cpu.weight", str(shares_to_weight(c.shares)))
    line = cpu_max(c, read_optional(fs, d / "cpu.max"))
    if line is not None:
        fs.write(d / "cpu.max", line)
    write_if(fs, d / "cpu.max.burst", c.burst)
    write_if(fs, d / "cpu.idle", c.idle)


def stats(d: FsPath, fs: CgroupFs) -> StatsFields:
    st = flat_keyed(fs, d / "cpu.stat")
    return {
        "cpu_usage_ns": st.get("usage_usec", 0) * 1000,
        "cpu_user_ns": st.get("user_usec", 0) * 1000,
        "cpu_system_ns": st.get("system_usec", 0) * 1000,
        "cpu_periods": st.get("nr_periods", 0),
        "cpu_throttled_periods": st.get("nr_throttled", 0),
        "cpu_throttled_ns": st.get("throttled_usec", 0) * 1000,
    }


CONTROLLER = Controller("cpu", apply, stats)
