"""Go's ``time.ParseDuration`` (HEALTHCHECK intervals), in nanoseconds."""

from __future__ import annotations

import re

from dockyard.errors import InvalidArgument

__all__ = ["parse_duration"]

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)([^\d.]*)")
_MAX = (1 << 63) - 1


def parse_duration(text: str) -> int:
    """``"1h30m"`` -> nanoseconds; InvalidArgument as Go words it."""
    s = text
    sign = -1 if s.startswith("-") else 1
    s = s.removeprefix("-").removeprefix("+") if s[:1] in "+-" else s
    if s == "0":
        return 0
    if not s:
        raise InvalidArgument(f"time: invalid duration {_q(text)}")
    total = 0
    pos = 0
    while pos < len(s):
        match = _PART.match(s, pos)
        if match is None:
            raise InvalidArgument(f"time: invalid duration {_q(text)}")
        number, unit = match.groups()
        if not unit:
            raise InvalidArgument(f"time: missing unit in duration {_q(text)}")
        if unit not in _UNITS:
            raise InvalidArgument(f"time: unknown unit {_q(unit)} in duration {_q(text)}")
        whole, _, frac = number.partition(".")
        scale = _UNITS[unit]
        total += int(whole or "0") * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
        pos = match.end()
    if total > _MAX:
        raise InvalidArgument(f"time: invalid duration {_q(text)}")
    return sign * total


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
