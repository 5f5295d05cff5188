"""Reading an image archive into staging: small JSON files in memory, blobs staged.

Nothing read here is visible in the store: blobs go to ``ingest/`` as
:class:`~dockyard.store.blobs.StagedBlob` (verified against their name when it
is ``blobs/<alg>/<hex>``) and are committed or discarded by the caller.
"""

from __future__ import annotations

import contextlib
import posixpath
import tarfile
from pathlib import Path
from typing import IO

from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest, parse_digest
from dockyard.records import field, record
from dockyard.store._safepath import clean_name
from dockyard.store.blobs import ContentStore, StagedBlob
from dockyard.store.streams import open_plain

__all__ = ["ArchiveFiles", "read_archive"]

_META_MAX = 16 << 20
_META_NAMES = ("oci-layout", "index.json", "manifest.json", "repositories")
_MAX_HOPS = 16


@record(frozen=False)
class ArchiveFiles:
    """What an archive holds, by name inside the archive."""

    where: str
    blobs: ContentStore
    meta: dict[str, bytes] = field(default_factory=dict)
    staged: dict[str, StagedBlob] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def _follow(self, name: str) -> str:
        for _ in range(_MAX_HOPS):
            if name not in self.links:
                return name
            name = self.links[name]
        raise InvalidArgument(f"{self.where}: too many levels of links: {name}")

    def read(self, name: str) -> bytes:
        """A file's bytes: a metadata file or a staged blob."""
        name = self._follow(_norm(name, self.where))
        if name in self.meta:
            return self.meta[name]
        if name in self.staged:
            return self.staged[name].path.read_bytes()
        raise InvalidArgument(f"{self.where}: missing file: {name}")

    def has(self, name: str) -> bool:
        return self._follow(_norm(name, self.where)) in self.meta | self.staged

    def blob(self, name: str) -> StagedBlob:
        """A staged file by its archive name."""
        resolved = self._follow(_norm(name, self.where))
        if resolved not in self.staged:
            raise InvalidArgument(f"{self.where}: missing file: {name}")
        return self.staged[resolved]

    def by_digest(self, d: Digest, size: int | None = None) -> StagedBlob:
        """The staged blob ``blobs/<alg>/<hex>``; its size must match ``size``."""
        name = f"blobs/{d.algorithm}/{d.hex}"
        if not self.has(name):
            raise InvalidArgument(f"{self.where}: blob {d} missing from archive")
        staged = self.blob(name)
        if size is not None and staged.size != size:
            raise InvalidArgument(f"{self.where}: blob {d}: size {staged.size} != {size}")
        return staged

    def discard(self) -> None:
        for staged in self.staged.values():
            self.blobs.discard(staged)


def _norm(name: str, where: str) -> str:
    return "/".join(clean_name(name, where))


def read_archive(path: Path, blobs: ContentStore, where: str) -> ArchiveFiles:
    """Read every entry of the archive at ``path``; the caller discards on failure."""
    files = ArchiveFiles(where, blobs)
    try:
        with open(path, "rb") as raw:
            plain = open_plain(raw)
            with tarfile.open(fileobj=plain, mode="r|") as tf:
                for member in tf:
                    _entry(files, member, tf)
    except BaseException as e:
        files.discard()
        if isinstance(e, tarfile.TarError | EOFError):
            raise InvalidArgument(f"{where}: invalid archive: {e}") from None
        if isinstance(e, FileNotFoundError):
            raise InvalidArgument(f"{where}: no such file") from None
        raise
    return files


def _entry(files: ArchiveFiles, m: tarfile.TarInfo, tf: tarfile.TarFile) -> None:
    where = files.where
    name = _norm(m.name, where)
    if not name or m.isdir():
        return
    if m.issym() or m.islnk():
        base = posixpath.dirname(name) if m.issym() else ""
        target = posixpath.normpath(posixpath.join(base, m.linkname))
        if m.linkname.startswith("/") or target.startswith("../") or target == "..":
            raise InvalidArgument(f"{where}: link escapes archive: {m.name} -> {m.linkname}")
        files.links[name] = target
        return
    if not m.isreg():
        raise InvalidArgument(f"{where}: unexpected entry type {m.type!r}: {m.name}")
    src = tf.extractfile(m)
    assert src is not None
    if _is_meta(name) and m.size <= _META_MAX:
        files.meta[name] = src.read()
    else:
        files.staged[name] = _stage(files, name, src, m.size)


def _is_meta(name: str) -> bool:
    if name.startswith("blobs/"):
        return False
    return name in _META_NAMES or name.endswith((".json", "/json", "/VERSION"))


def _stage(files: ArchiveFiles, name: str, src: IO[bytes], size: int) -> StagedBlob:
    expected = None
    parts = name.split("/")
    if len(parts) == 3 and parts[0] == "blobs":
        with contextlib.suppress(InvalidArgument):
            expected = parse_digest(f"{parts[1]}:{parts[2]}")
    if expected is not None and not expected.verifiable:
        expected = None
    try:
        return files.blobs.stage(src, expected, size)
    except InvalidArgument as e:
        raise InvalidArgument(f"{files.where}: {name}: {_reason(e)}") from None


def _reason(e: InvalidArgument) -> str:
    msg = str(e)
    return msg.split(": ", 1)[1] if ": " in msg else msg
