"""A gzip writer that compresses on every CPU: the stream as independent gzip members.

Gzip (RFC 1952) allows a file to be several members one after the other;
every reader of layers (Go's ``compress/gzip``, so containerd, skopeo, umoci,
Docker; Python's ``gzip``) reads them as one stream.  Input is cut into
fixed 1 MiB chunks, each compressed by a thread pool into a complete member
with mtime 0 and no name, and written in order — so the output depends only
on the input: the same layer always has the same digest, whatever the number
of CPUs.  zlib releases the GIL, so the threads really run in parallel; the
cost is a few bytes per MiB (a header and trailer per member, a fresh
dictionary every MiB).
"""

from __future__ import annotations

import gzip
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

__all__ = ["CHUNK", "ParallelGzipWriter"]

CHUNK = 1 << 20


class ParallelGzipWriter:
    """A write-only binary stream; ``close()`` flushes (it does not close ``out``)."""

    def __init__(self, out: BinaryIO, level: int = 6, threads: int | None = None) -> None:
        self.out = out
        self.level = level
        n = threads or max(2, min(8, os.cpu_count() or 2))
        self.pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="pgzip")
        self.pending: deque[Future[bytes]] = deque()
        self.limit = 2 * n
        self.buf = bytearray()
        self.closed = False

    def _compress(self, data: bytes) -> bytes:
        return gzip.compress(data, compresslevel=self.level, mtime=0)

    def _submit(self, data: bytes) -> None:
        self.pending.append(self.pool.submit(self._compress, data))
        while len(self.pending) >= self.limit:
            self.out.write(self.pending.popleft().result())

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.buf += data
        while len(self.buf) >= CHUNK:
            self._submit(bytes(self.buf[:CHUNK]))
            del self.buf[:CHUNK]
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.buf or not self.pending:
                self._submit(bytes(self.buf))
                self.buf.clear()
            while self.pending:
                self.out.write(self.pending.popleft().result())
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
