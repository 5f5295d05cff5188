"""``linux.resources`` of the OCI runtime spec, as typed data.

Parsed strictly from untrusted JSON by :func:`parse_resources`; unknown keys are
ignored (the runtime spec says a runtime must not fail on them), wrong types are
an :class:`~dockyard.errors.InvalidArgument` naming the JSON path.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument
from dockyard.oci._strict import obj as _obj
from dockyard.oci._strict import opt_bool as _bool
from dockyard.oci._strict import opt_int as _int
from dockyard.oci._strict import opt_list as _list
from dockyard.oci._strict import opt_str as _str
from dockyard.oci._strict import req_int as _req_int
from dockyard.records import field, record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "BlockIO",
    "CPU",
    "DeviceRule",
    "HugepageLimit",
    "LinuxResources",
    "Memory",
    "Network",
    "Pids",
    "ThrottleDevice",
    "WeightDevice",
    "parse_resources",
]


@record
class DeviceRule:
    allow: bool
    type: str = "a"  # a, b, c
    major: int | None = None  # None means wildcard
    minor: int | None = None
    access: str = "rwm"


@record
class Memory:
    limit: int | None = None  # bytes; -1 unlimited
    reservation: int | None = None
    swap: int | None = None  # memory+swap, as runc (v1 semantics)
    kernel: int | None = None
    kernel_tcp: int | None = None
    swappiness: int | None = None
    disable_oom_killer: bool | None = None
    use_hierarchy: bool | None = None
    check_before_update: bool | None = None


@record
class CPU:
    shares: int | None = None
    quota: int | None = None
    burst: int | None = None
    period: int | None = None
    realtime_runtime: int | None = None
    realtime_period: int | None = None
    cpus: str | None = None
    mems: str | None = None
    idle: int | None = None


@record
class Pids:
    limit: int  # <= 0 means unlimited


@record
class WeightDevice:
    major: int
    minor: int
    weight: int | None = None
    leaf_weight: int | None = None


@record
class ThrottleDevice:
    major: int
    minor: int
    rate: int


@record
class BlockIO:
    weight: int | None = None
    leaf_weight: int | None = None
    weight_device: tuple[WeightDevice, ...] = ()
    throttle_read_bps_device: tuple[ThrottleDevice, ...] = ()
    throttle_write_bps_device: tuple[ThrottleDevice, ...] = ()
    throttle_read_iops_device: tuple[ThrottleDevice, ...] = ()
    throttle_write_iops_device: tuple[ThrottleDevice, ...] = ()


@record
class HugepageLimit:
    page_size: str  # e.g. "2MB"
    limit: int


@record
class Network:
    class_id: int | None = None
    priorities: tuple[tuple[str, int], ...] = ()  # (interface, priority)


@record
class LinuxResources:
    devices: tuple[DeviceRule, ...] = ()
    memory: Memory | None = None
    cpu: CPU | None = None
    pids: Pids | None = None
    block_io: BlockIO | None = None
    hugepage_limits: tuple[HugepageLimit, ...] = ()
    network: Network | None = None
    unified: dict[str, str] = field(default_factory=dict)  # cgroup v2 raw key -> value


# the strict field readers are shared with runtime_spec.py (oci/_strict.py)


def _devices(d: dict[str, Any], path: str) -> tuple[DeviceRule, ...]:
    out = []
    for i, raw in enumerate(_list(d, "devices", path)):
        p = f"{path}.devices[{i}]"
        r = _obj(raw, p)
        allow = _bool(r, "allow", p)
        if allow is None:
            raise InvalidArgument(f"{p}.allow: required")
        typ = _str(r, "type", p) or "a"
        if typ not in ("a", "b", "c", "u", "p"):
            raise InvalidArgument(f"{p}.type: unknown device type {typ!r}")
        access = _str(r, "access", p) or "rwm"
        if not access or set(access) - set("rwm"):
            raise InvalidArgument(f"{p}.access: invalid access {access!r}")
        out.append(DeviceRule(allow, typ, _int(r, "major", p), _int(r, "minor", p), access))
    return tuple(out)


def _memory(d: dict[str, Any], path: str) -> Memory:
    return Memory(
        limit=_int(d, "limit", path),
        reservation=_int(d, "reservation", path),
        swap=_int(d, "swap", path),
        kernel=_int(d, "kernel", path),
        kernel_tcp=_int(d, "kernelTCP", path),
        swappiness=_int(d, "swappiness", path),
        disable_oom_killer=_bool(d, "disableOOMKiller", path),
        use_hierarchy=_bool(d, "useHierarchy", path),
        check_before_update=_bool(d, "checkBeforeUpdate", path),
    )


def _cpu(d: dict[str, Any], path: str) -> CPU:
    return CPU(
        shares=_int(d, "shares", path),
        quota=_int(d, "quota", path),
        burst=_int(d, "burst", path),
        period=_int(d, "period", path),
        realtime_runtime=_int(d, "realtimeRuntime", path),
        realtime_period=_int(d, "realtimePeriod", path),
        cpus=_str(d, "cpus", path),
        mems=_str(d, "mems", path),
        idle=_int(d, "idle", path),
    )


def _weights(d: dict[str, Any], path: str) -> tuple[WeightDevice, ...]:
    out = []
    for i, raw in enumerate(_list(d, "weightDevice", path)):
        p = f"{path}.weightDevice[{i}]"
        r = _obj(raw, p)
        out.append(
            WeightDevice(
                _req_int(r, "major", p),
                _req_int(r, "minor", p),
                _int(r, "weight", p),
                _int(r, "leafWeight", p),
            )
        )
    return tuple(out)


def _throttles(d: dict[str, Any], key: str, path: str) -> tuple[ThrottleDevice, ...]:
    out = []
    for i, raw in enumerate(_list(d, key, path)):
        p = f"{path}.{key}[{i}]"
        r = _obj(raw, p)
        out.append(
            ThrottleDevice(_req_int(r, "major", p), _req_int(r, "minor", p), _req_int(r, "rate", p))
        )
    return tuple(out)


def _block_io(d: dict[str, Any], path: str) -> BlockIO:
    return BlockIO(
        weight=_int(d, "weight", path),
        leaf_weight=_int(d, "leafWeight", path),
        weight_device=_weights(d, path),
        throttle_read_bps_device=_throttles(d, "throttleReadBpsDevice", path),
        throttle_write_bps_device=_throttles(d, "throttleWriteBpsDevice", path),
        throttle_read_iops_device=_throttles(d, "throttleReadIOPSDevice", path),
        throttle_write_iops_device=_throttles(d, "throttleWriteIOPSDevice", path),
    )


def _hugepages(d: dict[str, Any], path: str) -> tuple[HugepageLimit, ...]:
    out = []
    for i, raw in enumerate(_list(d, "hugepageLimits", path)):
        p = f"{path}.hugepageLimits[{i}]"
        r = _obj(raw, p)
        size = _str(r, "pageSize", p)
        if not size:
            raise InvalidArgument(f"{p}.pageSize: required")
        out.append(HugepageLimit(size, _req_int(r, "limit", p)))
    return tuple(out)


def _network(d: dict[str, Any], path: str) -> Network:
    prios = []
    for i, raw in enumerate(_list(d, "priorities", path)):
        p = f"{path}.priorities[{i}]"
        r = _obj(raw, p)
        name = _str(r, "name", p)
        if not name:
            raise InvalidArgument(f"{p}.name: required")
        prios.append((name, _req_int(r, "priority", p)))
    return Network(class_id=_int(d, "classID", path), priorities=tuple(prios))


def parse_resources(raw: Any, path: str = "linux.resources") -> LinuxResources:
    """Parse ``linux.resources`` from decoded JSON; ``None`` gives empty resources."""
    if raw is None:
        return LinuxResources()
    d = _obj(raw, path)
    mem = d.get("memory")
    cpu = d.get("cpu")
    pids = d.get("pids")
    bio = d.get("blockIO")
    net = d.get("network")
    unified = _obj(d.get("unified") or {}, f"{path}.unified")
    for k, v in unified.items():
        if not isinstance(v, str):
            raise InvalidArgument(f"{path}.unified.{k}: expected a string")
    return LinuxResources(
        devices=_devices(d, path),
        memory=_memory(_obj(mem, f"{path}.memory"), f"{path}.memory") if mem is not None else None,
        cpu=_cpu(_obj(cpu, f"{path}.cpu"), f"{path}.cpu") if cpu is not None else None,
        pids=Pids(_req_int(_obj(pids, f"{path}.pids"), "limit", f"{path}.pids"))
        if pids is not None
        else None,
        block_io=_block_io(_obj(bio, f"{path}.blockIO"), f"{path}.blockIO")
        if bio is not None
        else None,
        hugepage_limits=_hugepages(d, path),
        network=_network(_obj(net, f"{path}.network"), f"{path}.network")
        if net is not None
        else None,
        unified=dict(unified),
    )
