"""Pushing an image from the :class:`~dockyard.store.images.ImageStore` to a registry.

Steps, per blob (config and layers, ``config.parallel`` at a time):

1. ``HEAD`` the blob — present means done ("Layer already exists");
2. try a cross-repository mount from another repository of the same
   registry that the image is tagged in (``POST ?mount=&from=``; 201 done,
   202 continues as an upload on the session it opened);
3. upload in chunks of ``config.chunk_size``: ``PATCH`` with
   ``Content-Range``, then ``PUT ?digest=``.  When a chunk fails in transit
   the upload status (``GET`` on the session) says how much arrived and the
   upload resumes from there, ``config.retries`` times.

Then the manifest goes up with ``PUT`` as the exact bytes the store holds.
Last, the artifacts that refer to the image in the local store (``dockyard build
--sbom``'s SBOM, ``store/referrers.py``) go up the same way, each manifest by
digest.  A registry that answers such a ``PUT`` without ``OCI-Subject`` has no
referrers API; for it the client keeps the referrers tag schema of the
distribution spec 1.1: an OCI index tagged ``sha256-<subject hex>`` listing the
referrers (fetched, extended, put back).
Chunks are sent from the blob file with ``sendfile``.  :func:`push_sync` is
blocking (the CLI's path); :func:`push` runs it on a worker thread.

Errors: as :mod:`dockyard.distribution.client`; a missing local image
raises NotFound.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from dockyard.distribution.client import (
    ClientConfig,
    FileRange,
    RegistryClient,
    registry_host,
    run_parallel,
)
from dockyard.distribution.progress import Progress, Reporter, Transfer
from dockyard.errors import NotFound, Unavailable
from dockyard.oci.digest import Digest
from dockyard.oci.image import Descriptor, Manifest
from dockyard.oci.mediatypes import OCI_INDEX, OCI_MANIFEST
from dockyard.oci.reference import Reference, parse_reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.store.images import Image, ImageStore

__all__ = ["push", "push_sync"]


async def push(
    store: ImageStore,
    reference: str,
    *,
    config: ClientConfig | None = None,
    progress: Progress | None = None,
    transfer: Transfer | None = None,
) -> Digest:
    """:func:`push_sync` on a worker thread, for callers inside an event loop."""
    import asyncio

    return await asyncio.to_thread(
        push_sync, store, reference, config=config, progress=progress, transfer=transfer
    )


def push_sync(
    store: ImageStore,
    reference: str,
    *,
    config: ClientConfig | None = None,
    progress: Progress | None = None,
    transfer: Transfer | None = None,
) -> Digest:
    """Push the image ``reference`` names (blocking); return the manifest digest.
    ``progress`` gets status lines, ``transfer`` each blob's bytes (:mod:`.progress`)."""
    ref = parse_reference(reference)
    what = f"push {ref}"
    try:
        image = store.resolve(str(ref))
    except NotFound:
        raise NotFound(f"{what}: no such image") from None
    config = config or ClientConfig()
    show = Reporter(progress, transfer)
    body = store.blobs.read_bytes(image.manifest_digest)
    sources = _mount_sources(image, ref)
    with RegistryClient(registry_host(ref.domain), config) as client:
        show(image.manifest_digest.short, f"The push refers to repository [{ref.repository}]")
        descs = [*image.manifest.layers, image.manifest.config]
        run_parallel(
            lambda d: _push_blob(client, store, ref, d, sources, show, what),
            descs,
            config.parallel,
        )
        media_type = image.manifest.media_type or "application/vnd.oci.image.manifest.v1+json"
        target = ref.tag or str(image.manifest_digest)
        client.request(
            "PUT",
            f"/v2/{ref.path}/manifests/{target}",
            scope=f"repository:{ref.path}:pull,push",
            what=what,
            headers={"Content-Type": media_type},
            data=body,
            ok=(201, 200, 202),
        )
        show(image.manifest_digest.short, f"{target}: digest: {image.manifest_digest}")
        _push_referrers(client, store, ref, image, show, what)
    return image.manifest_digest


def _push_referrers(
    client: RegistryClient,
    store: ImageStore,
    ref: Reference,
    image: Image,
    show: Reporter,
    what: str,
) -> None:
    """Push every artifact attached to ``image`` (blobs, then its manifest by digest)."""
    from dockyard.store.referrers import referrers

    for digest, manifest in referrers(store, image.manifest_digest):
        blobs = [manifest.config, *manifest.layers]
        run_parallel(
            lambda d: _push_blob(client, store, ref, d, [], show, what),
            blobs,
            client.config.parallel,
        )
        r = client.request(
            "PUT",
            f"/v2/{ref.path}/manifests/{digest}",
            scope=f"repository:{ref.path}:pull,push",
            what=f"{what}: referrer {digest}",
            headers={"Content-Type": manifest.media_type or OCI_MANIFEST},
            data=store.blobs.read_bytes(digest),
            ok=(201, 200, 202),
        )
        if "OCI-Subject" not in r.headers:
            _tag_schema(client, ref, image.manifest_digest, digest, manifest, what)
        show(digest.short, f"{manifest.artifact_type}: digest: {digest}")


