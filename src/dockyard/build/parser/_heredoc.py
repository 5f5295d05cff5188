"""Finding ``<<NAME`` words in a RUN/COPY/ADD line (BuildKit's rules).

The whole logical line is shell-lexed with quotes and escapes kept raw and
unset variables left alone; whitespace right after ``<<`` stays in the word.
A word matching ``^(\\d*)<<(-?)\\s*([^<]*)$`` whose tail is exactly one shell
word opens a heredoc named by that word with its quotes removed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dockyard.errors import InvalidArgument

from ._ast import Heredoc
from .shell import ShellLex

__all__ = ["chomp_heredoc_content", "heredocs_from_line", "parse_heredoc"]

_HEREDOC = re.compile(r"(\d*)<<(-?)\s*([^<]*)", re.DOTALL)
_EMPTY: Mapping[str, str] = {}
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)


def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc that ``word`` opens, or None; a bad quote raises."""
    match = _HEREDOC.fullmatch(word)
    if match is None or not match.group(3):
        return None
    rest = match.group(3)
    words = ShellLex(skip_unset_env=True).process_words(rest, _EMPTY)
    if len(words) != 1:
        return None
    raw = ShellLex(skip_unset_env=True, raw_quotes=True).process_words(rest, _EMPTY)
    if len(raw) != 1:
        raise InvalidArgument(f"internal lexing of heredoc produced inconsistent results: {rest}")
    name = words[0]
    quotes = name.count("'") + name.count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"')
    return Heredoc(
        name=name,
        expand=quotes == raw_quotes,
        chomp=match.group(2) == "-",
        file_descriptor=int(match.group(1) or "0"),
    )


def heredocs_from_line(line: str) -> list[Heredoc]:
    """Every heredoc opened on ``line``, in order."""
    lex = ShellLex(
        raw_quotes=True, raw_escapes=True, skip_unset_env=True, keep_space_after_heredoc=True
    )
    try:
        words = lex.process_words(line, _EMPTY)
    except InvalidArgument:
        return []
    docs = []
    for word in words:
        doc = parse_heredoc(word)
        if doc is not None:
            docs.append(doc)
    return docs


def chomp_heredoc_content(content: str) -> str:
    """Remove the leading tabs of every line (what ``<<-`` asks for)."""
    return _LEADING_TABS.sub("", content)
