"""Instruction flags (``--from=builder``), as BuildKit's ``BFlags``.

An instruction declares the flags it accepts (bool, string, or repeatable
strings), then :meth:`Flags.parse` checks the words the parser collected::

    flags = Flags(node.flags)
    chown = flags.string("chown")
    link = flags.boolean("link")
    flags.parse()          # InvalidArgument: unknown flag: chwon
    chown.value, link.value
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from dockyard.errors import InvalidArgument

__all__ = ["Flag", "Flags"]


class _Kind(Enum):
    BOOL = "bool"
    STRING = "string"
    STRINGS = "strings"


@dataclass
class Flag:
    """One declared flag and what the instruction said about it."""

    name: str
    kind: _Kind
    value: str = ""
    values: list[str] = field(default_factory=list)
    used: bool = False

    @property
    def is_true(self) -> bool:
        return self.value == "true"


class Flags:
    """The flags of one instruction."""

    def __init__(self, args: list[str]) -> None:
        self.args = list(args)
        self.declared: dict[str, Flag] = {}

    def _add(self, name: str, kind: _Kind, default: str = "") -> Flag:
        flag = Flag(name, kind, value=default)
        self.declared[name] = flag
        return flag

    def boolean(self, name: str, default: bool = False) -> Flag:
        return self._add(name, _Kind.BOOL, "true" if default else "false")

    def string(self, name: str, default: str = "") -> Flag:
        return self._add(name, _Kind.STRING, default)

    def strings(self, name: str) -> Flag:
        return self._add(name, _Kind.STRINGS)

    def used(self) -> list[str]:
        return [name for name, flag in self.declared.items() if flag.used]

    def parse(self) -> None:
        """Check every flag word against the declarations."""
        for arg in self.args:
            if not arg.startswith("--"):
                raise InvalidArgument(f"arg should start with -- : {arg}")
            if arg == "--":
                return
            name, has_value, value = arg[2:].partition("=")
            flag = self.declared.get(name)
            if flag is None:
                raise _unknown(name, list(self.declared))
            if flag.used and flag.kind is not _Kind.STRINGS:
                raise InvalidArgument(f"duplicate flag specified: {name}")
            flag.used = True
            _set(flag, name, value, bool(has_value))


def _set(flag: Flag, name: str, value: str, has_value: bool) -> None:
    if flag.kind is _Kind.BOOL:
        if has_value and value == "":
            raise InvalidArgument(f"missing a value on flag: {name}")
        if value.lower() not in ("true", "false", ""):
            raise InvalidArgument(f"expecting boolean value for flag {name}, not: {value}")
        flag.value = "false" if value.lower() == "false" else "true"
        return
    if not has_value:
        raise InvalidArgument(f"missing a value on flag: {name}")
    if flag.kind is _Kind.STRING:
        flag.value = value
    else:
        flag.values.append(value)


def _unknown(name: str, known: list[str]) -> InvalidArgument:
    err = InvalidArgument(f"unknown flag: {name}")
    hint = suggest(name, known)
    if hint:
        err.add_note(f"did you mean {hint}?")
    return err


def suggest(word: str, options: list[str]) -> str | None:
    """The option closest to ``word`` (edit distance at most 2), if any."""
    best, best_dist = None, 3
    for option in options:
        dist = _distance(word.lower(), option.lower())
        if dist < best_dist and dist < max(len(word), 2):
            best, best_dist = option, dist
    return best


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
