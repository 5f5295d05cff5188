"""The registry's storage: what the HTTP server reads and writes, without HTTP.

Layout under the registry root::

    blobs/<alg>/<hex>      the content store (layers, configs, manifest bytes)
    ingest/upload-<id>     upload sessions (:mod:`dockyard.distribution.uploads`)
    registry.db            repositories, blob links, manifests, tags, uploads

Protocol of a push: blobs are uploaded (or mounted) and *linked* into the
repository; then the manifest arrives, is checked by a row of small named
checks (:func:`inspect_manifest`, :func:`check_digest`, :meth:`Registry.missing`)
and stored by :meth:`Registry.put_manifest`: its exact bytes become a blob
first, then one transaction records the manifest and its tags.  Nothing is
visible before all of it is durable.

Example::

    reg = Registry(root)
    info = inspect_manifest(body, "application/vnd.oci.image.manifest.v1+json")
    digest = check_digest(body, None)
    assert not reg.missing("app", info)
    reg.put_manifest("app", body, digest, info, tags=["v1"])

Errors: an invalid manifest raises InvalidArgument; a digest that does not
match raises InvalidArgument; reading something absent raises NotFound.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.distribution.regdb import ManifestRow, RegistryDB
from dockyard.distribution.uploads import UploadFiles
from dockyard.errors import InvalidArgument, NotFound
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, Hasher, parse_digest
from dockyard.oci.image import Descriptor, parse_index, parse_manifest
from dockyard.store.blobs import ContentStore

__all__ = [
    "GCReport",
    "ManifestInfo",
    "Registry",
    "check_digest",
    "inspect_manifest",
    "referrer_descriptor",
]

_DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)


@dataclass(frozen=True)
class ManifestInfo:
    """What the registry needs to know about a manifest or an index."""

    media_type: str
    is_index: bool
    blobs: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Digest | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)


def inspect_manifest(body: bytes, content_type: str | None) -> ManifestInfo:
    """Parse a pushed manifest strictly; InvalidArgument names what is wrong."""
    declared = (content_type or "").split(";")[0].strip().lower() or None
    if declared in _DOCKER_SCHEMA1:
        raise InvalidArgument("put manifest: docker schema 1 manifests are not supported")
    body_type = _body_media_type(body)
    if declared in (None, "application/json", "application/octet-stream"):
        declared = None
    elif declared not in mt.MANIFEST_TYPES | mt.INDEX_TYPES:
        raise InvalidArgument(f"put manifest: unsupported media type {declared}")
    if declared and body_type and declared != body_type:
        raise InvalidArgument(
            f"put manifest: content type {declared} differs from mediaType {body_type}"
        )
    media_type = declared or body_type or _guess_type(body)
    if media_type in mt.INDEX_TYPES:
        index = parse_index(body)
        return ManifestInfo(
            media_type=media_type,
            is_index=True,
            manifests=index.manifests,
            subject=index.subject.digest if index.subject else None,
            artifact_type=index.artifact_type,
            annotations=dict(index.annotations),
        )
    m = parse_manifest(body, allow_no_layers=True)
    return ManifestInfo(
        media_type=media_type,
        is_index=False,
        blobs=(m.config, *m.layers),
        subject=m.subject.digest if m.subject else None,
        artifact_type=m.artifact_type or m.config.media_type,
        annotations=dict(m.annotations),
    )


def _body_media_type(body: bytes) -> str | None:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError) as e:
        raise InvalidArgument(f"put manifest: invalid json: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument("put manifest: expected a json object")
    value = doc.get("mediaType")
    if value is not None and not isinstance(value, str):
        raise InvalidArgument("put manifest: mediaType: expected a string")
    if value is not None and value not in mt.MANIFEST_TYPES | mt.INDEX_TYPES:
        raise InvalidArgument(f"put manifest: unsupported mediaType {value}")
    return value


def _guess_type(body: bytes) -> str:
    doc = json.loads(body)
    return mt.OCI_INDEX if "manifests" in doc else mt.OCI_MANIFEST


def check_digest(body: bytes, expected: Digest | None) -> Digest:
    """The digest of ``body`` (sha256, or ``expected``'s algorithm); it must equal ``expected``."""
    if expected is not None and not expected.verifiable:
        raise InvalidArgument(f"put manifest {expected}: unsupported digest algorithm")
    hasher = Hasher(expected.algorithm if expected else "sha256")
    hasher.update(body)
    got = hasher.digest()
    if expected is not None and got != expected:
        raise InvalidArgument(f"put manifest {expected}: digest mismatch: got {got}")
    return got


def referrer_descriptor(row: ManifestRow) -> dict[str, Any]:
    """A referrer as the referrers API lists it."""
    d: dict[str, Any] = {"mediaType": row.media_type, "digest": row.digest, "size": row.size}
    if row.artifact_type:
        d["artifactType"] = row.artifact_type
    if row.annotations:
        d["annotations"] = row.annotations
    return d


@dataclass
class GCReport:
    """What ``gc`` removed (or would remove, on a dry run)."""

    blobs: list[Digest] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    uploads: list[str] = field(default_factory=list)
    reclaimed: int = 0


class Registry:
    """Repositories, manifests and blob links over one content store."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = ContentStore(self.root)
        self.uploads = UploadFiles(self.blobs)
        self.db = RegistryDB(self.root / "registry.db")

    # --- blobs --------------------------------------------------------------------------

    def blob_path(self, repo: str, digest: Digest) -> Path:
        """The file of a blob linked to ``repo``; NotFound otherwise."""
        if not self.db.blob_linked(repo, str(digest)) or not self.blobs.has(digest):
            raise NotFound(f"blob {repo}@{digest}: blob unknown")
        return self.blobs.path(digest)

    def mount(self, repo: str, digest: Digest, source: str) -> bool:
        """Link a blob of ``source`` into ``repo``; False when ``source`` does not have it."""
        if not (self.db.blob_linked(source, str(digest)) and self.blobs.has(digest)):
            return False
        self.db.link_blob(repo, str(digest), self.blobs.size(digest))
        return True

    # --- manifests ----------------------------------------------------------------------

    def missing(self, repo: str, info: ManifestInfo) -> list[str]:
        """Digests the manifest references that ``repo`` does not have."""
        blobs = [str(d.digest) for d in info.blobs if not d.urls]
        missing = self.db.missing_blobs(repo, blobs)
        missing = [d for d in missing if not self._is_manifest(repo, d)]
        return missing + self.db.has_manifests(repo, [str(d.digest) for d in info.manifests])

    def _is_manifest(self, repo: str, digest: str) -> bool:
        return self.db.get_manifest(repo, digest) is not None

    def put_manifest(
        self, repo: str, body: bytes, digest: Digest, info: ManifestInfo, tags: list[str]
    ) -> None:
        self.blobs.write_bytes(body, digest)
        refs = tuple(str(d.digest) for d in (*info.blobs, *info.manifests))
        row = ManifestRow(
            repo=repo,
            digest=str(digest),
            media_type=info.media_type,
            size=len(body),
            subject=str(info.subject) if info.subject else None,
            artifact_type=info.artifact_type,
            annotations=info.annotations,
            refs=refs,
        )
        self.db.put_manifest(row, tags)

    def resolve(self, repo: str, tag: str | None, digest: Digest | None) -> ManifestRow:
        """The manifest ``repo:tag`` or ``repo@digest`` names; NotFound otherwise."""
        if digest is None:
            assert tag is not None
            found = self.db.resolve_tag(repo, tag)
            if found is None:
                raise NotFound(f"manifest {repo}:{tag}: manifest unknown")
            digest = parse_digest(found)
        row = self.db.get_manifest(repo, str(digest))
        if row is None or not self.blobs.has(digest):
            raise NotFound(f"manifest {repo}@{digest}: manifest unknown")
        return row

    # --- garbage collection -------------------------------------------------------------

    def gc(
        self,
        *,
        dry_run: bool = False,
        delete_untagged: bool = False,
        grace_s: float = 3600.0,
        upload_ttl_s: float = 86400.0,
        now: float | None = None,
    ) -> GCReport:
        """Delete blobs nothing links or references, and abandoned uploads.

        A blob younger than ``grace_s`` is kept: a push may have committed it
        and not linked it yet.  With ``delete_untagged``, manifests that no tag
        names, that no other manifest references and that refer to no subject
        go first.
        """
        now = time.time() if now is None else now
        report = GCReport()
        if delete_untagged:
            self._delete_untagged(report, dry_run)
        marked = self.db.linked_blobs()
        for row in self.db.all_manifests():
            if row.digest in report.manifests and dry_run:
                continue
            marked.add(row.digest)
            marked.update(row.refs)
        for d in list(self.blobs.walk()):
            if str(d) in marked:
                continue
            with contextlib.suppress(FileNotFoundError, NotFound):
                st = self.blobs.path(d).stat()
                if now - st.st_mtime < grace_s:
                    continue
                if not dry_run:
                    self.blobs.delete(d)
                report.blobs.append(d)
                report.reclaimed += st.st_size
        self._sweep_uploads(report, dry_run, now, upload_ttl_s)
        return report

    def _delete_untagged(self, report: GCReport, dry_run: bool) -> None:
        referenced = {ref for row in self.db.all_manifests() for ref in row.refs}
        for row in self.db.untagged_manifests():
            if row.digest in referenced or row.subject:
                continue
            if not dry_run:
                self.db.delete_manifest(row.repo, row.digest)
            report.manifests.append(f"{row.repo}@{row.digest}")

    def _sweep_uploads(self, report: GCReport, dry_run: bool, now: float, ttl: float) -> None:
        known = {u.id for u in self.db.uploads()}
        for u in self.db.uploads():
            if now - u.updated > ttl:
                if not dry_run:
                    self.uploads.discard(u.id)
                    self.db.delete_upload(u.id)
                report.uploads.append(u.id)
        ingest = self.blobs.ingest_dir
        if not ingest.is_dir():
            return
        for p in ingest.iterdir():
            upload_id = p.name.removeprefix("upload-")
            with contextlib.suppress(FileNotFoundError):
                if upload_id in known or now - p.stat().st_mtime < ttl:
                    continue
                if not dry_run:
                    os.unlink(p)
                report.uploads.append(p.name)
