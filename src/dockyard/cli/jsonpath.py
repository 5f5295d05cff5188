"""kubectl's JSONPath (``-o jsonpath=``) and ``-o custom-columns=`` (pure).

Template: literal text with ``{EXPR}`` actions, ``{range EXPR}...{end}``, ``{"text"}``.
EXPR is a path from the current object (``$`` or ``@`` optional at its start):

- ``.name`` or ``['name']`` a field; ``..name`` that field at any depth (recursive descent)
- ``[n]`` (negative from the end), ``[a:b]`` a slice, ``[*]`` / ``.*`` every element
- ``[a,b]`` several fields or indices
- ``[?(@.type=="Ready")]`` the elements for which a comparison holds: ``== != < <= > >=``
  against a quoted string or a number; ``[?(@.field)]`` those where the field exists.
  The left side may be ``@.a.b[0]`` (any path from the element).

Several results are joined with a space (kubectl's); a map or a list prints as JSON.
Errors are InvalidArgument with kubectl's wording (``error parsing jsonpath ...``).

``custom-columns=NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status``:
one column per ``HEADER:PATH`` (braces optional); several results are joined with ``,``,
none print ``<none>``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from dockyard.errors import InvalidArgument

__all__ = ["custom_columns", "evaluate", "jsonpath"]


def jsonpath(data: Any, template: str) -> str:
    """Render ``template`` against ``data``."""
    template = template.strip()
    if len(template) > 1 and template[0] == template[-1] and template[0] in "'\"":
        template = template[1:-1]
    out: list[str] = []
    _render(data, _tokens(template), out)
    return "".join(out).replace("\\n", "\n").replace("\\t", "\t")


def _tokens(template: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            tokens.append(("text", template[i:]))
            break
        if j > i:
            tokens.append(("text", template[i:j]))
        k = _closing(template, j)
        expr = template[j + 1 : k].strip()
        if expr.startswith("range "):
            tokens.append(("range", expr[6:].strip()))
        elif expr == "end":
            tokens.append(("end", ""))
        elif len(expr) > 1 and expr[0] == expr[-1] == '"':
            tokens.append(("text", expr[1:-1]))
        else:
            tokens.append(("expr", expr))
        i = k + 1
    depth = sum({"range": 1, "end": -1}.get(kind, 0) for kind, _ in tokens)
    if depth:
        raise InvalidArgument(f"error parsing jsonpath {template}: unbalanced range/end")
    return tokens


def _closing(template: str, start: int) -> int:
    """The ``}`` that closes the action opened at ``start`` (quotes may hold braces)."""
    quote = ""
    for k in range(start + 1, len(template)):
        ch = template[k]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "}":
            return k
    raise InvalidArgument(f"error parsing jsonpath {template}: unclosed action")


def _render(data: Any, tokens: list[tuple[str, str]], out: list[str]) -> None:
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "text":
            out.append(value)
        elif kind == "expr":
            out.append(" ".join(_str(v) for v in evaluate(data, value)))
        elif kind == "range":
            depth, j = 1, i + 1
            while j < len(tokens) and depth:
                depth += {"range": 1, "end": -1}.get(tokens[j][0], 0)
                j += 1
            for item in evaluate(data, value):
                _render(item, tokens[i + 1 : j - 1], out)
            i = j
            continue
        i += 1


def _str(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


# ---------------------------------------------------------------------- paths

_NAME = re.compile(r"[A-Za-z0-9_\-/]+|\*")


def _steps(expr: str) -> list[tuple[str, str]]:
    """``.a..b[0][?(@.x=="y")]`` → [("field","a"), ("deep","b"), ("index","0"),
    ("filter", '@.x=="y"')]."""
    steps: list[tuple[str, str]] = []
    i = 0
    while i < len(expr):
        if expr.startswith("..", i):
            m = _NAME.match(expr, i + 2)
            if not m:
                raise InvalidArgument(f"error parsing jsonpath {{{expr}}}: bad name after ..")
            steps.append(("deep", m.group()))
            i = m.end()
        elif expr[i] == ".":
            m = _NAME.match(expr, i + 1)
            if not m:
                raise InvalidArgument(f"error parsing jsonpath {{{expr}}}: bad field at {i}")
            steps.append(("field", m.group()))
            i = m.end()
        elif expr[i] == "[":
            k = _bracket_end(expr, i)
            inner = expr[i + 1 : k].strip()
            if inner.startswith("?"):
                cond = inner[1:].strip().removeprefix("(").removesuffix(")")
                _filter(cond)  # refused now, even if nothing reaches it
                steps.append(("filter", cond))
            else:
                steps.append(("index", inner))
            i = k + 1
        else:
            m = _NAME.match(expr, i)
            if not m or i:
                raise InvalidArgument(f"error parsing jsonpath {{{expr}}}: unexpected {expr[i]!r}")
            steps.append(("field", m.group()))  # a leading bare name: {metadata.name}
            i = m.end()
    return steps


def _bracket_end(expr: str, start: int) -> int:
    quote, depth = "", 0
    for k in range(start, len(expr)):
        ch = expr[k]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if not depth:
                return k
    raise InvalidArgument(f"error parsing jsonpath {{{expr}}}: unclosed [")


def evaluate(data: Any, expr: str) -> list[Any]:
    """Every value ``expr`` selects from ``data``."""
    expr = expr.strip()
    if expr[:1] in ("$", "@"):
        expr = expr[1:]
    current = [data]
    for kind, arg in _steps(expr):
        nxt: list[Any] = []
        for v in current:
            nxt += _step(v, kind, arg)
        current = nxt
    return current


def _children(v: Any) -> list[Any]:
    return list(v.values()) if isinstance(v, dict) else list(v) if isinstance(v, list) else []


def _step(v: Any, kind: str, arg: str) -> list[Any]:
    if kind == "field":
        if arg == "*":
            return _children(v)
        return [v[arg]] if isinstance(v, dict) and arg in v else []
    if kind == "deep":
        found = [v[arg]] if isinstance(v, dict) and arg in v else []
        for child in _children(v):
            found += _step(child, "deep", arg)
        return found
    if kind == "filter":
        return [item for item in _children(v) if _holds(item, arg)]
    return _index(v, arg)


def _index(v: Any, arg: str) -> list[Any]:
    if arg == "*":
        return _children(v)
    out: list[Any] = []
    for raw in _split_top(arg, ","):
        part = raw.strip()
        if len(part) > 1 and part[0] == part[-1] and part[0] in "'\"":
            key = part[1:-1]
            if isinstance(v, dict) and key in v:
                out.append(v[key])
        elif ":" in part and isinstance(v, list):
            a, _, b = part.partition(":")
            out += v[slice(_int(a, arg), _int(b, arg))]
        elif re.fullmatch(r"-?\d+", part):
            n = int(part)
            if isinstance(v, list) and -len(v) <= n < len(v):
                out.append(v[n])
        elif isinstance(v, dict) and part in v:
            out.append(v[part])
    return out


def _int(s: str, arg: str) -> int | None:
    s = s.strip()
    if not s:
        return None
    if not re.fullmatch(r"-?\d+", s):
        raise InvalidArgument(f"error parsing jsonpath [{arg}]: bad slice")
    return int(s)


def _split_top(s: str, sep: str) -> list[str]:
    parts, quote, start = [], "", 0
    for k, ch in enumerate(s):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == sep:
            parts.append(s[start:k])
            start = k + 1
    return [*parts, s[start:]]


_CMP = re.compile(r"^\s*(@[^=!<>\s]*)\s*(==|!=|<=|>=|<|>)\s*(.+?)\s*$")


def _filter(cond: str) -> tuple[str, str, Any]:
    """``@.type=="Ready"`` → ("@.type", "==", "Ready"); ``@.name`` → ("@.name", "", None)."""
    m = _CMP.match(cond)
    left, op, right = (m.group(1), m.group(2), _literal(m.group(3), cond)) if m else (
        cond.strip(), "", None)  # fmt: skip
    if not left.startswith("@"):
        raise InvalidArgument(f"error parsing jsonpath [?({cond})]: unrecognized filter")
    try:
        _steps(left[1:])
    except InvalidArgument:
        raise InvalidArgument(f"error parsing jsonpath [?({cond})]: unrecognized filter") from None
    return left, op, right


def _holds(item: Any, cond: str) -> bool:
    """``@.type=="Ready"``, ``@.port>80``, ``@.name`` (exists)."""
    left, op, right = _filter(cond)
    values = evaluate(item, left)
    if not op:
        return bool(values)
    return any(_compare(value, op, right) for value in values)


def _literal(s: str, cond: str) -> Any:
    if len(s) > 1 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    try:
        return float(s) if "." in s else int(s)
    except ValueError:
        if s in ("true", "false"):
            return s == "true"
        raise InvalidArgument(f"error parsing jsonpath [?({cond})]: bad value {s}") from None


def _compare(value: Any, op: str, right: Any) -> bool:
    if isinstance(right, str):
        value = _str(value)
    elif isinstance(right, bool):
        if not isinstance(value, bool):
            return op == "!="
    elif not isinstance(value, (int, float)) or isinstance(value, bool):
        return op == "!="
    if op == "==":
        return bool(value == right)
    if op == "!=":
        return bool(value != right)
    try:
        return bool({"<": value < right, "<=": value <= right, ">": value > right,
                     ">=": value >= right}[op])  # fmt: skip
    except TypeError:
        return False


# ---------------------------------------------------------------------- custom columns


def custom_columns(spec: str) -> list[tuple[str, str]]:
    """``NAME:.metadata.name,IMAGE:.spec.containers[*].image`` → [(header, path)]."""
    cols = []
    for part in _split_top(spec, ","):
        header, sep, expr = part.partition(":")
        if not sep or not header or not expr.strip():
            raise InvalidArgument(
                f'custom-columns format specified but no custom columns given: "{part}" '
                "(expected HEADER:JSONPATH)"
            )
        expr = expr.strip()
        if expr.startswith("{") and expr.endswith("}"):
            expr = expr[1:-1]
        _steps(expr.lstrip("$@"))  # refuse a bad path before any request
        cols.append((header, expr))
    return cols


def column_value(item: Any, expr: str) -> str:
    values = evaluate(item, expr)
    return ",".join(_str(v) for v in values) if values else "<none>"
