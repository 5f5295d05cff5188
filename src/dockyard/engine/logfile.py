"""Container logs in Docker's ``json-file`` format, rotated by size.

One file per container (``<root>/containers/<id>/<id>-json.log``), one JSON object
per line::

    {"log":"hello\\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}

A line without a trailing newline is kept until the newline comes, until 16 KiB
have gathered (Docker's limit: the piece is written without ``\\n`` and the next
piece continues it), or until the stream ends. When the file would pass
``max_size`` it is renamed to ``.1`` (``.1`` to ``.2`` …) and a new one is begun;
at most ``max_file`` files are kept, so logs are never unbounded (defaults: 10 MiB,
3 files, as Docker's ``local`` driver).

The writer runs inside the shim and writes with ``os.write`` on an ``O_APPEND``
descriptor: a line the shim has read is in the kernel's page cache even if the
shim is killed the next instant. The reader (:mod:`dockyard.engine.logs`) runs in
the daemon.
"""

from __future__ import annotations

import os
import time

__all__ = ["DEFAULT_MAX_FILE", "DEFAULT_MAX_SIZE", "LogWriter", "format_time", "rotated_paths"]

DEFAULT_MAX_SIZE = 10 << 20
DEFAULT_MAX_FILE = 3
_PARTIAL_MAX = 16 << 10

try:
    from _json import encode_basestring_ascii as _quote
except ImportError:  # pragma: no cover - the C accelerator is always built
    from json.encoder import py_encode_basestring_ascii as _quote


def format_time(ns: int) -> str:
    """RFC 3339 with nanoseconds in UTC, as Docker writes log times."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def rotated_paths(path: str, max_file: int) -> list[str]:
    """The files of one log, oldest first (``path.N`` … ``path.1``, ``path``)."""
    return [f"{path}.{i}" for i in range(max_file - 1, 0, -1)] + [path]


class LogWriter:
    """Appends one container's output to its json-file log (see the module docstring)."""

    def __init__(
        self, path: str, max_size: int = DEFAULT_MAX_SIZE, max_file: int = DEFAULT_MAX_FILE
    ) -> None:
        self.path = path
        self.max_size = max(max_size, 1024)
        self.max_file = max(max_file, 1)
        self.partial: dict[str, bytes] = {}
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(self.fd).st_size

    def write(self, stream: str, data: bytes) -> None:
        """Log ``data`` read from ``stream`` (``stdout`` or ``stderr``)."""
        if self.fd < 0:
            return
        buf = self.partial.pop(stream, b"") + data
        out = []
        stamp = format_time(time.time_ns())
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            out.append(self._line(buf[start : nl + 1], stream, stamp))
            start = nl + 1
        rest = buf[start:]
        while len(rest) >= _PARTIAL_MAX:
            out.append(self._line(rest[:_PARTIAL_MAX], stream, stamp))
            rest = rest[_PARTIAL_MAX:]
        if rest:
            self.partial[stream] = rest
        if out:
            self._append(b"".join(out))

    def flush(self) -> None:
        """Write the pieces that still wait for a newline (the stream ended)."""
        stamp = format_time(time.time_ns())
        pending = [self._line(v, k, stamp) for k, v in self.partial.items() if v]
        self.partial.clear()
        if pending and self.fd >= 0:
            self._append(b"".join(pending))

    def close(self) -> None:
        self.flush()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @staticmethod
    def _line(raw: bytes, stream: str, stamp: str) -> bytes:
        text = raw.decode("utf-8", "replace")
        return f'{{"log":{_quote(text)},"stream":"{stream}","time":"{stamp}"}}\n'.encode()

    def _append(self, data: bytes) -> None:
        if self.size and self.size + len(data) > self.max_size:
            self._rotate()
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.size += len(data)

    def _rotate(self) -> None:
        os.close(self.fd)
        self.fd = -1
        if self.max_file <= 1:
            os.truncate(self.path, 0)
        else:
            for i in range(self.max_file - 1, 0, -1):
                src = self.path if i == 1 else f"{self.path}.{i - 1}"
                try:
                    os.replace(src, f"{self.path}.{i}")
                except FileNotFoundError:
                    pass
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.size = 0
