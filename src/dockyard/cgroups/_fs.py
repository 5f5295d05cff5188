"""The cgroupfs seam: every read, write, mkdir and rmdir of a cgroup file goes through here.

Unit tests pass a fake (a temporary directory that poses as cgroupfs and mimics the few
kernel behaviours the managers rely on); production uses :class:`CgroupFs` on the real
mount. Attaching the v2 device filter (a BPF program, not a file) goes through here too, so
the fake records it instead of calling ``bpf(2)``. Write failures become one-line errors
that name the file and the value.
"""

from __future__ import annotations

import errno
import os

from dockyard.errors import (
    Conflict,
    DockyardError,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from dockyard.linux.fspath import FsPath

__all__ = ["CgroupFs", "os_error"]

_BY_ERRNO: dict[int, type[DockyardError]] = {
    errno.EINVAL: InvalidArgument,
    errno.ERANGE: InvalidArgument,
    errno.ENOSPC: InvalidArgument,
    errno.EPERM: PermissionDenied,
    errno.EACCES: PermissionDenied,
    errno.EROFS: PermissionDenied,
    errno.ENOENT: Unavailable,
    errno.EOPNOTSUPP: Unavailable,
    errno.EBUSY: Conflict,
}


def os_error(op: str, exc: OSError) -> DockyardError:
    """Map an OSError of a cgroup file operation to a dockyard error; ``op`` names what failed."""
    cls = _BY_ERRNO.get(exc.errno or 0, Internal)
    reason = os.strerror(exc.errno).lower() if exc.errno else str(exc).lower()
    return cls(f"{op}: {reason}")


class CgroupFs:
    """Plain file operations on a cgroup filesystem (the real one by default)."""

    def read(self, path: FsPath) -> str:
        try:  # raw reads: no TextIOWrapper, and bytes.decode needs no codec module import
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                chunks = []
                while chunk := os.read(fd, 65536):
                    chunks.append(chunk)
            finally:
                os.close(fd)
            return b"".join(chunks).decode("ascii", errors="replace")
        except FileNotFoundError:
            raise NotFound(f"read {path}: no such file") from None
        except OSError as exc:
            raise os_error(f"read {path}", exc) from exc

    def write(self, path: FsPath, value: str) -> None:
        """Write ``value`` to an existing file (never creates one, as cgroupfs forbids)."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        except OSError as exc:
            raise os_error(f"write {path} = {value}", exc) from exc
        try:
            os.write(fd, value.encode())
        except OSError as exc:
            raise os_error(f"write {path} = {value}", exc) from exc
        finally:
            os.close(fd)

    def exists(self, path: FsPath) -> bool:
        return path.exists()

    def mkdir(self, path: FsPath) -> bool:
        """Create one directory; True if this call created it, False if it was there."""
        try:
            os.mkdir(path, 0o755)
        except FileExistsError:
            return False
        except OSError as exc:
            raise os_error(f"create cgroup {path}", exc) from exc
        return True

    def rmdir(self, path: FsPath) -> None:
        """Remove one cgroup directory; raises the raw OSError so callers can retry on EBUSY."""
        os.rmdir(path)

    def attach_device_filter(self, path: FsPath, program: bytes) -> None:
        """Make ``program`` (BPF_PROG_TYPE_CGROUP_DEVICE instructions) the device filter of
        the cgroup2 directory ``path``: attached before the earlier ones are detached (see
        :func:`dockyard.cgroups.v2.devices.install`)."""
        from dockyard.cgroups.v2.devices import install
        from dockyard.linux.bpf import LibcBpf

        install(path, program, LibcBpf())
