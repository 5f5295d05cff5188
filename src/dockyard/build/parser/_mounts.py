"""``RUN --mount=type=cache,target=/root/.cache`` options, as BuildKit's runmount.

The value is one CSV record of ``key=value`` fields (``ro``/``rw``/
``readonly``/``readwrite``/``required`` may stand alone).  Defaults follow
BuildKit: ``type=bind``, bind mounts read-only, cache ``sharing=shared``,
secrets at ``/run/secrets/<id>`` mode 0400, ssh id ``default`` mode 0600.
Variables in the value are expanded at build time, not here.
"""

from __future__ import annotations

import csv
import posixpath
from dataclasses import dataclass

from dockyard.errors import InvalidArgument

__all__ = ["Mount", "parse_mount"]

TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING = ("shared", "private", "locked")
_BOOL_KEYS = ("readonly", "ro", "readwrite", "rw", "required")


@dataclass(frozen=True)
class Mount:
    """One ``--mount`` of a RUN instruction."""

    type: str = "bind"
    source: str = ""
    target: str = ""
    from_: str = ""
    readonly: bool = False
    id: str = ""
    sharing: str = ""
    required: bool = False
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    size: str = ""
    env: str = ""


def _fields(value: str) -> list[str]:
    try:
        rows = list(csv.reader([value], strict=True))
    except csv.Error as exc:
        raise InvalidArgument(f"--mount={value}: {exc}") from None
    return rows[0] if rows else []


def _bool(key: str, value: str | None) -> bool:
    if value is None:
        return True
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidArgument(f"invalid value for {key}: {value}")


def _int(key: str, value: str, base: int = 10) -> int:
    try:
        return int(value, base)
    except ValueError:
        raise InvalidArgument(f"invalid value for {key}: {value}") from None


def parse_mount(value: str) -> Mount:
    """Parse one ``--mount`` value; InvalidArgument on a bad field."""
    opts: dict[str, object] = {}
    readonly: bool | None = None
    for field_ in _fields(value):
        key, eq, val = field_.partition("=")
        key = key.strip().lower()
        if not eq and key not in _BOOL_KEYS:
            raise InvalidArgument(f"invalid field '{field_}' must be a key=value pair")
        raw: str | None = val if eq else None
        if key == "type":
            if val not in TYPES:
                raise InvalidArgument(f"unsupported mount type {val!r}")
            opts["type"] = val
        elif key in ("source", "src"):
            opts["source"] = val
        elif key in ("target", "dst", "destination"):
            opts["target"] = val
        elif key in ("readonly", "ro"):
            readonly = _bool(key, raw)
        elif key in ("readwrite", "rw"):
            readonly = not _bool(key, raw)
        elif key == "required":
            opts["required"] = _bool(key, raw)
        elif key == "from":
            opts["from_"] = val
        elif key == "id":
            opts["id"] = val
        elif key == "sharing":
            if val not in SHARING:
                raise InvalidArgument(f"unsupported sharing value {val!r}")
            opts["sharing"] = val
        elif key == "mode":
            opts["mode"] = _int(key, val, 8)
        elif key in ("uid", "gid"):
            opts[key] = _int(key, val)
        elif key in ("size", "env"):
            opts[key] = val
        else:
            raise InvalidArgument(f"unexpected key '{key}' in '{field_}'")
    return _defaults(Mount(**opts), readonly)  # type: ignore[arg-type]


def _defaults(m: Mount, readonly: bool | None) -> Mount:
    kind = m.type
    ro = readonly if readonly is not None else kind == "bind"
    target, ident, sharing, mode = m.target, m.id, m.sharing, m.mode
    if kind == "secret":
        if not ident and target:
            ident = posixpath.basename(target)
        if not target and not m.env:
            target = "/run/secrets/" + ident
        mode = 0o400 if mode is None else mode
    elif kind == "ssh":
        ident = ident or "default"
        mode = 0o600 if mode is None else mode
    elif kind == "cache":
        sharing = sharing or "shared"
        ident = ident or target
    if kind in ("bind", "cache", "tmpfs") and not target:
        raise InvalidArgument(f"mount type {kind} requires a target")
    if kind == "secret" and not ident:
        raise InvalidArgument("secret mount requires an id or a target")
    return Mount(
        type=kind,
        source=m.source,
        target=target,
        from_=m.from_,
        readonly=ro,
        id=ident,
        sharing=sharing,
        required=m.required,
        mode=mode,
        uid=m.uid,
        gid=m.gid,
        size=m.size,
        env=m.env,
    )
