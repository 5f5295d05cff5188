"""The CLI's side of dockyardd: HTTP/1.1 over its unix socket, and the stdio socket.

Lean on purpose (the CLI's start-up time is a benchmark figure): ``_socket`` and
``_json`` only. ``http.client`` would import ``email``, ``ssl`` and friends
(~100 ms uncached here) for what is a few lines of HTTP/1.1 on a local socket.

The daemon is started on demand: when its socket does not answer, the client
runs ``python -m dockyard.cli.main --root R --run-root RR daemon`` detached
(double fork, ``setsid``, output to ``<root>/daemon.log``) and waits for the
socket. Errors come back as the :mod:`dockyard.errors` class the daemon named.
"""

from __future__ import annotations

import _socket
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

__all__ = ["Client", "Response"]

_START_TIMEOUT = float(os.environ.get("DOCKYARD_START_TIMEOUT") or 30.0)  # slow hosts: raise it


def _dumps(value: Any) -> bytes:
    import _json

    def default(o: Any) -> Any:
        raise TypeError(f"cannot encode {type(o).__name__}")

    enc = _json.make_encoder(
        None, default, _json.encode_basestring_ascii, None, ":", ",", False, False, True
    )
    return "".join(enc(value, 0)).encode()


class _Scan:
    """What ``_json.make_scanner`` reads from a ``json.JSONDecoder`` (without ``json``)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    memo: dict[str, str] = {}  # noqa: RUF012 (what the C scanner expects)
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        raise ValueError(f"invalid constant {name}")


def _loads(data: bytes) -> Any:
    import _json

    from dockyard.errors import Internal

    text = data.decode()
    scan = _json.make_scanner(_Scan())  # type: ignore[arg-type]
    try:
        value, _end = scan(text, len(text) - len(text.lstrip()))
    except (StopIteration, ValueError) as e:
        raise Internal(f"daemon answer: invalid json: {e}") from None
    return value


def _raise(status: int, body: bytes, what: str) -> None:
    from dockyard import errors

    kind, message = "", ""
    try:
        data = _loads(body)
        kind, message = str(data.get("kind") or ""), str(data.get("message") or "")
    except Exception:
        message = body.decode(errors="replace").strip()
    cls = getattr(errors, kind, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.DockyardError)):
        cls = {
            404: errors.NotFound,
            409: errors.Conflict,
            400: errors.InvalidArgument,
            403: errors.PermissionDenied,
            503: errors.Unavailable,
        }.get(status, errors.Internal)
    raise cls(message or f"{what}: HTTP {status}")


class Response:
    """A response whose body is read on demand (``read``, ``lines``, ``frames``)."""

    def __init__(self, sock: Any, status: int, headers: dict[str, str], rest: bytes) -> None:
        self.sock = sock
        self.status = status
        self.headers = headers
        self.buf = rest
        self.chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        self.length = int(headers["content-length"]) if "content-length" in headers else -1
        self.done = self.length == 0 or status in (204, 304)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def chunks(self) -> Iterator[bytes]:
        """The body as it arrives."""
        if self.done:
            return
        if not self.chunked:
            left = self.length
            while left != 0:
                if not self.buf and not self._fill():
                    break
                piece = self.buf if left < 0 else self.buf[:left]
                self.buf = self.buf[len(piece) :]
                left -= len(piece) if left > 0 else 0
                yield piece
            self.done = True
            return
        while True:
            while b"\r\n" not in self.buf:
                if not self._fill():
                    return
            line, _, self.buf = self.buf.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                if not self._fill():
                    return
            piece, self.buf = self.buf[:size], self.buf[size + 2 :]
            if size == 0:
                self.done = True
                return
            yield piece

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def json(self) -> Any:
        return _loads(self.read())

    def lines(self) -> Iterator[bytes]:
        buf = b""
        for piece in self.chunks():
            buf += piece
            *lines, buf = buf.split(b"\n")
            yield from lines
        if buf:
            yield buf

    def frames(self) -> Iterator[tuple[int, bytes]]:
        """Docker's multiplexed stream: (1 stdout | 2 stderr, payload)."""
        buf = b""
        for piece in self.chunks():
            buf += piece
            while len(buf) >= 8:
                n = int.from_bytes(buf[4:8], "big")
                if len(buf) < 8 + n:
                    break
                yield buf[0], buf[8 : 8 + n]
                buf = buf[8 + n :]


