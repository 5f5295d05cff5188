"""inotify(7), the few calls the engine needs (the stdlib has none).

Used to watch a cgroup's ``memory.events``: the kernel signals a change of a cgroup v2 event
file through inotify (``IN_MODIFY``), as conmon and containerd watch it for OOM kills.
"""

from __future__ import annotations

import ctypes
import os
import struct

from dockyard.errors import Internal

__all__ = ["IN_IGNORED", "IN_MODIFY", "add_watch", "init", "read_events", "rm_watch"]

IN_MODIFY = 0x00000002
IN_IGNORED = 0x00008000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len

_libc = ctypes.CDLL(None, use_errno=True)


def init() -> int:
    """A non-blocking, close-on-exec inotify descriptor."""
    fd = int(_libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
    if fd < 0:
        err = ctypes.get_errno()
        raise Internal(f"inotify_init1: {os.strerror(err).lower()}")
    return fd


def add_watch(fd: int, path: str, mask: int = IN_MODIFY) -> int:
    """The watch descriptor for ``path``; -1 when it cannot be watched (gone, say)."""
    wd = int(_libc.inotify_add_watch(fd, os.fsencode(path), ctypes.c_uint32(mask)))
    return wd if wd >= 0 else -1


def rm_watch(fd: int, wd: int) -> None:
    _libc.inotify_rm_watch(fd, wd)


def read_events(fd: int) -> list[tuple[int, int]]:
    """The pending events as (watch descriptor, mask); [] when none."""
    out: list[tuple[int, int]] = []
    while True:
        try:
            buf = os.read(fd, 4096)
        except BlockingIOError:
            return out
        if not buf:
            return out
        i = 0
        while i + _HEADER.size <= len(buf):
            wd, mask, _cookie, n = _HEADER.unpack_from(buf, i)
            out.append((wd, mask))
            i += _HEADER.size + n
