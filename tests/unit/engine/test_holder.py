"""Holders (dockyard.engine.holder): the program, exit statuses, descriptors, records."""

from __future__ import annotations

import os
import platform
import select
import signal
import struct
import time
from pathlib import Path

import pytest

from dockyard.engine import holder


def test_program_is_a_static_elf_that_only_pauses() -> None:
    data = holder.program("x86_64")
    assert data is not None
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1  # 64-bit, LE
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    assert (e_type, e_machine) == (2, 62)  # ET_EXEC, x86-64
    entry = struct.unpack_from("<Q", data, 24)[0]
    assert data[entry - 0x400000 :] == bytes.fromhex("b8220000000f05ebf7")  # pause loop
    assert holder.program("riscv64") is None


def _fork_holder(path: str, child_code: int, keep: dict[str, int]) -> tuple[int, int]:
    """A holder (``path``) whose child exits ``child_code`` after 0.2 s: (holder, child)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the holder
        os.close(r)
        kid = os.fork()
        if kid == 0:
            time.sleep(0.2)
            os._exit(child_code)
        os.write(w, str(kid).encode())
        holder.exec_holder(path, keep)
    os.close(w)
    kid = int(os.read(r, 32))
    os.close(r)
    return pid, kid


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the holder program is x86-64")
def test_holder_keeps_the_exit_status_and_the_descriptors(tmp_path: Path) -> None:
    path = holder.install(str(tmp_path))
    assert holder.install(str(tmp_path)) == path  # idempotent
    r, w = os.pipe()
    pid, kid = _fork_holder(path, 7, {"stdout": r})
    os.close(r)
    try:
        time.sleep(0.05)
        assert os.readlink(f"/proc/{pid}/exe") == path
        assert sorted(os.listdir(f"/proc/{pid}/fd")) == ["0", "1", "2", "3"]
        rss_kb = int(
            next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                 if x.startswith("VmRSS:")).split()[1]
        )  # fmt: skip
        assert rss_kb < 200
        pidfd = os.pidfd_open(kid)
        poll = select.poll()
        poll.register(pidfd, select.POLLIN)
        assert poll.poll(5000)
        os.close(pidfd)
        status = holder.exit_status(kid)
        assert status is not None and os.waitstatus_to_exitcode(status) == 7
        hfd = os.pidfd_open(pid)
        got = holder.pidfd_getfd(hfd, holder.HOLD_FDS["stdout"])
        os.close(hfd)
        os.write(w, b"kept")
        assert os.read(got, 16) == b"kept"
        os.close(got)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(w)


def test_exit_status_of_a_live_or_absent_process_is_none() -> None:
    assert holder.exit_status(os.getpid()) is None
    assert holder.exit_status(2**22 + 12345) is None
    assert holder.start_time(2**22 + 12345) == 0
    assert holder.start_time(os.getpid()) > 0


def test_records_round_trip_and_torn_ones_are_dropped(tmp_path: Path) -> None:
    holder.write_record(str(tmp_path), "c1", {"holder": 12, "pid": 13, "fds": ["stdout"]})
    (tmp_path / "holders" / "torn.json").write_text("{")
    recs = holder.read_records(str(tmp_path))
    assert recs == [{"holder": 12, "pid": 13, "fds": ["stdout"], "key": "c1"}]
    assert not (tmp_path / "holders" / "torn.json").exists()
    holder.remove_record(str(tmp_path), "c1")
    holder.remove_record(str(tmp_path), "c1")
    assert holder.read_records(str(tmp_path)) == []
