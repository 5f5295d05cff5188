"""Stream helpers for layers: compression by magic number, hashing readers and writers."""

from __future__ import annotations

import io
from typing import IO, BinaryIO

from dockyard.errors import Unavailable
from dockyard.oci.digest import Digest, Hasher

__all__ = [
    "HashingReader",
    "HashingWriter",
    "TarTail",
    "compression_of",
    "drain",
    "open_plain",
]

_GZIP = b"\x1f\x8b"
_ZSTD = b"\x28\xb5\x2f\xfd"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_CHUNK = 1 << 20


def compression_of(head: bytes) -> str:
    """``gzip``, ``zstd``, ``bzip2``, ``xz`` or ``none`` from the first bytes."""
    for magic, name in ((_GZIP, "gzip"), (_ZSTD, "zstd"), (_BZIP2, "bzip2"), (_XZ, "xz")):
        if head.startswith(magic):
            return name
    return "none"


class _Prefixed(io.RawIOBase):
    """``prefix`` then the rest of ``stream``: lets us sniff without seeking."""

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        if self._prefix:
            n = min(len(b), len(self._prefix))
            b[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(b))
        b[: len(data)] = data
        return len(data)


def open_plain(stream: IO[bytes]) -> IO[bytes]:
    """Wrap ``stream`` so that reading yields the uncompressed tar bytes."""
    head = stream.read(6)
    raw = io.BufferedReader(_Prefixed(head, stream), _CHUNK)
    kind = compression_of(head)
    if kind == "gzip":
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if kind == "bzip2":
        import bz2

        return bz2.BZ2File(raw)
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(raw)
    if kind == "zstd":
        raise Unavailable("decompress layer: zstd layers are not supported yet")
    return raw


class HashingReader(io.RawIOBase):
    """Reads through ``stream`` and hashes every byte read."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.hasher = Hasher()

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(b))
        self.hasher.update(data)
        b[: len(data)] = data
        return len(data)

    def digest(self) -> Digest:
        return self.hasher.digest()


class TarTail(io.RawIOBase):
    """Completes a tar stream cut short after its last member's data.

    Some writers (umoci 0.4) omit the final block padding and the two zero
    end-of-archive blocks; Go's archive/tar reads such streams, Python's
    tarfile does not.  At end of input this reader supplies the missing
    zeros.  Digests are computed below it, over the bytes actually received.
    """

    _BLOCK = 512

    def __init__(self, stream: IO[bytes] | io.RawIOBase) -> None:
        self._stream = stream
        self._seen = 0
        self._tail: bytes | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        if self._tail is None:
            data = self._stream.read(len(b))
            if data:
                self._seen += len(data)
                b[: len(data)] = data
                return len(data)
            pad = -self._seen % self._BLOCK
            self._tail = b"\0" * (pad + 2 * self._BLOCK)
        n = min(len(b), len(self._tail))
        b[:n] = self._tail[:n]
        self._tail = self._tail[n:]
        return n


class HashingWriter(io.RawIOBase):
    """Writes through to ``stream`` and hashes every byte written."""

    def __init__(self, stream: BinaryIO | io.RawIOBase | io.BufferedIOBase) -> None:
        self._stream = stream
        self.hasher = Hasher()

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        """How many bytes were written (what ``tarfile`` asks of a stream it writes to)."""
        return self.hasher.size

    def write(self, b: bytes) -> int:  # type: ignore[override]
        data = b if type(b) is bytes else bytes(b)
        self.hasher.update(data)
        self._stream.write(data)
        return len(data)

    def digest(self) -> Digest:
        return self.hasher.digest()


def drain(stream: BinaryIO | io.RawIOBase) -> None:
    """Read ``stream`` to its end (so a hashing reader sees every byte)."""
    while stream.read(_CHUNK):
        pass
