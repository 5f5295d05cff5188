"""The registry server: every endpoint of the OCI distribution spec v1.1 over aiohttp.

Routes (``<name>`` is a repository, validated before anything else)::

    GET       /v2/                                       version check (end-1)
    GET HEAD  /v2/<name>/blobs/<digest>                  blob, with Range (end-2)
    GET HEAD  /v2/<name>/manifests/<ref>                 manifest (end-3)
    POST      /v2/<name>/blobs/uploads/[?digest|mount]   start / monolithic / mount (4a-c, 11)
    PATCH     /v2/<name>/blobs/uploads/<id>              chunk, in order (end-5)
    PUT       /v2/<name>/blobs/uploads/<id>?digest=      close, verified (end-6)
    GET       /v2/<name>/blobs/uploads/<id>              upload status (end-13)
    DELETE    /v2/<name>/blobs/uploads/<id>              cancel (end-14)
    PUT       /v2/<name>/manifests/<ref>[?tag=...]       exact bytes, checked (end-7)
    GET       /v2/<name>/tags/list[?n=&last=]            tags, paginated (end-8)
    DELETE    /v2/<name>/manifests/<ref>                 when enabled (end-9)
    DELETE    /v2/<name>/blobs/<digest>                  when enabled (end-10)
    GET       /v2/<name>/referrers/<digest>              referrers (end-12)
    GET       /v2/_catalog[?n=&last=]                    repositories
    GET       /token                                     the built-in token issuer

Every response carries ``Docker-Distribution-API-Version: registry/2.0``;
every error is ``{"errors": [{"code", "message", "detail"}]}`` with the
spec's code.  Storage is :class:`~dockyard.distribution.registry.Registry`
(the shared content store plus ``registry.db``); one JSON access-log record
per request goes to ``config.access_log``.
"""

from __future__ import annotations

import asyncio
import errno
import math
import os
import re
import sqlite3
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from dockyard.distribution import _http as h
from dockyard.distribution._blobio import TooLarge, hash_file, stream_to_file
from dockyard.distribution._http import fail
from dockyard.distribution.authz import Authorizer, Decision, TokenIssuer
from dockyard.distribution.names import check_repository, is_tag, parse_tag_or_digest
from dockyard.distribution.registry import (
    Registry,
    check_digest,
    inspect_manifest,
    referrer_descriptor,
)
from dockyard.distribution.throttle import Throttle
from dockyard.distribution.tokens import Access
from dockyard.errors import DockyardError, InvalidArgument, NotFound, PermissionDenied, Unavailable
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import SHA256, SHA512, Digest, Hasher, parse_digest

__all__ = ["DEFAULT_MAX_BLOB_SIZE", "MANIFEST_MAX", "ServerConfig", "make_app", "serve"]

MANIFEST_MAX = 4 * 1024 * 1024
DEFAULT_MAX_BLOB_SIZE = 10 << 30
_CHUNK = 1 << 16
_READ_BUFSIZE = 1 << 20
_PULL = frozenset({"pull"})
_PUSH = frozenset({"pull", "push"})
_DELETE = frozenset({"delete"})

_ACCOUNT: web.RequestKey[str] = web.RequestKey("account", str)
_START: web.RequestKey[float] = web.RequestKey("start", float)
Handler = Callable[[web.Request, str, "re.Match[str]", Decision], Awaitable[web.StreamResponse]]


@dataclass
class ServerConfig:
    """How a registry server behaves."""

    root: Path
    delete_enabled: bool = False
    authorizer: Authorizer | None = None
    issuer: TokenIssuer | None = None
    max_manifest_size: int = MANIFEST_MAX
    #: a blob past this is refused (413 SIZE_INVALID), from its claimed length when it has one
    max_blob_size: int | None = DEFAULT_MAX_BLOB_SIZE
    chunk_min_length: int | None = None
    access_log: Callable[[dict[str, Any]], None] | None = None
    #: open upload sessions one client address may hold (429 TOOMANYREQUESTS past it)
    max_uploads_per_client: int | None = 64
    #: a session idle this long no longer counts against its client (``gc`` removes it later)
    upload_idle_s: float = 3600.0
    #: failed logins from one address within the window before it gets 429 TOOMANYREQUESTS
    auth_failure_limit: int = 10
    auth_failure_window_s: float = 60.0
    clock: Callable[[], float] = time.monotonic


