"""JSON through the C accelerator (``_json``) without importing :mod:`json`.

``import json`` pulls in ``json.decoder`` (which imports and compiles ``re``), ``json.scanner``
and ``json.encoder``: several milliseconds of every command that reads a config. The C
scanner and encoder behind them are usable directly; this module wraps them: strict parsing
(no ``NaN``/``Infinity``, no trailing data), compact output, and errors as
:class:`~dockyard.errors.InvalidArgument` naming what was parsed.
"""

from __future__ import annotations

from dockyard.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["dumps", "loads"]


class _ScanContext:
    """What ``_json.make_scanner`` reads from a decoder (see json.decoder)."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str]

    def __init__(self) -> None:
        self.memo = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        raise ValueError(f"invalid constant {name}")


_SCANNER: dict[str, Callable[[str, int], tuple[Any, int]]] = {}
_WS = " \t\n\r"


def loads(data: bytes | str, what: str = "json") -> Any:
    """Decode one JSON document (surrounding whitespace allowed, nothing else)."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
    except UnicodeDecodeError as e:
        raise InvalidArgument(f"parse {what}: invalid json: not utf-8: {e.reason}") from None
    scanner = _SCANNER.get("scan")
    if scanner is None:
        try:
            import _json

            scanner = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]
        except (ImportError, AttributeError):  # pragma: no cover - C scanner always there
            import json

            scanner = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
        _SCANNER["scan"] = scanner
    n = len(text)
    i = 0
    while i < n and text[i] in _WS:
        i += 1
    try:
        value, end = scanner(text, i)
    except StopIteration as e:
        raise InvalidArgument(f"parse {what}: invalid json at offset {e.value}") from None
    except (ValueError, RecursionError) as e:
        raise InvalidArgument(f"parse {what}: invalid json: {e}") from None
    except SystemError:
        # The C scanner raises json.decoder.JSONDecodeError only when json.decoder is
        # already imported; otherwise "returned NULL without setting an exception".
        # An error path: import json for the real message.
        import json

        try:
            json.loads(text)
        except ValueError as e:
            raise InvalidArgument(f"parse {what}: invalid json: {e}") from None
        raise InvalidArgument(f"parse {what}: invalid json") from None
    while end < n and text[end] in _WS:
        end += 1
    if end != n:
        raise InvalidArgument(f"parse {what}: invalid json: extra data at offset {end}")
    return value


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """Encode compactly (``","``/``":"``), ASCII-escaped, as ``json.dumps`` would with
    ``separators=(",", ":")``; a value JSON cannot hold raises TypeError."""
    try:
        import _json

        enc = _json.make_encoder(
            None, _no_default, _json.encode_basestring_ascii, None, ":", ",", sort_keys,
            False, True,
        )  # fmt: skip
        return "".join(enc(value, 0))
    except (ImportError, AttributeError):  # pragma: no cover
        import json

        return json.dumps(value, separators=(",", ":"), sort_keys=sort_keys)


def _no_default(o: Any) -> Any:
    raise TypeError(f"cannot encode {type(o).__name__} as json")
