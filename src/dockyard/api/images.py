"""The Docker Engine API's image endpoints on dockyardd (``/images/*``, ``/build``).

Shapes and status codes follow dockerd's (API 1.43): ``GET /images/json`` lists image
summaries, ``/images/{name}/json`` inspects, ``/history``, ``/tag`` (201), ``DELETE``
(a list of ``Untagged``/``Deleted``), ``/images/get`` streams a docker-format archive,
``/images/load`` takes one on the body, ``/images/prune``; ``/images/create`` pulls
(``fromImage``) or imports a root filesystem tarball (``fromSrc=-``), ``/images/{name}/push``
pushes, both streaming dockerd's JSON progress messages (``{"status", "id"}`` …, an
``errorDetail`` message when it fails mid-stream); ``/images/search`` answers 501: dockyard
has no index to search.

Registry credentials come as dockerd takes them, in ``X-Registry-Auth`` (base64url JSON with
``username``, ``password``, ``serveraddress``), else from the daemon's own login file.

The work is the store's and the distribution client's (:mod:`dockyard.store.images`,
:mod:`dockyard.distribution`); handlers only translate. ``/build`` is in
:mod:`dockyard.api.build`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import fnmatch
import json
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from dockyard.errors import DockyardError, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.distribution.client import ClientConfig
    from dockyard.store.images import Image, ImageStore

__all__ = ["image_json", "image_summary", "register"]


STORE: web.AppKey[ImageStore] = web.AppKey("images")


def _store(request: web.Request) -> ImageStore:
    return request.app[STORE]


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def _filters(request: web.Request) -> dict[str, list[str]]:
    from dockyard.api.convert import parse_filters

    return parse_filters(request.query.get("filters"))


def _familiar(ref: str) -> str:
    from dockyard.oci.reference import parse_reference

    try:
        return parse_reference(ref).familiar()
    except InvalidArgument:
        return ref


def _epoch(created: str | None) -> int:
    if not created:
        return 0
    try:
        return int(datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0


def _config(img: Image) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(img.config.content())
    return value


def _repo_digests(img: Image) -> list[str]:
    """``repo@digest`` for each tag's repository (what a pull or push recorded)."""
    out = []
    for t in img.repo_tags:
        repo = _familiar(t).rsplit(":", 1)[0] if "@" not in t else _familiar(t).split("@")[0]
        entry = f"{repo}@{img.manifest_digest}"
        if entry not in out:
            out.append(entry)
    return out


def image_summary(img: Image, containers: int = -1) -> dict[str, Any]:
    """An entry of ``GET /images/json``, as dockerd writes it."""
    cfg = _config(img)
    tags = [_familiar(t) for t in img.repo_tags]
    return {
        "Id": str(img.id),
        "ParentId": "",
        "RepoTags": tags,
        "RepoDigests": _repo_digests(img),
        "Created": _epoch(cfg.get("created") or img.created),
        "Size": img.size,
        "SharedSize": -1,
        "VirtualSize": img.size,
        "Labels": (cfg.get("config") or {}).get("Labels") or {},
        "Containers": containers,
    }


def image_json(img: Image, parent: str = "") -> dict[str, Any]:
    """``GET /images/{name}/json`` (and ``dockyard inspect`` of an image)."""
    cfg = _config(img)
    config = cfg.get("config") or {}
    return {
        "Id": str(img.id),
        "RepoTags": [_familiar(t) for t in img.repo_tags],
        "RepoDigests": _repo_digests(img),
        "Parent": parent,  # the image it was committed from (a local fact, as dockerd's)
        "Comment": "",
        "Created": cfg.get("created", ""),
        "DockerVersion": "",
        "Author": cfg.get("author", ""),
        "Config": config,
        "Architecture": cfg.get("architecture", ""),
        "Variant": cfg.get("variant", ""),
        "Os": cfg.get("os", ""),
        "Size": img.size,
        "VirtualSize": img.size,
        "GraphDriver": {"Name": "overlay2", "Data": None},
        "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
        "Metadata": {
            "LastTagTime": "0001-01-01T00:00:00Z",
            "ManifestDigest": str(img.manifest_digest),
        },
    }


