"""dockyardd's HTTP API: a Docker Engine API subset on a root-only unix socket.

Paths, JSON field names and status codes follow Docker's (``/containers/create``,
``/containers/{id}/start`` …, 404 for an unknown object, 409 for a conflict, 304
for a start of a running container). Errors are ``{"message": …}`` as docker's,
plus ``"kind"``: the :mod:`dockyard.errors` class, so dockyard's CLI re-raises the
same class. Handlers translate; the engine (:class:`dockyard.engine.daemon.Daemon`)
decides.

This module holds the middleware (errors, API versions), the system and volume endpoints,
the route table (:func:`make_app`) and the process (:func:`serve`); the container and exec
endpoints are :mod:`dockyard.api.containers`, what handlers read from a request
:mod:`dockyard.api.request`, images, builds, networks and objects their own modules.

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
from dockyard.errors import DockyardError, NotFound

from .request import (
    API_VERSION,
    DAEMON,
    daemon_of,
    json_body,
    query_filters,
    query_flag,
    time_arg,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon

__all__ = ["make_app", "serve"]

MIN_API_VERSION = "1.24"
_STATUS = {
    errors.NotFound: 404, errors.AlreadyExists: 409, errors.Conflict: 409,
    errors.InvalidArgument: 400, errors.FailedPrecondition: 409,
    errors.PermissionDenied: 403, errors.Unavailable: 503, errors.Internal: 500,
}  # fmt: skip

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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

    return web.json_response(engine_info(daemon_of(request)))


async def system_df(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import disk_usage

    return web.json_response(disk_usage(daemon_of(request)))


async def events(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.logs import parse_time

    d = daemon_of(request)
    since = time_arg(request.query.get("since"), parse_time)
    until = time_arg(request.query.get("until"), parse_time)
    filters = query_filters(request)
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


# ---------------------------------------------------------------------- volumes


async def volumes_list(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import volume_json, volume_matches

    d = daemon_of(request)
    filters = query_filters(request)
    found = [volume_json(d, v) for v in d.volumes.list() if volume_matches(d, v, filters)]
    return web.json_response({"Volumes": found, "Warnings": []})


async def volumes_create(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import volume_json

    d = daemon_of(request)
    body = await json_body(request)
    driver = str(body.get("Driver") or "local")
    if driver != "local":  # dockerd's words (404): only the built-in driver exists here
        raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')
    vol = d.volumes.create(body.get("Name") or None, dict(body.get("Labels") or {}),
                           dict(body.get("DriverOpts") or {}))  # fmt: skip
    d.events.emit("volume", "create", vol.name)
    return web.json_response(volume_json(d, vol), status=201)


async def volume_inspect(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import volume_json

    d = daemon_of(request)
    return web.json_response(volume_json(d, d.volumes.get(request.match_info["name"])))


async def volume_remove(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import volume_users

    d = daemon_of(request)
    name = request.match_info["name"]
    d.volumes.remove(name, volume_users(d, name), force=query_flag(request, "force"))
    d.events.emit("volume", "destroy", name)
    return web.Response(status=204)


async def volumes_prune(request: web.Request) -> web.StreamResponse:
    from dockyard.engine.system import prune_volumes

    d = daemon_of(request)
    gone, space = prune_volumes(d, all_=query_flag(request, "all"))
    return web.json_response({"VolumesDeleted": gone, "SpaceReclaimed": space})


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def make_app(daemon: Daemon) -> web.Application:
    from dockyard.api.containers import add_routes as add_container_routes

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
        add_container_routes(r, p)
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
