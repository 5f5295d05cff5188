"""Garbage collection: delete what no image references.

Mark and sweep under the store's exclusive lock (so no load, pull or build is
between writing its blobs and recording its image): the roots are the images
in the database; each marks its manifest, config and layer blobs, the chain IDs
of its layers and the artifacts that refer to it (``store/referrers.py``: an
SBOM).  Unmarked blobs and committed snapshots are deleted.
Active snapshots (containers' writable layers) are never touched here; the
engine removes them with their containers.  With ``dangling=True`` images
without tags and without containers go first; with ``unused=True`` (``image prune
-a``) every image no container uses, its tags with it.  Stale files in ``ingest/``
(older than an hour) are swept too.

Errors: none of its own; a blob that disappears meanwhile is skipped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time

from dockyard.oci.digest import Digest, parse_digest
from dockyard.oci.reference import parse_reference
from dockyard.records import field, record
from dockyard.store.images import ImageStore
from dockyard.store.referrers import blobs_to_keep
from dockyard.store.snapshots import chain_ids

__all__ = ["PruneReport", "prune"]

_INGEST_GRACE_S = 3600.0


@record(frozen=False)
class PruneReport:
    """What ``prune`` deleted, and how many bytes that freed."""

    images: list[Digest] = field(default_factory=list)
    untagged: list[str] = field(default_factory=list)
    blobs: list[Digest] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    reclaimed: int = 0


def prune(store: ImageStore, *, dangling: bool = False, unused: bool = False) -> PruneReport:
    """Remove unreferenced blobs and snapshots (and dangling, or all unused, images when
    asked)."""
    report = PruneReport()
    with store.lock(exclusive=True):
        if dangling or unused:
            _remove_images(store, report, tagged_too=unused)
        blobs, chains = _mark(store)
        _sweep_blobs(store, blobs, report)
        _sweep_snapshots(store, chains, report)
        _sweep_ingest(store)
    return report


def _remove_images(store: ImageStore, report: PruneReport, *, tagged_too: bool) -> None:
    for rec in store.db.list_images():
        tags = store.db.tags_of(rec.manifest_digest)
        if (tags and not tagged_too) or store.db.containers_using(rec.id):
            continue
        report.untagged.extend(parse_reference(t).familiar() for t in tags)
        store.db.delete_image(rec.manifest_digest)
        report.images.append(parse_digest(rec.id))


def _mark(store: ImageStore) -> tuple[set[Digest], set[str]]:
    blobs: set[Digest] = set()
    chains: set[str] = set()
    subjects = []
    for image in store.list_images():
        subjects.append(image.manifest_digest)
        blobs.add(image.manifest_digest)
        blobs.add(image.manifest.config.digest)
        blobs.update(x.digest for x in image.manifest.layers)
        chains.update(c.hex for c in chain_ids(image.config.rootfs.diff_ids))
    blobs.update(blobs_to_keep(store, subjects))  # artifacts (an SBOM) attached to an image
    return blobs, chains


def _sweep_blobs(store: ImageStore, keep: set[Digest], report: PruneReport) -> None:
    for d in list(store.blobs.walk()):
        if d in keep:
            continue
        with contextlib.suppress(FileNotFoundError):
            size = store.blobs.path(d).stat().st_size
            os.unlink(store.blobs.path(d))
            report.blobs.append(d)
            report.reclaimed += size


def _sweep_snapshots(store: ImageStore, keep: set[str], report: PruneReport) -> None:
    for snap in list(store.snapshots.walk()):
        if snap.kind != "committed" or snap.name in keep:
            continue
        report.reclaimed += _tree_size(snap.path)
        store.snapshots.remove(snap.name)
        report.snapshots.append(snap.name)


def _sweep_ingest(store: ImageStore) -> None:
    if not store.blobs.ingest_dir.is_dir():
        return
    cutoff = time.time() - _INGEST_GRACE_S
    for p in store.blobs.ingest_dir.iterdir():
        with contextlib.suppress(OSError):
            if p.lstat().st_mtime < cutoff:
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()


def _tree_size(path: os.PathLike[str]) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
