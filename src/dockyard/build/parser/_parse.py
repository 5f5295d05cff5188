"""The line reader: physical lines -> logical lines -> instruction nodes.

One pass over the physical lines, as BuildKit's ``parser.Parse``:

1. directives are fed every first line until one is not a directive;
2. a first line loses its leading whitespace; a comment becomes empty and is
   skipped (its text is kept as the next instruction's ``prev_comment``);
3. a line ending in the escape token continues: following raw lines are
   appended without separator, comment lines are dropped, blank lines are
   dropped with an "empty continuation line" warning;
4. the logical line becomes an instruction node (``_args``); RUN/COPY/ADD in
   shell form then consume the bodies of their heredocs.
"""

from __future__ import annotations

import re
from functools import cache

from dockyard.errors import InvalidArgument

from ._args import new_node_from_line
from ._ast import Node, ParseResult, ParseWarning
from ._directives import DirectiveParser
from ._gostr import go_trim_left_space, go_trim_space, to_bytes
from ._heredoc import heredocs_from_line

__all__ = ["MAX_LINE", "parse_dockerfile"]

MAX_LINE = 65535
EMPTY_CONTINUATION_DETAIL = "Empty continuation lines will become errors in a future release"
EMPTY_CONTINUATION_URL = "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/"
_HEREDOC_KEYWORDS = frozenset({"run", "copy", "add"})


@cache
def _continuation(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    return re.compile(f"([^{e}]){e}[ \t]*\\Z|^{e}[ \t]*\\Z")


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """(line without the continuation mark, whether the line is complete)."""
    regex = _continuation(escape)
    if regex.search(line):
        return regex.sub(lambda m: m.group(1) or "", line, count=1), False
    return line, True


def _is_comment(raw: str) -> bool:
    return go_trim_left_space(raw.rstrip("\r\n")).startswith("#")


def _physical_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.lines = _physical_lines(text)
        self.ends_with_newline = text.endswith("\n")
        self.pos = 0  # index of the next physical line; also the last line read (1-based)
        self.directives = DirectiveParser()
        self.root = Node(start_line=-1)
        self.warnings: list[ParseWarning] = []

    def fail(self, message: str, line: int) -> InvalidArgument:
        return InvalidArgument(f"{self.filename}:{line}: {message}")

    def read(self) -> str | None:
        """The next physical line, newline removed, or None at the end."""
        if self.pos >= len(self.lines):
            return None
        line = self.lines[self.pos]
        self.pos += 1
        if len(to_bytes(line)) > MAX_LINE:
            raise self.fail(
                f"dockerfile line greater than max allowed size of {MAX_LINE}", self.pos
            )
        return line

    @property
    def escape(self) -> str:
        return self.directives.escape_token

    def run(self) -> ParseResult:
        comments: list[str] = []
        while (raw := self.read()) is not None:
            if self.pos == 1:
                raw = raw.removeprefix("\ufeff")
            if _is_comment(raw):
                comment = go_trim_space(go_trim_left_space(raw)[1:])
                comments = [*comments, comment] if comment else []
            token = go_trim_left_space(raw.rstrip("\r\n"))
            try:
                self.directives.parse_line(token, self.pos)
            except InvalidArgument as exc:
                raise self.fail(str(exc), self.pos) from None
            if token.startswith("#"):
                token = ""
            start = self.pos
            token, complete = _trim_continuation(token, self.escape)
            if complete and not token:
                continue
            line = token if complete else self.continuation(token, start)
            self.instruction(line, start, comments)
            comments = []
        if self.root.start_line < 0:
            raise self.fail("file with no instructions", max(self.pos, 1))
        return ParseResult(
            ast=self.root,
            filename=self.filename,
            warnings=self.warnings,
            directives=list(self.directives.directives),
            escape_token=self.escape,
        )

    def continuation(self, first: str, start: int) -> str:
        parts = [first]
        empty_line = False
        while (raw := self.read()) is not None:
            if _is_comment(raw):
                continue
            text = raw.rstrip("\r\n")
            if not go_trim_left_space(text):
                empty_line = True
                continue
            text, complete = _trim_continuation(text, self.escape)
            parts.append(text)
            if complete:
                break
        line = "".join(parts)
        if empty_line:
            self.warnings.append(
                ParseWarning(
                    short=f"Empty continuation line found in: {line}",
                    detail=EMPTY_CONTINUATION_DETAIL,
                    url=EMPTY_CONTINUATION_URL,
                    line=self.pos,
                )
            )
        return line

    def instruction(self, line: str, start: int, comments: list[str]) -> None:
        try:
            node = new_node_from_line(line, self.escape, comments)
        except InvalidArgument as exc:
            raise self.fail(str(exc), start) from None
        if _can_contain_heredoc(node) and "<<" in line:
            self.heredocs(node, line, start)
        node.start_line, node.end_line = start, self.pos
        if self.root.start_line < 0:
            self.root.start_line = start
        self.root.end_line = self.pos
        self.root.children.append(node)

    def heredocs(self, node: Node, line: str, start: int) -> None:
        try:
            docs = heredocs_from_line(line)
        except InvalidArgument as exc:
            raise self.fail(str(exc), start) from None
        for doc in docs:
            body: list[str] = []
            while True:
                if self.pos >= len(self.lines):
                    raise self.fail("unterminated heredoc", start)
                raw = self.lines[self.pos]
                self.pos += 1
                candidate = raw.rstrip("\r\n")
                if doc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == doc.name:
                    break
                has_newline = self.pos < len(self.lines) or self.ends_with_newline
                body.append(raw + "\n" if has_newline else raw)
            doc.content = "".join(body)
            node.heredocs.append(doc)


def _can_contain_heredoc(node: Node) -> bool:
    if node.value.lower() == "onbuild" and node.next is not None and node.next.children:
        node = node.next.children[0]
    return node.value.lower() in _HEREDOC_KEYWORDS and not node.json


def parse_dockerfile(text: str, filename: str = "Dockerfile") -> ParseResult:
    """Parse Dockerfile ``text`` into BuildKit's AST.

    Raises InvalidArgument ``<filename>:<line>: <message>`` for what BuildKit's
    parser rejects (no instructions, a non-string JSON array, ``ENV`` without a
    value, a duplicate or bad directive, an unterminated heredoc, a line over
    65535 bytes).  Undecodable bytes should be passed in with
    ``surrogateescape``; they are dumped as ``\\xNN``.
    """
    return _Parser(text, filename).run()
