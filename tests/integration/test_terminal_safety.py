"""``logs`` and ``attach`` on a terminal: a container's output cannot set the window title
or the clipboard (issue 19 item 6). The CLI runs on a real pty; ``--raw`` shows the attack
succeeding without the filter."""

from __future__ import annotations

import os
import select
import subprocess
import termios
import time

import pytest
from daemon_kit import Daemonized, dyd

pytestmark = [pytest.mark.root]
__all__ = ["dyd"]

ATTACK = r"a\033]0;pwned-title\007b\033]52;c;cHduZWQ=\033\\c\033[31mred\033[0m\n"
TITLE = b"\x1b]0;pwned-title\x07"
CLIPBOARD = b"\x1b]52;c;cHduZWQ="


def _on_pty(
    argv: list[str], typed: bytes = b"", raw: bool = False, timeout: float = 30
) -> tuple[int, bytes]:
    """Run ``argv`` with a new pty as its terminal (stdin, stdout, stderr) and type
    ``typed`` (with ``raw``, once it has put the terminal in raw mode: the mode change
    discards what was typed before); everything it shows, and its exit code."""
    master, slave = os.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # the container's bytes as they come, no \n -> \r\n
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    try:
        proc = subprocess.Popen(["setsid", "-c", *argv], stdin=slave, stdout=slave,
                                stderr=slave, close_fds=True)  # fmt: skip
    finally:
        os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + timeout
        if typed and not raw:
            os.write(master, typed)
        while True:
            if typed and raw and not termios.tcgetattr(master)[3] & termios.ECHO:
                os.write(master, typed)
                typed = b""
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the terminal closed it
                    data = b""
                seen += data
                if not data and proc.poll() is not None:
                    break
            elif proc.poll() is not None:
                break
            assert time.monotonic() < deadline, f"{argv[-2:]} did not end: {seen!r}"
        return proc.wait(), seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def _check(shown: bytes) -> None:
    assert TITLE not in shown and CLIPBOARD not in shown and b"pwned" not in shown, shown
    assert b"abc\x1b[31mred\x1b[0m" in shown, shown  # text and colours untouched


@pytest.mark.parametrize("tty", [False, True])
def test_logs_on_a_terminal_drop_title_and_clipboard(dyd: Daemonized, tty: bool) -> None:
    name = f"osc-logs-{int(tty)}"
    flags = ["-t"] if tty else []
    dyd.run("run", "--name", name, *flags, "busybox", "printf", ATTACK, check=True)
    code, shown = _on_pty(dyd.argv("logs", name))
    assert code == 0
    _check(shown)
    # the defence off: --raw hands the sequences to the terminal
    code, shown = _on_pty(dyd.argv("logs", "--raw", name))
    assert code == 0 and TITLE in shown and CLIPBOARD in shown
    # not a terminal: the bytes are kept as they are (logs > file)
    out = subprocess.run(dyd.argv("logs", name), capture_output=True, timeout=60, check=True)
    assert TITLE in out.stdout


@pytest.mark.parametrize("tty", [False, True])
def test_attach_on_a_terminal_drops_title_and_clipboard(dyd: Daemonized, tty: bool) -> None:
    for raw in (False, True):
        name = f"osc-attach-{int(tty)}-{int(raw)}"
        flags = ["-it"] if tty else ["-i"]
        script = f"read x; printf '{ATTACK}'; exit 7"
        dyd.run("run", "-d", "--name", name, *flags, "busybox", "sh", "-c", script, check=True)
        # what is typed waits in the terminal until attach hands it to the container
        argv = dyd.argv("attach", *(["--raw"] if raw else []), name)
        code, shown = _on_pty(argv, typed=b"go\r" if tty else b"go\n", raw=tty)
        assert code == 7, shown
        if raw:  # the defence off: the terminal receives the title and the clipboard
            assert TITLE in shown and CLIPBOARD in shown
        else:
            _check(shown)
