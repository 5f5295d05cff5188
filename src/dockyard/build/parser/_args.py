"""Splitting one logical line into keyword, flags and arguments.

This is BuildKit's dispatch table: each keyword has a rule that turns the
argument text into the ``next`` chain of the instruction node (see
``docs/dockerfile-parser.md``).  Errors are :class:`InvalidArgument` without a
location; the caller adds ``Dockerfile:LINE:``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from dockyard.errors import InvalidArgument

from ._ast import Node, chain
from ._gostr import from_bytes, go_is_space, go_quote, go_trim_left_space, go_trim_space, to_bytes

__all__ = ["NOT_STRING_ARRAY", "new_node_from_line", "parse_json_array", "parse_words"]

NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_LATIN1_SPACES = frozenset(b"\t\n\v\f\r \x85\xa0")

Rule = Callable[[str, str], tuple[Node | None, bool]]


def split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    """Keyword, flags and (trimmed) argument text of a logical line."""
    parts = _WHITESPACE.split(go_trim_space(line), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    args, flags = extract_flags(parts[1], escape)
    return parts[0], flags, go_trim_space(args)


def extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Take the leading ``--flag`` words off ``line``; return (rest, flags).

    BuildKit scans bytes, not runes: a flag holding non-ASCII text is turned
    into Latin-1 code points, one per byte.  That is kept, to dump the same.
    """
    data = to_bytes(line)
    esc = ord(escape)
    flags: list[str] = []
    pos, n = 0, len(data)
    while True:
        while pos < n and data[pos] in _LATIN1_SPACES:
            pos += 1
        if pos >= n:
            return "", flags
        if not data.startswith(b"--", pos):
            return from_bytes(data[pos:]), flags
        word, quoted, pos = _flag_word(data, pos, esc)
        if word == "--":
            return from_bytes(data[pos:]), flags
        if word or quoted:
            flags.append(word)


def _flag_word(data: bytes, pos: int, esc: int) -> tuple[str, bool, int]:
    """One flag word from ``pos``; returns (word, was_quoted, end)."""
    out: list[str] = []
    quote = 0
    quoted = False
    n = len(data)
    while pos < n:
        ch = data[pos]
        if quote:
            if ch == quote:
                quote = 0
            elif ch == esc and pos + 1 < n:
                pos += 1
                out.append(chr(data[pos]))
            elif ch != esc:
                out.append(chr(ch))
        elif ch in _LATIN1_SPACES:
            break
        elif ch in (0x22, 0x27):
            quote, quoted = ch, True
        elif ch == esc:
            if pos + 1 < n:
                pos += 1
                out.append(chr(data[pos]))
        else:
            out.append(chr(ch))
        pos += 1
    return "".join(out), quoted, pos


def parse_words(rest: str, escape: str) -> list[str]:
    """Quote-aware split used by ARG, ENV and LABEL; quotes are kept."""
    words: list[str] = []
    word: list[str] = []
    in_word = blank_ok = False
    quote = ""
    i, n = 0, len(rest)
    while i < n:
        ch = _rune(rest[i])
        if quote:
            if ch == quote:
                quote = ""
            if ch == escape and quote != "'":
                if i + 1 == n:
                    quote = ""
                    i += 1
                    continue
                word.append(ch)
                i += 1
                ch = _rune(rest[i])
            word.append(ch)
        elif go_is_space(ch):
            if in_word and (blank_ok or word):
                words.append("".join(word))
            word, in_word, blank_ok = [], False, False
        else:
            in_word = True
            if ch in "'\"":
                quote, blank_ok = ch, True
            if ch == escape:
                if i + 1 == n:
                    break
                word.append(ch)
                i += 1
                ch = _rune(rest[i])
            word.append(ch)
        i += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def _rune(ch: str) -> str:
    """Go decodes an invalid byte as U+FFFD."""
    return "\ufffd" if "\udc80" <= ch <= "\udcff" else ch


def _no_constants(name: str) -> object:
    raise ValueError(name)


