"""``POST /build``: the classic builder protocol of the Docker Engine API on dockyardd.

The request body is the build context as a tar (plain or gzip, bzip2, xz), the query
dockerd's: ``t`` (repeatable), ``dockerfile`` (a path inside the context), ``buildargs``
(JSON), ``nocache``, ``target``, ``q``, ``platform``, ``networkmode`` (``default``, ``none``,
``host``); ``rm``, ``forcerm``, ``pull``, ``cachefrom`` and the resource settings are
accepted and have no effect (RUN containers are always removed; bases come from the store).
``labels`` become one ``LABEL`` instruction after the built stage's last one
(:func:`with_labels`).

The answer streams dockerd's JSON messages: ``{"stream": ...}`` lines (the builder's
progress and the RUN steps' output), ``{"aux": {"ID": ...}}`` with the image id, then
``Successfully built`` / ``Successfully tagged``; a failure is an ``errorDetail`` message
(the HTTP status is already 200 then, as with dockerd).

The context is hostile input: it is unpacked into a fresh directory of the store's with the
store's tar filter (no absolute or climbing names, no hard links out), and also without
device nodes and without any member below a symlink of the same archive (``a -> /etc``
then ``a/passwd`` would write through the link); the directory is removed after the build.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from aiohttp import web

from dockyard.errors import DockyardError, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.store.images import ImageStore

__all__ = ["classic_error", "register", "unpack_context", "with_labels"]

BUILD: web.AppKey[tuple[ImageStore, Path]] = web.AppKey("build")


def unpack_context(archive: Path, dest: Path) -> None:
    """Unpack a build context tar into the empty ``dest`` (see the module docstring);
    InvalidArgument naming the member that is refused."""
    from dockyard.store.tarextract import extract_tar

    try:
        with tarfile.open(archive, "r:*") as tf:
            members = tf.getmembers()
            links: list[PurePosixPath] = []
            for m in members:
                path = PurePosixPath(m.name.lstrip("/"))
                if m.isdev() or m.isfifo():
                    raise InvalidArgument(f"build context: {m.name!r} is a device or fifo")
                if any(link in path.parents for link in links):
                    raise InvalidArgument(f"build context: {m.name!r} lies below a symlink")
                if m.issym():
                    links.append(path)
            extract_tar(tf, str(dest), members)
    except tarfile.TarError as e:
        raise InvalidArgument(f"build context: {e}") from None
    except EOFError:
        raise InvalidArgument("build context: truncated archive") from None


def with_labels(text: str, labels: dict[str, str], target: str | None,
                filename: str = "Dockerfile") -> str:  # fmt: skip
    """``text`` with one ``LABEL`` instruction after the last instruction of the built
    stage (``target``, else the last): what ``labels`` of ``POST /build`` mean (dockerd's
    classic builder adds them to the image it builds). Each key and value is a quoted
    string with ``"``, ``$`` and the escape character escaped: taken literally, never
    expanded; a newline in one is InvalidArgument."""
    from dockyard.build.parser import parse_dockerfile

    parsed = parse_dockerfile(text, filename)
    esc = parsed.escape_token
    stages: list[tuple[str, int]] = []  # (name, end line of its last instruction)
    for node in parsed.ast.children:
        if node.value.lower() == "from":
            words = [n.value for n in node.args()]
            name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
            stages.append((name, node.end_line))
        elif stages:
            stages[-1] = (stages[-1][0], node.end_line)
    wanted = [s for s in stages if target and s[0] == target.lower()]
    if not stages or (target and not wanted):
        return text  # the builder reports the missing FROM or target
    end = (wanted or stages)[-1][1]

    def quote(s: str) -> str:
        if "\n" in s or "\r" in s:
            raise InvalidArgument(f"build: label {s!r}: newlines are not supported")
        for ch in dict.fromkeys((esc, '"', "$")):
            s = s.replace(ch, esc + ch)
        return f'"{s}"'

    line = "LABEL " + " ".join(f"{quote(k)}={quote(v)}" for k, v in labels.items())
    lines = text.splitlines()
    return "\n".join([*lines[:end], line, *lines[end:]]) + "\n"


def _labels(request: web.Request) -> dict[str, str]:
    try:
        labels = json.loads(request.query.get("labels") or "{}")
    except ValueError:
        raise InvalidArgument("build: labels is not a JSON object") from None
    if not isinstance(labels, dict):
        raise InvalidArgument("build: labels is not a JSON object")
    return {str(k): "" if v is None else str(v) for k, v in labels.items()}


def _options(request: web.Request, context: Path) -> dict[str, Any]:
    q = request.query
    name = q.get("dockerfile") or "Dockerfile"
    dockerfile = (context / name.lstrip("/")).resolve()
    if not dockerfile.is_relative_to(context.resolve()):
        raise InvalidArgument(f"build: dockerfile {name!r} is outside the context")
    text = None
    labels = _labels(request)
    if labels and dockerfile.is_file():
        from dockyard.build.parser import read_dockerfile

        text = with_labels(read_dockerfile(dockerfile), labels, q.get("target") or None,
                           dockerfile.name)  # fmt: skip
    try:
        args = json.loads(q.get("buildargs") or "{}")
    except ValueError:
        raise InvalidArgument("build: buildargs is not a JSON object") from None
    if not isinstance(args, dict):
        raise InvalidArgument("build: buildargs is not a JSON object")
    mode = q.get("networkmode") or "default"
    if mode not in ("default", "none", "host", "bridge"):
        raise InvalidArgument(f"build: networkmode {mode!r} is not supported")
    return {
        "context": context,
        "dockerfile": dockerfile,
        "dockerfile_text": text,
        "tags": tuple(q.getall("t", [])),
        "target": q.get("target") or None,
        "build_args": {str(k): "" if v is None else str(v) for k, v in args.items()},
        "no_cache": q.get("nocache", "").lower() in ("1", "true"),
        "platform": q.get("platform") or "",
        "network": "default" if mode == "bridge" else mode,
        "allow": frozenset({"network.host"}) if mode == "host" else frozenset(),
    }


async def build(request: web.Request) -> web.StreamResponse:
    from dockyard.build import Builder, BuildOptions

    store, run_root = request.app[BUILD]
    quiet = request.query.get("q", "").lower() in ("1", "true")
    work = store.root / "tmp"
    work.mkdir(exist_ok=True, mode=0o700)
    upload = work / f"build-{os.getpid()}-{id(request)}.tar"
    digest = hashlib.sha256()
    with open(upload, "wb") as f:
        async for chunk in request.content.iter_chunked(1 << 20):
            digest.update(chunk)
            await asyncio.to_thread(f.write, chunk)
    # the same context unpacks at the same path: the builder's memo of a whole build hits
    context = work / f"context-{digest.hexdigest()[:16]}"
    if context.exists():
        context = work / f"context-{digest.hexdigest()[:16]}-{id(request)}"
    try:
        context.mkdir(mode=0o700)
        await asyncio.to_thread(unpack_context, upload, context)
        opts = _options(request, context)
    except BaseException:
        shutil.rmtree(context, ignore_errors=True)
        upload.unlink(missing_ok=True)
        raise
    upload.unlink(missing_ok=True)

    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def emit(msg: dict[str, Any]) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, msg)

    read_fd, write_fd = os.pipe()

    def relay_output() -> None:  # the RUN steps' output, line by line
        with os.fdopen(read_fd, "rb") as f:
            for line in f:
                if not quiet:
                    emit({"stream": line.decode(errors="replace")})

    relay = threading.Thread(target=relay_output, daemon=True)
    relay.start()

    def work_() -> Any:
        try:

            def progress(line: str) -> None:
                if not quiet:
                    emit({"stream": line + "\n"})

            builder = Builder(store, run_root, progress=progress)
            return builder.build(BuildOptions(**opts, run_output_fd=write_fd))
        finally:
            os.close(write_fd)
            relay.join(10)

    task = asyncio.ensure_future(asyncio.to_thread(work_))
    task.add_done_callback(lambda _t: queue.put_nowait(None))
    try:
        while (msg := await queue.get()) is not None:
            await _send(resp, msg)
        while not queue.empty():
            if (msg := queue.get_nowait()) is not None:
                await _send(resp, msg)
        try:
            result = task.result()
        except DockyardError as e:
            text = classic_error(str(e))
            await _send(resp, {"errorDetail": {"message": text}, "error": text})
        else:
            image_id = str(result.image.id)
            await _send(resp, {"aux": {"ID": image_id}})
            for warning in result.warnings:
                await _send(resp, {"stream": f"WARNING: {warning}\n"})
            if quiet:  # dockerd's quiet answer: the image id alone
                await _send(resp, {"stream": f"{image_id}\n"})
            else:
                await _send(resp, {"stream": f"Successfully built {image_id[7:19]}\n"})
                for tag in opts["tags"]:
                    await _send(resp, {"stream": f"Successfully tagged {tag}\n"})
    finally:
        if not task.done():
            await asyncio.wait([task])
        shutil.rmtree(context, ignore_errors=True)
    await resp.write_eof()
    return resp


def classic_error(message: str) -> str:
    """A failed RUN in the classic builder's words, which clients of this protocol match
    (docker-py's ``BuildError``): ``The command '/bin/sh -c exit 1' returned a non-zero
    code: 1``; the builder's (BuildKit's) ``Dockerfile:2: process "/bin/sh -c exit 1" did
    not complete successfully: exit code: 1`` otherwise. Other errors are unchanged."""
    import re

    m = re.fullmatch(r'(?s)(?:.*?: )?process (".*") did not complete successfully: '
                     r"exit code: (\d+)", message)  # fmt: skip
    if m is None:
        return message
    try:
        command = json.loads(m.group(1))
    except ValueError:
        return message
    return f"The command '{command}' returned a non-zero code: {m.group(2)}"


async def _send(resp: web.StreamResponse, msg: dict[str, Any]) -> None:
    with contextlib.suppress(ConnectionResetError):
        await resp.write((json.dumps(msg) + "\n").encode())


def register(app: web.Application, store: ImageStore, run_root: Path) -> None:
    app[BUILD] = (store, Path(run_root))
    for p in ("", "/v{version:[0-9.]+}"):
        app.router.add_post(p + "/build", build)
