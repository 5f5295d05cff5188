"""The functions a template can call: Go's builtins and Docker's additions.

A function is ``(callable, parameter kinds, variadic kind or None)``; the kinds
``any``, ``str``, ``int``, ``[]str`` stand for the Go parameter types, and the
executor checks arguments against them as Go's reflection does (``upper 42`` is
``wrong type for value; expected string; got int``). Comparison follows Go's
``funcs.go``: basic kinds only, ``int`` against ``float64`` is ``incompatible types
for comparison``, ``eq`` takes several right-hand operands.
"""

from __future__ import annotations

from dockyard.cli.gotemplate._gofmt import (
    go_type,
    sprint,
    sprint_value,
    sprintf,
    sprintln,
)

TYPE_CHECKING = False  # ``typing`` costs a start-up; mypy honours this constant
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Fn = tuple[Callable[..., Any], tuple[str, ...], str | None]


__all__ = ["FUNCS", "HEADER_FUNCS", "MISSING", "FuncError", "convert", "truth"]


class _Missing:
    """Go's invalid ``reflect.Value``: what a missing map key evaluates to."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Any = _Missing()


class FuncError(Exception):
    """A failure inside a template function; becomes ``error calling NAME: ...``."""


def _kind(v: Any) -> str:
    if v is None or v is MISSING:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "other"


def truth(v: Any) -> bool:
    if v is None or v is MISSING:
        return False
    if isinstance(v, (bool, int, float)):
        return bool(v)
    if isinstance(v, (str, list, tuple, dict)):
        return len(v) > 0
    return True


def _eq(a: Any, *rest: Any) -> bool:
    if not rest:
        raise FuncError("missing argument for comparison")
    ka = _kind(a)
    for b in rest:
        kb = _kind(b)
        if ka != kb:
            if ka != "invalid" and kb != "invalid":
                raise FuncError("incompatible types for comparison")
            continue
        if ka == "other":
            raise FuncError(f"non-comparable type {sprint_value(b)}: {go_type(b)}")
        if ka == "invalid" or a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("int", "float", "string") or kb not in ("int", "float", "string"):
        raise FuncError("invalid type for comparison")
    if ka != kb:
        raise FuncError("incompatible types for comparison")
    return bool(a < b)


def index_fn(item: Any, *keys: Any, zero: Callable[[dict[Any, Any]], Any] = lambda m: None) -> Any:
    if item is None or item is MISSING:
        raise FuncError("index of untyped nil")
    for key in keys:
        if item is None:  # a null inside the data: Go's nil interface
            raise FuncError("index of nil pointer")
        if isinstance(item, dict):  # JSON objects: map[string]...
            if not isinstance(key, str):
                raise FuncError(f"value has type {go_type(key)}; should be string")
            item = item[key] if key in item else zero(item)
            continue
        if isinstance(item, (list, tuple, str)):
            if not isinstance(key, int) or isinstance(key, bool):
                raise FuncError(f"cannot index slice/array with type {go_type(key)}")
            if not 0 <= key < len(item if not isinstance(item, str) else item.encode()):
                raise FuncError(f"index out of range: {key}")
            item = item[key] if not isinstance(item, str) else item.encode()[key]
            continue
        raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def docker_zero(m: dict[Any, Any]) -> Any:
    """``index``'s zero value for an absent key of docker's typed maps.

    Go gives the zero value of the map's element type: nil for the
    ``map[string]interface{}`` of decoded JSON, but ``""`` for docker's labels and
    options (``map[string]string``). The element type is read off the values.
    """
    kinds = {type(v) for v in m.values()}
    if len(kinds) > 1:
        return None
    kind = kinds.pop() if kinds else str
    return {str: "", int: 0, float: 0.0, bool: False, list: [], dict: {}}.get(kind)


def _slice(item: Any, *idx: int) -> Any:
    """Go's ``slice``: bytes of a string, elements of a list; ``item[i:j:k]`` for lists."""
    if item is None or item is MISSING:
        raise FuncError("slice of untyped nil")
    if len(idx) > 3:
        raise FuncError(f"too many slice indexes: {len(idx)}")
    if isinstance(item, str) and len(idx) == 3:
        raise FuncError("cannot 3-index slice a string")
    if not isinstance(item, (list, tuple, str)):
        raise FuncError(f"can't slice item of type {go_type(item)}")
    seq: Any = item.encode() if isinstance(item, str) else item
    bounds = [0, len(seq), len(seq)]
    for i, x in enumerate(idx):
        if not 0 <= x <= len(seq):
            raise FuncError(f"index out of range: {x}")
        bounds[i] = x
    if bounds[0] > bounds[1]:
        raise FuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if bounds[1] > bounds[2]:
        raise FuncError(f"invalid slice index: {bounds[1]} > {bounds[2]}")
    out = seq[bounds[0] : bounds[1]]
    return out.decode(errors="replace") if isinstance(item, str) else list(out)