def history(img: Image) -> list[dict[str, Any]]:
    """``GET /images/{name}/history``: newest first; the top entry carries the image id and
    its tags, the others ``<missing>`` (dockerd's answer for a pulled image)."""
    cfg = _config(img)
    layers = list(img.manifest.layers)
    entries = []
    li = 0
    for h in cfg.get("history") or []:
        size = 0
        if not h.get("empty_layer"):
            size = layers[li].size if li < len(layers) else 0
            li += 1
        entries.append({
            "Id": "<missing>",
            "Created": _epoch(h.get("created")),
            "CreatedBy": h.get("created_by", ""),
            "Tags": None,
            "Size": size,
            "Comment": h.get("comment", ""),
        })  # fmt: skip
    entries.reverse()
    if entries:
        entries[0]["Id"] = str(img.id)
        entries[0]["Tags"] = [_familiar(t) for t in img.repo_tags] or None
    return entries


def _matches(img: Image, filters: dict[str, list[str]]) -> bool:
    for key, wanted in filters.items():
        if key == "dangling":
            if (wanted[-1].lower() in ("true", "1")) == bool(img.repo_tags):
                return False
        elif key == "reference":
            tags = [_familiar(t) for t in img.repo_tags]
            if not any(fnmatch.fnmatchcase(t, w) or fnmatch.fnmatchcase(t.rsplit(":", 1)[0], w)
                       for t in tags for w in wanted):  # fmt: skip
                return False
        elif key == "label":
            labels = (_config(img).get("config") or {}).get("Labels") or {}
            for w in wanted:
                k, _, v = w.partition("=")
                if k not in labels or (v and labels[k] != v):
                    return False
        elif key in ("before", "since", "until"):
            continue  # accepted, not narrowed
        else:
            raise InvalidArgument(f"invalid filter '{key}'")
    return True


# ---------------------------------------------------------------------- handlers


async def images_list(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    filters = _filters(request)
    imgs = await asyncio.to_thread(store.list_images)
    return web.json_response([image_summary(i) for i in imgs if _matches(i, filters)])


async def image_inspect(request: web.Request) -> web.StreamResponse:
    img = _resolve(_store(request), request.match_info["name"])
    return web.json_response(image_json(img, _store(request).db.parent_of(str(img.id))))


async def image_history(request: web.Request) -> web.StreamResponse:
    img = _resolve(_store(request), request.match_info["name"])
    return web.json_response(history(img))


def _resolve(store: ImageStore, name: str) -> Image:
    try:
        return store.resolve(name)
    except NotFound:
        raise NotFound(f"No such image: {name}") from None


async def image_tag(request: web.Request) -> web.StreamResponse:
    repo = request.query.get("repo")
    if not repo:
        raise InvalidArgument("tag: repo is required")
    tag = request.query.get("tag") or "latest"
    target = repo if "@" in repo else f"{repo}:{tag}"
    store = _store(request)
    _resolve(store, request.match_info["name"])
    await asyncio.to_thread(store.tag, request.match_info["name"], target)
    return web.Response(status=201)


async def image_delete(request: web.Request) -> web.StreamResponse:
    store = _store(request)
    name = request.match_info["name"]
    _resolve(store, name)
    report = await asyncio.to_thread(store.remove, name, force=_flag(request, "force"))
    out: list[dict[str, str]] = [{"Untagged": _familiar(t)} for t in report.untagged]
    out += [{"Deleted": str(d)} for d in report.deleted]
    return web.json_response(out)


async def images_prune(request: web.Request) -> web.StreamResponse:
    from dockyard.store.gc import prune

    filters = _filters(request)
    dangling = (filters.get("dangling") or ["true"])[-1].lower() in ("true", "1")
    report = await asyncio.to_thread(prune, _store(request), dangling=True, unused=not dangling)
    deleted: list[dict[str, str]] = [{"Untagged": t} for t in report.untagged]
    deleted += [{"Deleted": str(d)} for d in report.images]
    return web.json_response({"ImagesDeleted": deleted or None, "SpaceReclaimed": report.reclaimed})


async def images_search(request: web.Request) -> web.StreamResponse:
    term = request.query.get("term", "")
    why = "dockyard talks to registries by name and has no index to search"
    body = {"message": f"search {term!r}: not supported: {why} (try `dockyard manifest inspect`)"}
    return web.json_response(body, status=501)


async def images_get(request: web.Request) -> web.StreamResponse:
    names = request.query.getall("names", [])
    if "name" in request.match_info:
        names = [request.match_info["name"]]
    if not names:
        raise InvalidArgument("images/get: no image names given")
    return await _save(request, names)


async def _save(request: web.Request, names: list[str]) -> web.StreamResponse:
    from dockyard.store.archive import save_archive

    store = _store(request)
    for n in names:
        _resolve(store, n)
    with tempfile.TemporaryDirectory(prefix="dockyard-save-") as tmp:
        path = Path(tmp) / "images.tar"
        await asyncio.to_thread(save_archive, store, names, path, "docker")
        resp = web.StreamResponse(headers={"Content-Type": "application/x-tar"})
        await resp.prepare(request)
        with open(path, "rb") as f:
            while chunk := await asyncio.to_thread(f.read, 1 << 20):
                await resp.write(chunk)
        await resp.write_eof()
        return resp


async def _body_to_file(request: web.Request, path: Path) -> int:
    size = 0
    with open(path, "wb") as f:
        async for chunk in request.content.iter_chunked(1 << 20):
            size += len(chunk)
            await asyncio.to_thread(f.write, chunk)
    return size


async def images_load(request: web.Request) -> web.StreamResponse:
    from dockyard.store.archive import load_archive

    store = _store(request)
    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="dockyard-load-") as tmp:
        path = Path(tmp) / "in.tar"
        await _body_to_file(request, path)
        tags: list[list[str]] = []
        try:
            images = await asyncio.to_thread(load_archive, store, path, tags_out=tags)
        except DockyardError as e:  # as dockerd: a 200 whose stream says what failed
            lines.append({"errorDetail": {"message": f"load: {e}"}, "error": f"load: {e}"})
            images = []
    for img, own in zip(images, tags, strict=True):  # one message a tag, as dockerd
        named = [_familiar(t) for t in own]
        lines += [{"stream": f"Loaded image: {t}\n"} for t in named] or [
            {"stream": f"Loaded image ID: {img.id}\n"}
        ]
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    for line in lines:  # quiet (a client not on a terminal) only drops progress bars: none
        await resp.write((json.dumps(line) + "\n").encode())
    await resp.write_eof()
    return resp


