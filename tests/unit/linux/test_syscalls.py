"""The kernel seam: errno mapping, the recorder, and seccomp compilation/caching."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from dockyard.errors import Internal, InvalidArgument, PermissionDenied, Unavailable
from dockyard.linux import RecordingSyscalls, errno_error
from dockyard.linux.seccomp import compile_filter, filter_flags, filter_program, profile_key
from dockyard.oci.runtime_spec import parse_spec


@pytest.mark.parametrize(
    ("err", "cls", "name"),
    [
        (errno.EPERM, PermissionDenied, "EPERM"),
        (errno.EACCES, PermissionDenied, "EACCES"),
        (errno.EINVAL, InvalidArgument, "EINVAL"),
        (errno.ENOENT, InvalidArgument, "ENOENT"),
        (errno.ENOSYS, Unavailable, "ENOSYS"),
        (errno.EIO, Internal, "EIO"),
    ],
)
def test_errno_error(err: int, cls: type, name: str) -> None:
    e = errno_error(err, "mount proc on /proc")
    assert isinstance(e, cls)
    assert str(e).startswith(f"mount proc on /proc: {name} (")
    assert str(e) == str(e).lower() or name in str(e)


def test_recording_syscalls_records_and_fails() -> None:
    sc = RecordingSyscalls(fail={"sethostname": errno.EPERM})
    sc.mount("proc", "/proc", "proc", 0, None)
    with pytest.raises(PermissionDenied, match="sethostname box: EPERM"):
        sc.sethostname("box")
    assert sc.names() == ["mount", "sethostname"]


def _profile(**kw: object) -> object:
    prof = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["read", "write", "no_such_syscall_xyz"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
            {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
    ], **kw}  # fmt: skip
    spec = parse_spec({"ociVersion": "1.0.0", "linux": {"seccomp": prof}})
    assert spec.linux is not None
    return spec.linux.seccomp


def test_compile_filter_makes_bpf() -> None:
    bpf = compile_filter(_profile())  # type: ignore[arg-type]
    assert bpf and len(bpf) % 8 == 0


def test_filter_cache(tmp_path: Path) -> None:
    prof = _profile(flags=["SECCOMP_FILTER_FLAG_LOG"])
    first = filter_program(prof, tmp_path)  # type: ignore[arg-type]
    cached = tmp_path / (profile_key(prof) + ".bpf")  # type: ignore[arg-type]
    assert cached.read_bytes() == first
    assert filter_program(prof, tmp_path) == first  # type: ignore[arg-type]
    assert filter_flags(prof) == 2  # type: ignore[arg-type]
    assert profile_key(_profile()) != profile_key(prof)  # type: ignore[arg-type]


def test_notify_and_bad_errno_ret() -> None:
    with pytest.raises(Unavailable, match="SCMP_ACT_NOTIFY"):
        compile_filter(_profile(defaultAction="SCMP_ACT_NOTIFY"))  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="errnoRet"):
        compile_filter(
            _profile(syscalls=[{"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}])  # type: ignore[arg-type]
        )
