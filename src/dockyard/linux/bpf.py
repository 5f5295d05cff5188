"""The kernel seam for eBPF: the few ``bpf(2)`` commands device control needs.

Terms: a *program* is a list of 8-byte ``struct bpf_insn`` loaded with BPF_PROG_LOAD, which
answers a file descriptor; *attaching* it to a cgroup2 directory (an ``O_DIRECTORY`` fd of
the cgroup) with BPF_PROG_ATTACH makes the kernel run it for the members of that cgroup;
the attachment holds a reference, so the program lives on after its fd is closed, until it
is detached (BPF_PROG_DETACH) or the cgroup is removed. BPF_PROG_QUERY lists the ids of the
programs attached to one cgroup, BPF_PROG_GET_FD_BY_ID turns an id back into an fd.

Example (what :func:`dockyard.cgroups.v2.devices.install` does)::

    bpf = LibcBpf()
    dirfd = os.open("/sys/fs/cgroup/dockyard/abc", os.O_RDONLY | os.O_DIRECTORY)
    old = bpf.prog_query(dirfd, BPF_CGROUP_DEVICE)
    fd = bpf.prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, insns)
    bpf.prog_attach(dirfd, fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)
    for prog_id in old:
        old_fd = bpf.prog_get_fd_by_id(prog_id)   # None: gone meanwhile
        bpf.prog_detach(dirfd, old_fd, BPF_CGROUP_DEVICE)

Errors: through :func:`dockyard.linux.syscalls.errno_error` (EPERM → PermissionDenied,
ENOSYS/EOPNOTSUPP → Unavailable, EINVAL/ENOENT/EBADF → InvalidArgument); a program the
verifier refuses raises :class:`Internal` (the generator is at fault) with the verifier's
log in the message. Only the syscall is made here; which programs to attach, and in what
order, is the caller's policy.

ctypes rather than a library: there is no maintained pure-Python binding of ``bpf(2)``
(bcc and libbpf's Python wrappers need clang/LLVM or a compiled library at run time), and
these five commands are a fixed struct each.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import struct

from dockyard.errors import Internal
from dockyard.linux.syscalls import _lib, errno_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object

__all__ = [
    "BPF_CGROUP_DEVICE",
    "BPF_F_ALLOW_MULTI",
    "BPF_PROG_TYPE_CGROUP_DEVICE",
    "Bpf",
    "LibcBpf",
    "SYS_BPF",
]

SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)

# enum bpf_cmd
_PROG_LOAD = 5
_PROG_ATTACH = 8
_PROG_DETACH = 9
_PROG_GET_FD_BY_ID = 13
_PROG_QUERY = 16

BPF_PROG_TYPE_CGROUP_DEVICE = 15  # enum bpf_prog_type
BPF_CGROUP_DEVICE = 6  # enum bpf_attach_type
BPF_F_ALLOW_MULTI = 2

# union bpf_attr is 120+ bytes and grows with kernels; the kernel accepts a larger buffer
# as long as the bytes it does not know are zero.
_ATTR_SIZE = 144
_LOG_SIZE = 1 << 16
_QUERY_MAX = 64  # the kernel's BPF_CGROUP_MAX_PROGS


class Bpf(Protocol):
    """The ``bpf(2)`` commands, one method each; fds returned are the caller's to close."""

    def prog_load(self, prog_type: int, insns: bytes, license: str = "Apache-2.0") -> int: ...
    def prog_attach(self, target_fd: int, prog_fd: int, attach_type: int, flags: int) -> None: ...
    def prog_detach(self, target_fd: int, prog_fd: int, attach_type: int) -> bool: ...
    def prog_query(self, target_fd: int, attach_type: int) -> list[int]: ...
    def prog_get_fd_by_id(self, prog_id: int) -> int | None: ...
    def close(self, fd: int) -> None: ...


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> tuple[int, int]:
    """(result, errno) of one ``bpf(cmd, attr, sizeof attr)``."""
    rc: int = _lib().syscall(SYS_BPF, cmd, attr, ctypes.c_uint(_ATTR_SIZE))
    return rc, ctypes.get_errno() if rc < 0 else 0


def _attr() -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(_ATTR_SIZE)