# ---------------------------------------------------------------------- pull / push / import


def _auth_config(request: web.Request) -> ClientConfig:
    """The distribution client's config: the request's ``X-Registry-Auth`` first."""
    from dockyard.distribution.auth import load_credentials
    from dockyard.distribution.client import ClientConfig

    raw = request.headers.get("X-Registry-Auth", "")
    given: tuple[str, str] | None = None
    if raw:
        try:
            padded = raw + "=" * (-len(raw) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (ValueError, binascii.Error):
            raise InvalidArgument("X-Registry-Auth: not base64url-encoded JSON") from None
        if isinstance(data, dict) and data.get("username"):
            given = (str(data["username"]), str(data.get("password") or ""))

    def credentials(host: str) -> tuple[str, str] | None:
        return given or load_credentials(host)

    return ClientConfig(credentials=credentials, user_agent="dockyardd/0.1")


class _Progress:
    """dockerd's JSON progress messages, written as the worker thread reports them."""

    def __init__(self, request: web.Request) -> None:
        self.resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        self.request = request
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    def report(self, ident: str, status: str) -> None:  # from worker threads
        msg: dict[str, Any] = {"status": status}
        if ident:
            msg["id"] = ident
        self.loop.call_soon_threadsafe(self.queue.put_nowait, msg)

    def transfer(self, ident: str, action: str, current: int, total: int) -> None:
        """A blob's bytes so far, as dockerd: ``progressDetail`` for clients that draw
        their own bar (the docker CLI), ``progress`` as text for the others."""
        from dockyard.distribution.progress import bar

        msg = {"status": action, "progressDetail": {"current": current, "total": total},
               "progress": bar(current, total), "id": ident}  # fmt: skip
        self.loop.call_soon_threadsafe(self.queue.put_nowait, msg)

    async def run(self, work: Callable[[], Any], done: Callable[[Any], list[str]]) -> None:
        await self.resp.prepare(self.request)
        task = asyncio.ensure_future(asyncio.to_thread(work))
        task.add_done_callback(lambda _t: self.queue.put_nowait(None))
        while (msg := await self.queue.get()) is not None:
            await self._send(msg)
        while not self.queue.empty():
            msg = self.queue.get_nowait()
            if msg is not None:
                await self._send(msg)
        try:
            result = task.result()
        except DockyardError as e:
            await self._send({"errorDetail": {"message": str(e)}, "error": str(e)})
        else:
            for status in done(result):
                await self._send({"status": status})
        await self.resp.write_eof()

    async def _send(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionResetError):
            await self.resp.write((json.dumps(msg) + "\n").encode())


async def images_create(request: web.Request) -> web.StreamResponse:
    src = request.query.get("fromSrc")
    if src is not None:
        return await _import(request, src)
    image = request.query.get("fromImage")
    if not image:
        raise InvalidArgument("images/create: fromImage or fromSrc is required")
    ref = _pull_ref(image, request.query.get("tag") or "")
    from dockyard.distribution.pull import pull_sync

    store = _store(request)
    config = _auth_config(request)
    platform = request.query.get("platform") or None
    progress = _Progress(request)

    def work() -> Image:
        return pull_sync(store, ref, config=config, platform=platform, progress=progress.report,
                         transfer=progress.transfer)  # fmt: skip

    def done(img: Image) -> list[str]:
        return [f"Status: Downloaded newer image for {_familiar(ref)}"]

    await progress.run(work, done)
    return progress.resp


def _has_tag(image: str) -> bool:
    return ":" in image.rsplit("/", 1)[-1]


def _pull_ref(image: str, tag: str) -> str:
    """The reference ``docker pull`` means by ``fromImage`` and ``tag`` (a tag of
    ``sha256:...`` is a digest; no tag at all is ``latest``)."""
    if "@" in image:
        return image
    if tag:
        base = image.rsplit(":", 1)[0] if _has_tag(image) else image
        return f"{base}@{tag}" if tag.startswith("sha256:") else f"{base}:{tag}"
    return image if _has_tag(image) else f"{image}:latest"


async def _import(request: web.Request, src: str) -> web.StreamResponse:
    """``fromSrc=-``: the body is a root filesystem tarball, committed as a one-layer image
    (``repo``/``tag`` name it; ``changes`` are Dockerfile metadata instructions, applied as
    ``commit`` applies them: :func:`dockyard.engine.commit.apply_changes`)."""
    if src != "-":
        raise InvalidArgument("images/create: fromSrc must be '-' (the body): URLs are not fetched")
    repo = request.query.get("repo") or ""
    target = _pull_ref(repo, request.query.get("tag") or "") if repo else None
    store = _store(request)
    with tempfile.TemporaryDirectory(prefix="dockyard-import-") as tmp:
        path = Path(tmp) / "rootfs.tar"
        await _body_to_file(request, path)
        img = await asyncio.to_thread(
            _import_rootfs, store, path, target, request.query.getall("changes", [])
        )
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write((json.dumps({"status": str(img.id)}) + "\n").encode())
    await resp.write_eof()
    return resp


def _import_rootfs(
    store: ImageStore, path: Path, target: str | None, changes: list[str] | None = None
) -> Image:
    import os
    from datetime import UTC

    from dockyard.build.state import ImageState
    from dockyard.engine.commit import apply_changes
    from dockyard.oci.image import History

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    state = ImageState(arch, "linux", {}, history=[History(created=now, created_by="import")])
    apply_changes(state, changes or [])
    config = state.image_config(now)
    return store.create_image([path], config, tags=[target] if target else [])


async def image_push(request: web.Request) -> web.StreamResponse:
    from dockyard.distribution.push import push_sync

    name = request.match_info["name"]
    tag = request.query.get("tag") or ""
    ref = f"{name}:{tag}" if tag and not _has_tag(name) else name
    store = _store(request)
    _resolve(store, ref)
    config = _auth_config(request)
    progress = _Progress(request)
    progress.report("", f"The push refers to repository [{_familiar(ref).rsplit(':', 1)[0]}]")

    def work() -> Any:
        return push_sync(store, ref, config=config, progress=progress.report,
                         transfer=progress.transfer)  # fmt: skip

    def done(digest: Any) -> list[str]:
        size = len(store.blobs.read_bytes(store.resolve(ref).manifest_digest))
        return [f"{tag or _familiar(ref).rsplit(':', 1)[-1]}: digest: {digest} size: {size}"]

    await progress.run(work, done)
    return progress.resp


def register(app: web.Application, store: ImageStore) -> None:
    app[STORE] = store
    r = app.router
    for p in ("", "/v{version:[0-9.]+}"):
        r.add_get(p + "/images/json", images_list)
        r.add_post(p + "/images/create", images_create)
        r.add_post(p + "/images/load", images_load)
        r.add_get(p + "/images/get", images_get)
        r.add_post(p + "/images/prune", images_prune)
        r.add_get(p + "/images/search", images_search)
        r.add_get(p + "/images/{name:.+}/json", image_inspect)
        r.add_get(p + "/images/{name:.+}/history", image_history)
        r.add_get(p + "/images/{name:.+}/get", images_get)
        r.add_post(p + "/images/{name:.+}/tag", image_tag)
        r.add_post(p + "/images/{name:.+}/push", image_push)
        r.add_delete(p + "/images/{name:.+}", image_delete)
