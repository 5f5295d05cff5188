"""The daemon's engine: containers as the API sees them, supervised through the shim.

Over 800 lines because it is the one owner of a container's lifecycle (create, start, exit,
restart policy, stop, remove) and its locks: one state machine, read in one place.

Terms
-----
*record* — a container's row in ``state.db`` (:class:`~dockyard.store.db.ContainerRecord`);
its ``config`` JSON is read and written typed through :func:`~dockyard.engine.record.config_of`
(:class:`~dockyard.engine.record.ContainerConfig`: ``options`` (:class:`RunOptions`),
``daemon`` (:class:`DaemonOptions`), ``image_config`` (the image's defaults), ``spec``,
``bundle``, ``state`` (restart count, whether the user stopped it, health), ports, networks,
pod membership, user namespace).
*shim* — the supervisor process (:mod:`dockyard.engine.shim`): every container
init is its child; it owns the output pipes and the log files and records exits.

Lifecycle
---------
``create`` makes the bundle (:class:`ContainerEngine`) and adds volumes; ``start``
asks the shim to run it (handing over the client's stdio when attached);
an ``exit`` event from the shim records the exit code, cleans the runtime state
(cgroup, state dir), wakes waiters, and then removes the container (``--rm``) or
restarts it after a backoff (restart policy). ``stop`` sends the stop signal and
SIGKILL after the timeout; ``rm -f`` kills first.

Live restore: on :meth:`Daemon.open` the daemon asks the shim what it supervises.
A container recorded as running that the shim still runs stays running; one that
exited meanwhile is finished with the exit code the shim kept (or ``exit.json``,
written by the shim before it announced the exit, if the shim itself was
restarted). Nothing about a running container lives only in the daemon.

Errors: unknown container → NotFound; a name in use → AlreadyExists; an operation
the status forbids → FailedPrecondition (``Conflict`` for removing a running
container without force, as docker's 409).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dockyard.engine.containers import ContainerEngine
from dockyard.engine.events import EventBus
from dockyard.engine.options import DaemonOptions, RunOptions
from dockyard.engine.record import ContainerState, config_of
from dockyard.engine.restart import next_delay, should_restart
from dockyard.engine.shimclient import ShimClient
from dockyard.errors import (
    Conflict,
    DockyardError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from dockyard.records import replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.cgroups.warm import SharedWarmer
    from dockyard.engine.health import HealthMonitor
    from dockyard.engine.netplumb import NetPlumb
    from dockyard.store.db import ContainerRecord
    from dockyard.store.images import ImageStore

__all__ = ["LIVE", "Daemon", "daemon_options_of", "run_options_of"]

LIVE = ("running", "paused", "restarting")


def _now() -> str:
    from dockyard.engine.logfile import format_time

    return format_time(time.time_ns())


def _with_resources(spec: dict[str, Any], res: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with ``linux.resources`` replaced by ``res``, its device rules kept."""
    linux = dict(spec.get("linux") or {})
    old = dict(linux.get("resources") or {})
    linux["resources"] = {**res, **({"devices": old["devices"]} if "devices" in old else {})}
    return {**spec, "linux": linux}


def run_options_of(rec: ContainerRecord) -> RunOptions:
    return config_of(rec).options


def daemon_options_of(rec: ContainerRecord) -> DaemonOptions:
    return config_of(rec).daemon


def parse_signal(value: str | int | None, default: int = signal.SIGTERM) -> int:
    """``SIGTERM``, ``TERM``, ``15`` → 15."""
    if value is None or value == "":
        return default
    if isinstance(value, int):
        return value
    text = str(value).strip().upper()
    if text.isdigit():
        return int(text)
    name = text if text.startswith("SIG") else "SIG" + text
    sig = getattr(signal.Signals, name, None)
    if sig is None:
        raise InvalidArgument(f"invalid signal: {value}")
    return int(sig)


