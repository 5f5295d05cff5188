"""``--format`` for list commands, as docker's ``formatter.Context`` does it.

* ``--format json`` prints ``{{json .}}`` for each row: one JSON object a line.
* ``--format 'table {{.ID}}\\t{{.Name}}'`` prints a header row, then the rows,
  aligned by Go's ``text/tabwriter`` with docker's settings (cells at least 10
  wide, 3 spaces of padding). The header is the same template rendered against
  the column names, with ``json``, ``split``, ``join``, ``title``, ``lower``,
  ``upper`` and ``truncate`` returning their argument unchanged (``pad`` is not, so
  headers stay aligned with padded cells). ``--format table`` alone is the
  command's default table.
* Any other template is rendered for each row, followed by a newline.

In every form the two-character sequences ``\\t`` and ``\\n`` typed on a shell
line become a tab and a newline, and surrounding spaces are trimmed, as docker does.
"""

from __future__ import annotations

from dockyard.cli.gotemplate._funcs import HEADER_FUNCS

TYPE_CHECKING = False  # ``typing`` costs a start-up; mypy honours this constant
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = ["format_rows", "tabwrite"]


def format_rows(
    fmt: str,
    rows: Sequence[Mapping[str, Any]],
    headers: Mapping[str, str],
    default_table: str = "",
) -> str:
    """The whole output of a list command for ``--format fmt`` (each line ends in ``\\n``).

    ``headers`` maps a row's keys to their column titles (``ID`` -> ``CONTAINER
    ID``); a key without a title is headed by its name in capitals.
    """
    from dockyard.cli.gotemplate import parse, render

    is_table = fmt.startswith("table")
    body = "{{json .}}" if fmt == "json" else fmt[5:] if is_table else fmt
    if is_table and not body.strip():
        body = default_table
    body = body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    lines = [render(body, row) + "\n" for row in rows]
    if not is_table:
        return "".join(lines)
    names: dict[str, Any] = {k: k.upper() for row in rows[:1] for k in row} | dict(headers)
    for key, title in list(names.items()):
        if rows and callable(rows[0].get(key)):  # a method heads its column too: .Label "k"
            names[key] = lambda *_args, title=title: title
    head = parse(body).execute(names, funcs=HEADER_FUNCS)
    return tabwrite(head + "\n" + "".join(lines))


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's ``tabwriter`` (padchar ' ', no flags) over ``text``.

    A cell is text ended by a tab; the text after a line's last tab is not part
    of a column. A column block is a run of consecutive lines that have a cell
    in that column; its width is its widest cell plus ``padding``, at least
    ``minwidth``.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    if len(lines[-1]) > 1 and not lines[-1][-1]:
        lines[-1].pop()  # Go's Flush drops an empty last cell of an unterminated line
    widths: list[int] = []
    out: list[str] = []

    def write(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts = []
            for j, cell in enumerate(cells):
                parts.append(cell.ljust(widths[j]) if j < len(widths) else cell)
            out.append("".join(parts))

    def block(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            block(line0, this)
            widths.pop()
            line0 = this
        write(line0, line1)

    block(0, len(lines))
    return "\n".join(out)
