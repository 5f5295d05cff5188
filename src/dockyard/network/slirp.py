"""Published ports of a rootless daemon: host ports forwarded by slirp4netns's API socket.

A rootless daemon's "host" network namespace is the holder's (:mod:`dockyard.engine.rootless`),
linked to the real host only by slirp4netns (``tap0``, 10.0.2.100). A ``-p 127.0.0.1:8080:80``
therefore takes two halves:

- outside: slirp4netns listens on the real host's ``127.0.0.1:8080`` and forwards each
  connection to ``10.0.2.100:8080`` in the namespace (``add_hostfwd`` on its API socket,
  ``$DOCKYARD_SLIRP_API``); the host address the user named is enforced there;
- inside: the usual reservation and DNAT rule for port 8080, on every address of the
  namespace (the connection arrives for 10.0.2.100, not for the address the user named).

The API speaks one JSON request per connection: ``{"execute": "add_hostfwd", "arguments":
{"proto": "tcp", "host_addr": "127.0.0.1", "host_port": 8080, "guest_port": 8080}}`` →
``{"return": {"id": 3}}`` or ``{"error": {"desc": "..."}}``; ``remove_hostfwd`` takes the id,
``list_hostfwd`` lists them. A forward that is already there (a daemon restarted after
``kill -9`` re-publishes) is adopted, not refused.

Errors: the host port is taken on the host → Conflict; the API unreachable → Unavailable.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from dockyard.errors import Conflict, Unavailable

__all__ = ["HostForward", "active", "add_forward", "forwards", "remove_forward"]

ENV = "DOCKYARD_SLIRP_API"


def active() -> str:
    """The API socket when this process publishes through slirp4netns (rootless), else ""."""
    path = os.environ.get(ENV, "")
    return path if path and os.path.exists(path) else ""


class HostForward:
    """One forward: its id in slirp4netns and what it forwards."""

    __slots__ = ("api", "host_addr", "host_port", "id", "proto")

    def __init__(self, api: str, fid: int, proto: str, host_addr: str, host_port: int) -> None:
        self.api = api
        self.id = fid
        self.proto = proto
        self.host_addr = host_addr
        self.host_port = host_port

    def close(self) -> None:
        remove_forward(self.api, self.id)

    def __repr__(self) -> str:
        return f"HostForward({self.id}: {self.host_addr}:{self.host_port}/{self.proto})"


def _call(api: str, execute: str, arguments: dict[str, Any] | None = None) -> Any:
    req: dict[str, Any] = {"execute": execute}
    if arguments is not None:
        req["arguments"] = arguments
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(api)
            s.sendall(json.dumps(req).encode())
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError as e:
        raise Unavailable(f"slirp4netns {execute}: {api}: {e.strerror or e}") from None
    try:
        answer = json.loads(data or b"{}")
    except ValueError:
        raise Unavailable(f"slirp4netns {execute}: bad answer {data[:80]!r}") from None
    if not isinstance(answer, dict):
        raise Unavailable(f"slirp4netns {execute}: bad answer {data[:80]!r}")
    if "error" in answer:
        desc = answer["error"].get("desc", "") if isinstance(answer["error"], dict) else ""
        raise Conflict(f"slirp4netns {execute}: {desc or answer['error']}")
    return answer.get("return", answer)  # 1.2.0 answers list_hostfwd without "return"


def forwards(api: str) -> list[dict[str, Any]]:
    """The forwards slirp4netns holds (``list_hostfwd``)."""
    ret = _call(api, "list_hostfwd")
    entries = ret.get("entries") if isinstance(ret, dict) else None
    return [e for e in entries or [] if isinstance(e, dict)]


def add_forward(api: str, proto: str, host_addr: str, port: int) -> HostForward:
    """Forward the real host's ``host_addr:port`` to the same port in the namespace."""
    host_addr = host_addr or "0.0.0.0"
    args = {"proto": proto, "host_addr": host_addr, "host_port": port, "guest_port": port}
    try:
        ret = _call(api, "add_hostfwd", args)
    except Conflict as e:
        for f in forwards(api):  # left by a daemon that was killed: take it back
            if (f.get("proto"), f.get("host_addr"), f.get("host_port"), f.get("guest_port")) == (
                proto, host_addr, port, port):  # fmt: skip
                return HostForward(api, int(f["id"]), proto, host_addr, port)
        raise Conflict(f"publish {host_addr}:{port}/{proto}: {e}") from None
    return HostForward(api, int(ret["id"]), proto, host_addr, port)


def remove_forward(api: str, fid: int) -> None:
    """Stop one forward; one already gone is not an error."""
    try:
        _call(api, "remove_hostfwd", {"id": fid})
    except Conflict:
        pass
