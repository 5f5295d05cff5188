"""v1 blkio: weights (CFQ ``blkio.weight`` or BFQ ``blkio.bfq.weight``) and throttles."""

from __future__ import annotations

from dockyard.cgroups._controller import Controller, StatsFields
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import read_optional
from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import BlockIO, LinuxResources

__all__ = ["CONTROLLER", "apply", "check_weight", "stats"]

_THROTTLES = (
    ("throttle_read_bps_device", "blkio.throttle.read_bps_device"),
    ("throttle_write_bps_device", "blkio.throttle.write_bps_device"),
    ("throttle_read_iops_device", "blkio.throttle.read_iops_device"),
    ("throttle_write_iops_device", "blkio.throttle.write_iops_device"),
)


def check_weight(w: int | None, what: str) -> None:
    if w is not None and w != 0 and not 10 <= w <= 1000:
        raise InvalidArgument(f"apply blkio {what} {w}: must be in 10..1000")


def _weight_file(d: FsPath, fs: CgroupFs, name: str) -> FsPath:
    for candidate in (f"blkio.{name}", f"blkio.bfq.{name}"):
        if fs.exists(d / candidate):
            return d / candidate
    raise Unavailable(f"apply blkio {name} to {d}: no io scheduler with weights (cfq or bfq)")


def _weights(b: BlockIO, d: FsPath, fs: CgroupFs) -> None:
    check_weight(b.weight, "weight")
    check_weight(b.leaf_weight, "leaf weight")
    if b.weight:
        fs.write(_weight_file(d, fs, "weight"), str(b.weight))
    if b.leaf_weight:
        fs.write(_weight_file(d, fs, "leaf_weight"), str(b.leaf_weight))
    for wd in b.weight_device:
        check_weight(wd.weight, f"weight of {wd.major}:{wd.minor}")
        if wd.weight:
            fs.write(_weight_file(d, fs, "weight_device"), f"{wd.major}:{wd.minor} {wd.weight}")
        if wd.leaf_weight:
            path = _weight_file(d, fs, "leaf_weight_device")
            fs.write(path, f"{wd.major}:{wd.minor} {wd.leaf_weight}")


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    b = r.block_io
    if b is None:
        return
    _weights(b, d, fs)
    for attr, name in _THROTTLES:
        for t in getattr(b, attr):
            fs.write(d / name, f"{t.major}:{t.minor} {t.rate}")


def stats(d: FsPath, fs: CgroupFs) -> StatsFields:
    read = write = 0
    for name in ("blkio.throttle.io_service_bytes_recursive", "blkio.io_service_bytes_recursive"):
        raw = read_optional(fs, d / name)
        if raw is None:
            continue
        for line in raw.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "Read":
                read += int(parts[2])
            elif len(parts) == 3 and parts[1] == "Write":
                write += int(parts[2])
        break
    return {"blkio_read_bytes": read, "blkio_write_bytes": write}


CONTROLLER = Controller("blkio", apply, stats)
