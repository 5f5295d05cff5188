"""Pure parts of the daemon: restart policy, health rules, mounts, logs, filters, wire."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest

from dockyard.engine.health import health_command, next_status
from dockyard.engine.logfile import LogWriter
from dockyard.engine.logs import parse_time, read_logs
from dockyard.engine.options import parse_duration, parse_restart
from dockyard.engine.restart import BACKOFF_MAX, next_delay, should_restart
from dockyard.engine.shimwire import Decoder, recv_into, send_msg
from dockyard.engine.volumes import MountSpec, parse_mount, parse_volume
from dockyard.errors import InvalidArgument


@pytest.mark.parametrize(
    ("policy", "retries", "code", "count", "stopped", "want"),
    [
        ("no", 0, 1, 0, False, False),
        ("always", 0, 0, 10, False, True),
        ("always", 0, 1, 0, True, False),
        ("unless-stopped", 0, 0, 0, False, True),
        ("on-failure", 0, 0, 0, False, False),
        ("on-failure", 0, 1, 99, False, True),
        ("on-failure", 3, 1, 2, False, True),
        ("on-failure", 3, 1, 3, False, False),
    ],
)
def test_should_restart(policy: str, retries: int, code: int, count: int, stopped: bool,
                        want: bool) -> None:  # fmt: skip
    assert should_restart(policy, retries, code, count, stopped) is want


def test_backoff_doubles_and_resets() -> None:
    assert next_delay(0, 0) == 0.1
    assert next_delay(0.1, 1) == 0.2
    assert next_delay(40, 1) == BACKOFF_MAX
    assert next_delay(40, 11) == 0.1


@pytest.mark.parametrize(
    ("value", "want"),
    [("no", ("no", 0)), ("always", ("always", 0)), ("on-failure:3", ("on-failure", 3))],
)
def test_parse_restart(value: str, want: tuple[str, int]) -> None:
    assert parse_restart(value) == want


@pytest.mark.parametrize("value", ["sometimes", "always:3", "on-failure:x", "on-failure:-1"])
def test_parse_restart_refuses(value: str) -> None:
    with pytest.raises(InvalidArgument, match="--restart"):
        parse_restart(value)


def test_parse_duration() -> None:
    assert parse_duration("1m30s", "--x") == 90
    assert parse_duration("200ms", "--x") == pytest.approx(0.2)
    with pytest.raises(InvalidArgument):
        parse_duration("soon", "--x")


def test_health_rules() -> None:
    assert health_command(["CMD-SHELL", "exit 1"]) == ["/bin/sh", "-c", "exit 1"]
    assert health_command(["CMD", "true"]) == ["true"]
    assert health_command(["NONE"]) is None
    assert next_status("starting", 0, True, False, 3) == ("healthy", 0)
    assert next_status("starting", 0, False, True, 1) == ("starting", 0)
    assert next_status("healthy", 0, False, False, 2) == ("healthy", 1)
    assert next_status("healthy", 1, False, False, 2) == ("unhealthy", 2)


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("/data", MountSpec("volume", "/data")),
        ("data:/d", MountSpec("volume", "/d", "data")),
        ("data:/d:ro", MountSpec("volume", "/d", "data", readonly=True)),
        ("/host:/d", MountSpec("bind", "/d", "/host")),
        ("/host/x/../y:/d:rw", MountSpec("bind", "/d", "/host/y")),
    ],
)
def test_parse_volume(spec: str, want: MountSpec) -> None:
    assert parse_volume(spec) == want


@pytest.mark.parametrize("spec", ["", "::", "data:relative", "./x:/d", "a:/d:bogus", "a:/../x"])
def test_parse_volume_refuses(spec: str) -> None:
    with pytest.raises(InvalidArgument, match="-v"):
        parse_volume(spec)


def test_parse_mount() -> None:
    assert parse_mount("type=volume,source=vol,target=/d,readonly") == MountSpec(
        "volume", "/d", "vol", readonly=True
    )
    tm = parse_mount("type=tmpfs,target=/t,tmpfs-size=1m")
    assert tm.type == "tmpfs" and "size=1048576" in tm.options
    with pytest.raises(InvalidArgument, match="target"):
        parse_mount("type=volume,source=v")
    with pytest.raises(InvalidArgument, match="does not exist"):
        parse_mount("type=bind,source=/nonexistent-dockyard,target=/d")


def test_log_writer_lines_partials_and_rotation(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    w = LogWriter(path, max_size=1024, max_file=2)
    w.write("stdout", b"one\ntw")
    w.write("stdout", b"o\n")
    w.write("stderr", b"no newline")
    w.flush()
    entries = [json.loads(line) for line in Path(path).read_text().splitlines()]
    assert [(e["log"], e["stream"]) for e in entries] == [
        ("one\n", "stdout"), ("two\n", "stdout"), ("no newline", "stderr"),
    ]  # fmt: skip
    for i in range(100):
        w.write("stdout", f"line {i}\n".encode())
    w.close()
    assert Path(path + ".1").exists() and not Path(path + ".2").exists()
    total = Path(path).stat().st_size + Path(path + ".1").stat().st_size
    assert total <= 2 * 1024 + 200  # bounded

    async def collect(**kw: object) -> list[bytes]:
        return [e.data async for e in read_logs(path, max_file=2, **kw)]  # type: ignore[arg-type]

    got = asyncio.run(collect())
    assert got[-1] == b"line 99\n"
    assert asyncio.run(collect(tail=3)) == [b"line 97\n", b"line 98\n", b"line 99\n"]


def test_parse_time() -> None:
    assert parse_time("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_time("1970-01-01T00:00:02.000000001Z") == 2_000_000_001


def test_shim_wire_carries_messages_and_descriptors(tmp_path: Path) -> None:
    a, b = socket.socketpair()
    r, w = __import__("os").pipe()
    try:
        send_msg(a, {"op": "x", "n": 1}, [w])
        send_msg(a, {"op": "y"})
        dec = Decoder()
        got: list[tuple[dict[str, object], list[int]]] = []
        while len(got) < 2:
            recv_into(b, dec)
            got += dec.messages()
        (m1, fds1), (m2, fds2) = got
        assert m1["op"] == "x" and len(fds1) == 1 and m2 == {"op": "y"} and fds2 == []
        __import__("os").write(fds1[0], b"!")
        assert __import__("os").read(r, 1) == b"!"
        __import__("os").close(fds1[0])
    finally:
        a.close()
        b.close()
        __import__("os").close(r)
        __import__("os").close(w)


# --------------------------------------------------------------------------- shim


def _shim(tmp_path: Path) -> object:
    from dockyard.engine.shim import Shim

    run = tmp_path / "run"
    run.mkdir()
    shim = Shim(str(run), str(run / "runtime"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(run / "shim.sock"))
    shim.listener = listener
    shim._sock_ino = (run / "shim.sock").stat().st_ino
    shim._last_check = 0.0
    return shim


def _close(shim: object) -> None:
    shim.listener.close()  # type: ignore[attr-defined]
    shim.sel.close()  # type: ignore[attr-defined]


def test_shim_exits_when_its_run_root_is_removed(tmp_path: Path) -> None:
    import shutil

    shim = _shim(tmp_path)
    shim._check_orphaned()  # type: ignore[attr-defined]
    assert shim.running  # type: ignore[attr-defined]
    shutil.rmtree(tmp_path / "run")
    shim._last_check = 0.0  # type: ignore[attr-defined]
    shim._check_orphaned()  # type: ignore[attr-defined]
    assert not shim.running  # type: ignore[attr-defined]
    _close(shim)


def test_shim_whose_socket_another_shim_took_exits_once_idle(tmp_path: Path) -> None:
    from dockyard.engine.shim import Proc

    shim = _shim(tmp_path)
    sock = tmp_path / "run" / "shim.sock"
    sock.unlink()
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(sock))  # a second shim's socket at the same path
    p = Proc("c1", "container", "c1")
    shim.procs["c1"] = p  # type: ignore[attr-defined]
    shim._check_orphaned()  # type: ignore[attr-defined]
    assert shim.running  # type: ignore[attr-defined]  # still supervises a container
    p.exit = {"code": 0}
    shim._last_check = 0.0  # type: ignore[attr-defined]
    shim._check_orphaned()  # type: ignore[attr-defined]
    assert not shim.running  # type: ignore[attr-defined]
    other.close()
    _close(shim)


def test_exit_record_is_replaced_whole(tmp_path: Path) -> None:
    from dockyard.engine.shim import _write_durably

    path = tmp_path / "exit.json"
    _write_durably(str(path), {"code": 3})
    _write_durably(str(path), {"code": 7, "id": "x"})
    assert json.loads(path.read_text()) == {"code": 7, "id": "x"}
    assert not (tmp_path / "exit.json.tmp").exists()
