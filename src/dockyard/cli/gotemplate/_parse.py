"""Go's ``text/template/parse`` for :mod:`dockyard.cli.gotemplate`: lexer, tree, parser.

The structure follows Go's parser (``lex.go``, ``parse.go``) closely so that what is
accepted, what is refused and the words of the refusal match: a token stream with
white space kept (``(x).Field`` is a chain, ``(x) .Field`` two arguments), ``$x :=``
recognised by look-ahead, ``{{else if}}`` read as ``{{else}}{{if}}`` sharing one
``{{end}}``, functions and variables checked while parsing. Errors are one line:
``template: :LINE:COL: message``.
"""

from __future__ import annotations

import re

from dockyard.cli.gotemplate._gofmt import quote
from dockyard.errors import InvalidArgument

TYPE_CHECKING = False  # ``typing`` costs a start-up; mypy honours this constant
if TYPE_CHECKING:
    from typing import Any


__all__ = ["Node", "Parser", "where"]

_SPACE = " \t\r\n"
_KEYWORDS = frozenset(
    ("block", "break", "continue", "define", "else", "end", "if", "range", "template", "with")
)
_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?"
    r"|0[bB][01_]*|0[oO][0-7_]*|[0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9_]+)?)i?"
)
_STR_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_STR_ESC |= {"\\": "\\", "'": "'", '"': '"'}


# A token is (kind, value, start, end); kinds: text left right space field dot var
# ident keyword bool nil number char string pipe lparen rparen declare assign comma eof.
Tok = tuple[str, str, int, int]


class Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[Tok] = []

    def fail(self, pos: int, msg: str) -> InvalidArgument:
        return InvalidArgument(f"template: :{where(self.text, pos)}: {msg}")

    def run(self) -> list[Tok]:
        text, i, n = self.text, 0, len(self.text)
        trim_next = False
        while i <= n:
            j = text.find("{{", i)
            seg = text[i:] if j < 0 else text[i:j]
            if trim_next:
                seg = seg.lstrip(_SPACE)
                trim_next = False
            if j < 0:
                if seg:
                    self.toks.append(("text", seg, i, n))
                break
            k = j + 2
            if text.startswith("-", k) and k + 1 < n and text[k + 1] in _SPACE:
                seg = seg.rstrip(_SPACE)
                k += 2
            if seg:
                self.toks.append(("text", seg, i, j))
            if text.startswith("/*", k):
                i, trim_next = self.comment(j, k)
                continue
            self.toks.append(("left", "{{", j, k))
            i, trim_next = self.action(k)
        self.toks.append(("eof", "", n, n))
        return self.toks

    def comment(self, start: int, k: int) -> tuple[int, bool]:
        end = self.text.find("*/", k + 2)
        if end < 0:
            raise self.fail(start, "unclosed comment")
        m = end + 2
        if self._right_trim(m):
            return m + 4, True
        if self.text.startswith("}}", m):
            return m + 2, False
        raise self.fail(start, "comment ends before closing delimiter")

    def _right_trim(self, k: int) -> bool:
        t = self.text
        return k < len(t) and t[k] in _SPACE and t.startswith("-}}", k + 1)

    def action(self, k: int) -> tuple[int, bool]:
        """Lex one action from just inside ``{{``; return the offset after ``}}``."""
        text, n, depth = self.text, len(self.text), 0
        add = self.toks.append
        while True:
            if k >= n:
                raise self.fail(k, "unclosed action")
            if text.startswith("}}", k) or self._right_trim(k):
                if depth:
                    raise self.fail(k, "unclosed left paren")
                trim = not text.startswith("}}", k)
                add(("right", "}}", k, k + (4 if trim else 2)))
                return k + (4 if trim else 2), trim
            c = text[k]
            if c in _SPACE:
                m = k
                while m < n and text[m] in _SPACE and not self._right_trim(m):
                    m += 1
                if m > k:
                    add(("space", " ", k, m))
                    k = m
                continue
            if c == "(":
                depth += 1
                add(("lparen", c, k, k + 1))
                k += 1
            elif c == ")":
                depth -= 1
                if depth < 0:
                    raise self.fail(k, "unexpected right paren")
                add(("rparen", c, k, k + 1))
                k += 1
            elif c in "|,":
                add(("pipe" if c == "|" else "comma", c, k, k + 1))
                k += 1
            elif c == "=":
                add(("assign", c, k, k + 1))
                k += 1
            elif c == ":":
                if not text.startswith(":=", k):
                    raise self.fail(k, "expected :=")
                add(("declare", ":=", k, k + 2))
                k += 2
            elif c in '"`':
                k = self.string(k, c)
            elif c == "'":
                k = self.char(k)
            elif c == "$" or (c == "." and not text[k + 1 : k + 2].isdigit()):
                k = self.name(k, "var" if c == "$" else "field")
            elif c in "+-." or c.isdigit():
                k = self.number(k)
            elif c.isalpha() or c == "_":
                k = self.ident(k)
            elif c.isascii() and c.isprintable():  # Go's itemChar: the parser refuses it
                add(("punct", c, k, k + 1))
                k += 1
            else:
                raise self.fail(k, f"unrecognized character in action: {_rune(c)}")

    def _word_end(self, k: int) -> int:
        text, n = self.text, len(self.text)
        while k < n and (text[k].isalnum() or text[k] == "_"):
            k += 1
        return k

    def _terminated(self, k: int) -> None:
        text = self.text
        if k >= len(text) or text[k] in _SPACE or text[k] in ".,|:()" or text.startswith("}}", k):
            return
        raise self.fail(k, f"bad character {_rune(text[k])}")

    def name(self, k: int, kind: str) -> int:
        end = self._word_end(k + 1)
        word = self.text[k:end]
        if kind == "field" and word == ".":
            kind = "dot"
        self._terminated(end)
        self.toks.append((kind, word, k, end))
        return end

    def ident(self, k: int) -> int:
        end = self._word_end(k)
        word = self.text[k:end]
        self._terminated(end)
        kind = "ident"
        if word in _KEYWORDS:
            kind = "keyword"
        elif word in ("true", "false"):
            kind = "bool"
        elif word == "nil":
            kind = "nil"
        self.toks.append((kind, word, k, end))
        return end

    def number(self, k: int) -> int:
        m = _NUMBER.match(self.text, k)
        end = m.end() if m else k
        word = self.text[k:end]
        nxt = self.text[end : end + 1]
        if not any(ch.isdigit() for ch in word) or nxt.isalnum() or nxt == "_":
            raise self.fail(k, f"bad number syntax: {quote(self.text[k : end + 1])}")
        self.toks.append(("number", word, k, end))
        return end

    def string(self, k: int, q: str) -> int:
        text, m = self.text, k + 1
        while True:
            if m >= len(text) or (q == '"' and text[m] == "\n"):
                raise self.fail(k, "unterminated raw quoted string" if q == "`" else
                                "unterminated quoted string")  # fmt: skip
            if q == '"' and text[m] == "\\":
                m += 2
                continue
            if text[m] == q:
                break
            m += 1
        raw = text[k + 1 : m]
        value = raw if q == "`" else self.unescape(raw, k)
        self.toks.append(("string", value, k, m + 1))
        return m + 1

    def char(self, k: int) -> int:
        text, m = self.text, k + 1
        while m < len(text) and text[m] != "'" and text[m] != "\n":
            m += 2 if text[m] == "\\" else 1
        if m >= len(text) or text[m] != "'":
            raise self.fail(k, "unterminated character constant")
        value = self.unescape(text[k + 1 : m], k)
        if len(value) != 1:
            raise self.fail(k, f"malformed character constant: {text[k : m + 1]}")
        self.toks.append(("char", value, k, m + 1))
        return m + 1

    def unescape(self, raw: str, pos: int) -> str:
        if "\\" not in raw:
            return raw
        out: list[str] = []
        i = 0
        while i < len(raw):
            c = raw[i]
            if c != "\\":
                out.append(c)
                i += 1
                continue
            e = raw[i + 1 : i + 2]
            if e in _STR_ESC:
                out.append(_STR_ESC[e])
                i += 2
                continue
            size = {"x": 2, "u": 4, "U": 8}.get(e, 0)
            digits = raw[i + 2 : i + 2 + size] if size else raw[i + 1 : i + 4]
            try:
                code = int(digits, 16 if size else 8)
                if len(digits) != (size or 3) or code > 0x10FFFF:
                    raise ValueError(digits)
            except ValueError:
                raise self.fail(pos, f"invalid syntax in string: {quote(raw)}") from None
            out.append(chr(code))
            i += 2 + size if size else 4
        return "".join(out)


