"""Go's text/template, as ``--format`` on ``inspect``, ``ps``, ``images``, ... uses it.

The language (what a user writes; the same as Go's, checked against Go's and Docker's
documentation in ``tests/unit/cli/test_gotemplate_docs.py``):

* text and ``{{pipeline}}`` actions; ``{{- `` and `` -}}`` trim the white space beside
  them; ``{{/* comments */}}``;
* operands: ``.``, fields ``.State.Pid`` (map keys, chained on anything:
  ``$x.Name``, ``(index .Ports "80/tcp" 0).HostPort``), variables ``$`` / ``$x``,
  ``"strings"`` with Go escapes, ```raw```, ``'c'``, numbers, ``true``, ``false``,
  ``nil`` and parenthesised pipelines; commands chained with ``|``, the value on
  the left becoming the last argument on the right;
* ``{{$x := pipeline}}`` declares, ``{{$x = pipeline}}`` assigns; a variable lives
  to the ``{{end}}`` of the control structure that declared it;
* ``if`` / ``else if`` / ``else``, ``with`` / ``else with`` / ``else``, ``range``
  (lists, maps in sorted key order, integers; ``$i, $e :=``; ``{{else}}`` when empty;
  ``{{break}}`` and ``{{continue}}``), ``define`` / ``template`` / ``block``;
* Go's functions ``and or not len index slice print printf println html js
  urlquery eq ne lt le gt ge`` (``and``/``or`` short-circuit and return the operand
  that decided, as Go does) and Docker's ``json join split lower upper title
  truncate pad``.

Values are what JSON decodes to; each prints as Go prints the ``interface{}`` that
holds it (``_gofmt``). A missing map key is ``<no value>`` under
Go's default (``missingkey=default``); :func:`render` — the ``--format`` entry
point — follows docker instead: a missing field is an error, ``null`` prints
``<nil>`` and ``index`` of an absent key gives the map's zero value (``""`` for the
string maps docker users index, such as labels).

Errors are one-line :class:`~dockyard.errors.InvalidArgument` naming the position
as Go does (line, and the byte column counted from 0): ``template: :1:8: unclosed
action`` when parsing, ``template: :1:2: executing "" at <.Nope>: map has no entry
for key "Nope"`` when executing.

List commands use :func:`format_rows`: ``--format json`` (one object a line),
``--format 'table ...'`` (a header row, columns aligned as docker's tabwriter does)
and plain templates.

Written here rather than taken from a library: no maintained pure-Python package
implements Go's text/template semantics (Jinja2 and friends differ in syntax,
truthiness, printing and scoping; the one binding to Go's own engine is a 0.0.x
CGo wrapper that would load a Go runtime into every CLI call). The package is on
the CLI path, so it imports nothing beyond ``re`` and ``math`` (about 1.3 ms on the
2-vCPU machine with ``argparse`` already loaded; the single-file subset it replaced
took about 3.5 ms because it pulled in ``json`` and ``shlex``). The parser mirrors
Go's ``text/template/parse`` so that error messages and corner cases match.
"""

from __future__ import annotations

from dockyard.cli.gotemplate._exec import Template
from dockyard.cli.gotemplate._table import format_rows

TYPE_CHECKING = False  # ``typing`` costs a start-up; mypy honours this constant
if TYPE_CHECKING:
    from typing import Any


__all__ = ["Template", "format_rows", "parse", "render"]

_CACHE: dict[str, Template] = {}


def parse(text: str) -> Template:
    """Parse ``text`` once (cached: list commands render one template per row)."""
    tpl = _CACHE.get(text)
    if tpl is None:
        tpl = _CACHE[text] = Template(text)
    return tpl


def render(template: str, data: Any) -> str:
    """Render ``--format``'s template against ``data`` as the docker CLI does.

    ``json`` alone is ``{{json .}}``, as docker's ``--format json``.
    """
    if template == "json":
        template = "{{json .}}"
    return parse(template).execute(data, missingkey="error", typed=True)
