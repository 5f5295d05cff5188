"""``RUN --mount=type=ssh``: the build's SSH agents, forwarded into RUN containers.

Terms
-----
*agent*: an ssh-agent socket on the host, given to the build by id
(:attr:`dockyard.build.executor.BuildOptions.ssh`; ``dockyard build --ssh default`` gives
``$SSH_AUTH_SOCK`` as ``default``, see :func:`parse_ssh_specs`).
*proxy*: a socket made for one RUN step (owned ``uid:gid``, mode ``mode`` of the mount:
``0:0`` and 0600 unless given, as BuildKit), bind-mounted into the container at the
mount's target, ``/run/buildkit/ssh_agent.<N>`` by default (N counts the ssh mounts of the
RUN).  Every connection to it is relayed to the agent, so the container never sees the
host's socket, its directory or its permissions.  ``SSH_AUTH_SOCK`` points at the first
ssh mount unless the stage sets it.

Lifecycle: ``with AgentProxy(agent, uid, gid, mode) as path:`` listens at ``path`` (in a
private directory under the temporary directory: ``sun_path`` is short), relays on one
thread, and on exit stops the thread, closes every connection and removes the directory.

Errors: a mount whose id names no agent is skipped, unless ``required=true``: NotFound
``ssh agent "default" is required but was not given (dockyard build --ssh default)``;
an agent that is not a socket (BuildKit also takes key files) is InvalidArgument.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import socket
import stat
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

from dockyard.errors import InvalidArgument, NotFound

__all__ = ["AgentProxy", "DEFAULT_TARGET", "agent_for", "parse_ssh_specs"]

DEFAULT_TARGET = "/run/buildkit/ssh_agent.{}"
_CHUNK = 1 << 16


def parse_ssh_specs(values: Iterable[str], environ: Mapping[str, str]) -> dict[str, Path]:
    """``--ssh`` values (``default``, ``ID``, ``ID=SOCKET[,…]``) as ``{id: socket}``; an id
    alone means ``$SSH_AUTH_SOCK``."""
    out: dict[str, Path] = {}
    for value in values:
        ident, eq, paths = value.partition("=")
        ident = ident.strip() or "default"
        path = paths.split(",")[0] if eq else environ.get("SSH_AUTH_SOCK", "")
        if not path:
            raise InvalidArgument(
                f"invalid --ssh {value!r}: SSH_AUTH_SOCK is not set (give the agent socket: "
                f"--ssh {ident}=PATH)"
            )
        out[ident] = Path(path)
    return out


def agent_for(agents: Mapping[str, Path], ident: str, required: bool) -> Path | None:
    """The agent socket of ``ident``; None (the mount is skipped) unless ``required``."""
    agent = agents.get(ident)
    if agent is None and required:
        raise NotFound(
            f"ssh agent {ident!r} is required but was not given (dockyard build --ssh {ident})"
        )
    if agent is not None:
        try:
            mode = os.stat(agent).st_mode
        except OSError as exc:
            raise NotFound(f"ssh agent {ident!r}: {agent}: {exc.strerror}") from None
        if not stat.S_ISSOCK(mode):
            raise InvalidArgument(
                f"ssh agent {ident!r}: {agent} is not a socket (key files are not supported)"
            )
    return agent


class AgentProxy:
    """A socket whose connections are relayed to ``agent``; see the module docstring."""

    def __init__(self, agent: Path, uid: int = 0, gid: int = 0, mode: int = 0o600) -> None:
        self.agent = str(agent)
        self.uid, self.gid, self.mode = uid, gid, mode
        self.dir = Path()
        self.listener: socket.socket | None = None
        self.wake: tuple[int, int] | None = None
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Path:
        self.dir = Path(tempfile.mkdtemp(prefix="dockyard-ssh-"))
        try:
            path = self.dir / "agent.sock"
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(str(path))
            os.chown(path, self.uid, self.gid)
            os.chmod(path, self.mode)
            self.listener.listen(16)
            self.wake = os.pipe()
            self.thread = threading.Thread(target=self._serve, name="ssh-agent", daemon=True)
            self.thread.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return path

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        if self.thread is not None and self.wake is not None:
            os.write(self.wake[1], b"x")
            self.thread.join(10)
        for fd in self.wake or ():
            os.close(fd)
        if self.listener is not None:
            self.listener.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _serve(self) -> None:
        assert self.listener is not None and self.wake is not None
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, "accept")
        sel.register(self.wake[0], selectors.EVENT_READ, "stop")
        peers: dict[socket.socket, socket.socket] = {}
        try:
            while True:
                for key, _events in sel.select():
                    if key.data == "stop":
                        return
                    if key.data == "accept":
                        self._accept(sel, peers)
                    else:
                        assert isinstance(key.fileobj, socket.socket)
                        self._relay(sel, peers, key.fileobj)
        finally:
            for s in list(peers):
                s.close()
            sel.close()

    def _accept(self, sel: selectors.BaseSelector,
                peers: dict[socket.socket, socket.socket]) -> None:  # fmt: skip
        assert self.listener is not None
        client, _ = self.listener.accept()
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            upstream.connect(self.agent)
        except OSError:
            client.close()
            upstream.close()
            return
        peers[client], peers[upstream] = upstream, client
        sel.register(client, selectors.EVENT_READ, "relay")
        sel.register(upstream, selectors.EVENT_READ, "relay")

    @staticmethod
    def _relay(sel: selectors.BaseSelector, peers: dict[socket.socket, socket.socket],
               src: socket.socket) -> None:  # fmt: skip
        dst = peers.get(src)
        if dst is None:  # both ends were ready in one select: the pair is closed already
            return
        data = b""
        with contextlib.suppress(OSError):
            data = src.recv(_CHUNK)
        if data:
            with contextlib.suppress(OSError):
                dst.sendall(data)
                return
        for s in (src, dst):  # one side is gone: close the pair
            sel.unregister(s)
            peers.pop(s, None)
            s.close()
