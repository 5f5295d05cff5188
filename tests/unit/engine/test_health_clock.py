"""The health monitor on a fake clock: Docker's rules over time, with no real waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from dockyard.engine.health import HealthClock, HealthMonitor
from dockyard.engine.options import HealthConfig


class FakeClock(HealthClock):
    """Time moves only when the monitor sleeps; after ``stop_after`` sleeps the loop ends."""

    def __init__(self, stop_after: int) -> None:
        self.now = 1000.0
        self.sleeps = 0
        self.stop_after = stop_after

    def monotonic(self) -> float:
        return self.now

    def wall_ns(self) -> int:
        return int(self.now * 1e9)

    def sleep(self, seconds: float) -> Awaitable[None]:
        self.sleeps += 1
        if self.sleeps > self.stop_after:
            raise asyncio.CancelledError
        self.now += seconds
        return asyncio.sleep(0)


class Rec:
    id, status = "c1", "running"


class FakeDaemon:
    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.health: dict[str, Any] = {}
        self.emitted: list[str] = []
        self.execs = self

    async def run_captured(self, cid: str, cmd: list[str], timeout: float) -> tuple[int, str]:
        return self.codes.pop(0), "out"

    def get(self, cid: str) -> Rec:
        return Rec()

    def state_of(self, rec: Rec) -> Any:
        return type("S", (), {"health": self.health})()

    def set_state(self, cid: str, health: dict[str, Any]) -> None:
        self.health = health

    def emit(self, rec: Rec, what: str) -> None:
        self.emitted.append(what)


def run(codes: list[int], hc: HealthConfig) -> FakeDaemon:
    d = FakeDaemon(list(codes))
    mon = HealthMonitor(d, FakeClock(len(codes)))  # type: ignore[arg-type]
    try:
        asyncio.run(mon._loop("c1", hc))
    except asyncio.CancelledError:
        pass
    return d


def test_failures_in_the_start_period_do_not_count_and_retries_make_it_unhealthy() -> None:
    hc = HealthConfig(test=["CMD", "true"], interval=10, start_period=25, retries=2)
    d = run([1, 1, 1, 1], hc)  # at 10 s and 20 s: in the start period; 30 s, 40 s: counted
    assert d.emitted == ["health_status: unhealthy"]
    assert d.health["FailingStreak"] == 2 and len(d.health["Log"]) == 4
    assert d.health["Log"][0]["Start"].startswith("1970-01-01T00:16:50")  # the fake wall time


def test_a_pass_makes_it_healthy_and_resets_the_streak() -> None:
    hc = HealthConfig(test=["CMD", "true"], interval=5, retries=3)
    d = run([1, 1, 0], hc)
    assert d.emitted == ["health_status: healthy"]
    assert d.health["FailingStreak"] == 0
