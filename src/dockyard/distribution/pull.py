"""Pulling an image from a registry into the :class:`~dockyard.store.images.ImageStore`.

Steps: resolve the reference to a manifest (``Accept`` lists every manifest
and index type); an index or manifest list is narrowed to the requested
platform (``os/arch[/variant]``, default this machine); every digest is
checked against what named it; the config and the layers download in
parallel (``config.parallel`` at a time) into ``ingest/pull-<hex>``, hashed
while they are written (one pass, :mod:`~dockyard.distribution._blobio`), and
become blobs only when verified and fsynced; the image is recorded last, with
:meth:`ImageStore.add_image`, so a failed pull leaves no image behind.

Resume: a partial download stays in ``ingest/``; the next attempt (a retry
here, or a later ``pull``) asks for the rest with ``Range: bytes=<n>-`` and
starts over only when the registry ignores the range.

Blocking (:func:`pull_sync`, what the CLI calls: no event loop, no aiohttp);
:func:`pull` is the same on a worker thread for ``async`` callers.  Blobs move on
``config.parallel`` threads; ``progress`` is called by one thread at a time.

Example::

    img = pull_sync(store, "127.0.0.1:5000/app:v1", config=ClientConfig())
    img = asyncio.run(pull(store, "127.0.0.1:5000/app:v1"))

Errors: NotFound for an unknown image or platform, PermissionDenied for
refused credentials, InvalidArgument for content that fails verification,
Unavailable for transport failures that outlast the retries.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from dockyard.distribution._blobio import TooLarge, copy_to_file, hash_file
from dockyard.distribution._transport import Stream, TransportError
from dockyard.distribution.client import (
    ClientConfig,
    RegistryClient,
    registry_host,
    run_parallel,
)
from dockyard.distribution.progress import Progress, Reporter, Transfer
from dockyard.errors import InvalidArgument, NotFound, Unavailable
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, Hasher, parse_digest
from dockyard.oci.image import Descriptor, parse_index, parse_manifest
from dockyard.oci.reference import Reference, parse_reference
from dockyard.records import record
from dockyard.store.blobs import StagedBlob

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.store.images import Image, ImageStore

__all__ = [
    "ACCEPT",
    "Progress",
    "default_platform",
    "fetch_manifest",
    "parse_platform",
    "pull",
    "pull_sync",
]

ACCEPT = ", ".join((mt.OCI_INDEX, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_LIST, mt.DOCKER_MANIFEST))
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le"}


@record
class PlatformSpec:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(x for x in (self.os, self.architecture, self.variant) if x)


def parse_platform(s: str) -> PlatformSpec:
    parts = s.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidArgument(f"parse platform {s!r}: expected os/arch[/variant]")
    return PlatformSpec(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def default_platform() -> PlatformSpec:
    machine = os.uname().machine
    return PlatformSpec("linux", _ARCH.get(machine, machine))


def fetch_manifest(
    client: RegistryClient, ref: Reference, what: str, reference: str | None = None
) -> tuple[bytes, str, Digest]:
    """The manifest bytes, media type and verified digest of ``ref`` (or ``reference``)."""
    target = reference or (str(ref.digest) if ref.digest else ref.tag or "latest")
    r = client.request(
        "GET",
        f"/v2/{ref.path}/manifests/{target}",
        scope=f"repository:{ref.path}:pull",
        what=what,
        headers={"Accept": ACCEPT},
    )
    if len(r.body) > 4 * 1024 * 1024 + 1:
        raise InvalidArgument(f"{what}: manifest too large")
    expected = None
    if ":" in target:
        expected = parse_digest(target)
    elif r.headers.get("Docker-Content-Digest"):
        expected = parse_digest(r.headers["Docker-Content-Digest"])
    digest = _check(r.body, expected, what)
    media_type = (r.headers.get("Content-Type") or "").split(";")[0].strip()
    return r.body, media_type, digest


def _check(body: bytes, expected: Digest | None, what: str) -> Digest:
    h = Hasher(expected.algorithm if expected and expected.verifiable else "sha256")
    h.update(body)
    got = h.digest()
    if expected is not None and got != expected:
        raise InvalidArgument(f"{what}: manifest digest mismatch: expected {expected}, got {got}")
    return got


def _is_index(body: bytes, media_type: str) -> bool:
    if media_type in mt.INDEX_TYPES:
        return True
    return media_type not in mt.MANIFEST_TYPES and b'"manifests"' in body


def select_platform(body: bytes, want: PlatformSpec, what: str) -> Descriptor:
    index = parse_index(body)
    candidates = [
        d
        for d in index.manifests
        if d.platform is not None
        and d.platform.os == want.os
        and d.platform.architecture == want.architecture
    ]
    if want.variant:
        exact = [d for d in candidates if d.platform and d.platform.variant == want.variant]
        candidates = exact
    if not candidates:
        raise NotFound(f"{what}: no manifest for platform {want}")
    return candidates[0]


async def pull(
    store: ImageStore,
    reference: str,
    *,
    config: ClientConfig | None = None,
    platform: str | None = None,
    progress: Progress | None = None,
    transfer: Transfer | None = None,
) -> Image:
    """:func:`pull_sync` on a worker thread, for callers inside an event loop."""
    import asyncio

    return await asyncio.to_thread(
        pull_sync, store, reference, config=config, platform=platform, progress=progress,
        transfer=transfer,
    )  # fmt: skip


def pull_sync(
    store: ImageStore,
    reference: str,
    *,
    config: ClientConfig | None = None,
    platform: str | None = None,
    progress: Progress | None = None,
    transfer: Transfer | None = None,
) -> Image:
    """Pull ``reference`` into ``store`` (blocking); see the module docstring.
    ``progress`` gets status lines, ``transfer`` each blob's bytes (:mod:`.progress`)."""
    ref = parse_reference(reference)
    what = f"pull {ref}"
    config = config or ClientConfig()
    show = Reporter(progress, transfer)
    want = parse_platform(platform) if platform else default_platform()
    with RegistryClient(registry_host(ref.domain), config) as client:
        body, media_type, digest = fetch_manifest(client, ref, what)
        if _is_index(body, media_type):
            desc = select_platform(body, want, what)
            body, media_type, digest = fetch_manifest(client, ref, what, str(desc.digest))
            if _is_index(body, media_type):
                raise InvalidArgument(f"{what}: nested index is not supported")
        try:
            manifest = parse_manifest(body, allow_no_layers=True)
        except InvalidArgument as e:
            raise InvalidArgument(f"{what}: {e}") from None
        show(digest.short, f"Pulling from {ref.familiar_name()}")
        descs = [manifest.config, *manifest.layers]
        # the largest first, so that the last one to start is not the longest
        descs.sort(key=lambda d: -d.size)
        run_parallel(
            lambda d: _fetch_blob(client, store, ref, d, show, what), descs, config.parallel
        )
    config_bytes = store.blobs.read_bytes(manifest.config.digest)
    tags = [str(ref)] if ref.digest is None else []
    image = store.add_image(body, config_bytes, tags=tags)
    show(digest.short, f"Digest: {digest}")
    return image


