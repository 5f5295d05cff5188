"""Seccomp: compile an OCI ``linux.seccomp`` profile to BPF and cache it.

Compiling Docker's default profile through libseccomp costs several
milliseconds (plus importing pyseccomp), and the same profile is used by almost
every container. So :func:`filter_program` compiles once per profile and keeps
the exported BPF program under a cache directory, named by a hash of the parsed
profile (and the machine); later starts read the file and load it with
``seccomp(SECCOMP_SET_MODE_FILTER)`` directly, never importing pyseccomp.

Semantics follow the runtime spec and runc's behaviour: syscall names this
kernel or libseccomp does not know are skipped; a rule whose action equals the
default action is dropped (libseccomp refuses it); several conditions on the
same argument index become one rule per condition (libseccomp cannot AND them);
``errnoRet`` defaults to EPERM. ``SCMP_ACT_NOTIFY`` (seccomp user notification)
is not supported and raises Unavailable.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument, Unavailable
from dockyard.linux.constants import SECCOMP_FILTER_FLAGS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.oci.runtime_spec import Seccomp, SeccompSyscall

__all__ = ["compile_filter", "filter_flags", "filter_program", "profile_key"]

_CACHE_VERSION = b"dockyard-seccomp-1"
_EPERM = 1


def profile_key(profile: Seccomp) -> str:
    """A stable hash of a parsed profile (its dataclass repr) and this machine."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # no OpenSSL load
    except ImportError:  # pragma: no cover - newer Pythons
        from hashlib import sha256
    data = _CACHE_VERSION + os.uname().machine.encode() + repr(profile).encode()
    return str(sha256(data).hexdigest())


def filter_flags(profile: Seccomp) -> int:
    """The ``seccomp(2)`` flags of the profile's ``flags[]``."""
    out = 0
    for f in profile.flags:
        out |= SECCOMP_FILTER_FLAGS[f]
    return out


def _action(sc: Any, name: str, errno_ret: int | None) -> int:
    if name == "SCMP_ACT_NOTIFY":
        raise Unavailable("load seccomp profile: SCMP_ACT_NOTIFY is not supported")
    if errno_ret is not None and name not in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        raise InvalidArgument(f"load seccomp profile: errnoRet is not valid with {name}")
    table = {
        "SCMP_ACT_KILL": sc.KILL_THREAD,
        "SCMP_ACT_KILL_THREAD": sc.KILL_THREAD,
        "SCMP_ACT_KILL_PROCESS": sc.KILL_PROCESS,
        "SCMP_ACT_TRAP": sc.TRAP,
        "SCMP_ACT_ALLOW": sc.ALLOW,
        "SCMP_ACT_LOG": sc.LOG,
    }
    if name == "SCMP_ACT_ERRNO":
        return int(sc.ERRNO(_EPERM if errno_ret is None else errno_ret))
    if name == "SCMP_ACT_TRACE":
        return int(sc.TRACE(_EPERM if errno_ret is None else errno_ret))
    return int(table[name])


_OPS = {
    "SCMP_CMP_NE": 1,
    "SCMP_CMP_LT": 2,
    "SCMP_CMP_LE": 3,
    "SCMP_CMP_EQ": 4,
    "SCMP_CMP_GE": 5,
    "SCMP_CMP_GT": 6,
    "SCMP_CMP_MASKED_EQ": 7,
}


def _arch(sc: Any, name: str) -> int:
    attr = name.removeprefix("SCMP_ARCH_")
    value = getattr(sc.Arch, attr, None)
    if value is None:
        raise InvalidArgument(f"load seccomp profile: unknown architecture {name!r}")
    return int(value)


def _arg_groups(rule: SeccompSyscall) -> list[tuple[tuple[int, int, int, int], ...]]:
    """The rule's conditions as libseccomp rules: (index, op, value, value_two) each."""
    args = [(a.index, _OPS[a.op], a.value, a.value_two) for a in rule.args]
    indexes = [a.index for a in rule.args]
    if len(set(indexes)) == len(indexes):
        return [tuple(args)]
    return [(a,) for a in args]  # conditions on one index: one rule each (OR)


def _add_rules(sc: Any, filt: Any, profile: Seccomp, default: int, *, compat: bool) -> None:
    """The profile's rules into ``filt`` (one architecture; see :func:`compile_filter`)."""
    import errno

    seen: set[tuple[int, int, tuple[tuple[int, int, int, int], ...]]] = set()
    for i, rule in enumerate(profile.syscalls):
        action = _action(sc, rule.action, rule.errno_ret)
        if action == default:
            continue
        for name in rule.names:
            nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
            if nr < 0:
                continue  # unknown to this kernel/libseccomp: skipped, as runc does
            for group in _arg_groups(rule):
                if (action, nr, group) in seen:
                    continue  # the same rule again: once is enough
                seen.add((action, nr, group))
                try:
                    filt.add_rule(action, nr, *(sc.Arg(*a) for a in group))
                except OSError as e:
                    if compat and e.errno == errno.EEXIST and action == sc.ALLOW:
                        continue  # not expressible on this compat arch: default there
                    raise InvalidArgument(
                        f"load seccomp profile: syscalls[{i}] {name}: {e.strerror or e}"
                    ) from None


def compile_filter(profile: Seccomp) -> bytes:
    """Compile ``profile`` with libseccomp and return the BPF program bytes.

    One filter per architecture, merged at the end: a rule libseccomp cannot express on
    a compat architecture (on x86, ``socket`` becomes the multiplexed ``socketcall``,
    whose first argument is the call number: podman's ``socket`` rules on argument 0
    conflict there, EEXIST) is left out of that architecture alone when it only allows
    (its calls keep the default action, which is stricter); identical rules are added
    once (libseccomp takes one duplicate, but its socketcall rewrite may not)."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as e:  # pragma: no cover - pyseccomp is a dependency
        raise Unavailable(f"load seccomp profile: libseccomp is not available: {e}") from None
    default = _action(sc, profile.default_action, profile.default_errno_ret)
    native = sc.system_arch()
    arches = [native]
    for name in profile.architectures:
        arch = _arch(sc, name)
        if arch not in arches:
            arches.append(arch)
    filters = []
    for arch in arches:
        filt = sc.SyscallFilter(default)
        if arch != native:
            filt.add_arch(arch)
            filt.remove_arch(native)
        _add_rules(sc, filt, profile, default, compat=arch != native)
        filters.append(filt)
    filt = filters[0]
    for other in filters[1:]:
        filt.merge(other)
    fd = os.memfd_create("dockyard-seccomp", os.MFD_CLOEXEC)
    try:
        filt.export_bpf(_Fd(fd))
        size = os.lseek(fd, 0, os.SEEK_END)
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


class _Fd:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd


def filter_program(profile: Seccomp, cache_dir: str | os.PathLike[str] | None) -> bytes:
    """The BPF program for ``profile``, from ``cache_dir`` when compiled before."""
    if cache_dir is None:
        return compile_filter(profile)
    path = os.path.join(cache_dir, profile_key(profile) + ".bpf")
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data and len(data) % 8 == 0:
            return data
    except OSError:
        pass
    data = compile_filter(profile)
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs speed
    return data
