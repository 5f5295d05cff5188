"""Attachments: a client's descriptors joined to a container's stdio.

Terms
-----
*attachment* — descriptors named ``stdin``, ``stdout``, ``stderr`` and ``ctl`` (see
:mod:`dockyard.engine.shim`): the shim copies the container's output into ``stdout``
/ ``stderr``, what it reads from ``stdin`` into the container (through the detach
keys on a terminal), and closes them all, ``ctl`` last, when the attachment ends
(exit, detach keys, a reader that fails or falls behind, ``ctl`` closed by the
client). *parked* — an attachment to a container that does not run: the daemon
keeps duplicates of its descriptors and the next start of the container hands them
to the shim with the start itself, so no output is missed (Docker's ``run`` and
``start -a`` attach first and start second).

Lifecycle: :meth:`Attachments.attach` (running → the shim now; created or exited →
parked; paused or restarting → ``Conflict``, as Docker's 409); ``Daemon.start``
calls :meth:`take` and hands the first parked attachment over with the start and
the rest with :meth:`hand_over`; ``Daemon.remove`` calls :meth:`drop`, which
closes what was parked (the client then sees its ``ctl`` end and its streams end).
The caller of :meth:`attach` always closes its own descriptors.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, NamedTuple

from dockyard.errors import Conflict, DockyardError

if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon

__all__ = ["Attachments", "Parked", "close_fds", "shim_attach_msg"]


class Parked(NamedTuple):
    """A parked attachment: the daemon's duplicates of the client's descriptors."""

    stdio: dict[str, int]
    detach_keys: bytes | None


def shim_attach_msg(cid: str, stdio: dict[str, int], keys: bytes | None) -> dict[str, object]:
    """The shim's ``attach`` request for ``stdio`` (its descriptors ride beside it)."""
    msg: dict[str, object] = {"op": "attach", "id": cid, "fds": list(stdio)}
    if keys is not None:
        msg["detach_keys"] = list(keys)
    return msg


def close_fds(stdio: dict[str, int]) -> None:
    for fd in stdio.values():
        with contextlib.suppress(OSError):
            os.close(fd)


class Attachments:
    """The daemon's parked attachments, per container id."""

    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon
        self.parked: dict[str, list[Parked]] = {}

    async def attach(self, ref: str, stdio: dict[str, int], keys: bytes | None = None) -> str:
        """Attach ``stdio`` to the container ``ref`` (see the module docstring); its id."""
        rec = self.d.get(ref)
        async with self.d.lock(rec.id):  # not in the middle of a start
            rec = self.d.get(rec.id)
            if rec.status == "paused":
                raise Conflict(f"attach {rec.name}: container {rec.id[:12]} is paused, "
                               "unpause the container before attach")  # fmt: skip
            if rec.status == "restarting":
                raise Conflict(f"attach {rec.name}: container {rec.id[:12]} is restarting, "
                               "wait until the container is running")  # fmt: skip
            if rec.status == "running":
                await self.d.shim.call(shim_attach_msg(rec.id, stdio, keys), list(stdio.values()))
                return rec.id
            mine = {name: os.dup(fd) for name, fd in stdio.items()}
            self.parked.setdefault(rec.id, []).append(Parked(mine, keys))
            return rec.id

    def take(self, cid: str) -> list[Parked]:
        """The attachments parked on ``cid`` (now the caller's to hand over or close)."""
        return self.parked.pop(cid, [])

    async def hand_over(self, cid: str, parked: list[Parked]) -> None:
        """Attach ``parked`` to the running ``cid``; each is closed here either way."""
        for p in parked:
            try:
                await self.d.shim.call(shim_attach_msg(cid, p.stdio, p.detach_keys),
                                       list(p.stdio.values()))  # fmt: skip
            except DockyardError:
                pass  # it exited already: the client's streams end
            finally:
                close_fds(p.stdio)

    def drop(self, cid: str) -> None:
        for p in self.take(cid):
            close_fds(p.stdio)

    def close(self) -> None:
        for cid in list(self.parked):
            self.drop(cid)
