"""Wire dicts ⇄ records, driven by the records' type annotations.

``decode(cls, raw)`` walks a parsed JSON/YAML mapping, checks every value's type,
reports each unknown key by its full path (``unknown field "spec.replicass"``, as
kubectl's strict decoding) and calls each record's ``defaulted()`` hook. Type and
unknown-field problems are collected and raised together as one InvalidArgument.
``encode(obj)`` is the inverse: camelCase keys, ``None``, ``""`` and empty lists/maps left out.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from dockyard.errors import InvalidArgument
from dockyard.records import fields, is_record

from .quantity import Quantity, parse_quantity

__all__ = ["DecodeErrors", "decode", "encode", "json_name", "render_value"]

_HINTS: dict[type, dict[str, Any]] = {}
_NAMES: dict[type, dict[str, str]] = {}


def _hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = typing.get_type_hints(cls)
        _HINTS[cls] = hints
    return hints


def json_name(cls: type, name: str) -> str:
    """The wire name of field ``name`` of record class ``cls``."""
    special: dict[str, str] = getattr(cls, "JSON", {})
    if name in special:
        return special[name]
    head, *rest = name.rstrip("_").split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _wire_names(cls: type) -> dict[str, str]:
    names = _NAMES.get(cls)
    if names is None:
        names = {json_name(cls, n): n for n in fields(cls)}
        _NAMES[cls] = names
    return names


def render_value(value: object) -> str:
    """A value as Kubernetes prints it in field errors (Go's ``%#v``, roughly)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(str(k))}:{json.dumps(str(v))}" for k, v in value.items())
        return "map[string]string{" + inner + "}"
    if isinstance(value, (list, tuple)):
        return "[]string{" + ", ".join(json.dumps(str(v)) for v in value) + "}"
    return str(value)


class DecodeErrors:
    """Problems found while decoding one document."""

    def __init__(self) -> None:
        self.unknown: list[str] = []
        self.invalid: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.unknown or self.invalid)

    def message(self) -> str:
        parts = list(self.invalid)
        if self.unknown:
            parts.append(
                "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in self.unknown)
            )
        return "; ".join(parts)

    def bad(self, path: str, value: object, expected: str) -> None:
        self.invalid.append(f"{path}: Invalid value: {render_value(value)}: must be {expected}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_INT_OR_STRING = object()


def _optional(tp: Any) -> Any:
    """``X | None`` → ``X``; ``int | str`` (IntOrString) → a marker."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
        if set(args) == {int, str}:
            return _INT_OR_STRING
        raise TypeError(f"cannot decode {tp!r}")  # pragma: no cover - a model bug
    return tp


def decode(cls: type[Any], raw: object, path: str = "", errs: DecodeErrors | None = None) -> Any:
    """Decode ``raw`` as record ``cls``; raise InvalidArgument unless ``errs`` collects."""
    own = errs is None
    errs = errs if errs is not None else DecodeErrors()
    value = _record(cls, raw if raw is not None else {}, path, errs)
    if own and errs:
        raise InvalidArgument(errs.message())
    return value


def _record(cls: type[Any], raw: object, path: str, errs: DecodeErrors) -> Any:
    if not isinstance(raw, dict):
        errs.bad(path or "<root>", raw, "an object")
        raw = {}
    names = _wire_names(cls)
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for key, val in raw.items():
        attr = names.get(key) if isinstance(key, str) else None
        if attr is None:
            errs.unknown.append(_join(path, str(key)))
            continue
        if val is None:
            continue
        kwargs[attr] = _value(hints[attr], val, _join(path, key), errs)
    for attr in fields(cls):
        tp = hints[attr]
        if attr not in kwargs and tp is not Quantity and isinstance(tp, type) and is_record(tp):
            kwargs[attr] = _record(tp, {}, _join(path, json_name(cls, attr)), errs)
    obj = cls(**kwargs)
    hook = getattr(obj, "defaulted", None)
    return hook() if hook is not None else obj


def _value(tp: Any, val: object, path: str, errs: DecodeErrors) -> Any:
    tp = _optional(tp)
    if tp is Any:
        return val
    if tp is Quantity:
        return _quantity(val, path, errs)
    if isinstance(tp, type) and is_record(tp):
        return _record(tp, val, path, errs)
    origin = typing.get_origin(tp)
    if origin is tuple:
        return _tuple(typing.get_args(tp)[0], val, path, errs)
    if origin is dict:
        return _dict(typing.get_args(tp)[1], val, path, errs)
    if tp is _INT_OR_STRING:
        if isinstance(val, str) or (isinstance(val, int) and not isinstance(val, bool)):
            return val
        errs.bad(path, val, "an integer or a string")
        return None
    return _scalar(tp, val, path, errs)


def _scalar(tp: Any, val: object, path: str, errs: DecodeErrors) -> Any:
    if tp is bool:
        if isinstance(val, bool):
            return val
        errs.bad(path, val, "a boolean")
    elif tp is int:
        if isinstance(val, int) and not isinstance(val, bool):
            return val
        if isinstance(val, float) and val.is_integer():
            return int(val)
        errs.bad(path, val, "an integer")
    elif tp is float:
        if isinstance(val, (int, float)) and not isinstance(val, bool):
            return float(val)
        errs.bad(path, val, "a number")
    elif tp is str:
        if isinstance(val, str):
            return val
        errs.bad(path, val, "a string")
    else:  # pragma: no cover - a model annotation the codec does not know
        raise TypeError(f"cannot decode {tp!r}")
    return None


def _quantity(val: object, path: str, errs: DecodeErrors) -> Quantity | None:
    if not isinstance(val, (str, int, float)):
        errs.bad(path, val, "a quantity")
        return None
    try:
        return parse_quantity(val)
    except InvalidArgument as e:
        errs.invalid.append(f"{path}: Invalid value: {render_value(str(val))}: {e}")
        return None


def _tuple(item: Any, val: object, path: str, errs: DecodeErrors) -> tuple[Any, ...]:
    if not isinstance(val, list):
        errs.bad(path, val, "a list")
        return ()
    out = [_value(item, v, f"{path}[{i}]", errs) for i, v in enumerate(val) if v is not None]
    return tuple(v for v in out if v is not None)


def _dict(item: Any, val: object, path: str, errs: DecodeErrors) -> dict[str, Any]:
    if not isinstance(val, dict):
        errs.bad(path, val, "an object")
        return {}
    out: dict[str, Any] = {}
    for k, v in val.items():
        if v is None:
            continue
        decoded = _value(item, v, f"{path}.{k}", errs)
        if decoded is not None:
            out[str(k)] = decoded
    return out


def encode(obj: Any) -> Any:
    """A record (or value) in its wire form."""
    if isinstance(obj, Quantity):
        return obj.text
    if is_record(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for name in fields(obj):
            v = getattr(obj, name)
            if v is None or (isinstance(v, (tuple, dict, str)) and not v):
                continue
            out[json_name(type(obj), name)] = encode(v)
        return out
    if isinstance(obj, (tuple, list)):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        return {k: encode(v) for k, v in obj.items()}
    return obj
