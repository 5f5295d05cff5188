"""Snapshots: unpacked layers (overlay lower dirs) and containers' writable layers.

Terms (after containerd's snapshotter)
--------------------------------------
*chain ID*: the identity of a layer *with everything below it*, as the OCI
image spec defines it: ``chain(L0) = diffid(L0)`` and
``chain(L0..Ln) = sha256(chain(L0..Ln-1) + " " + diffid(Ln))``.  Two images
that share their bottom layers share those snapshots.
*committed snapshot*: ``snapshots/<chainid-hex>/fs``, one layer unpacked in
overlayfs form (whiteouts as 0/0 character devices, opaque directories as the
``trusted.overlay.opaque`` xattr); immutable once it exists.
*active snapshot*: ``snapshots/<key>/{upper,work}``, a container's writable
layer, named by a key the caller chooses (the container id).

Lifecycle
---------
``ensure_layer(diff_id, chain_id, open_blob)`` unpacks a layer once: under an
exclusive ``flock`` on ``snapshots/<hex>/lock`` it checks for ``fs``, else
applies the blob into a scratch dir, checks the diff ID, and renames the
scratch dir to ``fs``.  Concurrent callers wait and then find it done; a crash
leaves only a scratch dir, which is swept on the next attempt.
``lowerdirs(chain_ids)`` lists the ``fs`` dirs top layer first, as the
``lowerdir=`` mount option wants.  ``prepare(key)`` makes an active snapshot;
``remove(key)`` deletes one (active or committed).

Example::

    snaps = SnapshotStore(root / "snapshots")
    chain = chain_ids(config.rootfs.diff_ids)
    for diff_id, cid, desc in zip(config.rootfs.diff_ids, chain, manifest.layers):
        snaps.ensure_layer(diff_id, cid, lambda: blobs.open(desc.digest))
    upper, work = snaps.prepare(container_id)
    # mount -t overlay -o lowerdir=<lowerdirs(chain)>,upperdir=upper,workdir=work

Errors: a blob whose diff ID differs, or an unsafe layer, raises
InvalidArgument (nothing is left behind); an absent snapshot raises NotFound;
``prepare`` of an existing key raises AlreadyExists; a bad key raises
InvalidArgument.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from dockyard.errors import AlreadyExists, InvalidArgument, NotFound
from dockyard.oci.digest import Digest, sha256_digest
from dockyard.records import record
from dockyard.store.layers import apply_layer

__all__ = ["SnapshotInfo", "SnapshotStore", "chain_ids"]

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_SCRATCH = "fs.tmp-"


def chain_ids(diff_ids: Sequence[Digest]) -> list[Digest]:
    """The chain IDs of a stack of layers, bottom first."""
    out: list[Digest] = []
    for d in diff_ids:
        out.append(d if not out else sha256_digest(f"{out[-1]} {d}".encode()))
    return out


@record
class SnapshotInfo:
    """A snapshot on disk: ``kind`` is ``committed`` (a layer) or ``active`` (a container)."""

    name: str
    kind: str
    path: Path


class SnapshotStore:
    """Snapshots under ``root`` (``<state root>/snapshots``)."""

    def __init__(self, root: Path, *, overlay: bool = True) -> None:
        self.root = Path(root)
        self.overlay = overlay

    def layer_path(self, chain_id: Digest) -> Path:
        return self.root / chain_id.hex / "fs"

    def has_layer(self, chain_id: Digest) -> bool:
        return self.layer_path(chain_id).is_dir()

    def ensure_layer(
        self, diff_id: Digest, chain_id: Digest, open_blob: Callable[[], BinaryIO]
    ) -> Path:
        """Unpack the layer once into ``<chainid-hex>/fs``; return that path."""
        fs = self.layer_path(chain_id)
        if fs.is_dir():
            return fs
        fs.parent.mkdir(parents=True, exist_ok=True)
        with _flock(fs.parent / "lock"):
            if fs.is_dir():
                return fs
            _sweep(fs.parent)
            scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH, dir=fs.parent))
            try:
                self._unpack(diff_id, chain_id, open_blob, scratch)
                os.rename(scratch, fs)
            except BaseException:
                shutil.rmtree(scratch, ignore_errors=True)
                raise
        return fs

    def _unpack(
        self, diff_id: Digest, chain_id: Digest, open_blob: Callable[[], BinaryIO], dest: Path
    ) -> None:
        where = f"unpack layer {diff_id}"
        os.chmod(dest, 0o755)
        with open_blob() as blob:
            got = apply_layer(blob, dest, overlay=self.overlay, where=where)
        if got != diff_id:
            raise InvalidArgument(f"{where}: diff id mismatch: got {got}")

    def lowerdirs(self, chain: Sequence[Digest]) -> list[Path]:
        """The unpacked layers of ``chain`` (bottom first), returned top first."""
        out = []
        for cid in reversed(chain):
            fs = self.layer_path(cid)
            if not fs.is_dir():
                raise NotFound(f"snapshot {cid}: not unpacked")
            out.append(fs)
        return out

    def prepare(self, key: str) -> tuple[Path, Path]:
        """Create the active snapshot ``key``; return ``(upper, work)``."""
        d = self._key_dir(key)
        try:
            d.mkdir(parents=True)
        except FileExistsError:
            raise AlreadyExists(f"prepare snapshot {key}: already exists") from None
        upper, work = d / "upper", d / "work"
        upper.mkdir(mode=0o755)
        work.mkdir(mode=0o700)
        return upper, work

    def active(self, key: str) -> tuple[Path, Path]:
        """``(upper, work)`` of an existing active snapshot."""
        d = self._key_dir(key)
        if not (d / "upper").is_dir():
            raise NotFound(f"snapshot {key}: not found")
        return d / "upper", d / "work"

    def remove(self, key: str) -> None:
        """Delete the snapshot ``key`` (an active key or a chain-ID hex)."""
        d = self._key_dir(key)
        if not d.is_dir():
            raise NotFound(f"remove snapshot {key}: not found")
        _rmtree(d)

    def _key_dir(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise InvalidArgument(f"snapshot {key!r}: invalid key")
        return self.root / key

    def walk(self) -> Iterator[SnapshotInfo]:
        """Every committed and active snapshot."""
        if not self.root.is_dir():
            return
        for d in sorted(self.root.iterdir()):
            if (d / "fs").is_dir():
                yield SnapshotInfo(d.name, "committed", d / "fs")
            elif (d / "upper").is_dir():
                yield SnapshotInfo(d.name, "active", d)


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _sweep(d: Path) -> None:
    for p in d.glob(_SCRATCH + "*"):
        _rmtree(p)


def _rmtree(p: Path) -> None:
    """Remove a tree; directories without write permission are opened up first."""

    def onerror(func: object, path: str, exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
        if os.path.lexists(path):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)

    shutil.rmtree(p, onerror=onerror)
