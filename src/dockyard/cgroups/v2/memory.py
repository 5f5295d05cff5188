"""v2 memory: ``memory.max``, ``memory.low``, ``memory.swap.max``; events and usage.

OCI ``swap`` is memory+swap (v1 semantics); v2's ``memory.swap.max`` is swap alone, so
it is converted as runc does (:func:`swap_max`). ``memory.high`` has no OCI field: set it
through ``unified``. ``disableOOMKiller``, kernel memory and ``swappiness`` have no v2
file and are ignored (as runc and docker do), except a swappiness other than -1/None,
which is refused.
"""

from __future__ import annotations

from dockyard.cgroups._controller import Controller, StatsFields
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import flat_keyed, read_int
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "apply", "oom_kills", "stats", "swap_max", "v2_limit"]


def v2_limit(v: int | None) -> str | None:
    """None stays unset; ≤ 0 (and -1) is "max"."""
    if v is None:
        return None
    return "max" if v <= 0 else str(v)


def swap_max(limit: int | None, swap: int | None) -> str | None:
    """OCI memory+swap → ``memory.swap.max`` (swap alone)."""
    if swap is None or swap == 0:
        return None
    if swap < 0:
        return "max"
    if limit is None or limit <= 0:
        raise InvalidArgument("apply memory: a swap limit needs a memory limit")
    if swap < limit:
        raise InvalidArgument(
            f"apply memory: swap limit {swap} (memory+swap) is below the memory limit {limit}"
        )
    return str(swap - limit)


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    m = r.memory
    if m is None:
        return
    swap = swap_max(m.limit, m.swap)
    if m.swappiness is not None and m.swappiness != -1:
        raise Unavailable(f"apply memory swappiness {m.swappiness}: cgroup v2 has no swappiness")
    if swap is not None and not fs.exists(d / "memory.swap.max"):
        if swap != "max":
            raise Unavailable(f"apply memory: {d / 'memory.swap.max'}: swap is not enabled")
        swap = None
    limit = v2_limit(m.limit)
    # memory.max first when lowering, so a smaller swap limit never races a larger max.
    if limit is not None:
        fs.write(d / "memory.max", limit)
    if swap is not None:
        fs.write(d / "memory.swap.max", swap)
    low = v2_limit(m.reservation)
    if low is not None:
        fs.write(d / "memory.low", "0" if low == "max" else low)


def oom_kills(d: FsPath, fs: CgroupFs) -> int:
    return flat_keyed(fs, d / "memory.events").get("oom_kill", 0)


def stats(d: FsPath, fs: CgroupFs) -> StatsFields:
    st = flat_keyed(fs, d / "memory.stat")
    ev = flat_keyed(fs, d / "memory.events")
    return {
        "memory_usage": read_int(fs, d / "memory.current") or 0,
        "memory_limit": read_int(fs, d / "memory.max"),
        "memory_max_usage": read_int(fs, d / "memory.peak") or 0,
        "memory_cache": st.get("file", 0),
        "memory_oom_events": ev.get("oom", 0),
        "memory_oom_kill_events": ev.get("oom_kill", 0),
    }


CONTROLLER = Controller("memory", apply, stats)
