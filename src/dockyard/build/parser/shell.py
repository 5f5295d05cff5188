"""Shell-style word processing, as BuildKit's ``shell.Lex``.

``process_word`` expands variables and removes quotes, keeping the text one
word (``ENV``, ``WORKDIR``, ``USER``, ``COPY`` paths); ``process_words`` also
splits on unquoted whitespace, and splits the result of an unquoted ``$VAR``
(``EXPOSE``).  Supported forms::

    $NAME  ${NAME}  ${NAME:-word}  ${NAME-word}  ${NAME:+word}  ${NAME+word}
    ${NAME:?msg}  ${NAME?msg}  ${NAME#pat}  ${NAME##pat}  ${NAME%pat}  ${NAME%%pat}
    ${NAME/pat/repl}  ${NAME//pat/repl}

Single quotes keep everything literal; inside double quotes the escape token
escapes only ``"``, ``$`` and itself; outside quotes it escapes any character.
Errors raise :class:`InvalidArgument` (``failed to process "${x": syntax error:
missing '}'``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dockyard.errors import InvalidArgument

from ._gostr import go_is_space, go_quote

__all__ = ["ShellLex", "process_word", "process_words"]

_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class _Words:
    """BuildKit's ``wordsStruct``: accumulates words while text is read."""

    def __init__(self, keep_space_after_heredoc: bool) -> None:
        self.words: list[str] = []
        self.word = ""
        self.in_word = False
        self.heredoc_spaces = keep_space_after_heredoc

    def add_char(self, ch: str) -> None:
        if go_is_space(ch):
            if self.heredoc_spaces and self.word.rstrip().endswith("<<"):
                self.word += ch
            elif self.in_word and self.word:
                self.words.append(self.word)
                self.word, self.in_word = "", False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word, self.in_word = "", False
        return self.words


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch


class _Error(Exception):
    """A lexing failure inside one call; becomes InvalidArgument."""


