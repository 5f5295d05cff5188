"""Compose's small languages: ``${VAR}`` interpolation, ``.env`` files, durations, byte sizes.

Interpolation (compose-spec "Interpolation"): ``$$`` is a literal ``$``; ``$VAR`` and
``${VAR}`` substitute (unset: empty); ``${VAR:-default}`` / ``${VAR-default}`` use the
default when unset or empty / unset; ``${VAR:?message}`` / ``${VAR?message}`` fail when
unset or empty / unset; ``${VAR:+other}`` / ``${VAR+other}`` give ``other`` when set
and non-empty / set. Defaults and messages are interpolated themselves (nesting).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from dockyard.errors import InvalidArgument

__all__ = [
    "duration_seconds",
    "interpolate",
    "interpolate_tree",
    "parse_bytes",
    "parse_duration",
    "parse_env_file",
]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start``."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise InvalidArgument(f"invalid interpolation format for {text!r}: missing '}}'")


def _braced(body: str, env: Mapping[str, str], where: str) -> str:
    m = _NAME.match(body)
    if m is None:
        raise InvalidArgument(f"{where}: invalid interpolation format for ${{{body}}}")
    name, rest = m.group(0), body[m.end() :]
    value = env.get(name)
    if not rest:
        return value or ""
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op) :]
            break
    else:
        raise InvalidArgument(f"{where}: invalid interpolation format for ${{{body}}}")
    empty_counts = op.startswith(":")
    present = value is not None and (value != "" or not empty_counts)
    if op.endswith("-"):
        return value if present and value is not None else interpolate(arg, env, where)
    if op.endswith("?"):
        if not present or value is None:
            raise InvalidArgument(
                f"{where}: required variable {name} is missing a value: "
                f"{interpolate(arg, env, where)}"
            )
        return value
    return interpolate(arg, env, where) if present else ""


def interpolate(text: str, env: Mapping[str, str], where: str = "compose") -> str:
    """Substitute variables in one string."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing(text, i + 2)
            out.append(_braced(text[i + 2 : end], env, where))
            i = end + 1
        else:
            m = _NAME.match(text, i + 1)
            if m is None:
                out.append("$")
                i += 1
            else:
                out.append(env.get(m.group(0), ""))
                i = m.end()
    return "".join(out)


def interpolate_tree(value: Any, env: Mapping[str, str], path: str = "") -> Any:
    """Interpolate every string value (not keys) of a parsed document."""
    if isinstance(value, str):
        return interpolate(value, env, path or "compose")
    if isinstance(value, dict):
        return {
            k: interpolate_tree(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [interpolate_tree(v, env, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def parse_env_file(text: str, source: str = ".env") -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments, blank lines, ``export`` prefixes, single or
    double quotes (double quotes understand ``\\n``); a line without ``=`` is an error."""
    env: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _NAME.fullmatch(key):
            raise InvalidArgument(
                f"{source}:{number}: unexpected character in variable name {key!r}"
            )
        env[key] = _env_value(value.strip())
    return env


def _env_value(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        return inner.replace("\\n", "\n").replace('\\"', '"') if value[0] == '"' else inner
    if " #" in value:
        value = value.split(" #", 1)[0].rstrip()
    return value


_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str | int | float, where: str) -> float:
    """A Go duration (``1m30s``, ``500ms``) or a number of seconds, in seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise InvalidArgument(f"{where}: invalid duration {value!r}")
    return total


def duration_seconds(value: str | int | float, where: str) -> int:
    """A duration as whole seconds for a probe field: rounded up, at least 1."""
    return max(1, math.ceil(parse_duration(value, where)))


_BYTES = re.compile(r"([0-9]*\.?[0-9]+)\s*([kmgtp]?)(b|ib)?", re.IGNORECASE)


def parse_bytes(value: str | int, where: str) -> int:
    """Compose byte sizes: ``512``, ``50M``, ``1gb``, ``300k`` (units are powers of 1024)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    m = _BYTES.fullmatch(str(value).strip())
    if m is None:
        raise InvalidArgument(f"{where}: invalid size {value!r}")
    try:
        number = Decimal(m.group(1))
    except InvalidOperation:
        raise InvalidArgument(f"{where}: invalid size {value!r}") from None
    power = "kmgtp".find(m.group(2).lower()) + 1 if m.group(2) else 0
    return int(number * (1024**power))
