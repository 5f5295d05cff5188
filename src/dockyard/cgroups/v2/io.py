"""v2 io: ``io.weight`` / ``io.bfq.weight`` and ``io.max``; ``io.stat`` for bytes.

blkio weights (10..1000) become ``io.weight`` (1..10000) with runc's formula; BFQ's
``io.bfq.weight`` takes the blkio range unchanged.
"""

from __future__ import annotations

from dockyard.cgroups._controller import Controller, StatsFields
from dockyard.cgroups._fs import CgroupFs
from dockyard.cgroups._util import read_optional
from dockyard.cgroups.v1.blkio import check_weight
from dockyard.errors import Unavailable
from dockyard.linux.fspath import FsPath
from dockyard.oci.resources import LinuxResources

__all__ = ["CONTROLLER", "apply", "blkio_to_io_weight", "stats"]

_MAX_KEYS = (
    ("throttle_read_bps_device", "rbps"),
    ("throttle_write_bps_device", "wbps"),
    ("throttle_read_iops_device", "riops"),
    ("throttle_write_iops_device", "wiops"),
)


def blkio_to_io_weight(w: int) -> int:
    return 1 + (w - 10) * 9999 // 990


def _write_weight(d: FsPath, fs: CgroupFs, dev: str, w: int) -> None:
    prefix = f"{dev} " if dev else ""
    if fs.exists(d / "io.bfq.weight"):
        fs.write(d / "io.bfq.weight", f"{prefix}{w}")
    elif fs.exists(d / "io.weight"):
        fs.write(d / "io.weight", f"{prefix}{blkio_to_io_weight(w)}")
    else:
        raise Unavailable(f"apply io weight to {d}: no io.weight or io.bfq.weight")


def apply(r: LinuxResources, d: FsPath, fs: CgroupFs) -> None:
    b = r.block_io
    if b is None:
        return
    check_weight(b.weight, "weight")
    if b.weight:
        _write_weight(d, fs, "", b.weight)
    for wd in b.weight_device:
        check_weight(wd.weight, f"weight of {wd.major}:{wd.minor}")
        if wd.weight:
            _write_weight(d, fs, f"{wd.major}:{wd.minor}", wd.weight)
    for attr, key in _MAX_KEYS:
        for t in getattr(b, attr):
            rate = "max" if t.rate == 0 else str(t.rate)
            fs.write(d / "io.max", f"{t.major}:{t.minor} {key}={rate}")


def stats(d: FsPath, fs: CgroupFs) -> StatsFields:
    read = write = 0
    for line in (read_optional(fs, d / "io.stat") or "").splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition("=")
            if key == "rbytes":
                read += int(value)
            elif key == "wbytes":
                write += int(value)
    return {"blkio_read_bytes": read, "blkio_write_bytes": write}


CONTROLLER = Controller("io", apply, stats)