def _fetch_blob(
    client: RegistryClient,
    store: ImageStore,
    ref: Reference,
    desc: Descriptor,
    progress: Reporter,
    what: str,
) -> None:
    short = desc.digest.short
    if store.blobs.has(desc.digest):
        progress(short, "Already exists")
        return
    for attempt in range(client.config.retries):
        try:
            _download(client, store, ref, desc, progress, what)
            progress(short, "Pull complete")
            return
        except Unavailable:
            if attempt + 1 == client.config.retries:
                raise
            progress(short, "Retrying")
            time.sleep(0.2 * (attempt + 1))


def _download(
    client: RegistryClient,
    store: ImageStore,
    ref: Reference,
    desc: Descriptor,
    progress: Reporter,
    what: str,
) -> None:
    """Download ``desc`` into ``ingest/pull-<hex>`` (resuming) and commit it verified."""
    if not desc.digest.verifiable:
        raise InvalidArgument(f"{what}: blob {desc.digest}: unsupported digest algorithm")
    ingest = os.fspath(store.blobs.ingest_dir)
    os.makedirs(ingest, exist_ok=True)
    part = os.path.join(ingest, f"pull-{desc.digest.algorithm}-{desc.digest.hex}")
    try:
        have = os.stat(part).st_size
    except FileNotFoundError:
        have = 0
    if have > desc.size:
        os.unlink(part)
        have = 0
    headers = {"Range": f"bytes={have}-"} if 0 < have < desc.size else {}
    short = desc.digest.short
    hashed: list[Hasher] = []

    def sink(r: Stream) -> None:
        hasher = Hasher(desc.digest.algorithm)
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        start = 0
        if r.status == 206:
            progress(short, f"Resuming at {have} bytes")
            _hash_path(part, hasher)
            start = hasher.size
        else:
            flags |= os.O_TRUNC
        fd = os.open(part, flags, 0o644)
        try:
            if start:
                os.lseek(fd, 0, os.SEEK_END)
            copy_to_file(_counted(r.read, progress, short, start, desc.size), fd, hasher,
                         max_bytes=desc.size - start)  # fmt: skip
        except TooLarge:
            raise InvalidArgument(f"{what}: blob {desc.digest}: larger than {desc.size}") from None
        except TransportError as e:
            raise Unavailable(f"{what}: blob {desc.digest}: {e}") from None
        finally:
            os.close(fd)
        hashed.append(hasher)

    if have < desc.size or desc.size == 0:
        progress(short, "Downloading")
        client.request(
            "GET",
            f"/v2/{ref.path}/blobs/{desc.digest}",
            scope=f"repository:{ref.path}:pull",
            what=f"{what}: blob {desc.digest}",
            headers=headers,
            ok=(200, 206),
            sink=sink,
        )
    _commit(store, part, desc, what, hashed[-1] if hashed else None)


def _counted(
    read: Callable[[int], bytes], progress: Reporter, short: str, start: int, total: int
) -> Callable[[int], bytes]:
    """``read`` that reports the blob's bytes so far (``start`` were already here)."""
    if not progress.wants_bytes:
        return read
    got = start

    def counted(n: int) -> bytes:
        nonlocal got
        data = read(n)
        got += len(data)
        progress.bytes(short, "Downloading", got, total)
        return data

    return counted


def _hash_path(path: str, hasher: Hasher) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        hash_file(fd, hasher)
    finally:
        os.close(fd)


def _commit(
    store: ImageStore, part: str, desc: Descriptor, what: str, hashed: Hasher | None
) -> None:
    """Verify the download (hashed while it arrived, or now) and make it a blob."""
    fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
    try:
        h = hashed
        if h is None or h.size != os.fstat(fd).st_size:
            h = Hasher(desc.digest.algorithm)
            hash_file(fd, h)
        os.fsync(fd)
    finally:
        os.close(fd)
    if h.digest() != desc.digest or h.size != desc.size:
        try:
            os.unlink(part)
        except FileNotFoundError:
            pass
        raise InvalidArgument(
            f"{what}: blob {desc.digest}: verification failed (got {h.digest()}, {h.size} bytes)"
        )
    from pathlib import Path

    store.blobs.commit(StagedBlob(desc.digest, h.size, Path(part)))
