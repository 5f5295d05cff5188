"""The terminal string-sequence filter of ``logs`` and ``attach`` (cli/termsafe.py)."""

from __future__ import annotations

import os

import pytest

from dockyard.cli.termsafe import Relay, StringFilter, wants_filter

TITLE = b"\x1b]0;pwned\x07"
TITLE2 = b"\x1b]2;pwned\x1b\\"
CLIPBOARD = b"\x1b]52;c;cHduZWQ=\x07"
LINK = b"\x1b]8;;http://x/\x1b\\"
DCS = b"\x1bPtmux;\x1b\x1b]52;c;eA==\x07\x1b\\"
C1_OSC = "\u009d0;pwned\u009c".encode()
APC = b"\x1b_Gf=100;AAAA\x1b\\"
KEEP = "a\x1b[31mred\x1b[0m é ✓\r\n\ttab".encode()


def _all_at_once(data: bytes) -> bytes:
    f = StringFilter()
    return f.feed(data) + f.flush()


def _byte_by_byte(data: bytes) -> bytes:
    f = StringFilter()
    return b"".join(f.feed(data[i : i + 1]) for i in range(len(data))) + f.flush()


@pytest.mark.parametrize("run", [_all_at_once, _byte_by_byte])
@pytest.mark.parametrize("seq", [TITLE, TITLE2, CLIPBOARD, LINK, DCS, C1_OSC, APC])
def test_string_sequences_are_dropped_text_and_colours_kept(run: object, seq: bytes) -> None:
    assert callable(run)
    assert run(b"x" + seq + KEEP + seq + b"y") == b"x" + KEEP + b"y"


def test_aborted_and_unterminated_sequences() -> None:
    assert _all_at_once(b"a\x1b]0;half\x18b") == b"ab"  # CAN aborts, as in the terminal
    assert _all_at_once(b"a\x1b]0;half\x1ab") == b"ab"  # SUB too
    f = StringFilter()
    assert f.feed(b"a\x1b]52;c;") == b"a"
    assert f.feed(b"A" * 1_000_000) == b""  # dropped, not buffered
    assert f.feed(b"\x07b") == b"b"
    f = StringFilter()
    assert f.feed(b"ends with esc \x1b") == b"ends with esc "
    assert f.flush() == b"\x1b"  # a lone trailing ESC is no sequence: kept at the end
    g = StringFilter()
    assert g.feed(b"\x1b]0;t") == b"" and g.flush() == b""


def test_relay_only_for_terminals(tmp_path: object) -> None:
    r, w = os.pipe()
    try:
        assert not wants_filter(w, raw=False)
        relay = Relay({"stdout": w, "stdin": r}, raw=False)
        assert relay.fds == {"stdout": w, "stdin": r}  # a pipe is passed on untouched
        relay.finish()
    finally:
        os.close(r)
        os.close(w)


def test_relay_filters_into_a_pty() -> None:
    master, slave = os.openpty()
    try:
        assert wants_filter(slave, raw=False) and not wants_filter(slave, raw=True)
        relay = Relay({"stdout": slave}, raw=False)
        w = relay.fds["stdout"]
        assert w != slave
        os.write(w, b"hi" + TITLE + CLIPBOARD + b"there\n")
        relay.finish()  # closes our write end: the copy reaches the end of the pipe
        got = b""
        while not got.endswith(b"\n"):
            got += os.read(master, 1024)
        assert got.replace(b"\r\n", b"\n") == b"hithere\n"
    finally:
        os.close(master)
        os.close(slave)