class Client:
    """Talks to the daemon of one (root, run root); starts it when absent."""

    def __init__(self, root: str, run_root: str, autostart: bool = True) -> None:
        self.root = root
        self.run_root = run_root
        self.sock_path = os.path.join(run_root, "dockyard.sock")
        self.stdio_path = os.path.join(run_root, "dockyard-stdio.sock")
        self.autostart = autostart

    # ------------------------------------------------------------------ connection

    def _connect_to(self, path: str) -> Any:
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        try:
            s.connect(path)
        except OSError:
            s.close()
            raise
        return s

    def connect(self, path: str | None = None) -> Any:
        path = path or self.sock_path
        try:
            return self._connect_to(path)
        except OSError as e:
            if not self.autostart or e.errno not in (2, 111):  # ENOENT, ECONNREFUSED
                from dockyard.errors import Unavailable

                raise Unavailable(f"connect to dockyardd at {path}: {e.strerror}") from None
        self.start_daemon()
        return self._connect_to(path)

    def start_daemon(self) -> None:
        """Start dockyardd detached and wait until its sockets answer."""
        import sys

        os.makedirs(self.root, exist_ok=True)
        os.makedirs(self.run_root, mode=0o700, exist_ok=True)
        argv = [sys.executable, "-m", "dockyard.api.server", "--root", self.root,
                "--run-root", self.run_root]  # fmt: skip
        log_path = os.path.join(self.root, "daemon.log")
        from dockyard.engine.service import start_with_systemd

        if start_with_systemd(self.root, self.run_root, log_path):
            self._await_daemon()
            return
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.setsid()
                if os.fork() > 0:
                    os._exit(0)
                log = os.open(os.path.join(self.root, "daemon.log"),
                              os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)  # fmt: skip
                null = os.open("/dev/null", os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.closerange(3, 1 << 16)
                os.chdir("/")
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        os.waitpid(pid, 0)
        self._await_daemon()

    def _await_daemon(self) -> None:
        import time

        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                self._connect_to(self.stdio_path).close()
                self._connect_to(self.sock_path).close()
                return
            except OSError:
                time.sleep(0.02)
        from dockyard.errors import Unavailable

        raise Unavailable(
            f"start dockyardd: no answer on {self.sock_path} after {_START_TIMEOUT:.0f}s "
            f"(see {os.path.join(self.root, 'daemon.log')})"
        )

    # ------------------------------------------------------------------ HTTP

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        check: bool = True,
        stream: bool = False,
    ) -> Response:
        s = self.connect()
        data = raw if raw is not None else (_dumps(body) if body is not None else b"")
        head = f"{method} {path} HTTP/1.1\r\nHost: dockyard\r\nConnection: close\r\n"
        if data or method in ("POST", "PUT"):
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n"
        s.sendall(head.encode() + b"\r\n" + data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            piece = s.recv(65536)
            if not piece:
                from dockyard.errors import Unavailable

                raise Unavailable(f"{method} {path}: the daemon closed the connection")
            buf += piece
        head_b, _, rest = buf.partition(b"\r\n\r\n")
        lines = head_b.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        resp = Response(s, status, headers, rest)
        if check and status >= 400:
            _raise(status, resp.read(), f"{method} {path}")
        return resp

    def get(self, path: str) -> Any:
        return self.request("GET", path).json()

    def post(self, path: str, body: Any = None) -> Response:
        resp = self.request("POST", path, body if body is not None else {})
        resp.read()
        return resp

    # ------------------------------------------------------------------ stdio socket

    def stdio(self, msg: dict[str, Any], fds: dict[str, int]) -> Any:
        """Send a request with descriptors on the stdio socket; the connected socket
        after the daemon's first answer, which is returned beside it."""
        s = self.connect(self.stdio_path)
        names = list(fds)
        msg = {**msg, "fds": names, "nfds": len(names)}
        body = _dumps(msg)
        data = len(body).to_bytes(4, "big") + body
        anc = b"".join(fds[n].to_bytes(4, sys.byteorder, signed=True) for n in names)
        if names:
            s.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, anc)])
        else:
            s.sendall(data)
        first = self.next_message(s)
        if first is None:
            from dockyard.errors import Unavailable

            raise Unavailable("the daemon closed the stdio connection")
        if "error" in first:
            _raise(0, _dumps({"kind": first.get("kind"), "message": first["error"]}), "stdio")
        return s, first

    @classmethod
    def exit_code(cls, s: Any) -> int:
        """Wait on an attached stdio connection: the container's exit code, 0 when the
        client detached, 125 when the daemon went away."""
        while True:
            m = cls.next_message(s)
            if m is None:
                return 125
            if "exit" in m:
                return int(m["exit"])
            if m.get("detached"):
                return 0

    @staticmethod
    def next_message(s: Any) -> dict[str, Any] | None:
        buf = b""
        while len(buf) < 4:
            piece = s.recv(4 - len(buf))
            if not piece:
                return None
            buf += piece
        n = int.from_bytes(buf, "big")
        body = b""
        while len(body) < n:
            piece = s.recv(n - len(body))
            if not piece:
                return None
            body += piece
        value = _loads(body)
        return value if isinstance(value, dict) else None
