"""Root filesystems for build steps: overlay mounts over a stage's layers.

Protocol of one layer step (RUN, COPY, ADD, WORKDIR)::

    with StepRootfs(store, work_root, layers) as fs:   # lowers unpacked once, fresh
        ... change fs.merged ...                     # upper dir, overlay mounted
    layer = fs.commit(layers)                         # diff of the upper → blob

``commit`` writes the upper dir as a gzip layer (whiteouts and opaque dirs in
the OCI form, reproducible under ``SOURCE_DATE_EPOCH``) straight into the
content store in one streaming pass (tar → parallel gzip → a file under
``ingest/``, the diff ID and the digest hashed on the way, then a rename: the
compressed bytes are written once); then the upper dir *becomes* the committed snapshot of the new
layer (``snapshots/<chain id>/fs``) — it already is in overlayfs form — so the
next step mounts it without unpacking anything.  A step that changed nothing
makes no layer (None).

:class:`ReadOnlyRootfs` mounts a stage or image read-only (the lower dirs only)
for ``COPY --from`` and ``RUN --mount=from=``.

Mounts are made through the kernel seam and always undone (lazily, so a busy
file system never blocks the build); the work directories live under
``<root>/buildcache/work`` and go with the step.  Errors: a failed mount →
the seam's error (PermissionDenied/Unavailable…); a blob that cannot be
unpacked → InvalidArgument.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import stat
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from dockyard.build.state import Layer, LayerRef
from dockyard.errors import InvalidArgument
from dockyard.oci.digest import Digest
from dockyard.store.snapshots import chain_ids

if TYPE_CHECKING:
    from dockyard.linux.syscalls import Syscalls
    from dockyard.store.images import ImageStore
    from dockyard.store.layers import LayerInfo

__all__ = ["ReadOnlyRootfs", "StepRootfs", "lowerdirs", "umount"]

MNT_DETACH = 2


def _syscalls(sc: Syscalls | None) -> Syscalls:
    if sc is not None:
        return sc
    from dockyard.linux import LibcSyscalls

    return LibcSyscalls()


# Held from reading the ``location`` of pending layers until the mount that names them is
# made; :mod:`dockyard.build.commits` holds it to rename a pending layer's upper dir.
MOUNT_LOCK = threading.Lock()


def lowerdirs(store: ImageStore, layers: Sequence[Layer]) -> list[Path]:
    """The dirs of ``layers`` for ``lowerdir=``, top first: a pending layer's ``location``,
    else the snapshot of its chain ID (unpacked once).  Call with ``MOUNT_LOCK`` held."""
    out: list[Path] = []
    chain: Digest | None = None  # the chain ID of the layers so far, when computed
    for i, layer in enumerate(layers):
        where = layer.location
        if where is not None:
            out.append(where)
            chain = None
            continue
        if chain is None:  # (the diff IDs of pending layers below are awaited here)
            chain = chain_ids([x.diff_id for x in layers[: i + 1]])[-1]
        else:
            chain = chain_ids([chain, layer.diff_id])[-1]
        out.append(
            store.snapshots.ensure_layer(
                layer.diff_id, chain, functools.partial(store.blobs.open, layer.digest)
            )
        )
    return out[::-1]


def _is_mountpoint(target: Path) -> bool:
    wanted = str(target)
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == wanted for line in f)
    except OSError:
        return False


def umount(target: Path, sc: Syscalls | None = None) -> None:
    """Unmount ``target`` (lazily) if it is a mount point."""
    if _is_mountpoint(target):
        _syscalls(sc).umount2(str(target), MNT_DETACH)


def _work_dir(work_root: Path) -> Path:
    d = work_root / os.urandom(8).hex()
    d.mkdir(parents=True)
    return d


class StepRootfs:
    """A writable overlay over a stage's layers; see the module docstring."""

    def __init__(self, store: ImageStore, work_root: Path, layers: Sequence[Layer],
                 syscalls: Syscalls | None = None) -> None:  # fmt: skip
        self.store = store
        self.layers = list(layers)
        self.sc = _syscalls(syscalls)
        self.dir = _work_dir(work_root)
        self.key = "build-" + self.dir.name
        self.merged = self.dir / "rootfs"
        self.upper = Path()
        self.work = Path()
        self.stubs: list[str] = []
        self.parents: dict[str, tuple[int, int, int]] = {}
        self.adopted = False

    def __enter__(self) -> StepRootfs:
        try:
            self.upper, self.work = self.store.snapshots.prepare(self.key)
            self.merged.mkdir()
            with MOUNT_LOCK:
                lowers = lowerdirs(self.store, self.layers)
                if not lowers:
                    empty = self.dir / "empty"
                    empty.mkdir()
                    lowers = [empty]
                data = (f"lowerdir={':'.join(str(p) for p in lowers)},"
                        f"upperdir={self.upper},workdir={self.work}")  # fmt: skip
                _mount_volatile(self.sc, self.merged, data)
        except BaseException:
            self.discard()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        try:
            umount(self.merged, self.sc)
        except Exception as cleanup:
            if exc is None:
                raise
            exc.add_note(f"cleanup failed: {cleanup}")
        if exc is not None:
            self.discard()

    def note_stubs(self, paths: Sequence[str]) -> None:
        """Remember which of ``paths`` (mount points a container will get) do not exist
        yet, so that the empty files and directories made for them leave no trace."""
        for p in paths:
            rel = p.strip("/")
            parts = rel.split("/")
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                try:
                    st = os.lstat(self.merged / sub)
                except OSError:
                    if sub not in self.stubs:
                        self.stubs.append(sub)
                    continue
                if i < len(parts) and stat.S_ISDIR(st.st_mode):
                    self.parents[sub] = (st.st_mode, st.st_uid, st.st_gid)

    def _drop_stubs(self) -> None:
        for rel in sorted(self.stubs, key=lambda s: -s.count("/")):
            path = self.upper / rel
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                if stat.S_ISDIR(st.st_mode):
                    os.rmdir(path)  # only when empty
                elif stat.S_ISREG(st.st_mode) and st.st_size == 0:
                    os.unlink(path)
        # a directory copied up only to hold a stub, and otherwise unchanged, goes too
        for rel, (mode, uid, gid) in sorted(self.parents.items(), key=lambda x: -x[0].count("/")):
            path = self.upper / rel
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                same = (st.st_mode, st.st_uid, st.st_gid) == (mode, uid, gid)
                if same and not _opaque(path) and _empty(path):
                    os.rmdir(path)

    def discard(self) -> None:
        """Remove the step's upper dir (unless adopted) and work dirs."""
        with contextlib.suppress(Exception):
            umount(self.merged, self.sc)
        if _is_mountpoint(self.merged):
            return  # never delete through a mount that is still there
        with contextlib.suppress(Exception):
            self.store.snapshots.remove(self.key)
        shutil.rmtree(self.dir, ignore_errors=True)

    def seal(self) -> bool:
        """After the step (unmounted): drop the stubs; False, and the dirs removed, when
        nothing changed.  A sealed upper dir never changes again: it is the new layer's
        files, committed by :meth:`commit` (or in the background, :mod:`.commits`)."""
        try:
            self._drop_stubs()
            changed = not _empty(self.upper)
        except BaseException:
            self.discard()
            raise
        if not changed:
            self.discard()
        return changed

    def publish(self) -> LayerRef:
        """Write the sealed upper dir as a blob; then it becomes the snapshot of its chain
        ID (``adopt``), unless that exists.  The caller removes what is left (``discard``)
        once nothing mounts the upper dir any more."""
        info = write_layer(self.store, self.upper)
        ref = LayerRef(info.digest, info.diff_id, info.size, info.media_type)
        chain = chain_ids([*(x.diff_id for x in self.layers), info.diff_id])[-1]
        with MOUNT_LOCK:
            self.adopted = self.store.snapshots.adopt(chain, self.upper)
            if self.adopted:
                self.upper = self.store.snapshots.layer_path(chain)
        return ref

    def commit(self) -> LayerRef | None:
        """The upper dir as a new layer on top of ``layers`` (None: nothing changed)."""
        if not self.seal():
            return None
        try:
            return self.publish()
        finally:
            self.discard()