def _tag_schema(
    client: RegistryClient,
    ref: Reference,
    subject: Digest,
    digest: Digest,
    manifest: Manifest,
    what: str,
) -> None:
    """The referrers tag schema (distribution spec 1.1) for a registry without the API."""
    import json

    scope = f"repository:{ref.path}:pull,push"
    tag = f"{subject.algorithm}-{subject.hex}"
    path = f"/v2/{ref.path}/manifests/{tag}"
    r = client.request(
        "GET", path, scope=scope, what=f"{what}: referrers tag {tag}",
        headers={"Accept": OCI_INDEX}, ok=(200, 404),
    )  # fmt: skip
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if r.status == 200:
        index = json.loads(r.body)
    entries = index.setdefault("manifests", [])
    if any(e.get("digest") == str(digest) for e in entries):
        return
    size = len(manifest.content())
    desc = Descriptor(OCI_MANIFEST, digest, size, artifact_type=manifest.artifact_type)
    entries.append(desc.to_dict())
    client.request(
        "PUT", path, scope=scope, what=f"{what}: referrers tag {tag}",
        headers={"Content-Type": OCI_INDEX}, data=json.dumps(index).encode(), ok=(201, 200, 202),
    )  # fmt: skip


def _mount_sources(image: Image, ref: Reference) -> list[str]:
    """Other repositories on the same registry that hold this image (mount candidates)."""
    out = []
    for tag in image.repo_tags:
        other = parse_reference(tag)
        if other.domain == ref.domain and other.path != ref.path and other.path not in out:
            out.append(other.path)
    return out


def _push_blob(
    client: RegistryClient,
    store: ImageStore,
    ref: Reference,
    desc: Descriptor,
    sources: list[str],
    progress: Reporter,
    what: str,
) -> None:
    short = desc.digest.short
    scope = f"repository:{ref.path}:pull,push"
    r = client.request(
        "HEAD",
        f"/v2/{ref.path}/blobs/{desc.digest}",
        scope=scope,
        what=f"{what}: blob {desc.digest}",
        ok=(200, 404),
    )
    if r.status == 200:
        progress(short, "Layer already exists")
        return
    location = None
    for source in sources:
        location = _try_mount(client, ref, desc.digest, source, what)
        if location is None:
            progress(short, f"Mounted from {source}")
            return
        break  # the registry opened an upload session: use it
    _upload(client, store, ref, desc, location, progress, what)
    progress(short, "Pushed")


def _try_mount(
    client: RegistryClient, ref: Reference, digest: Digest, source: str, what: str
) -> str | None:
    """None when mounted; else the Location of the upload session the registry opened."""
    q = urlencode({"mount": str(digest), "from": source})
    r = client.request(
        "POST",
        f"/v2/{ref.path}/blobs/uploads/?{q}",
        scope=f"repository:{ref.path}:pull,push repository:{source}:pull",
        what=f"{what}: mount {digest} from {source}",
        ok=(201, 202),
    )
    return None if r.status == 201 else r.headers.get("Location")


def _upload(
    client: RegistryClient,
    store: ImageStore,
    ref: Reference,
    desc: Descriptor,
    location: str | None,
    progress: Reporter,
    what: str,
) -> None:
    scope = f"repository:{ref.path}:pull,push"
    blob_what = f"{what}: blob {desc.digest}"
    if location is None:
        r = client.request(
            "POST", f"/v2/{ref.path}/blobs/uploads/", scope=scope, what=blob_what, ok=(202,)
        )
        location = r.headers["Location"]
    path = store.blobs.path(desc.digest)
    offset, chunk = 0, max(1, client.config.chunk_size)
    failures = 0
    progress(desc.digest.short, "Pushing")
    while offset < desc.size:
        end = min(offset + chunk, desc.size)
        try:
            r = client.request(
                "PATCH",
                location,
                scope=scope,
                what=blob_what,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{end - 1}",
                },
                data=FileRange(path, offset, end),
                ok=(202,),
            )
            location = r.headers.get("Location") or location
            offset = end
            progress.bytes(desc.digest.short, "Pushing", offset, desc.size)
        except Unavailable:
            failures += 1
            if failures >= client.config.retries:
                raise
            offset, location = _status(client, location, scope, blob_what, offset)
            progress(desc.digest.short, f"Resuming at {offset} bytes")
    sep = "&" if "?" in location else "?"
    client.request(
        "PUT",
        f"{location}{sep}{urlencode({'digest': str(desc.digest)})}",
        scope=scope,
        what=blob_what,
        ok=(201, 204),
    )


def _status(
    client: RegistryClient, location: str, scope: str, what: str, guess: int
) -> tuple[int, str]:
    """Where an interrupted upload stands: (bytes received, location)."""
    time.sleep(0.2)
    r = client.request("GET", location, scope=scope, what=what, ok=(204,))
    rng = r.headers.get("Range") or "0-0"
    end = int(rng.rpartition("-")[2] or 0)
    # "0-0" means nothing or one byte; the session never holds a partial first byte
    received = end + 1 if end > 0 or guess > 0 else 0
    return received, r.headers.get("Location") or location
