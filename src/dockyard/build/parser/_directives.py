"""Parser directives: ``# syntax=…``, ``# escape=…``, ``# check=…``.

Directives are read only at the top of the file: the first line that is not
a valid directive (a blank line, an ordinary comment, an instruction, or an
unknown key) ends them.  Keys are case-insensitive; repeating one is an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

from ._ast import Directive

__all__ = ["DirectiveParser", "detect_syntax", "parse_directive"]

KNOWN = ("syntax", "escape", "check")
_BOM = "\ufeff"
# RE2's \\s is ASCII [\t\n\f\r ] (Python's is Unicode and has \v).
_RE_TAIL = r"[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$"


@dataclass
class DirectiveParser:
    """Feeds lines one by one; stays active until a non-directive line."""

    comment: str = "#"
    escape_token: str = "\\"
    done: bool = False
    line: int = 0
    directives: list[Directive] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._re = re.compile("^" + re.escape(self.comment) + _RE_TAIL)

    def parse_line(self, text: str, line: int = 0) -> None:
        """Consider one line (newline already removed); ``line`` is 1-based."""
        self.line = line or self.line + 1
        if self.done:
            return
        match = self._re.match(text)
        key = match.group(1).lower() if match else ""
        if key not in KNOWN:
            self.done = True
            return
        assert match is not None
        if any(d.name == key for d in self.directives):
            raise InvalidArgument(f"only one {key} parser directive can be used")
        value = match.group(2)
        if key == "escape":
            if value not in ("`", "\\"):
                raise InvalidArgument(f"invalid escape token '{value}' does not match ` or \\")
            self.escape_token = value
        self.directives.append(Directive(key, value, self.line))

    def parse_all(self, text: str) -> list[Directive]:
        for line in text.split("\n"):
            self.parse_line(line.rstrip("\r\n"))
            if self.done:
                break
        return self.directives


def parse_directive(key: str, text: str) -> tuple[str, str, int] | None:
    """Find directive ``key`` as a frontend does: (first word, whole value, line).

    Accepts ``#key=…``, ``//key=…`` and a JSON object ``{"key": "…"}``, after an
    optional BOM and ``#!`` line.  Lines are 1-based.
    """
    text = text.removeprefix(_BOM)
    line = 0
    if text.startswith("#!"):
        _, _, text = text.partition("\n")
        line = 1
    found = _json_directive(key, text)
    if found is not None:
        return _split(found, line + 1)
    for comment in ("//", "#"):
        parser = DirectiveParser(comment=comment, line=line)
        try:
            directives = parser.parse_all(text)
        except InvalidArgument:
            continue
        for d in directives:
            if d.name == key:
                return _split(d.value, d.line)
    return None


def _json_directive(key: str, text: str) -> str | None:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def _split(value: str, line: int) -> tuple[str, str, int]:
    words = value.split()
    return (words[0] if words else ""), value, line


def detect_syntax(text: str) -> tuple[str, str, int] | None:
    """The ``# syntax=`` frontend reference: (ref, full value, line), or None."""
    return parse_directive("syntax", text)