def _rune(c: str) -> str:
    return f"U+{ord(c):04X} {quote(c, chr(39))}"


def where(text: str, pos: int) -> str:
    """``LINE:COL`` as Go's ``ErrorContext`` writes it: the column counts bytes from 0."""
    line = text.count("\n", 0, pos) + 1
    col = len(text[text.rfind(chr(10), 0, pos) + 1 : pos].encode())
    return f"{line}:{col}"


# -- parse tree -------------------------------------------------------------------


class Node:
    __slots__ = ("pos", "src")

    def __init__(self, pos: int, src: str) -> None:
        self.pos = pos
        self.src = src


class Text(Node):
    __slots__ = ()


class Lit(Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, src: str, value: Any) -> None:
        super().__init__(pos, src)
        self.value = value


class Dot(Node):
    __slots__ = ()


class Nil(Node):
    __slots__ = ()


class Ident(Node):
    __slots__ = ()


class Field(Node):
    """``.A.B`` (names ``["A", "B"]``) or, with a variable first, ``$x.A``."""

    __slots__ = ("names",)

    def __init__(self, pos: int, src: str, names: list[str]) -> None:
        super().__init__(pos, src)
        self.names = names


class Var(Field):
    __slots__ = ()


class Chain(Node):
    __slots__ = ("names", "node")

    def __init__(self, pos: int, src: str, node: Node, names: list[str]) -> None:
        super().__init__(pos, src)
        self.node = node
        self.names = names


class Cmd(Node):
    __slots__ = ("args",)

    def __init__(self, pos: int, src: str, args: list[Node]) -> None:
        super().__init__(pos, src)
        self.args = args


class Pipe(Node):
    __slots__ = ("assign", "cmds", "decl")

    def __init__(self, pos: int) -> None:
        super().__init__(pos, "")
        self.decl: list[str] = []
        self.assign = False
        self.cmds: list[Cmd] = []


class Action(Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, src: str, pipe: Pipe) -> None:
        super().__init__(pos, src)
        self.pipe = pipe


class Control(Node):
    """``if``, ``with`` and ``range``: ``src`` is the keyword."""

    __slots__ = ("body", "orelse", "pipe")

    def __init__(self, pos: int, kw: str, pipe: Pipe) -> None:
        super().__init__(pos, kw)
        self.pipe = pipe
        self.body: list[Node] = []
        self.orelse: list[Node] | None = None


class Call(Node):
    """``{{template "name" pipeline}}``: ``src`` is the name."""

    __slots__ = ("pipe",)

    def __init__(self, pos: int, name: str, pipe: Pipe | None) -> None:
        super().__init__(pos, name)
        self.pipe = pipe


class Jump(Node):
    """``{{break}}`` or ``{{continue}}``."""

    __slots__ = ()


# -- parser -----------------------------------------------------------------------


