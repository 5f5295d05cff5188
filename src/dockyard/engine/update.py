"""``docker update``: new resource limits (and restart policy) for a container.

The changes are Docker's ``HostConfig`` names (``Memory``, ``MemorySwap``, ``NanoCpus``,
``CpuShares``, ``CpusetCpus``, ``CpuQuota``, ``CpuPeriod``, ``PidsLimit``, ``RestartPolicy``).
They are checked as ``run``'s flags are, written into the record (options and stored spec, so
a restart keeps them) and, for a running or paused container, applied to its cgroup through
the runtime. Device rules are not touched: an update never widens or drops the device filter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dockyard.errors import InvalidArgument
from dockyard.records import replace

if TYPE_CHECKING:
    from dockyard.engine.options import RunOptions

__all__ = ["updated_options", "resources_of"]

_INTS = {
    "Memory": "memory",
    "MemorySwap": "memory_swap",
    "NanoCpus": "nano_cpus",
    "CpuShares": "cpu_shares",
    "PidsLimit": "pids_limit",
}


def _int(body: dict[str, Any], key: str) -> int | None:
    v = body.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool):
        raise InvalidArgument(f"update: {key}: expected an integer")
    return v


def updated_options(opts: RunOptions, body: dict[str, Any]) -> RunOptions:
    """``opts`` with the limits in ``body`` (0 or absent: unchanged, as dockerd)."""
    if not isinstance(body, dict):
        raise InvalidArgument("update: the body must be a JSON object")
    changes: dict[str, Any] = {}
    for key, field in _INTS.items():
        v = _int(body, key)
        if v is not None and v != 0:
            if v < 0 and key not in ("MemorySwap", "PidsLimit"):
                raise InvalidArgument(f"update: {key} must not be negative")
            changes[field] = v
    quota, period = _int(body, "CpuQuota"), _int(body, "CpuPeriod") or 100_000
    if quota:
        if "nano_cpus" in changes:
            raise InvalidArgument("update: NanoCpus and CpuQuota cannot both be set")
        changes["nano_cpus"] = quota * 1_000_000_000 // period
    cpus = body.get("CpusetCpus")
    if cpus:
        if not isinstance(cpus, str):
            raise InvalidArgument("update: CpusetCpus: expected a string")
        changes["cpuset_cpus"] = cpus
    new = replace(opts, **changes)
    if (
        "memory" in changes
        and "memory_swap" not in changes
        and new.memory_swap is not None
        and 0 < new.memory_swap < new.memory  # type: ignore[operator]
    ):
        raise InvalidArgument(
            "update: Memory should be smaller than the already set memoryswap limit; "
            "update the memoryswap at the same time"
        )
    return new


def resources_of(opts: RunOptions) -> dict[str, Any]:
    """The OCI ``linux.resources`` for ``opts``, without the device rules."""
    from dockyard.engine.spec import resources_for

    res = resources_for(opts)
    res.pop("devices", None)
    return res
