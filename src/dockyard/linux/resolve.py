"""Resolving a path inside a directory as if it were ``/``: ``openat2(RESOLVE_IN_ROOT)``.

A container's root filesystem is written by the container while the host works in it, so a
path in it must never be walked as a string: between the check of ``/a/b`` and the write to
it, the container can swap ``a`` for a symlink to ``/`` (CVE-2018-15664, ``docker cp``;
CVE-2021-30465, runc's mount destinations). Here a path is resolved by the kernel, once,
into a file descriptor, and the caller works on the descriptor (``*at`` calls with
``dir_fd``, a mount through ``/proc/self/fd/N``):

* :func:`open_in_root` — ``openat2(root_fd, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)``:
  every symlink (absolute ones included) and ``..`` is resolved with ``root_fd`` as ``/``;
  ``/proc/self/fd/N``-style magic links are refused (ELOOP). The kernel's EAGAIN (a rename
  during the walk) is retried.
* :func:`mkdir_in_root` — the same, creating missing directories one at a time with
  ``mkdirat`` on the descriptor of the one above (never on a path).
* :func:`touch_in_root` — the same for a file (a bind mount's destination), made empty
  with ``O_CREAT|O_EXCL|O_NOFOLLOW`` in the descriptor of its directory where missing.
* :func:`fs_magic` — ``fstatfs(2)``'s ``f_type`` of a descriptor (is ``/proc`` a procfs?).

openat2 came with Linux 5.6. Where it is missing (ENOSYS, or EPERM from a seccomp filter that
does not know it), the same rules are followed in user space by :func:`_walk_in_root`: one
component at a time, each opened ``O_NOFOLLOW`` relative to the descriptor of the one above,
symlinks read with ``readlinkat`` and re-resolved from the root, ``..`` popping the walk's own
stack of descriptors (it can never rise above the root, whatever the container renames).
:data:`BACKEND` says which one is used.

Failures are :class:`OSError` as from :mod:`os` (callers tell ENOENT from ELOOP and word the
error for their operation).
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

__all__ = [
    "BACKEND",
    "RESOLVE_BENEATH",
    "RESOLVE_IN_ROOT",
    "RESOLVE_NO_MAGICLINKS",
    "RESOLVE_NO_SYMLINKS",
    "RESOLVE_NO_XDEV",
    "PROC_SUPER_MAGIC",
    "fd_path",
    "fs_magic",
    "mkdir_in_root",
    "open_in_root",
    "openat2",
    "touch_in_root",
]

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
PROC_SUPER_MAGIC = 0x9FA0

_SYS_OPENAT2 = 437  # the same number on every architecture (added after the unification)
_MAX_HOPS = 40
_RETRIES = 64
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]  # fmt: skip


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def openat2(dirfd: int, path: str, flags: int, *, resolve: int, mode: int = 0) -> int:
    """The raw system call; raises OSError (ENOSYS where the kernel lacks it)."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    syscall = _libc().syscall
    syscall.restype = ctypes.c_long
    fd = syscall(
        ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), ctypes.c_char_p(os.fsencode(path)),
        ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)),
    )  # fmt: skip
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def _probe() -> str:
    try:
        os.close(openat2(-100, "/", _O_PATH_DIR, resolve=RESOLVE_IN_ROOT))  # AT_FDCWD
    except OSError as e:
        if e.errno in (errno.ENOSYS, errno.EPERM, errno.EINVAL):
            return "walk"
        raise
    return "openat2"


BACKEND = _probe()


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH, *, walk: bool = False) -> int:
    """A descriptor of ``path`` resolved with ``root_fd`` as ``/`` (``O_NOFOLLOW`` in
    ``flags``: a final symlink is opened itself). ``walk``: use the user-space walk even
    where openat2 exists (tests compare the two)."""
    if BACKEND == "openat2" and not walk:
        resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
        for _ in range(_RETRIES):
            try:
                return openat2(root_fd, path or ".", flags, resolve=resolve)
            except OSError as e:
                if e.errno != errno.EAGAIN:
                    raise
        raise OSError(errno.EAGAIN, "resolution kept racing with renames", path)
    return _walk_in_root(root_fd, path, flags)


def _walk_in_root(root_fd: int, path: str, flags: int) -> int:
    """openat2(RESOLVE_IN_ROOT) in user space, one ``O_NOFOLLOW`` component at a time."""
    stack = [os.dup(root_fd)]
    pending = path.split("/")
    hops = 0
    try:
        while pending:
            comp = pending.pop(0)
            if comp in ("", "."):
                continue
            if comp == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                continue
            last = not any(p not in ("", ".") for p in pending)
            st = os.stat(comp, dir_fd=stack[-1], follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode) and not (last and flags & os.O_NOFOLLOW):
                hops += 1
                if hops > _MAX_HOPS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(comp, dir_fd=stack[-1])
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                pending[:0] = target.split("/")
                continue
            if last:
                return os.open(comp, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=stack[-1])
            stack.append(os.open(comp, _O_PATH_DIR | os.O_NOFOLLOW, dir_fd=stack[-1]))
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=stack[-1])
    finally:
        for fd in stack:
            os.close(fd)


def mkdir_in_root(root_fd: int, path: str, mode: int = 0o755, *, walk: bool = False) -> int:
    """An ``O_PATH`` descriptor of directory ``path`` in ``root_fd``, made (with its
    missing parents) where absent; symlinks met on the way are resolved in the root.
    ENOTDIR where a component is not a directory."""
    comps = [p for p in path.split("/") if p not in ("", ".")]
    cur = os.dup(root_fd)
    try:
        for i, comp in enumerate(comps):
            try:
                nxt = open_in_root(root_fd, "/".join(comps[: i + 1]), _O_PATH_DIR, walk=walk)
            except FileNotFoundError:
                if comp == "..":
                    raise
                try:
                    os.mkdir(comp, mode, dir_fd=cur)
                except FileExistsError:
                    pass  # made meanwhile (or a dangling symlink: the open below fails)
                nxt = os.open(comp, _O_PATH_DIR | os.O_NOFOLLOW, dir_fd=cur)
            os.close(cur)
            cur = nxt
        return cur
    except BaseException:
        os.close(cur)
        raise


def fd_path(fd: int) -> str:
    """``/proc/self/fd/N``: a path the kernel resolves to exactly the file of ``fd``."""
    return f"/proc/self/fd/{fd}"


def touch_in_root(root_fd: int, path: str, mode: int = 0o644, *, walk: bool = False) -> int:
    """An ``O_PATH`` descriptor of ``path`` in ``root_fd`` (a final symlink resolved in the
    root, as a mount destination is); where nothing is there, an empty file is made (its
    missing parents as by :func:`mkdir_in_root`). ENOENT for a dangling symlink."""
    try:
        return open_in_root(root_fd, path, walk=walk)
    except FileNotFoundError:
        pass
    head, _, name = path.rstrip("/").rpartition("/")
    if name in ("", ".", ".."):
        raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    parent = mkdir_in_root(root_fd, head, walk=walk)
    try:
        flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        os.close(os.open(name, flags, mode, dir_fd=parent))
    except FileExistsError:
        pass  # made meanwhile, or a dangling symlink (refused by the open below)
    finally:
        os.close(parent)
    return open_in_root(root_fd, path, walk=walk)


def fs_magic(fd: int) -> int:
    """The filesystem type (``f_type`` of ``fstatfs(2)``) of the file of ``fd``."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit
    if _libc().fstatfs(ctypes.c_int(fd), buf) < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF
