"""Detach keys: Docker's spec parsed, and typed input split around the sequence."""

from __future__ import annotations

import pytest

from dockyard.engine.detachkeys import DEFAULT, parse, scan
from dockyard.errors import InvalidArgument


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("", DEFAULT),
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-a,a", b"\x01a"),
        ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", bytes([0, 27, 28, 29, 30, 31])),
        ("CTRL-Z", b"\x1a"),
        ("x", b"x"),
        ("a,b,c", b"abc"),
    ],
)
def test_parse(spec: str, want: bytes) -> None:
    assert parse(spec) == want


@pytest.mark.parametrize("spec", ["ctrl-", "ctrl-1", "ab", "ctrl-p,", "é", "alt-x"])
def test_parse_refuses_unknown_keys(spec: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid detach keys"):
        parse(spec)


@pytest.mark.parametrize(
    ("held", "data", "want"),
    [
        (b"", b"ls\r", (b"ls\r", b"", False)),
        (b"", b"ab\x10\x11cd", (b"ab", b"", True)),  # what follows is never sent
        (b"", b"ab\x10", (b"ab", b"\x10", False)),  # held: it may begin the sequence
        (b"\x10", b"\x11", (b"", b"", True)),
        (b"\x10", b"x", (b"\x10x", b"", False)),  # a lone ctrl-p still reaches the shell
        (b"\x10", b"\x10", (b"\x10", b"\x10", False)),
        (b"", b"", (b"", b"", False)),
    ],
)
def test_scan_with_the_default(held: bytes, data: bytes, want: tuple[bytes, bytes, bool]) -> None:
    assert scan(held, data, DEFAULT) == want


def test_scan_longer_sequences_and_none() -> None:
    seq = b"\x01ab"
    out, held, detached = scan(b"", b"x\x01a", seq)
    assert (out, held, detached) == (b"x", b"\x01a", False)
    assert scan(held, b"b", seq) == (b"", b"", True)
    assert scan(held, b"c", seq) == (b"\x01ac", b"", False)
    assert scan(b"", b"\x10\x11", b"") == (b"\x10\x11", b"", False)
