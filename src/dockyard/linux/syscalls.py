"""The kernel seam: every namespace, mount and credential call goes through here.

:class:`Syscalls` is the protocol; :class:`LibcSyscalls` makes the real calls
through ctypes (libc is loaded once, with ``use_errno``), and
:class:`RecordingSyscalls` records each call as ``(name, args)`` so unit tests
can assert the exact sequence (for example the mount sequence of the container
init) without root.

A failing call raises a :mod:`dockyard.errors` class chosen by errno:
EPERM/EACCES → PermissionDenied, EINVAL/ENOENT/ENOTDIR/EEXIST/EBUSY/… →
InvalidArgument, ENOSYS/EOPNOTSUPP → Unavailable, anything else → Internal. The
message names the call and its object and ends with the errno name, for example
``mount proc on /proc: EPERM (operation not permitted)``.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os

from dockyard.errors import (
    DockyardError,
    Internal,
    InvalidArgument,
    PermissionDenied,
    Unavailable,
)
from dockyard.linux import constants as c

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:  # keep ``typing`` off the container start path
    Protocol = object

__all__ = [
    "LibcSyscalls",
    "RecordingSyscalls",
    "Syscalls",
    "errno_error",
    "set_comm",
    "why",
]

_INVALID = {
    _errno.EINVAL,
    _errno.ENOENT,
    _errno.ENOTDIR,
    _errno.EEXIST,
    _errno.EBUSY,
    _errno.ELOOP,
    _errno.EISDIR,
    _errno.ENAMETOOLONG,
    _errno.EBADF,
    _errno.ENODEV,
}


def why(e: OSError) -> str:
    """The lower-case reason of an OSError (``no such file or directory``)."""
    return (e.strerror or str(e)).lower()


def errno_error(err: int, what: str) -> DockyardError:
    """The dockyard error for a failed call ``what`` that set ``err``."""
    name = _errno.errorcode.get(err, f"errno {err}")
    msg = f"{what}: {name} ({os.strerror(err).lower()})"
    if err in (_errno.EPERM, _errno.EACCES):
        return PermissionDenied(msg)
    if err in (_errno.ENOSYS, _errno.EOPNOTSUPP):
        return Unavailable(msg)
    if err in _INVALID:
        return InvalidArgument(msg)
    return Internal(msg)


class Syscalls(Protocol):
    """The calls the runtime makes into the kernel (names follow the syscalls)."""

    def unshare(self, flags: int) -> None: ...
    def setns(self, fd: int, nstype: int) -> None: ...
    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None: ...
    def umount2(self, target: str, flags: int) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def chroot(self, path: str) -> None: ...
    def chdir(self, path: str) -> None: ...
    def sethostname(self, name: str) -> None: ...
    def setdomainname(self, name: str) -> None: ...
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0) -> int: ...
    def capget(self) -> tuple[int, int, int]: ...
    def capset(self, effective: int, permitted: int, inheritable: int) -> None: ...
    def setresuid(self, ruid: int, euid: int, suid: int) -> None: ...
    def setresgid(self, rgid: int, egid: int, sgid: int) -> None: ...
    def setgroups(self, gids: list[int]) -> None: ...
    def mknod(self, path: str, mode: int, device: int) -> None: ...
    def personality(self, persona: int) -> None: ...
    def setrlimit(self, resource: int, soft: int, hard: int) -> None: ...
    def seccomp_filter(self, bpf: bytes, flags: int) -> None: ...
    def link_up(self, name: str) -> None: ...
    def mount_setattr(self, path: str, attr_clr: int, attr_set: int) -> None: ...


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


_CAP_V3 = 0x20080522
_LIBC: list[ctypes.CDLL] = []


def _lib() -> ctypes.CDLL:
    """libc, loaded once."""
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _b(s: str | None) -> bytes | None:
    return None if s is None else os.fsencode(s)


def _check(rc: int, what: str) -> int:
    if rc < 0:
        raise errno_error(ctypes.get_errno(), what)
    return rc


def _os(what: str, fn: object, *args: object) -> None:
    try:
        fn(*args)  # type: ignore[operator]
    except OSError as e:
        raise errno_error(e.errno or 0, what) from None


class LibcSyscalls(Syscalls):
    """The real kernel, through libc."""

    def unshare(self, flags: int) -> None:
        _check(_lib().unshare(flags), f"unshare 0x{flags:x}")

    def setns(self, fd: int, nstype: int) -> None:
        _check(_lib().setns(fd, nstype), f"setns fd {fd} type 0x{nstype:x}")

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        rc = _lib().mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data))
        _check(rc, f"mount {source or fstype or 'none'} on {target} (flags 0x{flags:x})")

    def umount2(self, target: str, flags: int) -> None:
        _check(_lib().umount2(_b(target), flags), f"umount {target}")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        rc = _lib().syscall(c.SYS_PIVOT_ROOT, _b(new_root), _b(put_old))
        _check(rc, f"pivot_root {new_root}")

    def chroot(self, path: str) -> None:
        _os(f"chroot {path}", os.chroot, path)

    def chdir(self, path: str) -> None:
        _os(f"chdir {path}", os.chdir, path)

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        _check(_lib().sethostname(raw, len(raw)), f"sethostname {name}")

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        _check(_lib().setdomainname(raw, len(raw)), f"setdomainname {name}")

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0) -> int:
        rc: int = _lib().prctl(
            option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4), 0
        )
        return _check(rc, f"prctl {option}")

    def capget(self) -> tuple[int, int, int]:
        hdr = _CapHeader(_CAP_V3, 0)
        data = (_CapData * 2)()
        _check(_lib().capget(ctypes.byref(hdr), data), "capget")
        return (
            data[0].effective | data[1].effective << 32,
            data[0].permitted | data[1].permitted << 32,
            data[0].inheritable | data[1].inheritable << 32,
        )

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        hdr = _CapHeader(_CAP_V3, 0)
        data = (_CapData * 2)()
        m = 0xFFFFFFFF
        data[0] = _CapData(effective & m, permitted & m, inheritable & m)
        data[1] = _CapData(effective >> 32, permitted >> 32, inheritable >> 32)
        _check(_lib().capset(ctypes.byref(hdr), data), "capset")

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        _os(f"setresuid {euid}", os.setresuid, ruid, euid, suid)

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        _os(f"setresgid {egid}", os.setresgid, rgid, egid, sgid)

    def setgroups(self, gids: list[int]) -> None:
        _os(f"setgroups {gids}", os.setgroups, gids)

    def mknod(self, path: str, mode: int, device: int) -> None:
        _os(f"mknod {path}", os.mknod, path, mode, device)

    def personality(self, persona: int) -> None:
        _check(_lib().personality(ctypes.c_ulong(persona)), f"personality 0x{persona:x}")

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        import resource as _resource

        inf = _resource.RLIM_INFINITY
        lim = (
            inf if soft >= 0xFFFFFFFFFFFFFFFF else soft,
            inf if hard >= 0xFFFFFFFFFFFFFFFF else hard,
        )
        try:
            _resource.setrlimit(resource, lim)
        except ValueError as e:  # Python's spelling of EPERM for a raised hard limit
            raise PermissionDenied(f"setrlimit {resource}: {e}") from None
        except OSError as e:
            raise errno_error(e.errno or 0, f"setrlimit {resource}") from None

    def seccomp_filter(self, bpf: bytes, flags: int) -> None:
        if len(bpf) % 8 or not bpf:
            raise InvalidArgument(f"load seccomp filter: bad program length {len(bpf)}")
        buf = ctypes.create_string_buffer(bpf, len(bpf))
        prog = _SockFprog(len(bpf) // 8, ctypes.addressof(buf))
        rc = _lib().syscall(
            c.SYS_SECCOMP, c.SECCOMP_SET_MODE_FILTER, ctypes.c_uint(flags), ctypes.byref(prog)
        )
        _check(rc, "load seccomp filter")

    def link_up(self, name: str) -> None:
        import _socket  # the C module: ``socket`` would pull in enum and selectors
        import fcntl

        s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        try:
            req = bytearray(40)
            req[: len(name)] = name.encode()
            fcntl.ioctl(s.fileno(), c.SIOCGIFFLAGS, req)
            flags = int.from_bytes(req[16:18], "little") | c.IFF_UP
            req[16:18] = flags.to_bytes(2, "little")
            fcntl.ioctl(s.fileno(), c.SIOCSIFFLAGS, req)
        except OSError as e:
            raise errno_error(e.errno or 0, f"set link {name} up") from None
        finally:
            s.close()

    def mount_setattr(self, path: str, attr_clr: int, attr_set: int) -> None:
        """Change mount attributes of ``path`` and every mount beneath it (AT_RECURSIVE)."""
        attr = (ctypes.c_uint64 * 4)(attr_set, attr_clr, 0, 0)  # struct mount_attr
        rc = _lib().syscall(
            c.SYS_MOUNT_SETATTR, c.AT_FDCWD, _b(path), c.AT_RECURSIVE, ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)),
        )  # fmt: skip
        _check(rc, f"mount_setattr {path} (set 0x{attr_set:x}, clear 0x{attr_clr:x})")


class RecordingSyscalls(Syscalls):
    """Records every call as ``(name, args)`` and succeeds, for unit tests.

    ``fail`` maps a call name to an errno: that call then raises the error the
    real implementation would. ``caps`` is what ``capget`` answers.
    """

    def __init__(self, fail: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.fail = dict(fail or {})
        self.caps = (0x1FFFFFFFFFF, 0x1FFFFFFFFFF, 0)

    def _rec(self, name: str, *args: object) -> None:
        self.calls.append((name, args))
        if name in self.fail:
            raise errno_error(self.fail[name], f"{name} {args[0] if args else ''}".strip())

    def names(self) -> list[str]:
        return [n for n, _ in self.calls]

    def of(self, name: str) -> list[tuple[object, ...]]:
        return [a for n, a in self.calls if n == name]

    def unshare(self, flags: int) -> None:
        self._rec("unshare", flags)

    def setns(self, fd: int, nstype: int) -> None:
        self._rec("setns", fd, nstype)

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        self._rec("mount", source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int) -> None:
        self._rec("umount2", target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._rec("pivot_root", new_root, put_old)

    def chroot(self, path: str) -> None:
        self._rec("chroot", path)

    def chdir(self, path: str) -> None:
        self._rec("chdir", path)

    def sethostname(self, name: str) -> None:
        self._rec("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._rec("setdomainname", name)

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0) -> int:
        self._rec("prctl", option, arg2, arg3, arg4)
        return 0

    def capget(self) -> tuple[int, int, int]:
        self._rec("capget")
        return self.caps

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        self._rec("capset", effective, permitted, inheritable)

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        self._rec("setresuid", ruid, euid, suid)

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        self._rec("setresgid", rgid, egid, sgid)

    def setgroups(self, gids: list[int]) -> None:
        self._rec("setgroups", list(gids))

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._rec("mknod", path, mode, device)

    def personality(self, persona: int) -> None:
        self._rec("personality", persona)

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        self._rec("setrlimit", resource, soft, hard)

    def seccomp_filter(self, bpf: bytes, flags: int) -> None:
        self._rec("seccomp_filter", len(bpf), flags)

    def link_up(self, name: str) -> None:
        self._rec("link_up", name)

    def mount_setattr(self, path: str, attr_clr: int, attr_set: int) -> None:
        self._rec("mount_setattr", path, attr_clr, attr_set)


_PR_SET_NAME = 15


def set_comm(sc: Syscalls, name: bytes) -> None:
    """``prctl(PR_SET_NAME)`` through ``sc``: this thread's comm (the kernel keeps 15 bytes),
    no ``/proc`` needed. The C buffer the call points at lives until the call returns."""
    buf = ctypes.create_string_buffer(name)
    sc.prctl(_PR_SET_NAME, ctypes.addressof(buf))
