"""Go's ``fmt`` as text/template uses it: ``{{.}}``, ``print``, ``println``, ``printf``.

Values are what JSON decodes to (``None``, ``bool``, ``int``, ``float``, ``str``,
``list``, ``dict``); each prints the way Go prints the ``interface{}`` holding it:

* ``%v`` (and ``{{.}}``): ``true``, ``42``, floats in Go's shortest form (``1e+06``,
  ``0.5``), lists ``[a b]``, maps ``map[k:v]`` in sorted key order, ``None`` ``<nil>``.
* ``printf`` verbs ``v s q d b o O x X c U e E f F g G t T %`` with flags ``+-# 0``,
  widths and precisions (``%-20s``, ``%5d``, ``%.2f``, ``%*d``); a verb that does not
  fit its operand prints Go's ``%!d(string=x)``, a missing operand ``%!d(MISSING)``,
  left-over operands ``%!(EXTRA string=x)``.

Written here rather than mapped onto Python's ``%`` because the two differ in every
corner a user sees: ``%v`` of a list or a float, ``%q``, ``%x`` of a string, the
error forms, and widths counted in characters.
"""

from __future__ import annotations

import math

TYPE_CHECKING = False  # ``typing`` costs a start-up; mypy honours this constant
if TYPE_CHECKING:
    from typing import Any


__all__ = ["go_type", "key_order", "quote", "sprint", "sprint_value", "sprintf", "sprintln"]


def go_type(v: Any) -> str:
    """The Go type name that JSON decoding into ``interface{}`` gives ``v``."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return type(v).__name__


def _float_shortest(f: float, fixed_limit: int = 6) -> str:
    """Go's ``strconv.FormatFloat(f, 'g', -1, 64)``: shortest digits, ``%e`` beyond 1e6."""
    if math.isnan(f):
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if f < 0 or (f == 0 and str(f).startswith("-")) else ""
    mant, _, e = repr(abs(f)).partition("e")
    intpart, _, frac = mant.partition(".")
    raw = intpart + frac
    stripped = raw.lstrip("0")
    digits = stripped.rstrip("0")
    if not digits:
        return sign + "0"
    dp = len(intpart) + int(e or 0) - (len(raw) - len(stripped))
    exp = dp - 1
    if exp < -4 or exp >= fixed_limit:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def sprint_value(v: Any) -> str:
    """``fmt.Sprint(v)`` for one operand (``%v``)."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return _float_shortest(v)
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(sprint_value(x) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=key_order)
        return "map[" + " ".join(f"{sprint_value(k)}:{sprint_value(x)}" for k, x in items) + "]"
    return str(v)


def key_order(item: tuple[Any, Any]) -> tuple[int, Any]:
    """Go's ``fmt`` and ``range`` order map keys: numbers numerically, strings bytewise."""
    k = item[0]
    if isinstance(k, (int, float)) and not isinstance(k, bool):
        return (0, k)
    return (1, str(k).encode())


def sprint(*args: Any) -> str:
    """``fmt.Sprint``: a space between operands when neither side is a string."""
    out: list[str] = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(sprint_value(a))
    return "".join(out)


def sprintln(*args: Any) -> str:
    """``fmt.Sprintln``: operands separated by spaces, then a newline."""
    return " ".join(sprint_value(a) for a in args) + "\n"


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES |= {"\v": "\\v", "\\": "\\\\"}


def quote(s: str, q: str = '"') -> str:
    """``strconv.Quote``: Go escapes, printable characters kept as they are."""
    out = [q]
    for ch in s:
        if ch in (q, "\\"):
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append(q)
    return "".join(out)


class _Spec:
    """One parsed ``%[flags][width][.prec]verb``."""

    __slots__ = ("minus", "plus", "prec", "sharp", "space", "verb", "width", "zero")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.space = self.zero = False
        self.width: int | None = None
        self.prec: int | None = None
        self.verb = ""

    def pad(self, s: str) -> str:
        if self.width is None or len(s) >= self.width:
            return s
        fill = self.width - len(s)
        if self.minus:
            return s + " " * fill
        if self.zero:
            if s[:1] in "+- " and s[:1]:
                return s[0] + "0" * fill + s[1:]
            return "0" * fill + s
        return " " * fill + s


def _bad(spec: _Spec, v: Any) -> str:
    if v is None:
        return f"%!{spec.verb}(<nil>)"
    return f"%!{spec.verb}({go_type(v)}={sprint_value(v)})"


def _fmt_int(spec: _Spec, n: int) -> str:
    verb = spec.verb
    if verb == "c":
        return spec.pad(chr(n) if 0 <= n <= 0x10FFFF else "\ufffd")
    if verb == "q":
        return spec.pad(quote(chr(n), "'") if 0 <= n <= 0x10FFFF else "'\ufffd'")
    if verb == "U":
        body = f"U+{n:04X}"
        if spec.sharp and 0 <= n <= 0x10FFFF and chr(n).isprintable():
            body += f" '{chr(n)}'"
        return spec.pad(body)
    base = {"d": "d", "v": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}[verb]
    digits = format(abs(n), base)
    if spec.prec is not None:
        digits = "" if spec.prec == 0 and n == 0 else digits.rjust(spec.prec, "0")
    prefix = ""
    if verb == "O" or (spec.sharp and verb == "o" and not digits.startswith("0")):
        prefix = "0o" if verb == "O" else "0"
    elif spec.sharp and verb in "xX":
        prefix = "0" + verb
    elif spec.sharp and verb == "b":
        prefix = "0b"
    sign = "-" if n < 0 else "+" if spec.plus else " " if spec.space else ""
    if spec.zero and not spec.minus and spec.prec is None and spec.width is not None:
        digits = digits.rjust(spec.width - len(sign) - len(prefix), "0")
    return spec.pad(sign + prefix + digits)


