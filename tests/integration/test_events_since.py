"""Regression: ``events --since T`` without ``--until`` replayed nothing (until 0 filtered
every past event out)."""

from __future__ import annotations

import selectors
import time

import pytest

from conftest import Dockyard

pytestmark = pytest.mark.root


def test_events_since_without_until_replays_the_past(dy: Dockyard) -> None:
    start = int(time.time()) - 5
    name = f"ev-since-{time.monotonic_ns()}"
    dy.run("create", "--name", name, "busybox", "true", check=True)
    try:
        p = dy.popen("events", "--since", str(start), "--filter", f"container={name}")
        assert p.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        try:
            assert sel.select(timeout=20), "no past event replayed"
            assert "create" in p.stdout.readline()
        finally:
            p.kill()
            p.communicate()
            sel.close()
    finally:
        dy.run("rm", "-f", name)
