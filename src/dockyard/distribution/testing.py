"""A registry server on a background thread, for tests and tools (``with ThreadedRegistry``).

Example::

    with ThreadedRegistry(ServerConfig(root=tmp)) as reg:
        urllib.request.urlopen(f"{reg.url}/v2/")

It binds 127.0.0.1 on an ephemeral port; ``stop()`` (or leaving the ``with``)
shuts it down and joins the thread.

Errors: a server that does not come up within ``timeout`` raises Unavailable.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import http.client
import io
import json
import ssl
import tarfile
import threading
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any

from dockyard.distribution.server import ServerConfig, serve
from dockyard.errors import Internal, Unavailable
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, sha256_digest
from dockyard.oci.image import canonical_json

__all__ = ["HttpClient", "Reply", "ThreadedRegistry", "TinyImage", "tiny_image", "write_oci_layout"]


class ThreadedRegistry:
    """A server on its own thread and event loop."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        host: str = "127.0.0.1",
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.config = config
        self.host = host
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="registry", daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._stop = asyncio.Event()

        def ready(port: int) -> None:
            self.port = port
            self._ready.set()

        try:
            loop.run_until_complete(
                serve(
                    self.config,
                    self.host,
                    0,
                    ssl_context=self.ssl_context,
                    on_ready=ready,
                    stop=self._stop,
                )
            )
        except BaseException as e:  # reported by start()
            self._error = e
            self._ready.set()
        finally:
            loop.close()

    def start(self) -> ThreadedRegistry:
        self._thread.start()
        if not self._ready.wait(self.timeout) or self._error is not None:
            raise Unavailable(f"start registry: {self._error or 'timed out'}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(self.timeout)

    def __enter__(self) -> ThreadedRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class TinyImage:
    """A small image made in memory: gzip tar layers, a config and a manifest."""

    manifest: bytes
    config: bytes
    layers: tuple[bytes, ...]

    @property
    def digest(self) -> Digest:
        return sha256_digest(self.manifest)

    def blobs(self) -> dict[Digest, bytes]:
        out = {sha256_digest(x): x for x in self.layers}
        out[sha256_digest(self.config)] = self.config
        return out


def tiny_image(seed: str = "a", layers: int = 1, size: int = 64, docker: bool = False) -> TinyImage:
    """An image whose layers hold ``size`` bytes of files derived from ``seed``."""
    blobs, diff_ids = [], []
    for i in range(layers):
        plain = _tar({f"file-{seed}-{i}.txt": (seed * size)[:size].encode() + str(i).encode()})
        diff_ids.append(str(sha256_digest(plain)))
        blobs.append(gzip.compress(plain, mtime=0))
    config = canonical_json(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    )
    config_type = mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG
    layer_type = mt.DOCKER_LAYER_GZIP if docker else mt.OCI_LAYER_GZIP
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
        "config": _desc(config_type, config),
        "layers": [_desc(layer_type, b) for b in blobs],
    }
    return TinyImage(canonical_json(manifest), config, tuple(blobs))


def _desc(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": str(sha256_digest(data)), "size": len(data)}


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_oci_layout(path: Path, images: dict[str, TinyImage]) -> None:
    """Write ``images`` (tag → image) as an OCI image layout directory."""
    blob_dir = path / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    entries = []
    for tag, img in images.items():
        for d, data in (*img.blobs().items(), (img.digest, img.manifest)):
            (blob_dir / d.hex).write_bytes(data)
        entry = _desc(json.loads(img.manifest)["mediaType"], img.manifest)
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        entries.append(entry)
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}
    (path / "index.json").write_bytes(canonical_json(index))


@dataclass
class Reply:
    """A response as :class:`HttpClient` returns it."""

    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def code(self) -> str:
        """The first error code of a distribution-spec error body."""
        return str(self.json()["errors"][0]["code"])


@dataclass
class HttpClient:
    """A blocking HTTP client for tests: one connection per call, raw paths."""

    host: str
    port: int
    headers: dict[str, str] = field(default_factory=dict)
    ssl_context: ssl.SSLContext | None = None

    @classmethod
    def of(cls, reg: ThreadedRegistry) -> HttpClient:
        return cls(reg.host, reg.port)

    def with_basic(self, user: str, password: str) -> HttpClient:
        value = base64.b64encode(f"{user}:{password}".encode()).decode()
        return HttpClient(
            self.host, self.port, {"Authorization": f"Basic {value}"}, self.ssl_context
        )

    def with_bearer(self, token: str) -> HttpClient:
        return HttpClient(
            self.host, self.port, {"Authorization": f"Bearer {token}"}, self.ssl_context
        )

    def __call__(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Reply:
        if self.ssl_context is not None:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=60, context=self.ssl_context
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            hdrs = {**self.headers, **(headers or {})}
            if body or method in ("PUT", "POST", "PATCH"):
                hdrs.setdefault("Content-Length", str(len(body)))
            conn.request(method, path, body=body or None, headers=hdrs)
            r = conn.getresponse()
            return Reply(r.status, r.headers, r.read())
        finally:
            conn.close()

    def push_blob(self, repo: str, data: bytes) -> str:
        d = str(sha256_digest(data))
        r = self("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", data)
        if r.status != 201:
            raise Internal(f"push blob {repo}@{d}: http {r.status}: {r.body[:200]!r}")
        return d

    def push_image(self, repo: str, img: TinyImage, ref: str) -> Reply:
        for data in img.blobs().values():
            self.push_blob(repo, data)
        ct = json.loads(img.manifest)["mediaType"]
        return self("PUT", f"/v2/{repo}/manifests/{ref}", img.manifest, {"Content-Type": ct})
