"""The daemon's side of the shim: start it (a thread of the daemon), call it, receive
its events.

One connection, asyncio; requests are matched to answers by ``rid``; events
(messages without ``rid``) go to the ``on_event`` callback. Descriptors ride
with a request through ``sendmsg`` (see :mod:`dockyard.engine.shimwire`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dockyard import errors
from dockyard.engine.shimwire import Decoder, encode, recv_into
from dockyard.errors import DockyardError, Internal, Unavailable

__all__ = ["ShimClient", "error_from"]


def error_from(msg: dict[str, Any]) -> DockyardError:
    """The dockyard error an answer names (Internal for an unknown kind)."""
    cls = getattr(errors, str(msg.get("kind")), None)
    if not (isinstance(cls, type) and issubclass(cls, DockyardError)):
        cls = Internal
    return cls(str(msg.get("error")))


class ShimClient:
    """A connection to ``<run_root>/shim.sock``."""

    def __init__(self, run_root: Path, on_event: Callable[[dict[str, Any]], None]) -> None:
        self.run_root = run_root
        self.path = run_root / "shim.sock"
        self.on_event = on_event
        self.sock: socket.socket | None = None
        self.dec = Decoder()
        self.rid = 0
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.on_lost: Callable[[], None] | None = None
        self.pid = 0

    def start_process(self) -> None:
        """Start the shim, a thread of this process (:func:`dockyard.engine.shim.start_thread`)."""
        from dockyard.engine.shim import start_thread

        try:
            start_thread(str(self.run_root), str(self.run_root / "runtime"))
        except OSError as e:
            raise Unavailable(f"start shim: {e}") from None

    async def connect(self, start: bool = True) -> list[dict[str, Any]]:
        """Connect (starting a shim if none answers), subscribe; the procs it supervises."""
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                s.connect(str(self.path))
                break
            except OSError:
                s.close()
                if not start or attempt:
                    raise Unavailable(f"connect to shim {self.path}: not running") from None
                await loop.run_in_executor(None, self.start_process)
        s.setblocking(False)
        self.sock = s
        loop.add_reader(s.fileno(), self._readable)
        answer = await self.call({"op": "subscribe"})
        self.pid = int(answer.get("pid") or 0)
        return list(answer.get("procs") or [])

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        self.dec.close()

    def _readable(self) -> None:
        assert self.sock is not None
        try:
            more = recv_into(self.sock, self.dec)
            msgs = self.dec.messages()
        except BlockingIOError:
            return
        except (OSError, ValueError):
            more, msgs = False, []
        for msg, fds in msgs:
            for fd in fds:
                os.close(fd)
            rid = msg.get("rid")
            if rid is None:
                self.on_event(msg)
                continue
            fut = self.pending.pop(int(rid), None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        if not more:
            self._lost()

    def _lost(self) -> None:
        self.close()
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(Unavailable("shim connection lost"))
        self.pending.clear()
        if self.on_lost is not None:
            self.on_lost()

    async def call(
        self, msg: dict[str, Any], fds: Sequence[int] = (), timeout: float = 60.0
    ) -> dict[str, Any]:
        """Send a request (with ``fds``) and return the answer; raise the error it names."""
        if self.sock is None:
            raise Unavailable("shim: not connected")
        self.rid += 1
        rid = self.rid
        body = {**msg, "rid": rid}
        if fds:
            body["nfds"] = len(fds)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        data = encode(body)
        try:
            self.sock.setblocking(True)
            if fds:
                import array

                anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
                sent = self.sock.sendmsg([data], anc)
                if sent < len(data):
                    self.sock.sendall(data[sent:])
            else:
                self.sock.sendall(data)
        except OSError as e:
            self.pending.pop(rid, None)
            raise Unavailable(f"shim: {e}") from None
        finally:
            if self.sock is not None:
                self.sock.setblocking(False)
        answer = await asyncio.wait_for(fut, timeout)
        if answer.get("error") is not None:
            raise error_from(answer)
        return answer
