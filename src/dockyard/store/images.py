"""The image store: blobs + state database + snapshots under one state root.

Terms
-----
*image*: a manifest (stored as a blob, keyed by its digest) with its config
and layers; its *id* is the config digest, as ``docker images`` shows it.
*tag*: a full reference (``docker.io/library/busybox:latest``) pointing at one
manifest digest; tagging an image moves the tag off any other.  An image with
no tags is *dangling*.

Lifecycle
---------
``add_image`` records an image whose layer blobs are already in the content
store (ingested by a pull, a load or a build); it writes the manifest and
config blobs and then the database row and tags in one transaction, so an
image is visible only when all its content is.  ``create_image`` makes an
image from layer files and a config (bootstrap, builds).  ``resolve`` finds
an image by reference, familiar name, ``name@digest``, id or id prefix.
``remove`` untags and deletes the record; the blobs and snapshots it leaves
unreferenced go with :func:`dockyard.store.gc.prune`.  ``lowerdirs`` unpacks
the layers as snapshots on first use.

Example::

    store = ImageStore(root)
    img = store.create_image([Path("rootfs.tar.gz")], ImageConfig("amd64", "linux"),
                             tags=("busybox",))
    assert store.resolve("busybox").id == img.id
    store.tag("busybox", "localhost:5000/busybox:v1")
    lower = store.lowerdirs(img)

Errors: a missing blob or image raises NotFound; a malformed manifest or
config, a digest mismatch or an ambiguous id prefix raises InvalidArgument;
removing an image that containers use, or that has several tags when named
by id, raises Conflict (unless ``force``).
"""

from __future__ import annotations

import os

from dockyard.errors import Conflict, InvalidArgument, NotFound
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, parse_digest, sha256_digest
from dockyard.oci.image import (
    Descriptor,
    ImageConfig,
    Manifest,
    RootFS,
    parse_config,
    parse_manifest,
)
from dockyard.oci.reference import Reference, parse_reference
from dockyard.records import field, record, replace
from dockyard.store.db import ImageRecord, StateDB
from dockyard.store.snapshots import SnapshotStore, chain_ids

# Resolving an image whose layers are unpacked (every ``dockyard run``) imports no
# pathlib, typing, tarfile, gzip or tempfile: those come with the first unpack, ingest
# or ``Path``-returning call.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path
    from types import TracebackType
    from typing import BinaryIO

    from dockyard.store.blobs import ContentStore

__all__ = ["Image", "ImageStore", "RemoveReport"]


@record
class Image:
    """An image in the store."""

    id: Digest
    manifest_digest: Digest
    manifest: Manifest
    config: ImageConfig
    repo_tags: tuple[str, ...] = ()
    created: str | None = None
    size: int = 0

    @property
    def chain_ids(self) -> list[Digest]:
        return chain_ids(self.config.rootfs.diff_ids)


@record(frozen=False)
class RemoveReport:
    """What ``remove`` did: references untagged, image ids deleted."""

    untagged: list[str] = field(default_factory=list)
    deleted: list[Digest] = field(default_factory=list)


