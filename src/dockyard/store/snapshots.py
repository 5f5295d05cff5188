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
scratch dir to ``fs`` (unsynced, so with the boot-id marker described below).
Concurrent callers wait and then find it done; a crash leaves only a scratch
dir, which is swept on the next attempt.
``lowerdirs(chain_ids)`` lists the ``fs`` dirs top layer first, as the
``lowerdir=`` mount option wants.  ``prepare(key)`` makes an active snapshot;
``remove(key)`` deletes one (active or committed).
``shifted_lower_dirs(chain, uid, gid, size)``: the layers with their owners moved into a
user namespace's id range, for kernels that cannot idmap them (store/shifted.py).

``adopt(chain_id, upper)`` turns a directory that already is in overlayfs form
(a build step's upper dir) into the committed snapshot by a rename.  Such a
directory was written through an overlay mounted ``volatile`` (no sync on
unmount), and an unpacked layer is not synced either, so the bytes of a
snapshot may not be on disk yet: ``snapshots/<hex>/volatile`` holds the boot id
of the moment it was committed.  A snapshot whose marker does
not hold the current boot id (a crash came between, or the marker itself was
lost half-written) is *stale*: ``has_layer`` says no and ``ensure_layer``
unpacks it again from its blob, which is always fsynced.  Within one boot the
page cache is the truth, so nothing is lost by not syncing.

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

import os

from dockyard.errors import AlreadyExists, InvalidArgument, NotFound
from dockyard.linux.fspath import rmtree
from dockyard.oci.digest import Digest, sha256_digest
from dockyard.records import record

TYPE_CHECKING = False  # a run whose layers are unpacked imports no pathlib/typing/tar
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path
    from typing import BinaryIO

__all__ = ["SnapshotInfo", "SnapshotStore", "chain_ids"]

_KEY_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_KEY_REST = _KEY_FIRST | frozenset("_.-")
_SCRATCH = "fs.tmp-"
_VOLATILE = "volatile"
_BOOT_ID: list[bytes] = []


def _boot_id() -> bytes:
    """This boot's id (``/proc/sys/kernel/random/boot_id``), read once."""
    if not _BOOT_ID:
        with open("/proc/sys/kernel/random/boot_id", "rb") as f:
            _BOOT_ID.append(f.read().strip())
    return _BOOT_ID[0]


def _valid_key(key: str) -> bool:
    """``[A-Za-z0-9][A-Za-z0-9_.-]{0,127}``."""
    return 0 < len(key) <= 128 and key[0] in _KEY_FIRST and _KEY_REST.issuperset(key)


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
    """Snapshots under ``root`` (``<state root>/snapshots``).

    The methods returning ``pathlib.Path`` have plain-string twins (``layer_dir``,
    ``lower_dirs``, ``prepare_dirs``) for the start path of a container.
    """

    def __init__(self, root: str | os.PathLike[str], *, overlay: bool = True) -> None:
        self._root = os.fspath(root)
        self.overlay = overlay

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self._root)

    def layer_dir(self, chain_id: Digest) -> str:
        return os.path.join(self._root, chain_id.hex, "fs")

    def layer_path(self, chain_id: Digest) -> Path:
        from pathlib import Path

        return Path(self.layer_dir(chain_id))

    def has_layer(self, chain_id: Digest) -> bool:
        return os.path.isdir(self.layer_dir(chain_id)) and not self._stale(chain_id)

    def _stale(self, chain_id: Digest) -> bool:
        """Whether the snapshot was adopted unsynced in an earlier boot (see ``adopt``)."""
        try:
            with open(os.path.join(self._root, chain_id.hex, _VOLATILE), "rb") as f:
                return f.read() != _boot_id()
        except FileNotFoundError:
            return False

    def adopt(self, chain_id: Digest, upper: str | os.PathLike[str]) -> bool:
        """Make ``upper`` (unsynced, overlayfs form) the committed snapshot of ``chain_id``
        by renaming it; False (``upper`` untouched) when that snapshot exists already."""
        d = os.path.join(self._root, chain_id.hex)
        os.makedirs(d, exist_ok=True)
        fs = os.path.join(d, "fs")
        with _Flock(os.path.join(d, "lock")):
            if os.path.isdir(fs):
                if not self._stale(chain_id):
                    return False
                rmtree(fs)
            _mark_volatile(d)
            os.rename(upper, fs)
        return True

    def ensure_layer(
        self, diff_id: Digest, chain_id: Digest, open_blob: Callable[[], BinaryIO]
    ) -> Path:
        """Unpack the layer once into ``<chainid-hex>/fs``; return that path."""
        fs = self.layer_path(chain_id)
        if self.has_layer(chain_id):
            return fs
        import tempfile
        from pathlib import Path

        fs.parent.mkdir(parents=True, exist_ok=True)
        with _Flock(str(fs.parent / "lock")):
            if self.has_layer(chain_id):
                return fs
            _sweep(fs.parent)
            if fs.is_dir():  # stale: written unsynced before a crash
                rmtree(fs)
            scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH, dir=fs.parent))
            try:
                self._unpack(diff_id, chain_id, open_blob, scratch)
                _mark_volatile(str(fs.parent))
                os.rename(scratch, fs)
            except BaseException:
                rmtree(scratch)
                raise
        return fs

    def _unpack(
        self, diff_id: Digest, chain_id: Digest, open_blob: Callable[[], BinaryIO], dest: Path
    ) -> None:
        from dockyard.store.layers import apply_layer  # tar, gzip: only to unpack

        where = f"unpack layer {diff_id}"
        os.chmod(dest, 0o755)
        with open_blob() as blob:
            got = apply_layer(blob, dest, overlay=self.overlay, where=where)
        if got != diff_id:
            raise InvalidArgument(f"{where}: diff id mismatch: got {got}")

    def lower_dirs(self, chain: Sequence[Digest]) -> list[str]:
        """The unpacked layers of ``chain`` (bottom first), returned top first."""
        out = []
        for cid in reversed(chain):
            fs = self.layer_dir(cid)
            if not os.path.isdir(fs):
                raise NotFound(f"snapshot {cid}: not unpacked")
            out.append(fs)
        return out

    def lowerdirs(self, chain: Sequence[Digest]) -> list[Path]:
        """:meth:`lower_dirs` as ``pathlib.Path``s."""
        from pathlib import Path

        return [Path(p) for p in self.lower_dirs(chain)]

    def shifted_lower_dirs(
        self, chain: Sequence[Digest], uid: int, gid: int, size: int
    ) -> list[str]:
        """:meth:`lower_dirs` for a container in a user namespace whose 0 is host
        ``uid``/``gid``, where the filesystem cannot be idmapped: a copy of each layer with
        its owners shifted into the range (store/shifted.py), made once per layer chain and
        range under the layer's lock."""
        from dockyard.store.shifted import shifted_copy

        out = []
        for cid in reversed(chain):
            fs = self.layer_dir(cid)
            if not os.path.isdir(fs):
                raise NotFound(f"snapshot {cid}: not unpacked")
            with _Flock(os.path.join(self._root, cid.hex, "lock")):
                out.append(shifted_copy(fs, uid, gid, size, _boot_id()))
        return out

    def prepare_dirs(self, key: str) -> tuple[str, str]:
        """Create the active snapshot ``key``; return ``(upper, work)``."""
        d = self._key_dir(key)
        os.makedirs(os.path.dirname(d), exist_ok=True)
        try:
            os.mkdir(d)
        except FileExistsError:
            raise AlreadyExists(f"prepare snapshot {key}: already exists") from None
        upper, work = os.path.join(d, "upper"), os.path.join(d, "work")
        os.mkdir(upper, 0o755)
        os.mkdir(work, 0o700)
        return upper, work

    def prepare(self, key: str) -> tuple[Path, Path]:
        """:meth:`prepare_dirs` as ``pathlib.Path``s."""
        from pathlib import Path

        upper, work = self.prepare_dirs(key)
        return Path(upper), Path(work)

    def active(self, key: str) -> tuple[Path, Path]:
        """``(upper, work)`` of an existing active snapshot."""
        from pathlib import Path

        d = Path(self._key_dir(key))
        if not (d / "upper").is_dir():
            raise NotFound(f"snapshot {key}: not found")
        return d / "upper", d / "work"

    def remove(self, key: str) -> None:
        """Delete the snapshot ``key`` (an active key or a chain-ID hex)."""
        d = self._key_dir(key)
        if not os.path.isdir(d):
            raise NotFound(f"remove snapshot {key}: not found")
        rmtree(d)

    def _key_dir(self, key: str) -> str:
        if not _valid_key(key):
            raise InvalidArgument(f"snapshot {key!r}: invalid key")
        return os.path.join(self._root, key)

    def walk(self) -> Iterator[SnapshotInfo]:
        """Every committed and active snapshot."""
        root = self.root
        if not root.is_dir():
            return
        for d in sorted(root.iterdir()):
            if (d / "fs").is_dir():
                yield SnapshotInfo(d.name, "committed", d / "fs")
            elif (d / "upper").is_dir():
                yield SnapshotInfo(d.name, "active", d)


class _Flock:
    """``with _Flock(path):`` holds an exclusive ``flock`` on ``path`` (created if absent)."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> None:
        import fcntl

        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self._fd)
            raise

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)


def _mark_volatile(d: str) -> None:
    """Write the boot-id marker of ``d``: before its ``fs`` appears, so that an unsynced
    ``fs`` never exists without it."""
    with open(os.path.join(d, _VOLATILE), "wb") as f:
        f.write(_boot_id())


def _sweep(d: Path) -> None:
    for p in d.glob(_SCRATCH + "*"):
        rmtree(p)
