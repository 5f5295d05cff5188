"""dockyardd's HTTP API: a Docker Engine API subset on a root-only unix socket.

Paths, JSON field names and status codes follow Docker's (``/containers/create``,
``/containers/{id}/start`` …, 404 for an unknown object, 409 for a conflict, 304
for a start of a running container). Errors are ``{"message": …}`` as docker's,
plus ``"kind"``: the :mod:`dockyard.errors` class, so dockyard's CLI re-raises the
same class. Handlers translate; the engine (:class:`dockyard.engine.daemon.Daemon`)
decides.

Beside the HTTP socket, ``<run-root>/dockyard-stdio.sock`` (:mod:`dockyard.api.stdio`)
takes a client's stdio descriptors over SCM_RIGHTS for attached runs, so that
output flows from the shim straight into the client's terminal or pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from dockyard import errors
from dockyard.errors import DockyardError, FailedPrecondition, InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon

__all__ = ["make_app", "serve"]

API_VERSION = "1.43"
MIN_API_VERSION = "1.24"
_STATUS = {
    errors.NotFound: 404, errors.AlreadyExists: 409, errors.Conflict: 409,
    errors.InvalidArgument: 400, errors.FailedPrecondition: 409,
    errors.PermissionDenied: 403, errors.Unavailable: 503, errors.Internal: 500,
}  # fmt: skip

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DAEMON: web.AppKey[Daemon] = web.AppKey("daemon")


def _error(exc: DockyardError) -> web.Response:
    status = next((v for k, v in _STATUS.items() if isinstance(exc, k)), 500)
    body = json.dumps({"message": str(exc), "kind": type(exc).__name__}).encode()
    # exactly ``application/json``: Docker's clients read ``message`` only then
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DockyardError as exc:
        return _error(exc)
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as exc:  # a bug: a 500 with one line, never a dead daemon
        print(f"dockyardd: {request.method} {request.path}: {type(exc).__name__}: {exc}",
              file=sys.stderr)  # fmt: skip
        return _error(errors.Internal(f"{type(exc).__name__}: {exc}"))


def _api_version(v: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in v.split("."))
    except ValueError:
        return (0,)


@web.middleware
async def _versions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Requests under ``/vX.Y`` outside [MIN_API_VERSION, API_VERSION] are refused as
    dockerd refuses them (400 and its words), before anything is done."""
    asked = request.match_info.get("version")
    if asked:
        if _api_version(asked) > _api_version(API_VERSION):
            msg = (
                f"client version {asked} is too new. Maximum supported API version is {API_VERSION}"
            )
            return web.json_response({"message": msg}, status=400)
        if _api_version(asked) < _api_version(MIN_API_VERSION):
            msg = (f"client version {asked} is too old. Minimum supported API version is "
                   f"{MIN_API_VERSION}, please upgrade your client to a newer version")  # fmt: skip
            return web.json_response({"message": msg}, status=400)
    return await handler(request)


def _d(request: web.Request) -> Daemon:
    return request.app[DAEMON]


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


