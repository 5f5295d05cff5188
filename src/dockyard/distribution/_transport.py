"""A small blocking HTTP/1.1 client for the registry client: sockets, keep-alive, no extras.

Why not ``aiohttp`` or ``http.client``: a ``dockyard pull`` is one process that
lives about a second, and importing aiohttp (≈ 0.25 s, with an SSL context built
at import) or ``http.client`` (≈ 30 ms: ``email``, and ``ssl`` unconditionally)
was a large part of it.  This module imports ``socket`` only; ``ssl`` is
imported, and a context built, on the first ``https`` connection.

What it speaks: requests with a ``bytes`` body or a :class:`FileRange` (sent
with ``sendfile``, no copy through Python); responses framed by
``Content-Length``, ``chunked`` or the end of the connection; ``1xx`` interim
responses skipped.  Connections are kept per ``(scheme, host, port)`` in a
:class:`Pool` and reused when the response said nothing against it and its body
was read to the end.  A request on a reused connection that fails before any
byte of the response arrived (the server closed it while idle) is sent once more
on a fresh one.  Redirects are not followed here (the caller decides what to do
with ``Authorization``).

Errors: :class:`TransportError` (an ``OSError``) for refused or broken
connections, timeouts and malformed responses.
"""

from __future__ import annotations

import io
import os
import socket
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterator, Mapping

__all__ = ["Body", "FileRange", "Headers", "Pool", "Stream", "TransportError", "split_url"]

_MAX_LINE = 65536
_MAX_HEADERS = 200
_DRAIN_LIMIT = 1 << 20  # a larger unread body closes the connection instead of reading it
_RCVBUF = 1 << 20


class TransportError(OSError):
    """The connection failed or the server's answer was not HTTP."""


class FileRange:
    """A request body: ``[start, end)`` of the file at ``path``, sent with ``sendfile``."""

    __slots__ = ("end", "path", "start")

    def __init__(self, path: str | os.PathLike[str], start: int, end: int) -> None:
        self.path = os.fspath(path)
        self.start = start
        self.end = end

    def __len__(self) -> int:
        return self.end - self.start


Body = bytes | FileRange | None


