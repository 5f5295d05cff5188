"""Containers prepared ahead of their process ("spares"): the slow part of a start, done
before the request that needs it.

A container start is mostly work that does not depend on the command it runs: the
overlay root, the bundle, the record, the network endpoint, then (in the shim) the
namespaces, the cgroup, every mount and ``pivot_root`` of the init. After a ``run`` of
some image with some options, the pool prepares one more container like it, as far as
its init waiting for its process (``Runtime.create(late=True)``, shim ``prepare``); the
next ``run`` whose options differ only in the process (command, entrypoint, environment,
name, ``--rm``) takes it: its record is renamed and rewritten, the spec's ``process``
replaced, and the shim sends the process to the waiting init, which execs it.

What may differ is decided by a key: the image id and every option except those in
:data:`PROCESS_FIELDS`; on top of that the spec built for the new options must equal the
spare's in everything but ``process`` (a safety net against an option that changes more
than the key says), and the image's layer directories must be the ones the spare's root
was mounted from. Anything else (a terminal, stdin, volumes, published ports, another
network than ``none``/the default bridge) is never prepared ahead.

A spare is a record of status ``spare`` (named ``.spare-<id>``, invisible to listings
and to lookups by name or id prefix), its bundle and root, its endpoint, and a waiting
init in the shim. One per key (two while runs of the key come in a burst, so that a
run takes one while the next is prepared) and :data:`MAX_KEYS` keys; one unused for
``ttl`` seconds is discarded, and all are at daemon shutdown. A daemon killed with
spares leaves records of status ``spare``: the next start discards them (the shim drops
its prepared inits when a new daemon subscribes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from typing import TYPE_CHECKING, Any

from dockyard.engine.record import config_of
from dockyard.errors import DockyardError, NotFound
from dockyard.records import asdict, replace

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon
    from dockyard.engine.options import DaemonOptions, RunOptions
    from dockyard.engine.spec import SpecInputs
    from dockyard.store.db import ContainerRecord

__all__ = ["PROCESS_FIELDS", "SparePool"]

# (not the image reference: the spec names it in an annotation)
PROCESS_FIELDS = ("command", "entrypoint", "env", "name", "remove")
MAX_KEYS = 4
FILL_DELAY = 0.02  # a key run again within BURST: its next spare at once (after its exit)
BURST = 0.5
IDLE_FILL_DELAY = 0.15  # otherwise later: not into a different command that follows at once
BURST_DEPTH = 2  # spares kept for a key whose runs come in a burst (else one)
BURST_KEEP = 5.0  # a burst's extra spare is discarded this long after its last run


class _Spare:
    """A prepared container: its record, and what its spec was built from (so that a
    take builds only the new one: no image, user or record lookups)."""

    def __init__(
        self, rec: ContainerRecord, inputs: SpecInputs, lowers: list[tuple[str, int]]
    ) -> None:
        self.cid = rec.id
        self.rec = rec
        self.inputs = inputs
        self.lowers = lowers
        spec = dict(config_of(rec).spec)
        spec.pop("process", None)
        self.rest = _canonical(spec)  # the spec but its process
        self.since = time.monotonic()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class SparePool:
    def __init__(self, daemon: Daemon, ttl: float = 60.0) -> None:
        self.d = daemon
        self.ttl = ttl
        self.ready: dict[str, list[_Spare]] = {}  # oldest first
        self.filling: dict[str, asyncio.Future[None]] = {}  # a key's fills, one at a time
        self.in_shim: dict[str, asyncio.Future[None]] = {}  # a fill at its last step
        self.wanted: dict[str, tuple[Any, Any, int]] = {}  # key -> opts, dopts, depth
        self.last_want: dict[str, float] = {}
        self.taken: dict[str, dict[str, Any]] = {}  # cid -> the process its start sends
        self.after_start: dict[str, tuple[str, Any, Any]] = {}  # cid -> want() once started
        self.enabled = os.environ.get("DOCKYARD_SPARES", "1") != "0"
        self._expiry: asyncio.TimerHandle | None = None
        self.closed = False

    # ------------------------------------------------------------------ keys

    def key(
        self, opts: RunOptions, dopts: DaemonOptions, stdio: dict[str, int] | None
    ) -> str | None:
        """The pool key of a run, or None if it is never prepared ahead."""
        if not self.enabled or self.closed or opts.tty or opts.interactive:
            return None
        if stdio and "stdin" in stdio:
            return None
        if dopts.volumes or dopts.mounts or dopts.publish or dopts.publish_all:
            return None
        if opts.network not in ("none", "default", "bridge"):
            return None
        from dockyard.engine.userns import wants_userns

        if wants_userns(opts.userns):  # a range and a shifted root each: never ahead
            return None
        try:
            image = self.d.engine.images.resolve(opts.image)
        except DockyardError:
            return None
        if image.config.config.to_dict().get("Volumes"):
            return None
        o = asdict(opts)
        for f in PROCESS_FIELDS:
            o.pop(f, None)
        return json.dumps([str(image.id), o, asdict(dopts)], sort_keys=True, default=str)

    # ------------------------------------------------------------------ take

    async def take(
        self, key: str, opts: RunOptions, dopts: DaemonOptions
    ) -> ContainerRecord | None:
        """A spare for ``key`` made into the container ``opts`` describe (status
        ``created``; :meth:`process_for` has its process), or None."""
        fut = self.in_shim.get(key)
        if not self.ready.get(key) and fut is not None:
            with contextlib.suppress(Exception):  # nearly ready (the shim is at it): wait
                await asyncio.wait_for(asyncio.shield(fut), 0.5)
        # (a fill still in the daemon's steps waits for this request to finish: no waiting)
        spare = self._pop_ready(key)
        if spare is None:
            return None
        try:
            rec = self._adopt(spare, opts)
        except BaseException:
            self._discard_soon(spare.cid)
            raise
        if rec is None:
            self._discard_soon(spare.cid)
        return rec

    def _pop_ready(self, key: str) -> _Spare | None:
        """The oldest ready spare of ``key``, out of the pool."""
        ready = self.ready.get(key)
        if not ready:
            return None
        spare = ready.pop(0)
        if not ready:
            del self.ready[key]
        return spare

    def _adopt(self, spare: _Spare, opts: RunOptions) -> ContainerRecord | None:
        from dockyard.engine.containers import _now
        from dockyard.engine.spec import build_spec
        from dockyard.oci import fastjson

        eng = self.d.engine
        cid = spare.cid
        for path, ino in spare.lowers:  # the image's layers, as when its root was mounted
            try:
                if os.stat(path).st_ino != ino:
                    return None
            except OSError:
                return None
        bundle = str(self.d.bundle(cid))
        mine = build_spec(opts, spare.inputs)  # (the key holds the image id, user, workdir)
        process = mine.pop("process")
        if _canonical(mine) != spare.rest:
            return None
        rec = spare.rec
        name = eng.pick_name(opts)
        cfg = config_of(rec)
        cfg.options = opts
        cfg.spec = {**mine, "process": process}
        rec = replace(rec, name=name, image_ref=opts.image, created=_now(), status="created",
                      config=cfg.to_json(), labels=dict(opts.labels))  # fmt: skip
        eng.db.update_container(rec)

        def rewrite() -> None:  # a later restart runs the bundle: after this start answers
            path = os.path.join(bundle, "config.json")
            try:
                with open(path, "rb") as f:
                    on_disk = fastjson.loads(f.read())
                on_disk["process"] = process
                with open(path, "w") as f:
                    f.write(fastjson.dumps(on_disk))
            except OSError:  # removed meanwhile (its start failed)
                pass

        asyncio.get_running_loop().call_soon(rewrite)
        self.taken[cid] = process
        return rec

    def process_for(self, cid: str) -> dict[str, Any] | None:
        """The process of a taken spare's first start (then forgotten)."""
        return self.taken.pop(cid, None)

    # ------------------------------------------------------------------ fill

    def want(self, key: str, opts: RunOptions, dopts: DaemonOptions) -> None:
        """Have a spare for ``key`` soon: at once (:data:`FILL_DELAY`) when runs of this
        key come in a burst, and then :data:`BURST_DEPTH` of them, else one after
        :data:`IDLE_FILL_DELAY`, so that the preparing does not compete with whatever
        other command comes right after this one."""
        now = time.monotonic()
        burst = now - self.last_want.get(key, -BURST) < BURST
        self.last_want[key] = now
        if len(self.last_want) > 4 * MAX_KEYS:
            self.last_want = {k: t for k, t in self.last_want.items() if now - t < BURST_KEEP}
            self.wanted = {k: w for k, w in self.wanted.items() if k in self.last_want}
        depth = BURST_DEPTH if burst else 1
        self.wanted[key] = (opts, dopts, depth)
        if self.closed or key in self.filling or len(self.ready.get(key, ())) >= depth:
            return
        delay = FILL_DELAY if burst else IDLE_FILL_DELAY
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self.filling[key] = fut

        async def fill() -> None:
            try:
                await asyncio.sleep(delay)
                while not self.closed:
                    want_opts, want_dopts, depth = self.wanted.get(key, (opts, dopts, 1))
                    if len(self.ready.get(key, ())) >= depth:
                        break
                    await self._fill(key, want_opts, want_dopts)
            except Exception as e:  # a spare is an optimisation: note it, run cold
                self.d.spare_error = f"prepare a container ahead: {type(e).__name__}: {e}"
            finally:
                self.filling.pop(key, None)
                if not fut.done():
                    fut.set_result(None)

        self.d._spawn(fill())

    async def _fill(self, key: str, opts: RunOptions, dopts: DaemonOptions) -> None:
        from dockyard.engine.create import before_start, prepare_container

        d = self.d
        spare_opts = replace(opts, name=None, remove=False)
        await d.quiet()  # between requests, step by step
        created = d.engine.create(spare_opts, etc_files=d.net is None, status="spare")
        cid = created.id
        try:
            await d.quiet()
            rec = prepare_container(d, created, spare_opts, replace(dopts))
            await d.quiet()
            before_start(d, rec, spare_opts, dopts)
            await d.quiet()
            image = d.engine.images.resolve(opts.image)
            lowers = [(str(p), os.stat(p).st_ino) for p in d.engine.images.lowerdirs(image)]
            inputs = d.engine.spec_inputs(spare_opts, image, cid, str(created.bundle))
            rec = d.engine.db.get_container(cid)  # as before_start left it
            step: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.in_shim[key] = step
            try:
                await d.shim.call({"op": "prepare", "id": cid, "bundle": str(created.bundle)},
                                  [])  # fmt: skip
            finally:  # (a take waiting on it resumes after the spare is in ``ready``)
                self.in_shim.pop(key, None)
                step.set_result(None)
        except BaseException:
            await self._drop_record(cid)
            raise
        if self.closed:
            await self.discard(cid)
            return
        while key not in self.ready and len(self.ready) >= MAX_KEYS:  # the oldest key goes
            old_key = min(self.ready, key=lambda k: self.ready[k][0].since)
            for old in self.ready.pop(old_key):
                self._discard_soon(old.cid)
        self.ready.setdefault(key, []).append(_Spare(rec, inputs, lowers))
        self._arm_expiry()

    # ------------------------------------------------------------------ discard

    def _arm_expiry(self) -> None:
        if self._expiry is None and self.ready:
            loop = asyncio.get_running_loop()
            self._expiry = loop.call_later(min(self.ttl / 4, BURST_KEEP), self._expire)

    def _expire(self) -> None:
        self._expiry = None
        now = time.monotonic()
        for key, spares in list(self.ready.items()):
            if now - self.last_want.get(key, 0.0) >= BURST_KEEP:  # the burst is over
                while len(spares) > 1:
                    self._discard_soon(spares.pop().cid)
            for spare in [x for x in spares if now - x.since >= self.ttl]:
                spares.remove(spare)
                self._discard_soon(spare.cid)
            if not spares:
                del self.ready[key]
        self._arm_expiry()

    def _discard_soon(self, cid: str) -> None:
        self.d._spawn(self.discard(cid))

    async def discard(self, cid: str) -> None:
        """Drop a prepared container: its init (shim), endpoint, record and files."""
        with contextlib.suppress(DockyardError, OSError):
            await self.d.shim.call({"op": "discard", "id": cid}, [])
        await self._drop_record(cid)

    async def _drop_record(self, cid: str) -> None:
        """The spare's record goes, then what it held is released as for a retired ``--rm``
        container (:meth:`Daemon._release`: runtime state, endpoint, files)."""
        d = self.d
        try:
            rec = d.engine.db.remove_container(cid)
        except NotFound:
            with contextlib.suppress(DockyardError):
                d.runtime.delete(cid, force=True)
            await d._remove_files(cid)
            return
        d.removing.add(cid)
        await d._release(rec)

    async def sweep(self) -> None:
        """Spares a killed daemon left (records of status ``spare``): discarded."""
        for rec in self.d.engine.db.list_containers(spares=True):
            await self._drop_record(rec.id)

    async def close(self) -> None:
        self.closed = True
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        for fut in list(self.filling.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(fut), 5)
        for spares in list(self.ready.values()):
            for spare in spares:
                await self.discard(spare.cid)
        self.ready.clear()
        for cid in list(self.taken):  # taken but never started
            await self.discard(cid)
        self.taken.clear()