def _len(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, (list, tuple, dict)):
        return len(v)
    raise FuncError(f"len of type {go_type(v)}" if v is not None else "len of nil pointer")


def _to_json(v: Any) -> str:
    """Docker's ``json``: Go's encoder, compact, HTML left alone, map keys sorted."""
    import json

    def norm(x: Any) -> Any:
        if isinstance(x, float) and x.is_integer() and abs(x) < 1e21:
            return int(x)
        if isinstance(x, dict):  # methods (callables) are not data: docker marshals fields
            return {str(k): norm(y) for k, y in x.items() if not callable(y)}
        if isinstance(x, (list, tuple)):
            return [norm(y) for y in x]
        return x

    out = json.dumps(norm(v), separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _title(s: str) -> str:
    """``cases.Title(language.Und, cases.NoLower)``: each word's first letter upper."""
    out: list[str] = []
    prev = " "
    for ch in s:
        boundary = not (prev.isalnum() or prev in "_'\u2019")
        out.append(ch.upper() if boundary and ch.isalpha() else ch)
        prev = ch
    return "".join(out)


def _split(s: str, sep: str) -> list[str]:
    return list(s) if sep == "" else s.split(sep)


def _truncate(s: str, n: int) -> str:
    return s if len(s) < n else s[:n]


def _pad(s: str, prefix: int, suffix: int) -> str:
    return s and " " * prefix + s + " " * suffix


def _escaper_text(args: tuple[Any, ...]) -> str:
    """Go's ``evalArgs`` for html/js/urlquery: a nil operand reads ``<no value>``."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(*("<no value>" if a is None else a for a in args))


def _html(*args: Any) -> str:
    s = _escaper_text(args)
    for a, b in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;")):
        s = s.replace(a, b)
    return s.replace("\0", "\ufffd")


def _js(*args: Any) -> str:
    out: list[str] = []
    for ch in _escaper_text(args):
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=" or ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus

    return quote_plus(_escaper_text(args), safe="")


def _no_call(*_args: Any) -> Any:
    raise FuncError("call of functions stored in data is not supported")


FUNCS: dict[str, Fn] = {
    "and": (truth, ("any",), "any"),  # evaluated lazily by the executor
    "or": (truth, ("any",), "any"),
    "not": (lambda v: not truth(v), ("any",), None),
    "len": (_len, ("any",), None),
    "index": (index_fn, ("any",), "any"),
    "slice": (_slice, ("any",), "int"),
    "print": (sprint, (), "any"),
    "printf": (sprintf, ("str",), "any"),
    "println": (sprintln, (), "any"),
    "html": (_html, (), "any"),
    "js": (_js, (), "any"),
    "urlquery": (_urlquery, (), "any"),
    "call": (_no_call, ("any",), "any"),
    "eq": (_eq, ("any",), "any"),
    "ne": (lambda a, b: not _eq(a, b), ("any", "any"), None),
    "lt": (_lt, ("any", "any"), None),
    "le": (lambda a, b: _lt(a, b) or _eq(a, b), ("any", "any"), None),
    "gt": (lambda a, b: not (_lt(a, b) or _eq(a, b)), ("any", "any"), None),
    "ge": (lambda a, b: not _lt(a, b), ("any", "any"), None),
    # Docker's additions (cli/templates): the same names and signatures
    "json": (_to_json, ("any",), None),
    "split": (_split, ("str", "str"), None),
    "join": (lambda v, sep: sep.join(v), ("[]str", "str"), None),
    "title": (_title, ("str",), None),
    "lower": (lambda s: s.lower(), ("str",), None),
    "upper": (lambda s: s.upper(), ("str",), None),
    "pad": (_pad, ("str", "int", "int"), None),
    "truncate": (_truncate, ("str", "int"), None),
}

# Docker renders a table's header row with these: each returns its first argument,
# so ``{{upper .Name}}`` heads its column NAME rather than upper-casing the header.
HEADER_FUNCS: dict[str, Fn] = FUNCS | {
    name: (lambda v, *_rest: v, ("any",) * len(FUNCS[name][1]), None)
    for name in ("json", "split", "join", "title", "lower", "upper", "truncate")
}


def convert(kind: str, v: Any) -> Any:
    if kind == "any":
        return None if v is MISSING else v
    want = {"str": "string", "int": "int", "[]str": "[]string"}[kind]
    if v is MISSING or v is None:
        raise FuncError(f"invalid value; expected {want}")
    ok = (
        isinstance(v, str)
        if kind == "str"
        else (isinstance(v, int) and not isinstance(v, bool))
        if kind == "int"
        else isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)
    )
    if not ok:
        raise FuncError(f"wrong type for value; expected {want}; got {go_type(v)}")
    return v