class Headers:
    """Response headers, case-insensitive; a repeated header keeps its first value."""

    __slots__ = ("_d",)

    def __init__(self) -> None:
        self._d: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        self._d.setdefault(name.lower(), value)

    def __getitem__(self, name: str) -> str:
        return self._d[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._d.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._d

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def items(self) -> list[tuple[str, str]]:
        return list(self._d.items())

    def __repr__(self) -> str:
        return f"Headers({self._d!r})"


def split_url(url: str) -> tuple[str, str, str]:
    """``scheme://netloc/path?q`` → ``(scheme, netloc, "/path?q")``."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise TransportError(f"unsupported url {url!r}")
    netloc, slash, target = rest.partition("/")
    netloc, _, _frag = netloc.partition("#")
    if "?" in netloc:
        netloc, _, query = netloc.partition("?")
        target = "/?" + query
    else:
        target = slash + target
    return scheme, netloc, (target.partition("#")[0] or "/")


def _host_port(scheme: str, netloc: str) -> tuple[str, int]:
    netloc = netloc.rpartition("@")[2]
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = netloc.partition(":")
    try:
        return host, int(port) if port else (443 if scheme == "https" else 80)
    except ValueError:
        raise TransportError(f"bad port in {netloc!r}") from None


class _Conn:
    __slots__ = ("key", "rfile", "sock", "used")

    def __init__(self, key: tuple[str, str], sock: socket.socket) -> None:
        self.key = key
        self.sock = sock
        rfile = sock.makefile("rb", buffering=1 << 16)
        assert isinstance(rfile, io.BufferedReader)
        self.rfile = rfile
        self.used = False

    def close(self) -> None:
        try:
            self.rfile.close()
        finally:
            self.sock.close()


class Stream:
    """A response whose body has not been read yet; close it (or read it to the end)."""

    def __init__(
        self,
        pool: Pool,
        conn: _Conn,
        status: int,
        headers: Headers,
        length: int | None,
        chunked: bool,
        reusable: bool,
    ) -> None:
        self.status = status
        self.headers = headers
        self.length = length  # body bytes still to come (None: chunked or until close)
        self._pool = pool
        self._conn: _Conn | None = conn
        self._chunked = chunked
        self._chunk_left = 0
        self._reusable = reusable
        self._done = length == 0

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body (fewer only at its end); ``b""`` at the end."""
        if self._done or self._conn is None:
            return b""
        rfile = self._conn.rfile
        try:
            if self._chunked:
                return self._read_chunked(n)
            if self.length is None:
                data = rfile.read1(n)
                if not data:
                    self._finish(reuse=False)
                return data
            data = rfile.read(min(n, self.length))
        except (OSError, ValueError) as e:
            self._finish(reuse=False)
            raise TransportError(f"reading the response: {_reason(e)}") from None
        if not data:
            self._finish(reuse=False)
            raise TransportError(f"connection closed with {self.length} bytes of the body missing")
        self.length -= len(data)
        if self.length == 0:
            self._finish(reuse=self._reusable)
        return data

    def _read_chunked(self, n: int) -> bytes:
        assert self._conn is not None
        rfile = self._conn.rfile
        if self._chunk_left == 0:
            line = rfile.readline(_MAX_LINE)
            if not line.endswith(b"\n"):
                raise TransportError("malformed chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise TransportError("malformed chunk size") from None
            if size == 0:
                while True:  # trailers
                    line = rfile.readline(_MAX_LINE)
                    if line in (b"\r\n", b"\n", b""):
                        break
                self._finish(reuse=self._reusable)
                return b""
            self._chunk_left = size
        data = rfile.read(min(n, self._chunk_left))
        if not data:
            raise TransportError("connection closed inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            rfile.readline(_MAX_LINE)  # the CRLF after the chunk
        return data

    def read_all(self, limit: int | None = None) -> bytes:
        """The rest of the body; TransportError past ``limit`` bytes."""
        parts: list[bytes] = []
        total = 0
        while data := self.read(1 << 20):
            parts.append(data)
            total += len(data)
            if limit is not None and total > limit:
                self.close()
                raise TransportError(f"response body larger than {limit} bytes")
        return b"".join(parts)

    def _finish(self, reuse: bool) -> None:
        self._done = True
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.release(conn, reuse)

    def close(self) -> None:
        """Give the connection back: drained when little is left, else closed."""
        if self._conn is None:
            return
        if not self._done and self.length is not None and self.length <= _DRAIN_LIMIT:
            try:
                while self.read(1 << 16):
                    pass
            except OSError:
                pass
        if self._conn is not None:
            self._finish(reuse=False)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Pool:
    """Idle keep-alive connections per ``(scheme, netloc)``; safe to share between threads."""

    def __init__(
        self,
        *,
        connect_timeout: float = 30.0,
        read_timeout: float = 120.0,
        ca_file: str | None = None,
        max_idle: int = 8,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.ca_file = ca_file
        self.max_idle = max_idle
        self._idle: dict[tuple[str, str], list[_Conn]] = {}
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    def _context(self) -> ssl.SSLContext:
        with self._lock:
            if self._ssl is None:
                import ssl  # only for https: it costs a start-up

                self._ssl = ssl.create_default_context(cafile=self.ca_file)
            return self._ssl

    def _connect(self, key: tuple[str, str]) -> _Conn:
        scheme, netloc = key
        host, port = _host_port(scheme, netloc)
        # an ASCII name as bytes: getaddrinfo would import the ``idna`` codec for a str
        addr = host.encode("ascii") if host.isascii() else host
        sock = socket.create_connection((addr, port), timeout=self.connect_timeout)  # type: ignore[arg-type]
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
            if scheme == "https":
                sock = self._context().wrap_socket(sock, server_hostname=host)
            sock.settimeout(self.read_timeout)
            return _Conn(key, sock)
        except BaseException:
            sock.close()
            raise

    def _get(self, key: tuple[str, str]) -> _Conn:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop()
        return self._connect(key)

    def release(self, conn: _Conn, reuse: bool) -> None:
        if reuse:
            conn.used = True
            with self._lock:
                idle = self._idle.setdefault(conn.key, [])
                if not self._closed and len(idle) < self.max_idle:
                    idle.append(conn)
                    return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for c in conns:
            c.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, method: str, url: str, headers: Mapping[str, str], body: Body = None
    ) -> Stream:
        """Send one request; the response with its body still to read."""
        scheme, netloc, target = split_url(url)
        key = (scheme, netloc)
        head = _request_head(method, netloc, target, headers, body)
        for attempt in (0, 1):
            try:
                conn = self._get(key)
            except OSError as e:
                raise TransportError(f"connect to {netloc}: {_reason(e)}") from None
            reused = conn.used
            try:
                try:
                    _send(conn, head, body)
                except OSError as e:
                    if isinstance(e, TimeoutError):
                        raise
                    raise _NoResponse(_reason(e)) from None
                return self._response(conn, method)
            except _NoResponse as e:
                conn.close()
                if reused and attempt == 0:
                    continue  # a kept-alive connection the server had closed: once more
                raise TransportError(f"{netloc}: {e}") from None
            except (OSError, ValueError) as e:
                conn.close()
                raise TransportError(f"{netloc}: {_reason(e)}") from None
        raise TransportError(f"{netloc}: no response")  # pragma: no cover (loop returns)

    def _response(self, conn: _Conn, method: str) -> Stream:
        rfile = conn.rfile
        first = True
        while True:
            try:
                line = rfile.readline(_MAX_LINE + 1)
            except OSError as e:
                if first and not isinstance(e, TimeoutError):
                    raise _NoResponse(_reason(e)) from None
                raise
            if not line:
                raise _NoResponse("connection closed without a response")
            first = False
            parts = line.split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                raise TransportError(f"malformed status line {line[:80]!r}")
            try:
                status = int(parts[1])
            except ValueError:
                raise TransportError(f"malformed status line {line[:80]!r}") from None
            headers = _read_headers(rfile)
            if status >= 200 or status == 101:
                break
        version = parts[0]
        conn_hdr = (headers.get("Connection") or "").lower()
        reusable = version == b"HTTP/1.1" and "close" not in conn_hdr
        chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        length: int | None = None
        if method == "HEAD" or status in (204, 304):
            length = 0
        elif chunked:
            length = None
        elif (cl := headers.get("Content-Length")) is not None:
            try:
                length = int(cl.split(",")[0])
            except ValueError:
                raise TransportError(f"malformed Content-Length {cl!r}") from None
            if length < 0:
                raise TransportError(f"malformed Content-Length {cl!r}")
        else:
            reusable = False  # the body ends when the server closes
        stream = Stream(self, conn, status, headers, length, chunked, reusable)
        if length == 0:
            stream._finish(reuse=reusable)
        return stream


class _NoResponse(Exception):
    """Nothing of a response arrived (safe to send again on a fresh connection)."""


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    return getattr(e, "strerror", None) or str(e) or type(e).__name__


def _request_head(
    method: str, netloc: str, target: str, headers: Mapping[str, str], body: Body
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {netloc}"]
    names = {k.lower() for k in headers}
    for k, v in headers.items():
        if "\r" in v or "\n" in v or "\r" in k or "\n" in k:
            raise TransportError(f"header {k!r} has a line break")
        lines.append(f"{k}: {v}")
    if "content-length" not in names and (body is not None or method in ("POST", "PUT", "PATCH")):
        lines.append(f"Content-Length: {len(body) if body is not None else 0}")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")
    lines += ["", ""]
    return "\r\n".join(lines).encode("latin-1")


def _send(conn: _Conn, head: bytes, body: Body) -> None:
    sock = conn.sock
    if isinstance(body, bytes) and len(body) <= 1 << 16:
        sock.sendall(head + body)
        return
    sock.sendall(head)
    if isinstance(body, bytes):
        sock.sendall(body)
    elif isinstance(body, FileRange):
        with open(body.path, "rb") as f:
            sent = sock.sendfile(f, body.start, len(body)) if len(body) else 0
        if sent != len(body):
            raise TransportError(f"{body.path}: file ended after {sent} of {len(body)} bytes")


def _read_headers(rfile: object) -> Headers:
    headers = Headers()
    readline = rfile.readline  # type: ignore[attr-defined]
    for _ in range(_MAX_HEADERS):
        line: bytes = readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise TransportError("response header line too long")
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers.add(name.strip(), value.strip())
    raise TransportError("too many response headers")
