"""Pull/push byte progress: the throttled reporter, docker's bar text, the terminal board."""

from __future__ import annotations

import io

from dockyard.cli.progressbars import Board
from dockyard.distribution.progress import Reporter, bar


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_reporter_throttles_per_blob_and_always_reports_the_end() -> None:
    got: list[tuple[str, str, int, int]] = []
    clock = FakeClock()
    rep = Reporter(None, lambda *a: got.append(a), every=0.1, clock=clock)
    for n in range(1, 11):  # ten reads inside one interval: the first and the last pass
        rep.bytes("a", "Downloading", n * 10, 100)
    rep.bytes("b", "Downloading", 5, 50)  # another blob is not throttled by the first
    clock.now = 0.2
    rep.bytes("a", "Downloading", 100, 100)
    assert got == [("a", "Downloading", 10, 100), ("a", "Downloading", 100, 100),
                   ("b", "Downloading", 5, 50), ("a", "Downloading", 100, 100)]  # fmt: skip
    assert not Reporter(lambda i, s: None).wants_bytes


def test_bar_is_dockers_jsonmessage_text() -> None:
    assert bar(1_202_000, 3_400_000) == "[" + "=" * 17 + ">" + " " * 33 + "]  1.202MB/3.4MB"
    assert bar(5, 5) == "[" + "=" * 50 + ">]       5B/5B"
    assert bar(1234, 0) == " 1.234kB"


def test_board_redraws_a_blobs_line_on_a_terminal() -> None:
    out = io.StringIO()
    b = Board(out, tty=True)
    b.status("aaa", "Downloading")
    b.status("bbb", "Downloading")
    b.transfer("aaa", "Downloading", 1, 2)
    first, second, redraw = out.getvalue().split("\n", 2)
    assert (first, second) == ("aaa: Downloading", "bbb: Downloading")
    assert redraw.startswith("\x1b[2A\r\x1b[2Kaaa: Downloading [") and redraw.endswith("\x1b[2B\r")


def test_board_without_a_terminal_prints_status_lines_only() -> None:
    out = io.StringIO()
    b = Board(out, tty=False)
    b.status("aaa", "Downloading")
    b.transfer("aaa", "Downloading", 1, 2)
    b.status("aaa", "Pull complete")
    b.status("", "Status: done")
    assert out.getvalue() == "aaa: Downloading\naaa: Pull complete\nStatus: done\n"
