"""Go's ``path/filepath.Match`` (Unix flavour), used for COPY/ADD source wildcards.

Syntax::

    pattern:  { term }
    term:     '*'         any sequence of non-'/' characters
              '?'         any single non-'/' character
              '[' [ '^' ] { range } ']'   a character class (non-empty)
              c           the character c (c != '*', '?', '\\', '[')
              '\\' c      the character c
    range:    c | c '-' c

As in Go the whole pattern must match the whole name, and a malformed pattern
(``[``, ``[a-]``, a trailing ``\\``) raises :class:`InvalidArgument`
``syntax error in pattern`` — even when an earlier part already failed to
match, because Go checks the rest of the pattern before answering false.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

__all__ = ["has_wildcards", "match"]


class _BadPattern(Exception):
    pass


def has_wildcards(pattern: str) -> bool:
    """Whether ``pattern`` has a meta character (BuildKit's ``containsWildcards``)."""
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "*?[":
            return True
        i += 1
    return False


def match(pattern: str, name: str) -> bool:
    """Whether ``name`` matches the shell ``pattern``; InvalidArgument if malformed."""
    try:
        return _match(pattern, name)
    except _BadPattern:
        raise InvalidArgument(f"syntax error in pattern: {pattern}") from None


def _match(pattern: str, name: str) -> bool:
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name  # a trailing * matches the rest unless it has a /
        rest, ok = _match_chunk(chunk, name)
        if ok and (not rest or pattern):
            name = rest
            continue
        skipped = _skip_match(chunk, pattern, name) if star else None
        if skipped is not None:
            name = skipped
            continue
        while pattern:  # answer false only for a well-formed pattern
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return not name


def _skip_match(chunk: str, pattern: str, name: str) -> str | None:
    """After a star: the rest of ``name`` once ``chunk`` matched further on, or None."""
    i = 0
    while i < len(name) and name[i] != "/":
        rest, ok = _match_chunk(chunk, name[i + 1 :])
        if ok and not (not pattern and rest):
            return rest
        i += 1
    return None


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern.startswith("*"):
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif ch == "[":
            in_range = True
        elif ch == "]":
            in_range = False
        elif ch == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> tuple[str, bool]:
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        head = chunk[0]
        if head == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk, matched = _char_class(chunk[1:], r)
            if not matched:
                failed = True
        elif head == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if head == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise _BadPattern
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    return ("", False) if failed else (s, True)


def _char_class(chunk: str, r: str) -> tuple[str, bool]:
    """Parse ``[...]`` after the ``[``; return the rest and whether ``r`` is in it."""
    negated = chunk.startswith("^")
    if negated:
        chunk = chunk[1:]
    found = False
    n = 0
    while True:
        if chunk.startswith("]") and n > 0:
            chunk = chunk[1:]
            break
        lo, chunk = _get_esc(chunk)
        hi = lo
        if chunk[0] == "-":
            hi, chunk = _get_esc(chunk[1:])
        if r and lo <= r <= hi:
            found = True
        n += 1
    return chunk, found != negated


def _get_esc(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise _BadPattern
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise _BadPattern
    r, rest = chunk[0], chunk[1:]
    if not rest:
        raise _BadPattern
    return r, rest
