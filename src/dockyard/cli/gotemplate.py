"""A small subset of Go's text/template, as ``docker inspect --format`` uses it.

Supported: text and ``{{ pipeline }}`` actions; ``.`` and field chains
``.State.Pid`` (map keys or attributes); ``$`` for the root; functions
``json``, ``index``, ``len``, ``upper``, ``lower``, ``title``, ``join``,
``println``, ``print``, ``printf`` (``%s %d %v`` only); ``{{if}}``/``{{else}}``/
``{{end}}`` and ``{{range}}``/``{{end}}``; ``{{- `` and `` -}}`` trim markers.
Anything else is an InvalidArgument naming the template position.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.records import field, record

__all__ = ["render"]

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


@record(frozen=False)
class _Node:
    kind: str  # text, expr, if, range
    value: str = ""
    body: list[_Node] = field(default_factory=list)
    orelse: list[_Node] = field(default_factory=list)


def _tokens(tpl: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    for m in _ACTION.finditer(tpl):
        text = tpl[pos : m.start()]
        if m.group(1):
            text = text.rstrip()
        if out and out[-1][0] == "trim":
            out.pop()
            text = text.lstrip()
        if text:
            out.append(("text", text))
        out.append(("action", m.group(2).strip()))
        if m.group(3):
            out.append(("trim", ""))
        pos = m.end()
    rest = tpl[pos:]
    if out and out[-1][0] == "trim":
        out.pop()
        rest = rest.lstrip()
    if "{{" in rest:
        raise InvalidArgument(f"template: unclosed action at offset {tpl.rfind('{{')}")
    if rest:
        out.append(("text", rest))
    return out


def _parse(
    tokens: list[tuple[str, str]], i: int, stop: tuple[str, ...]
) -> tuple[list[_Node], int, str]:
    nodes: list[_Node] = []
    while i < len(tokens):
        kind, value = tokens[i]
        i += 1
        if kind == "text":
            nodes.append(_Node("text", value))
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in stop:
            return nodes, i, word
        if word in ("if", "range"):
            node = _Node(word, value[len(word) :].strip())
            node.body, i, ended = _parse(tokens, i, ("else", "end"))
            if ended == "else":
                node.orelse, i, ended = _parse(tokens, i, ("end",))
            if ended != "end":
                raise InvalidArgument(f"template: unexpected EOF in {word}")
            nodes.append(node)
        elif word in ("else", "end"):
            raise InvalidArgument(f"template: unexpected {{{{{word}}}}}")
        elif value.startswith("/*"):
            continue
        else:
            nodes.append(_Node("expr", value))
    if stop:
        raise InvalidArgument("template: unexpected EOF")
    return nodes, i, ""


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, dict):
        if name in obj:
            return obj[name]
        raise InvalidArgument(f"template: map has no entry for key {name!r}")
    if hasattr(obj, name):
        return getattr(obj, name)
    raise InvalidArgument(f"template: can't evaluate field {name}")


def _to_text(v: Any) -> str:
    if v is None:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + " ".join(_to_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_to_text(x)}" for k, x in sorted(v.items())) + "]"
    return str(v)


def _printf(fmt: str, *args: Any) -> str:
    it = iter(args)
    return re.sub(
        r"%[sdvq]", lambda m: (json.dumps if m.group() == "%q" else _to_text)(next(it, "")), fmt
    )


_FUNCS: dict[str, Callable[..., Any]] = {
    "json": lambda v: json.dumps(v, separators=(",", ":")),
    "index": lambda v, *keys: _index(v, keys),
    "len": len,
    "upper": lambda s: str(s).upper(),
    "lower": lambda s: str(s).lower(),
    "title": lambda s: str(s).title(),
    "join": lambda v, sep: str(sep).join(_to_text(x) for x in v),
    "println": lambda *a: " ".join(_to_text(x) for x in a) + "\n",
    "print": lambda *a: "".join(_to_text(x) for x in a),
    "printf": _printf,
}


def _index(v: Any, keys: tuple[Any, ...]) -> Any:
    for k in keys:
        try:
            v = v[k]
        except (KeyError, IndexError, TypeError):
            return None
    return v


class _Eval:
    def __init__(self, root: Any) -> None:
        self.root = root

    def operand(self, tok: str, dot: Any) -> Any:
        if tok.startswith('"') or tok.startswith("'") or tok.startswith("`"):
            return tok[1:-1]
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if tok in ("true", "false"):
            return tok == "true"
        if tok.startswith("$"):
            base, rest = self.root, tok[1:]
        elif tok.startswith("."):
            base, rest = dot, tok
        else:
            raise InvalidArgument(f"template: function {tok!r} not defined")
        for name in rest.split(".")[1:] if rest.startswith(".") else []:
            if name:
                base = _field(base, name)
        return base

    def command(self, words: list[str], dot: Any, piped: list[Any]) -> Any:
        head = words[0]
        if head in _FUNCS:
            args = [self.operand(w, dot) for w in words[1:]] + piped
            return _FUNCS[head](*args)
        if len(words) > 1:
            raise InvalidArgument(f"template: can't give argument to non-function {head}")
        return self.operand(head, dot)

    def pipeline(self, text: str, dot: Any) -> Any:
        piped: list[Any] = []
        for part in text.split("|"):
            try:
                words = shlex.split(part.strip(), posix=False)
            except ValueError as exc:
                raise InvalidArgument(f"template: {exc}") from None
            if not words:
                raise InvalidArgument("template: missing value for command")
            piped = [self.command(words, dot, piped)]
        return piped[0]

    def render(self, nodes: list[_Node], dot: Any, out: list[str]) -> None:
        for n in nodes:
            if n.kind == "text":
                out.append(n.value)
            elif n.kind == "expr":
                out.append(_to_text(self.pipeline(n.value, dot)))
            elif n.kind == "if":
                self.render(n.body if self.pipeline(n.value, dot) else n.orelse, dot, out)
            else:
                items = self.pipeline(n.value, dot)
                seq = list(items.values()) if isinstance(items, dict) else list(items or [])
                if not seq:
                    self.render(n.orelse, dot, out)
                for item in seq:
                    self.render(n.body, item, out)


def render(template: str, data: Any) -> str:
    """Render ``template`` against ``data`` (dicts, lists, scalars)."""
    nodes, _i, _end = _parse(_tokens(template), 0, ())
    out: list[str] = []
    _Eval(data).render(nodes, data, out)
    return "".join(out)
