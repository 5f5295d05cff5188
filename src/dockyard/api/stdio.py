"""The stdio socket: attached runs, execs and attaches with the client's own descriptors.

``<run-root>/dockyard-stdio.sock`` (mode 0600) speaks the framing of
:mod:`dockyard.engine.shimwire`. A client connects and sends one request with its
stdio descriptors (SCM_RIGHTS; ``fds`` names them: ``stdin``, ``stdout``,
``stderr``)::

    {"op": "run", "create": {docker create body}, "name": null, "wait": "removed"}
    {"op": "start", "id": ID, "wait": "next-exit"}
    {"op": "attach", "id": ID}
    {"op": "exec", "eid": EXEC_ID}

Any request may carry ``"detach_keys": "ctrl-p,ctrl-q"`` (Docker's ``--detach-keys``
spec, :mod:`dockyard.engine.detachkeys`), the sequence that detaches a terminal.

The daemon answers ``{"ok": true, "id": ID}`` (or ``{"error", "kind"}``) once the
process runs, hands the descriptors and a duplicate of the connection (``ctl``)
to the shim, and closes its own copies. Output then goes from the shim straight
into the client's descriptors: no HTTP streaming. When the process ends (and,
for ``wait: removed``, the container is gone) the daemon sends
``{"exit": CODE}`` and closes. The shim sends ``{"detached": true}`` when a
terminal client types the detach keys (ctrl-p ctrl-q); a client that closes the
connection detaches.

HTTP cannot carry descriptors (aiohttp's transport drops ancillary data), hence
this second socket; ``POST /containers/{id}/wait`` still serves clients that
attach through other means.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.engine.shimwire import Decoder, encode, recv_into
from dockyard.errors import DockyardError, Internal

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon

__all__ = ["StdioServer"]


class StdioServer:
    def __init__(self, daemon: Daemon, path: Path) -> None:
        self.d = daemon
        self.path = path
        self.sock: socket.socket | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        s.bind(str(self.path))
        os.chmod(self.path, 0o600)
        s.listen(128)
        s.setblocking(False)
        self.sock = s
        asyncio.get_running_loop().add_reader(s.fileno(), self._accept)

    def close(self) -> None:
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        for t in self.tasks:
            t.cancel()

    def _accept(self) -> None:
        assert self.sock is not None
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        task = asyncio.ensure_future(self._serve(conn))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _request(self, conn: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
        loop = asyncio.get_running_loop()
        dec = Decoder()
        while True:
            msgs = dec.messages()
            if msgs:
                (msg, fds), *rest = msgs
                for _m, extra in rest:
                    for fd in extra:
                        os.close(fd)
                return msg, fds
            fut: asyncio.Future[None] = loop.create_future()
            loop.add_reader(conn.fileno(), _wake, fut)
            try:
                await fut
            finally:
                loop.remove_reader(conn.fileno())
            try:
                if not recv_into(conn, dec):
                    dec.close()
                    return None
            except BlockingIOError:
                continue

    async def _serve(self, conn: socket.socket) -> None:
        fds: list[int] = []
        try:
            got = await self._request(conn)
            if got is None:
                return
            msg, fds = got
            try:
                names = list(msg.get("fds") or [])
                if len(names) != len(fds):
                    raise Internal("stdio: descriptor names do not match the descriptors sent")
                stdio = dict(zip(names, fds, strict=True))
                self.d.busy += 1
                try:
                    done = await self._dispatch(msg, stdio, conn)
                finally:
                    self.d.busy -= 1
            except DockyardError as e:
                _send(conn, {"error": str(e), "kind": type(e).__name__})
                return
            finally:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            if done is not None:
                code = await done
                _send(conn, {"exit": code})
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            conn.close()

    async def _dispatch(
        self, msg: dict[str, Any], stdio: dict[str, int], conn: socket.socket
    ) -> asyncio.Future[int] | None:
        from dockyard.engine.detachkeys import parse

        d = self.d
        op = msg.get("op")
        warmer = None
        spec = msg.get("detach_keys")
        keys = parse(str(spec)) if spec else None
        ctl = os.dup(conn.fileno())
        stdio = {**stdio, "ctl": ctl}
        try:
            if op == "exec":
                inst = await d.execs.start(str(msg["eid"]), stdio, detach_keys=keys)
                _send(conn, {"ok": True, "id": inst.id})
                assert inst.done is not None
                return inst.done
            if op == "run":
                from dockyard.api.convert import options_from_create

                opts, dopts = options_from_create(dict(msg.get("create") or {}),
                                                  msg.get("name") or None)  # fmt: skip
                warmer = d.warm_cgroups()  # the start follows: see dockyard.cgroups.warm
                rec = await d.create(opts, dopts, stdio=stdio, spares=True)
                cid = rec.id
            elif op in ("start", "attach"):
                cid = d.get(str(msg["id"])).id
            else:
                from dockyard.errors import InvalidArgument

                raise InvalidArgument(f"stdio: unknown operation {op!r}")
            wait = msg.get("wait")
            fut = d.waiter(cid, str(wait)) if wait else None
            try:
                if op == "attach":
                    from dockyard.engine.attach import shim_attach_msg

                    await d.shim.call(shim_attach_msg(cid, stdio, keys), list(stdio.values()))
                else:
                    await d.start(cid, stdio, keys)
            except BaseException:
                if fut is not None:
                    fut.cancel()
                if op == "run":
                    with contextlib.suppress(DockyardError):
                        await d.remove(cid, force=True)
                raise
            first: dict[str, Any] = {"ok": True, "id": cid}
            if op == "run" and d.net is not None:  # e.g. ip_forward off, for a bridged run
                published = bool(dopts.publish or dopts.publish_all)
                warnings = d.net.run_warnings(opts.network, published)
                if warnings:
                    first["warnings"] = warnings
            _send(conn, first)
            return fut
        finally:
            if warmer is not None:
                warmer.stop()
            os.close(ctl)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def _send(conn: socket.socket, msg: dict[str, Any]) -> None:
    try:
        conn.setblocking(True)
        conn.settimeout(5)
        conn.sendall(encode(msg))
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            conn.setblocking(False)