def parse_json_array(rest: str) -> list[str] | None:
    """The strings of a JSON array, or None when ``rest`` is not valid JSON.

    Raises InvalidArgument when the JSON is valid but not all strings.
    """
    rest = go_trim_left_space(rest)
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise InvalidArgument(NOT_STRING_ARRAY)
    return [_fix_surrogates(v) for v in value]


def _fix_surrogates(s: str) -> str:
    """Go's decoder turns lone surrogates and invalid bytes into U+FFFD."""
    if not any("\ud800" <= ch <= "\udfff" for ch in s):
        return s
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in s)


def _maybe_json(rest: str, escape: str) -> tuple[Node | None, bool]:
    if not rest:
        return None, False
    values = parse_json_array(rest)
    if values is not None:
        return chain(values), True
    return Node(value=rest), False


def _maybe_json_to_list(rest: str, escape: str) -> tuple[Node | None, bool]:
    values = parse_json_array(rest)
    if values is not None:
        return chain(values), True
    return _whitespace_split(rest, escape)


def _whitespace_split(rest: str, escape: str) -> tuple[Node | None, bool]:
    if not rest:
        return None, False
    return chain(_WHITESPACE.split(rest)), False


def _string(rest: str, escape: str) -> tuple[Node | None, bool]:
    return (Node(value=rest) if rest else None), False


def _name_or_name_val(rest: str, escape: str) -> tuple[Node | None, bool]:
    return chain(parse_words(rest, escape)), False


def _name_val(keyword: str) -> Rule:
    def rule(rest: str, escape: str) -> tuple[Node | None, bool]:
        words = parse_words(rest, escape)
        if not words:
            return None, False
        if "=" not in words[0]:
            parts = _WHITESPACE.split(rest, maxsplit=1)
            if len(parts) < 2:
                raise InvalidArgument(f"{keyword} must have two arguments")
            return chain([parts[0], parts[1], ""]), False
        values: list[str] = []
        for word in words:
            key, sep, value = word.partition("=")
            if not sep:
                raise InvalidArgument(
                    f"Syntax error - can't find = in {go_quote(word)}. "
                    "Must be of the form: name=value"
                )
            values += [key, value, "="]
        return chain(values), False

    return rule


def _health_config(rest: str, escape: str) -> tuple[Node | None, bool]:
    data = to_bytes(rest)
    sep = 0
    while sep < len(data) and data[sep] not in _LATIN1_SPACES:
        sep += 1
    nxt = sep
    while nxt < len(data) and data[nxt] in _LATIN1_SPACES:
        nxt += 1
    if sep == 0:
        return None, False
    cmd, is_json = _maybe_json(from_bytes(data[nxt:]), escape)
    return Node(value=from_bytes(data[:sep]), next=cmd), is_json


def _sub_command(rest: str, escape: str) -> tuple[Node | None, bool]:
    if not rest:
        return None, False
    return Node(children=[new_node_from_line(rest, escape)]), False


def _ignore(rest: str, escape: str) -> tuple[Node | None, bool]:
    return Node(), False


DISPATCH: dict[str, Rule] = {
    "add": _maybe_json_to_list,
    "arg": _name_or_name_val,
    "cmd": _maybe_json,
    "copy": _maybe_json_to_list,
    "entrypoint": _maybe_json,
    "env": _name_val("ENV"),
    "expose": _whitespace_split,
    "from": _whitespace_split,
    "healthcheck": _health_config,
    "label": _name_val("LABEL"),
    "maintainer": _string,
    "onbuild": _sub_command,
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _string,
    "user": _string,
    "volume": _maybe_json_to_list,
    "workdir": _string,
}


def new_node_from_line(line: str, escape: str, comments: list[str] | None = None) -> Node:
    """An instruction node for one logical line (no location yet)."""
    keyword, flags, rest = split_command(line, escape)
    rule = DISPATCH.get(keyword.lower(), _ignore)
    nxt, is_json = rule(rest, escape)
    return Node(
        value=keyword,
        next=nxt,
        flags=flags,
        json=is_json,
        original=line,
        prev_comment=list(comments or []),
    )
