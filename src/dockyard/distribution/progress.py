"""What a pull or a push tells its caller while it runs: status lines and bytes moved.

Two channels, both optional:

* ``status(ident, text)``: a line per event (``Downloading``, ``Pull complete`` …), as
  docker prints them; ``ident`` is a blob's or manifest's short digest, or ``""``;
* ``transfer(ident, action, current, total)``: the bytes of one blob moved so far
  (``action`` is ``Downloading`` or ``Pushing``), at most every ``every`` seconds per blob
  plus once at its end, so a caller can draw a bar without being flooded (a 1 GiB layer
  read in 64 KiB batches would otherwise be 16,384 calls).

Blobs move on several threads; :class:`Reporter` calls the caller from one thread at a
time.

Example::

    rep = Reporter(lambda i, s: print(i, s), lambda i, a, c, t: print(i, a, c, t))
    rep("1a2b3c4d5e6f", "Downloading")
    rep.bytes("1a2b3c4d5e6f", "Downloading", 512, 1024)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Progress", "Reporter", "Transfer", "bar"]

Progress = Callable[[str, str], None]
Transfer = Callable[[str, str, int, int], None]


class Reporter:
    """Both channels behind one lock, the byte channel throttled per blob."""

    def __init__(
        self,
        status: Progress | None = None,
        transfer: Transfer | None = None,
        *,
        every: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._status = status
        self._transfer = transfer
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}

    def __call__(self, ident: str, text: str) -> None:
        if self._status is not None:
            with self._lock:
                self._status(ident, text)

    @property
    def wants_bytes(self) -> bool:
        return self._transfer is not None

    def bytes(self, ident: str, action: str, current: int, total: int) -> None:
        """``current`` of ``total`` bytes of blob ``ident`` moved; dropped when the last
        report of this blob was under ``every`` seconds ago, unless it is the end."""
        if self._transfer is None:
            return
        now = self._clock()
        with self._lock:
            last = self._last.get(ident)
            if current < total and last is not None and now - last < self._every:
                return
            self._last[ident] = now
            self._transfer(ident, action, current, total)


def _human(n: float) -> str:
    """docker's ``units.HumanSize``: decimal units, four significant digits."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.4g}{unit}"
        n /= 1000
    raise AssertionError("unreachable")


def bar(current: int, total: int) -> str:
    """The ``progress`` text of a JSON message, as docker's jsonmessage writes it:
    ``[=====>      ]  1.202MB/3.4MB`` (a 50-column box, then current/total)."""
    if total <= 0:
        return f"{_human(current):>8}"
    done = max(0, min(50, current * 100 // total // 2))
    return f"[{'=' * done}>{' ' * (50 - done)}] {_human(current):>8}/{_human(total)}"
