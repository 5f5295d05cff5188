"""Output helpers: docker-style tables, human durations and sizes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

__all__ = ["ago", "human_size", "print_views", "table"]


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns separated by at least three spaces, as docker prints them."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = []
    for row in [headers, *rows]:
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def print_views(views: Sequence[object], fmt: str | None) -> None:
    """``inspect``'s output: each view through ``--format``, else all as indented JSON."""
    if fmt:
        from dockyard.cli.gotemplate import render

        for v in views:
            print(render(fmt, v))
    else:
        import json

        print(json.dumps(views, indent=4))


def _parse_time(ts: str) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def ago(ts: str, now: datetime | None = None) -> str:
    """``3 seconds``, ``About a minute``, ``2 hours`` — docker's HumanDuration."""
    t = _parse_time(ts)
    if t is None:
        return "N/A"
    secs = int(((now or datetime.now(UTC)) - t).total_seconds())
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    mins = secs // 60
    if mins == 1:
        return "About a minute"
    if mins < 60:
        return f"{mins} minutes"
    hours = round(secs / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def human_size(n: float) -> str:
    """Decimal units with 3 significant digits, as docker: ``4.26MB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}TB"
