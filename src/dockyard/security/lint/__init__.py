"""``dockyard lint``: a Dockerfile linter on dockyard's own parser.

Rules carry hadolint's ids where the meaning is the same (``DL3006`` ...),
BuildKit's build-check names where BuildKit has the check (``FromAsCasing``
...), and ``DY1xxx`` for dockyard's stage-aware rules (a ``COPY --from`` that
misses what the stage installed, secrets deleted in a later layer, compilers
in the final stage, USER only in another stage).  See ``docs/lint.md``.

Typical use::

    report = lint_text(Path("Dockerfile").read_text(), "Dockerfile")
    print(render([report], "text"), end="")
    sys.exit(1 if report.fails(Severity.INFO) else 0)

A Dockerfile that does not parse raises :class:`dockyard.errors.InvalidArgument`
(``Dockerfile:3: unknown instruction: RUNN``); a bad config file or format too.
"""

from __future__ import annotations

from ._config import apply_check_directive, find_config, load_config
from ._engine import LintReport, lint_text, rules
from ._model import Finding, LintConfig, Rule, Severity
from .formatters import FORMATS, render

__all__ = [
    "FORMATS",
    "Finding",
    "LintConfig",
    "LintReport",
    "Rule",
    "Severity",
    "apply_check_directive",
    "find_config",
    "lint_text",
    "load_config",
    "render",
    "rules",
]