class _Api:
    """The handlers, bound to one registry."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.reg = Registry(config.root)
        self.locks: dict[str, asyncio.Lock] = {}
        # The running hash of each open upload session, over all of its file so far.
        self.hashers: dict[str, Hasher] = {}
        self.throttle = Throttle(
            config.auth_failure_limit, config.auth_failure_window_s, clock=config.clock
        )
        # open upload sessions per client address: upload id -> last activity
        self.sessions: dict[str, dict[str, float]] = {}
        self.routes: list[tuple[re.Pattern[str], dict[str, tuple[frozenset[str], Handler]]]] = [
            (
                re.compile(r"(?P<name>.+)/blobs/uploads/?"),
                {"POST": (_PUSH, self.start_upload)},
            ),
            (
                re.compile(r"(?P<name>.+)/blobs/uploads/(?P<id>[A-Za-z0-9_-]+)"),
                {
                    "PATCH": (_PUSH, self.patch_upload),
                    "PUT": (_PUSH, self.close_upload),
                    "GET": (_PUSH, self.upload_status),
                    "DELETE": (_PUSH, self.cancel_upload),
                },
            ),
            (
                re.compile(r"(?P<name>.+)/blobs/(?P<digest>[^/]+)"),
                {
                    "GET": (_PULL, self.get_blob),
                    "HEAD": (_PULL, self.get_blob),
                    "DELETE": (_DELETE, self.delete_blob),
                },
            ),
            (
                re.compile(r"(?P<name>.+)/manifests/(?P<ref>[^/]+)"),
                {
                    "GET": (_PULL, self.get_manifest),
                    "HEAD": (_PULL, self.get_manifest),
                    "PUT": (_PUSH, self.put_manifest),
                    "DELETE": (_DELETE, self.delete_manifest),
                },
            ),
            (re.compile(r"(?P<name>.+)/tags/list"), {"GET": (_PULL, self.list_tags)}),
            (
                re.compile(r"(?P<name>.+)/referrers/(?P<digest>[^/]+)"),
                {"GET": (_PULL, self.referrers)},
            ),
        ]

    # --- dispatch and auth --------------------------------------------------------------

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info.get("path", "")
        if path == "":
            await self.authorize(request, [])
            return h.json_response({})
        if path == "_catalog":
            if request.method not in ("GET", "HEAD"):
                fail(405, "UNSUPPORTED", f"{request.method} /v2/_catalog: method not allowed")
            await self.authorize(request, [Access("registry", "catalog", frozenset({"*"}))])
            return await self.catalog(request)
        for pattern, methods in self.routes:
            m = pattern.fullmatch(path)
            if m is None:
                continue
            name = m.group("name")
            try:
                check_repository(name)
            except InvalidArgument as e:
                fail(400, "NAME_INVALID", str(e), {"name": name[:300]})
            if request.method not in methods:
                fail(405, "UNSUPPORTED", f"{request.method} {path}: method not allowed")
            actions, handler = methods[request.method]
            decision = await self.authorize(request, [Access("repository", name, actions)])
            return await handler(request, name, m, decision)
        fail(404, "NAME_UNKNOWN", f"/v2/{path[:300]}: unknown endpoint")

    async def authorize(self, request: web.Request, needed: Sequence[Access]) -> Decision:
        authz = self.config.authorizer
        if authz is None:
            return Decision(True)
        base = f"{request.scheme}://{request.host}"
        header = request.headers.get("Authorization", "")
        self._throttled(request)
        decision = await asyncio.to_thread(authz.authorize, header, needed, base)
        if decision.bad_credentials:
            self.throttle.failed(request.remote or "")
        if not decision.ok:
            detail = [a.to_dict() for a in needed] or None
            if decision.denied:
                request[_ACCOUNT] = decision.account or ""
                fail(403, "DENIED", decision.message, detail)
            headers = {"WWW-Authenticate": decision.challenge or ""}
            fail(401, "UNAUTHORIZED", decision.message, detail, headers)
        request[_ACCOUNT] = decision.account or ""
        return decision

    def _throttled(self, request: web.Request) -> None:
        """429 while the client's address has failed to log in too often."""
        wait = self.throttle.retry_after(request.remote or "")
        if wait > 0:
            fail(429, "TOOMANYREQUESTS", "too many failed logins from this address; retry "
                 "later", headers={"Retry-After": str(max(1, math.ceil(wait)))})  # fmt: skip

    # --- upload sessions per client ------------------------------------------------------

    def _open_session(self, request: web.Request, upload_id: str) -> None:
        """Count a new session against its client; 429 past the limit."""
        limit = self.config.max_uploads_per_client
        now = self.config.clock()
        mine = self.sessions.setdefault(request.remote or "", {})
        idle = now - self.config.upload_idle_s
        for uid in [u for u, t in mine.items() if t <= idle]:
            del mine[uid]
        if limit is not None and len(mine) >= limit:
            wait = min(mine.values()) + self.config.upload_idle_s - now
            retry = {"Retry-After": str(max(1, math.ceil(wait)))}
            message = f"start upload: {limit} upload sessions already open from this address"
            fail(429, "TOOMANYREQUESTS", message, headers=retry)
        mine[upload_id] = now

    def _touch_session(self, request: web.Request, upload_id: str) -> None:
        mine = self.sessions.get(request.remote or "")
        if mine is not None and upload_id in mine:
            mine[upload_id] = self.config.clock()

    def _close_session(self, upload_id: str) -> None:
        for client, mine in list(self.sessions.items()):
            if mine.pop(upload_id, None) is not None and not mine:
                del self.sessions[client]

    def _drop_upload(self, upload_id: str) -> None:
        """Forget a session entirely: its file, its row, its hash, its lock."""
        self.reg.db.delete_upload(upload_id)
        self.reg.uploads.discard(upload_id)
        self.hashers.pop(upload_id, None)
        self._close_session(upload_id)

    def _lock(self, upload_id: str) -> asyncio.Lock:
        return self.locks.setdefault(upload_id, asyncio.Lock())

    # --- blobs --------------------------------------------------------------------------

    async def get_blob(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        digest = _digest(m.group("digest"))
        try:
            path = self.reg.blob_path(name, digest)
        except (NotFound, InvalidArgument):
            fail(404, "BLOB_UNKNOWN", f"blob {name}@{digest}: blob unknown", str(digest))
        headers = {
            "Docker-Content-Digest": str(digest),
            "Content-Type": "application/octet-stream",
            "ETag": f'"{digest}"',
            "Cache-Control": "max-age=31536000",
        }
        return web.FileResponse(path, headers=headers)

    async def delete_blob(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        self._deletes_enabled()
        digest = _digest(m.group("digest"))
        if not self.reg.db.unlink_blob(name, str(digest)):
            fail(404, "BLOB_UNKNOWN", f"delete blob {name}@{digest}: blob unknown")
        return web.Response(status=202, headers={"Content-Length": "0"})

    def _deletes_enabled(self) -> None:
        if not self.config.delete_enabled:
            fail(405, "UNSUPPORTED", "delete: deletes are disabled on this registry")

    # --- uploads ------------------------------------------------------------------------

    async def start_upload(
        self, request: web.Request, name: str, m: re.Match[str], decision: Decision
    ) -> web.StreamResponse:
        q = request.query
        if "mount" in q:
            mounted = self._try_mount(name, q.get("mount", ""), q.get("from", ""), decision)
            if mounted is not None:
                return _created_blob(name, mounted)
        if "digest" in q:
            return await self._monolithic(request, name, _digest(q["digest"]))
        algorithm = q.get("digest-algorithm", SHA256)
        if algorithm not in (SHA256, SHA512):
            fail(400, "DIGEST_INVALID", f"start upload {name}: unsupported algorithm {algorithm}")
        upload_id = str(uuid.uuid4())
        self._open_session(request, upload_id)
        try:
            self.reg.uploads.create(upload_id)
            self.reg.db.add_upload(upload_id, name, algorithm)
        except BaseException:
            self._drop_upload(upload_id)
            raise
        headers = self._upload_headers(name, upload_id, 0)
        if self.config.chunk_min_length:
            headers["OCI-Chunk-Min-Length"] = str(self.config.chunk_min_length)
        return web.Response(status=202, headers=headers)

    def _try_mount(self, name: str, raw: str, source: str, decision: Decision) -> Digest | None:
        try:
            digest = parse_digest(raw)
            check_repository(source)
        except InvalidArgument:
            return None
        if not decision.allows("repository", source, "pull"):
            return None
        return digest if self.reg.mount(name, digest, source) else None

    async def _monolithic(self, request: web.Request, name: str, digest: Digest) -> web.Response:
        upload_id = "mono-" + uuid.uuid4().hex
        self._open_session(request, upload_id)
        hasher = Hasher(digest.algorithm) if digest.verifiable else None
        try:
            self.reg.uploads.create(upload_id)
            await self._receive(request, upload_id, 0, hasher)
            await self._commit(name, upload_id, digest, hasher)
        finally:
            self.reg.uploads.discard(upload_id)
            self._close_session(upload_id)
        return _created_blob(name, digest)

    async def _receive(
        self, request: web.Request, upload_id: str, offset: int, hasher: Hasher | None
    ) -> int:
        """Append the request body to the session file, hashing it; the bytes written.

        A body that would take the blob past ``max_blob_size`` (by its
        ``Content-Length``, before a byte is read, or as it arrives) drops the
        whole session: 413 ``SIZE_INVALID``.  A full disk truncates the file back
        to ``offset`` (the session can resume once there is room): 507.
        """
        limit = self.config.max_blob_size
        if limit is not None and offset + (request.content_length or 0) > limit:
            self._too_big(upload_id, limit)
        path = self.reg.uploads.path(upload_id)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            max_bytes = None if limit is None else limit - offset
            return await stream_to_file(request.content, fd, hasher, max_bytes=max_bytes)
        except TooLarge:
            os.ftruncate(fd, offset)
            self._too_big(upload_id, limit)
        except OSError as e:
            os.ftruncate(fd, offset)
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                fail(507, "UNKNOWN", f"upload {upload_id}: registry storage is full")
            raise
        finally:
            os.close(fd)

    def _too_big(self, upload_id: str, limit: int | None) -> NoReturn:
        self._drop_upload(upload_id)
        fail(413, "SIZE_INVALID", f"upload {upload_id}: blob exceeds {limit} bytes")

    async def _commit(
        self, name: str, upload_id: str, digest: Digest, hasher: Hasher | None = None
    ) -> None:
        if not digest.verifiable:
            fail(400, "DIGEST_INVALID", f"upload {name}@{digest}: unsupported digest algorithm")
        try:
            got, size = await asyncio.to_thread(self.reg.uploads.commit, upload_id, digest, hasher)
        except InvalidArgument as e:
            fail(400, "DIGEST_INVALID", str(e), {"digest": str(digest)})
        except NotFound as e:
            fail(404, "BLOB_UPLOAD_UNKNOWN", str(e))
        self.reg.db.link_blob(name, str(got), size)

    def _session(self, name: str, upload_id: str) -> str:
        """Check that the session exists for ``name``; its digest algorithm."""
        row = self.reg.db.get_upload(upload_id)
        if row is None or row.repo != name or not self.reg.uploads.exists(upload_id):
            fail(404, "BLOB_UPLOAD_UNKNOWN", f"upload {name}/{upload_id}: upload unknown")
        return row.algorithm

    async def _hasher(self, upload_id: str, algorithm: str, size: int) -> Hasher | None:
        """The session's running hash, covering its first ``size`` bytes.

        After a restart (or a failed chunk) the hash is rebuilt from the file.
        """
        hasher = self.hashers.get(upload_id)
        if hasher is not None and hasher.algorithm == algorithm and hasher.size == size:
            return hasher
        self.hashers.pop(upload_id, None)
        try:
            hasher = Hasher(algorithm)
        except InvalidArgument:
            return None
        if size:
            path = self.reg.uploads.path(upload_id)
            try:
                await asyncio.to_thread(_hash_path, path, hasher)
            except FileNotFoundError:
                return None
        self.hashers[upload_id] = hasher
        return hasher

    def _upload_headers(self, name: str, upload_id: str, size: int) -> dict[str, str]:
        return {
            "Location": f"/v2/{name}/blobs/uploads/{upload_id}",
            "Range": h.upload_range(size),
            "Docker-Upload-UUID": upload_id,
            "Content-Length": "0",
        }

    async def _append(self, request: web.Request, name: str, upload_id: str, algorithm: str) -> int:
        """Append a chunk after checking ``Content-Range``; the new size."""
        size = self.reg.uploads.size(upload_id)
        raw = request.headers.get("Content-Range")
        want = None
        if raw is not None:
            rng = h.parse_content_range(raw)
            if rng is None or rng[0] != size:
                headers = self._upload_headers(name, upload_id, size)
                del headers["Content-Length"]
                fail(416, "BLOB_UPLOAD_INVALID", f"upload {upload_id}: range {raw[:60]} does "
                     f"not start at {size}", headers=headers)  # fmt: skip
            want = rng[1] - rng[0] + 1
            limit = self.config.max_blob_size
            if limit is not None and rng[1] >= limit:
                self._too_big(upload_id, limit)
        if want == 0 or (want is None and request.content_length == 0):
            return size  # nothing to append (a close without a last chunk)
        hasher = await self._hasher(upload_id, algorithm, size)
        try:
            n = await self._receive(request, upload_id, size, hasher)
        except BaseException:
            self.hashers.pop(upload_id, None)
            raise
        if want is not None and n != want:
            self.hashers.pop(upload_id, None)
            self.reg.uploads.truncate(upload_id, size)
            fail(400, "SIZE_INVALID", f"upload {upload_id}: got {n} bytes for a range of {want}")
        if n:
            self.reg.db.touch_upload(upload_id)
            self._touch_session(request, upload_id)
        return size + n

    async def patch_upload(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        upload_id = m.group("id")
        self._session(name, upload_id)
        async with self._lock(upload_id):
            algorithm = self._session(name, upload_id)
            size = await self._append(request, name, upload_id, algorithm)
        return web.Response(status=202, headers=self._upload_headers(name, upload_id, size))

    async def close_upload(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        upload_id = m.group("id")
        if "digest" not in request.query:
            fail(400, "DIGEST_INVALID", f"close upload {upload_id}: digest query missing")
        digest = _digest(request.query["digest"])
        self._session(name, upload_id)
        async with self._lock(upload_id):
            algorithm = self._session(name, upload_id)
            size = await self._append(request, name, upload_id, algorithm)
            hasher = self.hashers.pop(upload_id, None)
            if hasher is not None and hasher.size != size:
                hasher = None
            try:
                await self._commit(name, upload_id, digest, hasher)
            finally:
                self._drop_upload(upload_id)
        self.locks.pop(upload_id, None)
        return _created_blob(name, digest)

    async def upload_status(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        upload_id = m.group("id")
        self._session(name, upload_id)
        size = self.reg.uploads.size(upload_id)
        return web.Response(status=204, headers=self._upload_headers(name, upload_id, size))

    async def cancel_upload(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        upload_id = m.group("id")
        self._session(name, upload_id)
        async with self._lock(upload_id):
            self._drop_upload(upload_id)
        self.locks.pop(upload_id, None)
        return web.Response(status=204)

    # --- manifests ----------------------------------------------------------------------

    def _ref(self, name: str, raw: str) -> tuple[str | None, Digest | None]:
        try:
            return parse_tag_or_digest(raw)
        except InvalidArgument as e:
            code = "DIGEST_INVALID" if ":" in raw else "TAG_INVALID"
            fail(400, code, f"manifest {name}:{raw[:140]}: {e}")

    def _known_repo(self, name: str) -> None:
        if not self.reg.db.repo_exists(name):
            fail(404, "NAME_UNKNOWN", f"repository {name}: repository name not known to registry")

    async def get_manifest(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        tag, digest = self._ref(name, m.group("ref"))
        self._known_repo(name)
        try:
            row = self.reg.resolve(name, tag, digest)
        except NotFound as e:
            fail(404, "MANIFEST_UNKNOWN", str(e), {"reference": m.group("ref")})
        body = await asyncio.to_thread(self.reg.blobs.read_bytes, parse_digest(row.digest))
        headers = {"Docker-Content-Digest": row.digest, "ETag": f'"{row.digest}"'}
        resp = web.Response(body=body, headers=headers)
        resp.content_type = row.media_type
        return resp

    async def _read_manifest(self, request: web.Request, name: str) -> bytes:
        limit = self.config.max_manifest_size
        too_big = f"put manifest {name}: manifest exceeds {limit} bytes"
        if (request.content_length or 0) > limit:
            fail(413, "MANIFEST_INVALID", too_big)
        body = bytearray()
        async for chunk in request.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > limit:
                fail(413, "MANIFEST_INVALID", too_big)
        return bytes(body)

    async def put_manifest(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        ref = m.group("ref")
        tag, expected = self._ref(name, ref)
        tags = [tag] if tag else []
        for extra in request.query.getall("tag", []):
            if not is_tag(extra):
                fail(400, "TAG_INVALID", f"put manifest {name}: invalid tag {extra[:140]!r}")
            tags.append(extra)
        body = await self._read_manifest(request, name)
        try:
            info = inspect_manifest(body, request.headers.get("Content-Type"))
        except InvalidArgument as e:
            fail(400, "MANIFEST_INVALID", str(e))
        try:
            digest = check_digest(body, expected)
        except InvalidArgument as e:
            fail(400, "DIGEST_INVALID", str(e), {"digest": str(expected)})
        missing = self.reg.missing(name, info)
        if missing:
            fail(400, "MANIFEST_BLOB_UNKNOWN", f"put manifest {name}:{ref}: blob unknown to "
                 f"registry: {missing[0]}", {"digest": missing[0]})  # fmt: skip
        await asyncio.to_thread(self.reg.put_manifest, name, body, digest, info, tags)
        headers = {
            "Location": f"/v2/{name}/manifests/{digest}",
            "Docker-Content-Digest": str(digest),
            "Content-Length": "0",
        }
        if info.subject is not None:
            headers["OCI-Subject"] = str(info.subject)
        resp = web.Response(status=201, headers=headers)
        for t in request.query.getall("tag", []):
            resp.headers.add("OCI-Tag", t)
        return resp

    async def delete_manifest(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        self._deletes_enabled()
        tag, digest = self._ref(name, m.group("ref"))
        self._known_repo(name)
        if tag is not None:
            ok = self.reg.db.delete_tag(name, tag)
        else:
            ok = self.reg.db.delete_manifest(name, str(digest))
        if not ok:
            fail(404, "MANIFEST_UNKNOWN", f"delete manifest {name}:{m.group('ref')}: not found")
        return web.Response(status=202, headers={"Content-Length": "0"})

    # --- discovery ----------------------------------------------------------------------

    async def list_tags(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        self._known_repo(name)
        n = h.parse_n(request.query.get("n"))
        last = request.query.get("last", "")
        if n == 0:
            return h.json_response({"name": name, "tags": []})
        tags = self.reg.db.tags(name, last, -1 if n is None else n + 1)
        headers = {}
        if n is not None and len(tags) > n:
            tags = tags[:n]
            headers["Link"] = h.page_link(f"/v2/{name}/tags/list", n, tags[-1])
        return h.json_response({"name": name, "tags": tags}, headers=headers)

    async def catalog(self, request: web.Request) -> web.StreamResponse:
        n = h.parse_n(request.query.get("n"))
        last = request.query.get("last", "")
        if n == 0:
            return h.json_response({"repositories": []})
        repos = self.reg.db.repositories(last, -1 if n is None else n + 1)
        headers = {}
        if n is not None and len(repos) > n:
            repos = repos[:n]
            headers["Link"] = h.page_link("/v2/_catalog", n, repos[-1])
        return h.json_response({"repositories": repos}, headers=headers)

    async def referrers(
        self, request: web.Request, name: str, m: re.Match[str], _d: Decision
    ) -> web.StreamResponse:
        digest = _digest(m.group("digest"))
        rows = self.reg.db.referrers(name, str(digest))
        headers = {}
        wanted = request.query.get("artifactType")
        if wanted is not None:
            rows = [r for r in rows if r.artifact_type == wanted]
            headers["OCI-Filters-Applied"] = "artifactType"
        body = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [referrer_descriptor(r) for r in rows],
        }
        resp = h.json_response(body, headers=headers)
        resp.content_type = mt.OCI_INDEX
        return resp

    # --- tokens -------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.StreamResponse:
        issuer = self.config.issuer
        if issuer is None:
            fail(404, "UNSUPPORTED", "token: this registry issues no tokens")
        query = {k: request.query.getall(k) for k in set(request.query.keys())}
        self._throttled(request)
        try:
            body = await asyncio.to_thread(
                issuer.issue, request.headers.get("Authorization", ""), query
            )
        except PermissionDenied as e:
            if "invalid username or password" in str(e):
                self.throttle.failed(request.remote or "")
            fail(401, "UNAUTHORIZED", str(e), headers={"WWW-Authenticate": 'Basic realm="token"'})
        return h.json_response(body)


def _disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    return "disk is full" in str(e)  # SQLite's SQLITE_FULL


def _digest(raw: str) -> Digest:
    try:
        return parse_digest(raw)
    except InvalidArgument as e:
        fail(400, "DIGEST_INVALID", str(e), {"digest": raw[:200]})


def _hash_path(path: Path, hasher: Hasher) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        hash_file(fd, hasher)
    finally:
        os.close(fd)


def _created_blob(name: str, digest: Digest) -> web.Response:
    headers = {
        "Location": f"/v2/{name}/blobs/{digest}",
        "Docker-Content-Digest": str(digest),
        "Content-Length": "0",
    }
    return web.Response(status=201, headers=headers)


# --- the application --------------------------------------------------------------------


def make_app(config: ServerConfig) -> web.Application:
    """The aiohttp application serving one registry root."""
    api = _Api(config)

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        request[_START] = time.monotonic()
        try:
            return await handler(request)  # type: ignore[no-any-return]
        except Unavailable as e:
            return h.ApiReply(503, "UNAVAILABLE", str(e))
        except DockyardError as e:
            return h.ApiReply(500, "UNKNOWN", str(e))
        except (OSError, sqlite3.OperationalError) as e:
            if not _disk_full(e):
                raise
            return h.ApiReply(507, "UNKNOWN", f"{request.method} {request.path}: storage is full")

    app = web.Application(middlewares=[errors], client_max_size=MANIFEST_MAX + 1)
    app.router.add_route("*", "/v2/{path:.*}", api.dispatch)
    app.router.add_route("*", "/v2", api.dispatch)
    app.router.add_route("GET", "/token", api.token)

    async def api_version(request: web.Request, response: web.StreamResponse) -> None:
        response.headers[h.API_VERSION[0]] = h.API_VERSION[1]
        _log(config, request, response)

    app.on_response_prepare.append(api_version)
    return app


def _log(config: ServerConfig, request: web.Request, resp: web.StreamResponse) -> None:
    """One access-log record, written when the response starts (its status is final then)."""
    if config.access_log is None:
        return
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "remote": request.remote,
        "method": request.method,
        "path": request.rel_url.raw_path,
        "query": request.rel_url.raw_query_string,
        "status": resp.status,
        "bytes_in": request.content_length or 0,
        "bytes_out": resp.content_length or 0,
        "duration_ms": round((time.monotonic() - request.get(_START, time.monotonic())) * 1000, 3),
        "account": request.get(_ACCOUNT),
        "user_agent": request.headers.get("User-Agent", ""),
    }
    config.access_log(record)


async def serve(
    config: ServerConfig,
    host: str = "127.0.0.1",
    port: int = 5000,
    *,
    ssl_context: ssl.SSLContext | None = None,
    on_ready: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until ``stop`` is set (or the task is cancelled); ``on_ready`` gets the port."""
    app = make_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, read_bufsize=_READ_BUFSIZE)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, ssl_context=ssl_context, backlog=256)
        try:
            await site.start()
        except OSError as e:
            raise Unavailable(f"serve registry on {host}:{port}: {e.strerror or e}") from None
        bound = runner.addresses[0][1] if runner.addresses else port
        if on_ready is not None:
            on_ready(int(bound))
        await (stop or asyncio.Event()).wait()
    finally:
        await runner.cleanup()
