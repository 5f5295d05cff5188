"""What keeps a container from the descriptors of a process entering it (issue 13, item
4), unit level: the seal (non-dumpable, fds closed) and the seccomp gate on
``pidfd_getfd``/``kcmp``/``process_madvise``. The attack on the real kernel is in
``tests/integration/test_escape_descriptors.py``."""

from __future__ import annotations

import ast
import os
import socket

import pytest

from dockyard.errors import Unavailable
from dockyard.linux import RecordingSyscalls
from dockyard.linux import constants as c
from dockyard.runtime import defaults
from dockyard.runtime.console import accept_from
from dockyard.runtime.defaults import DEFAULT_CAPS, default_seccomp
from dockyard.runtime.init import seal

GATED = ("kcmp", "pidfd_getfd", "process_madvise")
FROM_4_8 = ("ptrace", "process_vm_readv", "process_vm_writev")


def _allowed(profile: dict[str, object]) -> set[str]:
    out: set[str] = set()
    for rule in profile["syscalls"]:  # type: ignore[attr-defined]
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args"):
            out.update(rule["names"])
    return out


def test_descriptor_and_memory_syscalls_need_sys_ptrace() -> None:
    plain = _allowed(default_seccomp())
    assert not plain & set(GATED)
    assert set(FROM_4_8) <= plain  # Docker's minKernel 4.8 rule
    traced = _allowed(default_seccomp([*DEFAULT_CAPS, "CAP_SYS_PTRACE"]))
    assert set(GATED) <= traced
    assert _allowed(default_seccomp(["SYS_PTRACE"])) >= set(GATED)  # either spelling


def test_before_4_8_ptrace_needs_the_capability_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(defaults, "_kernel_at_least", lambda _major, _minor: False)
    assert not _allowed(default_seccomp()) & set(FROM_4_8 + GATED)
    assert set(FROM_4_8 + GATED) <= _allowed(default_seccomp(["CAP_SYS_PTRACE"]))


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_seal_turns_non_dumpable_and_closes_all_but_what_is_kept() -> None:
    """In a fork (it closes descriptors): which of ours are still open is reported."""
    r, w = os.pipe()
    extra = [os.open("/dev/null", os.O_RDONLY) for _ in range(3)]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            sc = RecordingSyscalls()
            seal(sc, 3, {w, extra[1]})
            state = [_is_open(fd) for fd in (0, 1, 2, *extra)]
            os.write(w, repr((sc.calls, state)).encode())
        finally:
            os._exit(0)
    os.close(w)
    try:
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.waitpid(pid, 0)
    finally:
        os.close(r)
        for fd in extra:
            os.close(fd)
    calls, state = ast.literal_eval(data.decode())
    assert calls == [("prctl", (c.PR_SET_DUMPABLE, 0, 0, 0))]
    assert state == [True, True, True, False, True, False]


def test_accept_from_gives_up_when_the_runtime_never_calls(tmp_path: object) -> None:
    a, b = socket.socketpair()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(tmp_path) + "/c.sock")
        listener.listen(1)
        with pytest.raises(Unavailable, match="did not call"):
            accept_from(listener, os.getpid(), 0.2)
    finally:
        listener.close()
        a.close()
        b.close()
