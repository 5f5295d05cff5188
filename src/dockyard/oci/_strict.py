"""Strict readers of decoded JSON: one field of one object, checked for its type.

Shared by the runtime-spec parser (:mod:`dockyard.oci.runtime_spec`) and the cgroup resources
parser (:mod:`dockyard.oci.resources`).  Every reader takes the decoded object, the key and the
*path* of the object for messages; :func:`at` joins them, so a path may be written either way the
two parsers write it: ``"process."`` (a prefix, or ``""`` at the top) or
``"linux.resources.memory"`` (an object's path).  A missing key or ``null`` reads as absent
(``None``, an empty tuple or mapping); a present value of the wrong type raises
:class:`~dockyard.errors.InvalidArgument` naming the field::

    process.args[2]: expected a string
    linux.resources.memory.limit: expected an integer

Booleans are never integers here (``true`` is not ``1``), as in runc's Go decoding.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "at",
    "obj",
    "opt_bool",
    "opt_int",
    "opt_list",
    "opt_obj",
    "opt_str",
    "req_int",
    "req_str",
    "str_map",
    "strs",
]


def at(path: str, key: str) -> str:
    """``path`` and ``key`` joined: ``process.`` + ``cwd``, ``linux.resources`` + ``cpu``."""
    return f"{path}{key}" if not path or path.endswith(".") else f"{path}.{key}"


def obj(v: Any, path: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise InvalidArgument(f"{path}: expected an object")
    return v


def opt_obj(d: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    v = d.get(key)
    return None if v is None else obj(v, at(path, key))


def _typed(d: dict[str, Any], key: str, path: str, kind: type, what: str) -> Any:
    """``d[key]`` if it is a ``kind`` (a bool is never an int), None if absent or null."""
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise InvalidArgument(f"{at(path, key)}: expected {what}")
    return v


def opt_int(d: dict[str, Any], key: str, path: str, *, minimum: int | None = None) -> int | None:
    v: int | None = _typed(d, key, path, int, "an integer")
    if v is not None and minimum is not None and v < minimum:
        raise InvalidArgument(f"{at(path, key)}: must be at least {minimum}")
    return v


def req_int(d: dict[str, Any], key: str, path: str, *, minimum: int | None = None) -> int:
    v = opt_int(d, key, path, minimum=minimum)
    if v is None:
        raise InvalidArgument(f"{at(path, key)}: required")
    return v


def opt_str(d: dict[str, Any], key: str, path: str) -> str | None:
    v: str | None = _typed(d, key, path, str, "a string")
    return v


def req_str(d: dict[str, Any], key: str, path: str) -> str:
    """A string that is present and not empty."""
    v = opt_str(d, key, path)
    if not v:
        raise InvalidArgument(f"{at(path, key)}: required")
    return v


def opt_bool(d: dict[str, Any], key: str, path: str) -> bool | None:
    v: bool | None = _typed(d, key, path, bool, "a boolean")
    return v


def opt_list(d: dict[str, Any], key: str, path: str) -> list[Any]:
    v: list[Any] | None = _typed(d, key, path, list, "an array")
    return [] if v is None else v


def strs(d: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    items = opt_list(d, key, path)
    for i, s in enumerate(items):
        if not isinstance(s, str):
            raise InvalidArgument(f"{at(path, key)}[{i}]: expected a string")
    return tuple(items)


def str_map(d: dict[str, Any], key: str, path: str) -> dict[str, str]:
    v = d.get(key)
    if v is None:
        return {}
    m = obj(v, at(path, key))
    for k, s in m.items():
        if not isinstance(s, str):
            raise InvalidArgument(f"{at(path, key)}.{k}: expected a string")
    return dict(m)
