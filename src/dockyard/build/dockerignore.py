"""``.dockerignore``: Docker's reading rules and its pattern matcher.

Reading (moby ``ignorefile.ReadAll``): a UTF-8 BOM is dropped; a line whose
first character is ``#`` is a comment; lines are trimmed and empty ones
skipped; ``!`` makes an exception; each pattern is cleaned like Go's
``filepath.Clean`` and a leading ``/`` removed (patterns are relative to the
context root).

Matching (moby ``patternmatcher``): rules are tried in order and a later rule
wins, so ``*.md`` then ``!README.md`` keeps README.md.  ``*`` and ``?`` never
match ``/``; ``**`` matches any number of directories (also none); ``[...]``
is a class; ``\\`` escapes.  A rule that matches a parent directory matches
everything below it (``build`` excludes ``build/x/y``).  A directory stays in
the context when a later exception may still select something below it.
"""

from __future__ import annotations

import posixpath
import re

from dockyard.errors import InvalidArgument
from dockyard.records import record

__all__ = ["IgnoreMatcher", "Pattern", "parse_dockerignore"]

_BOM = "\ufeff"
_REGEX_SPECIAL = set(".+()|{}$^")


def parse_dockerignore(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` file, in order (``!`` kept as prefix)."""
    out = []
    for i, raw in enumerate(text.splitlines()):
        line = raw.removeprefix(_BOM) if i == 0 else raw
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = posixpath.normpath(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


@record
class Pattern:
    """One compiled rule: ``kind`` is exact, prefix, suffix or regexp, as moby's."""

    text: str
    exclusion: bool
    kind: str
    regex: re.Pattern[str]
    dirs: tuple[str, ...]

    def match(self, path: str) -> bool:
        cleaned = self.text
        if self.kind == "exact":
            return path == cleaned
        if self.kind == "prefix":
            return path.startswith(cleaned[:-2])  # "dir/**" -> "dir/"
        if self.kind == "suffix":
            suffix = cleaned[2:]  # "**/name" or "**name"
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        return self.regex.fullmatch(path) is not None


def _compile(text: str, exclusion: bool) -> Pattern:
    regex, kind = "", "exact"
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "*" and i + 1 < n and text[i + 1] == "*":
            start = i
            i += 2
            if i < n and text[i] == "/":
                i += 1
            if i >= n:
                if kind == "exact":
                    kind = "prefix"
                else:
                    regex += ".*"
                    kind = "regexp"
            else:
                regex += "(.*/)?"
                kind = "regexp"
            if start == 0:
                kind = "suffix"
            continue
        if ch == "*":
            regex += "[^/]*"
            kind = "regexp"
        elif ch == "?":
            regex += "[^/]"
            kind = "regexp"
        elif ch == "\\":
            if i + 1 < n:
                i += 1
                regex += re.escape(text[i])
            else:
                regex += "\\\\"
        elif ch in "[]":
            regex += ch
            kind = "regexp"
        elif ch in _REGEX_SPECIAL:
            regex += "\\" + ch
        else:
            regex += re.escape(ch) if not ch.isalnum() and ch not in "/_-" else ch
        i += 1
    if kind == "suffix" and any(c in text[2:] for c in "*?[]\\"):
        kind = "regexp"
    try:
        compiled = re.compile(regex, re.DOTALL)
    except re.error:
        raise InvalidArgument(f"syntax error in pattern: {text}") from None
    dirs = tuple(text.split("/"))
    return Pattern(text, exclusion, kind, compiled, dirs)


class IgnoreMatcher:
    """Decides which context paths a ``.dockerignore`` (or ``--exclude``) leaves out."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[Pattern] = []
        for raw in patterns:
            exclusion = raw.startswith("!")
            text = raw[1:] if exclusion else raw
            if not text:
                raise InvalidArgument('illegal exclusion pattern: "!"')
            self.patterns.append(_compile(text, exclusion))
        self.has_exclusions = any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated) is left out: moby's
        ``MatchesOrParentMatches``."""
        matched = False
        parent = posixpath.dirname(path)
        parent_dirs = parent.split("/") if parent else []
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue
            hit = pat.match(path)
            if not hit:
                for i in range(len(parent_dirs)):
                    if pat.match("/".join(parent_dirs[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pat.exclusion
        return matched

    def may_include_below(self, dir_path: str) -> bool:
        """Whether an exception rule could re-include something under ``dir_path``."""
        if not self.has_exclusions:
            return False
        depth = dir_path.count("/") + 1
        for pat in self.patterns:
            if not pat.exclusion:
                continue
            if "**" in pat.text:
                return True
            prefix = "/".join(pat.dirs[:depth])
            try:
                if _compile(prefix, False).match(dir_path):
                    return True
            except InvalidArgument:
                return True
        return False