def _raise_memlock() -> None:
    """Kernels before 5.11 charge programs to RLIMIT_MEMLOCK (64 KiB by default): lift the
    soft limit to the hard one, best effort (the container's init was forked already)."""
    import resource

    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (hard, hard))
    except (OSError, ValueError):
        pass


class LibcBpf(Bpf):
    """The real kernel, through libc's ``syscall``."""

    def prog_load(self, prog_type: int, insns: bytes, license: str = "Apache-2.0") -> int:
        if not insns or len(insns) % 8:
            raise Internal(f"load bpf program: bad program length {len(insns)}")
        code = ctypes.create_string_buffer(insns, len(insns))
        lic = ctypes.create_string_buffer(license.encode())
        log = ctypes.create_string_buffer(_LOG_SIZE)

        def attempt(with_log: bool) -> tuple[int, int]:
            a = _attr()
            # prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
            struct.pack_into(
                "=IIQQIIQ", a, 0, prog_type, len(insns) // 8, ctypes.addressof(code),
                ctypes.addressof(lic), 1 if with_log else 0, _LOG_SIZE if with_log else 0,
                ctypes.addressof(log) if with_log else 0,
            )  # fmt: skip
            struct.pack_into("=16s", a, 48, b"dockyard_dev")  # prog_name (4.15+; bpftool shows it)
            return _bpf(_PROG_LOAD, a)

        fd, err = attempt(False)
        if fd < 0 and err == _errno.EPERM:
            _raise_memlock()
            fd, err = attempt(False)
        if fd >= 0:
            return fd
        if err in (_errno.EINVAL, _errno.EACCES):
            fd, err = attempt(True)  # again, for the verifier's reasons
            if fd >= 0:
                return fd
            text = log.value.decode(errors="replace").strip()
            if text:
                reason = " | ".join(text.splitlines()[-8:])
                raise Internal(f"load bpf program: refused by the verifier: {reason}")
        if err == _errno.EINVAL:  # no verifier log: the kernel does not know the type
            err = _errno.EOPNOTSUPP
        raise errno_error(err, f"load bpf program (type {prog_type})")

    def prog_attach(self, target_fd: int, prog_fd: int, attach_type: int, flags: int) -> None:
        a = _attr()
        struct.pack_into("=IIII", a, 0, target_fd, prog_fd, attach_type, flags)
        rc, err = _bpf(_PROG_ATTACH, a)
        if rc < 0:
            raise errno_error(err, f"attach bpf program (attach type {attach_type})")

    def prog_detach(self, target_fd: int, prog_fd: int, attach_type: int) -> bool:
        """False when the program was not attached there (ENOENT)."""
        a = _attr()
        struct.pack_into("=III", a, 0, target_fd, prog_fd, attach_type)
        rc, err = _bpf(_PROG_DETACH, a)
        if rc < 0 and err == _errno.ENOENT:
            return False
        if rc < 0:
            raise errno_error(err, f"detach bpf program (attach type {attach_type})")
        return True

    def prog_query(self, target_fd: int, attach_type: int) -> list[int]:
        ids = (ctypes.c_uint32 * _QUERY_MAX)()
        a = _attr()
        # target_fd, attach_type, query_flags, attach_flags, prog_ids (aligned u64), prog_cnt
        struct.pack_into(
            "=IIIIQI", a, 0, target_fd, attach_type, 0, 0, ctypes.addressof(ids), _QUERY_MAX
        )
        rc, err = _bpf(_PROG_QUERY, a)
        if rc < 0:
            raise errno_error(err, f"query bpf programs (attach type {attach_type})")
        (count,) = struct.unpack_from("=I", a, 24)
        return list(ids[: min(count, _QUERY_MAX)])

    def prog_get_fd_by_id(self, prog_id: int) -> int | None:
        """None when no program has that id (any more)."""
        a = _attr()
        struct.pack_into("=I", a, 0, prog_id)
        fd, err = _bpf(_PROG_GET_FD_BY_ID, a)
        if fd < 0 and err == _errno.ENOENT:
            return None
        if fd < 0:
            raise errno_error(err, f"open bpf program {prog_id}")
        return fd

    def close(self, fd: int) -> None:
        os.close(fd)
