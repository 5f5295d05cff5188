"""The loop of the controllers that sync kernel state (Services, NetworkPolicy): reconcile
on every change notification and on a periodic resync, never stopping on an error."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["SyncLoop"]


class SyncLoop:
    """``notify()`` wakes :meth:`run_forever`, which calls :meth:`reconcile` at least every
    ``resync`` seconds until :meth:`stop`; an exception of a pass goes to
    :meth:`_loop_error` and the loop goes on."""

    resync: float

    def __init__(self) -> None:
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
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.resync)
