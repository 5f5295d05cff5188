"""Image archives: ``docker save`` / ``docker load`` tarballs and OCI image layouts.

Load protocol
-------------
``load_archive(store, path)`` accepts (plain, gzip, bzip2 or xz):

* an OCI image layout (``oci-layout``, ``index.json``, ``blobs/``); image
  names come from the index annotations ``io.containerd.image.name`` (a full
  reference) or ``org.opencontainers.image.ref.name`` (used when it is a
  full reference; a bare tag such as ``latest`` names no repository, and the
  image is loaded untagged); nested indexes are followed to the manifest for
  this machine's platform;
* a docker archive (``manifest.json`` with ``Config``, ``RepoTags``,
  ``Layers``; legacy ``<id>/layer.tar`` directories and symlinked layers too).
  When both are present (docker 25+ writes both) ``manifest.json`` wins.

Everything is checked before anything becomes visible: blob digests and
sizes, manifests and configs (strict parsers), config digests, every layer's
entries (the extraction policy of :mod:`dockyard.store.layers`, across the
layers of each image) and its diff ID against ``rootfs.diff_ids``.  Blobs are
staged in ``ingest/`` meanwhile; only when every image checked out are they
committed and the images and tags recorded.  **A refused load leaves the
store unchanged.**  Then, as ``docker load`` does, the layers are unpacked
into their snapshots, so the first container or build on the image starts
at once (with ``allow_devices`` they are not: a snapshot refuses device nodes,
and unpacking waits for a use that needs it).

Errors: each refusal is an InvalidArgument of one line that names the archive
and the object, e.g. ``load image.tar: layer 2: path escapes root: ../etc``.

Save protocol
-------------
``save_archive(store, refs, out, fmt="oci")`` writes an OCI layout tarball
whose ``index.json`` entries carry ``org.opencontainers.image.ref.name`` (the
tag) and ``io.containerd.image.name`` (the full name), readable by skopeo
(``oci-archive:``), umoci (untarred), podman and docker; ``fmt="docker"``
writes ``manifest.json`` and ``repositories`` for ``docker load``.  The file
appears atomically (written beside, then renamed); entries are sorted with
fixed owners and mtimes, so saving the same images twice gives the same bytes.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import platform
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Literal, TypeVar

from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, sha256_digest
from dockyard.oci.image import (
    Descriptor,
    Index,
    Manifest,
    canonical_json,
    parse_config,
    parse_index,
    parse_layout,
    parse_manifest,
)
from dockyard.oci.reference import Reference, parse_reference
from dockyard.records import record
from dockyard.store._archive_read import ArchiveFiles, read_archive
from dockyard.store.blobs import StagedBlob
from dockyard.store.images import Image, ImageStore
from dockyard.store.layers import scan_layers

__all__ = [
    "ANNOTATION_IMAGE_NAME",
    "ANNOTATION_REF_NAME",
    "load_archive",
    "save_archive",
    "save_archive_to",
]

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
_T = TypeVar("_T")
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}


@record(frozen=False)
class _Plan:
    """One image to add once everything is verified."""

    manifest_bytes: bytes
    config_bytes: bytes
    layers: list[StagedBlob]
    tags: list[str]


# --- load -------------------------------------------------------------------------------


def load_archive(
    store: ImageStore,
    path: Path,
    *,
    allow_devices: bool = False,
    tags_out: list[list[str]] | None = None,
) -> list[Image]:
    """Load every image of the archive at ``path``; all or nothing. ``tags_out`` receives,
    for each image, the tags the archive itself gives it (the image may have more in the
    store: ``Loaded image:`` names only the archive's)."""
    where = f"load {path}"
    files = read_archive(Path(path), store.blobs, where)
    try:
        plans = _plan(files)
        for plan in plans:
            _verify_layers(plan, where, allow_devices)
        with store.lock():
            images = _commit(store, files, plans)
            if tags_out is not None:
                tags_out.extend(list(p.tags) for p in plans)
            if not allow_devices:
                for image in images:
                    store.lower_dirs(image)
            return images
    finally:
        files.discard()


def _plan(files: ArchiveFiles) -> list[_Plan]:
    if files.has("manifest.json"):
        return _plan_docker(files)
    if files.has("index.json"):
        return _plan_oci(files)
    raise InvalidArgument(f"{files.where}: not an image archive: no index.json or manifest.json")


def _plan_oci(files: ArchiveFiles) -> list[_Plan]:
    where = files.where
    if not files.has("oci-layout"):
        raise InvalidArgument(f"{where}: oci-layout missing")
    layout = _wrap(where, "oci-layout", lambda: parse_layout(files.read("oci-layout")))
    if not layout.version.startswith("1."):
        raise InvalidArgument(f"{where}: unsupported image layout version {layout.version}")
    index = _wrap(where, "index.json", lambda: parse_index(files.read("index.json")))
    plans = []
    for desc in index.manifests:
        manifest_desc = _select_manifest(files, desc)
        if manifest_desc is not None:
            plans.append(_plan_manifest(files, manifest_desc, _names(desc)))
    if not plans:
        raise InvalidArgument(f"{where}: index.json lists no image for this platform")
    return plans


def _select_manifest(files: ArchiveFiles, desc: Descriptor, depth: int = 0) -> Descriptor | None:
    if desc.media_type in mt.MANIFEST_TYPES:
        return desc
    if desc.media_type not in mt.INDEX_TYPES or depth > 4:
        return None
    data = files.by_digest(desc.digest, desc.size).path.read_bytes()
    nested = _wrap(files.where, f"index {desc.digest}", lambda: parse_index(data))
    for child in _by_platform(nested):
        found = _select_manifest(files, child, depth + 1)
        if found is not None:
            return found
    return None


def _by_platform(index: Index) -> list[Descriptor]:
    arch = _ARCH.get(platform.machine(), platform.machine())
    return [
        d
        for d in index.manifests
        if d.platform is None or (d.platform.os == "linux" and d.platform.architecture == arch)
    ]


def _names(desc: Descriptor) -> list[str]:
    for key in (ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME):
        name = desc.annotations.get(key)
        if name and ("/" in name or ":" in name or key == ANNOTATION_IMAGE_NAME):
            try:
                return [str(parse_reference(name))]
            except InvalidArgument:
                continue
    return []


def _plan_manifest(files: ArchiveFiles, desc: Descriptor, tags: list[str]) -> _Plan:
    where = files.where
    data = files.by_digest(desc.digest, desc.size).path.read_bytes()
    manifest = _wrap(
        where, f"manifest {desc.digest}", lambda: parse_manifest(data, allow_no_layers=True)
    )
    config_bytes = files.by_digest(manifest.config.digest, manifest.config.size).path.read_bytes()
    layers = [files.by_digest(x.digest, x.size) for x in manifest.layers]
    return _Plan(data, config_bytes, layers, tags)


def _plan_docker(files: ArchiveFiles) -> list[_Plan]:
    where = files.where
    try:
        entries = json.loads(files.read("manifest.json"))
    except ValueError as e:
        raise InvalidArgument(f"{where}: manifest.json: invalid json: {e}") from None
    if not isinstance(entries, list) or not entries:
        raise InvalidArgument(f"{where}: manifest.json: expected a non-empty array")
    return [_plan_docker_entry(files, e, i) for i, e in enumerate(entries)]


def _plan_docker_entry(files: ArchiveFiles, entry: object, i: int) -> _Plan:
    where = f"{files.where}: manifest.json[{i}]"
    if not isinstance(entry, dict):
        raise InvalidArgument(f"{where}: expected an object")
    config_name, tags, layer_names = entry.get("Config"), entry.get("RepoTags"), entry.get("Layers")
    if not isinstance(config_name, str):
        raise InvalidArgument(f"{where}: Config: expected a string")
    if not _str_list(layer_names) or not _str_list(tags if tags is not None else []):
        raise InvalidArgument(f"{where}: Layers and RepoTags must be arrays of strings")
    config_bytes = files.read(config_name)
    layers = [files.blob(n) for n in layer_names]  # type: ignore[union-attr]
    refs = [
        str(_wrap(where, "RepoTags", functools.partial(parse_reference, t))) for t in tags or []
    ]
    config_desc = Descriptor(mt.OCI_CONFIG, sha256_digest(config_bytes), len(config_bytes))
    manifest = Manifest(config_desc, tuple(_layer_descriptor(s) for s in layers))
    return _Plan(manifest.to_json(), config_bytes, layers, refs)


def _str_list(v: object) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _layer_descriptor(staged: StagedBlob) -> Descriptor:
    with staged.path.open("rb") as f:
        head = f.read(2)
    media_type = mt.OCI_LAYER_GZIP if head == b"\x1f\x8b" else mt.OCI_LAYER
    return Descriptor(media_type, staged.digest, staged.size)


def _verify_layers(plan: _Plan, where: str, allow_devices: bool) -> None:
    config = _wrap(where, "config", lambda: parse_config(plan.config_bytes))
    expected = config.rootfs.diff_ids
    if len(expected) != len(plan.layers):
        raise InvalidArgument(
            f"{where}: {len(plan.layers)} layers but {len(expected)} rootfs.diff_ids"
        )
    with contextlib.ExitStack() as stack:
        labelled = [
            (f"{where}: layer {i + 1}", stack.enter_context(s.path.open("rb")))
            for i, s in enumerate(plan.layers)
        ]
        got = scan_layers(labelled, allow_devices=allow_devices)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        if g != e:
            raise InvalidArgument(f"{where}: layer {i + 1}: diff id {g} != config {e}")


def _commit(store: ImageStore, files: ArchiveFiles, plans: list[_Plan]) -> list[Image]:
    committed: set[Path] = set()
    for plan in plans:
        for staged in plan.layers:
            if staged.path not in committed:
                store.blobs.commit(staged)
                committed.add(staged.path)
    return [store.add_image(p.manifest_bytes, p.config_bytes, tags=p.tags) for p in plans]


def _wrap(where: str, what: str, fn: Callable[[], _T]) -> _T:
    try:
        return fn()
    except InvalidArgument as e:
        raise InvalidArgument(f"{where}: {what}: {e}") from None


# --- save -------------------------------------------------------------------------------


def save_archive(
    store: ImageStore,
    refs: Iterable[str],
    out_path: Path,
    fmt: Literal["oci", "docker"] = "oci",
) -> None:
    """Write the images named by ``refs`` to ``out_path`` as an OCI or docker archive."""
    refs = list(refs)
    out_path = Path(out_path)
    if not refs:
        raise InvalidArgument(f"save {out_path}: no images given")
    fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            save_archive_to(store, refs, f, fmt, where=str(out_path))
        os.replace(tmp, out_path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_archive_to(
    store: ImageStore,
    refs: Iterable[str],
    out: IO[bytes],
    fmt: Literal["oci", "docker"] = "oci",
    *,
    where: str = "-",
) -> None:
    """Stream the archive of ``refs`` to ``out`` (a pipe will do: the tar is written in
    one pass). Every name is resolved before the first byte is written."""
    named = [(_as_reference(r), store.resolve(r)) for r in refs]
    if not named:
        raise InvalidArgument(f"save {where}: no images given")
    if fmt not in ("oci", "docker"):
        raise InvalidArgument(f"save {where}: unknown format {fmt!r}")
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        writer = _ArchiveWriter(store, tf)
        if fmt == "oci":
            writer.oci(named)
        else:
            writer.docker(named)


def _as_reference(s: str) -> Reference | None:
    try:
        ref = parse_reference(s)
    except InvalidArgument:
        return None
    return ref if ref.digest is None else None


class _ArchiveWriter:
    """Writes archive entries with fixed metadata, each blob once."""

    def __init__(self, store: ImageStore, tf: tarfile.TarFile) -> None:
        self.store = store
        self.tf = tf
        self.written: set[Digest] = set()
        self.dirs: set[str] = set()

    def _dir(self, name: str) -> None:
        if name in self.dirs:
            return
        self.dirs.add(name)
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        self.tf.addfile(info)

    def file(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o644
        self.tf.addfile(info, io.BytesIO(data))

    def blob(self, d: Digest) -> str:
        name = f"blobs/{d.algorithm}/{d.hex}"
        if d not in self.written:
            self._dir("blobs")
            self._dir(f"blobs/{d.algorithm}")
            info = tarfile.TarInfo(name)
            info.size, info.mode = self.store.blobs.size(d), 0o644
            with self.store.blobs.open(d) as f:
                self.tf.addfile(info, f)
            self.written.add(d)
        return name

    def _image_blobs(self, image: Image) -> list[str]:
        self.blob(image.manifest_digest)
        config = self.blob(image.manifest.config.digest)
        return [config, *(self.blob(x.digest) for x in image.manifest.layers)]

    def oci(self, named: list[tuple[Reference | None, Image]]) -> None:
        self.file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        descriptors = []
        for ref, image in named:
            self._image_blobs(image)
            annotations = {}
            if ref is not None:
                annotations = {ANNOTATION_IMAGE_NAME: str(ref), ANNOTATION_REF_NAME: ref.tag or ""}
            media_type = image.manifest.media_type or mt.OCI_MANIFEST
            size = self.store.blobs.size(image.manifest_digest)
            descriptors.append(
                Descriptor(media_type, image.manifest_digest, size, annotations=annotations)
            )
        index = Index(tuple(descriptors))
        self.file("index.json", index.to_json())

    def docker(self, named: list[tuple[Reference | None, Image]]) -> None:
        entries: dict[Digest, dict[str, object]] = {}
        repositories: dict[str, dict[str, str]] = {}
        for ref, image in named:
            names = self._image_blobs(image)
            entry = entries.setdefault(
                image.manifest_digest, {"Config": names[0], "RepoTags": [], "Layers": names[1:]}
            )
            if ref is not None and ref.tag is not None:
                entry["RepoTags"].append(ref.familiar())  # type: ignore[attr-defined]
                top = image.manifest.layers[-1].digest.hex if image.manifest.layers else ""
                repositories.setdefault(ref.familiar_name(), {})[ref.tag] = top
        self.file("manifest.json", canonical_json(list(entries.values())))
        if repositories:
            self.file("repositories", canonical_json(repositories))