class ImageStore:
    """Images under one state root; see the module docstring for the protocol."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = os.fspath(root)
        from dockyard.store.perms import secure_root

        secure_root(self._root)  # 0710, and an older, wider root tightened (see perms.py)
        self._blobs: ContentStore | None = None
        self.db = StateDB(os.path.join(self._root, "state.db"))
        self.snapshots = SnapshotStore(os.path.join(self._root, "snapshots"))

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self._root)

    @property
    def blobs(self) -> ContentStore:
        if self._blobs is None:
            from dockyard.store.blobs import ContentStore

            self._blobs = ContentStore(self._root)
        return self._blobs

    def lock(self, exclusive: bool = False) -> _StoreLock:
        """The store lock: writers of images share it, garbage collection holds it alone
        (``with store.lock():``)."""
        return _StoreLock(self._root, exclusive)

    # --- adding -------------------------------------------------------------------------

    def add_image(
        self, manifest_bytes: bytes, config_bytes: bytes, *, tags: Iterable[str] = ()
    ) -> Image:
        """Record an image whose layers are in the content store; write manifest and config."""
        refs = tuple(str(parse_reference(t)) for t in tags)
        manifest = parse_manifest(manifest_bytes, allow_no_layers=True)
        config = parse_config(config_bytes)
        _check_image(manifest, config)
        with self.lock():
            for layer in manifest.layers:
                if not self.blobs.has(layer.digest):
                    raise NotFound(f"add image: layer blob {layer.digest} not found")
            self.blobs.write_bytes(config_bytes, manifest.config.digest)
            manifest_digest = self.blobs.write_bytes(manifest_bytes)
            rec = ImageRecord(
                manifest_digest=str(manifest_digest),
                id=str(manifest.config.digest),
                media_type=manifest.media_type or mt.OCI_MANIFEST,
                created=config.created,
                size=manifest.config.size + sum(x.size for x in manifest.layers),
                added_at=_time(),
            )
            self.db.put_image(rec, refs)
        return self._image(rec)

    def create_image(
        self, layers: Sequence[Path], config: ImageConfig, tags: Iterable[str] = ()
    ) -> Image:
        """Make an image from compressed (or plain) layer tar files and a config.

        The config's ``rootfs.diff_ids`` are filled in from the layers when
        empty, and must match them otherwise.
        """
        descriptors, diff_ids = [], []
        from pathlib import Path

        for path in layers:
            desc, diff_id = self._ingest_layer(Path(path))
            descriptors.append(desc)
            diff_ids.append(diff_id)
        if not config.rootfs.diff_ids:
            config = _with_diff_ids(config, diff_ids)
        elif list(config.rootfs.diff_ids) != diff_ids:
            raise InvalidArgument("create image: config rootfs.diff_ids do not match the layers")
        config_bytes = config.content()
        config_desc = _descriptor(mt.OCI_CONFIG, config_bytes)
        self.blobs.write_bytes(config_bytes)
        manifest = Manifest(config=config_desc, layers=tuple(descriptors))
        return self.add_image(manifest.to_json(), config_bytes, tags=tags)

    def _ingest_layer(self, path: Path) -> tuple[Descriptor, Digest]:
        from dockyard.store.layers import diff_id_of

        where = f"create image: layer {path}"
        with path.open("rb") as f:
            head = f.read(2)
            f.seek(0)
            digest, size = self.blobs.ingest(f)
        with self.blobs.open(digest) as f:
            diff_id = diff_id_of(f, where)
        media_type = mt.OCI_LAYER_GZIP if head == b"\x1f\x8b" else mt.OCI_LAYER
        return Descriptor(media_type, digest, size), diff_id

    # --- finding ------------------------------------------------------------------------

    def _image(self, rec: ImageRecord) -> Image:
        manifest_digest = parse_digest(rec.manifest_digest)
        manifest = parse_manifest(self.blobs.read_bytes(manifest_digest), allow_no_layers=True)
        config = parse_config(self.blobs.read_bytes(manifest.config.digest))
        tags = tuple(parse_reference(t).familiar() for t in self.db.tags_of(rec.manifest_digest))
        return Image(
            id=parse_digest(rec.id),
            manifest_digest=manifest_digest,
            manifest=manifest,
            config=config,
            repo_tags=tags,
            created=rec.created,
            size=rec.size,
        )

    def resolve(self, ref_or_id: str) -> Image:
        """Find an image by reference, familiar name, ``name@digest``, id or id prefix."""
        return self._image(self._record(ref_or_id))

    def _record(self, s: str) -> ImageRecord:
        ref = _try_reference(s)
        if ref is not None:
            rec = self._by_reference(ref)
            if rec is not None:
                return rec
        return self._by_id(s)

    def _by_reference(self, ref: Reference) -> ImageRecord | None:
        if ref.digest is not None:
            try:
                return self.db.get_image(str(ref.digest))
            except NotFound:
                return None
        digest = self.db.get_tag(str(ref))
        return None if digest is None else self.db.get_image(digest)

    def _by_id(self, s: str) -> ImageRecord:
        prefix = s if ":" in s else f"sha256:{s}"
        if not _is_id_prefix(prefix):
            raise NotFound(f"resolve image {s}: no such image")
        found = {r.manifest_digest: r for r in self.db.find_images(prefix)}
        ids = {r.id for r in found.values()}
        if not found:
            raise NotFound(f"resolve image {s}: no such image")
        if len(ids) > 1 and len(found) > 1:
            raise InvalidArgument(f"resolve image {s}: ambiguous id prefix")
        return next(iter(found.values()))

    def list_images(self) -> list[Image]:
        """Every image, newest first."""
        return [self._image(r) for r in self.db.list_images()]

    # --- tags ---------------------------------------------------------------------------

    def tag(self, src: str, new_ref: str) -> Reference:
        """Point ``new_ref`` at the image ``src`` resolves to."""
        rec = self._record(src)
        ref = parse_reference(new_ref)
        if ref.digest is not None:
            raise InvalidArgument(f"tag {new_ref}: cannot tag with a digest")
        self.db.set_tag(str(ref), rec.manifest_digest)
        return ref

    def untag(self, ref: str) -> None:
        self.db.delete_tag(str(parse_reference(ref)))

    # --- removing -----------------------------------------------------------------------

    def remove(self, ref_or_id: str, force: bool = False) -> RemoveReport:
        """Remove like ``docker rmi``: a tag of a multi-tagged image only untags it."""
        rec = self._record(ref_or_id)
        report = RemoveReport()
        tags = self.db.tags_of(rec.manifest_digest)
        ref = _try_reference(ref_or_id)
        by_tag = ref is not None and ref.digest is None and str(ref) in tags
        if by_tag and len(tags) > 1:
            assert ref is not None
            self.db.delete_tag(str(ref))
            report.untagged.append(ref.familiar())
            return report
        if len(tags) > 1 and not force:
            raise Conflict(
                f"remove image {ref_or_id}: image is referenced by several tags, use force"
            )
        users = self.db.containers_using(rec.id)
        if users and not force:
            raise Conflict(f"remove image {ref_or_id}: in use by container {users[0][:12]}")
        self.db.delete_image(rec.manifest_digest)
        report.untagged.extend(parse_reference(t).familiar() for t in tags)
        report.deleted.append(parse_digest(rec.id))
        return report

    # --- running ------------------------------------------------------------------------

    def lowerdirs(self, image: Image) -> list[Path]:
        """Unpack the image's layers (once) and return them top first, for overlayfs."""
        from pathlib import Path

        return [Path(p) for p in self.lower_dirs(image)]

    def lower_dirs(self, image: Image) -> list[str]:
        """:meth:`lowerdirs` as strings; when every layer is unpacked already (the usual
        case) nothing is opened and the layer machinery (tar, gzip) is not imported."""
        diff_ids = image.config.rootfs.diff_ids
        layers = image.manifest.layers
        if len(diff_ids) != len(layers):
            raise InvalidArgument(f"image {image.id}: layer count differs from rootfs.diff_ids")
        chain = chain_ids(diff_ids)
        for diff_id, cid, desc in zip(diff_ids, chain, layers, strict=True):
            if not self.snapshots.has_layer(cid):
                self.snapshots.ensure_layer(diff_id, cid, _Opener(self.blobs, desc.digest))
        return self.snapshots.lower_dirs(chain)


