"""Reports in the formats other tools read.

* ``text`` — ``file:line:col rule severity: message`` per finding (hadolint's
  tty layout, plus the column);
* ``json`` — a list of hadolint's JSON objects (``code``, ``level``, ``message``,
  ``file``, ``line``, ``column``) plus ``end_line``, ``alias`` and ``url``;
* ``sarif`` — SARIF 2.1.0: one run, the tool's rules in ``tool.driver.rules``
  (id, name, short description, help URI, default level), one result per
  finding with a physical location (artifact URI, start/end line, column);
  ``info`` and ``style`` map to SARIF's ``note``;
* ``checkstyle`` — checkstyle XML (``<file name><error line column severity
  message source/>``), what hadolint and CI annotators read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from ._engine import LintReport
from ._model import Rule, Severity

__all__ = ["FORMATS", "render"]

FORMATS = ("text", "json", "sarif", "checkstyle")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "note",
    Severity.STYLE: "note",
    Severity.IGNORE: "none",
}


def render(reports: Sequence[LintReport], fmt: str, rules: Iterable[Rule] = ()) -> str:
    """All ``reports`` in format ``fmt`` (one of :data:`FORMATS`)."""
    from dockyard.errors import InvalidArgument

    if fmt == "text":
        return _text(reports)
    if fmt == "json":
        return json.dumps([f.to_dict() for r in reports for f in r.findings], indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(sarif(reports, list(rules)), indent=2) + "\n"
    if fmt == "checkstyle":
        return _checkstyle(reports)
    raise InvalidArgument(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")


def _text(reports: Sequence[LintReport]) -> str:
    lines = []
    for report in reports:
        for f in report.findings:
            lines.append(f"{f.file}:{f.line}:{f.column} {f.rule} {f.severity.label}: {f.message}")
    return "".join(line + "\n" for line in lines)


def sarif(reports: Sequence[LintReport], rules: list[Rule]) -> dict[str, object]:
    """The SARIF 2.1.0 log of ``reports`` as a JSON-ready dict."""
    from dockyard import __version__

    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    for report in reports:
        for f in report.findings:
            result: dict[str, object] = {
                "ruleId": f.rule,
                "level": _SARIF_LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": f.file},
                            "region": {
                                "startLine": f.line,
                                "startColumn": f.column,
                                "endLine": max(f.end_line, f.line),
                            },
                        }
                    }
                ],
            }
            if f.rule in index:
                result["ruleIndex"] = index[f.rule]
            results.append(result)
    driver = {
        "name": "dockyard-lint",
        "version": __version__,
        "informationUri": "https://github.com/hadolint/hadolint/wiki",
        "rules": [_sarif_rule(r) for r in rules],
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "results": results}],
    }


def _sarif_rule(rule: Rule) -> dict[str, object]:
    out: dict[str, object] = {
        "id": rule.id,
        "name": rule.alias or rule.id,
        "shortDescription": {"text": rule.title},
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity]},
        "properties": {"source": rule.source},
    }
    if rule.url.startswith("https://"):
        out["helpUri"] = rule.url
    else:  # dockyard's own rules are documented in the repository, not at a URL
        out["help"] = {"text": f"{rule.title} (see {rule.url} in dockyard)"}
    return out


def _checkstyle(reports: Sequence[LintReport]) -> str:
    import xml.etree.ElementTree as ET

    root = ET.Element("checkstyle", version="4.3")
    for report in reports:
        file_el = ET.SubElement(root, "file", name=report.filename)
        for f in report.findings:
            ET.SubElement(
                file_el,
                "error",
                line=str(f.line),
                column=str(f.column),
                severity=f.severity.label,
                message=f.message,
                source=f.rule,
            )
    return "<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n"
