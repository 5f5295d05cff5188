"""Health checks, run by the daemon (no systemd timer needed).

For a running container with a health check (HEALTHCHECK in the image or
``--health-*``), one asyncio task waits ``interval``, runs the test as an exec in
the container (``CMD-SHELL x`` → ``/bin/sh -c x``), and applies Docker's rules
(:func:`next_status`): a pass makes it ``healthy`` and resets the failing streak;
a failure (non-zero, or no answer within ``timeout``) during ``start_period`` does
not count; ``retries`` failures in a row make it ``unhealthy``. The status starts
as ``starting``; the last five results are kept (``State.Health.Log``); a change
emits a ``health_status: <status>`` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from dockyard.errors import DockyardError

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon
    from dockyard.engine.options import HealthConfig
    from dockyard.store.db import ContainerRecord

__all__ = ["HealthClock", "HealthMonitor", "health_command", "next_status"]


def health_command(test: list[str]) -> list[str] | None:
    """The argv of a health test, or None for none."""
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    if test[0] == "CMD":
        return list(test[1:])
    return ["/bin/sh", "-c", " ".join(test)]


def next_status(
    status: str, streak: int, passed: bool, in_start_period: bool, retries: int
) -> tuple[str, int]:
    """(status, failing streak) after one probe."""
    if passed:
        return "healthy", 0
    if in_start_period:
        return status, streak
    streak += 1
    if streak >= max(retries, 1):
        return "unhealthy", streak
    return status, streak


class HealthClock:
    """The time a monitor lives by: the real one by default; tests give a fake that
    advances when slept on (CONVENTIONS: an injected clock, no real waiting in tests)."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall_ns(self) -> int:
        return time.time_ns()

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(seconds)


class HealthMonitor:
    def __init__(self, daemon: Daemon, clock: HealthClock | None = None) -> None:
        self.d = daemon
        self.clock = clock or HealthClock()
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, rec: ContainerRecord) -> None:
        from dockyard.engine.daemon import daemon_options_of

        hc = daemon_options_of(rec).health
        if hc is None or health_command(hc.test) is None:
            return
        self.stop(rec.id)
        self.d.set_state(rec.id, health={"Status": "starting", "FailingStreak": 0, "Log": []})
        self.tasks[rec.id] = asyncio.ensure_future(self._loop(rec.id, hc))

    def stop(self, cid: str) -> None:
        task = self.tasks.pop(cid, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def stop_all(self) -> None:
        for cid in list(self.tasks):
            self.stop(cid)

    async def _loop(self, cid: str, hc: HealthConfig) -> None:
        from dockyard.engine.logfile import format_time

        started = self.clock.monotonic()
        cmd = health_command(hc.test)
        assert cmd is not None
        while True:
            await self.clock.sleep(max(hc.interval, 0.01))
            t0 = self.clock.wall_ns()
            try:
                code, out = await self.d.execs.run_captured(cid, cmd, max(hc.timeout, 0.01))
            except DockyardError as e:
                code, out = -1, str(e)
            with contextlib.suppress(DockyardError):
                self._record(cid, hc, code, out, started, format_time(t0),
                             format_time(self.clock.wall_ns()))  # fmt: skip

    def _record(
        self, cid: str, hc: HealthConfig, code: int, out: str, started: float, t0: str, t1: str
    ) -> None:
        rec = self.d.get(cid)
        if rec.status != "running":
            return
        health: dict[str, Any] = dict(self.d.state_of(rec).health or {})
        old = str(health.get("Status") or "starting")
        in_start = self.clock.monotonic() - started < hc.start_period
        status, streak = next_status(old, int(health.get("FailingStreak") or 0), code == 0,
                                     in_start, hc.retries)  # fmt: skip
        log = list(health.get("Log") or [])[-4:]
        log.append({"Start": t0, "End": t1, "ExitCode": code, "Output": out})
        self.d.set_state(cid, health={"Status": status, "FailingStreak": streak, "Log": log})
        if status != old:
            self.d.emit(rec, f"health_status: {status}")
