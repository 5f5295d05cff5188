"""The Manager: runs the controllers as reconcile loops on an injected clock.

Vocabulary:

* a *controller* has a ``name``, ``targets()`` (the objects it reconciles, as
  ``(namespace, name)``; those that disappeared since the last call included, so it can
  clean up) and ``async reconcile(key, now)``, which returns the seconds after which it
  wants that key again (``None``: the next tick is fine);
* a *tick* is one :meth:`Manager.run_once`: every controller, in order (HPA,
  Deployment, ReplicaSet, probes: a change flows down within one tick), reconciles
  every key that is not backing off;
* a DockyardError from a reconcile is *transient*: the key backs off (``base`` seconds
  doubling to ``cap``) and the error is kept in :attr:`Manager.errors` until the key
  succeeds again; any other exception is a bug, wrapped in Internal and treated alike so
  one bad object cannot stop the loop;
* the *clock* gives ``now()`` (seconds since the epoch) and ``sleep``;
  :class:`FakeClock` advances without sleeping (CONVENTIONS #8).

Example (what the tests do)::

    store, clock = MemoryObjectStore(clock.now), FakeClock(1_700_000_000.0)
    backend = FakePodBackend(clock.now, start_delay=1.0)
    manager = build_manager(store, backend, hpa_sync_period=15.0)
    store.create(deployment)
    for _ in range(5):
        await manager.run_once(clock.now())
        clock.advance(1.0)

The daemon runs ``await manager.run_forever(SystemClock())`` in a task and calls
:meth:`Manager.notify` (``build_manager`` subscribes it to the store's watch) to wake
it early when an object changes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from dockyard.errors import DockyardError, Internal
from dockyard.records import record

from ..backend import PodBackend
from ..events import EventLog
from ..hpa_algorithm import HPAConfig
from ..store import ObjectStore, WatchEvent
from ._common import Key

__all__ = [
    "Backoff",
    "Clock",
    "Controller",
    "FakeClock",
    "Manager",
    "SystemClock",
    "build_manager",
]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        """Wait ``seconds``, or until ``wake`` is set."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        if wake is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(wake.wait(), max(seconds, 0.0))
        except TimeoutError:
            pass


class FakeClock:
    """A clock that tests move: :meth:`advance`; :meth:`sleep` jumps ahead at once."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.time = start

    def now(self) -> float:
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += seconds

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        if wake is None or not wake.is_set():
            self.time += max(seconds, 0.0)
        await asyncio.sleep(0)


class Controller(Protocol):
    name: str

    def targets(self) -> list[Key]: ...

    async def reconcile(self, key: Key, now: float) -> float | None: ...


@record
class Backoff:
    """Requeue delay after ``n`` failures in a row: ``base x 2^(n-1)``, at most ``cap``."""

    base: float = 0.5
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        return float(min(self.base * 2 ** max(failures - 1, 0), self.cap))


class Manager:
    """Runs ``controllers`` in order, one tick at a time."""

    def __init__(
        self,
        controllers: Sequence[Controller],
        *,
        tick: float = 1.0,
        backoff: Backoff = Backoff(),  # noqa: B008
        on_error: Callable[[str, Key, DockyardError], None] | None = None,
    ) -> None:
        self.controllers = list(controllers)
        self.tick = tick
        self.backoff = backoff
        self.on_error = on_error
        self.errors: dict[tuple[str, Key], DockyardError] = {}
        self._failures: dict[tuple[str, Key], int] = {}
        self._not_before: dict[tuple[str, Key], float] = {}
        self._wake = asyncio.Event()
        self._stopped = False

    def notify(self, _event: WatchEvent | None = None) -> None:
        """Something changed: the next tick should come now."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def run_once(self, now: float) -> float:
        """One tick; returns the seconds until the next one is wanted (≤ ``tick``)."""
        wait = self.tick
        for c in self.controllers:
            for key in c.targets():
                after = await self._reconcile(c, key, now)
                if after is not None:
                    wait = min(wait, after)
        return max(wait, 0.0)

    async def _reconcile(self, c: Controller, key: Key, now: float) -> float | None:
        slot = (c.name, key)
        not_before = self._not_before.get(slot)
        if not_before is not None and now < not_before:
            return not_before - now
        try:
            after = await c.reconcile(key, now)
        except DockyardError as e:
            return self._failed(slot, e, now)
        except Exception as e:  # a bug: keep the loop alive, report it
            err = Internal(f"reconcile {c.name} {key[0]}/{key[1]}: {type(e).__name__}: {e}")
            err.__cause__ = e
            return self._failed(slot, err, now)
        self._failures.pop(slot, None)
        self._not_before.pop(slot, None)
        self.errors.pop(slot, None)
        return after

    def _failed(self, slot: tuple[str, Key], error: DockyardError, now: float) -> float:
        n = self._failures.get(slot, 0) + 1
        self._failures[slot] = n
        delay = self.backoff.delay(n)
        self._not_before[slot] = now + delay
        self.errors[slot] = error
        if self.on_error is not None:
            self.on_error(slot[0], slot[1], error)
        return delay

    async def run_forever(self, clock: Clock) -> None:
        """Tick until :meth:`stop`: after each tick, sleep until the next is wanted or
        :meth:`notify` is called."""
        self._stopped = False
        while not self._stopped:
            self._wake.clear()
            wait = await self.run_once(clock.now())
            if self._stopped:
                break
            await clock.sleep(wait, self._wake)


def build_manager(
    store: ObjectStore,
    backend: PodBackend,
    *,
    tick: float = 1.0,
    hpa_sync_period: float = 15.0,
    hpa_config: HPAConfig = HPAConfig(),  # noqa: B008
    backoff: Backoff = Backoff(),  # noqa: B008
    pod_suffix: Callable[[], str] | None = None,
    events: EventLog | None = None,
) -> Manager:
    """Every controller, in flow order, watching ``store`` for changes; what they do is
    recorded in ``events`` (``kubectl get events``)."""
    from .deployment import DeploymentController
    from .hpa import HPAController
    from .prober import ProbeController
    from .replicaset import ReplicaSetController, random_suffix

    log = events if events is not None else EventLog()
    manager = Manager(
        [
            HPAController(
                store, backend, sync_period=hpa_sync_period, config=hpa_config, events=log
            ),
            DeploymentController(store, backend, events=log),
            ReplicaSetController(store, backend, suffix=pod_suffix or random_suffix, events=log),
            ProbeController(backend, events=log),
        ],
        tick=tick,
        backoff=backoff,
    )
    store.watch(manager.notify)
    return manager
