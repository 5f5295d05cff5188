"""The container and exec endpoints of the Docker Engine API: list, create, inspect, the
lifecycle (start, stop, restart, kill, pause, rename, update, wait, remove, prune), attach,
logs, top, changes, commit, stats, archive (``docker cp``) and exec. Handlers translate;
the engine (:class:`dockyard.engine.daemon.Daemon`) decides. :func:`add_routes` adds them
under one path prefix (``""`` or ``/v{version}``), in the order :func:`..server.make_app`
keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from dockyard.errors import DockyardError, FailedPrecondition, InvalidArgument

if TYPE_CHECKING:
    from dockyard.store.db import ContainerRecord

from .request import (
    API_VERSION,
    daemon_of,
    json_body,
    prune_cutoff,
    query_filters,
    query_flag,
    time_arg,
)

__all__ = ["add_routes"]

# ---------------------------------------------------------------------- containers


async def containers_list(request: web.Request) -> web.StreamResponse:
    from dockyard.api.shapes import container_summary
    from dockyard.engine.query import filter_containers

    d = daemon_of(request)
    recs = filter_containers(d.list(all_=query_flag(request, "all")), query_filters(request))
    return web.json_response([container_summary(r) for r in recs])


async def containers_create(request: web.Request) -> web.StreamResponse:
    from dockyard.api.convert import options_from_create

    opts, dopts = options_from_create(await json_body(request), request.query.get("name") or None)
    d = daemon_of(request)
    rec = await d.create(opts, dopts)
    published = bool(dopts.publish or dopts.publish_all)
    warnings = d.net.run_warnings(opts.network, published) if d.net is not None else []
    return web.json_response({"Id": rec.id, "Warnings": warnings}, status=201)


async def container_inspect(request: web.Request) -> web.StreamResponse:
    from dockyard.api.shapes import container_json

    d = daemon_of(request)
    return web.json_response(container_json(d, d.get(request.match_info["id"])))


async def container_start(request: web.Request) -> web.StreamResponse:
    d = daemon_of(request)
    rec = d.get(request.match_info["id"])
    if rec.status in ("running", "paused"):
        return web.Response(status=304)
    await d.start(rec.id)
    return web.Response(status=204)


async def container_stop(request: web.Request) -> web.StreamResponse:
    t = request.query.get("t")
    done = await daemon_of(request).stop(request.match_info["id"], float(t) if t else None)
    return web.Response(status=204 if done else 304)


async def container_restart(request: web.Request) -> web.StreamResponse:
    t = request.query.get("t")
    await daemon_of(request).restart(request.match_info["id"], float(t) if t else None)
    return web.Response(status=204)


async def container_kill(request: web.Request) -> web.StreamResponse:
    await daemon_of(request).kill(request.match_info["id"], request.query.get("signal") or None)
    return web.Response(status=204)


async def container_pause(request: web.Request) -> web.StreamResponse:
    await daemon_of(request).pause(request.match_info["id"])
    return web.Response(status=204)


async def container_unpause(request: web.Request) -> web.StreamResponse:
    await daemon_of(request).unpause(request.match_info["id"])
    return web.Response(status=204)


async def container_rename(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name")
    if not name:
        raise InvalidArgument("rename: name is required")
    await daemon_of(request).rename(request.match_info["id"], name)
    return web.Response(status=204)


async def container_update(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    warnings = await daemon_of(request).update_limits(request.match_info["id"], body)
    return web.json_response({"Warnings": warnings})


async def container_wait(request: web.Request) -> web.StreamResponse:
    """As Docker: the headers at once (a client may start the container only then: the
    stock CLI's ``attach``/``run`` do), the body when the condition is met."""
    fut = daemon_of(request).waiter(
        request.match_info["id"], request.query.get("condition") or "not-running"
    )
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    try:
        await resp.prepare(request)
        code = await fut
    finally:
        fut.cancel()
    await resp.write(json.dumps({"StatusCode": code, "Error": None}).encode())
    return resp


async def container_remove(request: web.Request) -> web.StreamResponse:
    await daemon_of(request).remove(request.match_info["id"], force=query_flag(request, "force"),
                             volumes=query_flag(request, "v"))  # fmt: skip
    return web.Response(status=204)


async def containers_prune(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.logs import parse_time
    from dockyard.engine.query import filter_containers
    from dockyard.engine.system import container_size

    d = daemon_of(request)
    gone, space = [], 0
    filters = query_filters(request)
    until = filters.pop("until", [])
    cutoff = prune_cutoff(until[-1]) if until else 0
    for rec in filter_containers(d.list(all_=True), filters):  # label=, id=, ...
        if cutoff and rec.created and parse_time(rec.created) > cutoff:
            continue  # docker's until: only what was created before it
        if rec.status in ("exited", "created", "dead"):
            size = await asyncio.to_thread(container_size, d, rec.id)
            await d.remove(rec.id)
            gone.append(rec.id)
            space += size
    return web.json_response({"ContainersDeleted": gone, "SpaceReclaimed": space})


async def container_resize(request: web.Request) -> web.StreamResponse:
    d = daemon_of(request)
    rec = d.get(request.match_info["id"])
    await d.shim.call({"op": "resize", "id": rec.id, "h": int(request.query.get("h", "24")),
                       "w": int(request.query.get("w", "80"))})  # fmt: skip
    return web.Response(status=200)


async def container_attach(request: web.Request) -> web.StreamResponse:
    from dockyard.api.attach import attach

    return await attach(
        request, daemon_of(request), request.match_info.get("version") or API_VERSION
    )


async def container_logs(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.logs import parse_time, read_logs

    d = daemon_of(request)
    rec = d.get(request.match_info["id"])
    want_out = query_flag(request, "stdout") or not (request.query.get("stderr") or "")
    want_err = query_flag(request, "stderr") or not (request.query.get("stdout") or "")
    stamps = query_flag(request, "timestamps")
    tail_q = request.query.get("tail", "all")
    tail = -1 if tail_q in ("all", "") else int(tail_q)
    since = time_arg(request.query.get("since"), parse_time)
    until = time_arg(request.query.get("until"), parse_time)
    from dockyard.engine.record import config_of

    cfg = config_of(rec)
    if cfg.daemon.log_driver == "none":  # dockerd's words
        raise FailedPrecondition("configured logging driver does not support reading")
    tty = cfg.options.tty
    started = rec.started_at
    resp = web.StreamResponse(
        headers={
            "Content-Type": "application/vnd.docker.raw-stream"
            if tty
            else "application/vnd.docker.multiplexed-stream"
        }
    )
    await resp.prepare(request)

    def stop() -> bool:
        try:
            r = d.get(rec.id)
        except DockyardError:
            return True
        return r.status not in ("running", "paused", "restarting") or r.started_at != started

    details = _details_prefix(rec) if query_flag(request, "details") else b""
    async for e in read_logs(str(d.bundle(rec.id) / f"{rec.id}-json.log"), since=since,
                             until=until, tail=tail, follow=query_flag(request, "follow"),
                             stop=stop,
                             max_file=cfg.daemon.log_max_file or 3):  # fmt: skip
        if (e.stream == "stdout" and not want_out) or (e.stream == "stderr" and not want_err):
            continue
        data = details + e.data
        data = (e.time.encode() + b" " + data) if stamps else data
        if tty:
            await resp.write(data)
        else:
            kind = 1 if e.stream == "stdout" else 2
            await resp.write(bytes([kind, 0, 0, 0]) + len(data).to_bytes(4, "big") + data)
    return resp


def _details_prefix(rec: ContainerRecord) -> bytes:
    """``details=1``: the attributes the container's ``--log-opt labels=/env=`` pick, as
    dockerd writes them before each line (after the timestamp)."""
    from dockyard.engine.logattrs import details_prefix, extra_attributes
    from dockyard.engine.record import config_of

    cfg = config_of(rec)
    return details_prefix(extra_attributes(cfg.daemon.log_opts, rec.labels, cfg.env()))


async def container_changes(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.commit import changes

    d = daemon_of(request)
    found = await asyncio.to_thread(changes, d, request.match_info["id"])
    return web.json_response(found)


async def commit(request: web.Request) -> web.StreamResponse:
    """``POST /commit?container=…&repo=…&tag=…&changes=…&pause=…`` (dockerd's query; the
    body, a container config to merge, is not read: ``changes`` say what to change)."""
    from dockyard.engine.commit import commit as commit_container

    d = daemon_of(request)
    q = request.query
    rec = d.get(q.get("container") or "")
    repo, tag = q.get("repo") or "", q.get("tag") or ""
    tags = [f"{repo}:{tag or 'latest'}"] if repo else []
    pause = q.get("pause", "true").lower() not in ("0", "false", "no")
    paused = pause and rec.status == "running"
    if paused:
        try:
            await d.pause(rec.id)
        except DockyardError:  # it exited meanwhile: nothing left to hold still
            paused = False
    try:
        img = await asyncio.to_thread(
            commit_container, d, rec.id, tags=tags, changes=q.getall("changes", []),
            comment=q.get("comment") or "", author=q.get("author") or "",
        )  # fmt: skip
    finally:
        if paused:
            with contextlib.suppress(DockyardError):  # (it exited as it was frozen)
                await d.unpause(rec.id)
    return web.json_response({"Id": str(img.id)}, status=201)


async def container_top(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import top

    d = daemon_of(request)
    return web.json_response(top(d, request.match_info["id"], request.query.get("ps_args", "")))


async def container_stats(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.stats import snapshot

    d = daemon_of(request)
    rec = d.get(request.match_info["id"])
    stream = request.query.get("stream", "true").lower() not in ("0", "false")
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    prev: dict[str, Any] = {}
    rounds = 0
    while True:
        rec = d.get(rec.id)
        if rec.status not in ("running", "paused"):
            cur: dict[str, Any] = {
                "id": rec.id,
                "name": "/" + rec.name,
                "cpu_stats": {},
                "memory_stats": {},
                "pids_stats": {},
                "networks": {},
            }
        else:
            from dockyard.engine.placement import cgroup_path

            cur = snapshot(cgroup_path(rec.id), int(rec.pid or 0), rec.name, rec.id)
        cur["precpu_stats"] = prev.get("cpu_stats", {})
        if stream or rounds >= 1:
            await resp.write((json.dumps(cur) + "\n").encode())
            if not stream:
                break
        prev = cur
        rounds += 1
        await asyncio.sleep(1.0 if stream else 0.5)
    return resp


async def archive_get(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.archive import read_archive

    d = daemon_of(request)
    data, stat = await asyncio.get_running_loop().run_in_executor(
        None, read_archive, d, request.match_info["id"], request.query.get("path", "")
    )
    import base64

    return web.Response(body=data, headers={
        "Content-Type": "application/x-tar",
        "X-Docker-Container-Path-Stat": base64.b64encode(json.dumps(stat).encode()).decode(),
    })  # fmt: skip


async def archive_head(request: web.Request) -> web.StreamResponse:
    """Docker's ``HEAD /containers/{id}/archive``: the path's stat in a header, no body."""
    from dockyard.engine.archive import stat_archive

    d = daemon_of(request)
    stat = await asyncio.get_running_loop().run_in_executor(
        None, stat_archive, d, request.match_info["id"], request.query.get("path", "")
    )
    import base64

    return web.Response(headers={
        "Content-Type": "application/x-tar",
        "X-Docker-Container-Path-Stat": base64.b64encode(json.dumps(stat).encode()).decode(),
    })  # fmt: skip


async def archive_put(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.archive import write_archive

    d = daemon_of(request)
    data = await request.read()
    await asyncio.get_running_loop().run_in_executor(
        None, write_archive, d, request.match_info["id"], request.query.get("path", ""), data
    )
    return web.Response(status=200)


# ---------------------------------------------------------------------- exec


async def exec_create(request: web.Request) -> web.StreamResponse:
    from dockyard.api.convert import exec_config_from

    d = daemon_of(request)
    inst = d.execs.create(request.match_info["id"], exec_config_from(await json_body(request)))
    return web.json_response({"Id": inst.id}, status=201)


async def exec_start(request: web.Request) -> web.StreamResponse:
    from dockyard.api.attach import exec_start as start

    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidArgument("exec start: the body must be a JSON object")
    version = request.match_info.get("version") or API_VERSION
    return await start(request, daemon_of(request), version, body)


async def exec_inspect(request: web.Request) -> web.StreamResponse:
    from dockyard.api.shapes import exec_json

    return web.json_response(exec_json(daemon_of(request).execs.get(request.match_info["id"])))


async def exec_resize(request: web.Request) -> web.StreamResponse:
    d = daemon_of(request)
    inst = d.execs.get(request.match_info["id"])
    await d.shim.call({"op": "resize", "id": inst.id, "h": int(request.query.get("h", "24")),
                       "w": int(request.query.get("w", "80"))})  # fmt: skip
    return web.Response(status=200)


def add_routes(r: web.UrlDispatcher, p: str) -> None:
    """The routes of this module under the prefix ``p``."""
    r.add_get(p + "/containers/json", containers_list)
    r.add_post(p + "/containers/create", containers_create)
    r.add_post(p + "/containers/prune", containers_prune)
    r.add_get(p + "/containers/{id}/json", container_inspect)
    r.add_post(p + "/containers/{id}/start", container_start)
    r.add_post(p + "/containers/{id}/stop", container_stop)
    r.add_post(p + "/containers/{id}/restart", container_restart)
    r.add_post(p + "/containers/{id}/kill", container_kill)
    r.add_post(p + "/containers/{id}/pause", container_pause)
    r.add_post(p + "/containers/{id}/unpause", container_unpause)
    r.add_post(p + "/containers/{id}/rename", container_rename)
    r.add_post(p + "/containers/{id}/update", container_update)
    r.add_post(p + "/containers/{id}/wait", container_wait)
    r.add_post(p + "/containers/{id}/resize", container_resize)
    r.add_post(p + "/containers/{id}/attach", container_attach)
    r.add_get(p + "/containers/{id}/logs", container_logs)
    r.add_get(p + "/containers/{id}/top", container_top)
    r.add_get(p + "/containers/{id}/changes", container_changes)
    r.add_post(p + "/commit", commit)
    r.add_get(p + "/containers/{id}/stats", container_stats)
    r.add_get(p + "/containers/{id}/archive", archive_get, allow_head=False)
    r.add_head(p + "/containers/{id}/archive", archive_head)
    r.add_put(p + "/containers/{id}/archive", archive_put)
    r.add_post(p + "/containers/{id}/exec", exec_create)
    r.add_delete(p + "/containers/{id}", container_remove)
    r.add_post(p + "/exec/{id}/start", exec_start)
    r.add_post(p + "/exec/{id}/resize", exec_resize)
    r.add_get(p + "/exec/{id}/json", exec_inspect)
