"""BuildKit-compatible Dockerfile parser.

Three layers, each usable alone:

* :func:`parse_dockerfile` turns text into BuildKit's AST (:class:`Node` tree
  with line ranges, heredocs, warnings, directives); :func:`dump_ast` prints
  it exactly as BuildKit's parser test fixtures;
* :func:`instructions_from_ast` turns the AST into typed instructions split
  into :class:`Stage` objects (``dockyard.build.parser.instructions``);
* :class:`ShellLex` / :func:`process_word` / :func:`process_words` expand
  variables as BuildKit's shell lexer.

Every error is :class:`dockyard.errors.InvalidArgument` with the message
``Dockerfile:12: unknown instruction: RUNN``.  See ``docs/dockerfile-parser.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dockyard.errors import InvalidArgument

from ._ast import Directive, Heredoc, Node, ParseResult, ParseWarning
from ._directives import detect_syntax, parse_directive
from ._gostr import ENCODING, ERRORS
from ._heredoc import chomp_heredoc_content
from ._parse import parse_dockerfile
from .shell import ShellLex, process_word, process_words

if TYPE_CHECKING:
    from .instructions import Stage, instructions_from_ast, parse_instruction

_LAZY = frozenset({"Stage", "instructions_from_ast", "parse_instruction"})

__all__ = [
    "Directive",
    "Heredoc",
    "Node",
    "ParseResult",
    "ParseWarning",
    "ShellLex",
    "Stage",
    "chomp_heredoc_content",
    "detect_syntax",
    "dump_ast",
    "instructions_from_ast",
    "parse_directive",
    "parse_dockerfile",
    "parse_instruction",
    "print_ast",
    "process_word",
    "process_words",
    "read_dockerfile",
]


def dump_ast(result: ParseResult | Node) -> str:
    """The AST as BuildKit's ``Node.Dump()`` plus one newline (a ``result`` file)."""
    node = result.ast if isinstance(result, ParseResult) else result
    return node.dump() + "\n"


def read_dockerfile(path: Path) -> str:
    """The text of ``path``; bytes that are not UTF-8 survive as surrogates."""
    try:
        return path.read_bytes().decode(ENCODING, ERRORS)
    except OSError as exc:
        raise InvalidArgument(f"read {path}: {exc.strerror or exc}") from None


def print_ast(path: Path) -> str:
    """Read and parse ``path``; return :func:`dump_ast` of it.

    Errors are InvalidArgument ``<path as given>:<line>: <message>``.
    """
    return dump_ast(parse_dockerfile(read_dockerfile(path), str(path)))


def __getattr__(name: str) -> object:
    """Import the typed-instruction layer only when asked (``--print-ast`` skips it)."""
    if name in _LAZY:
        from . import instructions

        return getattr(instructions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
