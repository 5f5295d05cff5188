"""Detach keys: the key sequence that leaves an attached terminal without stopping it.

*sequence* — the bytes that detach (Docker's default ``ctrl-p,ctrl-q``, ``b"\\x10\\x11"``).
*spec* — how a user writes it: comma-separated keys, each one character (``a``) or
``ctrl-<c>`` with ``<c>`` one of ``a``-``z``, ``@``, ``[``, ``\\``, ``]``, ``^``, ``_``
(Docker's ``--detach-keys`` and the ``detachKeys`` query parameter).
*held* — the bytes of an attachment's input that may begin the sequence; they are
kept back until the next input says whether the sequence follows (then nothing of it
reaches the container) or not (then they are forwarded, so a lone ctrl-p still
reaches the terminal).

:func:`parse` runs in the daemon (a bad spec is ``InvalidArgument``); :func:`scan` runs
in the shim for every chunk typed into a terminal attachment. This module imports
nothing at run time: the shim's memory is a benchmark figure.
"""

from __future__ import annotations

__all__ = ["DEFAULT", "parse", "scan"]

DEFAULT = b"\x10\x11"  # ctrl-p ctrl-q
_CTRL_SPECIAL = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse(spec: str) -> bytes:
    """The sequence ``spec`` names; the default for an empty spec.

    ``parse("ctrl-p,ctrl-q") == b"\\x10\\x11"``; ``parse("ctrl-a,x") == b"\\x01x"``."""
    if not spec:
        return DEFAULT
    out = bytearray()
    for key in spec.split(","):
        out.append(_key(spec, key))
    return bytes(out)


def _key(spec: str, key: str) -> int:
    if len(key) == 1 and key.isascii():
        return ord(key)
    name = key[5:].lower() if key.lower().startswith("ctrl-") else ""
    if len(name) == 1 and "a" <= name <= "z":
        return ord(name) - ord("a") + 1
    if name in _CTRL_SPECIAL:
        return _CTRL_SPECIAL[name]
    from dockyard.errors import InvalidArgument

    raise InvalidArgument(f"invalid detach keys {spec!r}: unknown key {key!r}")


def scan(held: bytes, data: bytes, sequence: bytes) -> tuple[bytes, bytes, bool]:
    """Split typed input: ``(to forward, to hold, detached)``.

    ``held + data`` is searched for ``sequence``: if found, what precedes it is
    forwarded and the attachment detaches; otherwise the longest tail that is a proper
    beginning of the sequence is held and the rest forwarded. An empty sequence never
    detaches."""
    buf = held + data
    if not sequence:
        return buf, b"", False
    at = buf.find(sequence)
    if at >= 0:
        return buf[:at], b"", True
    for k in range(min(len(sequence) - 1, len(buf)), 0, -1):
        if buf.endswith(sequence[:k]):
            return buf[:-k], buf[-k:], False
    return buf, b"", False
