"""Referrers in the local image store: OCI artifacts attached to an image.

Vocabulary (OCI image-spec 1.1, "guidance for artifacts"):

*subject*
    an image manifest in this store, named by its digest.
*referrer*
    an artifact: an OCI image manifest with an ``artifactType``, an empty config
    (``application/vnd.oci.empty.v1+json``, ``{}``), one layer holding the payload
    (an SBOM, a signature, ...) and ``subject`` = the image manifest's descriptor.

Its manifest and blobs live in the content store like any image's; the link from a
subject to its referrers is one empty file per referrer,
``<root>/referrers/sha256/<subject hex>/<referrer hex>``, so two attaches never
rewrite a shared file and a crash leaves either the link or nothing (the blobs are
written first).  Garbage collection (``store/gc.py``) keeps a referrer, its config and
its layers while its subject is an image in the store and drops the rest with their
links.

Example::

    d = attach(store, image, "application/vnd.cyclonedx+json", sbom_bytes)
    [m.artifact_type for _, m in referrers(store, image.manifest_digest)]

Errors: NotFound when a linked manifest's blob is gone (a damaged store).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from dockyard.errors import InvalidArgument
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, parse_digest, sha256_digest
from dockyard.oci.image import Descriptor, Manifest, parse_manifest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.store.images import Image, ImageStore

__all__ = ["EMPTY_CONFIG", "attach", "blobs_to_keep", "referrers", "subject_of"]

EMPTY_CONFIG = b"{}"


def _dir(store: ImageStore, subject: Digest) -> Path:
    return store.root / "referrers" / subject.algorithm / subject.hex


def subject_of(image: Image) -> Descriptor:
    """The descriptor a referrer's ``subject`` names for ``image``."""
    return Descriptor(
        media_type=image.manifest.media_type or mt.OCI_MANIFEST,
        digest=image.manifest_digest,
        size=len(image.manifest.content()),
    )


def attach(
    store: ImageStore,
    image: Image,
    artifact_type: str,
    payload: bytes,
    *,
    annotations: Mapping[str, str] | None = None,
) -> Digest:
    """Store ``payload`` as an artifact referring to ``image``; return its manifest digest.

    The payload's media type is ``artifact_type``.  Attaching the same bytes twice gives
    the same manifest (no new referrer) when ``annotations`` are the same."""
    config = Descriptor(
        mt.OCI_EMPTY, sha256_digest(EMPTY_CONFIG), len(EMPTY_CONFIG), data=EMPTY_CONFIG
    )
    layer = Descriptor(artifact_type, sha256_digest(payload), len(payload))
    manifest = Manifest(
        config=config,
        layers=(layer,),
        media_type=mt.OCI_MANIFEST,
        artifact_type=artifact_type,
        subject=subject_of(image),
        annotations=dict(annotations or {}),
    )
    body = manifest.to_json()
    with store.lock():
        store.blobs.write_bytes(EMPTY_CONFIG, config.digest)
        store.blobs.write_bytes(payload, layer.digest)
        digest = store.blobs.write_bytes(body)
        where = _dir(store, image.manifest_digest)
        where.mkdir(parents=True, exist_ok=True)
        (where / digest.hex).touch()
    return digest


def referrers(store: ImageStore, subject: Digest) -> list[tuple[Digest, Manifest]]:
    """The artifacts that refer to ``subject``, in digest order (empty when none)."""
    where = _dir(store, subject)
    if not where.is_dir():
        return []
    out = []
    for name in sorted(os.listdir(where)):
        with contextlib.suppress(InvalidArgument):  # a stray file is no referrer
            d = parse_digest(f"{subject.algorithm}:{name}")
            out.append((d, parse_manifest(store.blobs.read_bytes(d))))
    return out


def blobs_to_keep(store: ImageStore, subjects: Iterable[Digest]) -> set[Digest]:
    """For garbage collection: every blob of the referrers of ``subjects``; links of
    subjects that are gone (or referrers whose manifest is gone) are removed."""
    live = {(d.algorithm, d.hex) for d in subjects}
    keep: set[Digest] = set()
    top = store.root / "referrers"
    if not top.is_dir():
        return keep
    for alg in os.listdir(top):
        for hex_ in os.listdir(top / alg):
            path = top / alg / hex_
            if (alg, hex_) not in live:
                _remove_tree(path)
                continue
            keep.update(_keep_one(store, path, alg))
    return keep


def _keep_one(store: ImageStore, path: Path, alg: str) -> set[Digest]:
    keep: set[Digest] = set()
    for name in os.listdir(path):
        try:
            d = parse_digest(f"{alg}:{name}")
            m = parse_manifest(store.blobs.read_bytes(d))
        except Exception:  # a broken link: drop it, never fail the collection
            with contextlib.suppress(OSError):
                os.unlink(path / name)
            continue
        keep.add(d)
        keep.add(m.config.digest)
        keep.update(x.digest for x in m.layers)
    return keep


def _remove_tree(path: Path) -> None:
    for name in os.listdir(path):
        with contextlib.suppress(OSError):
            os.unlink(path / name)
    with contextlib.suppress(OSError):
        os.rmdir(path)
