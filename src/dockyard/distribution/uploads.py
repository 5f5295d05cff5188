"""Resumable blob uploads on top of the content store (an adapter; see below).

An upload session is a file ``<root>/ingest/upload-<id>`` that grows by
appends, in order; its size is the number of bytes received, which is what
``Range: 0-<size-1>`` reports and where the next chunk must start.  Closing a
session takes the hash the server kept while the bytes arrived (or hashes
the file, after a restart), checks the digest the client names, and commits it
into ``blobs/`` with :meth:`ContentStore.commit` — one atomic rename, so a
blob is visible only complete and verified, and a crash at any point leaves
either a session that can be resumed or a committed blob.

This belongs in ``store/`` as a resumable writer of the content store
(``ContentStore.writer(ref)`` with offset, append, commit); until it moves there
it is built here from the store's public ``StagedBlob`` and ``commit``.

Errors: a digest mismatch raises InvalidArgument (the session is discarded);
an absent session raises NotFound.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from dockyard.distribution._blobio import hash_file
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci.digest import Digest, Hasher
from dockyard.store.blobs import ContentStore, StagedBlob

__all__ = ["UploadFiles"]


class UploadFiles:
    """Session files in the content store's ``ingest/`` directory."""

    def __init__(self, store: ContentStore) -> None:
        self.store = store

    def path(self, upload_id: str) -> Path:
        return self.store.ingest_dir / f"upload-{upload_id}"

    def create(self, upload_id: str) -> Path:
        self.store.ingest_dir.mkdir(parents=True, exist_ok=True)
        p = self.path(upload_id)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        os.close(fd)
        return p

    def exists(self, upload_id: str) -> bool:
        return self.path(upload_id).is_file()

    def size(self, upload_id: str) -> int:
        try:
            return self.path(upload_id).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"upload {upload_id}: not found") from None

    def truncate(self, upload_id: str, size: int) -> None:
        os.truncate(self.path(upload_id), size)

    def discard(self, upload_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(upload_id))

    def commit(
        self, upload_id: str, expected: Digest, hashed: Hasher | None = None
    ) -> tuple[Digest, int]:
        """Verify the session's bytes against ``expected`` and make them a blob.

        ``hashed`` is the session's running hash when the server kept one while
        the bytes arrived; it is used when it covers the whole file, so the
        bytes are not read again.  Otherwise the file is hashed here.
        """
        path = self.path(upload_id)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound(f"upload {upload_id}: not found") from None
        try:
            size = os.fstat(fd).st_size
            hasher = hashed
            if hasher is None or hasher.algorithm != expected.algorithm or hasher.size != size:
                hasher = Hasher(expected.algorithm)
                hash_file(fd, hasher)
            os.fsync(fd)
        finally:
            os.close(fd)
        got = hasher.digest()
        if got != expected:
            self.discard(upload_id)
            raise InvalidArgument(f"upload {upload_id}: digest mismatch: got {got}")
        if self.store.has(expected):
            self.discard(upload_id)
            return expected, hasher.size
        self.store.commit(StagedBlob(expected, hasher.size, path))
        return expected, hasher.size
