"""The content store: immutable blobs addressed by their digest.

Layout under the state root::

    blobs/<algorithm>/<hex>   committed, verified content (read-only files)
    ingest/<random>           partial writes, invisible as blobs

Lifecycle of a write: ``stage`` streams bytes into a temporary file under
``ingest/``, hashing as it goes, fsyncs it, then checks the size and the
digest against what the caller expected.  ``commit`` renames the staged file
into ``blobs/`` atomically (and fsyncs the directory), so a blob is either
absent or complete and verified; ``discard`` drops it.  ``ingest`` is stage +
commit.  Several writers of the same content race harmlessly: the content is
identical and ``rename`` is atomic.  Staging lets a caller verify many blobs
(an image archive) and make all of them visible only when everything checked
out.

Example::

    store = ContentStore(root)
    d, n = store.ingest(io.BytesIO(b"hello"), expected=sha256_digest(b"hello"))
    assert store.read_bytes(d) == b"hello"

Errors: a digest or size mismatch raises InvalidArgument and leaves nothing
behind; reading or deleting an absent blob raises NotFound; an algorithm that
dockyard cannot compute raises InvalidArgument.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.digest import SHA256, Digest, Hasher, parse_digest
from dockyard.records import record

TYPE_CHECKING = False  # reading a blob (every ``dockyard run``) imports no pathlib/typing
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import IO, BinaryIO

__all__ = ["ContentStore", "StagedBlob"]

_CHUNK = 1 << 20


@record
class StagedBlob:
    """A verified blob in ``ingest/`` that is not visible yet."""

    digest: Digest
    size: int
    path: Path


class ContentStore:
    """Blobs under ``root/blobs`` with atomic, verified ingest through ``root/ingest``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = os.fspath(root)
        self._blobs = os.path.join(self._root, "blobs")

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self._root)

    @property
    def blobs_dir(self) -> Path:
        return self.root / "blobs"

    @property
    def ingest_dir(self) -> Path:
        return self.root / "ingest"

    # --- reading ------------------------------------------------------------------------

    def _blob_file(self, d: Digest) -> str:
        if not d.verifiable:
            raise InvalidArgument(f"blob {d}: unsupported digest algorithm")
        return os.path.join(self._blobs, d.algorithm, d.hex)

    def _blob_path(self, d: Digest) -> Path:
        from pathlib import Path

        return Path(self._blob_file(d))

    def has(self, d: Digest) -> bool:
        return d.verifiable and os.path.isfile(self._blob_file(d))

    def path(self, d: Digest) -> Path:
        """The file holding blob ``d``; NotFound when absent."""
        p = self._blob_path(d)
        if not p.is_file():
            raise NotFound(f"blob {d}: not found")
        return p

    def size(self, d: Digest) -> int:
        return self.path(d).stat().st_size

    def open(self, d: Digest) -> BinaryIO:
        """Open blob ``d`` for reading (the caller closes it)."""
        try:
            return open(self._blob_file(d), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {d}: not found") from None

    def read_bytes(self, d: Digest) -> bytes:
        with self.open(d) as f:
            return f.read()

    def walk(self) -> Iterator[Digest]:
        """Every committed blob, in no particular order."""
        if not self.blobs_dir.is_dir():
            return
        for alg_dir in self.blobs_dir.iterdir():
            for p in alg_dir.iterdir():
                try:
                    yield parse_digest(f"{alg_dir.name}:{p.name}")
                except InvalidArgument:
                    continue

    # --- writing ------------------------------------------------------------------------

    def stage(
        self, stream: IO[bytes], expected: Digest | None = None, size: int | None = None
    ) -> StagedBlob:
        """Copy ``stream`` into ``ingest/``, fsync and verify; nothing is visible yet."""
        import tempfile
        from pathlib import Path

        hasher = Hasher(expected.algorithm if expected else SHA256)
        self.ingest_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.ingest_dir, prefix="blob-")
        try:
            with os.fdopen(fd, "wb") as f:
                _copy(stream, f, hasher, size)
                f.flush()
                os.fsync(f.fileno())
            got = hasher.digest()
            _verify(got, hasher.size, expected, size)
        except BaseException:
            os.unlink(name)
            raise
        return StagedBlob(got, hasher.size, Path(name))

    def commit(self, staged: StagedBlob) -> Digest:
        """Make a staged blob visible under ``blobs/`` (atomic rename)."""
        target = self._blob_path(staged.digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(staged.path, 0o444)
        os.replace(staged.path, target)
        _fsync_dir(target.parent)
        return staged.digest

    def discard(self, staged: StagedBlob) -> None:
        try:  # (not contextlib.suppress: contextlib is slow to import)
            os.unlink(staged.path)
        except FileNotFoundError:
            pass

    def ingest(
        self, stream: IO[bytes], expected: Digest | None = None, size: int | None = None
    ) -> tuple[Digest, int]:
        """Write ``stream`` as a blob; verify ``expected`` digest and ``size`` when given."""
        if expected is not None and self.has(expected):
            staged = self.stage(stream, expected, size)
            self.discard(staged)
            return staged.digest, staged.size
        staged = self.stage(stream, expected, size)
        return self.commit(staged), staged.size

    def write_bytes(self, data: bytes, expected: Digest | None = None) -> Digest:
        import io

        return self.ingest(io.BytesIO(data), expected, len(data))[0]

    def delete(self, d: Digest) -> None:
        """Remove blob ``d``; NotFound when absent."""
        try:
            os.unlink(self._blob_file(d))
        except FileNotFoundError:
            raise NotFound(f"delete blob {d}: not found") from None


def _copy(src: IO[bytes], dst: IO[bytes], hasher: Hasher, limit: int | None) -> None:
    while chunk := src.read(_CHUNK):
        hasher.update(chunk)
        if limit is not None and hasher.size > limit:
            raise InvalidArgument(f"ingest blob: size exceeds the expected {limit} bytes")
        dst.write(chunk)


def _verify(got: Digest, n: int, expected: Digest | None, size: int | None) -> None:
    if size is not None and n != size:
        raise InvalidArgument(f"ingest blob {expected or got}: size {n} != expected {size}")
    if expected is not None and got != expected:
        raise InvalidArgument(f"ingest blob {expected}: digest mismatch: got {got}")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
