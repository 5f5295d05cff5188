"""The rule table: each check registers itself with :func:`rule`.

A check is a function ``(Dockerfile) -> Iterable[Hit]``; a :class:`Hit` says
where the rule fires and, when the rule's title is not enough, what to say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ._dockerfile import Dockerfile, Step
from ._model import Rule, Severity

__all__ = ["REGISTRY", "Check", "Hit", "hit", "rule"]


@dataclass(frozen=True)
class Hit:
    """Where a rule fires: first and last line, column, and the message."""

    line: int
    message: str = ""
    end_line: int = 0
    column: int = 1


Check = Callable[[Dockerfile], Iterable[Hit]]
REGISTRY: list[tuple[Rule, Check]] = []

_HADOLINT_URL = "https://github.com/hadolint/hadolint/wiki/"
_BUILDKIT_URL = "https://docs.docker.com/go/dockerfile/rule/"
_DOCKYARD_URL = "docs/lint.md#"


def _kebab(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("-")
        out.append(ch.lower())
    return "".join(out)


def rule(
    rule_id: str, severity: Severity, title: str, *, alias: str = "", source: str = ""
) -> Callable[[Check], Check]:
    """Register the decorated check under ``rule_id``."""
    kind = source or ("hadolint" if rule_id.startswith("DL") else "buildkit")
    if kind == "hadolint":
        url = _HADOLINT_URL + rule_id
    elif kind == "buildkit":
        url = _BUILDKIT_URL + _kebab(rule_id) + "/"
    else:
        url = _DOCKYARD_URL + rule_id.lower()

    def register(check: Check) -> Check:
        REGISTRY.append((Rule(rule_id, severity, title, url, alias, kind), check))
        return check

    return register


def hit(step: Step, message: str = "") -> Hit:
    """A hit that covers the whole instruction of ``step``."""
    return Hit(step.inst.start_line, message, step.inst.end_line)
