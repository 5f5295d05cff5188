"""Descriptor calls that Python's ``os`` lacks: ``pidfd_getfd(2)`` and ``sync_file_range(2)``.

Part of the kernel seam (DESIGN.md: everything calls the kernel through ``linux/``), beside
:mod:`dockyard.linux.syscalls`.  These two are plain functions rather than methods of
:class:`~dockyard.linux.syscalls.Syscalls` because their callers (the shim taking a holder's
pipes back, the registry's blob writer) are not the container init whose call sequence unit
tests record.  ``ctypes`` is imported on first use only, so importing this module costs nothing
on the CLI's path.

Errors: :func:`pidfd_getfd` raises :class:`OSError` with the errno (its callers decide whether
a vanished process matters); :func:`start_writeback` never fails (it is a hint).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["SYS_PIDFD_GETFD", "pidfd_getfd", "start_writeback"]

SYS_PIDFD_GETFD = 438  # the same number on every architecture (asm-generic, 5.6+)
_SYNC_FILE_RANGE_WRITE = 2

_sync_file_range: list[Callable[[int, int, int, int], int] | None] = []


def pidfd_getfd(pidfd: int, fd: int) -> int:
    """A duplicate of descriptor ``fd`` of the process behind ``pidfd`` (close-on-exec)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    rc = int(libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return rc


def _load_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if _sync_file_range:
        return _sync_file_range[0]
    fn: Callable[[int, int, int, int], int] | None = None
    try:
        import ctypes

        cfn = ctypes.CDLL(None, use_errno=True).sync_file_range
        cfn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
        cfn.restype = ctypes.c_int
        fn = cfn
    except (OSError, AttributeError, ImportError):
        fn = None
    _sync_file_range[:] = [fn]
    return fn


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``[offset, offset+length)`` back (no waiting)."""
    fn = _load_sync_file_range()
    if fn is not None and length > 0:
        fn(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # a failure only loses the hint
