"""``POST /containers/{id}/attach``: Docker's hijacked attach over HTTP.

Protocol (Docker's, API 1.43): query ``stream``, ``stdin``, ``stdout``, ``stderr``,
``logs`` (booleans) and ``detachKeys`` (``ctrl-p,ctrl-q``). A request with
``Connection: Upgrade`` and ``Upgrade: tcp`` is answered ``HTTP/1.1 101 UPGRADED``
(``Connection: Upgrade``, ``Upgrade: tcp``), any other with ``200 OK``; either way the
connection then carries raw bytes both ways until the attachment ends, when the
daemon half-closes it (``shutdown(SHUT_WR)``, Docker's ``CloseWrite``) and closes it.
Content-Type ``application/vnd.docker.raw-stream`` for a terminal container (its
output as is), ``application/vnd.docker.multiplexed-stream`` otherwise (API ≥ 1.42;
older versions name the same framing ``raw-stream``, as Docker does): every chunk
is ``[STREAM, 0, 0, 0, SIZE (uint32 big-endian)]`` then SIZE bytes, STREAM 1 for
stdout and 2 for stderr. What the client writes is the container's stdin, never
framed.

``logs=1`` first replays the container's log (framed the same way; with ``stream=1`` up
to the attach, as later output comes through the attachment); ``stream=1``
then attaches: to a running container at once, to a created or exited one at its
next start (the attachment is parked, :mod:`dockyard.engine.attach`; Docker's
``run`` attaches before it starts). Errors found before the answer (unknown
container 404, paused or restarting 409, bad ``detachKeys`` 400) are ordinary JSON
error responses.

How the bytes flow: the daemon makes a pipe per output stream, a pipe for stdin
and a socketpair for ``ctl``, hands the shim its ends as an attachment (the shim
copies, and applies the detach keys to a terminal's input), and pumps its own ends
to and from the HTTP connection: aiohttp's transport stops reading once the
headers are out (so that a half-close from the client does not close it, and
stdin is not parsed as HTTP), and a duplicate of its socket is read here. The
attachment ends when the shim closes ``ctl`` (exit, detach keys, a reader that
falls behind) and the output pipes are drained; a client that goes away ends it on
the next write.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from dockyard.engine.record import config_of
from dockyard.errors import Conflict, DockyardError

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon
    from dockyard.store.db import ContainerRecord

__all__ = ["attach", "content_type", "exec_start", "frame", "wants_upgrade"]

RAW = "application/vnd.docker.raw-stream"
MUX = "application/vnd.docker.multiplexed-stream"
_STREAMS = {"stdout": 1, "stderr": 2}
_CHUNK = 65536


class _Hijacked(web.StreamResponse):
    """A response whose body is the raw connection: no length, no chunking (aiohttp's
    WebSocketResponse turns the same check off)."""

    _length_check = False


def frame(stream: str, data: bytes) -> bytes:
    """One chunk of Docker's multiplexed stream."""
    return bytes([_STREAMS[stream], 0, 0, 0]) + len(data).to_bytes(4, "big") + data


def content_type(tty: bool, api_version: str) -> str:
    """Docker's: raw for a terminal; multiplexed from API 1.42 (raw before, same framing)."""
    if tty:
        return RAW
    try:
        major, minor = (int(x) for x in api_version.split(".")[:2])
    except ValueError:
        return MUX
    return MUX if (major, minor) >= (1, 42) else RAW


def wants_upgrade(headers: dict[str, str] | object) -> bool:
    """``Connection: Upgrade`` with an ``Upgrade`` header (Docker's clients send ``tcp``)."""
    get = getattr(headers, "get", None)
    if get is None:
        return False
    tokens = [t.strip().lower() for t in str(get("Connection", "")).split(",")]
    return "upgrade" in tokens and bool(get("Upgrade"))


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


async def attach(request: web.Request, d: Daemon, api_version: str) -> web.StreamResponse:
    """``POST /containers/{id}/attach`` (see the module docstring)."""
    from dockyard.engine.detachkeys import parse

    rec = d.get(request.match_info["id"])
    spec = request.query.get("detachKeys", "")
    keys = parse(spec) if spec else None
    stream, logs = _flag(request, "stream"), _flag(request, "logs")
    if stream and rec.status in ("paused", "restarting"):
        what = "unpause the container" if rec.status == "paused" else "wait until it runs"
        raise Conflict(f"attach {rec.name}: container {rec.id[:12]} is {rec.status}, "
                       f"{what} before attach")  # fmt: skip
    opts = config_of(rec).options
    tty = opts.tty
    want = {n: _flag(request, n) for n in ("stdin", "stdout", "stderr")}
    want["stdin"] = want["stdin"] and opts.interactive  # no OpenStdin: ignored
    session = _Session(request, tty, want)

    async def join(stdio: dict[str, int]) -> None:
        await d.attachments.attach(rec.id, stdio, keys)

    # with stream=1 the log is replayed up to the attach only: what came later is in the
    # attachment's pipes (a line read by the shim during the attach call may be missed)
    cut = time.time_ns() if stream else 0

    async def replay(resp: web.StreamResponse) -> None:
        await _replay(d, rec, session, resp, cut)

    return await session.serve(content_type(tty, api_version), join if stream else None,
                               replay if logs else None)  # fmt: skip