_VOLATILE_OK: list[bool] = []


def _mount_volatile(sc: Syscalls, target: Path, data: str) -> None:
    """Mount a step's overlay with ``volatile``: its unmount then does not sync the whole
    upper file system (tens of milliseconds per step, and more when other writers have
    dirty pages); the upper dir becomes a snapshot that the store knows to be unsynced
    (:meth:`dockyard.store.snapshots.SnapshotStore.adopt`).  Kernels before 5.10 refuse
    the option (EINVAL): then the mount is made without it, once and for all."""
    if not _VOLATILE_OK or _VOLATILE_OK[0]:
        try:
            sc.mount("overlay", str(target), "overlay", 0, data + ",volatile")
            _VOLATILE_OK[:] = [True]
            return
        except InvalidArgument:
            if _VOLATILE_OK:
                raise
            _VOLATILE_OK[:] = [False]
    sc.mount("overlay", str(target), "overlay", 0, data)


def _empty(path: Path) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is None


def _opaque(path: Path) -> bool:
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        with contextlib.suppress(OSError):
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
    return False


def write_layer(store: ImageStore, upper: Path) -> LayerInfo:
    """Tar ``upper``, gzip it on every CPU (:mod:`dockyard.build.pgzip`) and write it into
    the content store in one streaming pass: the tar is hashed on the way in (diff ID),
    the compressed bytes on the way out (digest), straight into a file under ``ingest/``
    that is fsynced and renamed into ``blobs/`` — the layer is written once, never copied.
    """
    import tempfile

    from dockyard.build.pgzip import ParallelGzipWriter, worth_gzip
    from dockyard.oci import mediatypes as mt
    from dockyard.store.blobs import StagedBlob
    from dockyard.store.layers import LayerInfo, diff_upper
    from dockyard.store.streams import HashingWriter

    ingest = store.blobs.ingest_dir
    ingest.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=ingest, prefix="layer-")
    media_type = mt.OCI_LAYER_GZIP if worth_gzip(upper) else mt.OCI_LAYER
    try:
        with open(fd, "wb", buffering=0) as f:
            if media_type == mt.OCI_LAYER:  # nearly all incompressible: a plain tar
                plain = diff_upper(upper, f, compress=False)
                digest, size = plain.digest, plain.size
            else:
                outer = HashingWriter(f)
                gz = ParallelGzipWriter(outer)  # type: ignore[arg-type]
                try:
                    plain = diff_upper(upper, gz, compress=False)  # type: ignore[arg-type]
                finally:
                    gz.close()
                digest, size = outer.digest(), outer.hasher.size
            known = store.blobs.has(digest)  # (a rebuild that made the same layer)
            if not known:
                os.fsync(f.fileno())
        staged = StagedBlob(digest, size, Path(name))
        if known:
            store.blobs.discard(staged)
        else:
            store.blobs.commit(staged)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise
    return LayerInfo(plain.diff_id, staged.digest, staged.size, media_type)


