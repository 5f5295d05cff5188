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


def quote(s: str, q: str = '"', ascii_only: bool = False) -> str:
    """``strconv.Quote`` (``QuoteToASCII`` with ``ascii_only``): Go's escapes."""
    out = [q]
    for ch in s:
        if ch in (q, "\\"):
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif (ch.isprintable() or ch == " ") and (ch.isascii() or not ascii_only):
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

    __slots__ = ("minus", "plus", "prec", "sharp", "sharp_v", "space", "verb", "width", "zero")

    def __init__(self) -> None:
        self.minus = self.plus = self.sharp = self.sharp_v = self.space = self.zero = False
        self.width: int | None = None
        self.prec: int | None = None
        self.verb = ""

    def pad(self, s: str) -> str:
        """Go's ``fmt.pad``: to the width, on the left with spaces (or zeros), or right."""
        if self.width is None or len(s) >= self.width:
            return s
        fill = self.width - len(s)
        if self.minus:
            return s + " " * fill
        return ("0" if self.zero else " ") * fill + s

    def pad_number(self, s: str) -> str:
        """Zero padding goes between the sign and the digits (``%05d`` of -42: -0042)."""
        if self.zero and self.width is not None and s[:1] in ("+", "-", " ") and s:
            return s[0] + s[1:].rjust(self.width - 1, "0")
        return self.pad(s)

    def copy(self, verb: str) -> _Spec:
        spec = _Spec()
        for name in self.__slots__:
            setattr(spec, name, getattr(self, name))
        spec.verb = verb
        return spec


def _bad(spec: _Spec, v: Any) -> str:
    """Go's ``badVerb``: ``%!d(string=hi)``, the operand printed with ``%v`` and the flags."""
    if v is None:
        return f"%!{spec.verb}(<nil>)"
    return f"%!{spec.verb}({go_type(v)}={_format_one(spec.copy('v'), v)})"


def _fmt_int(spec: _Spec, n: int) -> str:
    verb = spec.verb
    if verb == "c":
        return spec.pad(chr(n) if 0 <= n <= 0x10FFFF else "\ufffd")
    if verb == "q":
        return spec.pad(quote(chr(n) if 0 <= n <= 0x10FFFF else "\ufffd", "'", spec.plus))
    if verb == "U":
        body = f"U+{n % 2**64:0{max(4, spec.prec or 0)}X}"  # as uint64, 4 digits at least
        if spec.sharp and 0 <= n <= 0x10FFFF and chr(n).isprintable():
            body += f" '{chr(n)}'"
        return _pad_spaces(spec, body)
    if spec.prec == 0 and n == 0:  # Go: precision 0 and value 0 print nothing but padding
        return _pad_spaces(spec, "")
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
        digits = digits.rjust(spec.width - len(sign), "0")  # as Go: the 0x is extra
    return _pad_spaces(spec, sign + prefix + digits)


def _pad_spaces(spec: _Spec, s: str) -> str:
    """Pad with spaces even under ``0`` (Go's integers did their zeros as precision)."""
    zero, spec.zero = spec.zero, False
    out = spec.pad(s)
    spec.zero = zero
    return out


def _fmt_float(spec: _Spec, f: float) -> str:
    """Go's ``fmt.fmtFloat`` over ``strconv.FormatFloat``."""
    verb = spec.verb
    if not math.isfinite(f):  # never zero-padded; NaN signed only when asked
        body = "NaN" if math.isnan(f) else ("+Inf" if f > 0 else "-Inf")
        if math.isnan(f) and (spec.plus or spec.space):
            body = ("+" if spec.plus else " ") + body
        elif f > 0 and spec.space and not spec.plus:
            body = " Inf"
        zero, spec.zero = spec.zero, False
        out = spec.pad(body)
        spec.zero = zero
        return out
    num = _strconv_float(abs(f), "g" if verb == "v" else verb, spec.prec)
    if spec.sharp and verb != "b":
        num = _sharp_float(num, verb, spec.prec)
    sign = "-" if math.copysign(1.0, f) < 0 else "+" if spec.plus else " " if spec.space else ""
    return spec.pad_number(sign + num)


def _strconv_float(f: float, verb: str, prec: int | None) -> str:
    """``strconv.FormatFloat(f, verb, prec, 64)`` for ``f >= 0``; None is Go's -1."""
    if verb in "gG" and prec is None:
        body = _float_shortest(f)
        return body.upper() if verb == "G" else body
    if verb in "xX":
        return _hex_float(f, prec, verb)
    if verb == "b":  # the 53-bit mantissa and the binary exponent: 4503599627370496p-53
        if f == 0:
            return "0p-1074"
        mant, exp2 = math.frexp(f)
        return f"{int(mant * 2**53)}p{exp2 - 53:+d}"
    if verb in "gG":
        body = format(f, f".{prec or 1}{verb}" if prec == 0 else f".{prec}{verb}")
    else:
        body = format(f, f".{6 if prec is None else prec}{'f' if verb == 'F' else verb}")
    if "e" in body or "E" in body:  # Go writes at least two exponent digits, as Python
        digits, letter, power = body.partition("e" if "e" in body else "E")
        body = f"{digits}{letter}{power[0]}{int(power[1:]):02d}"
    return body


