"""Holders: the one process a running container keeps alive on the host.

A container's init (and an exec'd process) is the child of its **holder**: a process
forked by the launcher (:mod:`dockyard.engine.launcher`) for the supervisor
(:mod:`dockyard.engine.shim`, a thread of the daemon); it launches the init through the
runtime, answers the supervisor, and then replaces itself
(``execve``) with a program of a few bytes that calls ``pause()`` forever. Being the
init's parent and never waiting for it, the holder keeps the init's exit status in the
kernel (a zombie's ``/proc/<pid>/stat`` field 52) until the supervisor has read it;
holding the read ends of the output pipes (or the pty master), it keeps them alive while
no supervisor runs: the container's output waits in the pipe (it blocks once the pipe is
full; nothing is lost) until the next daemon takes the descriptors back with
``pidfd_getfd(2)``.

Its resident memory is that of a static program with one page of code: 8-12 KB in
``python -m bench daemon``, against conmon's ~1.9 MB (docs/decisions/0006-holders.md).
The program is written by :func:`install` as an ELF file under the run root
(``dockyard-holder``) for x86-64;
elsewhere the holder is ``busybox sleep`` when busybox is there (~1.9 MB, measured by
hand), else a Python ``pause()`` loop (correct, only bigger).

A holder is released by the supervisor once the exit is recorded: ``SIGKILL``; the
launcher that forked it (a child subreaper) reaps it, then inherits and reaps the zombie
init; a holder adopted from an earlier daemon goes to PID 1 (or a subreaper above).

Records (``<run_root>/holders/<key>.json``) name each holder and what it holds, so a
supervisor that starts after a ``kill -9`` of the daemon takes every container back.
"""

from __future__ import annotations

import json
import os
import platform
import struct
import sys

from dockyard.linux.fdcalls import pidfd_getfd  # re-exported: the shim takes pipes back

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

__all__ = [
    "HOLD_FDS",
    "exec_holder",
    "exit_status",
    "install",
    "pidfd_getfd",
    "program",
    "read_records",
    "remove_record",
    "start_time",
    "write_record",
]

# where a holder keeps what it holds (a record names which of them it has)
HOLD_FDS = {"stdout": 3, "stderr": 4, "tty": 5}
_NAME = "dockyard-holder"


def program(machine: str | None = None) -> bytes | None:
    """A static ELF executable that calls ``pause()`` forever, for ``machine`` (default:
    this one); None where none is written (then :func:`exec_holder` falls back)."""
    machine = machine or platform.machine()
    if machine not in ("x86_64", "amd64"):
        return None
    # loop: mov eax, 34 (pause); syscall; jmp loop
    code = bytes.fromhex("b822000000") + bytes.fromhex("0f05") + bytes.fromhex("ebf7")
    base = 0x400000
    ehdr_size, phdr_size = 64, 56
    entry = base + ehdr_size + phdr_size
    total = ehdr_size + phdr_size + len(code)
    ehdr = (
        b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # 64-bit, little-endian, SysV
        + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, ehdr_size, 0, 0,
                      ehdr_size, phdr_size, 1, 0, 0, 0)  # ET_EXEC, EM_X86_64
    )  # fmt: skip
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, total, total, 0x1000)  # PT_LOAD, R+X
    return ehdr + phdr + code


def install(run_root: str) -> str:
    """Write the holder program to ``<run_root>/holder`` (root only); its path, or ""."""
    data = program()
    if data is None:
        return ""
    path = os.path.join(run_root, _NAME)
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return path
    except OSError:
        pass
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o700)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def exec_holder(path: str, keep: dict[str, int]) -> NoReturn:
    """In the forked holder: keep ``keep`` (names of :data:`HOLD_FDS` → descriptors) at
    their places, close everything else (0-2 become /dev/null), become the holder."""
    import fcntl
    import signal

    high = {HOLD_FDS[name]: fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for name, fd in keep.items()}
    null = os.open("/dev/null", os.O_RDWR)
    for i in range(3):
        os.dup2(null, i)
    for target in sorted(HOLD_FDS.values()):
        if target in high:
            os.dup2(high[target], target)
        else:
            try:
                os.close(target)
            except OSError:
                pass
    top = max(HOLD_FDS.values()) + 1
    os.closerange(top, 1 << 20)
    # the init's exit must stay with us: SIGCHLD at its default (never ignored), no mask
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    if path:
        try:
            os.execv(path, [_NAME])
        except OSError:
            pass
    for busybox in ("/bin/busybox", "/usr/bin/busybox"):
        try:
            os.execv(busybox, [busybox, "sleep", "2147483647"])
        except OSError:
            pass
    while True:  # pragma: no cover - no holder program on this machine
        signal.pause()


def exit_status(pid: int) -> int | None:
    """The raw wait status of ``pid`` if it is a zombie (its parent has not waited)."""
    from dockyard.runtime.state import proc_stat

    rest = proc_stat(pid)
    if not rest or rest[0] != b"Z" or len(rest) < 50:
        return None
    return int(rest[49])  # field 52, exit_code


def start_time(pid: int) -> int:
    """``pid``'s start time in clock ticks since boot (0 when it is gone)."""
    from dockyard.runtime.state import pid_start_time

    info = pid_start_time(pid)
    return info[0] if info else 0


# ---------------------------------------------------------------------- records


def _dir(run_root: str) -> str:
    return os.path.join(run_root, "holders")


def write_record(run_root: str, key: str, rec: dict[str, Any]) -> None:
    d = _dir(run_root)
    os.makedirs(d, mode=0o700, exist_ok=True)
    path = os.path.join(d, key + ".json")
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, json.dumps(rec).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def remove_record(run_root: str, key: str) -> None:
    try:
        os.unlink(os.path.join(_dir(run_root), key + ".json"))
    except FileNotFoundError:
        pass


def read_records(run_root: str) -> list[dict[str, Any]]:
    """Every readable record (a torn or foreign file is skipped with a note on stderr)."""
    out: list[dict[str, Any]] = []
    try:
        names = sorted(os.listdir(_dir(run_root)))
    except OSError:
        return out
    for name in names:
        if not name.endswith(".json"):
            continue
        path = os.path.join(_dir(run_root), name)
        try:
            with open(path, "rb") as f:
                rec = json.loads(f.read())
            if isinstance(rec, dict) and int(rec.get("holder") or 0) > 0:
                rec["key"] = name[: -len(".json")]
                out.append(rec)
                continue
        except (OSError, ValueError):
            pass
        sys.stderr.write(f"shim: holder record {path}: unreadable, removed\n")
        try:
            os.unlink(path)
        except OSError:
            pass
    return out
