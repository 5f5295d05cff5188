"""What the linter reports: severities, rules and findings.

Vocabulary:

* a *rule* has an ``id`` (hadolint's ``DL3006`` where hadolint's rule means the
  same, BuildKit's check name such as ``FromAsCasing`` where BuildKit has one,
  ``DY1xxx`` for dockyard's own), an optional BuildKit ``alias`` (so that
  ``# check=skip=JSONArgsRecommended`` also silences ``DL3025``), a default
  severity, a one-line title and a documentation URL;
* a *finding* is one rule firing at one place: file, line, column (1-based),
  the last line of the instruction, and a message.

Severities are hadolint's, ordered ``error > warning > info > style``;
``ignore`` switches a rule off and, as a failure threshold, ``none`` means
"never fail".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = ["Finding", "LintConfig", "Rule", "Severity"]


class Severity(enum.IntEnum):
    """hadolint's levels; a larger value is more severe."""

    IGNORE = 0
    STYLE = 1
    INFO = 2
    WARNING = 3
    ERROR = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``error``/``warning``/``info``/``style``/``ignore`` (``none`` = ignore)."""
        from dockyard.errors import InvalidArgument

        word = text.strip().lower()
        if word == "none":
            return cls.IGNORE
        try:
            return cls[word.upper()]
        except KeyError:
            raise InvalidArgument(
                f"unknown severity {text!r}: expected error, warning, info, style, ignore or none"
            ) from None


@dataclass(frozen=True)
class Rule:
    """A rule's identity and defaults (the check itself lives in a rules module)."""

    id: str
    severity: Severity
    title: str
    url: str
    alias: str = ""  # BuildKit's check name when it means the same
    source: str = "hadolint"  # hadolint, buildkit or dockyard

    def names(self) -> frozenset[str]:
        return frozenset(n.lower() for n in (self.id, self.alias) if n)


@dataclass(frozen=True)
class Finding:
    """One rule firing at one place."""

    rule: str
    severity: Severity
    message: str
    file: str
    line: int
    column: int = 1
    end_line: int = 0
    alias: str = ""
    url: str = ""

    def to_dict(self) -> dict[str, object]:
        """hadolint's JSON keys, plus ``end_line`` and BuildKit's ``alias``."""
        out: dict[str, object] = {
            "code": self.rule,
            "level": self.severity.label,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line or self.line,
        }
        if self.alias:
            out["alias"] = self.alias
        if self.url:
            out["url"] = self.url
        return out


@dataclass
class LintConfig:
    """What changes a run: ``.hadolint.yaml`` keys, BuildKit's ``# check=``, flags.

    ``ignored`` and ``overrides`` take rule ids or BuildKit names, any case.
    ``failure_threshold`` None means "not set" (the CLI's default is ``info``,
    as hadolint's).  ``check_error`` is BuildKit's ``# check=error=true``.
    """

    ignored: set[str] = field(default_factory=set)
    overrides: dict[str, Severity] = field(default_factory=dict)
    failure_threshold: Severity | None = None
    no_fail: bool = False
    disable_ignore_pragma: bool = False
    check_error: bool = False
    skip_all: bool = False
    trusted_registries: list[str] = field(default_factory=list)

    def severity_for(self, rule: Rule) -> Severity:
        for name in rule.names():
            if name in self.overrides:
                return self.overrides[name]
        return rule.severity

    def is_ignored(self, rule: Rule) -> bool:
        return self.skip_all or bool(rule.names() & self.ignored)
