"""The parse tree: BuildKit's node model, with line ranges.

Vocabulary (as BuildKit's ``parser.Node``):

* the *root* node has an empty value and one child per instruction;
* an *instruction* node's value is the keyword as written, ``flags`` are the
  ``--xxx`` words before the arguments, and ``next`` is the first argument;
* *argument* nodes form a singly linked list through ``next``; ONBUILD's one
  argument node has an empty value and the wrapped instruction as its child.

Line numbers are 1-based and inclusive; an instruction ends at the last
physical line it consumed (continuations and heredoc bodies included).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ._gostr import go_quote, go_quote_list, go_trim_space

__all__ = ["Directive", "Heredoc", "Node", "ParseResult", "ParseWarning", "dump_node"]


@dataclass
class Heredoc:
    """One ``<<NAME`` body attached to RUN, COPY or ADD.

    ``content`` is raw (with newlines, tabs not yet chomped); ``expand`` is false
    when any part of the name was quoted; ``chomp`` means ``<<-``.
    """

    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    file_descriptor: int = 0


@dataclass
class Node:
    """A node of the parse tree (see the module docstring)."""

    value: str = ""
    next: Node | None = None
    children: list[Node] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    json: bool = False
    original: str = ""
    heredocs: list[Heredoc] = field(default_factory=list)
    start_line: int = 0
    end_line: int = 0
    prev_comment: list[str] = field(default_factory=list)

    def args(self) -> Iterator[Node]:
        """The ``next`` chain after this node."""
        node = self.next
        while node is not None:
            yield node
            node = node.next

    def values(self) -> list[str]:
        """The argument values (BuildKit's ``nodeArgs``): ONBUILD's inner
        keyword and its arguments are flattened in."""
        out: list[str] = []
        for arg in self.args():
            if not arg.children:
                out.append(arg.value)
            elif len(arg.children) == 1:
                out.append(arg.children[0].value)
                out.extend(arg.children[0].values())
        return out

    def dump(self) -> str:
        """This node in the format of BuildKit's ``Node.Dump``."""
        return dump_node(self)


def chain(values: list[str]) -> Node | None:
    """Link ``values`` into a ``next`` chain of argument nodes."""
    head: Node | None = None
    for value in reversed(values):
        head = Node(value=value, next=head)
    return head


def dump_node(node: Node) -> str:
    """BuildKit's ``Node.Dump``: lower-cased value, Go-quoted flags and args."""
    parts = [node.value.lower()]
    if node.flags:
        parts.append(" " + go_quote_list(node.flags))
    parts.extend("(" + dump_node(child) + ")\n" for child in node.children)
    for arg in node.args():
        parts.append(" " + (dump_node(arg) if arg.children else go_quote(arg.value)))
    return go_trim_space("".join(parts))


@dataclass(frozen=True)
class ParseWarning:
    """A non-fatal finding, as BuildKit's ``parser.Warning``."""

    short: str
    detail: str
    url: str
    line: int


@dataclass(frozen=True)
class Directive:
    """A parser directive (``# syntax=…``, ``# escape=…``, ``# check=…``)."""

    name: str
    value: str
    line: int


@dataclass
class ParseResult:
    """What :func:`parse_dockerfile` returns."""

    ast: Node
    filename: str = "Dockerfile"
    warnings: list[ParseWarning] = field(default_factory=list)
    directives: list[Directive] = field(default_factory=list)
    escape_token: str = "\\"

    def directive(self, name: str) -> str | None:
        """The value of directive ``name`` (lower-case), or None."""
        for d in self.directives:
            if d.name == name:
                return d.value
        return None