async def _body(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return await request.json(loads=json.loads)
    except ValueError as e:
        raise InvalidArgument(f"{request.path}: invalid JSON body: {e}") from None


def _filters(request: web.Request) -> dict[str, list[str]]:
    from dockyard.api.convert import parse_filters

    return parse_filters(request.query.get("filters"))


# ---------------------------------------------------------------------- system


_PING_HEADERS = {
    "Api-Version": API_VERSION,
    "OSType": "linux",
    "Builder-Version": "1",  # the classic builder protocol (a tar on POST /build)
    "Docker-Experimental": "false",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
}


async def ping(_r: web.Request) -> web.StreamResponse:
    return web.Response(text="OK", headers=_PING_HEADERS)


async def version(_r: web.Request) -> web.StreamResponse:
    """dockerd's fields; ``GoVersion`` names the interpreter that runs the daemon (clients
    only print it), ``Components`` the one engine."""
    import platform

    from dockyard import __version__

    uname = os.uname()
    common = {"Version": __version__, "ApiVersion": API_VERSION,
              "MinAPIVersion": MIN_API_VERSION, "GitCommit": "", "BuildTime": "",
              "GoVersion": f"python{platform.python_version()}", "Os": "linux",
              "Arch": uname.machine, "KernelVersion": uname.release}  # fmt: skip
    return web.json_response({"Platform": {"Name": "dockyard"},
                              "Components": [{"Name": "Engine", "Version": __version__,
                                              "Details": dict(common)}],
                              **common, "Experimental": False})  # fmt: skip


async def no_swarm(request: web.Request) -> web.StreamResponse:
    """Swarm, its nodes, services, tasks, secrets and configs: dockerd's answers on a node
    that is in no swarm (503), so clients take them as such (docker-py's ``leave_swarm(force
    =True)`` returns True on it). dockyard never joins one (DESIGN.md: beyond one machine is
    Kubernetes); ``init``/``join`` say so."""
    if request.path.endswith(("/swarm/init", "/swarm/join")):
        msg = "dockyard does not run a swarm: deploy to Kubernetes (dockyard apply --kubeconfig)"
    elif request.path.endswith("/swarm/leave"):
        msg = "This node is not part of a swarm"
    else:
        msg = ("This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm "
               "join\" to connect this node to swarm and try again.")  # fmt: skip
    return web.json_response({"message": msg}, status=503)


async def info(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import info as engine_info

    return web.json_response(engine_info(_d(request)))


async def system_df(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import disk_usage

    return web.json_response(disk_usage(_d(request)))


async def events(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.logs import parse_time

    d = _d(request)
    since = _time_arg(request.query.get("since"), parse_time)
    until = _time_arg(request.query.get("until"), parse_time)
    filters = _filters(request)
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    q = d.events.subscribe()
    try:
        past = d.events.since(since, until or None) if "since" in request.query else []
        for ev in past:  # (no --until: every event since, not those up to time 0)
            if _event_matches(ev, filters):
                await resp.write((json.dumps(ev) + "\n").encode())
        loop = asyncio.get_running_loop()
        while True:
            timeout = None
            if until:
                timeout = max(0.0, until / 1e9 - loop.time() - (_wall() - loop.time()))
            try:
                ev = await asyncio.wait_for(q.get(), timeout)
            except TimeoutError:
                break
            if until and ev["timeNano"] > until:
                break
            if _event_matches(ev, filters):
                await resp.write((json.dumps(ev) + "\n").encode())
    finally:
        d.events.unsubscribe(q)
    return resp


def _wall() -> float:
    import time

    return time.time()


def _time_arg(value: str | None, parse: Callable[[str], int]) -> int:
    if not value:
        return 0
    try:
        return int(float(value) * 1e9)
    except ValueError:
        pass
    try:
        return parse(value)
    except ValueError:
        raise InvalidArgument(f"invalid time {value!r}") from None


def _cutoff(value: str) -> int:
    """A prune ``until``: a Go duration before now (``10m``, ``1h30m``), a Unix time or an
    RFC 3339 time → nanoseconds since the epoch."""
    import re
    import time

    if re.fullmatch(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+", value):
        from dockyard.engine.options import parse_duration

        return int((time.time() - parse_duration(value, "until")) * 1e9)
    from dockyard.engine.logs import parse_time

    return _time_arg(value, parse_time)


def _event_matches(ev: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    for key, wanted in filters.items():
        if key == "type" and ev["Type"] not in wanted:
            return False
        if key == "event" and ev["Action"].split(":")[0] not in wanted:
            return False
        if key == "container" and not any(
            w in (ev["Actor"]["ID"], ev["Actor"]["Attributes"].get("name")) for w in wanted
        ):
            return False
    return True


# ---------------------------------------------------------------------- containers


async def containers_list(request: web.Request) -> web.StreamResponse:
    from dockyard.api.shapes import container_summary
    from dockyard.engine.query import filter_containers

    d = _d(request)
    recs = filter_containers(d.list(all_=_flag(request, "all")), _filters(request))
    return web.json_response([container_summary(r) for r in recs])


async def containers_create(request: web.Request) -> web.StreamResponse:
    from dockyard.api.convert import options_from_create

    opts, dopts = options_from_create(await _body(request), request.query.get("name") or None)
    d = _d(request)
    rec = await d.create(opts, dopts)
    published = bool(dopts.publish or dopts.publish_all)
    warnings = d.net.run_warnings(opts.network, published) if d.net is not None else []
    return web.json_response({"Id": rec.id, "Warnings": warnings}, status=201)


async def container_inspect(request: web.Request) -> web.StreamResponse:
    from dockyard.api.shapes import container_json

    d = _d(request)
    return web.json_response(container_json(d, d.get(request.match_info["id"])))


async def container_start(request: web.Request) -> web.StreamResponse:
    d = _d(request)
    rec = d.get(request.match_info["id"])
    if rec.status in ("running", "paused"):
        return web.Response(status=304)
    await d.start(rec.id)
    return web.Response(status=204)


async def container_stop(request: web.Request) -> web.StreamResponse:
    t = request.query.get("t")
    done = await _d(request).stop(request.match_info["id"], float(t) if t else None)
    return web.Response(status=204 if done else 304)


async def container_restart(request: web.Request) -> web.StreamResponse:
    t = request.query.get("t")
    await _d(request).restart(request.match_info["id"], float(t) if t else None)
    return web.Response(status=204)


async def container_kill(request: web.Request) -> web.StreamResponse:
    await _d(request).kill(request.match_info["id"], request.query.get("signal") or None)
    return web.Response(status=204)


async def container_pause(request: web.Request) -> web.StreamResponse:
    await _d(request).pause(request.match_info["id"])
    return web.Response(status=204)


async def container_unpause(request: web.Request) -> web.StreamResponse:
    await _d(request).unpause(request.match_info["id"])
    return web.Response(status=204)


async def container_rename(request: web.Request) -> web.StreamResponse:
    name = request.query.get("name")
    if not name:
        raise InvalidArgument("rename: name is required")
    await _d(request).rename(request.match_info["id"], name)
    return web.Response(status=204)


async def container_update(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    warnings = await _d(request).update_limits(request.match_info["id"], body)
    return web.json_response({"Warnings": warnings})


async def container_wait(request: web.Request) -> web.StreamResponse:
    """As Docker: the headers at once (a client may start the container only then: the
    stock CLI's ``attach``/``run`` do), the body when the condition is met."""
    fut = _d(request).waiter(
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
    await _d(request).remove(request.match_info["id"], force=_flag(request, "force"),
                             volumes=_flag(request, "v"))  # fmt: skip
    return web.Response(status=204)


async def containers_prune(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.logs import parse_time
    from dockyard.engine.query import filter_containers
    from dockyard.engine.system import container_size

    d = _d(request)
    gone, space = [], 0
    filters = _filters(request)
    until = filters.pop("until", [])
    cutoff = _cutoff(until[-1]) if until else 0
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
    d = _d(request)
    rec = d.get(request.match_info["id"])
    await d.shim.call({"op": "resize", "id": rec.id, "h": int(request.query.get("h", "24")),
                       "w": int(request.query.get("w", "80"))})  # fmt: skip
    return web.Response(status=200)


async def container_attach(request: web.Request) -> web.StreamResponse:
    from dockyard.api.attach import attach

    return await attach(request, _d(request), request.match_info.get("version") or API_VERSION)


async def container_logs(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.logs import parse_time, read_logs

    d = _d(request)
    rec = d.get(request.match_info["id"])
    want_out = _flag(request, "stdout") or not (request.query.get("stderr") or "")
    want_err = _flag(request, "stderr") or not (request.query.get("stdout") or "")
    stamps = _flag(request, "timestamps")
    tail_q = request.query.get("tail", "all")
    tail = -1 if tail_q in ("all", "") else int(tail_q)
    since = _time_arg(request.query.get("since"), parse_time)
    until = _time_arg(request.query.get("until"), parse_time)
    if (rec.config.get("daemon") or {}).get("log_driver") == "none":  # dockerd's words
        raise FailedPrecondition("configured logging driver does not support reading")
    tty = bool((rec.config.get("options") or {}).get("tty"))
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

    dopts = rec.config.get("daemon") or {}
    details = _details_prefix(rec) if _flag(request, "details") else b""
    async for e in read_logs(str(d.bundle(rec.id) / f"{rec.id}-json.log"), since=since,
                             until=until, tail=tail, follow=_flag(request, "follow"), stop=stop,
                             max_file=int(dopts.get("log_max_file") or 3)):  # fmt: skip
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


def _details_prefix(rec: Any) -> bytes:
    """``details=1``: the attributes the container's ``--log-opt labels=/env=`` pick, as
    dockerd writes them before each line (after the timestamp)."""
    from dockyard.engine.logattrs import details_prefix, extra_attributes

    opts = (rec.config.get("daemon") or {}).get("log_opts") or {}
    env = list(((rec.config.get("spec") or {}).get("process") or {}).get("env") or [])
    return details_prefix(extra_attributes(opts, rec.labels, env))


async def container_changes(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.commit import changes

    d = _d(request)
    found = await asyncio.to_thread(changes, d, request.match_info["id"])
    return web.json_response(found)


async def commit(request: web.Request) -> web.StreamResponse:
    """``POST /commit?container=…&repo=…&tag=…&changes=…&pause=…`` (dockerd's query; the
    body, a container config to merge, is not read: ``changes`` say what to change)."""
    from dockyard.engine.commit import commit as commit_container

    d = _d(request)
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

    d = _d(request)
    return web.json_response(top(d, request.match_info["id"], request.query.get("ps_args", "")))


async def container_stats(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.stats import snapshot

    d = _d(request)
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

    d = _d(request)
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

    d = _d(request)
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

    d = _d(request)
    data = await request.read()
    await asyncio.get_running_loop().run_in_executor(
        None, write_archive, d, request.match_info["id"], request.query.get("path", ""), data
    )
    return web.Response(status=200)


# ---------------------------------------------------------------------- exec


async def exec_create(request: web.Request) -> web.StreamResponse:
    from dockyard.api.convert import exec_config_from

    d = _d(request)
    inst = d.execs.create(request.match_info["id"], exec_config_from(await _body(request)))
    return web.json_response({"Id": inst.id}, status=201)


async def exec_start(request: web.Request) -> web.StreamResponse:
    from dockyard.api.attach import exec_start as start

    body = await _body(request)
    if not isinstance(body, dict):
        raise InvalidArgument("exec start: the body must be a JSON object")
    return await start(request, _d(request), request.match_info.get("version") or API_VERSION,
                       body)  # fmt: skip


async def exec_inspect(request: web.Request) -> web.StreamResponse:
    from dockyard.api.shapes import exec_json

    return web.json_response(exec_json(_d(request).execs.get(request.match_info["id"])))


async def exec_resize(request: web.Request) -> web.StreamResponse:
    d = _d(request)
    inst = d.execs.get(request.match_info["id"])
    await d.shim.call({"op": "resize", "id": inst.id, "h": int(request.query.get("h", "24")),
                       "w": int(request.query.get("w", "80"))})  # fmt: skip
    return web.Response(status=200)


# ---------------------------------------------------------------------- volumes


async def volumes_list(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import volume_json, volume_matches

    d = _d(request)
    filters = _filters(request)
    found = [volume_json(d, v) for v in d.volumes.list() if volume_matches(d, v, filters)]
    return web.json_response({"Volumes": found, "Warnings": []})


async def volumes_create(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import volume_json

    d = _d(request)
    body = await _body(request)
    driver = str(body.get("Driver") or "local")
    if driver != "local":  # dockerd's words (404): only the built-in driver exists here
        raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
    vol = d.volumes.create(body.get("Name") or None, dict(body.get("Labels") or {}),
                           dict(body.get("DriverOpts") or {}))  # fmt: skip
    d.events.emit("volume", "create", vol.name)
    return web.json_response(volume_json(d, vol), status=201)


async def volume_inspect(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import volume_json

    d = _d(request)
    return web.json_response(volume_json(d, d.volumes.get(request.match_info["name"])))


async def volume_remove(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import volume_users

    d = _d(request)
    name = request.match_info["name"]
    d.volumes.remove(name, volume_users(d, name), force=_flag(request, "force"))
    d.events.emit("volume", "destroy", name)
    return web.Response(status=204)


async def volumes_prune(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import prune_volumes

    d = _d(request)
    gone, space = prune_volumes(d, all_=_flag(request, "all"))
    return web.json_response({"VolumesDeleted": gone, "SpaceReclaimed": space})


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def make_app(daemon: Daemon) -> web.Application:
    app = web.Application(middlewares=[_versions, _errors], client_max_size=1 << 30)
    app[DAEMON] = daemon
    r = app.router
    for prefix in ("", "/v{version:[0-9.]+}"):
        p = prefix
        r.add_get(p + "/_ping", ping)
        r.add_get(p + "/version", version)
        r.add_get(p + "/info", info)
        r.add_get(p + "/system/df", system_df)
        r.add_get(p + "/events", events)
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
        r.add_get(p + "/volumes", volumes_list)
        r.add_post(p + "/volumes/create", volumes_create)
        r.add_post(p + "/volumes/prune", volumes_prune)
        r.add_get(p + "/volumes/{name}", volume_inspect)
        r.add_delete(p + "/volumes/{name}", volume_remove)
        for what in ("swarm", "nodes", "services", "tasks", "secrets", "configs"):
            r.add_route("*", p + f"/{what}", no_swarm)
            r.add_route("*", p + f"/{what}/{{rest:.*}}", no_swarm)
    from dockyard.api.images import register as register_images

    register_images(app, daemon.engine.images)
    from dockyard.api.build import register as register_build

    register_build(app, daemon.engine.images, daemon.run_root)
    if daemon.net is not None:
        from dockyard.api.networks import register as register_networks

        register_networks(app, daemon.net)
    for ext in daemon.api_extensions:
        ext(app)
    return app


# ---------------------------------------------------------------------- process


def _preload() -> None:
    """Import what creating and starting a container needs, before the first request."""
    import dockyard.engine.create
    import dockyard.engine.spec
    import dockyard.runtime.users
    import dockyard.store.images  # noqa: F401


async def _main(
    root: Path, run_root: Path, hpa_sync_period: float = 15.0, placement: Any = None
) -> None:
    from dockyard.api.stdio import StdioServer
    from dockyard.engine.daemon import Daemon

    daemon = Daemon(root, run_root)
    from dockyard.security.admission import check as admission_check

    daemon.admission = admission_check  # the engine asks it before every create
    if placement is not None:
        daemon.cgroups = placement
    daemon.hpa_sync_period = hpa_sync_period
    await daemon.open()
    from dockyard.api.objects import register as register_objects
    from dockyard.orchestrator.enginepods import attach_orchestrator  # objects, controllers

    orchestrator = attach_orchestrator(daemon, hpa_sync_period)
    from dockyard.api.events import register as register_events  # before the object routes

    daemon.api_extensions.append(lambda app: register_events(app, orchestrator.events))
    daemon.api_extensions.append(lambda app: register_objects(app, orchestrator))
    from dockyard.api.dashboard import register as register_dashboard  # off until asked

    daemon.api_extensions.append(lambda app: register_dashboard(app, orchestrator))
    await orchestrator.start()
    _preload()
    app = make_app(daemon)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    sock_path = run_root / "dockyard.sock"
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()
    old = os.umask(0o177)
    try:
        site = web.UnixSite(runner, str(sock_path))
        await site.start()
        stdio = StdioServer(daemon, run_root / "dockyard-stdio.sock")
        stdio.start()
    finally:
        os.umask(old)
    os.chmod(sock_path, 0o600)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"dockyardd: listening on {sock_path} (root {root})", file=sys.stderr, flush=True)

    async def watchdog() -> None:  # a daemon whose roots were deleted has nothing to serve
        while not stop.is_set():
            await asyncio.sleep(1.0)
            if not sock_path.exists() or not root.is_dir():
                print("dockyardd: state root or socket removed; stopping", file=sys.stderr)
                stop.set()

    watch = asyncio.ensure_future(watchdog())
    await stop.wait()
    watch.cancel()
    stdio.close()
    await runner.cleanup()
    await daemon.close()
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()


def serve(
    root: Path, run_root: Path, hpa_sync_period: float = 15.0, cgroup_manager: str = ""
) -> int:
    """Run the daemon in the foreground until SIGTERM/SIGINT; containers keep running."""
    import fcntl

    from dockyard.engine.placement import claim_cgroups
    from dockyard.store.perms import RUN_ROOT_MODE, secure_root

    run_root.mkdir(parents=True, exist_ok=True, mode=RUN_ROOT_MODE)
    run_root.chmod(RUN_ROOT_MODE)  # one made wider by an earlier version: tightened
    secure_root(root)
    lock = open(run_root / "dockyard.lock", "w")  # noqa: SIM115 (held for the process's life)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise errors.Unavailable(f"dockyardd: another daemon runs with {run_root}") from None
    (run_root / "dockyard.pid").write_text(str(os.getpid()))
    # before any fork: on cgroup v2 the daemon moves into a leaf of its subtree so that its
    # containers can have controllers (dockyard.engine.placement)
    placement = claim_cgroups(cgroup_manager)
    if placement.problem:
        print(f"dockyardd: warning: {placement.problem}", file=sys.stderr, flush=True)
    # worker threads (file removal, spare endpoints) hand the GIL back to the event loop
    # within 1 ms, not the default 5: a request waits for them no longer than that
    sys.setswitchinterval(0.001)
    try:
        asyncio.run(_main(root, run_root, hpa_sync_period, placement))
    finally:
        with contextlib.suppress(FileNotFoundError):
            (run_root / "dockyard.pid").unlink()
        lock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m dockyard.api.server --root R --run-root RR`` (what the CLI starts)."""
    args = sys.argv[1:] if argv is None else argv
    opts = dict(zip(args[::2], args[1::2], strict=False))
    if os.geteuid() != 0 or "_DOCKYARD_ROOTLESS" in os.environ:  # rootless: docs/rootless.md
        from dockyard.engine.rootless import enter

        try:
            enter()
        except DockyardError as e:
            print(f"dockyardd: {e}", file=sys.stderr)
            return 1
    root = Path(opts.get("--root") or os.environ.get("DOCKYARD_ROOT") or "/var/lib/dockyard")
    run_root = Path(
        opts.get("--run-root") or os.environ.get("DOCKYARD_RUN_ROOT") or "/run/dockyard"
    )
    try:
        hpa_sync_period = float(opts.get("--hpa-sync-period") or 15.0)
    except ValueError:
        print("dockyardd: invalid --hpa-sync-period: expected seconds", file=sys.stderr)
        return 1
    manager = opts.get("--cgroup-manager") or os.environ.get("DOCKYARD_CGROUP_MANAGER")
    try:
        if "--userns-remap" in opts:  # dockerd's flag; the engine reads the environment
            from dockyard.engine.userns import parse_remap

            os.environ["DOCKYARD_USERNS_REMAP"] = parse_remap(opts["--userns-remap"])
        return serve(root, run_root, hpa_sync_period, manager or "")
    except DockyardError as e:
        print(f"dockyardd: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
