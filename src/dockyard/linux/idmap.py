"""Idmapped mounts (Linux 5.12+): a tree shown with its owners shifted by a user namespace.

``userns_fd(maps)`` makes a user namespace that holds the mappings and nothing else (a
child process unshares it, this process writes its maps, opens ``/proc/<pid>/ns/user``
and lets the child go); ``idmapped_tree(path, ns_fd)`` returns a detached copy of the
mount at ``path`` (``open_tree(OPEN_TREE_CLONE)``) whose ids are shifted by that
namespace (``mount_setattr(MOUNT_ATTR_IDMAP)``); ``attach(tree_fd, target)`` puts it in
the mount table (``move_mount``). A file owned by 0 on disk is then owned, through the
mount, by the host id the namespace maps 0 to.

Which kernels do what (docs/decisions/userns.md): idmapped mounts came in 5.12 (ext4,
xfs, fat); btrfs 5.15; overlayfs accepts idmapped *lower and upper layers* from 5.19;
tmpfs can be idmapped from 6.3. :func:`supported` probes a directory's filesystem by
making (and dropping) one detached idmapped copy.

Errors: as :mod:`dockyard.linux.syscalls` (EINVAL from ``mount_setattr`` is the
filesystem refusing an idmap: Unavailable here, with the filesystem named).
"""

from __future__ import annotations

import ctypes
import errno
import os

from dockyard.errors import DockyardError, Unavailable
from dockyard.linux.syscalls import _lib, errno_error

__all__ = ["attach", "idmapped_tree", "supported", "userns_fd"]

SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_MOUNT_SETATTR = 442
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_IDMAP = 0x00100000
CLONE_NEWUSER = 0x10000000

Maps = tuple[tuple[tuple[int, int, int], ...], tuple[tuple[int, int, int], ...]]


def userns_fd(uid_maps: list[tuple[int, int, int]], gid_maps: list[tuple[int, int, int]]) -> int:
    """An fd of a new user namespace with these ``(inside, outside, count)`` maps."""
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: unshare, say so, wait until the parent has what it needs
        try:
            os.close(ready_r)
            os.close(go_w)
            ok = _lib().unshare(CLONE_NEWUSER) == 0
            os.write(ready_w, b"1" if ok else b"0")
            os.read(go_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise Unavailable("idmap: unshare a user namespace: not permitted here")
        for name, maps in (("uid_map", uid_maps), ("gid_map", gid_maps)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write("".join(f"{a} {b} {n}\n" for a, b, n in maps))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise errno_error(e.errno or 0, "idmap: make a user namespace") from None
    finally:
        os.close(ready_r)
        os.close(go_w)  # the child reads EOF and exits
        os.waitpid(pid, 0)


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def idmapped_tree(path: str, ns_fd: int, *, recursive: bool = False) -> int:
    """A detached copy of the mount tree at ``path``, idmapped by ``ns_fd``; its fd."""
    lib = _lib()
    flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    fd = int(lib.syscall(SYS_OPEN_TREE, AT_FDCWD, os.fsencode(path), ctypes.c_uint(flags)))
    if fd < 0:
        raise errno_error(ctypes.get_errno(), f"idmap {path}: open_tree")
    attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, ns_fd)
    at = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    rc = lib.syscall(
        SYS_MOUNT_SETATTR, fd, b"", ctypes.c_uint(at),
        ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
    )  # fmt: skip
    if rc < 0:
        err = ctypes.get_errno()
        os.close(fd)
        if err in (errno.EINVAL, errno.EPERM, errno.ENOSYS, errno.EOPNOTSUPP):
            raise Unavailable(
                f"idmap {path}: the {_fstype(path)} filesystem cannot be idmapped on "
                f"Linux {os.uname().release} ({errno.errorcode.get(err, err)})"
            )
        raise errno_error(err, f"idmap {path}: mount_setattr")
    return fd


def attach(tree_fd: int, target: str) -> None:
    """Mount the detached tree ``tree_fd`` on ``target``."""
    rc = _lib().syscall(
        SYS_MOVE_MOUNT, tree_fd, b"", AT_FDCWD, os.fsencode(target),
        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
    )  # fmt: skip
    if rc < 0:
        raise errno_error(ctypes.get_errno(), f"idmap: move_mount to {target}")


_SUPPORTED: dict[int, bool] = {}


def supported(path: str) -> bool:
    """Whether the filesystem of ``path`` can be idmapped here (probed once per device)."""
    dev = os.stat(path).st_dev
    if dev not in _SUPPORTED:
        try:
            ns = userns_fd([(0, 100000, 1)], [(0, 100000, 1)])
        except DockyardError:
            _SUPPORTED[dev] = False
            return False
        try:
            os.close(idmapped_tree(path, ns))
            _SUPPORTED[dev] = True
        except DockyardError:
            _SUPPORTED[dev] = False
        finally:
            os.close(ns)
    return _SUPPORTED[dev]


def _fstype(path: str) -> str:
    """The filesystem type of the mount holding ``path`` (from mountinfo)."""
    best, kind = "", "unknown"
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                mnt = fields[4]
                sep = fields.index("-")
                if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(
                    best
                ):
                    best, kind = mnt, fields[sep + 1]
    except (OSError, ValueError):
        pass
    return kind
