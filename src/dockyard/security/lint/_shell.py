"""The commands inside a RUN, as far as a static reader can see them.

A RUN's script is split into *simple commands* (argv lists) on ``&&``, ``||``,
``;``, ``|``, newlines and parentheses, with POSIX quoting (:mod:`shlex`), and
each command remembers the working directory it runs in (a leading ``cd DIR``
changes it for the rest of the script) and whether it is part of a pipe.

This is a reader for lint rules, not a shell: no expansion, no functions, no
control flow.  ``if``/``then``/``do`` and friends are dropped so that
``if true; then pip install x; fi`` still yields ``pip install x``.  Text that
shlex cannot split (an unbalanced quote) falls back to whitespace splitting.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field

__all__ = ["Command", "Script", "split_script"]

_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "(", ")", ";;", "|&", "\n"})
_KEYWORDS = frozenset(
    {
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "do",
        "done",
        "while",
        "until",
        "for",
        "case",
        "esac",
        "{",
        "}",
        "!",
        "time",
        "exec",
    }
)
_PREFIXES = frozenset({"sudo", "env", "nice", "nohup", "command", "xargs"})


@dataclass(frozen=True)
class Command:
    """One simple command: ``argv`` without leading ``VAR=value`` words."""

    argv: tuple[str, ...]
    cwd: str
    in_pipe: bool = False
    assignments: tuple[str, ...] = ()
    wrappers: tuple[str, ...] = ()  # sudo, env, nice, ... that ran it

    @property
    def name(self) -> str:
        """The program's base name (``/opt/venv/bin/pip`` -> ``pip``)."""
        return posixpath.basename(self.argv[0]) if self.argv else ""

    def has(self, *words: str) -> bool:
        return any(w in self.argv for w in words)

    def subcommand(self) -> str:
        """The first word after the program that is not a flag."""
        for word in self.argv[1:]:
            if not word.startswith("-"):
                return word
        return ""


@dataclass
class Script:
    """The commands of one RUN, in order."""

    commands: list[Command] = field(default_factory=list)
    has_pipe: bool = False

    def named(self, *names: str) -> list[Command]:
        return [c for c in self.commands if c.name in names]


_DUP_REDIRECT = re.compile(r"\d*[<>]&(\d+|-)")  # 2>&1, >&2, <&-: no file, no separator


def _tokens(text: str) -> list[str]:
    text = _DUP_REDIRECT.sub(" ", text).replace("&>", ">")
    lex = shlex.shlex(text, posix=True, punctuation_chars=";&|()")
    lex.whitespace = " \t\r"
    lex.whitespace_split = True
    lex.commenters = ""  # a '#' starts a comment only at the start of a word: see below
    try:
        tokens = list(lex)
    except ValueError:  # an unbalanced quote: the best a reader can do
        tokens = text.replace(";", " ; ").replace("&&", " && ").split()
    for i, token in enumerate(tokens):
        if token.startswith("#"):
            return tokens[:i]
    return tokens


def _is_assignment(word: str) -> bool:
    name, eq, _ = word.partition("=")
    return bool(eq) and bool(name) and name.replace("_", "a").isalnum() and not name[0].isdigit()


def _strip_prefixes(words: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(argv, leading VAR=value words, wrappers such as sudo)."""
    assignments: list[str] = []
    wrappers: list[str] = []
    while words:
        if _is_assignment(words[0]):
            assignments.append(words.pop(0))
        elif words[0] in _KEYWORDS:
            words.pop(0)
        elif posixpath.basename(words[0]) in _PREFIXES:
            wrappers.append(posixpath.basename(words.pop(0)))
            while words and words[0].startswith("-") and words[0] != "--":
                words.pop(0)  # sudo -E, env -i
        else:
            break
    return words, assignments, wrappers


def split_script(text: str, cwd: str = "/") -> Script:
    """The simple commands of shell ``text`` run in directory ``cwd``."""
    script = Script()
    words: list[str] = []
    pipe_next = False

    def flush(sep: str) -> None:
        nonlocal cwd, pipe_next, words
        argv, assignments, wrappers = _strip_prefixes(words)
        words = []
        in_pipe = pipe_next or sep in ("|", "|&")
        if sep in ("|", "|&"):
            script.has_pipe = True
        pipe_next = sep in ("|", "|&")
        if not argv:
            return
        command = Command(tuple(argv), cwd, in_pipe, tuple(assignments), tuple(wrappers))
        if command.name == "cd" and len(argv) > 1 and not argv[1].startswith("-"):
            cwd = posixpath.normpath(posixpath.join(cwd, argv[1]))
        script.commands.append(command)

    for line in text.replace("\\\n", " ").split("\n"):
        for token in _tokens(line):
            if token in _SEPARATORS:
                flush(token)
            else:
                words.append(token)
        flush("\n")
    return script