def _sharp_float(num: str, verb: str, prec: int | None) -> str:
    """``%#g`` keeps trailing zeros (6 significant digits by default); ``%#e`` a point.

    Go counts every character after the first non-zero one as a digit, the ``x`` of a
    hexadecimal ``0x1p-01`` included; so does this.
    """
    cut = len(num)
    for i, c in enumerate(num):
        if c in "pP" or (c in "eE" and verb not in "xX"):
            cut = i
            break
    body, tail = num[:cut], num[cut:]
    digits = (6 if prec is None else prec) if verb in "vgGx" else 0  # not X: as Go
    seen_nonzero = False
    for c in body:
        if c != ".":
            seen_nonzero |= c != "0"
            digits -= seen_nonzero
    if "." not in body:
        if body == "0":
            digits -= 1
        body += "."
    return body + "0" * max(digits, 0) + tail


def _hex_float(f: float, prec: int | None, verb: str) -> str:
    """``%x`` of a float: ``0x1.8p+01``, the mantissa rounded (half to even) to ``prec``."""
    if f == 0:
        mant, exp = 0, 0
    else:
        m, e = math.frexp(f)  # f = m * 2**e, 0.5 <= m < 1
        mant, exp = int(m * 2**53), e - 1  # 1.xxx (52 fraction bits) * 2**exp
    if prec is not None and prec < 13:
        shift = 52 - 4 * prec
        q, r = mant >> shift, mant & ((1 << shift) - 1)
        half = 1 << (shift - 1)
        if r > half or (r == half and q & 1):
            q += 1
        if q >> (4 * prec) > 1:  # carried into the leading digit: 2.0 is 1.0 * 2
            q, exp = q >> 1, exp + 1
        lead, frac_digits = q >> (4 * prec), f"{q & ((1 << (4 * prec)) - 1):0{prec}x}"
        digits = frac_digits if prec else ""
    else:
        lead, frac = mant >> 52, mant & ((1 << 52) - 1)
        digits = f"{frac:013x}"
        digits = digits.rstrip("0") if prec is None else digits + "0" * (prec - 13)
    body = f"0x{lead}" + (f".{digits}" if digits else "")
    body += f"p{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return body.upper() if verb == "X" else body


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
        if v is None:
            return spec.pad("<nil>")
        name = go_type(v)
        return spec.pad(name if spec.prec is None else name[: spec.prec])
    if spec.sharp_v and isinstance(v, (str, list, tuple, dict)):
        return _go_syntax(spec, v)
    if v is None:
        return spec.pad("<nil>") if verb == "v" else _bad(spec, v)
    if isinstance(v, bool):
        return spec.pad("true" if v else "false") if verb in "vt" else _bad(spec, v)
    if isinstance(v, int):
        return _fmt_int(spec, v) if verb in "vdboOxXcqU" else _bad(spec, v)
    if isinstance(v, float):
        return _fmt_float(spec, v) if verb in "veEfFgGxXb" else _bad(spec, v)
    if isinstance(v, str):
        return _fmt_str(spec, v) if verb in "svqxX" else _bad(spec, v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_format_elem(spec, x) for x in v) + "]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=key_order)
        cells = [f"{_format_elem(spec, k)}:{_format_elem(spec, x)}" for k, x in items]
        return "map[" + " ".join(cells) + "]"
    return spec.pad(str(v)) if verb in "sv" else _bad(spec, v)


def _go_syntax(spec: _Spec, v: Any) -> str:
    """``%#v``: the value as Go source (``[]interface {}{"a", 1}``), leaves padded."""
    if v is None:
        return spec.pad("interface {}(nil)")
    if isinstance(v, str):
        return spec.pad(quote(v if spec.prec is None else v[: spec.prec]))
    if isinstance(v, (list, tuple)):
        return "[]interface {}{" + ", ".join(_go_syntax(spec, x) for x in v) + "}"
    if isinstance(v, dict):
        items = sorted(v.items(), key=key_order)
        cells = ", ".join(f"{_go_syntax(spec, k)}:{_go_syntax(spec, x)}" for k, x in items)
        return "map[string]interface {}{" + cells + "}"
    return _format_one(spec, v)


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
            spec.zero = (spec.zero or c == "0") and not spec.minus  # zeros only on the left
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
        if spec.verb == "v":  # %#v is Go syntax, and %+v adds nothing to JSON values
            spec.sharp_v, spec.sharp, spec.plus = spec.sharp, False, False
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
