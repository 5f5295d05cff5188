"""The Manager: order, backoff, bugs kept inside, run_forever on a fake clock."""

from __future__ import annotations

import asyncio

from test_controllers_harness import World, deployment

from dockyard.errors import DockyardError, Internal, Unavailable
from dockyard.orchestrator.controllers import Backoff, FakeClock, Manager
from dockyard.orchestrator.controllers._common import Key


class Flaky:
    name = "flaky"

    def __init__(self, failures: int, exc: Exception | None = None) -> None:
        self.failures = failures
        self.exc = exc or Unavailable("engine: not responding")
        self.calls: list[float] = []

    def targets(self) -> list[Key]:
        return [("default", "x")]

    async def reconcile(self, key: Key, now: float) -> float | None:
        self.calls.append(now)
        if len(self.calls) <= self.failures:
            raise self.exc
        return None


def test_backoff_doubles_to_a_cap() -> None:
    b = Backoff(0.5, 4.0)
    assert [b.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_transient_errors_back_off_then_clear() -> None:
    c = Flaky(2)
    seen: list[tuple[str, Key, DockyardError]] = []
    m = Manager([c], backoff=Backoff(1.0, 10.0), on_error=lambda *a: seen.append(a))
    for t in range(7):
        asyncio.run(m.run_once(float(t) / 2))
    assert c.calls == [0.0, 1.0, 3.0]  # fail, wait 1, fail, wait 2, succeed
    assert m.errors == {} and len(seen) == 2


def test_a_bug_becomes_internal_and_does_not_stop_the_loop() -> None:
    c = Flaky(1, KeyError("boom"))
    m = Manager([c])
    asyncio.run(m.run_once(0.0))
    err = m.errors[("flaky", ("default", "x"))]
    assert isinstance(err, Internal) and "KeyError" in str(err)
    asyncio.run(m.run_once(1.0))
    assert m.errors == {}


def test_run_once_returns_the_wait_until_the_next_tick() -> None:
    m = Manager([Flaky(0)], tick=2.0)
    assert asyncio.run(m.run_once(0.0)) == 2.0


def test_run_forever_on_a_fake_clock_reaches_a_ready_deployment() -> None:
    w = World()
    w.store.create(deployment(replicas=3))
    clock = FakeClock(w.clock.now())
    w.backend.clock = clock.now

    async def main() -> None:
        task = asyncio.create_task(w.manager.run_forever(clock))
        for _ in range(200):
            await asyncio.sleep(0)
            if w.ready() == 3:
                break
        w.manager.stop()
        await task

    asyncio.run(main())
    assert w.ready() == 3
