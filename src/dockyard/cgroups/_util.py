"""Small parsers shared by the controller modules."""

from __future__ import annotations

from dockyard.cgroups._fs import CgroupFs
from dockyard.errors import Internal, NotFound
from dockyard.linux.fspath import FsPath

__all__ = ["UNLIMITED_V1", "flat_keyed", "read_int", "read_optional", "write_if"]

# The v1 memory controller reports "no limit" as PAGE_COUNTER_MAX * page size, a number
# close to 2**63; anything at or above this is treated as unlimited.
UNLIMITED_V1 = 1 << 62


def read_optional(fs: CgroupFs, path: FsPath) -> str | None:
    """The file's content stripped, or None when the file is absent."""
    try:
        return fs.read(path).strip()
    except NotFound:
        return None


def read_int(fs: CgroupFs, path: FsPath) -> int | None:
    """An integer file; "max" and absent files give None."""
    raw = read_optional(fs, path)
    if raw is None or raw in ("", "max"):
        return None
    try:
        return int(raw.split()[0])
    except ValueError:
        raise Internal(f"read {path}: not an integer: {raw[:40]!r}") from None


def flat_keyed(fs: CgroupFs, path: FsPath) -> dict[str, int]:
    """A "key value" per line file (cpu.stat, memory.stat, memory.events); absent is empty."""
    raw = read_optional(fs, path)
    out: dict[str, int] = {}
    for line in (raw or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def write_if(fs: CgroupFs, path: FsPath, value: object | None) -> None:
    """Write ``value`` unless it is None."""
    if value is not None:
        fs.write(path, str(value))
