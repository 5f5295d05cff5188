"""Kubernetes resource quantities (``500m``, ``1.5``, ``128Mi``, ``1G``, ``1e3``) and
int-or-string values (``maxSurge: 25%``, ``targetPort: http``).

A quantity is ``<signed number><suffix>``, the suffix one of

* binary SI: ``Ki Mi Gi Ti Pi Ei`` (powers of 1024);
* decimal SI: ``n u m`` (10^-9, 10^-6, 10^-3), nothing, ``k M G T P E``;
* a decimal exponent: ``e3``, ``E-2``.

The value is kept exactly (:class:`decimal.Decimal`); :meth:`Quantity.milli_value`
rounds up as Kubernetes' ``MilliValue`` does. The text is kept too, so that an
exported object shows what its author wrote. Two quantities are equal when their
values are (``1000m == 1``).
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, Context, Decimal, InvalidOperation

from dockyard.errors import InvalidArgument
from dockyard.records import field, record

__all__ = [
    "QUANTITY_PATTERN",
    "Quantity",
    "parse_quantity",
    "scaled_int_or_percent",
]

QUANTITY_PATTERN = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

_NUMBER = re.compile(r"([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)\Z", re.DOTALL)
_EXPONENT = re.compile(r"[eE][+-]?[0-9]+\Z")
_CTX = Context(prec=60)

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


@record
class Quantity:
    """An exact quantity; ``text`` is what was written, ``value`` its numeric value."""

    text: str = field(compare=False)
    value: Decimal = Decimal(0)

    def __str__(self) -> str:
        return self.text

    def milli_value(self) -> int:
        """``ceil(value * 1000)``, as Kubernetes' ``MilliValue``."""
        return int((self.value * 1000).to_integral_value(rounding=ROUND_CEILING))

    def int_value(self) -> int:
        """``ceil(value)``, as Kubernetes' ``Value``."""
        return int(self.value.to_integral_value(rounding=ROUND_CEILING))

    @classmethod
    def from_milli(cls, milli: int) -> Quantity:
        """``1500`` → ``1500m``; whole numbers print without the suffix."""
        if milli % 1000 == 0:
            return cls(str(milli // 1000), Decimal(milli // 1000))
        return cls(f"{milli}m", Decimal(milli) / 1000)

    @classmethod
    def from_bytes(cls, n: int) -> Quantity:
        """A byte count in the largest binary suffix that divides it (``52428800`` → ``50Mi``)."""
        for suffix, power in sorted(_BINARY.items(), key=lambda kv: -kv[1]):
            if n and n % (1024**power) == 0:
                return cls(f"{n // 1024**power}{suffix}", Decimal(n))
        return cls(str(n), Decimal(n))


def parse_quantity(text: str | int | float) -> Quantity:
    """Parse a quantity; InvalidArgument names the regular expression it must match."""
    raw = _to_text(text)
    value = _value(raw)
    if value is None:
        raise InvalidArgument(f"quantities must match the regular expression '{QUANTITY_PATTERN}'")
    return Quantity(raw, value)


def _to_text(text: str | int | float) -> str:
    if isinstance(text, bool):
        raise InvalidArgument(f"quantities must match the regular expression '{QUANTITY_PATTERN}'")
    if isinstance(text, int):
        return str(text)
    if isinstance(text, float):
        return repr(text) if not text.is_integer() else str(int(text))
    return text.strip()


def _value(raw: str) -> Decimal | None:
    m = _NUMBER.match(raw)
    if m is None:
        return None
    number, suffix = m.group(1), m.group(2)
    try:
        base = Decimal(number)
    except InvalidOperation:
        return None
    if suffix in _BINARY:
        return _CTX.multiply(base, Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return _CTX.multiply(base, Decimal(10) ** _DECIMAL[suffix])
    if _EXPONENT.match(suffix):
        return _CTX.multiply(base, Decimal(10) ** int(suffix[1:]))
    return None


def scaled_int_or_percent(value: int | str, total: int, round_up: bool) -> int:
    """Resolve ``maxSurge``-style values: an int as is, ``"25%"`` of ``total`` rounded up
    (surge) or down (unavailable), as Kubernetes' ``GetScaledValueFromIntOrPercent``."""
    if isinstance(value, int):
        return value
    if not value.endswith("%") or not value[:-1].isdigit():
        raise InvalidArgument(f"invalid value for IntOrString: invalid value {value!r}")
    pct = int(value[:-1])
    whole, rest = divmod(pct * total, 100)
    return whole + 1 if round_up and rest else whole
