"""The hijacked attach endpoint against a fake daemon whose "shim" is a task writing into
the attachment's descriptors: answers, framing, stdin, the end, errors (no root)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from dockyard.api.attach import MUX, RAW, content_type, frame, wants_upgrade
from dockyard.api.containers import container_attach
from dockyard.api.request import DAEMON
from dockyard.api.server import _errors
from dockyard.errors import NotFound

CID = "c" * 64


def test_frame_is_dockers_multiplexing() -> None:
    assert frame("stdout", b"hi\n") == b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
    assert frame("stderr", b"x" * 300)[:8] == b"\x02\x00\x00\x00\x00\x00\x01\x2c"


@pytest.mark.parametrize(
    ("tty", "version", "want"),
    [(True, "1.43", RAW), (False, "1.43", MUX), (False, "1.42", MUX), (False, "1.41", RAW),
     (False, "2.0", MUX), (False, "junk", MUX)],
)  # fmt: skip
def test_content_type(tty: bool, version: str, want: str) -> None:
    assert content_type(tty, version) == want


def test_wants_upgrade() -> None:
    assert wants_upgrade({"Connection": "Upgrade", "Upgrade": "tcp"})
    assert wants_upgrade({"Connection": "keep-alive, upgrade", "Upgrade": "tcp"})
    assert not wants_upgrade({"Connection": "Upgrade"})
    assert not wants_upgrade({"Upgrade": "tcp"})
    assert not wants_upgrade(object())


class FakeAttachments:
    """Echoes stdin (``got …``) after one line on each stream, then ends the attachment."""

    def __init__(self) -> None:
        self.keys: list[bytes | None] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def attach(self, cid: str, stdio: dict[str, int], keys: bytes | None) -> str:
        self.keys.append(keys)
        mine = {n: os.dup(fd) for n, fd in stdio.items()}  # the caller closes its own
        self.tasks.append(asyncio.ensure_future(self._shim(mine)))
        return cid

    async def _shim(self, fds: dict[str, int]) -> None:
        loop = asyncio.get_running_loop()
        try:
            os.write(fds["stdout"], b"hello\n")
            if "stderr" in fds:
                os.write(fds["stderr"], b"oops\n")
            while "stdin" in fds:
                data = await loop.run_in_executor(None, os.read, fds["stdin"], 100)
                if not data:
                    break
                os.write(fds["stdout"], b"got " + data)
        finally:
            for fd in fds.values():
                os.close(fd)


class FakeDaemon:
    def __init__(self, root: Path, status: str = "running", tty: bool = False) -> None:
        self.root = root
        self.rec = SimpleNamespace(id=CID, name="box", status=status,
                                   config={"options": {"tty": tty, "interactive": True},
                                           "daemon": {}})  # fmt: skip
        self.attachments = FakeAttachments()

    def get(self, ref: str) -> Any:
        if ref not in ("box", CID):
            raise NotFound(f"get container {ref}: no such container")
        return self.rec

    def bundle(self, cid: str) -> Path:
        return self.root


Client = Callable[[bytes], Awaitable[tuple[str, dict[str, str], socket.socket, bytes]]]


def serve(d: FakeDaemon, tmp: Path, body: Callable[[Client], Awaitable[None]]) -> None:
    """Run the endpoint on a unix socket and ``body`` against it."""

    async def main() -> None:
        app = web.Application(middlewares=[_errors])
        app[DAEMON] = d  # type: ignore[assignment]
        for p in ("", "/v{version:[0-9.]+}"):
            app.router.add_post(p + "/containers/{id}/attach", container_attach)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        path = str(tmp / "api.sock")
        await web.UnixSite(runner, path).start()

        async def request(head: bytes) -> tuple[str, dict[str, str], socket.socket, bytes]:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(s, path)
            await loop.sock_sendall(s, head)
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = await loop.sock_recv(s, 65536)
                assert chunk, buf
                buf += chunk
            raw, _, rest = buf.partition(b"\r\n\r\n")
            lines = raw.decode().split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
            return lines[0], headers, s, rest

        try:
            await asyncio.wait_for(body(request), 20)
        finally:
            await runner.cleanup()

    asyncio.run(main())


async def read_to_end(s: socket.socket, rest: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    while chunk := await loop.sock_recv(s, 65536):
        rest += chunk
    return rest


def unframe(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    while data:
        n = int.from_bytes(data[4:8], "big")
        out.append((data[0], data[8 : 8 + n]))
        data = data[8 + n :]
    return out


def post(path: str, upgrade: bool) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\n"
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    return head.encode() + b"\r\n"


def test_upgraded_multiplexed_with_stdin_until_the_end(tmp_path: Path) -> None:
    d = FakeDaemon(tmp_path)

    async def body(request: Client) -> None:
        path = "/v1.43/containers/box/attach?stream=1&stdin=1&stdout=1&stderr=1&detachKeys=ctrl-a,b"
        status, headers, s, rest = await request(post(path, upgrade=True))
        with s:
            assert status == "HTTP/1.1 101 UPGRADED"
            assert headers["content-type"] == MUX
            assert (headers["connection"], headers["upgrade"]) == ("Upgrade", "tcp")
            loop = asyncio.get_running_loop()
            await loop.sock_sendall(s, b"ping\n")
            await asyncio.sleep(0.2)
            s.shutdown(socket.SHUT_WR)  # stdin ends; the output still comes
            frames = unframe(await read_to_end(s, rest))
        assert sorted(frames) == [(1, b"got ping\n"), (1, b"hello\n"), (2, b"oops\n")]
        assert d.attachments.keys == [b"\x01b"]

    serve(d, tmp_path, body)


def test_tty_without_upgrade_is_raw(tmp_path: Path) -> None:
    d = FakeDaemon(tmp_path, tty=True)

    async def body(request: Client) -> None:
        status, headers, s, rest = await request(
            post("/v1.41/containers/box/attach?stream=1&stdout=1", upgrade=False)
        )
        with s:
            assert status == "HTTP/1.1 200 OK" and headers["content-type"] == RAW
            assert await read_to_end(s, rest) == b"hello\n"

    serve(d, tmp_path, body)


def test_logs_replay_without_stream(tmp_path: Path) -> None:
    d = FakeDaemon(tmp_path, status="exited")
    t = "2024-01-01T00:00:00.00000000{}Z"
    lines = [{"log": "a\n", "stream": "stdout", "time": t.format(1)},
             {"log": "b\n", "stream": "stderr", "time": t.format(2)}]  # fmt: skip
    (tmp_path / f"{CID}-json.log").write_text("".join(json.dumps(x) + "\n" for x in lines))

    async def body(request: Client) -> None:
        _, _, s, rest = await request(
            post("/containers/box/attach?logs=1&stdout=1&stderr=1", upgrade=True)
        )
        with s:
            assert unframe(await read_to_end(s, rest)) == [(1, b"a\n"), (2, b"b\n")]
        assert d.attachments.keys == []  # stream=0: nothing attached

    serve(d, tmp_path, body)


@pytest.mark.parametrize(
    ("path", "status", "code", "kind"),
    [
        ("/containers/nosuch/attach?stream=1", "running", 404, "NotFound"),
        ("/containers/box/attach?stream=1&detachKeys=ctrl-", "running", 400, "InvalidArgument"),
        ("/containers/box/attach?stream=1", "paused", 409, "Conflict"),
        ("/containers/box/attach?stream=1", "restarting", 409, "Conflict"),
    ],
)
def test_errors_come_before_the_hijack(
    tmp_path: Path, path: str, status: str, code: int, kind: str
) -> None:
    d = FakeDaemon(tmp_path, status=status)

    async def body(request: Client) -> None:
        line, headers, s, rest = await request(post(path, upgrade=True))
        with s:
            length = int(headers["content-length"])
            loop = asyncio.get_running_loop()
            while len(rest) < length:
                rest += await loop.sock_recv(s, 65536)
        assert line.split()[1] == str(code)
        assert headers["content-type"] == "application/json"  # exactly: docker reads it then
        assert json.loads(rest)["kind"] == kind

    serve(d, tmp_path, body)