async def exec_start(
    request: web.Request, d: Daemon, api_version: str, body: dict[str, object]
) -> web.StreamResponse:
    """``POST /exec/{id}/start``: detached, or hijacked as attach is (Docker names the
    stream raw-stream without the upgrade headers, whatever its framing)."""
    from dockyard.engine.detachkeys import parse

    eid = request.match_info["id"]
    if body.get("Detach"):
        await d.execs.start(eid, None, detach=True)
        return web.Response(status=200)
    inst = d.execs.get(eid)
    cfg = inst.config
    keys = parse(cfg.detach_keys) if cfg.detach_keys else None
    want = {"stdin": cfg.attach_stdin, "stdout": cfg.attach_stdout, "stderr": cfg.attach_stderr}
    raw = bool(body.get("Tty", cfg.tty))
    session = _Session(request, cfg.tty, want, raw)

    async def join(stdio: dict[str, int]) -> None:
        await d.execs.start(eid, stdio, detach_keys=keys)

    async def after() -> None:
        # its exit code is there for the client's next inspect: the shim reports the exit
        # just after the output's end. Output also ends with a detach (the process goes
        # on): then the connection closes after _EXIT_AFTER_OUTPUT, not at its exit
        if inst.done is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(inst.done), _EXIT_AFTER_OUTPUT)

    ctype = content_type(raw, api_version) if wants_upgrade(request.headers) else RAW
    return await session.serve(ctype, join, None, after, answer_first=True)


async def _replay(
    d: Daemon, rec: ContainerRecord, s: _Session, resp: web.StreamResponse, until: int
) -> None:
    """``logs=1``: the container's log (up to ``until`` ns, 0: all), framed as the stream is."""
    from dockyard.engine.logs import read_logs

    max_file = config_of(rec).daemon.log_max_file or 3
    path = str(d.bundle(rec.id) / f"{rec.id}-json.log")
    async for e in read_logs(path, since=0, until=until, tail=-1, follow=False, stop=lambda: True,
                             max_file=max_file):  # fmt: skip
        if s.want.get(e.stream):
            await resp.write(e.data if s.raw else frame(e.stream, e.data))


Join = Callable[[dict[str, int]], Awaitable[None]]
_EXIT_AFTER_OUTPUT = 1.0  # s an exec start waits, once the output has ended, for the exit