def _fmt_float(spec: _Spec, f: float) -> str:
    verb = "g" if spec.verb == "v" else spec.verb
    if not math.isfinite(f):
        zero, spec.zero = spec.zero, False  # Go never zero-pads NaN and Inf
        out = spec.pad(_float_shortest(f))
        spec.zero = zero
        return out
    if verb in "gG" and spec.prec is None:
        body = _float_shortest(f)
        if verb == "G":
            body = body.upper()
    elif verb in "gG":
        body = format(f, f".{spec.prec}{verb}")
        if "e" in body.lower():
            m, _, e = body.partition("e" if verb == "g" else "E")
            body = f"{m}{'e' if verb == 'g' else 'E'}{e[0]}{int(e[1:]):02d}"
    else:
        py = {"e": "e", "E": "E", "f": "f", "F": "f"}[verb]
        body = format(f, f".{6 if spec.prec is None else spec.prec}{py}")
    if spec.plus and not body.startswith("-"):
        body = "+" + body
    elif spec.space and not body.startswith("-"):
        body = " " + body
    return spec.pad(body)


def _fmt_str(spec: _Spec, s: str) -> str:
    verb = spec.verb
    if spec.prec is not None and verb in "svq":
        s = s[: spec.prec]
    if verb in "sv":
        return spec.pad(s)
    if verb == "q":
        if spec.sharp and "`" not in s and s.isprintable():
            return spec.pad("`" + s + "`")
        return spec.pad(quote(s))
    data = s.encode()
    if spec.prec is not None:
        data = data[: spec.prec]
    sep = " " if spec.space else ""
    parts = [format(b, "02x" if verb == "x" else "02X") for b in data]
    if spec.sharp:
        parts = ["0" + verb + p for p in parts] if sep else parts
        joined = sep.join(parts)
        return spec.pad(joined if sep else ("0" + verb + joined if joined else ""))
    return spec.pad(sep.join(parts))


def _format_one(spec: _Spec, v: Any) -> str:
    verb = spec.verb
    if verb == "T":
        return spec.pad(go_type(v) if v is not None else "<nil>")
    if v is None:
        return spec.pad("<nil>") if verb == "v" else _bad(spec, v)
    if isinstance(v, bool):
        return spec.pad("true" if v else "false") if verb in "vt" else _bad(spec, v)
    if isinstance(v, int):
        return _fmt_int(spec, v) if verb in "vdboOxXcqU" else _bad(spec, v)
    if isinstance(v, float):
        return _fmt_float(spec, v) if verb in "veEfFgG" else _bad(spec, v)
    if isinstance(v, str):
        return _fmt_str(spec, v) if verb in "svqxX" else _bad(spec, v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_format_elem(spec, x) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=key_order)
        cells = [f"{_format_elem(spec, k)}:{_format_elem(spec, x)}" for k, x in items]
        return "map[" + " ".join(cells) + "]"
    return spec.pad(str(v)) if verb in "sv" else _bad(spec, v)


def _format_elem(spec: _Spec, v: Any) -> str:
    """An element of a list or map: a nil one is ``<nil>`` whatever the verb."""
    return "<nil>" if v is None else _format_one(spec, v)


def _parse_num(fmt: str, i: int) -> tuple[int | None, int]:
    j = i
    while j < len(fmt) and fmt[j].isdigit():
        j += 1
    return (int(fmt[i:j]) if j > i else None), j


def sprintf(fmt: str, *args: Any) -> str:
    """``fmt.Sprintf`` over JSON-shaped operands."""
    out: list[str] = []
    argi = 0
    i, n = 0, len(fmt)
    while i < n:
        pct = fmt.find("%", i)
        if pct < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:pct])
        i = pct + 1
        spec = _Spec()
        while i < n and fmt[i] in "+-# 0":
            c = fmt[i]
            spec.plus |= c == "+"
            spec.minus |= c == "-"
            spec.sharp |= c == "#"
            spec.space |= c == " "
            spec.zero |= c == "0"
            i += 1
        if i < n and fmt[i] == "*":
            i += 1
            if argi < len(args) and isinstance(args[argi], int):
                spec.width = args[argi]
                if spec.width < 0:
                    spec.minus, spec.width = True, -spec.width
            else:
                out.append("%!(BADWIDTH)")
            argi += 1
        else:
            spec.width, i = _parse_num(fmt, i)
        if i < n and fmt[i] == ".":
            i += 1
            if i < n and fmt[i] == "*":
                i += 1
                ok = argi < len(args) and isinstance(args[argi], int) and args[argi] >= 0
                spec.prec = args[argi] if ok else None
                if not ok:
                    out.append("%!(BADPREC)")
                argi += 1
            else:
                p, i = _parse_num(fmt, i)
                spec.prec = p or 0
        if i >= n:
            out.append("%!(NOVERB)")
            break
        spec.verb = fmt[i]
        i += 1
        if spec.verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{spec.verb}(MISSING)")
            continue
        out.append(_format_one(spec, args[argi]))
        argi += 1
    if argi < len(args):
        extra = ", ".join(
            "<nil>" if a is None else f"{go_type(a)}={sprint_value(a)}" for a in args[argi:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
