"""v1 memory: ``memory.limit_in_bytes``, ``memory.memsw.limit_in_bytes`` and friends."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller, StatsFields
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import UNLIMITED_V1, flat_keyed, read_int, write_if
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources, Memory

__all__ = ["CONTROLLER", "apply", "limit_value", "stats"]

LIMIT = "memory.limit_in_bytes"
MEMSW = "memory.memsw.limit_in_bytes"


def limit_value(v: int | None) -> int | None:
    """OCI limit → v1 value: None stays unset, ≤ 0 (and -1) means unlimited (-1)."""
    if v is None:
        return None
    return -1 if v <= 0 else v


def _check(m: Memory) -> None:
    limit, swap = limit_value(m.limit), limit_value(m.swap)
    if limit is not None and swap is not None and swap != -1 and limit != -1 and swap < limit:
        raise InvalidArgument(
            f"apply memory: swap limit {swap} (memory+swap) is below the memory limit {limit}"
        )
    if m.swappiness is not None and not 0 <= m.swappiness <= 100 and m.swappiness != -1:
        raise InvalidArgument(f"apply memory: swappiness {m.swappiness} is not in 0..100")


def _limits(m: Memory, d: FsPath, fs: CgroupFs) -> None:
    limit, swap = limit_value(m.limit), limit_value(m.swap)
    if swap is not None and not fs.exists(d / MEMSW):
        if swap != -1:
            raise Unavailable(f"apply memory: {d / MEMSW}: swap accounting is not enabled")
        swap = None
    if swap is None:
        write_if(fs, d / LIMIT, limit)
        return
    # memsw must stay >= limit at every step: raise memsw first when growing.
    current = read_int(fs, d / MEMSW) or 0
    if swap == -1 or current == -1 or swap > current:
        fs.write(d / MEMSW, str(swap))
        write_if(fs, d / LIMIT, limit)
    else:
        write_if(fs, d / LIMIT, limit)
        fs.write(d / MEMSW, str(swap))


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    m = r.memory
    if m is None:
        return
    _check(m)
    _limits(m, d, fs)
    write_if(fs, d / "memory.soft_limit_in_bytes", limit_value(m.reservation))
    write_if(fs, d / "memory.kmem.tcp.limit_in_bytes", limit_value(m.kernel_tcp))
    if m.swappiness is not None and m.swappiness != -1:
        fs.write(d / "memory.swappiness", str(m.swappiness))
    if m.disable_oom_killer:
        fs.write(d / "memory.oom_control", "1")
    if m.use_hierarchy:
        fs.write(d / "memory.use_hierarchy", "1")


def oom_kills(d: FsPath, fs: CgroupFs) -> int:
    return flat_keyed(fs, d / "memory.oom_control").get("oom_kill", 0)


def stats(d: FsPath, fs: CgroupFs) -> StatsFields:
    limit = read_int(fs, d / LIMIT)
    st = flat_keyed(fs, d / "memory.stat")
    kills = oom_kills(d, fs)
    return {
        "memory_usage": read_int(fs, d / "memory.usage_in_bytes") or 0,
        "memory_limit": None if limit is None or not 0 <= limit < UNLIMITED_V1 else limit,
        "memory_max_usage": read_int(fs, d / "memory.max_usage_in_bytes") or 0,
        "memory_cache": st.get("total_cache", st.get("cache", 0)),
        "memory_oom_events": kills,
        "memory_oom_kill_events": kills,
    }


CONTROLLER = Controller("memory", apply, stats)