class _Session:
    """One hijacked connection: the daemon's ends of an attachment and of the connection."""

    def __init__(
        self, request: web.Request, tty: bool, want: dict[str, bool], raw: bool | None = None
    ) -> None:
        self.request = request
        self.tty = tty  # a terminal: one output pipe (the pty's)
        # unframed output; the terminal's by default. An exec start decides it by its own
        # ``Tty``, as dockerd: an exec made with a terminal, started without, is framed
        self.raw = tty if raw is None else raw
        self.want = want
        self.outs: dict[str, int] = {}  # stream name -> our read end
        self.stdin_w = -1
        self.ctl: socket.socket | None = None
        self.conn: socket.socket | None = None  # our duplicate of the client's socket
        self.tail = b""

    async def serve(
        self,
        ctype: str,
        join: Join | None,
        replay: Callable[[web.StreamResponse], Awaitable[None]] | None,
        after: Callable[[], Awaitable[None]] | None = None,
        answer_first: bool = False,
    ) -> web.StreamResponse:
        """Join (before the answer: a client may start the container as soon as it has
        it), answer, replay, copy until the end, half-close.

        ``answer_first`` (exec start, whose process this request starts): answer, then
        join, as dockerd does. Output already there when the headers go out can arrive in
        the same read as them, and docker-py, which reads the stream from the socket under
        its buffered HTTP reader, then loses it (an exec's output, one run in two)."""
        upgrade = wants_upgrade(self.request.headers)
        headers = {"Content-Type": ctype}
        if upgrade:
            headers.update({"Connection": "Upgrade", "Upgrade": "tcp"})
        resp = _Hijacked(status=101 if upgrade else 200, reason="UPGRADED" if upgrade else "OK",
                         headers=headers)  # fmt: skip
        resp.force_close()
        try:
            if join is not None and not answer_first:
                await self.join(join)
            await resp.prepare(self.request)
            self.take_over()  # before the client can half-close: aiohttp would see its EOF
            if replay is not None or answer_first:
                await self.headers_read(resp)
            if join is not None and answer_first:
                try:
                    await self.join(join)
                except DockyardError as e:  # after the answer: said on the stream, as dockerd
                    text = f"{e}\n".encode()
                    await resp.write(text if self.raw else frame("stderr", text))
                    self.end()
                    return resp
            if replay is not None:
                await replay(resp)
            if join is not None:
                await self.pump(resp)
            if after is not None:
                await after()
            self.end()
        except ConnectionError:
            pass  # the client went away: closing ctl detaches the shim's side
        finally:
            self.close()
        return resp

    async def join(self, join: Join) -> None:
        """Make the attachment's descriptors and hand the shim's ends to ``join``."""
        shim_side: dict[str, int] = {}
        try:
            if self.want["stdout"] or self.want["stderr"]:
                # both pipes: the shim writes stderr into stdout's when it has none
                for name in ("stdout",) if self.tty else ("stdout", "stderr"):
                    r, w = os.pipe2(os.O_CLOEXEC)  # the shim's end blocks: a process may own it
                    os.set_blocking(r, False)
                    self.outs[name] = r
                    shim_side[name] = w
            if self.want["stdin"]:
                r, self.stdin_w = os.pipe2(os.O_CLOEXEC)
                os.set_blocking(self.stdin_w, False)
                shim_side["stdin"] = r
            mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.ctl = mine
            shim_side["ctl"] = theirs.detach()
            await join(shim_side)
        finally:
            for fd in shim_side.values():
                os.close(fd)

    async def headers_read(self, resp: web.StreamResponse, limit: float = 0.5) -> None:
        """Send the headers alone and wait (``limit`` s at most) until the client has read
        them. aiohttp holds them back to send with the first body bytes, and docker-py reads
        the stream from the socket beneath its buffered HTTP reader: what reaches it in the
        same read as the headers is lost to it (an exec's output, ``attach(logs=True)``)."""
        import fcntl
        import struct
        import termios

        await resp.write(b"")  # the headers, now and alone
        if self.conn is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        queued = bytearray(4)
        while loop.time() < deadline:
            try:  # what the peer has not read yet (SIOCOUTQ)
                fcntl.ioctl(self.conn.fileno(), termios.TIOCOUTQ, queued)
            except OSError:
                return
            if struct.unpack("i", queued)[0] == 0:
                return
            await asyncio.sleep(0.001)

    def take_over(self) -> None:
        """Stop aiohttp reading the connection; keep a duplicate of its socket."""
        transport = self.request.transport
        if transport is None:
            raise ConnectionResetError("attach: the client went away")
        transport.pause_reading()
        proto = self.request.protocol
        self.tail = bytes(getattr(proto, "_message_tail", b"") or b"")  # stdin sent early
        if self.tail:
            proto._message_tail = b""
        sock = transport.get_extra_info("socket")
        self.conn = socket.socket(fileno=os.dup(sock.fileno()))
        self.conn.setblocking(False)

    async def pump(self, resp: web.StreamResponse) -> None:
        """Copy until the shim ends the attachment and its output is drained."""
        feeding = asyncio.ensure_future(self._feed_stdin()) if self.stdin_w >= 0 else None
        copies = [asyncio.ensure_future(self._wait_ctl())]
        copies += [
            asyncio.ensure_future(self._copy_out(n, fd, resp)) for n, fd in self.outs.items()
        ]
        try:
            done, _ = await asyncio.wait(copies, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()  # a ConnectionError: the client went away
        finally:
            for t in [*copies, *([feeding] if feeding is not None else [])]:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await t

    def end(self) -> None:
        """Half-close the connection (Docker's CloseWrite): the client reads to the end."""
        transport = self.request.transport
        if transport is not None and transport.can_write_eof() and not transport.is_closing():
            transport.write_eof()

    async def _copy_out(self, name: str, fd: int, resp: web.StreamResponse) -> None:
        while True:
            data = await _read(fd)
            if not data:
                return
            if self.want[name]:
                await resp.write(data if self.raw else frame(name, data))

    async def _wait_ctl(self) -> None:
        assert self.ctl is not None
        self.ctl.setblocking(False)
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await loop.sock_recv(self.ctl, 4096)
            except OSError:
                return
            if not data:  # the shim ended the attachment (exit, detach keys …)
                return

    async def _feed_stdin(self) -> None:
        assert self.conn is not None
        loop = asyncio.get_running_loop()
        try:
            if self.tail:
                await _write_all(self.stdin_w, self.tail)
            while True:
                data = await loop.sock_recv(self.conn, _CHUNK)
                if not data:
                    break
                await _write_all(self.stdin_w, data)
        except OSError:
            pass
        finally:  # the client closed its side: the container's stdin ends (Docker's StdinOnce)
            os.close(self.stdin_w)
            self.stdin_w = -1

    def close(self) -> None:
        for fd in [*self.outs.values(), self.stdin_w]:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.outs.clear()
        self.stdin_w = -1
        for s in (self.ctl, self.conn):
            if s is not None:
                s.close()
        self.ctl = self.conn = None


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _wait_fd(fd: int, writing: bool) -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    (loop.add_writer if writing else loop.add_reader)(fd, _wake, fut)
    try:
        await fut
    finally:
        (loop.remove_writer if writing else loop.remove_reader)(fd)


async def _read(fd: int) -> bytes:
    """What a non-blocking pipe has (b"" at its end)."""
    while True:
        try:
            return os.read(fd, _CHUNK)
        except BlockingIOError:
            await _wait_fd(fd, writing=False)


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            await _wait_fd(fd, writing=True)
            continue
        view = view[n:]