class Parser:
    def __init__(self, text: str, funcs: dict[str, Any]) -> None:
        self.text = text
        self.toks = Lexer(text).run()
        self.i = 0
        self.funcs = funcs
        self.vars = ["$"]
        self.range_depth = 0
        self.defs: dict[str, list[Node]] = {}

    def fail(self, pos: int, msg: str) -> InvalidArgument:
        return InvalidArgument(f"template: :{where(self.text, pos)}: {msg}")

    def next(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def next_ns(self) -> Tok:
        tok = self.next()
        while tok[0] == "space":
            tok = self.next()
        return tok

    def peek_ns(self) -> Tok:
        i = self.i
        while self.toks[i][0] == "space":
            i += 1
        return self.toks[i]

    def unexpected(self, tok: Tok, context: str) -> InvalidArgument:
        if tok[0] == "eof":
            return self.fail(tok[2], f"unexpected EOF in {context}")
        return self.fail(tok[2], f"unexpected {quote(self.text[tok[2] : tok[3]])} in {context}")

    def expect(self, kind: str, context: str) -> Tok:
        tok = self.next_ns()
        if tok[0] != kind:
            raise self.unexpected(tok, context)
        return tok

    def parse(self) -> list[Node]:
        nodes, end = self.items(())
        if end[0] != "eof":
            raise self.fail(end[2], f"unexpected {{{{{end[1]}}}}}")
        return nodes

    def items(self, stops: tuple[str, ...]) -> tuple[list[Node], Tok]:
        """Nodes up to EOF or a ``{{keyword}}`` in ``stops`` (returned, consumed)."""
        nodes: list[Node] = []
        while True:
            tok = self.next()
            if tok[0] == "eof":
                return nodes, tok
            if tok[0] == "text":
                nodes.append(Text(tok[2], tok[1]))
                continue
            first = self.peek_ns()
            if first[0] == "keyword":
                self.next_ns()
                kw = first[1]
                if kw in ("end", "else"):
                    if kw not in stops:
                        raise self.fail(first[2], f"unexpected {{{{{kw}}}}}")
                    return nodes, first
                node = self.keyword(first)
                if node is not None:
                    nodes.append(node)
                continue
            pipe = self.pipeline("command", "right")
            nodes.append(Action(tok[2], self.text[tok[2] : self.toks[self.i - 1][3]], pipe))

    def keyword(self, tok: Tok) -> Node | None:
        kw, pos = tok[1], tok[2]
        if kw in ("if", "with", "range"):
            return self.control(kw, pos)
        if kw in ("break", "continue"):
            if not self.range_depth:
                raise self.fail(pos, f"{{{{{kw}}}}} outside {{{{range}}}}")
            self.expect("right", kw)
            return Jump(pos, kw)
        if kw == "template":
            name = self.expect("string", "template clause")[1]
            pipe = None if self.peek_ns()[0] == "right" else self.pipeline("template", "right")
            if pipe is None:
                self.expect("right", "template clause")
            return Call(pos, name, pipe)
        name = self.expect("string", f"{kw} clause")[1]
        pipe = None
        if kw == "block":
            pipe = None if self.peek_ns()[0] == "right" else self.pipeline("block", "right")
        if pipe is None:
            self.expect("right", f"{kw} clause")
        saved, self.vars = self.vars, ["$"]
        body, end = self.items(("end",))
        self.vars = saved
        if end[0] == "eof":
            raise self.unexpected(end, kw)
        self.expect("right", "end")
        self.defs[name] = body
        return Call(pos, name, pipe) if kw == "block" else None

    def control(self, kw: str, pos: int) -> Control:
        mark = len(self.vars)
        node = Control(pos, kw, self.pipeline(kw, "right"))
        self.range_depth += kw == "range"
        node.body, end = self.items(("end", "else"))
        self.range_depth -= kw == "range"
        if end[0] == "eof":
            raise self.unexpected(end, kw)
        if end[1] == "else":
            nxt = self.peek_ns()
            if nxt[0] == "keyword" and nxt[1] == kw and kw != "range":
                self.next_ns()  # {{else if x}} is {{else}}{{if x}} sharing the {{end}}
                node.orelse = [self.control(kw, nxt[2])]
            else:
                self.expect("right", "else")
                node.orelse, end = self.items(("end",))
                if end[0] == "eof":
                    raise self.unexpected(end, kw)
                self.expect("right", "end")
        else:
            self.expect("right", "end")
        del self.vars[mark:]
        return node

    def declarations(self, pipe: Pipe, context: str) -> None:
        while True:
            var = self.peek_ns()
            if var[0] != "var":
                return
            start = self.i
            self.next_ns()
            after = self.peek_ns()
            if after[0] in ("declare", "assign"):
                self.next_ns()
                pipe.assign = after[0] == "assign"
                if pipe.assign and var[1] not in self.vars:
                    raise self.fail(var[2], f"undefined variable {quote(var[1])}")
                pipe.decl.append(var[1])
                self.vars.append(var[1])
                return
            if after[0] == "comma":
                self.next_ns()
                pipe.decl.append(var[1])
                self.vars.append(var[1])
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_ns()[0] == "var":
                        continue
                    raise self.fail(after[2], "range can only initialize variables")
                raise self.fail(after[2], f"too many declarations in {context}")
            self.i = start
            return

    def pipeline(self, context: str, end: str) -> Pipe:
        pipe = Pipe(self.peek_ns()[2])
        self.declarations(pipe, context)
        while True:
            tok = self.peek_ns()
            if tok[0] == end:  # Go accepts a dangling "|" here: {{.x |}} is {{.x}}
                self.next_ns()
                break
            if tok[0] in ("right", "rparen", "eof", "pipe", "comma", "declare", "assign", "punct"):
                raise self.unexpected(tok, context)
            if tok[0] == "keyword":
                raise self.fail(tok[2], f"unexpected {tok[1]} in {context}")
            pipe.cmds.append(self.command())
        if not pipe.cmds:
            raise self.fail(pipe.pos, f"missing value for {context}")
        for n, cmd in enumerate(pipe.cmds[1:], 2):
            if isinstance(cmd.args[0], (Lit, Dot, Nil)):
                raise self.fail(cmd.pos, f"non executable command in pipeline stage {n}")
        return pipe

    def command(self) -> Cmd:
        start = self.peek_ns()[2]
        args: list[Node] = []
        while True:
            node = self.operand()
            if node is not None:
                args.append(node)
            tok = self.next()
            if tok[0] == "space":
                continue
            if tok[0] in ("right", "rparen"):
                self.i -= 1
            elif tok[0] != "pipe":
                raise self.unexpected(tok, "operand")
            break
        if not args:
            raise self.fail(start, "missing value for command")
        return Cmd(start, self.text[start : self.toks[self.i - 1][3]], args)

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.toks[self.i][0] != "field":
            return node
        names: list[str] = []
        at = self.toks[self.i][2]  # Go places a chain at its first added field
        while self.toks[self.i][0] == "field":
            names.append(self.next()[1][1:])
        src = self.text[node.pos : self.toks[self.i - 1][3]]
        if isinstance(node, Field):  # also Var
            return type(node)(at, src, node.names + names)
        if isinstance(node, (Lit, Nil, Dot)):
            raise self.fail(node.pos, f"unexpected . after term {quote(node.src)}")
        return Chain(at, src, node, names)

    def term(self) -> Node | None:
        tok = self.next_ns()
        kind, val, pos, end = tok
        src = self.text[pos:end]
        if kind == "ident":
            if val not in self.funcs:
                raise self.fail(pos, f"function {quote(val)} not defined")
            return Ident(pos, val)
        if kind == "dot":
            return Dot(pos, ".")
        if kind == "nil":
            return Nil(pos, "nil")
        if kind == "var":
            if val not in self.vars:
                raise self.fail(pos, f"undefined variable {quote(val)}")
            return Var(pos, val, [val])
        if kind == "field":
            return Field(pos, val, [val[1:]])
        if kind == "bool":
            return Lit(pos, val, val == "true")
        if kind in ("number", "char"):
            return Lit(pos, src, self.number(tok))
        if kind == "string":
            return Lit(pos, src, val)
        if kind == "lparen":
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            pipe.src = self.text[pos : self.toks[self.i - 1][3]]
            pipe.pos = pos
            return pipe
        self.i -= 1
        return None

    def number(self, tok: Tok) -> int | float:
        kind, val, pos, _end = tok
        if kind == "char":
            return ord(val)
        if val.endswith("i"):
            raise self.fail(pos, f"complex numbers are not supported: {val}")
        text = val.replace("_", "")
        body = text.lstrip("+-")
        try:
            if body[:2] in ("0x", "0X"):
                if any(c in body for c in ".pP"):
                    return float.fromhex(text)
                return int(text, 16)
            if any(c in body for c in ".eE"):
                return float(text)
            if len(body) > 1 and body[0] == "0" and body[1].isdigit():
                return int(text, 8)  # Go's legacy octal: 0755
            return int(text, 0)
        except ValueError:
            raise self.fail(pos, f"bad number syntax: {quote(val)}") from None
