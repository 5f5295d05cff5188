"""Pull and push progress as docker draws it: a line per blob, redrawn in place.

On a terminal each id keeps its line: a status replaces the line's text, a transfer shows
``Downloading [=====>     ] 1.2MB/3.4MB`` on it; the cursor moves up to it and back
(``ESC[<n>A``, ``ESC[2K``), so the screen holds one line per blob however many updates
arrive. Elsewhere (a pipe, a file, CI) a status is a plain ``id: text`` line and byte
counts are dropped, as docker prints without a terminal.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

__all__ = ["Board"]


class Board:
    """The lines of one pull or push on ``out``."""

    def __init__(self, out: TextIO, *, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self.rows: list[str] = []  # ids in the order of their first line

    def status(self, ident: str, text: str) -> None:
        self._show(ident, f"{ident}: {text}" if ident else text)

    def transfer(self, ident: str, action: str, current: int, total: int) -> None:
        if self.tty:
            from dockyard.distribution.progress import bar

            self._show(ident, f"{ident}: {action} {bar(current, total)}")

    def _show(self, ident: str, line: str) -> None:
        if not self.tty or not ident:
            self.out.write(line + "\n")
            if self.tty:  # a line without an id scrolls: ids drawn so far stay above it
                self.rows.clear()
        elif ident not in self.rows:
            self.rows.append(ident)
            self.out.write(line + "\n")
        else:
            up = len(self.rows) - self.rows.index(ident)
            self.out.write(f"\x1b[{up}A\r\x1b[2K{line}\x1b[{up}B\r")
        self.out.flush()
