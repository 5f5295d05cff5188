"""SyncLoop (the Services and NetworkPolicy controllers' loop) on an injected clock: a pass
every ``resync`` seconds, at once after a notify, on after an error; no real sleeping."""

from __future__ import annotations

import asyncio

from dockyard.orchestrator.controllers import FakeClock, SystemClock
from dockyard.orchestrator.syncloop import SyncLoop


class Counting(SyncLoop):
    resync = 10.0

    def __init__(self, clock: FakeClock, passes: int) -> None:
        super().__init__(clock)
        self.fake = clock
        self.passes = passes
        self.times: list[float] = []
        self.errors: list[str] = []

    async def reconcile(self) -> bool:
        self.times.append(self.fake.now())
        n = len(self.times)
        if n == 2:
            raise RuntimeError("pass 2 failed")
        if n == 3:
            self.notify()  # a change came in during the pass: the next one follows at once
        if n == self.passes:
            self.stop()
        return True

    def _loop_error(self, e: Exception) -> None:
        self.errors.append(str(e))


def test_passes_follow_the_clock_notifications_and_survive_errors() -> None:
    clock = FakeClock(1000.0)
    loop = Counting(clock, passes=5)
    asyncio.run(asyncio.wait_for(loop.run_forever(), 5))
    assert loop.times == [1000.0, 1010.0, 1020.0, 1020.0, 1030.0]
    assert loop.errors == ["pass 2 failed"]
    assert clock.now() == 1030.0  # no sleep after stop()


def test_the_real_clock_by_default() -> None:
    class Idle(SyncLoop):
        resync = 1.0

    assert isinstance(Idle().clock, SystemClock)