class _Opener:
    """``open_blob`` for :meth:`SnapshotStore.ensure_layer` (``functools.partial`` without
    the import)."""

    def __init__(self, blobs: ContentStore, digest: Digest) -> None:
        self._blobs = blobs
        self._digest = digest

    def __call__(self) -> BinaryIO:
        return self._blobs.open(self._digest)


class _StoreLock:
    """``store.lock()``: a shared (or exclusive) ``flock`` on ``<root>/store.lock``."""

    def __init__(self, root: str, exclusive: bool) -> None:
        self._root = root
        self._exclusive = exclusive
        self._fd = -1

    def __enter__(self) -> None:
        import fcntl

        os.makedirs(self._root, exist_ok=True)
        path = os.path.join(self._root, "store.lock")
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX if self._exclusive else fcntl.LOCK_SH)
        except BaseException:
            os.close(self._fd)
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        os.close(self._fd)


def _time() -> float:
    import time

    return time.time()


def _check_image(manifest: Manifest, config: ImageConfig) -> None:
    config_digest = manifest.config.digest
    if config.digest() != config_digest:
        raise InvalidArgument(f"add image: config digest mismatch: manifest names {config_digest}")
    if len(config.content()) != manifest.config.size:
        raise InvalidArgument("add image: config size differs from the manifest")
    if len(config.rootfs.diff_ids) != len(manifest.layers):
        raise InvalidArgument(
            f"add image: {len(manifest.layers)} layers but "
            f"{len(config.rootfs.diff_ids)} rootfs.diff_ids"
        )


def _descriptor(media_type: str, data: bytes) -> Descriptor:
    return Descriptor(media_type, sha256_digest(data), len(data))


def _with_diff_ids(config: ImageConfig, diff_ids: list[Digest]) -> ImageConfig:
    return replace(config, rootfs=RootFS(tuple(diff_ids)), raw=b"")


def _try_reference(s: str) -> Reference | None:
    try:
        return parse_reference(s)
    except InvalidArgument:
        return None


def _is_id_prefix(s: str) -> bool:
    alg, _, hex_ = s.partition(":")
    return alg in ("sha256", "sha512") and bool(hex_) and all(c in "0123456789abcdef" for c in hex_)
