"""The daemon's event stream: what happened to containers, volumes and networks.

Events are Docker-shaped dicts (``Type``, ``Action``, ``Actor``, ``time``,
``timeNano``, and the legacy ``status``/``id``/``from`` for containers). The bus
keeps the last ``keep`` events for ``since`` queries and hands new ones to every
subscriber's queue; a subscriber that stops reading loses events beyond its
queue's bound rather than holding the daemon back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

__all__ = ["EventBus"]


class EventBus:
    """Publish events; subscribe with a bounded queue."""

    def __init__(self, keep: int = 1024, clock: Any = time.time_ns) -> None:
        self.history: deque[dict[str, Any]] = deque(maxlen=keep)
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.clock = clock

    def emit(
        self, typ: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> dict[str, Any]:
        ns = int(self.clock())
        attrs = dict(attributes or {})
        ev: dict[str, Any] = {
            "Type": typ,
            "Action": action,
            "Actor": {"ID": actor_id, "Attributes": attrs},
            "scope": "local",
            "time": ns // 1_000_000_000,
            "timeNano": ns,
        }
        if typ == "container":
            ev.update({"status": action, "id": actor_id, "from": attrs.get("image", "")})
        self.history.append(ev)
        for q in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(ev)
        return ev

    def subscribe(self, maxsize: int = 4096) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self.subscribers.discard(q)

    def since(self, since_ns: int, until_ns: int | None = None) -> list[dict[str, Any]]:
        return [
            e for e in self.history
            if e["timeNano"] >= since_ns and (until_ns is None or e["timeNano"] <= until_ns)
        ]  # fmt: skip