class ReadOnlyRootfs:
    """A read-only overlay of a stage's or an image's layers (for ``--from``)."""

    def __init__(self, store: ImageStore, work_root: Path, layers: Sequence[Layer],
                 syscalls: Syscalls | None = None) -> None:  # fmt: skip
        self.store = store
        self.layers = list(layers)
        self.sc = _syscalls(syscalls)
        self.dir = _work_dir(work_root)
        self.merged = self.dir / "rootfs"

    def __enter__(self) -> Path:
        try:
            self.merged.mkdir()
            empty = self.dir / "empty"
            empty.mkdir()
            with MOUNT_LOCK:
                lowers = [*lowerdirs(self.store, self.layers), empty]
                if len(lowers) == 1:
                    return empty
                data = "lowerdir=" + ":".join(str(p) for p in lowers)
                self.sc.mount("overlay", str(self.merged), "overlay", 0, data)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self.merged

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        umount(self.merged, self.sc)
        if not _is_mountpoint(self.merged):
            shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def mounted_readonly(store: ImageStore, work_root: Path, layers: Sequence[Layer],
                     syscalls: Syscalls | None = None) -> Iterator[Path]:  # fmt: skip
    with ReadOnlyRootfs(store, work_root, layers, syscalls) as root:
        yield root
