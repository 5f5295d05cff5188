"""Reading container logs (the json-file format of :mod:`dockyard.engine.logfile`).

``read_logs`` yields entries of the rotated files oldest first, filtered by
``since``/``until`` (nanoseconds) and cut to the last ``tail`` lines; ``follow``
keeps reading as the shim appends (a rotation is noticed by the file's inode
changing) until ``stop()`` says the container is gone.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from dockyard.engine.logfile import DEFAULT_MAX_FILE, rotated_paths
from dockyard.records import record

__all__ = ["LogEntry", "parse_time", "read_logs"]


@record
class LogEntry:
    stream: str
    data: bytes
    time: str
    ns: int


def parse_time(text: str) -> int:
    """RFC 3339 (nanoseconds allowed) → nanoseconds since the epoch."""
    t = text.strip()
    frac = 0
    if "." in t:
        head, _, rest = t.partition(".")
        digits = ""
        for ch in rest:
            if ch.isdigit():
                digits += ch
            else:
                break
        tz = rest[len(digits) :]
        frac = int((digits + "000000000")[:9])
        t = head + tz
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    dt = datetime.fromisoformat(t)
    return int(dt.timestamp()) * 1_000_000_000 + frac


def _entry(line: bytes) -> LogEntry | None:
    try:
        d = json.loads(line)
        ts = str(d.get("time", ""))
        return LogEntry(str(d.get("stream", "stdout")), str(d.get("log", "")).encode(), ts,
                        parse_time(ts) if ts else 0)  # fmt: skip
    except (ValueError, TypeError):
        return None


def _keep(e: LogEntry, since: int, until: int) -> bool:
    return e.ns >= since and (until <= 0 or e.ns <= until)


async def read_logs(
    path: str,
    *,
    since: int = 0,
    until: int = 0,
    tail: int = -1,
    follow: bool = False,
    stop: Callable[[], bool] = lambda: True,
    max_file: int = DEFAULT_MAX_FILE,
    poll: float = 0.05,
) -> AsyncIterator[LogEntry]:
    backlog: deque[LogEntry] | list[LogEntry] = deque(maxlen=tail) if tail >= 0 else []
    for p in rotated_paths(path, max(max_file, 1)):
        if p == path:
            break
        try:
            with open(p, "rb") as f:
                for line in f:
                    e = _entry(line)
                    if e is not None and _keep(e, since, until):
                        backlog.append(e)
        except FileNotFoundError:
            continue
    try:
        f = open(path, "rb")  # noqa: SIM115 (kept open while following)
    except FileNotFoundError:
        for e in backlog:
            yield e
        return
    with f:
        for line in f:
            if not line.endswith(b"\n"):
                f.seek(-len(line), os.SEEK_CUR)
                break
            e = _entry(line)
            if e is not None and _keep(e, since, until):
                backlog.append(e)
        for e in backlog:
            yield e
        if not follow:
            return
        ino = os.fstat(f.fileno()).st_ino
        buf = b""
        while True:
            chunk = f.read()
            if chunk:
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    e = _entry(line)
                    if e is not None and _keep(e, since, until):
                        yield e
                continue
            try:
                if os.stat(path).st_ino != ino:  # rotated: go on with the new file
                    f.close()
                    f = open(path, "rb")  # noqa: SIM115
                    ino = os.fstat(f.fileno()).st_ino
                    continue
            except FileNotFoundError:
                pass
            if stop():
                chunk = f.read()
                if not chunk:
                    return
                buf += chunk
                continue
            await asyncio.sleep(poll)
