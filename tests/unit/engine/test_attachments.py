"""Attachments: to the shim when running, parked until the next start otherwise."""

from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.engine.attach import Attachments, shim_attach_msg
from dockyard.errors import Conflict

CID = "a" * 64


class FakeShim:
    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, Any], list[int]]] = []

    async def call(self, msg: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        self.calls.append((msg, fds))
        return {}


class FakeDaemon:
    def __init__(self, status: str) -> None:
        self.rec = SimpleNamespace(id=CID, name="box", status=status)
        self.shim = FakeShim()
        self._lock = asyncio.Lock()

    def get(self, ref: str) -> Any:
        return self.rec

    def lock(self, cid: str) -> asyncio.Lock:
        return self._lock


def _open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def test_shim_attach_msg_names_the_descriptors_and_keys() -> None:
    assert shim_attach_msg("x", {"stdout": 5, "ctl": 6}, None) == {
        "op": "attach", "id": "x", "fds": ["stdout", "ctl"]}  # fmt: skip
    assert shim_attach_msg("x", {}, b"\x01a")["detach_keys"] == [1, 97]


def test_running_goes_to_the_shim_now() -> None:
    d = FakeDaemon("running")
    r, w = os.pipe()
    try:
        asyncio.run(Attachments(d).attach("box", {"stdout": w}, b"\x01a"))  # type: ignore[arg-type]
    finally:
        os.close(r)
        os.close(w)
    [(msg, fds)] = d.shim.calls
    assert msg["op"] == "attach" and msg["detach_keys"] == [1, 97] and fds == [w]


def test_created_is_parked_then_handed_over_or_dropped() -> None:
    d = FakeDaemon("created")
    a = Attachments(d)  # type: ignore[arg-type]
    r, w = os.pipe()

    async def main() -> None:
        await a.attach("box", {"stdout": w}, None)
        os.close(w)  # the caller's copy; the parked one is a duplicate
        [p] = a.parked[CID]
        assert _open(p.stdio["stdout"]) and d.shim.calls == []
        parked = a.take(CID)
        await a.hand_over(CID, parked)
        assert not _open(p.stdio["stdout"]) and len(d.shim.calls) == 1
        await a.attach("box", {"stdout": r}, None)
        [q] = a.parked[CID]
        a.drop(CID)
        assert not _open(q.stdio["stdout"]) and CID not in a.parked

    try:
        asyncio.run(main())
    finally:
        os.close(r)


@pytest.mark.parametrize("status", ["paused", "restarting"])
def test_paused_or_restarting_is_a_conflict(status: str) -> None:
    d = FakeDaemon(status)
    with pytest.raises(Conflict, match=status):
        asyncio.run(Attachments(d).attach("box", {}, None))  # type: ignore[arg-type]
