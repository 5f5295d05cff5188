"""Go string semantics the BuildKit parser relies on.

The Dockerfile text is a Python ``str`` decoded with ``surrogateescape``, so a
byte that is not valid UTF-8 survives as a lone surrogate U+DC80..U+DCFF and
is written back (by :func:`go_quote`) as ``\\xNN``, as Go does.
"""

from __future__ import annotations

import unicodedata

__all__ = [
    "ENCODING",
    "ERRORS",
    "from_bytes",
    "go_is_space",
    "go_quote",
    "go_quote_list",
    "go_trim_left_space",
    "go_trim_space",
    "to_bytes",
]

ENCODING = "utf-8"
ERRORS = "surrogateescape"

# unicode.IsSpace: the Latin-1 set plus the White_Space property beyond it.
_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}
_PRINTABLE_CATEGORIES = frozenset("LMNPS")


def go_is_space(ch: str) -> bool:
    """Go's ``unicode.IsSpace`` for one character."""
    return ch in _SPACES


def go_trim_space(s: str) -> str:
    """Go's ``strings.TrimSpace`` (Python's ``strip`` trims more)."""
    return go_trim_left_space(s).rstrip("".join(_SPACES))


def go_trim_left_space(s: str) -> str:
    """Go's ``strings.TrimLeftFunc(s, unicode.IsSpace)``."""
    return s.lstrip("".join(_SPACES))


def to_bytes(s: str) -> bytes:
    """The bytes Go would see for ``s``."""
    return s.encode(ENCODING, ERRORS)


def from_bytes(b: bytes) -> str:
    """Inverse of :func:`to_bytes`; never fails."""
    return b.decode(ENCODING, ERRORS)


def _quote_char(ch: str) -> str:
    short = _SHORT_ESCAPES.get(ch)
    if short is not None:
        return short
    cp = ord(ch)
    if 0xDC80 <= cp <= 0xDCFF:  # an undecodable byte kept by surrogateescape
        return f"\\x{cp - 0xDC00:02x}"
    if ch == " " or unicodedata.category(ch)[0] in _PRINTABLE_CATEGORIES:
        return ch
    if cp < 0x20 or cp == 0x7F:
        return f"\\x{cp:02x}"
    if 0xD800 <= cp <= 0xDFFF:  # not a valid rune in Go: U+FFFD
        return "\ufffd"
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote``: a double-quoted literal, printable runes kept."""
    return '"' + "".join(map(_quote_char, s)) + '"'


def go_quote_list(items: list[str]) -> str:
    """Go's ``fmt.Sprintf("%q", []string{...})``."""
    return "[" + " ".join(go_quote(s) for s in items) + "]"