class Daemon:
    """Containers under one state root, supervised by one shim."""

    def __init__(self, root: Path, run_root: Path) -> None:
        from dockyard.runtime import Runtime

        self.root = root
        self.run_root = run_root
        self.engine = ContainerEngine(root, run_root)
        self.runtime = Runtime(run_root / "runtime")
        self.shim = ShimClient(run_root, self._on_shim_event)
        self.shim.on_lost = self._shim_lost
        self.events = EventBus()
        self.locks: dict[str, asyncio.Lock] = {}
        self.waiters: dict[str, list[tuple[str, asyncio.Future[int]]]] = {}
        self.restart_tasks: dict[str, asyncio.Task[None]] = {}
        self.backoff: dict[str, float] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.removing: set[str] = set()  # ids whose files a worker thread is deleting
        self.retiring: set[asyncio.Future[None]] = set()  # --rm releases under way
        self._warmer: SharedWarmer | None = None  # see warm_cgroups()
        self.exec_events: dict[str, Callable[[dict[str, Any]], None]] = {}
        # told a container's id the instant the shim reports its exit, before the engine
        # records it or releases its network (the orchestrator drops its Service endpoints)
        self.exit_listeners: list[Callable[[str], None]] = []
        self.health: HealthMonitor | None = None
        from dockyard.engine.execs import ExecManager

        self.execs = ExecManager(self)
        from dockyard.engine.attach import Attachments

        self.attachments = Attachments(self)
        self.started = time.time()
        self.extensions: list[Any] = []  # networks: hooks on start/stop/remove
        self.net: NetPlumb | None = None  # networking (engine/netplumb.py), made by open()
        self.hpa_sync_period = 15.0  # --hpa-sync-period (the orchestrator's HPA)
        self.orchestrator: Any = None  # orchestrator/enginepods.py, set by api/server.py
        # the admission policy asked before every create (security/admission.py's check, set
        # by api/server.py: security ranks above the engine, so the engine cannot import it)
        self.admission: Callable[[Path, ImageStore, str], None] | None = None
        self.api_extensions: list[Callable[[Any], None]] = []
        from dockyard.engine.volumes import VolumeStore

        self.volumes = VolumeStore(root)
        from dockyard.engine.spares import SparePool

        self.spares = SparePool(self)
        self.spare_error = ""  # the last failure to prepare a container ahead
        from dockyard.engine.placement import CgroupPlacement

        self.cgroups = CgroupPlacement()  # set by the server from claim_cgroups()
        from concurrent.futures import ThreadPoolExecutor

        # work after the answer (removing files, plumbing spare endpoints), one at a time;
        # at the normal priority: a preempted low-priority thread holding the GIL would
        # stall the event loop
        self.background = ThreadPoolExecutor(1, "background")
        self.busy = 0  # requests under way that a client waits for (see quiet())

    # ------------------------------------------------------------------ open / close

    async def open(self) -> None:
        from dockyard.engine.health import HealthMonitor

        self.health = HealthMonitor(self)
        (self.root / "containers").mkdir(parents=True, exist_ok=True)
        await self._open_network()
        procs = await self.shim.connect()
        await self._restore(procs)
        await self.spares.sweep()
        self._sweep_removed()

    async def _open_network(self) -> None:
        """Networks, endpoints and DNS (before the restore, which may release endpoints)."""
        from dockyard.engine.netplumb import NetPlumb

        net = self.net = NetPlumb(self)
        await net.open()
        self.extensions.append(net)  # api/server.py adds /networks for daemon.net

    async def close(self) -> None:
        if self.retiring:  # --rm containers being released: let them finish
            await asyncio.wait(list(self.retiring), timeout=30)
        await self.spares.close()
        for t in list(self.restart_tasks.values()) + list(self.tasks):
            t.cancel()
        if self.health is not None:
            self.health.stop_all()
        if self.orchestrator is not None:
            self.orchestrator.close()
        if self.net is not None:
            await self.net.close()
        self.attachments.close()
        self.shim.close()
        self.background.shutdown(wait=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _shim_lost(self) -> None:
        """The shim went away: start a new one and settle what it supervised."""

        async def reconnect() -> None:
            await asyncio.sleep(0.1)
            if not (self.run_root / "dockyard.sock").exists():
                return  # the daemon is going away (its run root was removed)
            try:
                procs = await self.shim.connect()
                await self._restore(procs)
            except DockyardError:
                pass

        self._spawn(reconnect())

    async def _restore(self, procs: list[dict[str, Any]]) -> None:
        by_id = {p["id"]: p for p in procs if p.get("kind") == "container"}
        for rec in self.engine.db.list_containers():
            p = by_id.pop(rec.id, None)
            if rec.status == "restarting":
                self._schedule_restart(rec.id, 0.0)
                continue
            if rec.status not in ("running", "paused"):
                continue
            if p is not None and p.get("running"):
                self._start_health(rec)
                continue
            if p is not None:
                await self._handle_exit(rec.id, dict(p.get("exit") or {}))
                continue
            await self._handle_exit(rec.id, self._orphan_exit(rec))
        for p in by_id.values():  # containers removed while the daemon was away
            if not p.get("running"):
                with contextlib.suppress(DockyardError):
                    await self.shim.call({"op": "forget", "id": p["id"]})

    def _orphan_exit(self, rec: ContainerRecord) -> dict[str, Any]:
        """The shim no longer knows the container: its exit.json, or kill what is left."""
        from dockyard.oci.runtime_spec import loads_json

        path = self.bundle(rec.id) / "exit.json"
        try:
            data = loads_json(path.read_bytes(), str(path))
            if isinstance(data, dict) and data.get("started_at", "") >= (rec.started_at or ""):
                return data
        except (OSError, DockyardError):
            pass
        with contextlib.suppress(DockyardError):
            self.runtime.delete(rec.id, force=True)
        return {"code": 255, "finished_at": _now(), "error": "supervisor lost"}

    # ------------------------------------------------------------------ helpers

    def bundle(self, cid: str) -> Path:
        return self.root / "containers" / cid

    def lock(self, cid: str) -> asyncio.Lock:
        lk = self.locks.get(cid)
        if lk is None:
            lk = self.locks[cid] = asyncio.Lock()
        return lk

    def get(self, ref: str) -> ContainerRecord:
        return self.engine.db.get_container(ref)

    def update(self, cid: str, **changes: Any) -> ContainerRecord:
        rec = replace(self.engine.db.get_container(cid), **changes)
        self.engine.db.update_container(rec)
        return rec

    def set_state(
        self,
        cid: str,
        *,
        restart_count: int | None = None,
        stopped_by_user: bool | None = None,
        error: str | None = None,
        health: dict[str, object] | None = None,
    ) -> ContainerRecord:
        """Change the fields given of the container's
        :class:`~dockyard.engine.record.ContainerState`."""
        rec = self.engine.db.get_container(cid)
        cfg = config_of(rec)
        state = cfg.state or ContainerState()
        if restart_count is not None:
            state.restart_count = restart_count
        if stopped_by_user is not None:
            state.stopped_by_user = stopped_by_user
        if error is not None:
            state.error = error
        if health is not None:
            state.health = health
        cfg.state = state
        return self.update(cid, config=cfg.to_json())

    @staticmethod
    def state_of(rec: ContainerRecord) -> ContainerState:
        return config_of(rec).state or ContainerState()

    def emit(self, rec: ContainerRecord, action: str, **extra: str) -> None:
        attrs = {"name": rec.name, "image": rec.image_ref, **extra}
        self.events.emit("container", action, rec.id, attrs)

    # ------------------------------------------------------------------ create

    async def create(
        self,
        opts: RunOptions,
        dopts: DaemonOptions,
        *,
        stdio: dict[str, int] | None = None,
        spares: bool = False,
    ) -> ContainerRecord:
        """Create a container. ``spares``: a start follows at once (``run``) with ``stdio``:
        take a container prepared ahead if one fits, and have one prepared for the next
        such run (engine/spares.py)."""
        from dockyard.engine.create import validate

        validate(self, opts, dopts)
        key = self.spares.key(opts, dopts, stdio) if spares else None
        rec = await self.spares.take(key, opts, dopts) if key is not None else None
        if rec is None:
            rec = await self._create(opts, dopts)
        else:
            self.emit(rec, "create")
        if key is not None:  # once it has started, one more like it is prepared
            self.spares.after_start[rec.id] = (key, opts, dopts)
        return rec

    async def _create(self, opts: RunOptions, dopts: DaemonOptions) -> ContainerRecord:
        from dockyard.engine.create import prepare_container

        created = self.engine.create(opts, etc_files=self.net is None)  # net renders them
        try:
            rec = prepare_container(self, created, opts, dopts)
        except BaseException as exc:
            try:
                self.engine.remove(created.id, force=True)
            except Exception as cleanup:
                exc.add_note(f"cleanup failed: {cleanup}")
            raise
        self.emit(rec, "create")
        return rec

    # ------------------------------------------------------------------ start

    async def start(
        self, ref: str, stdio: dict[str, int] | None = None, detach_keys: bytes | None = None
    ) -> ContainerRecord:
        """Start a created or exited container; ``stdio`` names client descriptors to attach
        (``stdin``, ``stdout``, ``stderr``, ``ctl``); they are handed to the shim, not kept.
        Attachments parked on the container (:mod:`dockyard.engine.attach`) go with it."""
        rec = self.get(ref)
        async with self.lock(rec.id):
            return await self._start_attached(rec.id, stdio, detach_keys)

    async def _start_attached(
        self, cid: str, stdio: dict[str, int] | None, detach_keys: bytes | None
    ) -> ContainerRecord:
        from dockyard.engine.attach import close_fds

        parked = self.attachments.take(cid)
        first = parked.pop(0) if stdio is None and parked else None
        if first is not None:
            stdio, detach_keys = first.stdio, first.detach_keys
        try:
            rec = await self._start(cid, stdio, detach_keys)
        except BaseException:
            for p in parked:
                close_fds(p.stdio)
            raise
        finally:
            if first is not None:
                close_fds(first.stdio)
        await self.attachments.hand_over(cid, parked)
        return rec

    async def _start(
        self, cid: str, stdio: dict[str, int] | None, detach_keys: bytes | None = None
    ) -> ContainerRecord:
        from dockyard.engine.create import before_start

        rec = self.get(cid)
        if rec.status in ("running", "paused"):
            raise FailedPrecondition(f"start {rec.name}: container is already {rec.status}")
        task = self.restart_tasks.pop(cid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        cfg = config_of(rec)
        opts, dopts = cfg.options, cfg.daemon
        process = self.spares.process_for(cid)  # a container prepared ahead: its init waits
        if process is None:
            with contextlib.suppress(NotFound):
                self.runtime.delete(cid, force=True)  # what a previous run left
            before_start(self, rec, opts, dopts)
        names = list(stdio or {})
        fds = [stdio[n] for n in names] if stdio else []
        bundle = self.bundle(cid)
        msg = {
            "op": "start", "id": cid, "bundle": str(bundle), "dir": str(bundle),
            "log": {"path": str(bundle / f"{cid}-json.log"), "max_size": dopts.log_max_size,
                    "max_file": dopts.log_max_file} if dopts.log_driver != "none" else {},
            "tty": opts.tty, "open_stdin": opts.interactive, "fds": names,
        }  # fmt: skip
        if process is not None:
            msg["process"] = process
        if detach_keys is not None:
            msg["detach_keys"] = list(detach_keys)
        try:
            answer = await self.shim.call(msg, fds)
        except DockyardError:
            from dockyard.engine.create import after_stop

            after_stop(self, rec)
            raise
        rec = self.get(cid)
        cfg = config_of(rec)  # one read and one write for the record and its state
        cfg.state = replace(cfg.state or ContainerState(), stopped_by_user=False, error="")
        rec = replace(
            rec, status="running", pid=int(answer["pid"]), started_at=str(answer["started_at"]),
            exit_code=None, finished_at=None, oom_killed=False, config=cfg.to_json(),
        )  # fmt: skip
        self.engine.db.update_container(rec)
        self.emit(rec, "start")
        self._start_health(rec)
        want = self.spares.after_start.pop(cid, None)
        if want is not None:
            self.spares.want(*want)
        return rec

    async def quiet(self, limit: float = 1.0) -> None:
        """Return once no request a client waits for is under way (``busy``), or after
        ``limit`` seconds: background work (releasing a ``--rm`` container, preparing a
        spare) goes between requests, not into them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while self.busy > 0 and loop.time() < deadline:
            await asyncio.sleep(0.005)

    def warm_cgroups(self) -> Any:
        """A hold on the daemon's :class:`~dockyard.cgroups.warm.SharedWarmer` (its own
        cgroup), for a create that a start follows: ``stop()`` it once started."""
        if self._warmer is None:
            from dockyard.cgroups.warm import SharedWarmer, own_procs_file

            self._warmer = SharedWarmer(own_procs_file())
        return self._warmer.hold()

    def _start_health(self, rec: ContainerRecord) -> None:
        if self.health is not None:
            self.health.start(rec)

    # ------------------------------------------------------------------ exits

    def _on_shim_event(self, msg: dict[str, Any]) -> None:
        if msg.get("event") != "exit":
            return
        if msg.get("kind") == "container":
            if self.net is not None:  # first: the dead address answers no SYN with a reset
                with contextlib.suppress(Exception):
                    self.net.isolate(str(msg["id"]))
            for listener in list(self.exit_listeners):
                with contextlib.suppress(Exception):
                    listener(str(msg["id"]))
            self._spawn(self._handle_exit(str(msg["id"]), dict(msg.get("exit") or {})))
        else:
            cb = self.exec_events.get(str(msg["id"]))
            if cb is not None:
                cb(msg)

    async def _handle_exit(self, cid: str, ex: dict[str, Any]) -> None:
        from dockyard.engine.create import run_remove

        async with self.lock(cid):
            try:
                rec = self.get(cid)
            except NotFound:
                rec = None
            if rec is not None and rec.status in LIVE and run_remove(rec):
                self._retire(rec, ex)
                return
            if rec is not None and rec.status in LIVE:
                rec = self._record_exit(rec, ex)
        self._spawn(self._forget(cid))  # nothing below needs the shim's answer
        if rec is None or rec.status != "exited" or rec.finished_at != ex.get("finished_at"):
            return
        self._wake(cid, ("next-exit", "not-running"), int(rec.exit_code or 0))
        opts = run_options_of(rec)
        with contextlib.suppress(NotFound):
            if opts.remove:
                await self.remove(cid, force=True)
                return
            self._maybe_restart(rec)

    def _retire(self, rec: ContainerRecord, ex: dict[str, Any]) -> None:
        """A ``--rm`` container exited: its record goes now (name and id free, ``ps -a`` no
        longer lists it) and the waiters (``run --rm``) get the exit code at once; releasing
        what it held (cgroups, runtime state, network endpoint, files) follows in a task.
        A daemon killed meanwhile finishes that on its next start (:meth:`_sweep_removed`,
        and the network's sweep of endpoints without a live container)."""
        if self.health is not None:
            self.health.stop(rec.id)
        task = self.restart_tasks.pop(rec.id, None)
        if task is not None:
            task.cancel()
        code = int(ex.get("code", 255))
        rec = replace(rec, status="exited", pid=0, exit_code=code,
                      oom_killed=bool(ex.get("oom_killed")),
                      finished_at=str(ex.get("finished_at") or _now()))  # fmt: skip
        self.removing.add(rec.id)
        self.emit(rec, "die", exitCode=str(code))
        if rec.oom_killed:
            self.emit(rec, "oom")
        self._drop_record(rec, code)
        self._spawn(self._forget(rec.id))
        retiring = asyncio.ensure_future(self._release(rec))
        self.retiring.add(retiring)
        retiring.add_done_callback(self.retiring.discard)

    async def _release(self, rec: ContainerRecord) -> None:
        """What a retired container held, released after its waiters have their answer."""
        from dockyard.engine.create import after_remove, after_stop

        await asyncio.sleep(0)  # let the waiters' replies go out first
        try:
            await self.quiet()
            with contextlib.suppress(DockyardError):
                self.runtime.delete(rec.id, force=True)
            await self.quiet()
            after_stop(self, rec)
            with contextlib.suppress(Exception):
                after_remove(self, rec, False)
        finally:
            self.removing.discard(rec.id)
        await self._remove_files(rec.id)

    async def _forget(self, cid: str) -> None:
        with contextlib.suppress(DockyardError):
            await self.shim.call({"op": "forget", "id": cid})

    def _record_exit(self, rec: ContainerRecord, ex: dict[str, Any]) -> ContainerRecord:
        from dockyard.engine.create import after_stop

        if self.health is not None:
            self.health.stop(rec.id)
        with contextlib.suppress(DockyardError):
            self.runtime.delete(rec.id, force=True)
        code = int(ex.get("code", 255))
        rec = self.update(
            rec.id, status="exited", pid=0, exit_code=code,
            oom_killed=bool(ex.get("oom_killed")), finished_at=str(ex.get("finished_at") or _now()),
        )  # fmt: skip
        if ex.get("error"):
            rec = self.set_state(rec.id, error=str(ex["error"]))
        after_stop(self, rec)
        self.emit(rec, "die", exitCode=str(code))
        if rec.oom_killed:
            self.emit(rec, "oom")
        return rec

    def _maybe_restart(self, rec: ContainerRecord) -> None:
        dopts = daemon_options_of(rec)
        state = self.state_of(rec)
        count = state.restart_count
        if not should_restart(dopts.restart, dopts.restart_max, int(rec.exit_code or 0), count,
                              bool(state.stopped_by_user)):  # fmt: skip
            return
        ran = _seconds_between(rec.started_at, rec.finished_at)
        delay = next_delay(self.backoff.get(rec.id, 0.0), ran)
        self.backoff[rec.id] = delay
        self.update(rec.id, status="restarting")
        self.set_state(rec.id, restart_count=count + 1)
        self._schedule_restart(rec.id, delay)

    def _schedule_restart(self, cid: str, delay: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            async with self.lock(cid):
                try:
                    rec = self.get(cid)
                except NotFound:
                    return
                if rec.status != "restarting":
                    return
                self.restart_tasks.pop(cid, None)
                try:
                    await self._start(cid, None)
                except DockyardError as e:
                    self.update(cid, status="exited")
                    self.set_state(cid, error=str(e))

        old = self.restart_tasks.pop(cid, None)
        if old is not None:
            old.cancel()
        self.restart_tasks[cid] = asyncio.ensure_future(later())

    def _wake(self, cid: str, conditions: tuple[str, ...], code: int) -> None:
        keep = []
        for cond, fut in self.waiters.get(cid, []):
            if cond in conditions:
                if not fut.done():
                    fut.set_result(code)
            else:
                keep.append((cond, fut))
        if keep:
            self.waiters[cid] = keep
        else:
            self.waiters.pop(cid, None)

    # ------------------------------------------------------------------ wait

    def waiter(self, ref: str, condition: str = "not-running") -> asyncio.Future[int]:
        """A future for the container's exit code (``next-exit``, ``not-running``,
        ``removed``); registered now, so that an exit right after cannot be missed."""
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"wait: invalid condition {condition!r}")
        rec = self.get(ref)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and rec.status not in LIVE:
            fut.set_result(int(rec.exit_code or 0))
            return fut
        self.waiters.setdefault(rec.id, []).append((condition, fut))
        return fut

    async def wait(self, ref: str, condition: str = "not-running") -> int:
        return await self.waiter(ref, condition)

    # ------------------------------------------------------------------ stop / kill

    async def stop(self, ref: str, timeout: float | None = None) -> bool:
        """Stop signal, then SIGKILL after ``timeout``; False if it was not running."""
        rec = self.get(ref)
        self.set_state(rec.id, stopped_by_user=True)
        task = self.restart_tasks.pop(rec.id, None)
        if task is not None:
            task.cancel()
            if rec.status == "restarting":
                self.update(rec.id, status="exited")
                return True
        if rec.status not in ("running", "paused"):
            return False
        cfg = config_of(rec)
        opts, dopts = cfg.options, cfg.daemon
        if timeout is None:
            timeout = float(dopts.stop_timeout if dopts.stop_timeout is not None else 10)
        sig = parse_signal(
            dopts.stop_signal or str((cfg.image_config or {}).get("StopSignal") or "")
        )
        fut = self.waiter(rec.id, "next-exit")
        self._signal(rec, sig)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            self._signal(rec, signal.SIGKILL, all_=True)
            await asyncio.wait_for(fut, 30)
        del opts
        return True

    def _signal(self, rec: ContainerRecord, sig: int, all_: bool = False) -> None:
        with contextlib.suppress(DockyardError):
            if rec.status == "paused" or self.runtime.state(rec.id).status == "paused":
                self.runtime.kill(rec.id, sig, all=all_)
                self.runtime.resume(rec.id)
                return
            self.runtime.kill(rec.id, sig, all=all_)

    async def kill(self, ref: str, sig: str | int | None = None) -> None:
        rec = self.get(ref)
        if rec.status not in ("running", "paused"):
            raise FailedPrecondition(f"kill {rec.name}: container {rec.id[:12]} is not running")
        signum = parse_signal(sig, signal.SIGKILL)
        if signum in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            self.set_state(rec.id, stopped_by_user=True)
        # as dockerd: a SIGKILL answers once the container is down (10 s at most), so a
        # ``kill`` then ``rm`` is not refused as the removal of a running container
        killing = signum == signal.SIGKILL and rec.status == "running"
        down = self.waiter(rec.id, "next-exit") if killing else None
        self._signal(rec, signum, all_=signum == signal.SIGKILL)
        self.emit(rec, "kill", signal=str(signum))
        if down is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(down, 10)

    async def restart(self, ref: str, timeout: float | None = None) -> ContainerRecord:
        rec = self.get(ref)
        await self.stop(rec.id, timeout)
        return await self.start(rec.id)

    # ------------------------------------------------------------------ pause / rename

    async def pause(self, ref: str) -> None:
        rec = self.get(ref)
        if rec.status != "running":
            raise FailedPrecondition(f"pause {rec.name}: container {rec.id[:12]} is not running")
        self.runtime.pause(rec.id)
        self.emit(self.update(rec.id, status="paused"), "pause")

    async def unpause(self, ref: str) -> None:
        rec = self.get(ref)
        if rec.status != "paused":
            raise FailedPrecondition(f"unpause {rec.name}: container {rec.id[:12]} is not paused")
        self.runtime.resume(rec.id)
        self.emit(self.update(rec.id, status="running"), "unpause")

    async def update_limits(self, ref: str, body: dict[str, Any]) -> list[str]:
        """``docker update``: new limits (and restart policy), kept in the record and the
        bundle, applied to the cgroup of a running or paused container (engine/update.py)."""
        from dockyard.engine.update import resources_of, updated_options
        from dockyard.oci import fastjson
        from dockyard.oci.resources import parse_resources

        rec = self.get(ref)
        async with self.lock(rec.id):
            rec = self.get(rec.id)
            cfg = config_of(rec)
            opts = updated_options(cfg.options, body)
            res = resources_of(opts)
            parsed = parse_resources(res)
            rp = body.get("RestartPolicy")
            if isinstance(rp, dict) and rp.get("Name"):
                from dockyard.engine.options import parse_restart

                name, count = parse_restart(
                    f"{rp['Name']}:{int(rp.get('MaximumRetryCount') or 0)}"
                    if rp["Name"] == "on-failure"
                    else str(rp["Name"])
                )
                if opts.remove and name != "no":
                    raise InvalidArgument(
                        f"update {rec.name}: restart policy {name!r} conflicts with --rm"
                    )
                cfg.daemon.restart, cfg.daemon.restart_max = name, count
            if rec.status in ("running", "paused"):
                await asyncio.to_thread(self.runtime.update, rec.id, parsed)
            cfg.options = opts
            if cfg.spec:
                cfg.spec = _with_resources(cfg.spec, res)
            path = os.path.join(str(self.bundle(rec.id)), "config.json")
            try:
                with open(path, "rb") as f:
                    on_disk = fastjson.loads(f.read())
                tmp = path + ".update"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                with open(fd, "w") as f:
                    f.write(fastjson.dumps(_with_resources(on_disk, res)))
                os.replace(tmp, path)
            except FileNotFoundError:
                pass
            self.emit(self.update(rec.id, config=cfg.to_json()), "update")
        return []

    async def rename(self, ref: str, name: str) -> None:
        from dockyard.engine.containers import _check_name

        rec = self.get(ref)
        _check_name(name.removeprefix("/"))
        new = name.removeprefix("/")
        if any(r.name == new and r.id != rec.id for r in self.engine.db.list_containers()):
            raise Conflict(f'rename {rec.name}: the container name "/{new}" is already in use')
        self.emit(self.update(rec.id, name=new), "rename", oldName="/" + rec.name)

    # ------------------------------------------------------------------ remove

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> str:
        from dockyard.engine.create import after_remove

        rec = self.get(ref)
        if rec.status in ("running", "paused") and not force:
            raise Conflict(
                f"remove {rec.name}: you cannot remove a running container {rec.id[:12]}. "
                "Stop the container before attempting removal or force remove"
            )
        if rec.status == "restarting" and not force:
            raise Conflict(  # between two runs of a restart policy: as dockerd, not gone
                f"remove {rec.name}: you cannot remove a restarting container {rec.id[:12]}. "
                "Stop the container before attempting removal or force remove"
            )
        task = self.restart_tasks.pop(rec.id, None)
        if task is not None:
            task.cancel()
        self.spares.after_start.pop(rec.id, None)
        if self.spares.process_for(rec.id) is not None:  # prepared ahead, never started
            with contextlib.suppress(DockyardError):
                await self.shim.call({"op": "discard", "id": rec.id}, [])
        if rec.status in ("running", "paused"):
            self.set_state(rec.id, stopped_by_user=True)
            fut = self.waiter(rec.id, "next-exit")
            self._signal(rec, signal.SIGKILL, all_=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fut, 30)
        async with self.lock(rec.id):
            try:
                rec = self.get(rec.id)
            except NotFound:
                return rec.id
            with contextlib.suppress(NotFound):
                self.runtime.delete(rec.id, force=True)
            if self.health is not None:
                self.health.stop(rec.id)
            # The record goes first (name and id free, ``ps -a`` no longer lists it); the
            # files (overlay root, bundle, upper dir: the slow part) go in a worker thread
            # after the waiters (``run --rm``) have their exit code. A daemon killed
            # meanwhile sweeps bundles without a record on its next start.
            self._drop_record(rec, int(rec.exit_code or 0))
            after_remove(self, rec, volumes)
        self._spawn(self._remove_files(rec.id))
        return rec.id

    def _drop_record(self, rec: ContainerRecord, code: int) -> None:
        """The container's record goes (name and id free, ``ps -a`` no longer lists it), with
        what the daemon keeps per container; ``destroy`` is announced, waiters woken."""
        self.engine.db.remove_container(rec.id)
        self.attachments.drop(rec.id)
        self.locks.pop(rec.id, None)
        self.backoff.pop(rec.id, None)
        self.emit(rec, "destroy")
        self._wake(rec.id, ("removed", "next-exit", "not-running"), code)

    async def _remove_files(self, cid: str) -> None:
        loop = asyncio.get_running_loop()
        self.removing.add(cid)
        try:
            await loop.run_in_executor(self.background, remove_container_files, self.root,
                                       cid, self.engine.images.snapshots)  # fmt: skip
        finally:
            self.removing.discard(cid)

    def _sweep_removed(self) -> None:
        """Bundles whose record is gone (a daemon killed while removing them): removed."""
        try:
            names = os.listdir(self.root / "containers")
        except OSError:
            return
        known = {r.id for r in self.engine.db.list_containers()}
        for cid in names:
            if cid not in known and cid not in self.removing and len(cid) == 64:
                self._spawn(self._remove_files(cid))
        for state in self.runtime.list():  # runtime state (and cgroups) of those
            if state.id not in known and state.id not in self.removing:
                with contextlib.suppress(DockyardError):
                    self.runtime.delete(state.id, force=True)
        if self.net is not None:
            self.net.sweep_netns(known | self.removing)

    # ------------------------------------------------------------------ queries

    def list(self, all_: bool = False) -> list[ContainerRecord]:
        recs = self.engine.db.list_containers()
        return [r for r in recs if all_ or r.status in LIVE]


def remove_container_files(root: Path, cid: str, snapshots: Any) -> None:
    """A removed container's files: unmount its root, delete its bundle and upper dir."""
    from dockyard.engine.containers import _umount
    from dockyard.linux.fspath import rmtree

    bundle = root / "containers" / cid
    with contextlib.suppress(DockyardError, OSError):
        _umount(bundle / "rootfs")
    rmtree(bundle, ignore_errors=True)
    with contextlib.suppress(NotFound):
        snapshots.remove(cid)


def _seconds_between(a: str | None, b: str | None) -> float:
    from datetime import datetime

    if not a or not b:
        return 0.0
    try:
        fa = datetime.fromisoformat(a[:26].rstrip("Z") + "+00:00")
        fb = datetime.fromisoformat(b[:26].rstrip("Z") + "+00:00")
    except ValueError:
        return 0.0
    return (fb - fa).total_seconds()
