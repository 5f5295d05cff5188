"""Keeping a container's output from reprogramming the user's terminal (``logs``, ``attach``).

A container controls the bytes it prints.  Shown on a terminal, some escape
sequences do more than draw: OSC 0/2 set the window title (and with it what a
later title *report* answers), OSC 52 writes — or, on some terminals, reads —
the clipboard, OSC 8 makes links, DCS/APC/PM/SOS strings drive terminal
features (tmux passthrough, sixel, kitty's graphics and remote control).  When
stdout (or stderr) is a terminal, :class:`StringFilter` drops every such
*string* sequence — from its introducer (``ESC ]``, ``ESC P``, ``ESC X``,
``ESC ^``, ``ESC _``, or their C1 forms encoded as UTF-8) up to its terminator
(``BEL``, ``ESC \\``, C1 ``ST``; ``CAN``/``SUB`` abort it as they do in the
terminal) — and passes everything else unchanged: text, colours and cursor
movement (CSI), so a container's coloured output looks the same.  Output sent
to a file or a pipe is never altered, and ``--raw`` turns the filter off.

The filter is incremental: a sequence split across reads is still dropped,
and an unterminated one is dropped up to the end without being buffered (memory
stays bounded whatever the container sends).

For ``attach`` the daemon writes straight into the descriptors it is handed;
:class:`Relay` hands it a pipe instead and copies the pipe to the terminal
through the filter, on a thread.
"""

from __future__ import annotations

import os
import re
import threading

__all__ = ["Relay", "StringFilter", "wants_filter"]

# a string sequence starts with ESC ] P X ^ _ or the same C1 controls in UTF-8
_START = re.compile(rb"\x1b[\]PX^_]|\xc2[\x9d\x90\x98\x9e\x9f]")
# and ends with ESC \ or C1 ST in UTF-8 (an OSC also with BEL); CAN and SUB abort it
_END = re.compile(rb"\x1b\\|\xc2\x9c|[\x18\x1a]")
_END_OSC = re.compile(rb"\x07|\x1b\\|\xc2\x9c|[\x18\x1a]")


class StringFilter:
    """Drops terminal string sequences (OSC, DCS, SOS, PM, APC) from a byte stream."""

    def __init__(self) -> None:
        self._inside: re.Pattern[bytes] | None = None  # the end of the sequence being dropped
        self._held = b""  # a trailing byte that may begin an introducer or terminator

    def feed(self, data: bytes) -> bytes:
        """The bytes of ``data`` (after what came before) that may reach the terminal."""
        buf = self._held + data
        self._held = b""
        out: list[bytes] = []
        pos = 0
        while pos < len(buf):
            if self._inside is not None:
                m = self._inside.search(buf, pos)
                if m is None:
                    if buf[-1:] in (b"\x1b", b"\xc2"):
                        self._held = buf[-1:]
                    return b"".join(out)
                pos = m.end()
                self._inside = None
                continue
            m = _START.search(buf, pos)
            if m is None:
                end = len(buf)
                if buf[-1:] in (b"\x1b", b"\xc2"):
                    end -= 1
                    self._held = buf[-1:]
                out.append(buf[pos:end])
                break
            out.append(buf[pos : m.start()])
            pos = m.end()
            self._inside = _END_OSC if m.group() in (b"\x1b]", b"\xc2\x9d") else _END
        return b"".join(out)

    def flush(self) -> bytes:
        """What is held back at the end of the stream (never part of a sequence)."""
        held, self._held = self._held, b""
        return b"" if self._inside is not None else held


def wants_filter(fd: int, raw: bool) -> bool:
    """Whether output to ``fd`` is filtered: a terminal, and not ``--raw``."""
    return not raw and os.isatty(fd)


class Relay:
    """Pipes in place of the terminal descriptors in an attach's ``fds``, copied through
    :class:`StringFilter` to the real ones on threads.

    ``fds`` maps stream names to descriptors; ``stdout``/``stderr`` entries that are
    terminals are replaced (unless ``raw``).  After the descriptors are handed over,
    :meth:`handed_over` closes this process's write ends, so that each pipe ends when
    the daemon lets go of it; :meth:`finish` waits (at most ``timeout`` seconds) for
    the copies to reach that end.
    """

    def __init__(self, fds: dict[str, int], raw: bool) -> None:
        self.fds = dict(fds)
        self._write_ends: list[int] = []
        self._threads: list[threading.Thread] = []
        for name in ("stdout", "stderr"):
            target = fds.get(name)
            if target is None or not wants_filter(target, raw):
                continue
            r, w = os.pipe()
            os.set_inheritable(r, False)
            self.fds[name] = w
            self._write_ends.append(w)
            t = threading.Thread(target=_copy, args=(r, target), name=f"dockyard-{name}")
            t.daemon = True
            t.start()
            self._threads.append(t)

    def handed_over(self) -> None:
        for w in self._write_ends:
            os.close(w)
        self._write_ends = []

    def finish(self, timeout: float = 2.0) -> None:
        self.handed_over()
        for t in self._threads:
            t.join(timeout)


def _copy(src: int, dst: int) -> None:
    f = StringFilter()
    try:
        while data := os.read(src, 65536):
            _write_all(dst, f.feed(data))
        _write_all(dst, f.flush())
    except OSError:
        pass  # the terminal went away: nothing left to protect
    finally:
        os.close(src)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
