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

Incompressible data (random bytes, media, archives that are compressed
already) costs deflate as much CPU as any other data and gains nothing, so a
chunk is first *sampled*: four 2 KiB slices spread over it are deflated at
level 1, and when they shrink by less than 3 % the chunk is written as a
member of *stored* deflate blocks instead.  Such a member is framed here
(:func:`stored_member`: the gzip header, 64 KiB blocks of the bytes as they
are, the CRC-32 and the size) rather than by ``zlib.compress(data, 0)``, which
pushes every byte through deflate's window and costs six times as much as
the CRC.  The framing is fixed (full 65535-byte blocks, the last one final),
so it does not depend on the zlib version either.  The decision depends only
on the chunk's bytes, so the output stays reproducible; the stream is still
plain gzip.
"""

from __future__ import annotations

import os
import queue
import stat
import struct
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO

__all__ = [
    "CHUNK",
    "ParallelGzipWriter",
    "gzip_member",
    "incompressible",
    "stored_member",
    "worth_gzip",
]

CHUNK = 1 << 20
_SAMPLES = 4
_SAMPLE = 2 << 10  # deflate runs at some 25 MB/s on random bytes: sample little
_STORED_RATIO = 0.97
_PLAIN_SHARE = 0.95
_PLAIN_MIN = 4 << 20
_STORED_BLOCK = 65535
# magic, deflate, no flags, mtime 0, XFL 4 (fastest, as zlib writes for level 0), OS 3 (Unix)
_STORED_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\x03"


def incompressible(data: bytes | memoryview) -> bool:
    """Whether sampled slices of ``data`` shrink by less than 3 % at deflate level 1."""
    n = len(data)
    if n < _SAMPLES * _SAMPLE:
        return False
    step = n // _SAMPLES
    total = packed = 0
    for i in range(_SAMPLES):
        piece = data[i * step : i * step + _SAMPLE]
        total += len(piece)
        packed += len(zlib.compress(piece, 1, -15))
    return packed >= total * _STORED_RATIO


def worth_gzip(root: str | os.PathLike[str]) -> bool:
    """Whether a layer of the tree ``root`` should be gzipped: False when at least 95 % of
    its bytes (and 4 MiB or more) are in files whose samples do not shrink, like a
    layer that adds a big archive, media or random data.  Such a layer is written as a
    plain tar: gzip would only frame it, at the cost of a CRC, a copy and a second
    SHA-256 over every byte.  The answer depends on the files' bytes only."""
    files: list[tuple[int, str]] = []
    for top, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(top, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                files.append((st.st_size, path))
    total = sum(size for size, _ in files)
    need = total * _PLAIN_SHARE
    if total < _PLAIN_MIN:
        return True
    plain, left = 0, total
    for size, path in sorted(files, reverse=True):
        if plain >= need:
            return False
        if plain + left < need:
            return True
        left -= size
        if _file_incompressible(path, size):
            plain += size
    return plain < need


def _file_incompressible(path: str, size: int) -> bool:
    step = size // _SAMPLES
    with open(path, "rb", buffering=0) as f:
        data = b"".join(os.pread(f.fileno(), _SAMPLE, i * step) for i in range(_SAMPLES))
    return incompressible(data)


def stored_member(data: bytes | memoryview) -> bytes:
    """One gzip member of stored deflate blocks (RFC 1951 section 3.2.4) holding ``data``."""
    view = memoryview(data).cast("B")
    n = len(view)
    parts: list[bytes | memoryview] = [_STORED_HEADER]
    pos = 0
    while True:
        size = min(_STORED_BLOCK, n - pos)
        final = pos + size >= n
        parts.append(struct.pack("<BHH", final, size, size ^ 0xFFFF))
        parts.append(view[pos : pos + size])
        pos += size
        if final:
            break
    parts.append(struct.pack("<II", zlib.crc32(view), n & 0xFFFFFFFF))
    return b"".join(parts)


def gzip_member(data: bytes | memoryview, level: int = 6) -> bytes:
    """One complete gzip member (mtime 0, no name); stored blocks for incompressible data."""
    if level == 0 or incompressible(data):
        return stored_member(data)
    return zlib.compress(data, level, 31)


class ParallelGzipWriter:
    """A write-only binary stream; ``close()`` flushes (it does not close ``out``).

    Chunks are compressed by a thread pool and written to ``out``, in order, by a
    writer thread, so what ``out`` does (hash the compressed bytes, write them to a file)
    runs beside the caller's own work (tar, hash the plain bytes) rather than after it.
    An error of ``out`` is raised by the next ``write`` or by ``close``.
    """

    def __init__(self, out: BinaryIO, level: int = 6, threads: int | None = None) -> None:
        self.out = out
        self.level = level
        n = threads or max(2, min(8, os.cpu_count() or 2))
        self.pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="pgzip")
        self.queue: queue.Queue[Future[bytes] | None] = queue.Queue(maxsize=2 * n)
        self.error: BaseException | None = None
        self.writer = threading.Thread(target=self._drain, name="pgzip-writer", daemon=True)
        self.writer.start()
        self.buf = bytearray()
        self.closed = False
        self.submitted = 0

    def _drain(self) -> None:
        while (fut := self.queue.get()) is not None:
            if self.error is not None:
                continue  # keep taking chunks so that the producer never blocks
            try:
                self.out.write(fut.result())
            except BaseException as exc:
                self.error = exc

    def _compress(self, data: bytes) -> bytes:
        return gzip_member(data, self.level)

    def _submit(self, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(self.pool.submit(self._compress, data))
        self.submitted += 1

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        pos = 0
        if self.buf:
            take = min(CHUNK - len(self.buf), n)
            self.buf += view[:take]
            pos = take
            if len(self.buf) < CHUNK:
                return n
            self._submit(bytes(self.buf))
            self.buf = bytearray()
        while n - pos >= CHUNK:
            self._submit(bytes(view[pos : pos + CHUNK]))
            pos += CHUNK
        if pos < n:
            self.buf += view[pos:]
        return n

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.error is None and (self.buf or not self.submitted):
                self._submit(bytes(self.buf))
                self.buf = bytearray()
        finally:
            self.queue.put(None)
            self.writer.join()
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.error is not None:
            raise self.error
