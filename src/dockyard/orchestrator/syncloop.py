"""The loop of the controllers that sync kernel state (Services, NetworkPolicy): reconcile
on every change notification and on a periodic resync, never stopping on an error.

Time comes from the controllers' clock (:class:`~dockyard.orchestrator.controllers.Clock`:
the real one by default, a ``FakeClock`` in unit tests, which then run passes without
sleeping: CONVENTIONS #8)."""

from __future__ import annotations

import asyncio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .controllers.manager import Clock

__all__ = ["SyncLoop"]


class SyncLoop:
    """``notify()`` wakes :meth:`run_forever`, which calls :meth:`reconcile` at least every
    ``resync`` seconds of ``clock`` until :meth:`stop`; an exception of a pass goes to
    :meth:`_loop_error` and the loop goes on."""

    resync: float

    def __init__(self, clock: Clock | None = None) -> None:
        if clock is None:
            from .controllers.manager import SystemClock

            clock = SystemClock()
        self.clock: Clock = clock
        self._wake = asyncio.Event()
        self._stopped = False

    def notify(self, _event: object = None) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def reconcile(self) -> bool:
        raise NotImplementedError

    def _loop_error(self, e: Exception) -> None:
        """A pass failed (the loop carries on)."""

    async def run_forever(self) -> None:
        while not self._stopped:
            self._wake.clear()
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # never stop the loop
                self._loop_error(e)
            if not self._stopped:
                await self.clock.sleep(self.resync, self._wake)  # a notify() ends it early
