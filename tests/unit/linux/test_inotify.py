"""dockyard.linux.inotify on a real file (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

from dockyard.linux import inotify


def test_a_write_is_seen_and_a_removal_ends_the_watch(tmp_path: Path) -> None:
    f = tmp_path / "memory.events"
    f.write_text("oom_kill 0\n")
    fd = inotify.init()
    try:
        assert inotify.read_events(fd) == []
        wd = inotify.add_watch(fd, str(f))
        assert wd >= 0
        f.write_text("oom_kill 1\n")
        events = inotify.read_events(fd)
        assert (wd, inotify.IN_MODIFY) in events
        f.unlink()
        assert any(m & inotify.IN_IGNORED for w, m in inotify.read_events(fd) if w == wd)
        assert inotify.add_watch(fd, str(f)) == -1  # gone: no watch, no exception
    finally:
        os.close(fd)
