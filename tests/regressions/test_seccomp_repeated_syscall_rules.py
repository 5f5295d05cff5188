"""Regression (issue 21, 3f): podman's default profile lists ``socket`` several times
with different argument conditions (and once twice the same); with the x86 and x32
architectures beside x86_64 (as podman asks), libseccomp refused the third one on x86,
where ``socket`` is rewritten to the multiplexed ``socketcall`` (EEXIST), and the whole
profile failed to load: ``syscalls[20] socket: File exists``."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidArgument
from dockyard.linux.seccomp import compile_filter
from dockyard.oci.runtime_spec import parse_spec

ARCHES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
AF_NETLINK, NETLINK_AUDIT = 16, 9


def _profile(rules: list[dict[str, object]]) -> object:
    spec = parse_spec({"ociVersion": "1.2.0", "process": {"args": ["true"], "cwd": "/"},
                       "root": {"path": "rootfs"}, "linux": {"seccomp": {
                           "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                           "architectures": ARCHES, "syscalls": rules}}})  # fmt: skip
    assert spec.linux is not None and spec.linux.seccomp is not None
    return spec.linux.seccomp


def _cmp(index: int, value: int, op: str) -> dict[str, object]:
    return {"index": index, "value": value, "op": op}


PODMAN_SOCKET = [  # podman's default profile for a container without CAP_AUDIT_WRITE
    {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
    {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
     "args": [_cmp(0, AF_NETLINK, "SCMP_CMP_EQ"), _cmp(2, NETLINK_AUDIT, "SCMP_CMP_EQ")]},
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [_cmp(2, 9, "SCMP_CMP_NE")]},
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [_cmp(0, 16, "SCMP_CMP_NE")]},
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [_cmp(2, 9, "SCMP_CMP_NE")]},
]  # fmt: skip


def test_podman_socket_rules_compile() -> None:
    bpf = compile_filter(_profile(PODMAN_SOCKET))  # type: ignore[arg-type]
    assert bpf and len(bpf) % 8 == 0


def test_a_real_conflict_on_the_native_arch_is_still_refused() -> None:
    same_args = {"args": [_cmp(0, 2, "SCMP_CMP_EQ")]}
    rules = [{"names": ["socket"], "action": "SCMP_ACT_ALLOW", **same_args},
             {"names": ["socket"], "action": "SCMP_ACT_KILL", **same_args}]  # fmt: skip
    with pytest.raises(InvalidArgument, match=r"syscalls\[1\] socket"):
        compile_filter(_profile(rules))  # type: ignore[arg-type]
