"""Run the rules over one Dockerfile and apply what configures the run."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import _rules_buildkit, _rules_hadolint, _rules_stages  # noqa: F401  (register)
from ._config import apply_check_directive, inline_ignores
from ._dockerfile import load
from ._model import Finding, LintConfig, Rule, Severity
from ._registry import REGISTRY

__all__ = ["LintReport", "lint_text", "rules"]


@dataclass
class LintReport:
    """The findings of one file, and any rule that failed with a bug."""

    filename: str
    findings: list[Finding] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)
    config: LintConfig = field(default_factory=LintConfig)

    def worst(self) -> Severity:
        return max((f.severity for f in self.findings), default=Severity.IGNORE)

    def fails(self, threshold: Severity) -> bool:
        """Whether a finding is at or above ``threshold`` (IGNORE: never fails)."""
        if threshold == Severity.IGNORE or self.config.no_fail:
            return False
        return any(f.severity >= threshold for f in self.findings)


def rules() -> list[Rule]:
    """Every rule, in the order they run."""
    return [r for r, _check in REGISTRY]


def lint_text(
    text: str,
    filename: str = "Dockerfile",
    config: LintConfig | None = None,
    target: str | None = None,
    check: str | None = None,
) -> LintReport:
    """Lint ``text``.  A Dockerfile that does not parse raises InvalidArgument.

    ``check`` is BuildKit's ``BUILDKIT_DOCKERFILE_CHECK`` build arg: the same syntax as
    the ``# check=`` directive, applied after it (so its ``error=`` wins).
    """
    config = config or LintConfig()
    df = load(text, filename, target)
    df.trusted_registries = list(config.trusted_registries)
    apply_check_directive(df.result.directive("check"), config)
    apply_check_directive(check, config)
    per_line, global_ids = ({}, set()) if config.disable_ignore_pragma else inline_ignores(text)
    report = LintReport(filename, config=config)
    for rule, run_check in REGISTRY:
        if config.is_ignored(rule) or rule.names() & global_ids:
            continue
        severity = config.severity_for(rule)
        if severity == Severity.IGNORE:
            continue
        try:
            hits = list(run_check(df))
        except Exception as exc:  # a rule's bug must not hide the other findings
            report.internal_errors.append(f"rule {rule.id}: {type(exc).__name__}: {exc}")
            continue
        for h in hits:
            if rule.names() & per_line.get(h.line, set()):
                continue
            report.findings.append(
                Finding(
                    rule.id,
                    severity,
                    h.message or rule.title,
                    filename,
                    h.line,
                    h.column,
                    h.end_line or h.line,
                    rule.alias,
                    rule.url,
                )
            )
    report.findings.sort(key=lambda f: (f.line, f.rule))
    return report
