"""v1 cpu: shares, CFS quota/period/burst, realtime budget, idle; throttling stats."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller, StatsFields
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import flat_keyed, read_int, write_if
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import CPU, LinuxResources

__all__ = ["CONTROLLER", "apply", "check_realtime", "stats"]


def check_realtime(c: CPU, d: FsPath, fs: CgroupFs) -> None:
    """Refuse realtime values the kernel cannot take (no CONFIG_RT_GROUP_SCHED)."""
    wants = bool(c.realtime_runtime) or bool(c.realtime_period)
    if wants and not fs.exists(d / "cpu.rt_runtime_us"):
        raise Unavailable(f"apply cpu realtime to {d}: the kernel has no realtime group scheduling")


def _shares(c: CPU, d: FsPath, fs: CgroupFs) -> None:
    if not c.shares:
        return
    fs.write(d / "cpu.shares", str(c.shares))
    got = read_int(fs, d / "cpu.shares")
    if got is not None and got != c.shares:
        raise InvalidArgument(f"apply cpu shares {c.shares} to {d}: the kernel clamped it to {got}")


def _bandwidth(c: CPU, d: FsPath, fs: CgroupFs) -> None:
    if c.period:
        fs.write(d / "cpu.cfs_period_us", str(c.period))
    if c.quota:
        fs.write(d / "cpu.cfs_quota_us", str(-1 if c.quota < 0 else c.quota))
    if c.burst is not None:
        fs.write(d / "cpu.cfs_burst_us", str(c.burst))


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    c = r.cpu
    if c is None:
        return
    check_realtime(c, d, fs)
    _shares(c, d, fs)
    _bandwidth(c, d, fs)
    if c.realtime_period:
        fs.write(d / "cpu.rt_period_us", str(c.realtime_period))
    if c.realtime_runtime:
        fs.write(d / "cpu.rt_runtime_us", str(c.realtime_runtime))
    write_if(fs, d / "cpu.idle", c.idle)


def stats(d: FsPath, fs: CgroupFs) -> StatsFields:
    st = flat_keyed(fs, d / "cpu.stat")
    return {
        "cpu_periods": st.get("nr_periods", 0),
        "cpu_throttled_periods": st.get("nr_throttled", 0),
        "cpu_throttled_ns": st.get("throttled_time", 0),
    }


CONTROLLER = Controller("cpu", apply, stats)
