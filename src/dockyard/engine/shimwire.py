"""The wire format between the daemon (or any client) and the shim.

One message is a 4-byte big-endian length followed by that many bytes of JSON
(an object). File descriptors travel beside a message as SCM_RIGHTS; the
message names how many it carries in ``"nfds"``, and the receiver takes them
from a FIFO of descriptors received on that connection (the kernel delivers a
message's descriptors no later than its first byte, so they are queued by the
time the message is complete).

Requests carry ``"op"`` and a client-chosen ``"rid"``; the answer echoes the
``rid`` with ``"ok": true`` and fields, or ``"error"`` (a message) and
``"kind"`` (the name of a :mod:`dockyard.errors` class). Messages without a
``rid`` from the shim are events (``"event": "exit"`` …) sent to every
connection that asked for them with ``"op": "subscribe"``.

This module imports only what the shim already has loaded: the shim's memory
per container is a benchmark figure.
"""

from __future__ import annotations

import array
import os
import socket

from dockyard.oci.runtime_spec import dumps_json, loads_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["Decoder", "encode", "recv_into", "send_msg"]

_MAX_MSG = 16 << 20
_MAX_FDS = 16


def encode(msg: dict[str, Any]) -> bytes:
    body = dumps_json(msg).encode()
    return len(body).to_bytes(4, "big") + body


def send_msg(sock: socket.socket, msg: dict[str, Any], fds: Sequence[int] = ()) -> None:
    """Send one message (blocking) with ``fds`` attached."""
    if fds:
        msg = {**msg, "nfds": len(fds)}
    data = encode(msg)
    if fds:
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sent = sock.sendmsg([data], anc)
    else:
        sent = sock.send(data)
    if sent < len(data):
        sock.sendall(data[sent:])


class Decoder:
    """Reassembles messages (and their descriptors) from the bytes of one connection."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.fds: list[int] = []

    def feed(self, data: bytes, fds: list[int]) -> None:
        self.buf += data
        self.fds += fds

    def messages(self) -> list[tuple[dict[str, Any], list[int]]]:
        out = []
        while len(self.buf) >= 4:
            n = int.from_bytes(self.buf[:4], "big")
            if n > _MAX_MSG:
                raise ValueError("message too large")
            if len(self.buf) < 4 + n:
                break
            msg = loads_json(bytes(self.buf[4 : 4 + n]), "shim message")
            del self.buf[: 4 + n]
            if not isinstance(msg, dict):
                raise ValueError("message is not an object")
            k = int(msg.get("nfds") or 0)
            if k < 0 or k > len(self.fds):
                raise ValueError("message names descriptors that did not arrive")
            mine, self.fds = self.fds[:k], self.fds[k:]
            out.append((msg, mine))
        return out

    def close(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []


def recv_into(sock: socket.socket, dec: Decoder, size: int = 65536) -> bool:
    """Read what is there into ``dec``; False at end of stream."""
    fds = array.array("i")
    data, anc, _flags, _addr = sock.recvmsg(
        size, socket.CMSG_SPACE(_MAX_FDS * fds.itemsize), socket.MSG_CMSG_CLOEXEC
    )
    got: list[int] = []
    for level, typ, cdata in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            a = array.array("i")
            a.frombytes(cdata[: len(cdata) - (len(cdata) % a.itemsize)])
            got += list(a)
    dec.feed(data, got)
    return bool(data) or bool(got)