@dataclass
class ShellLex:
    """A configured shell lexer (BuildKit's ``shell.Lex``).

    ``raw_quotes``/``raw_escapes`` keep quotes/escape tokens in the output (the
    heredoc detector uses them); ``skip_unset_env`` leaves ``$NAME`` as written
    when NAME is not set.  ``matches`` collects the names that were found set.
    """

    escape_token: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_unset_env: bool = False
    keep_space_after_heredoc: bool = False
    matches: set[str] = field(default_factory=set)

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """Expand ``word`` into one string (quotes removed)."""
        return self._process(word, env)[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """Expand ``word`` and split it into words."""
        return self._process(word, env)[1]

    def _process(self, source: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
        run = _Run(self, _Scanner(source), env)
        try:
            return run.stop_on("", self.raw_escapes)
        except _Error as exc:
            raise InvalidArgument(f"failed to process {go_quote(source)}: {exc}") from None


class _Run:
    """One pass of the lexer over one source string."""

    def __init__(self, lex: ShellLex, scanner: _Scanner, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.sc = scanner
        self.env = env

    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        return self.stop_on_any(stop, raw_escapes)

    def stop_on_any(self, stops: str, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words(self.lex.keep_space_after_heredoc)
        esc = self.lex.escape_token
        while (ch := self.sc.peek()) != "":
            if stops and ch in stops:
                self.sc.next()
                return "".join(result), words.result()
            if ch in "'\"$":
                text = {"'": self.single_quote, '"': self.double_quote, "$": self.dollar}[ch]()
                result.append(text)
                if ch == "$":
                    words.add_string(text)
                else:
                    words.add_raw(text)
                continue
            ch = self.sc.next()
            if ch == esc:
                if raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.sc.next()
                if ch == "":
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stops:
            raise _Error(f"unexpected end of statement while looking for matching {stops}")
        return "".join(result), words.result()

    def single_quote(self) -> str:
        raw = self.lex.raw_quotes
        out = ["'"] if raw else []
        self.sc.next()
        while True:
            ch = self.sc.next()
            if ch == "":
                raise _Error("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if raw:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        raw = self.lex.raw_quotes
        esc = self.lex.escape_token
        out = ['"'] if raw else []
        self.sc.next()
        while True:
            ch = self.sc.peek()
            if ch == "":
                raise _Error("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.sc.next()
                if raw:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.sc.next()
            if ch == esc:
                nxt = self.sc.peek()
                if nxt == "":
                    continue  # an escape at the very end is dropped
                if nxt in ('"', "$", esc):
                    if self.lex.raw_escapes:
                        out.append(ch)
                    ch = self.sc.next()
            out.append(ch)

    def lookup(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is not None:
            self.lex.matches.add(name)
        return value

    def name(self) -> str:
        sc = self.sc
        ch = sc.peek()
        if ch.isdecimal():
            out = []
            while sc.peek().isdecimal():
                out.append(sc.next())
            return "".join(out)
        if ch and ch in _SPECIAL_PARAMS:
            return sc.next()
        out = []
        while (ch := sc.peek()) and (ch.isalpha() or ch.isdecimal() or ch == "_"):
            out.append(sc.next())
        return "".join(out)

    def dollar(self) -> str:
        sc = self.sc
        sc.next()
        if sc.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None:
                return "$" + name if self.lex.skip_unset_env else ""
            return value
        sc.next()
        ch = sc.peek()
        if ch == "":
            raise _Error("syntax error: missing '}'")
        if ch in "{}:":
            raise _Error("syntax error: bad substitution")
        name = self.name()
        op = sc.next()
        if op == "" or (op == ":" and sc.peek() == ""):
            raise _Error("syntax error: missing '}'")
        if op == "}":
            value = self.lookup(name)
            if value is None:
                return "${" + name + "}" if self.lex.skip_unset_env else ""
            return value
        if op == ":":
            op2 = sc.next()
            return self.modifier(name, op2, ":" + op2, null_is_unset=True)
        if op in "+-?#%":
            return self.modifier(name, op, op, null_is_unset=False)
        if op == "/":
            return self.replace(name)
        raise _Error(f"unsupported modifier ({op}) in substitution")

    def modifier(self, name: str, op: str, ops: str, null_is_unset: bool) -> str:
        trims = op in "#%" and op != ""
        if op == "" or op not in "+-?#%" or (null_is_unset and trims):
            raise _Error(f"unsupported modifier ({ops}) in substitution")
        try:
            word, _ = self.stop_on_any("}", trims)
        except _Error:
            if self.sc.peek() == "":
                raise _Error("syntax error: missing '}'") from None
            raise
        value = self.lookup(name)
        if value is None and self.lex.skip_unset_env:
            return "${" + name + ops + word + "}"
        empty = value is None or (null_is_unset and value == "")
        if op == "-":
            return word if empty else str(value)
        if op == "+":
            return "" if empty else word
        if op == "?":
            if value is None:
                raise _Error(f"{name}: {word or 'is not allowed to be unset'}")
            if empty:
                raise _Error(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(op)
        if not word:
            return value or ""
        if greedy:
            word = word[1:]
        return _trim(value or "", word, suffix=op == "%", greedy=greedy)

    def replace(self, name: str) -> str:
        replace_all = self.sc.peek() == "/"
        if replace_all:
            self.sc.next()
        try:
            pattern, _ = self.stop_on_any("/", True)
        except _Error:
            if self.sc.peek() == "":
                raise _Error("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.stop_on_any("}", True)
        except _Error:
            if self.sc.peek() == "":
                raise _Error("syntax error: missing '}'") from None
            raise
        value = self.lookup(name)
        if value is None and self.lex.skip_unset_env:
            return "${%s/%s/%s}" % (name, pattern, replacement)  # noqa: UP031
        regex = _pattern_regex(pattern)
        return regex.sub(lambda _m: replacement, value or "", count=0 if replace_all else 1)


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A shell pattern (``*``, ``?``, ``[...]``, escaped chars) as a regex."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[" and (end := _class_end(pattern, i)) > 0:
            body = pattern[i + 1 : end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\").replace("[", "\\[") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _class_end(pattern: str, start: int) -> int:
    """Index of the ``]`` closing the bracket expression at ``start``, or -1."""
    i = start + 1
    if pattern[i : i + 1] in ("!", "^"):
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1
    end = pattern.find("]", i)
    return end


def _trim(value: str, pattern: str, suffix: bool, greedy: bool) -> str:
    """``${v#p}``/``${v##p}`` (prefix) and ``${v%p}``/``${v%%p}`` (suffix)."""
    regex = _pattern_regex(pattern)
    cuts = range(len(value) + 1)
    if suffix:
        for start in cuts if greedy else reversed(cuts):
            if regex.fullmatch(value, start):
                return value[:start]
        return value
    for end in reversed(cuts) if greedy else cuts:
        if regex.fullmatch(value, 0, end):
            return value[end:]
    return value


def process_word(word: str, env: Mapping[str, str], escape_token: str = "\\") -> str:
    """Expand one word as BuildKit's ``ProcessWord`` (quotes removed)."""
    return ShellLex(escape_token).process_word(word, env)


def process_words(word: str, env: Mapping[str, str], escape_token: str = "\\") -> list[str]:
    """Expand and split as BuildKit's ``ProcessWords``."""
    return ShellLex(escape_token).process_words(word, env)
