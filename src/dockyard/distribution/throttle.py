"""Throttling repeated authentication failures, per client address.

A client address that has failed ``limit`` times within ``window_s`` seconds
is refused (the server answers ``429 TOOMANYREQUESTS`` with ``Retry-After``)
until its oldest failure in the window ages out — whatever it sends, right
credentials included, so that guessing cannot go on at full speed.  Only
wrong credentials count: a request without any (the first ``GET /v2/`` of
every client) does not.

The table holds at most ``max_clients`` addresses; past that the address with
the oldest last failure is forgotten.  The clock is injected for tests.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """Failures per client address in a sliding window."""

    def __init__(
        self,
        limit: int = 10,
        window_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10000,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.clock = clock
        self.max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float:
        """Seconds ``client`` must wait before it is heard again; 0 when it may go on."""
        now = self.clock()
        with self._lock:
            times = self._failures.get(client)
            if times is None:
                return 0.0
            while times and times[0] <= now - self.window_s:
                times.popleft()
            if not times:
                del self._failures[client]
                return 0.0
            if len(times) < self.limit:
                return 0.0
            return times[-self.limit] + self.window_s - now

    def failed(self, client: str) -> None:
        """Record one failed authentication from ``client``."""
        now = self.clock()
        with self._lock:
            times = self._failures.pop(client, None) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[client] = times  # most recent last
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
