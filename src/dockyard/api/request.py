"""What every handler of the daemon's Docker-API routes reads from a request: the daemon,
``?flag=1`` flags, the JSON body, ``filters``, and times (``since``, ``until``, prune
``until``) as dockerd parses them."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dockyard.engine.daemon import Daemon

__all__ = [
    "API_VERSION", "DAEMON", "daemon_of", "json_body", "prune_cutoff", "query_filters",
    "query_flag", "time_arg",
]  # fmt: skip

API_VERSION = "1.43"  # what a request without /vX.Y speaks
DAEMON: web.AppKey[Daemon] = web.AppKey("daemon")


def daemon_of(request: web.Request) -> Daemon:
    return request.app[DAEMON]


def query_flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


async def json_body(request: web.Request) -> Any:
    if not request.can_read_body:
        return {}
    try:
        return await request.json(loads=json.loads)
    except ValueError as e:
        raise InvalidArgument(f"{request.path}: invalid JSON body: {e}") from None


def query_filters(request: web.Request) -> dict[str, list[str]]:
    from dockyard.api.convert import parse_filters

    return parse_filters(request.query.get("filters"))


def time_arg(value: str | None, parse: Callable[[str], int]) -> int:
    if not value:
        return 0
    try:
        return int(float(value) * 1e9)
    except ValueError:
        pass
    try:
        return parse(value)
    except ValueError:
        raise InvalidArgument(f"invalid time {value!r}") from None


def prune_cutoff(value: str) -> int:
    """A prune ``until``: a Go duration before now (``10m``, ``1h30m``), a Unix time or an
    RFC 3339 time → nanoseconds since the epoch."""
    import re
    import time

    if re.fullmatch(r"(\d+(\.\d+)?(ns|us|ms|s|m|h))+", value):
        from dockyard.engine.options import parse_duration

        return int((time.time() - parse_duration(value, "until")) * 1e9)
    from dockyard.engine.logs import parse_time

    return time_arg(value, parse_time)
