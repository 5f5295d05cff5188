"""Small HTTP pieces the server shares: error replies, headers, pagination."""

from __future__ import annotations

import json
from typing import Any, NoReturn

from aiohttp import web

__all__ = [
    "API_VERSION",
    "ApiReply",
    "fail",
    "json_response",
    "page_link",
    "parse_content_range",
    "parse_n",
    "upload_range",
]

API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")
_MAX_PAGE = 10000


class ApiReply(web.HTTPError):
    """An error reply in the distribution spec's JSON form (aiohttp's way to answer early)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status_code = status
        error: dict[str, Any] = {"code": code, "message": message}
        if detail is not None:
            error["detail"] = detail
        super().__init__(
            text=json.dumps({"errors": [error]}),
            content_type="application/json",
            headers=headers,
        )
        self.code = code


def fail(
    status: int,
    code: str,
    message: str,
    detail: Any = None,
    headers: dict[str, str] | None = None,
) -> NoReturn:
    raise ApiReply(status, code, message, detail, headers)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


def parse_n(raw: str | None) -> int | None:
    """The ``n`` query parameter: None when absent, a count capped at 10000."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit():
        fail(400, "PAGINATION_NUMBER_INVALID", f"invalid number of results requested: {raw[:40]}")
    return min(int(raw), _MAX_PAGE)


def page_link(path: str, n: int, last: str) -> str:
    from urllib.parse import quote

    return f'<{path}?n={n}&last={quote(last, safe="")}>; rel="next"'


def parse_content_range(raw: str) -> tuple[int, int] | None:
    """``start-end`` (inclusive; a ``bytes`` prefix is tolerated), or None when malformed."""
    value = raw.strip()
    for prefix in ("bytes=", "bytes "):
        value = value.removeprefix(prefix)
    start, sep, end = value.partition("-")
    end = end.split("/")[0]
    if not sep or not start.isdigit() or not end.isdigit():
        return None
    a, b = int(start), int(end)
    return (a, b) if b >= a else None


def upload_range(size: int) -> str:
    """The ``Range`` header for an upload of ``size`` bytes: ``0-<last byte>``."""
    return f"0-{max(size - 1, 0)}"
